"""An assay's limit of detection lies above 0 and under 1, as every write already checks."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor


def refuse_limits_of_0_or_1(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Stop, naming them, if stored cfDNA assays hold a limit of detection of 0 or 1.

    Nothing is changed here, not even cleared: a limit of 1 is likely 1 % written as
    a fraction, and the assay's calls were made against it (stored below-lod, their
    VAF in the note), so neither clearing it nor 0.01 may be assumed; a limit of 0
    calls as no limit does, but it is the lab's statement all the same. A curator
    gives each its limit or clears it in the admin, where the change is kept in the
    assay's history with their name.
    """
    CfDNAAssay = apps.get_model("liquidbiopsy", "CfDNAAssay")
    refused = (
        CfDNAAssay.objects.filter(limit_of_detection_vaf__isnull=False)
        .exclude(limit_of_detection_vaf__gt=0, limit_of_detection_vaf__lt=1)
        .order_by("pk")
        .values_list("pk", "sample_id", "method", "panel", "limit_of_detection_vaf")
    )
    if refused:
        assays = "; ".join(
            f"{pk}: draw {sample}, {f'{method} {panel}'.strip()}, limit {limit:g}"
            for pk, sample, method, panel, limit in refused
        )
        raise RuntimeError(
            "cfDNA assays hold a limit of detection of 0 or 1, which calls nothing or "
            f"every variant below LOD (ids {assays}); give each its limit (0.01 if 1 "
            "meant 1 %) or clear it in the admin, then migrate again."
        )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0016_variant_genomic_change_index"),
    ]

    operations = [
        migrations.RunPython(refuse_limits_of_0_or_1, migrations.RunPython.noop),
        # The name is kept: the API names the field of a broken constraint by it.
        migrations.RemoveConstraint(model_name="cfdnaassay", name="cfdna_lod_fraction"),
        migrations.AddConstraint(
            model_name="cfdnaassay",
            constraint=models.CheckConstraint(
                condition=models.Q(limit_of_detection_vaf__isnull=True)
                | (
                    models.Q(limit_of_detection_vaf__gt=0)
                    & models.Q(limit_of_detection_vaf__lt=1)
                ),
                name="cfdna_lod_fraction",
                violation_error_message=(
                    "Limit of detection (VAF) must lie above 0 and under 1 (100 %%): a "
                    "limit of 0 calls nothing below LOD and one of 1 every variant; "
                    "give the assay's limit, such as 0.005 for 0.5 %%."
                ),
            ),
        ),
    ]
