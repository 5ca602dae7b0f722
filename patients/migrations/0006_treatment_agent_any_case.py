"""One treatment per patient, kind, agent and start day, however the agent is spelled."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Count
from django.db.models.functions import Lower


def refuse_case_duplicates(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Stop, naming them, if treatments differ only in the capitals of their agent.

    The API and the admin refused them before; import_clinical merged such a row into
    the stored treatment (it stored a second one before find_same_treatment, and
    such pairs are what this finds). Nothing is merged or deleted here: a curator
    decides which treatment is right.
    """
    Treatment = apps.get_model("patients", "Treatment")
    key = ("patient", "kind", "started_on", "lower_agent")
    treatments = Treatment.objects.annotate(lower_agent=Lower("agent"))
    repeated = (
        treatments.values(*key).annotate(count=Count("pk")).filter(count__gt=1)
    )
    clashes = [
        " and ".join(
            str(pk)
            for pk in treatments.filter(**{name: group[name] for name in key})
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for group in repeated
    ]
    if clashes:
        raise RuntimeError(
            "Treatments differ only in the capitals of their agent (ids "
            + "; ".join(clashes)
            + "); delete or correct one of each group in the admin, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0005_import_run_partly_stored"),
    ]

    operations = [
        migrations.RunPython(refuse_case_duplicates, migrations.RunPython.noop),
        migrations.RemoveConstraint(
            model_name="treatment",
            name="treatment_natural_key",
        ),
        migrations.AddConstraint(
            model_name="treatment",
            constraint=models.UniqueConstraint(
                models.F("patient"),
                models.F("kind"),
                Lower("agent"),
                models.F("started_on"),
                name="treatment_natural_key",
                violation_error_message=(
                    "This patient has a treatment of this kind with this agent (in "
                    "capitals or not) started on this day already; change that "
                    "treatment instead."
                ),
            ),
        ),
    ]
