"""A patient found by pseudonym, the patient's timeline, and a study with all it holds."""

from __future__ import annotations

import datetime as dt

import pytest

from patients.models import Patient, Project
from radiomics.models import ImagingStudy
from tests.biobank.conftest import Records
from tests.conftest import grant


def test_patient_is_found_by_pseudonym_or_id(api, biobank):
    by_pseudonym = api.get("/api/patients/PT-A/")
    by_id = api.get(f"/api/patients/{biobank.a.patient.pk}/")

    assert by_pseudonym.json() == by_id.json()
    assert by_pseudonym.json()["pseudonym"] == "PT-A"


def test_pseudonym_of_two_projects_needs_the_project(api, analyst, biobank):
    other = Project.objects.create(code="other", name="Other collection")
    Patient.objects.create(project=other, pseudonym="PT-A", source_key="other-a")
    grant(analyst, other)

    ambiguous = api.get("/api/patients/PT-A/")
    chosen = api.get("/api/patients/PT-A/?project=other")

    assert ambiguous.status_code == 400
    assert "project" in ambiguous.json()
    assert chosen.json()["project"] == "other"


def test_a_pseudonym_in_a_project_not_joined_is_not_there(api, biobank):
    other = Project.objects.create(code="other", name="Other collection")
    Patient.objects.create(project=other, pseudonym="PT-A", source_key="other-a")

    assert api.get("/api/patients/PT-A/").json()["project"] == "demo"
    assert api.get("/api/patients/PT-A/?project=other").status_code == 404


def test_unknown_pseudonym_is_404(api, biobank):
    assert api.get("/api/patients/PT-Z/timeline/").status_code == 404


@pytest.fixture
def calendar(analyst, project):
    """The analyst as a curator, who reads calendar dates (a viewer's are shifted)."""
    return grant(analyst, project, "curator")


def test_timeline_lists_every_dated_record_in_date_order(api, calendar, biobank):
    response = api.get("/api/patients/PT-A/timeline/")

    assert response.status_code == 200
    entries = [(entry["on"], entry["kind"]) for entry in response.json()["entries"]]
    assert entries == [
        ("2020-01-10", "diagnosis"),
        ("2020-01-15", "consent"),
        ("2020-01-20", "imaging-study"),
        ("2020-01-22", "blood-sample"),
        ("2020-02-01", "treatment"),
        ("2020-05-01", "clinical-event"),
    ]


def test_timeline_shows_a_withdrawal_on_its_own_day(api, calendar, biobank):
    entries = api.get("/api/patients/PT-B/timeline/").json()["entries"]

    kinds_on = {(entry["on"], entry["kind"]) for entry in entries}
    assert ("2021-06-05", "consent") in kinds_on
    assert ("2021-12-01", "consent-withdrawal") in kinds_on


def test_timeline_blood_sample_holds_what_was_measured(api, calendar, biobank):
    entries = api.get("/api/patients/PT-A/timeline/").json()["entries"]

    sample = next(entry for entry in entries if entry["kind"] == "blood-sample")
    record = sample["record"]
    assert sample["id"] == biobank.a.sample.pk
    assert sample["at"].startswith("2020-01-22T09:00")
    assert [ctc["count"] for ctc in record["ctc_counts"]] == [12]
    variants = record["cfdna_assays"][0]["variants"]
    assert {(v["gene"], v["protein_change"]) for v in variants} == {
        ("EGFR", "p.T790M"),
        ("ALK", ""),
    }
    assert [rna["transcript"] for rna in record["rna_results"]] == ["AR-V7"]


def test_timeline_orders_two_draws_of_one_day_by_time(api, biobank):
    records = Records(biobank.a.patient.project)
    patient = biobank.a.patient
    late = records.draw(patient, dt.date(2020, 1, 22), at=dt.time(18, 0))
    early = records.draw(patient, dt.date(2020, 1, 22), at=dt.time(7, 30))

    entries = api.get("/api/patients/PT-A/timeline/").json()["entries"]

    draws = [entry["id"] for entry in entries if entry["kind"] == "blood-sample"]
    assert draws == [early.pk, biobank.a.sample.pk, late.pk]


def test_timeline_keeps_undated_studies_apart(api, biobank):
    undated = ImagingStudy.objects.create(
        patient=biobank.a.patient,
        study_instance_uid="2.25.999",
        source_uid_hash="undated",
    )

    timeline = api.get("/api/patients/PT-A/timeline/").json()

    assert [entry["id"] for entry in timeline["undated"]] == [undated.pk]
    studies = [e["id"] for e in timeline["entries"] if e["kind"] == "imaging-study"]
    assert studies == [biobank.a.study.pk]


def test_study_page_holds_series_segmentations_and_feature_values(api, biobank):
    response = api.get(f"/api/imaging-studies/{biobank.a.study.pk}/")

    study = response.json()
    assert study["patient_pseudonym"] == "PT-A"
    [series] = study["series"]
    assert (series["modality"], series["manufacturer"]) == ("CT", "SIEMENS")
    [segmentation] = series["segmentations"]
    assert segmentation["roi_name"] == "GTV-1"
    [extraction] = segmentation["extractions"]
    assert extraction["values"] == [
        {
            "feature": biobank.mean.pk,
            "feature_name": "original_firstorder_Mean",
            "ibsi_code": "Q4LE",
            "value": 42.0,
        }
    ]


def test_study_list_stays_flat(api, biobank):
    rows = api.get("/api/imaging-studies/").json()["results"]

    assert all("series" not in row for row in rows)
