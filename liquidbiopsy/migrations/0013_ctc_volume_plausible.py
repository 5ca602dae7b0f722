"""A CTC count's blood volume is at most 100 mL (MAX_BLOOD_VOLUME_ML of the models)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# As the constraint states it, whatever the models' constant says later:
MAX_BLOOD_VOLUME_ML = 100


def refuse_implausible_volumes(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Stop, naming them, if stored CTC counts were made in more than 100 mL of blood.

    Nothing is changed here: whether 7500 meant 7.5 mL in µL, or something else, is for a
    curator to decide (the count per 7.5 mL follows the volume). PostgreSQL's NaN, which
    the positive-volume rule let through, is named too.
    """
    CTCCount = apps.get_model("liquidbiopsy", "CTCCount")
    refused = (
        CTCCount.objects.exclude(blood_volume_ml__lte=MAX_BLOOD_VOLUME_ML)
        .order_by("pk")
        .values_list("pk", "blood_volume_ml")
    )
    if refused:
        counts = "; ".join(f"{pk}: {ml:g} mL" for pk, ml in refused)
        raise RuntimeError(
            f"CTC counts hold a blood volume above {MAX_BLOOD_VOLUME_ML} mL, more than "
            f"any draw holds (ids {counts}); correct the volume of each in the admin, "
            "then migrate again."
        )


def volume_field() -> models.FloatField:
    return models.FloatField(
        default=7.5,
        help_text=(
            "Blood counted, in mL: above 0, at most 100 (a CellSearch tube holds 7.5)."
        ),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0012_gene_hgnc_filled"),
    ]

    operations = [
        migrations.RunPython(refuse_implausible_volumes, migrations.RunPython.noop),
        *(
            migrations.AlterField(
                model_name=model_name, name="blood_volume_ml", field=volume_field()
            )
            for model_name in ("ctccount", "historicalctccount")
        ),
        migrations.AddConstraint(
            model_name="ctccount",
            constraint=models.CheckConstraint(
                condition=models.Q(blood_volume_ml__lte=MAX_BLOOD_VOLUME_ML),
                name="ctc_volume_plausible",
                violation_error_message=(
                    "Blood volume must not exceed 100 mL, more than any draw holds; "
                    "give the volume counted in mL."
                ),
            ),
        ),
    ]
