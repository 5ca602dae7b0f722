"""Genomic changes stored with a lower-case X, Y or MT (x:100 A>G) are upper-cased.

genomic_change() wrote the chromosome of a VCF or MAF row as the file spelt it (chrx
gave x:100 A>G), where the cohort filter asks for X:100 A>G; it upper-cases them now.
"""

from __future__ import annotations

import re

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

LOWER = re.compile(r"^(x|y|mt|m):")


def upper_case_lettered_chromosomes(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Upper-case the chromosome of x:, y:, m: and mt: changes and their variant keys.

    NB: a row whose assay already holds the upper-case change (imported again since)
    is left as it is, as merging two stored results would pick one of their values.
    """
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    # Narrowed in SQL case-insensitively (the index has no lower()), then in Python:
    candidates = VariantResult.objects.filter(
        genomic_change__iregex=r"^(x|y|mt|m):"
    ).only("pk", "assay_id", "genomic_change", "variant_key")
    for variant in candidates.iterator():
        found = LOWER.match(variant.genomic_change)
        if found is None:
            continue
        chrom = "MT" if found[1] == "m" else found[1].upper()
        change = f"{chrom}:{variant.genomic_change[found.end() :]}"
        key = variant.variant_key
        if key == f"g:{variant.genomic_change}":
            key = f"g:{change}"
        taken = VariantResult.objects.filter(assay_id=variant.assay_id, variant_key=key)
        if taken.exclude(pk=variant.pk).exists():
            continue
        VariantResult.objects.filter(pk=variant.pk).update(
            genomic_change=change, variant_key=key
        )


class Migration(migrations.Migration):
    dependencies = [("liquidbiopsy", "0018_maf_zero_alt_reads_unknown")]

    operations = [
        migrations.RunPython(upper_case_lettered_chromosomes, migrations.RunPython.noop)
    ]
