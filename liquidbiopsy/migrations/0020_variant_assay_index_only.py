"""Indexes from which a gene filter reads its detected variants' draws without the tables.

An index of the detected variants by gene, change, stored symbol and assay, and one of
the assays' ids with their draws: the KRAS p.G12C cohort's count fell from 420 to
143 ms at 100,000 patients (liquidbiopsy.models). NB: building them reads every
variant (about a minute for 13 million on a 2-core machine), and PostgreSQL holds
writes to the variants (imports, API and admin saves) until it is built.
"""

import django.db.models.functions.text
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0019_lettered_chromosomes_upper_case"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="variantresult",
            index=models.Index(
                django.db.models.functions.text.Upper("gene_hgnc"),
                models.F("protein_change"),
                models.F("gene_hgnc"),
                models.F("assay"),
                condition=models.Q(("call", "detected")),
                name="variant_detected_gene_assay",
            ),
        ),
        migrations.AddIndex(
            model_name="cfdnaassay",
            index=models.Index(fields=["id", "sample"], name="cfdna_assay_sample"),
        ),
    ]
