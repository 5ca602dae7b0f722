"""Migration 0021: changes stored in digits of another script are stored in ASCII."""

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


@pytest.fixture
def records(project) -> Records:
    return Records(project)


def migrate() -> None:
    MIGRATION.store_in_ascii_digits(apps, connection.schema_editor())


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
