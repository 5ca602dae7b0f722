"""Pages: numbered pages with a count on most lists, cursors on the big tables."""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qs, urlencode, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from biobank.api import pagination
from biobank.api.filters import FeatureValueFilter
from biobank.api.pagination import PageNumberPagination
from patients.models import Project
from radiomics.models import FeatureDefinition, FeatureExtraction, FeatureValue
from tests.api.conftest import A_VALUES, add_side


def test_numbered_pages_count_the_rows_and_link_the_next(api, biobank):
    first = api.get("/api/patients/?page_size=1&ordering=pseudonym").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 2
    assert [row["pseudonym"] for row in first["results"]] == ["PT-A"]
    assert [row["pseudonym"] for row in second["results"]] == ["PT-B"]
    assert second["next"] is None


def test_numbered_pages_say_when_the_count_stopped_at_the_limit(api, biobank, settings):
    settings.BIOBANK_API_COUNT_LIMIT = 1

    first = api.get("/api/patients/?page_size=1&ordering=pseudonym").json()
    second = api.get(first["next"]).json()

    # Two patients, counted up to one: more than one, and a next page all the same:
    assert (first["count"], first["count_exact"]) == (1, False)
    assert [row["pseudonym"] for row in second["results"]] == ["PT-B"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("budget", "in_order"), [(0.0, False), (float("inf"), True)], ids=["slow", "fast"]
)
def test_the_count_is_the_same_read_in_the_lists_order_or_in_none(
    api, biobank, monkeypatch, budget, in_order
):
    monkeypatch.setattr(pagination, "ORDERED_COUNT_SECONDS", budget)

    with CaptureQueriesContext(connection) as queries:
        page = api.get("/api/patients/?page_size=1&ordering=pseudonym").json()

    assert (page["count"], page["count_exact"]) == (2, True)
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    # A page read fast enough has its count read in the page's order; else in none:
    assert ("ORDER BY" in count) is in_order


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a statement timeout is PostgreSQL's"
)
def test_a_count_in_order_stopped_by_its_timeout_is_made_in_no_order(
    api, biobank, monkeypatch
):
    monkeypatch.setattr(pagination, "ORDERED_COUNT_SECONDS", float("inf"))
    stopped = []

    def times_out(using, seconds, call):
        stopped.append(seconds)
        return None  # as when the count in order ran past `seconds`

    monkeypatch.setattr(pagination, "within_timeout", times_out)

    with CaptureQueriesContext(connection) as queries:
        page = api.get("/api/patients/?page_size=1&ordering=pseudonym").json()

    assert (page["count"], page["count_exact"]) == (2, True)
    (count,) = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert "ORDER BY" not in count
    # What the page's pace promised for the limit's rows, a short time here:
    assert len(stopped) == 1 and 0 < stopped[0] < 60


def test_a_list_that_fits_on_its_page_is_counted_without_a_count_query(api, biobank):
    with CaptureQueriesContext(connection) as queries:
        page = api.get("/api/patients/?page_size=5").json()

    assert (page["count"], page["count_exact"]) == (2, True)
    counts = [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"]]
    assert not [sql for sql in counts if '"patients_patient"' in sql]


def test_a_page_past_the_last_is_not_found_and_says_how_many_there_are(api, biobank):
    response = api.get("/api/patients/?page_size=1&page=3")

    assert response.status_code == 404
    assert response.json() == {
        "page": ["Page 3 is past the last page; the list has 2 rows, 2 pages of 1."]
    }


def test_a_page_past_an_uncounted_end_says_the_pages_counted(api, biobank, settings):
    settings.BIOBANK_API_COUNT_LIMIT = 1

    response = api.get("/api/patients/?page_size=1&page=99999")

    assert response.status_code == 404
    assert response.json() == {
        "page": [
            "Page 99999 is past the last page; the list has more than 1 row (the "
            "count stops there), at least 2 pages of 1."
        ]
    }


def test_past_an_uncounted_end_the_pages_are_not_overstated(api, biobank, settings):
    # Two patients counted up to one, on pages of five: one page, not "more than 1":
    settings.BIOBANK_API_COUNT_LIMIT = 1

    response = api.get("/api/patients/?page_size=5&page=2")

    assert response.status_code == 404
    assert response.json()["page"][0].endswith(
        "more than 1 row (the count stops there), at least 1 page of 5."
    )


@pytest.mark.parametrize("url", ["/api/patients/", "/api/cohort-pairs/"])
@pytest.mark.parametrize("page", ["abc", "0", "-1", "2.5", " 2", "+2", "٢", "last"])
def test_a_page_that_is_no_whole_number_from_one_is_refused(api, biobank, url, page):
    response = api.get(url, {"page": page})

    assert response.status_code == 400
    (message,) = response.json()["page"]
    assert message.startswith("Give a whole number from 1 (the first page)")
    assert ("page=last is not offered" in message) == (page == "last")


@pytest.mark.parametrize("url", ["/api/feature-values/", "/api/variants/"])
@pytest.mark.parametrize("cursor", ["abc", "cD1hYmM=", "cD0xLjU="])
def test_a_cursor_not_made_by_the_server_is_refused(api, biobank, url, cursor):
    # Not base64, then the positions abc and 1.5, where an id belongs:
    response = api.get(url, {"cursor": cursor})

    assert response.status_code == 400
    assert response.json() == {
        "cursor": [
            "Not a cursor of this list; follow the next or previous link of a page, "
            "or leave cursor out for the first page."
        ]
    }


def _cursor(link: str) -> str:
    (cursor,) = parse_qs(urlparse(link).query)["cursor"]
    return cursor


def _made_up(**tokens: str) -> str:
    """A cursor as DRF writes one, base64 of o/r/p tokens, but not made by the server."""
    return base64.b64encode(urlencode(tokens).encode()).decode()


@pytest.mark.parametrize(
    "tokens",
    [
        {"p": "999999"},  # after the last row: an empty page
        {"p": "1"},  # a position of the list
        {"o": "1", "r": "1", "p": "3"},
        {},
    ],
)
def test_a_well_formed_cursor_the_server_did_not_issue_is_refused(
    api, many_values, tokens
):
    """A made-up cursor of plausible tokens gave an empty page instead of a 400."""
    response = api.get("/api/feature-values/", {"cursor": _made_up(**tokens)})

    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


def test_a_genuine_cursor_tampered_with_or_moved_to_another_list_is_refused(
    api, many_values
):
    first = api.get("/api/feature-values/?page_size=3").json()
    genuine = _cursor(first["next"])
    payload, _, signature = genuine.rpartition(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    tampered = api.get(
        "/api/feature-values/", {"page_size": 3, "cursor": f"{payload}:{flipped}"}
    )
    other_list = api.get("/api/variants/", {"cursor": genuine})
    other_order = api.get(
        "/api/feature-values/", {"page_size": 3, "ordering": "-id", "cursor": genuine}
    )
    followed = api.get(first["next"])

    for refused in (tampered, other_list, other_order):
        assert refused.status_code == 400
        assert list(refused.json()) == ["cursor"]
    assert followed.status_code == 200
    assert [row["id"] for row in followed.json()["results"]] == many_values[3:6]


def test_page_size_may_be_a_thousand():
    request = Request(APIRequestFactory().get("/api/patients/", {"page_size": 1000}))

    assert PageNumberPagination().get_page_size(request) == 1000


@pytest.mark.parametrize(
    ("url", "most"), [("/api/patients/", 1000), ("/api/feature-values/", 5000)]
)
@pytest.mark.parametrize("size", ["0", "-5", "abc", "2.5", "5001", "99999999999"])
def test_a_page_size_out_of_bounds_is_refused(api, biobank, url, most, size):
    response = api.get(url, {"page_size": size})

    assert response.status_code == 400
    assert response.json() == {"page_size": [f"Give a whole number from 1 to {most}."]}


def test_numbered_pages_refuse_a_page_size_above_a_thousand(api, biobank):
    assert api.get("/api/patients/", {"page_size": "1001"}).status_code == 400


@pytest.fixture
def many_values(biobank) -> list[int]:
    """Eleven feature values in all: A's, B's and nine more on A's extraction."""
    extra = [
        FeatureValue(extraction=biobank.a.extraction, feature=feature, value=number)
        for number, feature in enumerate(_definitions(9))
    ]
    FeatureValue.objects.bulk_create(extra)
    return list(FeatureValue.objects.order_by("id").values_list("id", flat=True))


def _definitions(number: int) -> list[FeatureDefinition]:
    return FeatureDefinition.objects.bulk_create(
        FeatureDefinition(
            name=f"original_glcm_F{n}", family="glcm", feature_name=f"F{n}"
        )
        for n in range(number)
    )


@pytest.mark.parametrize("endpoint", ["feature-values", "variants"])
def test_cursor_pages_have_no_count(endpoint, api, biobank):
    page = api.get(f"/api/{endpoint}/").json()

    assert set(page) == {"next", "previous", "results"}


def test_cursor_pages_walk_every_row_once_in_id_order(api, many_values):
    seen = []
    url = "/api/feature-values/?page_size=3"
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]

    assert seen == many_values


def test_cursor_pages_walk_backwards_with_descending_ids(api, many_values):
    page = api.get("/api/feature-values/?page_size=4&ordering=-id").json()
    following = api.get(page["next"]).json()

    ids = [row["id"] for row in page["results"] + following["results"]]
    assert ids == sorted(many_values, reverse=True)[:8]


def test_previous_link_leads_back_to_the_same_page(api, many_values):
    first = api.get("/api/feature-values/?page_size=4").json()
    second = api.get(first["next"]).json()

    back = api.get(second["previous"]).json()

    assert [row["id"] for row in back["results"]] == many_values[:4]


def test_deep_cursor_page_seeks_by_id_instead_of_skipping_rows(api, many_values):
    first = api.get("/api/feature-values/?page_size=5").json()

    with CaptureQueriesContext(connection) as queries:
        second = api.get(first["next"])

    page_sql = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "radiomics_featurevalue"')
    ]
    assert second.status_code == 200
    # The ids after the last one seen, then those rows with their related records;
    # no query skips rows with OFFSET:
    seek, rows, *_date_mode = page_sql  # then the date mode reads the rows' patients
    assert f"> {many_values[4]}" in seek.replace('"', "")
    # The seek reads ids only, joining just the records on the way to the project
    # that decides what the reader may see:
    assert seek.startswith('SELECT "radiomics_featurevalue"."id" FROM')
    joined = re.findall(r'JOIN "(\w+)"', seek)
    assert set(joined) <= {
        "radiomics_featureextraction",
        "patients_patient",
        "patients_project",
        "patients_projectmembership",
    }
    assert "JOIN" in rows
    assert "OFFSET" not in (seek + rows).upper()


def test_cursor_pages_keep_filters(api, many_values, biobank):
    page = api.get("/api/feature-values/?page_size=1&family=glcm").json()
    following = api.get(page["next"]).json()

    assert "family=glcm" in page["next"]
    assert following["results"][0]["feature_name"].startswith("original_glcm_")


@pytest.fixture
def mean_values(biobank, project) -> list[int]:
    """Ids of the mean's values in the analyst's project between 3 and 9, in order.

    Twelve extractions of A's segmentation hold the mean 0..11; a project the
    analyst may not read holds it too, with the same values.
    """
    other = Project.objects.create(code="other", name="Other collection")
    hidden = add_side(other, "PT-X", biobank.mean, biobank.signature, **A_VALUES)
    for side in (biobank.a, hidden):
        extractions = FeatureExtraction.objects.bulk_create(
            FeatureExtraction(
                patient=side.patient,
                segmentation=side.segmentation,
                software="pyradiomics",
                fingerprint=f"{side.patient.pseudonym}-{number}",
            )
            for number in range(12)
        )
        FeatureValue.objects.bulk_create(
            FeatureValue(extraction=extraction, feature=biobank.mean, value=number)
            for number, extraction in enumerate(extractions)
        )
    inside = FeatureValue.objects.filter(
        feature=biobank.mean, value__range=(3, 9), extraction__patient__project=project
    )
    return list(inside.order_by("id").values_list("id", flat=True))


def _walk(api, url: str) -> list[int]:
    seen = []
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"]
    return seen


# A limit of 100 reads the page from the ids of the 14 matching values (both
# projects); a limit of 13 is too small for them, so the page is found as without it:
@pytest.mark.parametrize("narrow_limit", [100, 13])
@pytest.mark.parametrize("ordering", ["id", "-id"])
def test_feature_value_range_pages_hold_the_same_rows_however_they_are_found(
    api, mean_values, monkeypatch, narrow_limit, ordering
):
    monkeypatch.setattr(FeatureValueFilter, "narrow_limit", narrow_limit)
    url = (
        "/api/feature-values/?feature=original_firstorder_Mean&value_min=3"
        f"&value_max=9&page_size=2&ordering={ordering}"
    )

    with CaptureQueriesContext(connection) as queries:
        seen = _walk(api, url)

    assert seen == sorted(mean_values, reverse=ordering == "-id")
    # Each page's seek (ids in order) looks among the matching ids, or walks:
    seeks = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "radiomics_featurevalue"."id" FROM')
    ]
    among_ids = ['"radiomics_featurevalue"."id" IN (' in sql for sql in seeks]
    assert among_ids == [narrow_limit == 100] * 4
    # and the page's rows are read by the page's ids alone:
    reads = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].startswith('SELECT "radiomics_featurevalue"."id", ')
    ]
    assert [sql.count('"radiomics_featurevalue"."id" IN (') for sql in reads] == [1] * 4


def test_a_feature_value_range_without_matches_is_an_empty_page(api, mean_values):
    url = "/api/feature-values/?feature=original_firstorder_Mean&value_min=100"

    page = api.get(url).json()

    assert (page["results"], page["next"]) == ([], None)
