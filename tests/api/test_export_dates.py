"""Date modes of exports: calendar, shifted per patient, or days from a reference.

The contrasting pair of tests/api/conftest.py: A (diagnosed 2020-01-10, CT study
2020-01-20, draw 2020-01-22) and B (diagnosed 2021-06-01, MR study 2021-06-10,
draw 2021-06-12); both in project "demo".
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re

import pandas as pd
import pytest
from rest_framework.test import APIClient

from biobank.exports.audit import projects_named
from biobank.exports.dates import DateMode, may_see_calendar, shift_days
from liquidbiopsy.models import BloodSample
from patients.models import ClinicalEvent, Consent, Patient, Project, Treatment
from radiomics.models import ImagingStudy
from tests.api.conftest import A_VALUES, add_side
from tests.conftest import grant

pytestmark = pytest.mark.usefixtures("renewed_consent")

ISO_DATE = re.compile(rb"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
MATRIX = "/api/cohort-matrix/?features=original_firstorder_Mean&genes=EGFR,KRAS"


def body(response) -> bytes:
    assert response.status_code == 200, response.content[:500]
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def parquet(api, url: str) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(body(api.get(f"{url}&format=parquet"))))


@pytest.fixture
def curator_api(analyst, project, api) -> APIClient:
    """The analyst as a curator of the project: calendar dates by default."""
    grant(analyst, project, "curator")
    return api


def real_dates() -> set[dt.date]:
    """Every calendar date the patients' records hold."""
    days: set[dt.date] = set()
    days |= set(
        Patient.objects.exclude(diagnosis_on=None).values_list(
            "diagnosis_on", flat=True
        )
    )
    days |= set(ImagingStudy.objects.values_list("study_date", flat=True))
    days |= set(BloodSample.objects.values_list("drawn_on", flat=True))
    days |= set(Treatment.objects.values_list("started_on", flat=True))
    days |= set(ClinicalEvent.objects.values_list("occurred_on", flat=True))
    days |= set(Treatment.objects.values_list("ended_on", flat=True))
    days |= set(Consent.objects.values_list("given_on", flat=True))
    days |= set(Consent.objects.values_list("withdrawn_on", flat=True))
    return {day for day in days if day is not None}


def iso_dates(content: bytes) -> set[dt.date]:
    found = set()
    for year, month, day in ISO_DATE.findall(content):
        try:
            found.add(dt.date(int(year), int(month), int(day)))
        except ValueError:
            continue
    return found


def test_shifting_keeps_every_interval_of_the_matrix(curator_api, biobank):
    calendar = parquet(curator_api, f"{MATRIX}&dates=calendar")
    moved = parquet(curator_api, f"{MATRIX}&dates=shifted")

    assert list(moved["days_apart"]) == list(calendar["days_apart"])
    for name in ("study_date", "diagnosis_on"):
        assert (moved["drawn_at"].dt.date - moved[name]).tolist() == (
            calendar["drawn_at"].dt.date - calendar[name]
        ).tolist()
    # The draw moment keeps its time of day, and each patient moved by one offset:
    shifts = moved["drawn_at"] - calendar["drawn_at"]
    assert all(shift.seconds == 0 and shift.days != 0 for shift in shifts)
    assert list((moved["study_date"] - calendar["study_date"]).dt.days) == [
        shift.days for shift in shifts
    ]


def test_shifted_pairs_keep_study_to_draw_days(curator_api, biobank):
    calendar = curator_api.get("/api/cohort-pairs/?dates=calendar").json()["results"]
    moved = curator_api.get("/api/cohort-pairs/?dates=shifted").json()["results"]

    for before, after in zip(calendar, moved, strict=True):
        assert after["days_apart"] == before["days_apart"]
        assert after["study_date"] != before["study_date"]
        drawn = dt.date.fromisoformat(after["drawn_on"])
        assert (drawn - dt.date.fromisoformat(after["study_date"])).days == after[
            "days_apart"
        ]


def test_relative_day_0_is_the_diagnosis(curator_api, biobank):
    frame = parquet(curator_api, f"{MATRIX}&dates=relative")
    a = frame[frame["patient_pseudonym"] == biobank.a.patient.pseudonym].iloc[0]
    patient = biobank.a.patient

    assert a["date_reference"] == "diagnosis"
    assert a["diagnosis_on_days"] == 0
    assert (
        a["study_date_days"] == (biobank.a.study.study_date - patient.diagnosis_on).days
    )
    drawn_on = biobank.a.sample.drawn_on
    assert math.floor(a["drawn_at_days"]) == (drawn_on - patient.diagnosis_on).days
    assert pd.isna(a["birth_year"])
    assert "study_date" not in frame.columns and "drawn_at" not in frame.columns


def test_relative_day_0_is_the_first_record_without_a_diagnosis(curator_api, biobank):
    patient = biobank.b.patient
    Patient.objects.filter(pk=patient.pk).update(diagnosis_on=None)
    first = min(real_dates_of(patient))

    frame = parquet(curator_api, f"{MATRIX}&dates=relative")
    b = frame[frame["patient_pseudonym"] == patient.pseudonym].iloc[0]

    assert b["date_reference"] == "first-record"
    assert pd.isna(b["diagnosis_on_days"])
    assert b["study_date_days"] == (biobank.b.study.study_date - first).days
    assert b["study_date_days"] >= 0


def real_dates_of(patient: Patient) -> list[dt.date]:
    return [
        *patient.imaging_studies.values_list("study_date", flat=True),
        *patient.blood_samples.values_list("drawn_on", flat=True),
        *patient.treatments.values_list("started_on", flat=True),
        *patient.events.values_list("occurred_on", flat=True),
    ]


def test_the_offset_differs_between_patients_and_is_stable(api, biobank):
    first = parquet(api, MATRIX)
    again = parquet(api, MATRIX)

    pd.testing.assert_frame_equal(first, again)
    offsets = {shift_days(("demo", f"PT-{serial}")) for serial in range(200)}
    assert len(offsets) > 150
    assert 0 not in offsets
    assert shift_days(("demo", "PT-1")) == shift_days(("demo", "PT-1"))


@pytest.mark.parametrize("mode", ["shifted", "relative"])
def test_empty_and_full_exports_have_the_same_dtypes_in_each_mode(
    mode, curator_api, biobank
):
    full = parquet(curator_api, f"{MATRIX}&dates={mode}")
    empty = parquet(curator_api, f"{MATRIX}&dates={mode}&window_days=1")

    assert len(full) == 2 and empty.empty
    assert full.dtypes.to_dict() == empty.dtypes.to_dict()


VIEWER_URLS = [
    f"{MATRIX}&format=csv",
    f"{MATRIX}&format=json",
    "/api/cohort-pairs/?gene=EGFR",
    "/cohorts/query.json?window_days=30",
    "/cohorts/?format=csv",
]


@pytest.mark.parametrize("mode", ["", "&dates=shifted", "&dates=relative"])
@pytest.mark.parametrize("url", VIEWER_URLS)
def test_no_calendar_date_in_a_viewer_export(url, mode, client, analyst, biobank):
    client.force_login(analyst)
    joiner = "&" if "?" in url else "?"

    content = body(client.get(f"{url}{joiner}{mode.lstrip('&')}" if mode else url))

    assert content.strip()
    assert not iso_dates(content) & real_dates()
    if "relative" in mode:
        assert not ISO_DATE.search(content)


@pytest.mark.parametrize("mode", ["", "&dates=shifted", "&dates=relative"])
def test_no_calendar_date_in_a_viewer_parquet(mode, api, biobank):
    frame = parquet(api, f"{MATRIX}{mode}")

    text = frame.to_csv(index=False).encode()
    assert not iso_dates(text) & real_dates()
    assert frame["birth_year"].isna().all()


def saved_version(api) -> str:
    created = api.post(
        "/api/saved-cohorts/",
        {"name": "dated", "query": {"window_days": 30}},
        format="json",
    )
    assert created.status_code == 201, created.content[:500]
    return f"/api/saved-cohorts/{created.json()['id']}/versions/1"


@pytest.mark.parametrize(
    "path", ["matrix/?format=csv", "matrix/?format=parquet", "members/?page=1"]
)
def test_no_calendar_date_in_a_viewers_saved_cohort(
    path, curator_api, analyst, project, biobank
):
    version = saved_version(curator_api)
    grant(analyst, project, "viewer")

    response = curator_api.get(f"{version}/{path}")
    content = body(response)
    if path.startswith("matrix/?format=parquet"):
        content = pd.read_parquet(io.BytesIO(content)).to_csv(index=False).encode()

    assert not iso_dates(content) & real_dates()
    refused = curator_api.get(f"{version}/{path}&dates=calendar")
    assert refused.status_code == 403 and "dates" in refused.json()


@pytest.mark.parametrize(
    "url",
    [f"{MATRIX}&dates=calendar", "/api/cohort-pairs/?dates=calendar"],
)
def test_a_viewer_is_refused_calendar_dates_naming_the_parameter(url, api, biobank):
    response = api.get(url)

    assert response.status_code == 403
    assert "every project of the export" in response.json()["dates"][0]


@pytest.mark.parametrize(
    "url", ["/cohorts/query.json?dates=calendar", "/cohorts/?format=csv&dates=calendar"]
)
def test_a_viewer_is_refused_calendar_pairs_on_the_pages(url, client, analyst, biobank):
    client.force_login(analyst)

    response = client.get(url)

    assert response.status_code == 403
    assert "dates" in json.loads(response.content)["errors"]


def test_an_unknown_date_mode_is_a_400_naming_it(curator_api, biobank):
    response = curator_api.get(f"{MATRIX}&dates=fuzzy")

    assert response.status_code == 400
    assert "dates" in response.json()


def test_curators_get_calendar_dates_by_default(curator_api, biobank):
    frame = parquet(curator_api, MATRIX)

    assert set(frame["study_date"]) == {
        biobank.a.study.study_date,
        biobank.b.study.study_date,
    }


def test_the_strictest_role_among_the_rows_projects_decides(
    curator_api, analyst, biobank
):
    other = Project.objects.create(code="other", name="Other collection")
    Patient.objects.filter(pk=biobank.b.patient.pk).update(project=other)
    grant(analyst, other, "viewer")

    both = curator_api.get(f"{MATRIX}&dates=calendar")
    own = curator_api.get(f"{MATRIX}&dates=calendar&project=demo")
    default = parquet(curator_api, MATRIX)

    assert both.status_code == 403
    assert own.status_code == 200
    assert biobank.a.study.study_date not in set(default["study_date"])
    assert DateMode.SHIFTED == "shifted"


def test_no_calendar_date_in_a_viewers_diff_of_versions(
    curator_api, analyst, project, biobank
):
    version = saved_version(curator_api)
    cohort = version.split("/")[3]
    add_side(project, "PT-C", biobank.mean, biobank.signature, **A_VALUES)
    Patient.objects.filter(pk=biobank.a.patient.pk).update(
        diagnosis_on=dt.date(2020, 1, 11)
    )
    grant(analyst, project, "viewer")

    rerun = curator_api.post(f"/api/saved-cohorts/{cohort}/rerun/")
    diff = body(curator_api.get(f"/api/saved-cohorts/{cohort}/diff/"))

    assert rerun.status_code == 201
    assert json.loads(diff)["pairs_added"]
    assert b"diagnosis_on" in diff
    assert not iso_dates(diff) & real_dates()
    assert not iso_dates(rerun.content) & real_dates()


@pytest.mark.parametrize("mode", ["", "?dates=relative"])
def test_no_calendar_date_in_a_viewers_timeline(mode, api, biobank):
    patient = biobank.b.patient  # withdrew consent in 2021 (renewed_consent)

    content = body(api.get(f"/api/patients/{patient.pk}/timeline/{mode}"))

    assert b"Consent withdrawn on" in content
    assert not iso_dates(content) & real_dates()


def test_relative_records_name_their_reference(api, biobank):
    [a, b] = json.loads(body(api.get("/api/patients/?dates=relative")))["results"]
    [study, _] = json.loads(body(api.get("/api/imaging-studies/?dates=relative")))[
        "results"
    ]

    assert a["date_reference"] == b["date_reference"] == "diagnosis"
    assert a["diagnosis_on_days"] == 0 and a["birth_year"] is None
    assert (
        study["study_date_days"]
        == (biobank.a.study.study_date - biobank.a.patient.diagnosis_on).days
    )


def test_no_calendar_date_in_a_viewers_record_lists(api, biobank):
    for url in (
        "/api/patients/",
        "/api/imaging-studies/",
        "/api/blood-samples/",
        "/api/treatments/",
        "/api/clinical-events/",
        "/api/consents/",
    ):
        content = body(api.get(url))
        assert not iso_dates(content) & real_dates(), url


def jsonl(api, url: str) -> list[dict]:
    return [json.loads(line) for line in body(api.get(url)).splitlines() if line]


@pytest.mark.parametrize("mode", ["shifted", "relative"])
def test_a_viewers_diff_gives_the_values_of_the_patient_and_the_frozen_matrix(
    mode, curator_api, client, analyst, project, biobank
):
    # The trial's case: a birth year and a diagnosis set between two versions, and
    # evidence (the first treatment) that changed too.
    patient = biobank.a.patient
    Patient.objects.filter(pk=patient.pk).update(birth_year=None, diagnosis_on=None)
    created = curator_api.post(
        "/api/saved-cohorts/",
        {"name": "dated", "query": {"window_days": 30, "before_treatment": True}},
        format="json",
    )
    cohort = f"/api/saved-cohorts/{created.json()['id']}"
    Patient.objects.filter(pk=patient.pk).update(
        birth_year=1960, diagnosis_on=dt.date(2000, 8, 15)
    )
    Treatment.objects.filter(pk=biobank.a.treatment.pk).update(
        started_on=dt.date(2020, 2, 3)
    )
    assert curator_api.post(f"{cohort}/rerun/").status_code == 201
    grant(analyst, project, "viewer")

    diff = json.loads(body(curator_api.get(f"{cohort}/diff/?dates={mode}")))
    record = json.loads(
        body(curator_api.get(f"/api/patients/{patient.pk}/?dates={mode}"))
    )
    [row] = [
        row
        for row in jsonl(
            curator_api, f"{cohort}/versions/2/matrix/?format=json&dates={mode}"
        )
        if row["patient_pseudonym"] == "PT-A"
    ]
    [member] = [
        member
        for member in json.loads(
            body(curator_api.get(f"{cohort}/versions/2/members/?dates={mode}"))
        )["results"]
        if member["patient_pseudonym"] == "PT-A"
    ]

    changed = {
        entry["column"]: entry
        for entry in diff["values_changed"]
        if entry["patient_pseudonym"] == "PT-A"
    }
    diagnosis = "diagnosis_on" if mode == "shifted" else "diagnosis_on_days"
    study_date = "study_date" if mode == "shifted" else "study_date_days"
    assert "birth_year" not in changed and "1960" not in json.dumps(diff)
    assert changed[diagnosis]["old"] is None
    assert changed[diagnosis]["new"] == record[diagnosis] == row[diagnosis]
    assert changed[diagnosis][study_date] == member[study_date] == row[study_date]
    assert changed["evidence"]["new"] == member["evidence"]
    assert diff["counts"]["values_changed"] == len(diff["values_changed"])
    # The version's page shows the pair's study day as its members give it:
    client.force_login(analyst)
    page = client.get(f"/cohorts/saved/{created.json()['id']}/versions/2/?dates={mode}")
    shown = member[study_date]
    assert (shown if mode == "shifted" else f"day {shown}") in page.content.decode()
    if mode == "shifted":
        # Moved once: the real day plus the patient's one offset.
        days = shift_days((project.code, "PT-A"))
        assert record[diagnosis] == str(dt.date(2000, 8, 15) + dt.timedelta(days))
        assert member["evidence"]["first_treatment_on"] == str(
            dt.date(2020, 2, 3) + dt.timedelta(days)
        )
        assert shown == str(biobank.a.study.study_date + dt.timedelta(days))


def test_a_rerun_adding_pairs_of_a_viewed_project_answers_without_calendar_dates(
    curator_api, analyst, biobank
):
    """Version 1 held pairs of a project the author curates only; the re-run adds
    pairs of one they view, so its diff answers in a viewer's dates."""
    version = saved_version(curator_api)
    cohort = version.split("/")[3]
    other = Project.objects.create(code="other", name="Other collection")
    add_side(other, "PT-C", biobank.mean, biobank.signature, **A_VALUES)
    grant(analyst, other, "viewer")

    rerun = curator_api.post(f"/api/saved-cohorts/{cohort}/rerun/")

    assert rerun.status_code == 201
    added = rerun.json()["diff"]["pairs_added"]
    assert [pair["patient_pseudonym"] for pair in added] == ["PT-C"]
    assert not iso_dates(rerun.content) & real_dates()


@pytest.mark.parametrize(
    "projects", [set(), {None}], ids=["no project", "an unknown project"]
)
def test_rows_of_no_known_project_allow_calendar_dates_to_site_administrators_only(
    projects, analyst, project
):
    grant(analyst, project, "curator")

    as_curator = may_see_calendar(analyst, projects | {project.pk})
    alone = may_see_calendar(analyst, projects)
    analyst.is_superuser = True

    assert alone is False
    assert as_curator is (None not in projects)
    assert may_see_calendar(analyst, projects) is True


def test_a_code_the_reader_does_not_read_counts_as_its_project_or_as_unknown(
    analyst, project
):
    other = Project.objects.create(code="other", name="Other collection")

    found = projects_named(analyst, {"demo", "other", "gone"})

    assert found == {project.pk, other.pk, None}


def test_a_user_without_a_role_is_refused_calendar_dates(django_user_model, biobank):
    outsider = APIClient()
    outsider.force_authenticate(django_user_model.objects.create_user("outsider"))

    listed = outsider.get("/api/patients/")
    refused = outsider.get("/api/patients/?dates=calendar")

    assert listed.status_code == 200 and listed.json()["results"] == []
    assert refused.status_code == 403 and "dates" in refused.json()
