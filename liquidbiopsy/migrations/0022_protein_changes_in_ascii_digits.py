"""Protein and coding DNA changes stored in digits of another script (p.T٧٩٠M) are stored in ASCII.

parse_protein_change and normalise_cdna_change kept the decimal digits of any script
that their patterns took, so a cfDNA table, a MAF, a VCF or an API write could store
p.T790M as p.T٧٩٠M, which no change asked for (T790M, p.Thr790Met) finds; they read
every such digit, and any dash, as ASCII now.
"""

from __future__ import annotations

import importlib
import unicodedata

from django.apps.registry import Apps
from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import Q

# NB: 0021 is history that no longer changes, so its helpers are taken from it:
GENOMIC = importlib.import_module(
    "liquidbiopsy.migrations.0021_genomic_changes_in_ascii_digits"
)


def in_ascii(text: str) -> str:
    """Return `text` with each decimal digit of any script as its ASCII digit and each
    dash as a hyphen (a coding DNA change could be stored with one: c.673–2A>G)."""
    return "".join(
        "-"
        if unicodedata.category(character) == "Pd" or character == "\N{MINUS SIGN}"
        else character
        for character in GENOMIC.in_ascii_digits(text)
    )


def store_in_ascii_digits(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Write protein and coding DNA changes stored in other digits, and their variant
    keys, in ASCII.

    NB: a row whose assay already holds the change in ASCII (imported again since) is
    left as it is, as merging two stored results would pick one of their values.
    """
    VariantResult = apps.get_model("liquidbiopsy", "VariantResult")
    found = VariantResult.objects.filter(
        Q(protein_change__regex=GENOMIC.NOT_ASCII)
        | Q(cdna_change__regex=GENOMIC.NOT_ASCII)
    )
    moves = {}
    for variant in found.only(
        "pk", "assay_id", "protein_change", "cdna_change", "variant_key"
    ):
        values = {
            "protein_change": in_ascii(variant.protein_change),
            "cdna_change": in_ascii(variant.cdna_change),
            "variant_key": variant.variant_key,
        }
        # A key of no genomic change ends in the change that names the variant
        # (importers.variants.variant_key: "EGFR:p.T790M"):
        named = variant.protein_change or variant.cdna_change
        if named and variant.variant_key.endswith(f":{named}"):
            stem = variant.variant_key[: -len(named)]
            values["variant_key"] = stem + in_ascii(named)
        if values["protein_change"] != variant.protein_change or (
            values["cdna_change"] != variant.cdna_change
        ):
            moves[variant.pk] = (variant.assay_id, values)
    GENOMIC.move_unless_held(VariantResult, moves)


class Migration(migrations.Migration):
    dependencies = [("liquidbiopsy", "0021_genomic_changes_in_ascii_digits")]

    operations = [
        migrations.RunPython(
            store_in_ascii_digits, migrations.RunPython.noop, elidable=True
        )
    ]
