from django.db import migrations

from biobank.core.statistics import sample_more


class Migration(migrations.Migration):
    """A larger statistics sample of variant results' assay (biobank.core.statistics)."""

    dependencies = [
        ("liquidbiopsy", "0005_gene_indexes_with_change"),
    ]

    operations = [sample_more("liquidbiopsy", "variantresult", "assay")]
