"""Migrations 0021 and 0022: changes stored in digits of another script are stored in ASCII."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from liquidbiopsy.models import VariantResult
from tests.biobank.conftest import Records
from tests.liquidbiopsy.test_chromosome_case_migration import DRAWN_ON, keys, stored

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0021_genomic_changes_in_ascii_digits"
)
PROTEINS = importlib.import_module(
    "liquidbiopsy.migrations.0022_protein_changes_in_ascii_digits"
)


@pytest.fixture
def records(project) -> Records:
    return Records(project)


def migrate() -> None:
    MIGRATION.store_in_ascii_digits(apps, connection.schema_editor())


def migrate_proteins() -> None:
    PROTEINS.store_in_ascii_digits(apps, connection.schema_editor())


def test_digits_of_other_scripts_and_their_keys_are_stored_in_ascii(records: Records):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = stored(records, sample, "١٧:٧٥٧٩٣١٢ C>A")
    fullwidth = stored(records, sample, "17:７５７９３１３ C>A")
    ascii_ = stored(records, sample, "17:7579314 C>A")
    # A variant of a gene, keyed by its protein change, keeps its key:
    of_tp53 = records.variant(sample, "TP53", "p.R273H")
    VariantResult.objects.filter(pk=of_tp53.pk).update(genomic_change="١٧:٧٥٧٧١٢٠ C>T")
    key = of_tp53.variant_key

    migrate()

    assert keys(arabic) == ("17:7579312 C>A", "g:17:7579312 C>A")
    assert keys(fullwidth) == ("17:7579313 C>A", "g:17:7579313 C>A")
    assert keys(ascii_) == ("17:7579314 C>A", "g:17:7579314 C>A")
    assert keys(of_tp53) == ("17:7577120 C>T", key)


def test_one_change_stored_in_two_scripts_in_one_assay_moves_once(records: Records):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = stored(records, sample, "١٧:٧٥٧٩٣١٢ C>A")
    fullwidth = stored(records, sample, "１７:７５７９３１２ C>A")

    migrate()

    assert sorted([keys(arabic)[0], keys(fullwidth)[0]]) == [
        "17:7579312 C>A",
        "１７:７５７９３１２ C>A",
    ]


def test_a_change_stored_in_both_digits_in_one_assay_is_left_as_it_is(
    records: Records,
):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = stored(records, sample, "١٧:٧٥٧٩٣١٢ C>A")
    stored(records, sample, "17:7579312 C>A")

    migrate()

    assert keys(arabic) == ("١٧:٧٥٧٩٣١٢ C>A", "g:١٧:٧٥٧٩٣١٢ C>A")


# Migration 0022: protein and coding DNA changes.


def changes(variant: VariantResult) -> tuple[str, str, str]:
    variant.refresh_from_db()
    return variant.protein_change, variant.cdna_change, variant.variant_key


def test_protein_and_cdna_changes_in_other_digits_and_their_keys_are_stored_in_ascii(
    records: Records,
):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = records.variant(sample, "EGFR", "p.T٧٩٠M")
    fullwidth = records.variant(sample, "KRAS", "p.G１２C")
    ascii_ = records.variant(sample, "BRAF", "p.V600E")
    # Of no protein change, keyed by its coding DNA change, with a dash of another kind:
    cdna = records.variant(sample, "TP53", "")
    VariantResult.objects.filter(pk=cdna.pk).update(
        cdna_change="c.٦٧٣\N{EN DASH}٢A>G", variant_key="TP53:c.٦٧٣\N{EN DASH}٢A>G"
    )
    # Keyed by its genomic change, which keeps its key:
    genomic = records.variant(sample, "PIK3CA", "p.H١٠٤٧R")
    VariantResult.objects.filter(pk=genomic.pk).update(
        genomic_change="3:178952085 A>G", variant_key="g:3:178952085 A>G"
    )

    migrate_proteins()

    assert changes(arabic) == ("p.T790M", "", "EGFR:p.T790M")
    assert changes(fullwidth) == ("p.G12C", "", "KRAS:p.G12C")
    assert changes(ascii_) == ("p.V600E", "", "BRAF:p.V600E")
    assert changes(cdna) == ("", "c.673-2A>G", "TP53:c.673-2A>G")
    assert changes(genomic) == ("p.H1047R", "", "g:3:178952085 A>G")
    assert list(VariantResult.objects.matching("EGFR", "T790M")) == [arabic]


def test_a_protein_change_in_both_digits_in_one_assay_is_left_as_it_is(
    records: Records,
):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = records.variant(sample, "EGFR", "p.T٧٩٠M")
    records.variant(sample, "EGFR", "p.T790M")
    elsewhere = records.variant(
        records.draw(records.patient("PT-2"), DRAWN_ON), "EGFR", "p.T٧٩٠M"
    )

    migrate_proteins()

    assert changes(arabic) == ("p.T٧٩٠M", "", "EGFR:p.T٧٩٠M")
    assert changes(elsewhere) == ("p.T790M", "", "EGFR:p.T790M")


def test_a_row_moved_under_its_own_key_holds_it_for_the_rows_moved_before(
    records: Records,
):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    arabic = records.variant(sample, "EGFR", "p.T٧٩٠M")
    # The same variant under a former symbol, in ASCII but for its coding DNA
    # change's dash: moved too (its change), under the key it holds already:
    former = records.variant(sample, "EGFR", "p.T790M")
    VariantResult.objects.filter(pk=former.pk).update(
        gene="ERBB1", cdna_change="c.2369\N{EN DASH}1C>T"
    )

    migrate_proteins()

    assert changes(arabic) == ("p.T٧٩٠M", "", "EGFR:p.T٧٩٠M")
    assert changes(former) == ("p.T790M", "c.2369-1C>T", "EGFR:p.T790M")
