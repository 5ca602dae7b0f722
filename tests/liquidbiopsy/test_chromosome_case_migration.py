"""Migration 0019: changes stored with a lower-case X, Y or MT are upper-cased."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import connection

from liquidbiopsy.models import VariantResult
from tests.biobank.conftest import Records

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0019_lettered_chromosomes_upper_case"
)
DRAWN_ON = dt.date(2024, 3, 3)


@pytest.fixture
def records(project) -> Records:
    return Records(project)


def migrate() -> None:
    MIGRATION.upper_case_lettered_chromosomes(apps, connection.schema_editor())


def stored(records: Records, sample, change: str) -> VariantResult:
    """Store a variant of no gene as genomic_change() wrote it before (chrx gave x:)."""
    variant = records.variant(sample, "", change)  # a distinct key until updated
    VariantResult.objects.filter(pk=variant.pk).update(
        protein_change="", variant_key=f"g:{change}", genomic_change=change
    )
    return variant


def keys(variant: VariantResult) -> tuple[str, str]:
    variant.refresh_from_db()
    return variant.genomic_change, variant.variant_key


def test_lower_case_chromosomes_and_their_keys_are_upper_cased(records):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    x = stored(records, sample, "x:100 A>G")
    m = stored(records, sample, "m:10 A>G")
    mt = stored(records, sample, "mt:20 A>G")
    mixed = stored(records, sample, "Mt:30 A>G")
    bare_m = stored(records, sample, "M:40 A>G")
    upper = stored(records, sample, "X:200 A>G")
    contig = stored(records, sample, "Un_gl000220:5 A>G")

    migrate()

    assert keys(x) == ("X:100 A>G", "g:X:100 A>G")
    assert keys(m) == ("MT:10 A>G", "g:MT:10 A>G")
    assert keys(mt) == ("MT:20 A>G", "g:MT:20 A>G")
    assert keys(mixed) == ("MT:30 A>G", "g:MT:30 A>G")
    assert keys(bare_m) == ("MT:40 A>G", "g:MT:40 A>G")
    assert keys(upper) == ("X:200 A>G", "g:X:200 A>G")
    assert keys(contig) == ("Un_gl000220:5 A>G", "g:Un_gl000220:5 A>G")


def test_a_change_stored_in_both_cases_in_one_assay_is_left_as_it_is(records):
    sample = records.draw(records.patient("PT-1"), DRAWN_ON)
    lower = stored(records, sample, "x:100 A>G")
    stored(records, sample, "X:100 A>G")

    migrate()

    assert keys(lower) == ("x:100 A>G", "g:x:100 A>G")
