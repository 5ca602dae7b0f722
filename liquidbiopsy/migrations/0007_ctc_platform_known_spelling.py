"""Store known CTC platforms in their own spelling: "Cell Search" and "CELLSEARCH" are CellSearch.

Before, only a platform matching a known one in any case was respelled (by the
importers and the API, not the admin), so "Cell Search" was stored as a platform
of its own. A draw holding two spellings of one platform is left as it is: merging
them would make two counts of one platform, which a curator decides between.
"""

from django.db import migrations
from django.db.models import Count

# NB: a copy of liquidbiopsy.validation's KNOWN_PLATFORMS and platform_key as they
# are now: a migration must not change when the code does.
KNOWN_PLATFORMS = ("CellSearch", "Parsortix", "RareCyte", "IsoFlux", "CellCollector")


def platform_key(text):
    return "".join(character for character in text if character.isalnum()).casefold()


def respell_known_platforms(apps, schema_editor):
    CTCCount = apps.get_model("liquidbiopsy", "CTCCount")
    known = {platform_key(name): name for name in KNOWN_PLATFORMS}
    spellings = {}
    for platform in CTCCount.objects.values_list("platform", flat=True).distinct():
        name = known.get(platform_key(platform))
        if name is not None:
            spellings.setdefault(name, []).append(platform)

    for name, written in spellings.items():
        if written == [name]:
            continue
        counts = CTCCount.objects.filter(platform__in=written)
        twice = (
            counts.values("sample")
            .annotate(held=Count("id"))
            .filter(held__gt=1)
            .values("sample")
        )
        counts.exclude(sample__in=twice).exclude(platform=name).update(platform=name)


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0006_ctc_platform_message"),
    ]

    operations = [
        migrations.RunPython(respell_known_platforms, migrations.RunPython.noop),
    ]
