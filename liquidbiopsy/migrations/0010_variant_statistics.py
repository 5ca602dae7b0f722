"""Statistics of gene, call and protein change together, for the cohort query's planner.

Taken for independent, the fractions of KRAS, detected and p.G12C multiplied into
5,330 variants of a 100,000-patient biobank where there are 61,793: planned for a
rare variant, the KRAS cohort's first page took 3.4 s instead of 0.1 s
(BENCHMARKS.md, "At 100,000 patients"). The expressions are those the gene filter
compares (liquidbiopsy.models.VariantQuerySet.of_gene). With the default sample
(100 per statistic, against 1,000 here) EGFR was estimated at 118,692 for 28,669.
"""

from __future__ import annotations

from django.db import migrations

from biobank.core.statistics import columns_together


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0009_gene_hgnc_case"),
    ]

    operations = [
        columns_together(
            "liquidbiopsy_variantresult",
            {
                "variant_gene_call_change_stats": (
                    "upper(gene::text), call, protein_change"
                ),
                "variant_hgnc_call_change_stats": (
                    "upper(gene_hgnc::text), call, protein_change"
                ),
            },
        ),
    ]
