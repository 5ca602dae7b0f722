"""The cohort query as an API list: pairs within a window, with the evidence for each filter.

Patient A: CT study on 2020-01-20, draw on 2020-01-22 (EGFR p.T790M detected, EML4::ALK,
12 CTCs), original_firstorder_Mean = 42. Patient B: MR study on 2021-06-10, draw on
2021-06-12 (KRAS p.G12D below the limit of detection, 1 CTC), only a wavelet Mean.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from liquidbiopsy.models import BloodSample, VariantResult
from patients.models import Patient, Project, Treatment
from tests.api.conftest import A_VALUES, add_side, results
from tests.api.test_queries import add_patients, count_queries
from tests.biobank.conftest import Records
from tests.conftest import REPO, grant

# B withdrew and consented again: both patients are in cohorts (docs/consent.md).
pytestmark = pytest.mark.usefixtures("renewed_consent")


def pairs(api, query: str) -> list[dict]:
    return results(api.get(f"/api/cohort-pairs/?{query}"))


def test_pairs_are_studies_and_draws_within_the_window(api, biobank):
    none = pairs(api, "window_days=1")
    both = pairs(api, "window_days=2")

    assert none == []
    assert [(row["patient_pseudonym"], row["days_apart"]) for row in both] == [
        ("PT-A", 2),
        ("PT-B", 2),
    ]
    assert both[0]["study_id"] == biobank.a.study.pk
    assert both[0]["sample_id"] == biobank.a.sample.pk
    assert both[0]["evidence"] == {}


def test_each_pair_gives_its_draw_s_lab_sample_id(api, biobank):
    biobank.a.sample.external_sample_id = "LB45707-01"
    biobank.a.sample.save()

    rows = pairs(api, "window_days=2")

    assert [(row["sample_id"], row["lab_sample_id"]) for row in rows] == [
        (biobank.a.sample.pk, "LB45707-01"),
        (biobank.b.sample.pk, biobank.b.sample.external_sample_id),
    ]
    assert list(rows[0]).index("lab_sample_id") == list(rows[0]).index("sample_id") + 1


def test_variant_pair_names_the_variant_that_admits_it(api, biobank):
    rows = pairs(api, "gene=EGFR&variant=p.Thr790Met")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    [variant] = rows[0]["evidence"]["variants"]
    assert variant["id"] == biobank.a.variant.pk
    assert (variant["protein_change"], variant["vaf"]) == ("p.T790M", 0.12)
    assert set(rows[0]["evidence"]) == {"variants"}


def test_undetected_variant_admits_no_pair(api, biobank):
    assert pairs(api, "gene=KRAS&variant=G12D") == []


@pytest.mark.parametrize("variant", ["EML4::ALK", "eml4::alk", "Eml4-Alk fusion"])
def test_fusion_pair_names_the_fusion(api, biobank, variant):
    rows = pairs(api, f"variant={variant}")

    assert [v["id"] for v in rows[0]["evidence"]["variants"]] == [biobank.fusion.pk]


def test_fusion_partners_in_another_order_find_no_pair(api, biobank):
    assert pairs(api, "variant=alk::eml4") == []


def test_variant_of_no_gene_is_asked_for_by_its_genomic_change(api, biobank):
    variant = biobank.a.variant
    variant.gene = variant.gene_hgnc = variant.protein_change = ""
    variant.genomic_change = "7:55249071 C>T"
    variant.save()

    rows = pairs(api, "variant=chr7:55249071%20C%3ET")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    [evidence] = rows[0]["evidence"]["variants"]
    assert (evidence["id"], evidence["genomic_change"]) == (
        variant.pk,
        "7:55249071 C>T",
    )


def test_a_misspelt_genomic_change_is_a_400_naming_variant(api, biobank):
    response = api.get("/api/cohort-pairs/?variant=chr7%2055249071")

    assert response.status_code == 400
    assert response.json() == {
        "variant": ["chr7 55249071 is not a genomic change such as chr17:7578263 G>A."]
    }


def gene_less(variant, build: str) -> None:
    """Store `variant` as detected and of no gene at 7:55249071 C>T in `build`."""
    VariantResult.objects.filter(pk=variant.pk).update(
        gene="",
        gene_hgnc="",
        protein_change="",
        genomic_change="7:55249071 C>T",
        genome_build=build,
        call=VariantResult.Call.DETECTED,
        vaf=0.1,
    )


# The 400 of 7:55249071 C>T asked without build, stored in hg19 and GRCh38:
TWO_BUILDS_REFUSAL = {
    "variant": [
        "7:55249071 C>T is stored in more than one genome build (GRCh37, "
        "GRCh38); add the one you mean after the change, e.g. 7:55249071 C>T "
        "GRCh37."
    ]
}


def test_a_genomic_change_stored_in_two_builds_is_refused_without_one(api, biobank):
    """Of EGFR T790M in hg19, of another gene or none in GRCh38."""
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    response = api.get("/api/cohort-pairs/?variant=7:55249071%20C%3ET")

    assert response.status_code == 400
    assert response.json() == TWO_BUILDS_REFUSAL


@pytest.mark.parametrize(
    ("build", "patient"),
    [("hg19", "PT-A"), ("GRCh37", "PT-A"), ("(GRCh38)", "PT-B"), ("hg38", "PT-B")],
)
def test_a_genomic_change_with_its_build_names_the_build_in_evidence(
    api, biobank, build, patient
):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    rows = pairs(api, f"variant=chr7:55249071%20C%3ET%20{build}")

    assert [row["patient_pseudonym"] for row in rows] == [patient]
    [evidence] = rows[0]["evidence"]["variants"]
    stored = {"PT-A": "hg19", "PT-B": "GRCh38"}[patient]
    assert (evidence["genomic_change"], evidence["genome_build"]) == (
        "7:55249071 C>T",
        stored,
    )


def hide(draw) -> None:
    """Move the patient of `draw` (a Biobank draw) to a project the reader may not read."""
    hidden = Project.objects.create(code="hidden", name="Not the reader's")
    Patient.objects.filter(pk=draw.sample.patient_id).update(project=hidden)


def test_only_builds_the_reader_may_read_make_a_genomic_change_ambiguous(api, biobank):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")
    hide(biobank.b)

    rows = pairs(api, "variant=7:55249071%20C%3ET")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]


def test_only_a_genomic_change_without_build_costs_a_query_more(api, biobank):
    gene_less(biobank.a.variant, "hg19")
    fusion = count_queries(api, "/api/cohort-pairs/?variant=EML4::ALK")

    with_build = count_queries(
        api, "/api/cohort-pairs/?variant=7:55249071%20C%3ET%20hg19"
    )
    without = count_queries(api, "/api/cohort-pairs/?variant=7:55249071%20C%3ET")

    # Every genomic change reads the changes stored at its position, to refuse a
    # wrong reference base; one with a build reads the builds stored (on PostgreSQL
    # from their index, stored_genome_builds); the builds of the matching variants
    # are read only to refuse an ambiguous change:
    assert len(with_build) == len(fusion) + 2
    assert len(without) == len(fusion) + 2

    def reads_position(query: str) -> bool:
        return '"genomic_change" IN (' in query

    def reads_builds(queries: list[str]) -> bool:
        return any(
            "DISTINCT" in q and "genome_build" in q and not reads_position(q)
            for q in queries
        )

    assert reads_builds(without)
    assert all(any(map(reads_position, q)) for q in (with_build, without))


def at_tp53(variant, change: str, build: str = "GRCh37", **values) -> None:
    """Store `variant` as a TP53 variant of `change` in `build`, detected unless told."""
    VariantResult.objects.filter(pk=variant.pk).update(
        **{
            "gene": "TP53",
            "gene_hgnc": "TP53",
            "protein_change": "",
            "genomic_change": change,
            "genome_build": build,
            "call": VariantResult.Call.DETECTED,
            "vaf": 0.1,
            **values,
        }
    )


@pytest.mark.parametrize("spelling", ["17-7579312-C-A", "chr17-7579312-c-a"])
@pytest.mark.parametrize("gene", ["", "TP53"])
def test_a_genomic_change_written_as_gnomad_writes_it_finds_its_variant(
    api, biobank, spelling, gene
):
    at_tp53(biobank.a.variant, "17:7579312 C>A")

    rows = pairs(api, f"gene={gene}&variant={spelling}")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    [evidence] = rows[0]["evidence"]["variants"]
    assert evidence["genomic_change"] == "17:7579312 C>A"


@pytest.mark.parametrize(
    "spelling", ["١٧:٧٥٧٩٣١٢ C>A", "17–7579312–C–A", "１７－７５７９３１２－C－A hg19"]
)
def test_a_genomic_change_in_other_digits_or_dashes_finds_its_variant(
    api, biobank, spelling
):
    """Digits of any script and any dash read as ASCII, as other numbers are read."""
    at_tp53(biobank.a.variant, "17:7579312 C>A")

    rows = results(api.get("/api/cohort-pairs/", {"variant": spelling}))

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]


@pytest.mark.parametrize("spelling", ["T790M", "p.T٧٩٠M", "p.Thr７９０Met"])
def test_a_protein_change_in_digits_of_any_script_finds_its_variant(
    api, biobank, spelling
):
    rows = results(api.get("/api/cohort-pairs/", {"gene": "EGFR", "variant": spelling}))

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]


def wrong_base_refusal(asked: str, stored: str) -> dict:
    return {
        "variant": [
            f"No variant you may read is {asked}; the changes stored at 17:7579312 "
            f"are {stored}, none of reference base G. Check the reference base and "
            "the genome build of the change."
        ]
    }


def c_to_a_and_c_to_t(biobank) -> None:
    """Store 17:7579312 C>A (detected, GRCh37) in A, C>T (below LOD, hg19) in B."""
    at_tp53(biobank.a.variant, "17:7579312 C>A")
    at_tp53(
        biobank.b.variant,
        "17:7579312 C>T",
        build="hg19",
        call=VariantResult.Call.BELOW_LOD,
        vaf=None,
    )


@pytest.mark.parametrize(
    "asked", ["17:7579312 G>A", "17-7579312-G-A", "chr17_7579312_G_A hg19"]
)
def test_a_change_of_a_reference_base_no_stored_change_there_has_is_a_400(
    api, biobank, asked
):
    c_to_a_and_c_to_t(biobank)

    response = api.get("/api/cohort-pairs/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == wrong_base_refusal(asked, "C>A (GRCh37), C>T (GRCh37)")


@pytest.mark.parametrize(
    "asked",
    [
        # The stored reference base, an alternate base nobody carries:
        "17:7579312 C>T",
        "17:7579312 C>G hg19",
        # Stored, below the limit of detection only:
        "17:7579312 C>A",
        # Another build stored (elsewhere), with nothing at the position:
        "17:7579312 G>A hg38",
        # At another position:
        "17:7579313 G>A",
        # An insertion as a MAF writes it names no reference base:
        "17:7579312 ->A",
    ],
)
def test_a_change_nobody_carries_but_of_no_other_reference_base_is_an_empty_cohort(
    api, biobank, asked
):
    at_tp53(
        biobank.a.variant,
        "17:7579312 C>A",
        call=VariantResult.Call.BELOW_LOD,
        vaf=None,
    )
    # GRCh38 is stored too, at another position and of no call found:
    at_tp53(
        biobank.b.variant,
        "17:7675994 C>A",
        build="GRCh38",
        call=VariantResult.Call.FAILED,
        vaf=None,
    )

    assert results(api.get("/api/cohort-pairs/", {"variant": asked})) == []


def test_only_changes_the_reader_may_read_tell_the_reference_base(api, biobank):
    at_tp53(biobank.a.variant, "17:7579312 C>A")
    at_tp53(biobank.b.variant, "17:7579312 C>T")
    hide(biobank.b)

    named = api.get("/api/cohort-pairs/", {"variant": "17:7579312 G>A"})
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(
        genomic_change="17:7579313 C>A"
    )
    unnamed = api.get("/api/cohort-pairs/", {"variant": "17:7579312 G>A"})

    assert named.status_code == 400
    assert named.json() == wrong_base_refusal("17:7579312 G>A", "C>A (GRCh37)")
    # The other project's C>T alone is at the position now, and tells nothing:
    assert unnamed.status_code == 200
    assert unnamed.json()["results"] == []


def test_ctc_pair_names_the_count(api, biobank):
    rows = pairs(api, "min_ctc=5")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    assert rows[0]["evidence"]["ctc_counts"] == [
        {
            "id": biobank.a.ctc.pk,
            "platform": "CellSearch",
            "count": 12,
            "count_per_7_5ml": 12.0,
        }
    ]


def test_feature_pair_names_the_value_on_the_original_image(api, biobank):
    # B's wavelet Mean is 50 but carries the same IBSI code; only A's original counts:
    rows = pairs(api, "feature=Q4LE&feature_min=40")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    [value] = rows[0]["evidence"]["feature_values"]
    assert (value["id"], value["value"]) == (biobank.a.value.pk, 42.0)
    assert value["feature_name"] == "original_firstorder_Mean"


def test_modality_pair_names_the_series(api, biobank):
    rows = pairs(api, "modality=mr")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-B"]
    assert [s["id"] for s in rows[0]["evidence"]["series"]] == [biobank.b.series.pk]


def test_draw_after_a_treatment_is_left_out(api, analyst, project, biobank):
    grant(analyst, project, "curator")  # a viewer's dates are shifted
    Treatment.objects.create(
        patient=biobank.b.patient, kind="surgery", started_on=dt.date(2021, 6, 1)
    )

    rows = pairs(api, "before_treatment=true")

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    assert rows[0]["evidence"]["first_treatment_on"] == "2020-02-01"


def test_nearest_mode_keeps_the_nearest_draw_per_study(api, biobank):
    Records(biobank.a.patient.project).draw(biobank.a.patient, dt.date(2020, 1, 25))

    every = pairs(api, "window_days=10&project=demo&cancer_type=LUAD")
    nearest = pairs(api, "window_days=10&mode=nearest&cancer_type=LUAD")

    assert [row["days_apart"] for row in every] == [2, 5]
    assert [row["days_apart"] for row in nearest] == [2]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("gene=EGFR&variant=p.Thr79OMet", "variant"),
        ("variant=T790M", "gene"),
        ("variant=EML4::KRAS G12D", "variant"),
        ("window_days=-1", "window_days"),
        ("mode=furthest", "mode"),
        ("windw=3", "windw"),
        ("feature_min=3", "feature"),
    ],
)
def test_bad_query_is_a_400_naming_the_parameter(query, field, api, biobank):
    response = api.get(f"/api/cohort-pairs/?{query}")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.attack
def test_cohort_needs_sign_in(biobank):
    assert APIClient().get("/api/cohort-pairs/").status_code == 401


def test_cohort_queries_do_not_grow_with_pairs(api, biobank):
    url = (
        "/api/cohort-pairs/?gene=EGFR&variant=T790M&min_ctc=1&modality=CT"
        "&feature=Q4LE&feature_min=0&before_treatment=true"
    )
    with_two = count_queries(api, url)

    add_patients(biobank, 4)
    with_six = count_queries(api, url)

    assert len(results(api.get(url))) == 5
    # Token, the reader's projects and roles (read once for the whole request), the
    # form's checks that a series of the modality and a variant of the gene are
    # stored (one EXISTS each), the form's two checks of the feature, the feature's
    # ids, the page (no count: every pair fits on it; its rows read their draws'
    # lab sample IDs too), one query per filter with evidence (series, variants,
    # CTCs, feature values, treatments), and the export log (the record, its
    # projects):
    assert len(with_six) == len(with_two) == 15, "\n".join(q[:90] for q in with_six)
    # A project asked for is read once, by the form; the pairs' query takes its id
    # from there rather than looking the code up again:
    with_project = count_queries(api, f"{url}&project=demo")
    assert len(with_project) == 16, "\n".join(q[:90] for q in with_project)


# The draws' lab sample IDs, read in the pairs' query (a query of their own before):


@pytest.fixture
def two_projects(biobank, analyst) -> Project:
    """A second project, curated by the analyst (a viewer of demo), whose patient has
    three draws near one study; every draw has a lab sample ID with a date in it."""
    other = Project.objects.create(code="other", name="Another trial")
    grant(analyst, other, "curator")
    side = add_side(other, "PT-C", biobank.mean, biobank.signature, **A_VALUES)
    for day, serial in ((12, 2), (25, 3)):
        BloodSample.objects.create(
            patient=side.patient,
            drawn_at=side.sample.drawn_at.replace(day=day),
            external_sample_id=f"TRIAL_2020-01-{day}_T{serial}",
        )
    side.sample.external_sample_id = "TRIAL_2020-01-22_T1"
    side.sample.save()
    biobank.a.sample.external_sample_id = "CAIRO5_2020-01-22_T1"
    biobank.a.sample.save()
    return other


def read_lab_sample_ids_by_their_own_query(monkeypatch) -> None:
    """Make /api/cohort-pairs/ read its page's lab sample IDs as it did before they
    were in the pairs' query: one query of their own, after the page."""
    from biobank.api import cohorts

    collect_evidence = cohorts.collect_evidence

    def collect_evidence_and_lab_sample_ids(criteria, rows):
        draws = BloodSample.objects.filter(pk__in={row["sample_id"] for row in rows})
        lab_sample_ids = dict(draws.values_list("pk", "external_sample_id"))
        for row in rows:
            row["lab_sample_id"] = lab_sample_ids.get(row["sample_id"], "")
        return collect_evidence(criteria, rows)

    monkeypatch.setattr(cohorts, "with_lab_sample_ids", lambda pairs: pairs)
    monkeypatch.setattr(
        cohorts, "collect_evidence", collect_evidence_and_lab_sample_ids
    )


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        # A viewer of demo: shifted dates, so no date of a lab sample ID shows.
        ("window_days=30", "TRIAL_[date]_T2"),
        ("window_days=30&dates=relative&page_size=2", "CAIRO5_[date]_T1"),
        ("window_days=30&mode=nearest&gene=EGFR", "TRIAL_[date]_T1"),
        # A page of other's pairs alone is the curator's: calendar dates by default.
        ("window_days=30&page_size=2&page=2", "TRIAL_2020-01-22_T1"),
        ("window_days=30&project=other&dates=calendar", "TRIAL_2020-01-25_T3"),
    ],
)
def test_a_page_reads_its_lab_sample_ids_in_the_pairs_query_with_the_same_rows(
    query, shown, api, two_projects, monkeypatch
):
    url = f"/api/cohort-pairs/?{query}"

    with CaptureQueriesContext(connection) as in_the_pairs_query:
        now = api.get(url)
    read_lab_sample_ids_by_their_own_query(monkeypatch)
    with CaptureQueriesContext(connection) as by_their_own_query:
        before = api.get(url)

    assert now.status_code == before.status_code == 200, now.content[:300]
    assert now.json() == before.json()
    assert len(in_the_pairs_query) == len(by_their_own_query) - 1
    assert shown in {row["lab_sample_id"] for row in now.json()["results"]}


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        (
            "gene=EGRF&window_days=30",
            "gene",
            "No variant you may read is of gene EGRF. Did you mean EGFR?",
        ),
        ("modality=XX", "modality", "No series you may read has modality XX."),
        (
            "feature=original_firstorder_Maen&feature_min=0",
            "feature",
            "No radiomic feature is named or coded original_firstorder_Maen. "
            "Did you mean original_firstorder_Mean",
        ),
    ],
)
@pytest.mark.parametrize("path", ["/api/cohort-pairs/", "/api/cohort-matrix/"])
def test_a_name_nothing_stored_has_is_a_400_with_the_closest_names(
    path, query, field, message, api, biobank
):
    response = api.get(f"{path}?{query}")

    assert response.status_code == 400
    assert response.json()[field][0].startswith(message)


def test_the_api_guide_says_the_cohort_endpoints_refuse_an_unknown_name():
    # What the test above checks; the guide once said genes and modalities were not.
    guide = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    text = " ".join(guide.read_text(encoding="utf-8").split())

    assert "refuses an unknown project, feature, gene or modality" in text
    assert "not yet an unknown gene" not in text


def test_a_gene_only_another_project_has_is_refused_as_unknown(api, biobank):
    # The analyst reads only the demo project; the other one holds the only BRAF call.
    records = Records(Project.objects.create(code="other", name="Other trial"))
    patient = records.patient("P-OTHER")
    records.variant(records.draw(patient, dt.date(2020, 1, 1)), "BRAF", "p.V600E")

    response = api.get("/api/cohort-pairs/?gene=BRAF")

    assert response.status_code == 400
    assert response.json()["gene"][0].startswith(
        "No variant you may read is of gene BRAF."
    )
    assert "other" not in response.content.decode()


@pytest.mark.parametrize("path", ["/api/cohort-pairs/", "/api/cohort-matrix/"])
def test_a_misspelt_project_is_named_with_the_closest_code(path, api, biobank):
    hidden = Project.objects.create(code="demo2", name="Someone else's trial")

    response = api.get(f"{path}?project=dmeo")

    assert response.status_code == 400
    assert response.json()["project"] == [
        "No project you may read has the code dmeo. Did you mean demo?"
    ]
    assert hidden.code not in response.content.decode()


def test_pairs_serialise_as_the_generic_serializer_does(biobank):
    from rest_framework import serializers
    from rest_framework.renderers import JSONRenderer

    from biobank.api.cohorts import CohortPairSerializer, collect_evidence
    from biobank.cohorts.query import (
        CohortCriteria,
        pair_queryset,
        with_lab_sample_ids,
    )

    # Every filter with evidence, so that each kind of evidence is serialised:
    criteria = CohortCriteria(
        window_days=30, gene="EGFR", min_ctc_per_7_5ml=1, modality="CT",
        feature="original_firstorder_Mean", feature_min=0, before_first_treatment=True,
    )  # fmt: skip
    rows = [
        *with_lab_sample_ids(pair_queryset(criteria)),
        *with_lab_sample_ids(pair_queryset(CohortCriteria())),
    ]
    evidence = collect_evidence(criteria, rows)
    for row in rows:
        row["evidence"] = evidence(row)
    rows.append(rows[0] | {"drawn_at": None, "modalities": None})

    fast = CohortPairSerializer(rows, many=True).data
    child = CohortPairSerializer()
    generic = [serializers.Serializer.to_representation(child, row) for row in rows]

    assert len(rows) == 4
    assert set(rows[0]["evidence"]) == {
        "series", "variants", "ctc_counts", "feature_values", "first_treatment_on",
    }  # fmt: skip
    assert fast == generic
    assert JSONRenderer().render(fast) == JSONRenderer().render(generic)


# HGVS on a RefSeq chromosome accession, whose version names the build:


@pytest.mark.parametrize(
    ("spelling", "patient"),
    [
        ("NC_000007.13:g.55249071C>T", "PT-A"),
        ("NC_000007.14:g.55249071C>T", "PT-B"),
        ("chr7:g.55249071C>T hg19", "PT-A"),
        ("NC_000007.14:g.55249071C>T GRCh38", "PT-B"),
    ],
)
def test_an_hgvs_change_on_an_accession_finds_the_variant_of_its_build(
    api, biobank, spelling, patient
):
    """Stored in both builds, so that without one the change is refused."""
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    rows = results(api.get("/api/cohort-pairs/", {"variant": spelling}))

    assert [row["patient_pseudonym"] for row in rows] == [patient]
    [evidence] = rows[0]["evidence"]["variants"]
    assert evidence["genomic_change"] == "7:55249071 C>T"


def test_an_hgvs_change_on_a_chromosome_is_ambiguous_without_a_build(api, biobank):
    gene_less(biobank.a.variant, "hg19")
    gene_less(biobank.b.variant, "GRCh38")

    response = api.get("/api/cohort-pairs/", {"variant": "chr7:g.55249071C>T"})

    assert response.status_code == 400
    assert response.json() == {
        "variant": [
            "chr7:g.55249071C>T is stored in more than one genome build (GRCh37, "
            "GRCh38); add the one you mean after the change, e.g. 7:55249071 C>T "
            "GRCh37."
        ]
    }


# The 400s of an accession of another build, or contradicted by the build after it:
REFUSED_ACCESSIONS = {
    "NC_000007.12:g.55249071C>T": (
        "NC_000007.12:g.55249071C>T is on NC_000007.12, a version of no build the "
        "biobank stores: chromosome 7 is NC_000007.13 in GRCh37 and NC_000007.14 in "
        "GRCh38."
    ),
    "NC_000007.13:g.55249071C>T hg38": (
        "NC_000007.13:g.55249071C>T hg38 names GRCh37 by its accession and GRCh38 "
        "after it; give one build."
    ),
}


@pytest.mark.parametrize("asked", sorted(REFUSED_ACCESSIONS))
@pytest.mark.parametrize("gene", ["", "KRAS"])
def test_an_accession_of_another_build_is_a_400_saying_why(api, biobank, asked, gene):
    """Of a gene or none, not the "give the gene" of a protein change."""
    gene_less(biobank.a.variant, "hg19")

    response = api.get("/api/cohort-pairs/", {"gene": gene, "variant": asked})

    assert response.status_code == 400
    assert response.json() == {"variant": [REFUSED_ACCESSIONS[asked]]}


def test_an_accession_of_no_chromosome_is_a_400_naming_those_accepted(api, biobank):
    response = api.get("/api/cohort-pairs/", {"variant": "NG_007726.3:g.5000C>T"})

    assert response.status_code == 400
    [message] = response.json()["variant"]
    assert message.startswith(
        "NG_007726.3:g.5000C>T is on NG_007726.3, which is no chromosome of GRCh37 "
        "or GRCh38; give a chromosome's RefSeq accession (NC_000001 to NC_000024"
    )


# dbSNP IDs, stored as a MAF or VCF gave them:


@pytest.mark.parametrize("spelling", ["rs121434569", "RS121434569"])
@pytest.mark.parametrize("gene", ["", "EGFR"])
def test_a_dbsnp_id_finds_the_variant_stored_with_it(api, biobank, spelling, gene):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(
        dbsnp_id="rs121434569", genomic_change="7:55249071 C>T", genome_build="GRCh37"
    )
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(dbsnp_id="rs1")

    rows = results(api.get("/api/cohort-pairs/", {"gene": gene, "variant": spelling}))

    assert [row["patient_pseudonym"] for row in rows] == ["PT-A"]
    [evidence] = rows[0]["evidence"]["variants"]
    assert (evidence["id"], evidence["dbsnp_id"], evidence["genomic_change"]) == (
        biobank.a.variant.pk,
        "rs121434569",
        "7:55249071 C>T",
    )


def test_a_dbsnp_id_of_another_gene_or_of_no_detected_variant_finds_no_pair(
    api, biobank
):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(dbsnp_id="rs121434569")
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(
        dbsnp_id="rs7", call=VariantResult.Call.FAILED, vaf=None
    )

    assert pairs(api, "gene=KRAS&variant=rs121434569") == []
    # Carried by a failed call only: stored, so an empty cohort and no 400:
    assert pairs(api, "variant=rs7") == []


def unknown_dbsnp_id_refusal(asked: str, carried: str) -> dict:
    return {
        "variant": [
            f"No variant you may read has the dbSNP ID {asked} stored ({carried}). "
            "IDs are stored from a MAF's dbSNP_RS or a VCF's ID column only; ask by "
            "gene and protein change (e.g. gene=EGFR&variant=L858R) or by genomic "
            "change (e.g. 7:55259515 T>G GRCh37) instead."
        ]
    }


@pytest.mark.parametrize("asked", ["rs12x", "RS 121434568", "rs"])
def test_a_mistyped_dbsnp_id_without_gene_is_a_400_under_variant(api, biobank, asked):
    """Not "give the gene" (trial T24): the ID was mistyped, not the gene left out."""
    response = api.get("/api/cohort-pairs/", {"variant": asked})

    assert response.status_code == 400
    assert response.json() == {
        "variant": [f"{asked} is not a dbSNP ID: give rs and its digits (rs121434568)."]
    }


@pytest.mark.parametrize("gene", ["", "EGFR"])
def test_a_dbsnp_id_no_variant_carries_is_a_400_saying_where_ids_come_from(
    api, biobank, gene
):
    response = api.get("/api/cohort-pairs/", {"gene": gene, "variant": "rs121434568"})
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(dbsnp_id="rs1")
    others = api.get("/api/cohort-pairs/", {"variant": "rs121434568"})

    assert response.status_code == others.status_code == 400
    assert response.json() == unknown_dbsnp_id_refusal("rs121434568", "none is stored")
    assert others.json() == unknown_dbsnp_id_refusal("rs121434568", "others are stored")


def test_a_dbsnp_id_carried_in_another_project_is_known_in_any(api, analyst, biobank):
    # Carried by a variant the user reads, of another project than the one asked:
    # stored, so an empty cohort, not a 400. A project the user does not read
    # hides it: then it is refused.
    other = Project.objects.create(code="other", name="Also the reader's")
    Patient.objects.filter(pk=biobank.b.sample.patient_id).update(project=other)
    VariantResult.objects.filter(pk=biobank.b.variant.pk).update(dbsnp_id="rs7")

    hidden = api.get("/api/cohort-pairs/", {"project": "demo", "variant": "rs7"})
    grant(analyst, other)
    elsewhere = api.get("/api/cohort-pairs/", {"project": "demo", "variant": "rs7"})

    assert hidden.status_code == 400
    assert elsewhere.status_code == 200
    assert elsewhere.json()["results"] == []


# A genomic change in a build no variant the user may read is stored in:


def unstored_build_refusal(asked: str, build: str, stored: str) -> dict:
    return {
        "variant": [
            f"No variant is stored in {build}, the genome build of "
            f"{asked} (stored: {stored}); give the change in {stored} — positions "
            "are not lifted over."
        ]
    }


@pytest.mark.parametrize(
    "asked",
    [
        "NC_000007.14:g.55191822T>G",
        "7:55191822 T>G GRCh38",
        "chr7:g.55191822T>G hg38",
    ],
)
@pytest.mark.parametrize("gene", ["", "KRAS"])
def test_a_change_in_a_build_nothing_is_stored_in_is_a_400_naming_both(
    api, biobank, asked, gene
):
    """EGFR L858R in GRCh38, where the biobank stores GRCh37 only (with a gene
    too: the build is refused before any variant of the gene is looked for)."""
    gene_less(biobank.a.variant, "hg19")

    response = api.get("/api/cohort-pairs/", {"gene": gene, "variant": asked})

    assert response.status_code == 400
    assert response.json() == unstored_build_refusal(asked, "GRCh38", "GRCh37")


def test_a_change_in_a_build_stored_without_it_says_to_give_none(api, biobank):
    VariantResult.objects.update(genome_build="")
    gene_less(biobank.a.variant, "")

    response = api.get("/api/cohort-pairs/", {"variant": "7:55249071 C>T hg19"})
    without = pairs(api, "variant=7:55249071%20C%3ET")

    assert response.status_code == 400
    [message] = response.json()["variant"]
    assert "(stored: none named); give the change without a genome build" in message
    assert [row["patient_pseudonym"] for row in without] == ["PT-A"]


def test_docs_say_who_cohorts_leave_out_and_how_nearest_breaks_a_tie():
    # The rules themselves: tests/biobank/test_cohorts_query.py (nearest mode's ties)
    # and tests/biobank/test_consent_in_cohorts.py.
    doc = (REPO / "docs" / "api.md").read_text()
    section = doc[doc.index("## Cohort pairs\n") :]
    section = section[: section.index("\n## ", 1)]
    words = " ".join(section.split())

    assert "lacks the genomics scope, is left out of the pairs" in words
    assert "[Consent in cohorts](consent.md)" in words
    assert (REPO / "docs" / "consent.md").exists()
    assert (
        "of draws as near, the earlier draw (`drawn_at`), then the one of the lower "
        "`sample_id`" in words
    )
    assert "`1`, `yes` and `on`" in words
