from django.db import migrations

from biobank.core.statistics import sample_more


class Migration(migrations.Migration):
    """A larger statistics sample of feature values' extraction (biobank.core.statistics)."""

    dependencies = [
        ("radiomics", "0006_feature_value_index_with_id"),
    ]

    operations = [sample_more("radiomics", "featurevalue", "extraction")]
