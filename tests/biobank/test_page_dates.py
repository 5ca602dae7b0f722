"""The researcher pages show a patient's dates in the caller's date mode, as the API does.

Viewers get shifted dates by default and may ask for relative ones, never calendar
dates; curators get calendar dates by default. The checks mirror those of the exports
(tests/api/test_export_dates.py): no calendar date of a patient in a viewer's page.
"""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.exports.dates import shift_days
from patients.models import CancerType, ClinicalEvent, Patient, Treatment
from radiomics.models import FeatureExtraction, RadiomicSignature, SignatureScore
from tests.api.test_export_dates import ISO_DATE, iso_dates, real_dates
from tests.biobank.conftest import Records
from tests.conftest import grant

DAY = dt.date(2024, 3, 1)
BIRTH_YEAR = 1948
MODES = ["", "shifted", "relative"]


class Case:
    """Two metastatic breast cancer patients of project demo, each with a study and draws."""

    def __init__(self, records: Records) -> None:
        signature = RadiomicSignature.objects.create(name="Risk", cutoff=0.5)
        self.patient = self._patient(records, "PD-1", signature, DAY)
        self.study = self.patient.imaging_studies.get()
        Treatment.objects.create(
            patient=self.patient,
            kind=Treatment.Kind.HORMONAL,
            agent="fulvestrant",
            started_on=DAY + dt.timedelta(days=10),
            ended_on=DAY + dt.timedelta(days=50),
        )
        ClinicalEvent.objects.create(
            patient=self.patient,
            kind=ClinicalEvent.Kind.PROGRESSION,
            occurred_on=DAY + dt.timedelta(days=58),
        )
        self.other = self._patient(
            records, "PD-2", signature, DAY + dt.timedelta(days=100)
        )

    @staticmethod
    def _patient(records: Records, pseudonym: str, signature, on: dt.date) -> Patient:
        """A patient diagnosed 30 days before a scored study and drawn 3 days after it."""
        patient = records.patient(pseudonym, CancerType.BRCA)
        patient.stage = "IV"
        patient.diagnosis_on = on - dt.timedelta(days=30)
        patient.birth_year = BIRTH_YEAR
        patient.save()
        study = records.study(patient, on)
        value = records.feature(study, "original_firstorder_Mean", 1.0)
        SignatureScore.objects.create(
            signature=signature,
            extraction=FeatureExtraction.objects.get(pk=value.extraction_id),
            score=0.9,
        )
        draw = records.draw(patient, on + dt.timedelta(days=3))
        records.ctc(draw, 8)
        records.variant(draw, "ESR1", "p.D538G")
        return patient

    def urls(self) -> dict[str, str]:
        """Every page that shows a patient's dates, with a query string."""
        return {
            "timeline": f"/patients/{self.patient.pk}/?window_days=30",
            "study": f"/studies/{self.study.pk}/?extraction=",
            "report": f"/patients/{self.patient.pk}/report/{self.study.pk}/?window_days=30",
            "follow-up": "/follow-up/?window_days=30&ctc_brca=5&metastatic_only=on",
            "patients": "/patients/?q=PD",
            "cohort builder": "/cohorts/?window_days=30",
            "analysis": "/cohorts/analysis/?window_days=30"
            "&features=original_firstorder_Mean",
        }


PAGES = [
    "timeline",
    "study",
    "report",
    "follow-up",
    "patients",
    "cohort builder",
    "analysis",
]


@pytest.fixture
def case(records: Records) -> Case:
    return Case(records)


@pytest.fixture
def curator_in(logged_in, reader, project):
    """The researcher as a curator of the project."""
    grant(reader, project, "curator")
    return logged_in


def with_dates(url: str, mode: str) -> str:
    return f"{url}&dates={mode}" if mode else url


def page(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, (url, response.content[:800])
    return response.content.decode()


def text_of(content: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", content))


def note(content: str) -> str:
    match = re.search(
        r'<p class="note" role="note" id="dates-note">(.*?)</p>', content, re.S
    )
    assert match, "no date mode note on the page"
    return " ".join(text_of(match.group(1)).split())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", PAGES)
def test_no_calendar_date_in_a_viewers_page(name, mode, logged_in, case):
    content = page(logged_in, with_dates(case.urls()[name], mode))

    assert not iso_dates(content.encode()) & real_dates()
    assert str(BIRTH_YEAR) not in content
    assert case.patient.pseudonym in content
    if mode == "relative":
        # The chart's SVG names the day it was drawn (a moment of no patient):
        assert not ISO_DATE.search(
            re.sub(r"<svg.*?</svg>", "", content, flags=re.S).encode()
        )
        assert "day " in content


@pytest.mark.parametrize("name", PAGES)
def test_curators_see_calendar_dates_by_default(name, curator_in, case):
    content = page(curator_in, case.urls()[name])

    # The patient list shows diagnoses, every other page the study:
    shown = case.patient.diagnosis_on if name == "patients" else case.study.study_date
    assert shown.isoformat() in content
    assert note(content).startswith("Dates are calendar dates.")
    assert "Show dates as calendar · shifted · relative" in note(content)


@pytest.mark.parametrize("mode", ["shifted", "relative"])
@pytest.mark.parametrize("name", PAGES)
def test_curators_may_choose_another_mode(name, mode, curator_in, case):
    content = page(curator_in, with_dates(case.urls()[name], mode))

    assert not iso_dates(content.encode()) & real_dates()
    assert f'aria-current="true">{mode}</strong>' in content


@pytest.mark.parametrize("name", PAGES)
def test_a_viewer_asking_for_calendar_dates_is_refused_naming_dates(
    name, logged_in, case
):
    response = logged_in.get(with_dates(case.urls()[name], "calendar"))

    assert response.status_code == 403
    content = response.content.decode()
    assert "dates: Viewers get shifted or relative dates" in text_of(content)
    assert "in every project of the page." in text_of(content)
    assert "export" not in text_of(content)
    assert not iso_dates(response.content) & real_dates()


@pytest.mark.parametrize("name", PAGES)
def test_an_unknown_date_mode_is_a_400_naming_dates(name, curator_in, case):
    response = curator_in.get(with_dates(case.urls()[name], "fuzzy"))

    assert response.status_code == 400
    assert "dates: Dates must be one of calendar, relative, shifted." in text_of(
        response.content.decode()
    )


def test_a_viewer_is_offered_shifted_and_relative_dates_only(logged_in, case):
    content = page(logged_in, case.urls()["timeline"])

    assert note(content).startswith("Dates are shifted")
    assert "Show dates as shifted · relative (calendar dates need a curator" in note(
        content
    )
    assert "dates=calendar" not in content


def test_the_forms_keep_the_mode_asked_for(logged_in, case):
    for name in PAGES:
        if name == "study":
            continue  # the study page has no form
        content = page(logged_in, with_dates(case.urls()[name], "relative"))

        assert '<input type="hidden" name="dates" value="relative">' in content, name


def pairs_of(content: str) -> list[tuple[str, str, int]]:
    """The study date, draw date and days apart of each row of the timeline's pairs."""
    rows = re.findall(
        r'<a href="#study-\d+">([^<]+)</a></td>\s*'
        r'<td><a href="/studies/[^"]*">[^<]*</a>[^<]*</td>\s*<td>[^<]*</td>\s*'
        r'<td><a href="#sample-\d+">([^<]+)</a></td><td class="number">(-?\d+)</td>',
        content,
    )
    return [(study, drawn, int(days)) for study, drawn, days in rows]


def test_shifting_keeps_the_study_to_draw_days_of_the_timeline(
    client, logged_in, reader, django_user_model, project, case
):
    shifted = pairs_of(page(logged_in, case.urls()["timeline"]))
    grant(reader, project, "curator")
    calendar = pairs_of(page(logged_in, case.urls()["timeline"]))

    [(study, drawn, days)] = shifted
    [(real_study, real_drawn, real_days)] = calendar
    offset = shift_days(("demo", case.patient.pseudonym))
    assert days == real_days == 3
    assert (dt.date.fromisoformat(drawn) - dt.date.fromisoformat(study)).days == days
    assert dt.date.fromisoformat(study) == case.study.study_date + dt.timedelta(offset)
    assert real_study == case.study.study_date.isoformat() != study


def test_shifting_keeps_the_study_to_draw_days_of_the_cohort_page(logged_in, case):
    content = page(logged_in, case.urls()["cohort builder"])

    rows = re.findall(
        r"<td>(PD-\d)</td>\s*<td><a [^>]+>([\d-]+)</a></td>.*?"
        r"<td>([\d-]+) \d\d:\d\d</td>\s*"
        r'<td class="number">(-?\d+)</td>',
        content,
        re.S,
    )
    assert len(rows) == 2
    shifts = set()
    for pseudonym, study, drawn, days in rows:
        study_on, drawn_on = dt.date.fromisoformat(study), dt.date.fromisoformat(drawn)
        assert (drawn_on - study_on).days == int(days) == 3
        real = Patient.objects.get(pseudonym=pseudonym).imaging_studies.get()
        shifts.add((study_on - real.study_date).days)
    # Each patient moves by an offset of its own:
    assert len(shifts) == 2 and 0 not in shifts


def test_relative_days_count_from_the_diagnosis_on_the_report(logged_in, case):
    content = text_of(page(logged_in, with_dates(case.urls()["report"], "relative")))

    assert "imaging of day 30" in content
    assert "Diagnosed day 0" in " ".join(content.split())
    assert "fulvestrant, day 40 to day 80" in content
    assert "day 33 09:00" in content


def test_the_chart_uses_the_dates_of_the_tables(logged_in, case):
    shifted = page(logged_in, case.urls()["timeline"])
    relative = page(logged_in, with_dates(case.urls()["timeline"], "relative"))

    [(study, _, _)] = pairs_of(shifted)
    titles = re.findall(r"<title>([^<]*)</title>", shifted)
    assert any(title.startswith(f"CT study on {study}:") for title in titles)
    assert "Shifted date" in shifted
    relative_titles = re.findall(r"<title>([^<]*)</title>", relative)
    assert any(title.startswith("CT study on day 30:") for title in relative_titles)
    assert "Days from day 0 (date of diagnosis)" in relative


def test_a_viewer_may_not_sort_by_diagnosis_date(logged_in, case):
    response = logged_in.get("/patients/?sort=diagnosis_on")

    assert response.status_code == 400
    assert "Sorting by diagnosis date needs calendar dates" in response.content.decode()
    listed = page(logged_in, "/patients/")
    assert "sort=diagnosis_on" not in listed


def test_the_date_mode_links_leave_out_a_sort_by_diagnosis_date(curator_in, case):
    content = page(curator_in, "/patients/?q=PD&sort=diagnosis_on&descending=on")
    links = dict(re.findall(r'<a href="([^"]*)" title="[^"]*">(\w+)</a>', content))
    links = {mode: html.unescape(url) for url, mode in links.items()}

    assert set(links) == {"shifted", "relative"}
    for mode, url in links.items():
        assert url == f"?q=PD&dates={mode}"
        assert curator_in.get(f"/patients/{url}").status_code == 200


@pytest.mark.parametrize(
    "url", ["/patients/?dates=relative", "/follow-up/?dates=relative",
            "/cohorts/?window_days=30&dates=relative"]
)  # fmt: skip
def test_relative_list_pages_read_every_reference_at_once(
    url, logged_in, records, case
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            page(logged_in, url)
        return len(captured)

    few = queries()
    signature = RadiomicSignature.objects.get()
    for n in range(3, 8):
        Case._patient(records, f"PD-{n}", signature, DAY + dt.timedelta(days=n))
    assert queries() == few


def test_links_to_the_other_pages_keep_the_mode_asked_for(logged_in, case):
    timeline = page(logged_in, with_dates(case.urls()["timeline"], "relative"))
    default = page(logged_in, case.urls()["timeline"])

    study_url = f"/studies/{case.study.pk}/?dates=relative"
    assert f'href="{study_url}"' in timeline
    assert f'href="/studies/{case.study.pk}/"' in default
    assert "CT study of day 30" in text_of(page(logged_in, study_url))


def nav_links(content: str) -> dict[str, str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', content, re.S).group(1)
    return {
        text: href for href, text in re.findall(r'<a href="([^"]*)">([^<]+)</a>', nav)
    }


@pytest.mark.parametrize("name", PAGES)
def test_the_navigation_bar_keeps_the_mode_asked_for(name, logged_in, case):
    relative = nav_links(page(logged_in, with_dates(case.urls()[name], "relative")))
    default = nav_links(page(logged_in, case.urls()[name]))

    assert relative == {
        # It shows no dates, and refuses dates as a parameter it does not read:
        "Dashboard": "/",
        "Patients": "/patients/?dates=relative",
        "Cohorts": "/cohorts/?dates=relative",
        "Analysis": "/cohorts/analysis/?dates=relative",
        "Follow-up": "/follow-up/?dates=relative",
    }
    assert "dates=" not in "".join(default.values())
    for url in relative.values():
        assert logged_in.get(url).status_code == 200, url
