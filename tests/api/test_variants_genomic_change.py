"""/api/variants/?variant= read as a genomic change, as the cohort filter reads it.

The cohort filter's own cases are in tests/api/test_cohorts.py; these check that the
list takes the same spellings and gives the same 400s, of variants of any call.
"""

from __future__ import annotations

import pytest

from liquidbiopsy.models import VariantResult
from tests.api.conftest import results
from tests.api.test_cohorts import (
    REFUSED_ACCESSIONS,
    TWO_BUILDS_REFUSAL,
    at_tp53,
    c_to_a_and_c_to_t,
    gene_less,
    hide,
    unknown_dbsnp_id_refusal,
    unstored_build_refusal,
    wrong_base_refusal,
)
from tests.biobank.test_cohorts_views import BUILD_REFUSALS


def variants(api, **query) -> list[int]:
    return sorted(row["id"] for row in results(api.get("/api/variants/", query)))


@pytest.mark.parametrize(
    "spelling",
    [
        "17:7579312 C>A",
        "chr17:7579312C>A",
        "chr17_7579312_C_A",
        "17-7579312-C-A",
        "chr17-7579312-c-a",
        "17:7579312 C>A GRCh37",
        "17:7579312 C>A hg19",
        "17-7579312-C-A (GRCh37)",
        # Digits of any script and any dash, as the cohort filter reads them:
        "١٧:٧٥٧٩٣١٢ C>A",
        "17–7579312–C–A",
    ],
)
@pytest.mark.parametrize("gene", ["", "TP53"])
def test_a_genomic_change_in_any_spelling_the_cohort_reads_finds_its_variant(
    api, biobank, spelling, gene
):
    at_tp53(biobank.a.variant, "17:7579312 C>A")

    found = variants(api, variant=spelling, gene=gene)

    assert found == [biobank.a.variant.pk]


def test_a_genomic_change_of_another_gene_or_build_finds_nothing(api, biobank):
    at_tp53(biobank.a.variant, "17:7579312 C>A")
    # GRCh38 is stored, of another variant:
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(genome_build="hg38")

    of_kras = variants(api, variant="17:7579312 C>A", gene="KRAS")
    in_grch38 = variants(api, variant="17:7579312 C>A hg38")

    assert of_kras == in_grch38 == []


def test_a_genomic_change_finds_variants_of_every_call_unless_call_narrows_it(
    api, biobank
):
    at_tp53(biobank.a.variant, "17:7579312 C>A")
    at_tp53(
        biobank.b.variant,
        "17:7579312 C>A",
        call=VariantResult.Call.BELOW_LOD,
        vaf=None,
    )

    every = variants(api, variant="17:7579312 C>A")
    below = variants(api, variant="17:7579312 C>A", call="below LOD")

    assert every == sorted([biobank.a.variant.pk, biobank.b.variant.pk])
    assert below == [biobank.b.variant.pk]


def test_a_misspelt_genomic_change_is_a_400_naming_variant(api, biobank):
    response = api.get("/api/variants/", {"variant": "chr7:55249071"})

    assert response.status_code == 400
    assert response.json() == {
        "variant": ["chr7:55249071 is not a genomic change such as chr17:7578263 G>A."]
    }


@pytest.mark.parametrize("asked", sorted(BUILD_REFUSALS))
@pytest.mark.parametrize("endpoint", ["variants", "cohort-pairs"])
def test_a_change_with_its_build_misplaced_is_a_400_saying_where_it_goes(
    api, biobank, asked, endpoint
):
    gene_less(biobank.a.variant, "GRCh37")

    response = api.get(f"/api/{endpoint}/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == {"variant": [BUILD_REFUSALS[asked]]}


def test_a_genomic_change_stored_in_two_builds_is_refused_without_one(api, biobank):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    response = api.get("/api/variants/", {"variant": "7:55249071 C>T"})
    with_build = variants(api, variant="7:55249071 C>T hg38")

    assert response.status_code == 400
    assert response.json() == TWO_BUILDS_REFUSAL
    assert with_build == [biobank.b.variant.pk]


def test_a_change_is_ambiguous_only_among_the_rows_the_list_would_give(api, biobank):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(
        call=VariantResult.Call.FAILED, vaf=None
    )

    detected = variants(api, variant="7:55249071 C>T", call="detected")

    assert detected == [biobank.a.variant.pk]


@pytest.mark.parametrize(
    "asked", ["17:7579312 G>A", "17-7579312-G-A", "chr17_7579312_G_A hg19"]
)
def test_a_change_of_a_reference_base_no_stored_change_there_has_is_a_400(
    api, biobank, asked
):
    c_to_a_and_c_to_t(biobank)

    # Whatever the other filters, the position's changes tell the reference base:
    response = api.get("/api/variants/", {"variant": asked, "call": "failed"})

    assert response.status_code == 400
    assert response.json() == wrong_base_refusal(asked, "C>A (GRCh37), C>T (GRCh37)")


def test_a_change_of_the_stored_reference_base_nobody_carries_is_an_empty_list(
    api, biobank
):
    at_tp53(biobank.a.variant, "17:7579312 C>A")

    assert variants(api, variant="17:7579312 C>T") == []


@pytest.mark.parametrize(
    ("spelling", "draw"),
    [
        ("NC_000007.13:g.55249071C>T", "a"),
        ("nc_000007.13:g.55249071c>t", "a"),
        ("NC_000007.14:g.55249071C>T", "b"),
        ("chr7:g.55249071C>T GRCh38", "b"),
    ],
)
def test_an_hgvs_change_on_an_accession_finds_the_variant_of_its_build(
    api, biobank, spelling, draw
):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    found = variants(api, variant=spelling)

    assert found == [getattr(biobank, draw).variant.pk]


@pytest.mark.parametrize("asked", sorted(REFUSED_ACCESSIONS))
def test_an_accession_of_another_build_is_a_400_saying_why(api, biobank, asked):
    gene_less(biobank.a.variant, "hg19")

    response = api.get("/api/variants/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == {"variant": [REFUSED_ACCESSIONS[asked]]}


def test_an_hgvs_deletion_is_a_400_saying_how_to_ask_for_it(api, biobank):
    asked = "NC_000007.13:g.55242465_55242479del"

    response = api.get("/api/variants/", {"variant": asked})

    assert response.status_code == 400
    [message] = response.json()["variant"]
    assert message.startswith(f"{asked} is a deletion, which an HGVS position")


def test_a_dbsnp_id_finds_the_variants_stored_with_it_of_every_call(api, biobank):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(dbsnp_id="rs121434569")
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(
        dbsnp_id="rs121434569", call=VariantResult.Call.FAILED, vaf=None
    )

    every = variants(api, variant="rs121434569")
    failed = variants(api, variant="RS121434569", call="failed")
    # Carried, but by none of the rows the other filters leave:
    below = variants(api, variant="rs121434569", call="below LOD")

    assert every == sorted([biobank.a.variant.pk, biobank.b.variant.pk])
    assert failed == [biobank.b.variant.pk]
    assert below == []


@pytest.mark.parametrize(
    ("asked", "stored", "carried"),
    [
        ("rs121434568", "", "none is stored"),
        ("RS121434568", "rs121434569", "others are stored"),
    ],
)
def test_a_dbsnp_id_no_variant_carries_is_a_400_saying_where_ids_come_from(
    api, biobank, asked, stored, carried
):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(dbsnp_id=stored)

    response = api.get("/api/variants/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == unknown_dbsnp_id_refusal("rs121434568", carried)


def test_a_dbsnp_id_of_another_project_is_refused_as_unknown(api, biobank):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(dbsnp_id="rs7")
    hide(biobank.a)

    response = api.get("/api/variants/", {"variant": "rs7"})

    assert response.status_code == 400
    # (another project's ID is named as stored, not as whose: no patient in it)
    assert response.json() == unknown_dbsnp_id_refusal("rs7", "others are stored")


# A build no variant the user may read is stored in:


@pytest.mark.parametrize(
    ("asked", "named"),
    [
        ("NC_000007.14:g.55191822T>G", "NC_000007.14:g.55191822T>G"),
        ("7:55191822 T>G hg38", "7:55191822 T>G hg38"),
        (" 7-55191822-T-G (GRCh38) ", "7-55191822-T-G (GRCh38)"),
    ],
)
def test_a_change_in_a_build_nothing_is_stored_in_is_a_400_naming_both(
    api, biobank, asked, named
):
    gene_less(biobank.a.variant, "hg19")

    response = api.get("/api/variants/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == unstored_build_refusal(named, "GRCh38", "GRCh37")


def test_a_refusal_names_no_build_typed_as_free_text(api, biobank):
    """A build is free text (the API, a cfDNA table): another project's would be shown
    to readers of this one (review rv4), so only GRCh37 and GRCh38 are named."""
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "SMITH^JO")
    hide(biobank.b)

    response = api.get("/api/variants/", {"variant": "7:55249071 C>T hg38"})

    assert response.status_code == 400
    [message] = response.json()["variant"]
    assert "(stored: GRCh37 and others)" in message
    assert "SMITH" not in message


def test_a_build_stored_only_in_another_project_is_an_empty_answer(api, biobank):
    """The builds refused are those no project stores (read from their index, at
    once; among the reader's variants alone the check read every variant)."""
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")
    hide(biobank.b)

    response = api.get("/api/variants/", {"variant": "7:55249071 C>T hg38"})

    assert response.status_code == 200
    assert response.json()["results"] == []
