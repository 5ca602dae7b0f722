"""A viewer finds no calendar date in a patient's free text, however it is written.

A lab's sample ID or timepoint, a study's description, an ROI's name or a note may
spell a day (CAIRO5_2020-01-22_T1, PL-20200122, C1D1 22.01.2020, 22 Jan 2020); shown
as stored next to the shifted day of the same record, the difference would be the
patient's offset. Every answer a viewer can open shows such a day in the mode, or
"[date]" when its day and month cannot be told apart (biobank.core.datetext).
"""

from __future__ import annotations

import pytest

from tests.api.test_record_keeping_moments import every_answer, viewer_client

pytestmark = pytest.mark.usefixtures("renewed_consent")
__all__ = ["viewer_client"]  # a fixture, used by name

# Days of patient A's records, as its free text spells them below:
WRITTEN = (
    "2020-01-22",
    "20200120",
    "2020_01_20",
    "22 Jan 2020",
    "22/01/20",
    "01.05.2020",
    "12/2019",
    "20.01.2020",
)


@pytest.fixture
def dated_texts(biobank):
    a = biobank.a
    a.sample.external_sample_id = "CAIRO5_2020-01-22_T1"
    a.sample.timepoint = "C1D1 22/01/20"
    a.sample.save()
    a.study.description = "CT thorax 20200120"
    a.study.save()
    a.segmentation.roi_name = "GTV 2020_01_20"
    a.segmentation.save()
    a.event.note = "Seen 22 Jan 2020, again 01.05.2020, first in 12/2019"
    a.event.save()
    # An extraction's error quotes its ROI's name as stored (radiomics.masks):
    a.extraction.error = "segmentation 5 (GTV_20.01.2020) is no DICOM object."
    a.extraction.save()
    # A fusion is named by its note on the pages (VariantResult.__str__):
    biobank.fusion.fusion_note = "RNA confirmed 2020-01-22"
    biobank.fusion.save()
    return a


@pytest.mark.parametrize("mode", ["", "shifted", "relative"])
def test_a_viewer_finds_no_calendar_date_in_any_free_text(
    mode, api, viewer_client, dated_texts
):
    answers = every_answer(api, viewer_client, mode)

    leaks = {
        (url, written)
        for url, body in answers.items()
        for written in WRITTEN
        if written in body
    }
    assert leaks == set()
    # The fields are there, their days rewritten:
    assert any("CAIRO5_" in body for body in answers.values())
    assert any("C1D1 [date]" in body for body in answers.values())


def test_the_api_blanks_every_date_of_a_sample_id_and_a_note(api, dated_texts):
    # Not shifted: a date in free text need not be the patient's own (a version, a
    # protocol's date), and shifted it would give the patient's offset away to
    # whoever knows its real day.
    shown = api.get(f"/api/blood-samples/{dated_texts.sample.pk}/").json()
    event = api.get(f"/api/clinical-events/{dated_texts.event.pk}/").json()

    assert shown["external_sample_id"] == "CAIRO5_[date]_T1"
    assert shown["timepoint"] == "C1D1 [date]"
    assert event["note"] == "Seen [date], again [date], first in [date]"


@pytest.mark.parametrize("mode", ["", "shifted", "relative"])
def test_the_cohort_pairs_blank_the_date_of_a_lab_sample_id(api, dated_texts, mode):
    asked = {"window_days": 60} | ({"dates": mode} if mode else {})

    rows = api.get("/api/cohort-pairs/", asked).json()["results"]

    shown = {row["sample_id"]: row["lab_sample_id"] for row in rows}
    assert shown[dated_texts.sample.pk] == "CAIRO5_[date]_T1"


@pytest.mark.parametrize(
    ("mode", "shown"),
    [("", "CAIRO5_2020-01-22_T1"), ("shifted", "CAIRO5_[date]_T1")],
)
def test_a_curator_reads_a_pair_s_lab_sample_id_as_written_in_calendar_dates(
    calendar_api, dated_texts, mode, shown
):
    asked = {"window_days": 60} | ({"dates": mode} if mode else {})

    rows = calendar_api.get("/api/cohort-pairs/", asked).json()["results"]

    [row] = [row for row in rows if row["sample_id"] == dated_texts.sample.pk]
    assert row["lab_sample_id"] == shown


def test_the_api_blanks_the_day_an_extraction_s_error_quotes(api, dated_texts):
    shown = api.get(f"/api/feature-extractions/{dated_texts.extraction.pk}/").json()

    assert shown["error"] == "segmentation 5 (GTV_[date]) is no DICOM object."


def test_a_curator_reads_the_free_text_as_written(calendar_api, dated_texts):
    shown = calendar_api.get(f"/api/blood-samples/{dated_texts.sample.pk}/").json()

    assert shown["external_sample_id"] == "CAIRO5_2020-01-22_T1"
    assert shown["timepoint"] == "C1D1 22/01/20"
    extraction = calendar_api.get(
        f"/api/feature-extractions/{dated_texts.extraction.pk}/"
    ).json()
    assert extraction["error"] == "segmentation 5 (GTV_20.01.2020) is no DICOM object."


@pytest.mark.parametrize(
    ("url", "parameter", "guess"),
    [
        ("/api/segmentations/", "roi_name", "GTV 2020_01_20"),
        ("/api/segmentations/", "roi_name", "gtv 2020_01_21"),
        ("/api/blood-samples/", "timepoint", "C1D1 22/01/20"),
        # A month's guess narrows the offset to a month:
        ("/api/segmentations/", "roi_name", "GTV Jan 2020"),
        ("/api/blood-samples/", "timepoint", "C1D1 01/2020"),
    ],
)
def test_a_viewer_cannot_test_a_guess_of_a_day_hidden_in_free_text(
    api, dated_texts, url, parameter, guess
):
    # A match of the stored text (GTV 2020_01_20, shown shifted) would tell the day:
    answer = api.get(url, {parameter: guess})

    assert answer.status_code == 400, answer.content[:300]
    assert "names a date" in answer.json()[parameter][0]


def test_a_viewer_still_filters_free_text_naming_no_date(api, dated_texts):
    dated_texts.segmentation.roi_name = "GTV_primary"
    dated_texts.segmentation.save()

    found = api.get("/api/segmentations/", {"roi_name": "gtv_PRIMARY"})

    assert found.status_code == 200, found.content[:300]
    assert [row["id"] for row in found.json()["results"]] == [
        dated_texts.segmentation.pk
    ]


def test_a_viewer_cannot_order_by_free_text(api, dated_texts):
    answer = api.get("/api/segmentations/", {"ordering": "-roi_name"})

    assert answer.status_code == 400
    assert "ordering by -roi_name" in answer.json()["ordering"][0]


def test_a_curator_filters_free_text_by_its_day(calendar_api, dated_texts):
    found = calendar_api.get("/api/segmentations/", {"roi_name": "GTV 2020_01_20"})
    missed = calendar_api.get("/api/segmentations/", {"roi_name": "GTV 2020_01_21"})

    assert [row["id"] for row in found.json()["results"]] == [
        dated_texts.segmentation.pk
    ]
    assert missed.json()["results"] == []
