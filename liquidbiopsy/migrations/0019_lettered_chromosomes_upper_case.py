"""Genomic changes stored with X, Y or MT in another case (x:100 A>G, Mt:, M:) are upper-cased.

genomic_change() wrote the chromosome of a VCF or MAF row as the file spelt it (chrx
gave x:100 A>G), where the cohort filter asks for X:100 A>G; it upper-cases them now.
"""

from __future__ import annotations

import re

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# Any case but the stored one (X, Y, MT); "M" is written "MT" as genomic_change() does:
LETTERED = re.compile(r"^(x|y|mt|m):", re.IGNORECASE)
STORED_AS = {"X": "X", "Y": "Y", "M": "MT", "MT": "MT"}


def upper_case_lettered_chromosomes(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Upper-case the chromosome of x:, y:, m: and mt: changes and their variant keys.

    NB: a row whose assay already holds the upper-case change (imported again since)
    is left as it is, as merging two stored results would pick one of their values.
    """
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    # Narrowed in SQL case-insensitively (the index has no lower()), then in Python:
    candidates = (
        VariantResult.objects.filter(genomic_change__iregex=r"^(x|y|mt|m):")
        .exclude(genomic_change__regex=r"^(X|Y|MT):")
        .only("pk", "assay_id", "genomic_change", "variant_key")
    )
    for variant in candidates.iterator():
        found = LETTERED.match(variant.genomic_change)
        chrom = STORED_AS[found[1].upper()] if found else None
        if chrom is None or chrom == found[1]:
            continue
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
