"""The gene filter compares the current symbol (of_gene); migration 0012 fills it."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.db import connection

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.models import VariantResult
from tests.liquidbiopsy.conftest import register, write

pytestmark = pytest.mark.django_db

HEADER = "patient_id,draw_date,gene,alteration,vaf\n"
MIGRATION = importlib.import_module("liquidbiopsy.migrations.0012_gene_hgnc_filled")


@pytest.fixture
def variants(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        HEADER
        + "P1,2022-01-03,sept9,p.R106W,0.02\n"
        + "P1,2022-01-03,kras,p.G12C,0.03\n"
        + "P1,2022-01-03,C9ORF72,p.A2V,0.01\n",
    )
    import_cfdna(path, project)
    return {variant.gene: variant for variant in VariantResult.objects.all()}


@pytest.mark.parametrize(
    ("asked", "given"),
    [
        ("SEPT9", "sept9"),
        ("septin9", "sept9"),
        ("KRAS", "kras"),
        ("Kras", "kras"),
        ("c9orf72", "C9ORF72"),
        (" C9orf72 ", "C9ORF72"),
    ],
)
def test_a_gene_is_found_by_its_current_or_former_symbol_in_any_case(
    variants, asked, given
):
    assert list(VariantResult.objects.of_gene(asked)) == [variants[given]]


def test_another_gene_finds_none_of_them(variants):
    assert not VariantResult.objects.of_gene("NRAS").exists()
    assert not VariantResult.objects.of_gene("SEPT").exists()


def test_the_migration_fills_an_empty_current_symbol_from_the_gene_given(variants):
    VariantResult.objects.update(gene_hgnc="")
    assert not VariantResult.objects.of_gene("SEPTIN9").exists()

    MIGRATION.fill_gene_hgnc(apps, connection.schema_editor())

    stored = dict(VariantResult.objects.values_list("gene", "gene_hgnc"))
    assert stored == {"sept9": "SEPTIN9", "kras": "KRAS", "C9ORF72": "C9orf72"}
    assert VariantResult.objects.of_gene("SEPT9").get() == variants["sept9"]
