"""Migration 0011: fusion partners stored before in another case than HGNC's."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.models import VariantResult
from tests.liquidbiopsy.conftest import register, write

HEADER = "patient_id,draw_date,gene,alteration,alteration_type,vaf\n"
MIGRATION = importlib.import_module("liquidbiopsy.migrations.0011_fusion_partner_case")


def migrate() -> None:
    MIGRATION.store_partners_in_hgnc_case(apps, connection.schema_editor())


def stored_before(variant: VariantResult, five: str, three: str, note: str) -> None:
    """Store `variant` as the importer did before partners took HGNC's case."""
    VariantResult.objects.filter(pk=variant.pk).update(
        fusion_5prime=five,
        fusion_3prime=three,
        note=note,
        variant_key=f"fusion:{five or '?'}::{three or '?'}",
    )


@pytest.fixture
def fusions(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "f.csv",
        HEADER
        + "P1,2022-01-03,ALK,C9orf72::ALK,fusion,\n"
        + "P2,2022-01-03,C9orf72,rearrangement,fusion,\n"
        + "P2,2022-01-03,ALK,EML4::ALK,fusion,\n",
    )
    import_cfdna(path, project)
    pair, alone, eml4 = VariantResult.objects.order_by("pk")
    stored_before(pair, "C9ORF72", "ALK", "C9ORF72::ALK")
    stored_before(alone, "", "C9ORF72", "C9ORF72 rearrangement")
    return path, pair, alone, eml4


def test_partners_name_and_identity_are_mended_into_hgnc_case(project, fusions):
    path, pair, alone, eml4 = fusions

    migrate()

    stored = VariantResult.objects.order_by("pk").values_list(
        "fusion_5prime", "fusion_3prime", "note", "variant_key"
    )
    assert list(stored) == [
        ("C9orf72", "ALK", "C9orf72::ALK", "fusion:C9orf72::ALK"),
        ("", "C9orf72", "C9orf72 rearrangement", "fusion:?::C9orf72"),
        ("EML4", "ALK", "EML4::ALK", "fusion:EML4::ALK"),
    ]
    # A re-import finds the fusions it stored, as it would not have before:
    report = import_cfdna(path, project)
    assert (report.rows_imported, report.duplicates) == (0, 3)


def test_a_note_written_otherwise_is_kept(fusions):
    _path, pair, _alone, _eml4 = fusions
    VariantResult.objects.filter(pk=pair.pk).update(note="confirmed by FISH")

    migrate()

    pair.refresh_from_db()
    assert (pair.fusion_5prime, pair.note) == ("C9orf72", "confirmed by FISH")


def test_fusions_of_one_assay_differing_in_case_alone_stop_it_naming_them(fusions):
    _path, pair, _alone, _eml4 = fusions
    twin = VariantResult.objects.get(pk=pair.pk)
    twin.pk = None
    twin.fusion_5prime = "C9orf72"
    twin.variant_key = "fusion:C9orf72::ALK"
    twin.save()
    before = list(VariantResult.objects.order_by("pk").values_list())

    with pytest.raises(RuntimeError, match=f"variant ids {twin.pk} and {pair.pk}\\)"):
        migrate()

    assert list(VariantResult.objects.order_by("pk").values_list()) == before
