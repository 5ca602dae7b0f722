"""A MAF's t_alt_count of 0, stored before as 0 reads, is unknown where that is sure.

Since import_maf reads a 0 count of a called variant as unknown (maf.counts_of_call),
a MAF row imported before may still hold alt_reads 0 beside its depth. Only such rows
are mended whose import left proof of it: the warning the importer then gave them
(code zero-vaf-of-called-variant, field t_alt_count, of a maf run) is linked to the
variant it stored, and it gives that warning for no other row now.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# What import_maf writes in the note of a row whose t_alt_count of 0 it read as unknown:
NOTE = "t_alt_count 0 in the MAF, read as unknown: not the reads the call was made on"


def forget_zero_alt_reads_of_maf_calls(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Store as unknown the alt reads of 0 that a MAF row gave a detected call.

    NB: not mended, as nothing tells them from counts another source stored: a
    t_depth of 0 (with t_alt_count empty or 0, or beside a VAF column), which the
    importer stored without a warning; and a row whose warning was deleted. A VCF
    stores detected calls with 0 alt reads or depth 0 too, when the caller's own
    fraction (FA, AF) shows the allele, so the counts alone prove nothing.
    """
    DataIssue = apps.get_model("patients", "DataIssue")
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    warned = DataIssue.objects.filter(
        import_run__importer="maf",
        code="zero-vaf-of-called-variant",
        field="t_alt_count",
        record_type="VariantResult",
        record_id__isnull=False,
    ).values_list("record_id", "patient_id")
    for variant_id, patient_id in warned.iterator():
        # Still as the import stored it, and of the patient the warning names:
        variant = VariantResult.objects.filter(
            pk=variant_id,
            assay__sample__patient_id=patient_id,
            call="detected",
            alt_reads=0,
            depth__gt=0,
        ).first()
        if variant is None:
            continue
        variant.alt_reads = None
        variant.note = "; ".join(filter(None, [variant.note, NOTE]))[:300]
        variant.save(update_fields=["alt_reads", "note"])


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0017_lod_above_0_under_1"),
        ("patients", "0006_treatment_agent_any_case"),
    ]

    operations = [
        migrations.RunPython(
            forget_zero_alt_reads_of_maf_calls, migrations.RunPython.noop
        ),
    ]
