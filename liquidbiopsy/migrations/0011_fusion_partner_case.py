"""Store fusion partners in HGNC's case, with the fusion's name and identity they give.

Before, a partner given in upper case throughout (C9ORF72-ALK) was stored so, while
imports now store C9orf72::ALK: a re-import would have added the fusion again, and
the query for c9orf72::alk compares partners in HGNC's case.
"""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

from liquidbiopsy.hgvs import canonical_case


def _name(five: str, three: str) -> str:
    # Fusion.canonical, and variant_key of a fusion without genomic change, as stored:
    return f"{five}::{three}" if five and three else f"{five or three} rearrangement"


def _key(five: str, three: str) -> str:
    return f"fusion:{five or '?'}::{three or '?'}"


def store_partners_in_hgnc_case(
    apps: Apps, schema_editor: BaseDatabaseSchemaEditor
) -> None:
    """Mend each pair of partners stored in another case, or stop naming clashes.

    A fusion whose mended identity another fusion of its assay has already (both
    C9ORF72::ALK and C9orf72::ALK) stops the migration naming both: nothing is
    merged or deleted here, a curator decides which one is right.
    """
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    fusions = VariantResult.objects.filter(variant_type="fusion")
    pairs = fusions.values_list("fusion_5prime", "fusion_3prime").distinct()
    mended = {
        (five, three): (canonical_case(five), canonical_case(three))
        for five, three in pairs.order_by()
        if (canonical_case(five), canonical_case(three)) != (five, three)
    }

    clashes = []
    # The fusion that takes each mended identity, per assay:
    taken: dict[tuple[int, str], int] = {}
    for (five, three), (new_five, new_three) in mended.items():
        key = _key(new_five, new_three)
        rows = fusions.filter(
            fusion_5prime=five, fusion_3prime=three, variant_key=_key(five, three)
        )
        for pk, assay in rows.values_list("pk", "assay_id").order_by("pk"):
            other = taken.setdefault((assay, key), pk)
            if other == pk:
                stored = VariantResult.objects.filter(assay_id=assay, variant_key=key)
                other = stored.values_list("pk", flat=True).first() or pk
            if other != pk:
                clashes.append(f"{other} and {pk}")
    if clashes:
        raise RuntimeError(
            "Fusions of one assay differ only in the case of their partners (variant "
            "ids " + "; ".join(clashes) + "); delete or correct one of each pair in "
            "the admin, then migrate again."
        )

    # One pair at a time, name and identity first, while the old partners find them:
    for (five, three), (new_five, new_three) in mended.items():
        rows = fusions.filter(fusion_5prime=five, fusion_3prime=three)
        rows.filter(note=_name(five, three)).update(note=_name(new_five, new_three))
        rows.filter(variant_key=_key(five, three)).update(
            variant_key=_key(new_five, new_three)
        )
        rows.update(fusion_5prime=new_five, fusion_3prime=new_three)


class Migration(migrations.Migration):
    dependencies = [
        ("liquidbiopsy", "0010_variant_statistics"),
    ]

    operations = [
        # The case given is kept in protein_change_raw, as the text was written:
        migrations.RunPython(store_partners_in_hgnc_case, migrations.RunPython.noop),
    ]
