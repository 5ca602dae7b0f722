"""Store every gene_hgnc in HGNC's case: cohort matrices compare it exactly."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from liquidbiopsy.hgvs import canonical_case


def store_hgnc_case(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    # Before, a symbol given in lower case (kras) kept it in gene_hgnc, so a matrix
    # column KRAS missed its variants. One update per symbol, not per row:
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    stored = VariantResult.objects.values_list("gene_hgnc", flat=True).distinct()
    for symbol in list(stored.order_by()):
        canonical = canonical_case(symbol)
        if canonical != symbol:
            VariantResult.objects.filter(gene_hgnc=symbol).update(gene_hgnc=canonical)


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0008_vaf_names"),
    ]

    operations = [
        migrations.AlterField(
            model_name="historicalvariantresult",
            name="gene_hgnc",
            field=models.CharField(
                blank=True,
                help_text="Current HGNC symbol, in HGNC's case (KRAS, C9orf72).",
                max_length=40,
            ),
        ),
        migrations.AlterField(
            model_name="variantresult",
            name="gene_hgnc",
            field=models.CharField(
                blank=True,
                help_text="Current HGNC symbol, in HGNC's case (KRAS, C9orf72).",
                max_length=40,
            ),
        ),
        # The case given is not known any more; gene keeps it, as given:
        migrations.RunPython(store_hgnc_case, migrations.RunPython.noop),
    ]
