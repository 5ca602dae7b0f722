"""The analysis of a saved version reads its frozen matrix; today's data is apart."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from django.conf import settings
from django.utils import timezone

from biobank.cohorts.saved import save_cohort, validate_definition
from radiomics.models import FeatureValue
from tests.conftest import grant

CONTRAST = "original_glcm_Contrast"


def _pair(records, source_id: str, day: dt.date, contrast: float, ctc: int) -> None:
    patient = records.patient(source_id)
    records.feature(records.study(patient, day), CONTRAST, contrast, "ACUI")
    records.ctc(records.draw(patient, day), ctc)


def _link(page: str, text: str) -> str:
    match = re.search(rf'<a href="([^"]+)"[^>]*>{re.escape(text)}', page)
    assert match, f"no link {text!r}"
    return html.unescape(match.group(1))


def _ctc_cell(response):
    cells = [cell for _, cell in response.context["cells"]]
    return next(cell for cell in cells if cell.marker.column == "ctc_per_7_5ml")


@pytest.fixture
def frozen(reader, project, records):
    """Version 1 of three pairs whose contrast rises with the CTCs, then changed data."""
    grant(reader, project, "curator")  # calendar dates
    for n, (contrast, ctc) in enumerate([(1.0, 2), (2.0, 4), (3.0, 6)]):
        _pair(records, f"PT-{n}", dt.date(2024, 3, 1 + n), contrast, ctc)
    definition = validate_definition(
        {"query": {"project": "demo"}, "matrix": {"features": [CONTRAST]}}
    )
    cohort = save_cohort(name="paper", definition=definition, author=reader)
    # After saving: a value corrected against the trend, and two more pairs.
    FeatureValue.objects.filter(value=3.0).update(value=0.5)
    _pair(records, "PT-3", dt.date(2024, 4, 1), 9.0, 1)
    _pair(records, "PT-4", dt.date(2024, 4, 2), 8.0, 3)
    return cohort


def test_analysing_a_version_reads_its_frozen_matrix_not_today_s_data(
    logged_in, frozen
):
    page = logged_in.get(f"/cohorts/saved/{frozen.pk}/versions/1/").content.decode()

    version = logged_in.get(_link(page, "Analyse version 1"))
    today = logged_in.get(_link(page, "Analyse today's data"))

    assert version.status_code == today.status_code == 200
    assert (_ctc_cell(version).n, _ctc_cell(version).rho) == (3, 1.0)
    assert _ctc_cell(today).n == 5 and _ctc_cell(today).rho != 1.0
    said = html.unescape(version.content.decode())
    created = timezone.localtime(frozen.versions.get().created_at)
    assert (
        "Data analysed: version 1 of the saved cohort paper, frozen on "
        f"{created:%Y-%m-%d %H:%M}"
    ) in said
    assert "Data analysed: today's data" in html.unescape(today.content.decode())
    assert "Data analysed: version" not in html.unescape(today.content.decode())


def test_the_cohort_page_offers_the_analysis_of_each_version(logged_in, frozen):
    page = logged_in.get("/cohorts/").content.decode()

    link = _link(page, "Analyse</a>")

    assert link.startswith(f"/cohorts/saved/{frozen.pk}/versions/1/analysis/")
    assert _ctc_cell(logged_in.get(link)).n == 3


def test_a_feature_the_version_did_not_freeze_is_named(logged_in, frozen, records):
    records.feature(
        records.study(records.patient("PT-9"), dt.date(2024, 5, 1)),
        "original_firstorder_Mean",
        1.0,
    )
    url = f"/cohorts/saved/{frozen.pk}/versions/1/analysis/"

    response = logged_in.get(f"{url}?features=original_firstorder_Mean")

    assert response.status_code == 400
    assert (
        "original_firstorder_Mean is not in the frozen matrix of version 1 "
        f"(its features: {CONTRAST})."
    ) in html.unescape(response.content.decode())


def test_a_frozen_matrix_that_fails_its_checksum_is_not_analysed(logged_in, frozen):
    version = frozen.versions.get()
    path = settings.BIOBANK_STORAGE_ROOT / version.matrix_path
    path.write_bytes(path.read_bytes() + b"tampered")

    response = logged_in.get(
        f"/cohorts/saved/{frozen.pk}/versions/1/analysis/?features={CONTRAST}"
    )

    assert response.status_code == 500
    assert "no longer matches its recorded SHA-256" in response.content.decode()
    assert "cells" not in response.context


def test_another_users_version_analysis_is_not_found(client, frozen, django_user_model):
    outsider = django_user_model.objects.create_user("outsider")
    client.force_login(outsider)

    response = client.get(f"/cohorts/saved/{frozen.pk}/versions/1/analysis/")

    assert response.status_code == 404
