"""The analysis page opened from a link, before its own choices are made."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import grant

HINT = "Choose the radiomic features to correlate first"


def _analysis_link(page: str) -> str:
    match = re.search(r'href="(/cohorts/analysis/\?[^"]*)"', page)
    assert match, "no link to the analysis"
    return html.unescape(match.group(1))


def test_a_link_with_the_filters_only_opens_a_prefilled_form(logged_in, paired):
    response = logged_in.get("/cohorts/analysis/?window_days=12&mode=nearest&gene=EGFR")
    page = response.content.decode()

    assert response.status_code == 200
    assert 'role="alert"' not in page
    assert "This field is required" not in page
    assert 'name="window_days" value="12"' in page
    assert re.search(r'value="nearest"[^>]*checked', page)
    assert 'name="gene" value="EGFR"' in page
    assert 'id="results-heading"' not in page
    assert HINT in page


def test_the_page_without_features_says_to_choose_them_first(logged_in, paired):
    blank = logged_in.get("/cohorts/analysis/").content.decode()
    analysed = logged_in.get(
        "/cohorts/analysis/?window_days=30&features=original_firstorder_Mean"
    ).content.decode()

    assert HINT in blank
    assert HINT not in analysed


@pytest.mark.parametrize("query", ["dates=calendar", "window_days=12&dates=calendar"])
def test_a_viewer_asking_for_calendar_dates_is_refused_before_submitting(
    logged_in, paired, query
):
    response = logged_in.get(f"/cohorts/analysis/?{query}")

    assert response.status_code == 403
    page = html.unescape(response.content.decode())
    assert "dates: Viewers get shifted or relative dates" in page
    assert HINT not in page


def test_a_curator_may_open_the_form_with_calendar_dates(
    logged_in, reader, project, paired
):
    grant(reader, project, "curator")

    response = logged_in.get("/cohorts/analysis/?dates=calendar")

    assert response.status_code == 200
    assert '<input type="hidden" name="dates" value="calendar">' in (
        response.content.decode()
    )


def test_the_form_before_submitting_keeps_the_dates_asked_for(logged_in, paired):
    page = logged_in.get("/cohorts/analysis/?window_days=12&dates=relative")

    assert page.status_code == 200
    assert '<input type="hidden" name="dates" value="relative">' in (
        page.content.decode()
    )


def test_submitting_without_features_names_the_field(logged_in, paired):
    response = logged_in.get("/cohorts/analysis/?window_days=12&features=")

    assert response.status_code == 400
    assert "This field is required" in response.content.decode()


def test_a_link_with_a_wrong_filter_names_it(logged_in, paired):
    response = logged_in.get("/cohorts/analysis/?window_days=-1")

    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()


@pytest.mark.parametrize("features", ["", "*"])
def test_the_cohort_pages_link_opens_without_errors(logged_in, paired, features):
    page = logged_in.get(f"/cohorts/?window_days=30&mode=all&features={features}")
    link = _analysis_link(page.content.decode())

    response = logged_in.get(link)

    assert response.status_code == 200, link
    assert 'role="alert"' not in response.content.decode()


def test_the_analysis_is_in_the_navigation_bar(logged_in):
    page = logged_in.get("/patients/").content.decode()
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', page, re.S).group(1)

    assert 'href="/cohorts/analysis/"' in nav
