"""A variant's gene may be empty, as a VCF without CSQ/ANN annotation stores it.

Only the forms change (the admin's gene field is no longer required): no SQL runs,
and writes by hand still name a gene (the API's and the admin's check_gene_symbol).
"""

from __future__ import annotations

from django.db import migrations, models


def blank_gene() -> models.CharField:
    return models.CharField(
        blank=True, help_text="HGNC symbol as given.", max_length=40
    )


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0014_plasma_volume_plausible"),
    ]

    operations = [
        migrations.AlterField(model_name=model, name="gene", field=blank_gene())
        for model in ("historicalvariantresult", "variantresult")
    ]
