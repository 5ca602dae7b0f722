"""Fill an empty gene_hgnc with the current symbol of the gene as given.

The gene filter compares gene_hgnc alone (VariantQuerySet.of_gene); every path that
stores a variant fills it, but the field allows it empty, and a variant stored
empty before would be missed by the filter.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from liquidbiopsy.hgvs import current_symbol


def fill_gene_hgnc(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    empty = VariantResult.objects.filter(gene_hgnc="")
    # One update per symbol given, not per row:
    for gene in list(empty.values_list("gene", flat=True).distinct().order_by()):
        empty.filter(gene=gene).update(gene_hgnc=current_symbol(gene))


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0011_fusion_partner_case"),
    ]

    operations = [
        migrations.RunPython(fill_gene_hgnc, migrations.RunPython.noop),
    ]
