"""A researcher builds a cohort with a live count, downloads its matrix, saves it and analyses it."""

from __future__ import annotations

import pandas as pd
import pytest

from patients.models import Project
from radiomics.models import FeatureValue
from tests.biobank.conftest import Records
from tests.biobank.test_cohort_builder import MEAN, PATIENTS, add_patient
from tests.conftest import grant
from tests.e2e.conftest import expect, screenshot, sign_in


@pytest.fixture
def biobank(transactional_db, researcher) -> Records:
    records = Records(Project.objects.create(code="lung", name="Lung collection"))
    grant(researcher, records.project)  # a viewer of the lung collection
    for number, row in enumerate(PATIENTS):
        add_patient(records, number, *row)
    return records


def test_cohort_builder_counts_downloads_saves_and_analyses(page, researcher, biobank):
    sign_in(page)
    page.get_by_role("link", name="Cohorts").click()
    live_count = page.get_by_role("status").filter(has_text="match these filters")

    page.get_by_label("Window (days)").fill("7")
    page.wait_for_function(
        "document.getElementById('live-count').textContent.startsWith('5 pairs')"
    )
    page.get_by_label("Gene").fill("EGFR")
    page.wait_for_function(
        "document.getElementById('live-count').textContent.startsWith('3 pairs')"
    )
    expect(live_count).to_have_text("3 pairs of 3 patients match these filters.")

    page.get_by_label("Matrix features").fill(MEAN)
    page.get_by_role("button", name="Find pairs").click()
    expect(page.get_by_role("heading", name="3 pairs")).to_be_visible()

    with page.expect_download() as parquet_info:
        page.get_by_role("link", name="Download the matrix as Parquet").click()
    matrix = pd.read_parquet(parquet_info.value.path())
    with page.expect_download() as csv_info:
        page.get_by_role("link", name="Download the matrix as CSV").click()
    matrix_csv = pd.read_csv(csv_info.value.path(), dtype_backend="numpy_nullable")

    stored = FeatureValue.objects.get(
        feature__name=MEAN, extraction__patient__pseudonym="PT-003"
    )
    for frame in (matrix, matrix_csv):
        row = frame.set_index("patient_pseudonym").loc["PT-003"]
        assert row[f"feature.{MEAN}"] == stored.value
        assert row["call.EGFR"] == "detected"
    assert list(matrix["patient_pseudonym"]) == ["PT-000", "PT-001", "PT-003"]

    page.get_by_label("Name of the saved cohort").fill("EGFR carriers")
    page.get_by_role("button", name="Save cohort").click()
    expect(
        page.get_by_role("status").filter(
            has_text="Saved EGFR carriers: version 1 holds 3 pairs."
        )
    ).to_be_visible()
    expect(page.get_by_role("rowheader", name="EGFR carriers")).to_be_visible()
    screenshot(page, "cohort-builder-saved")

    page.get_by_role("link", name="Analyse EGFR carriers").click()
    expect(
        page.get_by_role("heading", name="Correlations over 3 pairs")
    ).to_be_visible()
    heatmap = page.locator("figure.chart svg").first
    expect(heatmap).to_be_visible()
    assert heatmap.bounding_box()["width"] > 300
    ctc_cell = page.locator("svg title", has_text="original_firstorder_Mean and CTCs")
    assert "n = 3" in ctc_cell.text_content()
    screenshot(page, "cohort-analysis")
