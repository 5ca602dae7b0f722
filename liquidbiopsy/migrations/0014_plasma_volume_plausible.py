"""A draw's plasma volume is at most 100 mL (MAX_PLASMA_VOLUME_ML of the models)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# As the constraint states it, whatever the models' constant says later:
MAX_PLASMA_VOLUME_ML = 100


def refuse_implausible_plasma(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Stop, naming them, if stored draws hold more than 100 mL of plasma.

    Nothing is changed here: whether 4000 meant 4 mL in µL, or something else, is for
    a curator to decide. PostgreSQL's NaN, which the positive-volume rule let through,
    is named too; a draw without a plasma volume is no matter.
    """
    BloodSample = apps.get_model("liquidbiopsy", "BloodSample")
    refused = (
        BloodSample.objects.filter(plasma_volume_ml__isnull=False)
        .exclude(plasma_volume_ml__lte=MAX_PLASMA_VOLUME_ML)
        .order_by("pk")
        .values_list("pk", "plasma_volume_ml")
    )
    if refused:
        draws = "; ".join(f"{pk}: {ml:g} mL" for pk, ml in refused)
        raise RuntimeError(
            f"Blood samples hold a plasma volume above {MAX_PLASMA_VOLUME_ML} mL, more "
            f"than any draw gives (ids {draws}); correct the volume of each in the "
            "admin, then migrate again."
        )


def plasma_field() -> models.FloatField:
    return models.FloatField(
        null=True,
        blank=True,
        help_text=(
            "Plasma separated, in mL: above 0, at most 100 (the tubes of a draw pooled)."
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0013_ctc_volume_plausible"),
    ]

    operations = [
        migrations.RunPython(refuse_implausible_plasma, migrations.RunPython.noop),
        *(
            migrations.AlterField(
                model_name=model_name, name="plasma_volume_ml", field=plasma_field()
            )
            for model_name in ("bloodsample", "historicalbloodsample")
        ),
        # The >0 rule's name is kept for both bounds (the models say why):
        migrations.RemoveConstraint(
            model_name="bloodsample", name="blood_sample_plasma_volume_positive"
        ),
        migrations.AddConstraint(
            model_name="bloodsample",
            constraint=models.CheckConstraint(
                condition=models.Q(plasma_volume_ml__isnull=True)
                | (
                    models.Q(plasma_volume_ml__gt=0)
                    & models.Q(plasma_volume_ml__lte=MAX_PLASMA_VOLUME_ML)
                ),
                name="blood_sample_plasma_volume_positive",
                violation_error_message=(
                    "Plasma volume must be above 0 mL and at most 100 mL, more than "
                    "any draw gives; give the volume of plasma in mL."
                ),
            ),
        ),
    ]
