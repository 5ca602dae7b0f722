"""Genomic changes stored in digits of another script (١٧:٧٥٧٨٢٦٣ G>A) are stored in ASCII.

Until 82bca58 the readers of genomic changes took any decimal digit, so a cfDNA table or
an API write could store a change in Arabic-Indic or fullwidth digits, which no change
asked for in ASCII finds; they read every such digit as its ASCII one now.
"""

from __future__ import annotations

import unicodedata

from django.apps.registry import Apps
from django.db import migrations
from django.db.models import Q
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

# A character outside printable ASCII, as both databases' regular expressions read it:
NOT_ASCII = r"[^ -~]"


def in_ascii_digits(text: str) -> str:
    """Return `text` with each decimal digit of any script as its ASCII digit."""
    return "".join(str(unicodedata.decimal(character, character)) for character in text)


def store_in_ascii_digits(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Write the digits of changes stored in other scripts, and their variant keys, in ASCII.

    NB: a row whose assay already holds the change in ASCII (imported again since) is
    left as it is, as merging two stored results would pick one of their values.
    """
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    found = VariantResult.objects.filter(genomic_change__regex=NOT_ASCII)
    moves = {}
    for variant in found.only("pk", "assay_id", "genomic_change", "variant_key"):
        change = in_ascii_digits(variant.genomic_change)
        key = variant.variant_key
        if key == f"g:{variant.genomic_change}":
            key = f"g:{change}"
        if change != variant.genomic_change:
            values = {"genomic_change": change, "variant_key": key}
            moves[variant.pk] = (variant.assay_id, values)
    move_unless_held(VariantResult, moves)


def move_unless_held(VariantResult: type, moves: dict) -> None:
    """Write the `moves` (pk: assay id, values with the variant_key) but those whose
    key another row of their assay holds; migration 0022 moves its rows so too.

    A moved row may keep its key (0022 rewrites a coding DNA change under a protein
    change's key): it holds that key all along, for the rows moved before it too.
    """
    wanted = {values["variant_key"] for _, values in moves.values()}
    rows = VariantResult.objects.filter(Q(variant_key__in=wanted) | Q(pk__in=moves))
    holders: dict[tuple[int, str], set[int]] = {}
    keys = {}
    for pk, assay, key in rows.values_list("pk", "assay_id", "variant_key"):
        holders.setdefault((assay, key), set()).add(pk)
        keys[pk] = key
    for pk, (assay, values) in moves.items():
        taken = (assay, values["variant_key"])
        if holders.get(taken, set()) - {pk}:
            continue
        VariantResult.objects.filter(pk=pk).update(**values)
        holders[(assay, keys[pk])].discard(pk)
        holders.setdefault(taken, set()).add(pk)


class Migration(migrations.Migration):
    dependencies = [("liquidbiopsy", "0020_variant_assay_index_only")]

    operations = [
        migrations.RunPython(
            store_in_ascii_digits, migrations.RunPython.noop, elidable=True
        )
    ]
