"""A caller shown shifted or relative dates gets no moment of record keeping.

A fresh user's trial: as a viewer, each record's created_at (an extraction's
started_at and finished_at, a score's computed_at) came shifted by the patient's
offset, while /api/projects/ gave the project's created_at as stored, a moment away
from the import of its records. Shifted created_at minus the project's, rounded to
days, was the offset of every patient (the time of day, kept to the microsecond, made
it certain). These moments are now null beside shifted and relative dates, on every
path (biobank.exports.dates.is_record_keeping); curators keep them as stored.

The biobank of tests/api/conftest.py: patients PT-A and PT-B of project "demo", each
with a record of every kind, all stored a moment after the project.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import pandas as pd
import pytest
from django.utils import timezone

from biobank.api.serializers import WITHHELD_NOTE
from biobank.exports import dates
from biobank.exports.dates import DateMode, Dater, is_record_keeping, shift_days
from liquidbiopsy.models import BloodSample
from patients.models import Patient, Project
from radiomics.models import (
    FeatureExtraction,
    ImagingStudy,
    Segmentation,
    SignatureScore,
)
from tests.api.conftest import results
from tests.api.test_viewer_dates import patient_lists

pytestmark = pytest.mark.usefixtures("renewed_consent")

# Every moment as text: ISO 8601 (JSON, CSV) or as a page writes it (2020-01-22 09:00).
MOMENT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?"
)
RECORD_KEEPING = {
    Patient: ["created_at"],
    ImagingStudy: ["created_at"],
    Segmentation: ["created_at"],
    FeatureExtraction: ["created_at", "started_at", "finished_at"],
    SignatureScore: ["computed_at"],
    BloodSample: ["created_at"],
}
MATRIX_QUERY = "features=original_firstorder_Mean&genes=EGFR&window_days=60"


def body_of(response) -> str:
    assert response.status_code == 200, (response.request, response.content[:500])
    if getattr(response, "streaming", False):
        content = b"".join(response.streaming_content)
    else:
        content = response.content
    if content[:4] == b"PAR1":
        return pd.read_parquet(io.BytesIO(content)).to_csv(index=False)
    return content.decode()


def every_answer(api, client, mode: str = "") -> dict[str, str]:
    """Return the body, as text, of every API address and page a viewer can open."""
    suffix = f"dates={mode}" if mode else ""
    answers: dict[str, str] = {}

    def get(url: str, via=api, dated: bool = True) -> str:
        joined = url
        if suffix and dated:
            joined = f"{url}{'&' if '?' in url else '?'}{suffix}"
        answers[joined] = body_of(via.get(joined))
        return answers[joined]

    get("/api/projects/")
    for prefix, _ in patient_lists():
        rows = json.loads(get(f"/api/{prefix}/"))["results"]
        for row in rows:
            get(f"/api/{prefix}/{row['id']}/")
    for patient in Patient.objects.all():
        get(f"/api/patients/{patient.pk}/timeline/")
    get("/api/cohort-pairs/?window_days=60")
    for fmt in ("csv", "json", "parquet"):
        get(f"/api/cohort-matrix/?{MATRIX_QUERY}&format={fmt}")

    saved = api.post(
        "/api/saved-cohorts/",
        {"name": "leak", "query": {"window_days": 60}},
        format="json",
    )
    assert saved.status_code == 201, saved.content[:500]
    cohort = f"/api/saved-cohorts/{saved.json()['id']}/"
    for url in ("", "versions/", "versions/1/", "versions/1/members/"):
        get(f"{cohort}{url}")
    for fmt in ("csv", "json", "parquet"):
        get(f"{cohort}versions/1/matrix/?format={fmt}")

    # The dashboard shows counts only, and takes no dates:
    get("/", client, dated=False)
    for url in ("/patients/", "/follow-up/", "/cohorts/?window_days=60"):
        get(url, client)
    get("/cohorts/query.json?window_days=60", client)
    get("/cohorts/?window_days=60&format=csv", client)
    for study in ImagingStudy.objects.all():
        get(f"/patients/{study.patient_id}/", client)
        get(f"/patients/{study.patient_id}/report/{study.pk}/", client)
        get(f"/studies/{study.pk}/", client)
    return answers


def offsets() -> dict[int, str]:
    """The secret offset of each patient, from the database: offset -> pseudonym."""
    return {
        shift_days((patient.project.code, patient.pseudonym)): patient.pseudonym
        for patient in Patient.objects.select_related("project")
    }


def recover_offsets(answers: dict[str, str], project: Project) -> set[int]:
    """The trial's attack: a moment a whole number of days (to the second) from the
    project's created_at tells that number, the offset of the moment's patient."""
    found = set()
    for text in answers.values():
        for match in MOMENT.finditer(text):
            moment = dt.datetime.fromisoformat(match.group().replace(" ", "T"))
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            gap = moment - project.created_at
            days = round(gap / dt.timedelta(days=1))
            if days and abs(gap - dt.timedelta(days=days)) < dt.timedelta(seconds=1):
                found.add(days)
    return found


def stored_moments() -> list[dt.datetime]:
    return [
        moment
        for model, names in RECORD_KEEPING.items()
        for row in model.objects.values_list(*names)
        for moment in row
        if moment is not None
    ]


def times_of_day(moment: dt.datetime, shift: int) -> set[str]:
    """The time of day of a moment, stored or shifted, to the microsecond, in UTC and
    in the project time zone: kept by a shift, it names the moment."""
    moved = moment + dt.timedelta(days=shift)
    return {
        f"{zoned:%H:%M:%S.%f}"
        for zoned in (moment, moved, timezone.localtime(moment))
        if zoned.microsecond
    }


@pytest.fixture
def viewer_client(client, analyst):
    client.force_login(analyst)
    return client


@pytest.mark.parametrize("mode", ["", "shifted", "relative"])
def test_a_viewer_cannot_recover_any_offset_from_any_answer(
    mode, api, viewer_client, biobank, project
):
    answers = every_answer(api, viewer_client, mode)
    secret = offsets()

    assert len(secret) == 2
    assert recover_offsets(answers, project) & set(secret) == set()
    fragments = {
        text
        for moment in stored_moments()
        for shift in secret
        for text in times_of_day(moment, shift)
    }
    assert fragments
    leaked = {
        (url, fragment)
        for url, text in answers.items()
        for fragment in fragments
        if fragment in text
    }
    assert leaked == set()
    # Nor as relative days (from the real diagnosis, against the project's moment):
    renamed = {
        name
        for text in answers.values()
        for name in re.findall(r"(\w+)_days\b", text)
        if is_record_keeping(name)
    }
    assert renamed == set()


def test_the_attack_finds_the_offsets_when_record_keeping_is_shifted(
    api, viewer_client, biobank, project, monkeypatch
):
    # As before the fix: record-keeping moments moved with the clinical dates.
    monkeypatch.setattr(dates, "is_record_keeping", lambda name: False)

    answers = {
        url: body_of(api.get(url))
        for url in ("/api/projects/", "/api/patients/", "/api/blood-samples/")
    }

    assert recover_offsets(answers, project) == set(offsets())


def withheld(data: object) -> list[tuple[str, object]]:
    """Return (name, value) of every record-keeping field in `data`, at any depth."""
    found = []
    if isinstance(data, dict):
        for name, value in data.items():
            base = name.removesuffix(dates.RELATIVE_SUFFIX)
            if is_record_keeping(base):
                found.append((name, value))
            else:
                found.extend(withheld(value))
    elif isinstance(data, list):
        for item in data:
            found.extend(withheld(item))
    return found


def first_row(data: dict) -> dict:
    return data["results"][0] if "results" in data else data


# Per address, the record-keeping fields a row of it holds (its nested records too):
ENDPOINTS = [
    ("/api/patients/", {"created_at"}),
    ("/api/patients/{a.patient.pk}/", {"created_at"}),
    ("/api/patients/{a.patient.pk}/timeline/", {"created_at"}),
    ("/api/imaging-studies/", {"created_at"}),
    (
        "/api/imaging-studies/{a.study.pk}/",
        {"created_at", "started_at", "finished_at"},
    ),
    ("/api/segmentations/", {"created_at"}),
    ("/api/feature-extractions/", {"created_at", "started_at", "finished_at"}),
    ("/api/feature-extractions/{a.extraction.pk}/", {"created_at", "finished_at"}),
    ("/api/signature-scores/", {"computed_at"}),
    ("/api/blood-samples/", {"created_at"}),
    ("/api/blood-samples/{a.sample.pk}/", {"created_at"}),
]


@pytest.mark.parametrize("mode", ["", "shifted", "relative"])
@pytest.mark.parametrize(("url", "names"), ENDPOINTS)
def test_each_record_keeping_moment_is_null_for_a_viewer(
    url, names, mode, api, biobank
):
    response = api.get(url.format(a=biobank.a), {"dates": mode} if mode else {})
    found = withheld(first_row(response.json()))

    assert response.status_code == 200
    # Under its own name (not created_at_days), null:
    assert names <= {name for name, _ in found}
    assert {value for _, value in found} == {None}


@pytest.mark.parametrize(("url", "names"), ENDPOINTS)
def test_a_curator_keeps_each_record_keeping_moment_as_stored(
    url, names, calendar_api, biobank
):
    response = calendar_api.get(url.format(a=biobank.a))
    found = dict(withheld(first_row(response.json())))
    stored = {moment.isoformat() for moment in stored_moments()}

    assert response.status_code == 200
    assert names <= set(found)
    assert {
        dt.datetime.fromisoformat(found[name].replace("Z", "+00:00")).isoformat()
        for name in names
        if found[name] is not None
    } <= stored
    assert found["created_at" if "created_at" in names else "computed_at"]


@pytest.mark.parametrize(("prefix", "viewset"), patient_lists())
def test_no_list_of_a_patients_records_gives_a_viewer_a_record_keeping_moment(
    prefix, viewset, api, biobank
):
    rows = results(api.get(f"/api/{prefix}/"))

    assert rows
    assert {value for _, value in withheld(rows)} <= {None}


def test_the_shared_records_and_projects_keep_their_moments(api, biobank, project):
    projects = results(api.get("/api/projects/"))
    robustness = results(api.get("/api/feature-robustness/"))

    # Not a patient's: nothing per patient is near them any more.
    assert projects[0]["created_at"] is not None
    assert {row["computed_at"] is not None for row in robustness} == {True}


def test_the_schema_says_a_viewer_gets_null(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    components = schema["components"]["schemas"]

    for component, name in [
        ("Patient", "created_at"),
        ("ImagingStudy", "created_at"),
        ("Segmentation", "created_at"),
        ("FeatureExtraction", "started_at"),
        ("SignatureScore", "computed_at"),
        ("BloodSample", "created_at"),
    ]:
        field = components[component]["properties"][name]
        assert field["nullable"] is True, (component, name)
        assert WITHHELD_NOTE in field["description"], (component, name)
    assert WITHHELD_NOTE not in json.dumps(components["Project"])


# The rule itself (biobank/exports/dates.py):

KEY = ("demo", "PT-1")
STORED = dt.datetime(2026, 12, 5, 16, 30, 1, 456789, tzinfo=dt.UTC)


@pytest.mark.parametrize("mode", [DateMode.SHIFTED, DateMode.RELATIVE])
def test_the_dater_withholds_record_keeping_at_any_depth(mode, db):
    row = {
        "patient_pseudonym": "PT-1",
        "study_date": dt.date(2020, 1, 20),
        "created_at": STORED,
        "series": [{"segmentations": [{"extractions": [{"finished_at": STORED}]}]}],
    }

    rewritten = Dater(mode).row(KEY, row)

    assert rewritten["created_at"] is None
    assert "created_at_days" not in rewritten
    extraction = rewritten["series"][0]["segmentations"][0]["extractions"][0]
    assert extraction == {"finished_at": None}
    # A clinical date is still there, moved or in days (none: no such patient stored):
    assert Dater(mode).name("study_date") in rewritten


def test_calendar_dates_keep_record_keeping():
    row = {"created_at": STORED}

    assert Dater(DateMode.CALENDAR).row(KEY, row) == row


@pytest.mark.parametrize("mode", [DateMode.SHIFTED, DateMode.RELATIVE])
def test_a_frame_keeps_the_column_of_a_record_keeping_moment_null(mode, db):
    frame = pd.DataFrame(
        {
            "project_code": pd.array(["demo"], dtype="string"),
            "patient_pseudonym": pd.array(["PT-1"], dtype="string"),
            "computed_at": pd.array([STORED], dtype="datetime64[us, UTC]"),
            # Not a moment, whatever its name:
            "signature.risk_on": pd.array([0.5], dtype="Float64"),
        }
    )

    dated = Dater(mode).frame(frame)

    assert str(dated["computed_at"].dtype) == "datetime64[us, UTC]"
    assert dated["computed_at"].isna().all()
    assert list(dated["signature.risk_on"]) == [0.5]


@pytest.mark.parametrize("mode", [DateMode.SHIFTED, DateMode.RELATIVE])
def test_an_iso_day_in_a_clinical_note_reads_date_in_other_modes(mode):
    row = {"note": "Progression on CT of 2021-03-04."}

    rewritten = Dater(mode).row(KEY, row)

    assert rewritten["note"] == "Progression on CT of [date]."


def test_an_iso_day_in_a_note_is_blanked_for_a_viewer_in_the_api_and_the_page(
    api, viewer_client, biobank
):
    event = biobank.a.event
    event.note = "Seen on CT of 2020-04-28."
    event.save()
    shift = shift_days(("demo", event.patient.pseudonym))
    moved = (dt.date(2020, 4, 28) + dt.timedelta(days=shift)).isoformat()

    shown = api.get(f"/api/clinical-events/{event.pk}/").json()["note"]
    page = body_of(viewer_client.get(f"/patients/{event.patient_id}/"))

    assert shown == "Seen on CT of [date]."
    assert "Seen on CT of [date]." in page
    # Neither the real day nor the day moved by the patient's shift:
    assert "2020-04-28" not in page
    assert f"Seen on CT of {moved}" not in page


def test_a_curator_reads_the_note_as_written(calendar_api, biobank):
    event = biobank.a.event
    event.note = "Seen on CT of 2020-04-28."
    event.save()

    shown = calendar_api.get(f"/api/clinical-events/{event.pk}/").json()["note"]

    assert shown == "Seen on CT of 2020-04-28."
