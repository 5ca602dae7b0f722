"""A variant's genome build is GRCh37 or GRCh38; the spellings files gave are renamed.

Until now the build was stored as its file spelled it: hg19 (a MAF's NCBI_Build, every
CAIRO5 table), b37 or hs37d5 (a VCF's ##reference), 37 read as GRCh37, a patch
(GRCh37.p13) or GRCh37-lite cut to ten characters (GRCh37-lit) from a MAF, anything in
a cfDNA table's genome_build column or an API write. The spellings the importers read
(liquidbiopsy.validation.check_genome_build) are stored under their build's name.
NB: any other text (hg99, NCBI36) is left as stored, since no build can be told for
it: its variant keeps it, the cohort pages list it among the stored builds as
written, and the admin refuses to save the variant until a build is chosen. They
are found with VariantResult.objects.exclude(genome_build__in=["", "GRCh37",
"GRCh38"]). The history keeps the spellings as they were stored.
"""

from __future__ import annotations

import re

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# As check_genome_build reads them, when this migration was written, and the ten
# characters a MAF's GRCh37-lite was cut to:
SPELLING = re.compile(
    r"^(?P<build>GRCh3[78]|hg19|hg38|b37|hs37d5|3[78])(?:\.p\d+|-lite?)?$",
    re.IGNORECASE,
)
NAMES = {
    "grch37": "GRCh37",
    "hg19": "GRCh37",
    "b37": "GRCh37",
    "hs37d5": "GRCh37",
    "37": "GRCh37",
    "grch38": "GRCh38",
    "hg38": "GRCh38",
    "38": "GRCh38",
}


def name_builds(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Store each known spelling of a build under the build's name, in one UPDATE each."""
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    # Read from the builds' index (0024): a few values, whatever the variants.
    spelt = (
        VariantResult.objects.exclude(genome_build__in=["", *set(NAMES.values())])
        .order_by()
        .values_list("genome_build", flat=True)
        .distinct()
    )
    for text in list(spelt):
        match = SPELLING.match(text.strip())
        if match is None:
            continue  # no build can be told: left as stored (module docstring)
        name = NAMES[match["build"].lower()]
        VariantResult.objects.filter(genome_build=text).update(genome_build=name)


class Migration(migrations.Migration):

    dependencies = [
        ('liquidbiopsy', '0026_blood_sample_lab_id_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='historicalvariantresult',
            name='genome_build',
            field=models.CharField(blank=True, choices=[('GRCh37', 'GRCh37 (hg19)'), ('GRCh38', 'GRCh38 (hg38)')], help_text='GRCh37 or GRCh38; the importers and the API read hg19, b37, hs37d5 and patches (GRCh37.p13) as GRCh37, hg38 as GRCh38.', max_length=10),
        ),
        migrations.AlterField(
            model_name='variantresult',
            name='genome_build',
            field=models.CharField(blank=True, choices=[('GRCh37', 'GRCh37 (hg19)'), ('GRCh38', 'GRCh38 (hg38)')], help_text='GRCh37 or GRCh38; the importers and the API read hg19, b37, hs37d5 and patches (GRCh37.p13) as GRCh37, hg38 as GRCh38.', max_length=10),
        ),
        migrations.RunPython(
            name_builds, migrations.RunPython.noop, elidable=True
        ),
    ]
