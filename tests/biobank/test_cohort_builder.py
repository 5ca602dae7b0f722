"""The cohort builder (live count, matrix links, saved cohorts) and the analysis page."""

from __future__ import annotations

import datetime as dt
import io
import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from biobank.cohorts import query
from biobank.cohorts.models import SavedCohort
from liquidbiopsy.models import CfDNAAssay, VariantResult
from radiomics.models import FeatureDefinition
from tests.biobank.conftest import Records
from tests.conftest import grant

STUDY_ON = dt.date(2024, 3, 10)
MEAN = "original_firstorder_Mean"
# Per patient: feature value, CTCs per 7.5 mL, EGFR call and VAF (None: not tested).
PATIENTS = [
    (10.0, 1, "detected", 0.02),
    (20.0, 3, "detected", 0.05),
    (30.0, 2, "not-detected", None),
    (40.0, 8, "detected", 0.10),
    (50.0, 9, None, None),
]


def add_patient(records: Records, number: int, value, ctc, call, vaf) -> None:
    patient = records.patient(f"PT-{number:03}")
    study = records.study(patient, STUDY_ON)
    records.feature(study, MEAN, value)
    draw = records.draw(patient, STUDY_ON + dt.timedelta(days=2))
    records.ctc(draw, ctc)
    if call is not None:
        result = records.variant(draw, "EGFR", "p.T790M", call=call)
        VariantResult.objects.filter(pk=result.pk).update(vaf=vaf)
        CfDNAAssay.objects.filter(pk=result.assay_id).update(cfdna_ng_per_ml=value / 2)


@pytest.fixture
def cohort(records: Records) -> Records:
    for number, row in enumerate(PATIENTS):
        add_patient(records, number, *row)
    return records


def analysis_url(**params) -> str:
    query = {"features": MEAN, "window_days": "7"} | params
    return (
        reverse("cohorts:analysis")
        + "?"
        + "&".join(f"{k}={v}" for k, v in query.items())
    )


def table_row(html: str, feature: str, marker: str) -> list[str]:
    """Return the cells of the correlation table's row for this feature and marker."""
    for row in re.findall(r"<tr id=\"correlation-\d+\">(.*?)</tr>", html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        if cells[0] == feature and cells[1] == marker:
            return cells
    raise AssertionError(f"No row for {feature} and {marker}")


# Builder:


def test_builder_links_the_matrix_downloads_with_the_same_filters(logged_in, cohort):
    response = logged_in.get(
        "/cohorts/", {"window_days": "7", "gene": "EGFR", "features": MEAN}
    )

    html = response.content.decode()
    links = re.findall(r'href="(/api/cohort-matrix/\?[^"]+)"', html)
    queries = [parse_qs(urlsplit(link.replace("&amp;", "&")).query) for link in links]
    assert [q["format"] for q in queries] == [["csv"], ["parquet"]]
    assert queries[0]["gene"] == ["EGFR"]
    assert queries[0]["features"] == [MEAN]
    assert "live_count.js" in html
    assert 'aria-live="polite"' in html


def test_a_link_without_a_window_shows_the_default_it_uses(logged_in, cohort):
    html = logged_in.get("/cohorts/", {"gene": "EGFR"}).content.decode()

    [box] = re.findall(r'<input[^>]*name="window_days"[^>]*>', html)
    assert 'placeholder="30"' in box
    assert "(left empty: 30)" in html


def test_matrix_link_downloads_the_cohort_values(logged_in, cohort):
    response = logged_in.get("/cohorts/", {"window_days": "7", "features": MEAN})
    link = re.findall(
        r'href="(/api/cohort-matrix/\?[^"]+format=parquet)"', response.content.decode()
    )[0]

    download = logged_in.get(link.replace("&amp;", "&"))

    frame = pd.read_parquet(io.BytesIO(b"".join(download.streaming_content)))
    assert frame[f"feature.{MEAN}"].tolist() == [10.0, 20.0, 30.0, 40.0, 50.0]


def test_an_unknown_matrix_feature_is_named_and_no_matrix_link_is_given(
    logged_in, cohort
):
    response = logged_in.get("/cohorts/", {"window_days": "7", "features": "NOPE"})

    html = response.content.decode()
    assert "No radiomic feature is named or coded NOPE" in html
    assert "/api/cohort-matrix/" not in html
    assert "Download all pairs as CSV" in html


def test_an_unknown_matrix_gene_is_named_and_no_matrix_link_is_given(logged_in, cohort):
    response = logged_in.get("/cohorts/", {"window_days": "7", "genes": "EGFR,EGRF"})

    html = unescape(response.content.decode())
    assert "No variant you may read is of gene EGRF. Did you mean EGFR?" in html
    assert "/api/cohort-matrix/" not in html


def test_live_count_gives_pairs_and_patients(logged_in, cohort):
    response = logged_in.get(
        "/cohorts/count.json", {"window_days": "7", "gene": "EGFR", "features": MEAN}
    )

    assert response.json() == {
        "pairs": 3,
        "patients": 3,
        "exact": True,
        "text": "3 pairs of 3 patients match these filters.",
    }


def test_live_count_of_one_project_is_tried_in_its_patients_order(
    logged_in, cohort, monkeypatch
):
    tried = []
    monkeypatch.setattr(
        query, "_count_in_order", lambda pairs, limit: tried.append(limit)
    )
    query_of_one = {"window_days": "7", "gene": "EGFR", "project": "demo"}

    of_one = logged_in.get("/cohorts/count.json", query_of_one).json()
    of_any = logged_in.get("/cohorts/count.json", {"window_days": "7", "gene": "EGFR"})

    # Across projects the order needs every pair sorted first, so it is not tried:
    assert len(tried) == 1
    assert (of_one["pairs"], of_one["patients"]) == (3, 3)
    assert (of_any.json()["pairs"], of_any.json()["patients"]) == (3, 3)


def test_live_count_is_exact_up_to_the_count_limit(logged_in, cohort, settings):
    settings.BIOBANK_API_COUNT_LIMIT = 3

    body = logged_in.get(
        "/cohorts/count.json", {"window_days": "7", "gene": "EGFR"}
    ).json()

    assert (body["pairs"], body["patients"], body["exact"]) == (3, 3, True)
    assert body["text"] == "3 pairs of 3 patients match these filters."


def test_live_count_stops_past_the_count_limit_and_says_more_than(
    logged_in, cohort, settings
):
    settings.BIOBANK_API_COUNT_LIMIT = 2

    response = logged_in.get("/cohorts/count.json", {"window_days": "7"})

    # The patients of the pairs counted are not the cohort's: they are not given.
    assert response.json() == {
        "pairs": 2,
        "patients": None,
        "exact": False,
        "text": "More than 2 pairs match these filters (the count stops there).",
    }


def test_live_count_of_one_pair_of_one_patient_says_so_in_the_singular(
    logged_in, records
):
    patient = records.patient("PT-ONE")
    records.study(patient, STUDY_ON)
    records.draw(patient, STUDY_ON + dt.timedelta(days=1))

    body = logged_in.get("/cohorts/count.json", {"window_days": "7"}).json()

    assert body["text"] == "1 pair of 1 patient matches these filters."


def test_live_count_in_nearest_mode_counts_one_draw_per_study(logged_in, cohort):
    patient = cohort.patient("PT-EXTRA")
    cohort.study(patient, STUDY_ON)
    for days in (1, 3):
        cohort.draw(patient, STUDY_ON + dt.timedelta(days=days))

    every = logged_in.get("/cohorts/count.json", {"window_days": "7"}).json()
    nearest = logged_in.get(
        "/cohorts/count.json", {"window_days": "7", "mode": "nearest"}
    ).json()

    assert (every["pairs"], every["patients"]) == (7, 6)
    assert (nearest["pairs"], nearest["patients"]) == (6, 6)


def test_live_count_names_a_bad_filter_and_refuses_anonymous_callers(
    client, logged_in, cohort
):
    bad = logged_in.get("/cohorts/count.json", {"window_days": "-1"})
    assert bad.status_code == 400
    assert "window_days" in bad.json()["errors"]

    logged_in.logout()
    assert client.get("/cohorts/count.json").status_code == 403


def test_live_count_script_is_a_static_file_of_the_project():
    path = finders.find("cohorts/live_count.js")

    assert path is not None
    script = open(path).read()
    assert 'getAttribute("data-count-url")' in script
    assert 'credentials: "same-origin"' in script


def test_saving_a_cohort_freezes_version_one_for_the_author(logged_in, reader, cohort):
    response = logged_in.post(
        "/cohorts/save/",
        {"name": "EGFR pairs", "window_days": "7", "gene": "EGFR", "features": MEAN},
        follow=True,
    )

    cohort_saved = SavedCohort.objects.get()
    assert cohort_saved.author == reader
    assert cohort_saved.definition["query"]["gene"] == "EGFR"
    assert cohort_saved.definition["matrix"]["features"] == [MEAN]
    assert cohort_saved.versions.get().pair_count == 3
    html = response.content.decode()
    assert "Saved EGFR pairs: version 1 holds 3 pairs." in html
    assert (
        f"/api/saved-cohorts/{cohort_saved.pk}/versions/1/matrix/?format=parquet"
        in html
    )


def test_saving_needs_the_csrf_token(client, reader, cohort):
    checked = type(client)(enforce_csrf_checks=True)
    checked.force_login(reader)

    response = checked.post("/cohorts/save/", {"name": "x", "window_days": "7"})

    assert response.status_code == 403
    assert not SavedCohort.objects.exists()


def test_saving_twice_under_one_name_is_refused_with_a_message(logged_in, cohort):
    logged_in.post("/cohorts/save/", {"name": "Mine", "window_days": "7"})

    response = logged_in.post(
        "/cohorts/save/", {"name": "Mine", "window_days": "3"}, follow=True
    )

    assert SavedCohort.objects.count() == 1
    assert "You have a saved cohort named Mine already" in response.content.decode()


def test_saving_a_bad_definition_names_the_field(logged_in, cohort):
    response = logged_in.post(
        "/cohorts/save/", {"name": "Bad", "window_days": "-3"}, follow=True
    )

    assert not SavedCohort.objects.exists()
    assert (
        "Not saved: query: window_days: Ensure this value is greater than or equal to 0."
        in response.content.decode()
    )


def test_rerun_makes_a_version_only_when_data_changed(logged_in, cohort):
    logged_in.post("/cohorts/save/", {"name": "All", "window_days": "7"})
    saved = SavedCohort.objects.get()

    same = logged_in.post(f"/cohorts/saved/{saved.pk}/rerun/", follow=True)
    assert "nothing changed since version 1" in same.content.decode()

    add_patient(cohort, 99, 60.0, 4, "detected", 0.3)
    changed = logged_in.post(f"/cohorts/saved/{saved.pk}/rerun/", follow=True)
    assert "All: version 2 made; 1 pairs added" in changed.content.decode()
    assert saved.versions.count() == 2


def test_only_the_author_or_a_curator_of_the_project_reruns(
    client, django_user_model, logged_in, project, cohort
):
    logged_in.post(
        "/cohorts/save/", {"name": "All", "window_days": "7", "project": project.code}
    )
    saved = SavedCohort.objects.get()
    other = grant(django_user_model.objects.create_user("other"), project)
    client.force_login(other)

    assert client.post(f"/cohorts/saved/{saved.pk}/rerun/").status_code == 403
    grant(other, project, "curator")
    assert client.post(f"/cohorts/saved/{saved.pk}/rerun/").status_code == 302


def test_builder_queries_do_not_grow_with_pairs_or_saved_cohorts(logged_in, records):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = logged_in.get(
                "/cohorts/", {"window_days": "7", "features": MEAN}
            )
        assert response.status_code == 200
        return len(queries)

    add_patient(records, 0, *PATIENTS[0])
    logged_in.post("/cohorts/save/", {"name": "one", "window_days": "7"})
    few = count_queries()
    for number in range(1, 12):
        add_patient(records, number, *PATIENTS[number % len(PATIENTS)])
    for name in ("two", "three", "four"):
        logged_in.post("/cohorts/save/", {"name": name, "window_days": "7"})

    assert count_queries() == few


# Analysis:


def test_analysis_table_holds_spearman_values_and_the_heatmap(logged_in, cohort):
    response = logged_in.get(analysis_url())

    html = response.content.decode()
    # Feature 10..50 against CTCs 1 3 2 8 9: ranks 1 3 2 4 5, rho = 0.9 over 5 pairs.
    n, rho = table_row(html, MEAN, "CTCs (per 7.5 mL)")[2:4]
    assert (n, rho) == ("5", "0.900")
    # VAF is only there when detected: 10, 20, 40 against 0.02, 0.05, 0.10.
    vaf = table_row(html, MEAN, "EGFR VAF (fraction 0–1)")
    assert vaf[2:5] == ["3", "1.000", "0"]
    assert "<svg" in html and "Spearman ρ (−1 to 1)" in html
    assert "Correlations over 5 pairs" in html


def test_analysis_says_why_a_cell_has_no_rho(logged_in, records):
    for number, row in enumerate(PATIENTS[:2]):
        add_patient(records, number, *row)

    html = logged_in.get(analysis_url()).content.decode()

    assert (
        table_row(html, MEAN, "CTCs (per 7.5 mL)")[-1]
        == "Fewer than 3 paired values (n = 2)."
    )
    assert "no correlation can be computed, so there is no heatmap" in html


def test_analysis_of_an_empty_cohort_says_so(logged_in, cohort):
    # No patient has 100 CTCs (a gene nothing stored has is refused, not empty):
    html = logged_in.get(analysis_url(min_ctc="100")).content.decode()

    assert (
        "No study and draw pair matches these filters: there is nothing to correlate."
        in html
    )
    assert "<svg" not in html


def test_analysis_names_a_gene_nothing_stored_has(logged_in, cohort):
    response = logged_in.get(analysis_url(gene="EGRF"))

    assert response.status_code == 400
    assert "No variant you may read is of gene EGRF. Did you mean EGFR?" in unescape(
        response.content.decode()
    )
    assert "<svg" not in response.content.decode()


def test_analysis_names_a_matrix_gene_nothing_stored_has(logged_in, cohort):
    response = logged_in.get(analysis_url(genes="EGRF"))

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert "No variant you may read is of gene EGRF. Did you mean EGFR?" in html
    assert "Correlations over" not in html


def test_the_cohort_page_refuses_an_unknown_format(logged_in, cohort):
    response = logged_in.get("/cohorts/?mode=nearest&gene=EGFR&format=xlsx")

    assert response.status_code == 400
    assert "format: Format must be csv, or left out for this page." in (
        unescape(response.content.decode())
    )


def test_saving_a_cohort_with_an_unknown_matrix_gene_names_it(logged_in, cohort):
    response = logged_in.post(
        "/cohorts/save/", {"name": "Typo", "genes": "EGRF"}, follow=True
    )

    assert not SavedCohort.objects.exists()
    assert "Not saved: matrix: genes: No variant you may read is of gene EGRF." in (
        unescape(response.content.decode())
    )


def test_box_plot_groups_by_call_and_leaves_untested_draws_out(logged_in, cohort):
    html = logged_in.get(analysis_url(box_gene="EGFR")).content.decode()

    assert (
        "EGFR detected: 3; not detected or below the limit of detection:\n    1."
        in html
    )
    assert "Left out: 1 draw not tested" in html
    assert html.count("<svg") == 2
    assert re.search(r">EGFR detected</text>\s*<text[^>]*>\(n = 3\)</text>", html)


@pytest.mark.parametrize("features", [MEAN, "Q4LE"])
def test_box_plot_takes_the_ibsi_code_of_a_correlated_feature(
    logged_in, cohort, features
):
    FeatureDefinition.objects.filter(name=MEAN).update(ibsi_code="Q4LE")

    response = logged_in.get(analysis_url(features=features, box_feature="q4le"))

    html = response.content.decode()
    assert response.status_code == 200
    assert f"{MEAN} by the EGFR call of the paired draw" in html
    assert html.count("<svg") == 2


def test_box_plot_of_a_feature_not_correlated_is_refused(logged_in, cohort):
    response = logged_in.get(analysis_url(box_feature="original_glcm_Contrast"))

    html = response.content.decode()
    assert response.status_code == 400
    assert (
        "box_feature: original_glcm_Contrast is not among the features correlated "
        f"({MEAN})."
    ) in html
    assert "<svg" not in html


def test_box_plot_of_an_untested_gene_says_so(logged_in, cohort):
    html = logged_in.get(analysis_url(box_gene="KRAS")).content.decode()

    assert "No draw of this cohort was tested for KRAS." in html
    assert html.count("<svg") == 1  # the heatmap only


def test_box_plot_of_one_value_is_a_message_not_a_chart(logged_in, records):
    add_patient(records, 0, *PATIENTS[0])

    html = logged_in.get(analysis_url()).content.decode()

    assert (
        "Only 1 value of original_firstorder_Mean with a tested EGFR call: too few for a box plot."
        in html
    )
    assert "<svg" not in html


def test_analysis_of_a_cohort_too_large_points_to_the_download(
    logged_in, cohort, monkeypatch
):
    monkeypatch.setattr("biobank.cohorts.views.MAX_ANALYSIS_PAIRS", 4)

    html = logged_in.get(analysis_url()).content.decode()

    assert "This cohort has 5 pairs; the analysis page handles at most 4." in html
    assert "<svg" not in html


def test_analysis_names_an_unknown_feature(logged_in, cohort):
    response = logged_in.get(analysis_url(features="NOPE"))

    html = response.content.decode()
    assert response.status_code == 400
    assert "No radiomic feature is named or coded NOPE" in html
    assert "Correlations over" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/cohorts/?window_days=7&features=original_firstorder_Maen",
        analysis_url(features="original_firstorder_Maen"),
    ],
)
def test_a_misspelt_matrix_feature_is_given_the_closest_names(logged_in, cohort, url):
    html = unescape(logged_in.get(url).content.decode())

    assert (
        "No radiomic feature is named or coded original_firstorder_Maen. "
        f"Did you mean {MEAN}?"
    ) in html


def test_analysis_queries_do_not_grow_with_pairs(logged_in, records):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = logged_in.get(analysis_url())
        assert "Correlations over" in response.content.decode()
        return len(queries)

    for number in range(3):
        add_patient(records, number, *PATIENTS[number])
    few = count_queries()
    for number in range(3, 30):
        add_patient(records, number, *PATIENTS[number % len(PATIENTS)])

    assert count_queries() == few


def test_the_page_refuses_a_name_disguised_by_direction_controls(logged_in, cohort):
    response = logged_in.post(
        "/cohorts/save/",
        {"name": "safe\u202egnp.exe", "window_days": "7"},
        follow=True,
    )

    assert not SavedCohort.objects.exists()
    assert "Not saved: name:" in response.content.decode()
