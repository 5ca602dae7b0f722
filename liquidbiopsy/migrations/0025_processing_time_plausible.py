"""A draw waits at most 336 hours for processing (MAX_HOURS_TO_PROCESSING of the models)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# As the constraint states it, whatever the models' constant says later:
MAX_HOURS_TO_PROCESSING = 336
RANGE = (
    "Hours to processing must lie between 0 and 336 (14 days), longer than any cfDNA "
    "tube keeps a draw; give the hours from the draw to the separation of plasma."
)


def refuse_implausible_processing_times(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Stop, naming them, if stored draws waited more than 336 hours for processing.

    Nothing is changed here: whether 1440 meant a day in minutes, or something else,
    is for a curator to decide. PostgreSQL's NaN, which the not-negative rule let
    through, is named too; a draw without a processing time is no matter.
    """
    BloodSample = apps.get_model("liquidbiopsy", "BloodSample")
    refused = (
        BloodSample.objects.filter(hours_to_processing__isnull=False)
        .exclude(hours_to_processing__lte=MAX_HOURS_TO_PROCESSING)
        .order_by("pk")
        .values_list("pk", "hours_to_processing")
    )
    if refused:
        shown = list(refused[:20])
        draws = "; ".join(f"{pk}: {hours:g} h" for pk, hours in shown)
        more = len(refused) - len(shown)
        if more:
            draws += f"; and {more} more"
        # The server may not start until this passes (dev.sh migrates first), so
        # the way to correct them needs no admin page:
        raise RuntimeError(
            f"Blood samples waited more than {MAX_HOURS_TO_PROCESSING} hours (14 days) "
            f"for processing, longer than any cfDNA tube keeps a draw (ids {draws}). "
            "Correct the hours to processing of each (in the admin of the version "
            "before this one), or empty them all with: python manage.py shell -c "
            '"from liquidbiopsy.models import BloodSample; '
            "BloodSample.objects.exclude(hours_to_processing__lte="
            f'{MAX_HOURS_TO_PROCESSING}).update(hours_to_processing=None)"; '
            "then migrate again."
        )


def processing_time_field() -> models.FloatField:
    return models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Hours from the draw to the separation of plasma: 0 to 336 (14 days)."
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0024_variant_genome_build_index"),
    ]

    operations = [
        migrations.RunPython(
            refuse_implausible_processing_times, migrations.RunPython.noop
        ),
        *(
            migrations.AlterField(
                model_name=model_name,
                name="hours_to_processing",
                field=processing_time_field(),
            )
            for model_name in ("bloodsample", "historicalbloodsample")
        ),
        # The not-negative rule's name is kept for both bounds (the models say why):
        migrations.RemoveConstraint(
            model_name="bloodsample", name="blood_sample_processing_time_not_negative"
        ),
        migrations.AddConstraint(
            model_name="bloodsample",
            constraint=models.CheckConstraint(
                condition=models.Q(hours_to_processing__isnull=True)
                | (
                    models.Q(hours_to_processing__gte=0)
                    & models.Q(hours_to_processing__lte=MAX_HOURS_TO_PROCESSING)
                ),
                name="blood_sample_processing_time_not_negative",
                violation_error_message=RANGE,
            ),
        ),
    ]
