"""Give definitions stored from PyRadiomics names their family, feature name and filter.

Before this, native-mode features ("wavelet-HH_firstorder_Mean") were stored with the
family "other" and the image filter "original", so an IBSI code matched the filtered
images' features too (radiomics.extraction.definition_parts now parses the name).
"""

from __future__ import annotations

from django.db import migrations


def parse_names(apps, schema_editor):
    # NB: imports today's parser; names it cannot read are left as they are.
    from radiomics.features import parse_feature_name

    FeatureDefinition = apps.get_model("radiomics", "FeatureDefinition")
    changed = []
    for definition in FeatureDefinition.objects.iterator():
        parsed = parse_feature_name(definition.name)
        if parsed is None:
            continue
        parts = {
            "family": parsed.family,
            "feature_name": parsed.feature_name[:100],
            "image_filter": parsed.image_filter[:60],
        }
        if any(getattr(definition, key) != value for key, value in parts.items()):
            for key, value in parts.items():
                setattr(definition, key, value)
            changed.append(definition)
    FeatureDefinition.objects.bulk_update(
        changed, ["family", "feature_name", "image_filter"], batch_size=500
    )


class Migration(migrations.Migration):
    dependencies = [("radiomics", "0003_featurerobustness_verbose_name_plural")]

    operations = [migrations.RunPython(parse_names, migrations.RunPython.noop)]
