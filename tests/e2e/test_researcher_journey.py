"""A researcher signs in, reads the dashboard, finds patients and builds a cohort."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from patients.models import CancerType, Project
from tests.biobank.conftest import Records
from tests.conftest import grant
from tests.e2e.conftest import expect, screenshot, sign_in

DAY = dt.date(2024, 5, 6)


@pytest.fixture
def biobank(transactional_db, researcher) -> Records:
    records = Records(Project.objects.create(code="lung", name="Lung collection"))
    grant(researcher, records.project)  # a viewer of the lung collection
    for number in range(3):
        patient = records.patient(f"LUNG-{number:03}", CancerType.LUAD)
        study = records.study(patient, DAY)
        records.feature(
            study, "original_firstorder_Mean", 10.0 + number, ibsi_code="Q4LE"
        )
        draw = records.draw(patient, DAY + dt.timedelta(days=number * 10))
        records.ctc(draw, 2 + number * 3)
        records.variant(draw, "EGFR", "p.T790M")
    records.patient("LUNG-NODATA", CancerType.LUSC)
    return records


def test_sign_in_lands_on_the_dashboard_with_counts(page, researcher, biobank):
    sign_in(page)

    expect(page.get_by_role("heading", level=1)).to_have_text("All projects")
    patients = page.get_by_role("rowheader", name="Patients", exact=True)
    expect(page.locator("tr", has=patients).locator("td")).to_have_text("4")
    screenshot(page, "dashboard")


def test_a_wrong_password_keeps_the_researcher_out(page, researcher):
    sign_in(page, password="wrong-password")

    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")


def test_patient_browser_filters_and_sorts_with_the_keyboard(page, researcher, biobank):
    sign_in(page)
    page.get_by_role("link", name="Patients", exact=True).click()

    page.get_by_label("Cancer type").select_option("LUAD")
    page.get_by_label("Gene").fill("EGFR")
    page.get_by_label("Gene").press("Enter")

    expect(page.get_by_role("heading", name="3 patients")).to_be_visible()
    page.get_by_role("link", name="Pseudonym").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**descending=on**")
    expect(page.locator("tbody tr td:first-child")).to_have_text(
        ["LUNG-002", "LUNG-001", "LUNG-000"]
    )
    screenshot(page, "patient-browser")


def test_cohort_builder_pairs_and_downloads_the_csv(page, researcher, biobank):
    sign_in(page)
    page.get_by_role("link", name="Cohorts").click()

    page.get_by_label("Window (days)").fill("7")
    page.get_by_label("Gene").fill("EGFR")
    page.get_by_role("button", name="Find pairs").click()
    expect(page.get_by_role("heading", name="1 pair")).to_be_visible()

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download all pairs as CSV").click()
    rows = list(csv.DictReader(io.StringIO(download_info.value.path().read_text())))
    assert [row["patient_pseudonym"] for row in rows] == ["LUNG-000"]
    screenshot(page, "cohort-builder")


def test_timeline_opens_from_the_browser_and_points_open_their_record(
    page, researcher, biobank
):
    sign_in(page)
    page.get_by_role("link", name="Patients", exact=True).click()
    page.get_by_role("link", name="LUNG-001").click()

    expect(page.get_by_role("heading", name="Patient LUNG-001")).to_be_visible()
    expect(page.locator("figure.chart svg")).to_be_visible()
    screenshot(page, "patient-timeline")

    ctc_point = page.locator("svg g[id^=rec-]", has_text="CTCs in 7.5 mL").locator("a")
    ctc_point.first.click()
    page.wait_for_url("**#sample-*")
    anchor = page.url.rsplit("#", 1)[1]
    expect(page.locator(f"tr#{anchor}")).to_contain_text("CTC: 5 in 7.5 mL")
    assert page.locator(f"tr#{anchor}").inner_text().count("CTC: 5 in 7.5 mL") == 1


def test_study_page_and_structured_report_open_from_the_timeline(
    page, researcher, biobank
):
    sign_in(page)
    patient = biobank.project.patients.get(pseudonym="LUNG-000")
    page.goto(f"/patients/{patient.pk}/")

    page.get_by_role("link", name="CT").first.click()
    expect(
        page.get_by_role("heading", name="Texture report: GTV-1 (pyradiomics)")
    ).to_be_visible()
    mean = page.get_by_role("rowheader", name="Mean", exact=True)
    expect(page.locator("tr", has=mean).locator("td").last).to_have_text(
        re.compile(r"^10")
    )
    screenshot(page, "study-page")

    page.go_back()
    page.get_by_role("link", name="structured report").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        re.compile(r"^Structured report: LUNG-000")
    )
    expect(page.get_by_text("CTC count", exact=False).first).to_be_visible()
    page.emulate_media(media="print")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    screenshot(page, "structured-report-print")
