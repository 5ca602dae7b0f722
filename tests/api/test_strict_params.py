"""Query parameters are read strictly: a typo or a value the API would misread is a 400.

Each 400 names the parameter the user typed (diagnosis_on_after, not diagnosis_on),
as /api/cohort-pairs/ does; pages, format and ordering stay accepted everywhere.
"""

from __future__ import annotations

import pytest
from django import forms
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import OrderingFilter
from rest_framework.test import APIClient

from biobank.api.filters import (
    UNKNOWN_PARAMETER,
    BoundedFilterSet,
    IsoDateField,
    MomentField,
    StrictBooleanField,
    StrictFilterBackend,
    StrictOrderingFilter,
)
from tests.api.conftest import results
from tests.api.test_endpoints import ENDPOINTS

HUGE = "9" * 25
LISTS = [endpoint for endpoint, _ in ENDPOINTS]


def filtered_viewsets() -> list[tuple[str, type]]:
    from biobank.api.urls import router

    return [
        (prefix, viewset)
        for prefix, viewset, _ in router.registry
        if viewset.filter_backends  # cohort-pairs reads its own form
    ]


# Unknown parameters:


@pytest.mark.parametrize("endpoint", LISTS)
def test_unknown_parameter_is_a_400_naming_it_on_every_list(endpoint, api, biobank):
    response = api.get(f"/api/{endpoint}/?gen=EGFR")

    assert response.status_code == 400
    assert response.json() == {"gen": [UNKNOWN_PARAMETER]}


def test_unknown_parameter_reads_as_the_cohort_pairs_refusal(api, biobank):
    variants = api.get("/api/variants/?gen=EGFR").json()
    pairs = api.get("/api/cohort-pairs/?gen=EGFR").json()

    assert variants == pairs == {"gen": [UNKNOWN_PARAMETER]}


def test_unknown_parameter_on_a_detail_is_a_400(api, biobank):
    response = api.get(f"/api/consents/{biobank.a.consent.pk}/?alow_imaging=true")

    assert response.status_code == 400
    assert list(response.json()) == ["alow_imaging"]


def test_every_problem_of_a_query_is_named_at_once(api, biobank):
    response = api.get("/api/variants/?gen=EGFR&vaf_min=5&call=maybe")

    assert response.status_code == 400
    assert set(response.json()) == {"gen", "vaf_min", "call"}


@pytest.mark.parametrize(
    "query",
    [
        "page=1&page_size=10&format=json",
        "ordering=-pseudonym,id",
        "pseudonym=&sex=&diagnosis_on_after=&birth_year_max=",
    ],
)
def test_pages_format_ordering_and_empty_filters_stay_accepted(query, api, biobank):
    response = api.get(f"/api/patients/?{query}")

    assert response.status_code == 200, response.content[:300]


def test_a_cursor_page_link_is_accepted(api, biobank):
    first = api.get("/api/variants/?page_size=1&call=detected").json()

    second = api.get(first["next"])

    assert "cursor=" in first["next"]
    assert second.status_code == 200


def test_every_query_parameter_of_the_schema_is_known(api, biobank):
    # Guards against refusing a list's own parameters (the matrix and saved cohorts
    # included, which check their own):
    schema = api.get("/api/schema/?format=json").json()
    refused = []
    for path, operations in schema["paths"].items():
        if "{" in path or "get" not in operations:
            continue
        for parameter in operations["get"].get("parameters", []):
            if parameter["in"] != "query":
                continue
            name = parameter["name"]
            response = api.get(path, {name: ""})
            if response.status_code == 400 and name in response.json():
                if UNKNOWN_PARAMETER in response.json()[name]:
                    refused.append(f"{path}?{name}")

    assert refused == []


# Values the API would have misread:


@pytest.mark.parametrize(
    ("endpoint", "parameter"),
    [
        ("patients", "is_deceased"),
        ("consents", "is_withdrawn"),
        ("consents", "allows_imaging"),
        ("blood-samples", "is_time_known"),
        ("variants", "is_germline"),
    ],
)
def test_a_boolean_other_than_true_or_false_is_a_400(endpoint, parameter, api, biobank):
    response = api.get(f"/api/{endpoint}/?{parameter}=maybe")

    assert response.status_code == 400
    assert response.json() == {parameter: ["Enter true or false."]}


@pytest.mark.parametrize(
    ("word", "deceased"), [("true", {"PT-B"}), ("False", {"PT-A"}), ("1", {"PT-B"})]
)
def test_a_boolean_in_any_usual_spelling_still_filters(word, deceased, api, biobank):
    rows = results(api.get(f"/api/patients/?is_deceased={word}"))

    assert {row["pseudonym"] for row in rows} == deceased


@pytest.mark.parametrize(
    "ordering", ["nonexistent", "-nonexistent", "pseudonym,nonexistent", "source_key"]
)
def test_ordering_by_an_unknown_field_is_a_400_listing_the_fields(
    ordering, api, biobank
):
    response = api.get("/api/patients/", {"ordering": ordering})

    assert response.status_code == 400
    [message] = response.json()["ordering"]
    assert "nonexistent" in message or "source_key" in message
    assert "pseudonym, diagnosis_on, birth_year, created_at, id" in message


def test_ordering_a_cursor_list_by_an_unknown_field_is_a_400(api, biobank):
    response = api.get("/api/variants/?ordering=vaf")

    assert response.status_code == 400
    assert list(response.json()) == ["ordering"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("vaf_min=5", "vaf_min"),
        ("vaf_max=12.5", "vaf_max"),
        ("vaf_min=-0.1", "vaf_min"),
        ("vaf_min=0.01&vaf_max=50", "vaf_max"),
    ],
)
def test_a_vaf_outside_0_to_1_is_a_400_saying_it_is_a_fraction(
    query, parameter, api, biobank
):
    response = api.get(f"/api/variants/?{query}")

    assert response.status_code == 400
    assert response.json() == {
        parameter: ["VAF is a fraction between 0 and 1: write 5 % as 0.05."]
    }


def test_vaf_bounds_0_and_1_hold_every_variant_with_a_vaf(api, biobank):
    rows = results(api.get("/api/variants/?vaf_min=0&vaf_max=1"))

    assert {row["id"] for row in rows} == {biobank.a.variant.pk, biobank.b.variant.pk}


def test_a_tumour_fraction_in_percent_is_a_400(api, biobank):
    response = api.get("/api/cfdna-assays/?tumour_fraction_min=20")

    assert response.status_code == 400
    assert "Tumour fraction is a fraction" in response.json()["tumour_fraction_min"][0]


# Dates and moments in ISO 8601 only:


@pytest.mark.parametrize(
    "day",
    ["01/02/2000", "1/2/2000", "2000-1-2", "20000102", "2000-W01-1", "2000-13-01"],
)
def test_a_date_not_written_yyyy_mm_dd_is_a_400_naming_the_parameter(
    day, calendar_api, biobank
):
    response = calendar_api.get("/api/patients/", {"diagnosis_on_after": day})

    assert response.status_code == 400
    assert response.json() == {
        "diagnosis_on_after": [
            "Enter a date as YYYY-MM-DD (ISO 8601), e.g. 2024-03-10."
        ]
    }


def test_an_iso_date_still_filters(calendar_api, biobank):
    rows = results(calendar_api.get("/api/patients/?diagnosis_on_after=2021-01-01"))

    assert [row["pseudonym"] for row in rows] == ["PT-B"]


@pytest.mark.parametrize(
    ("endpoint", "parameter"),
    [
        ("blood-samples", "drawn_at_after"),
        ("ctc-counts", "drawn_at_before"),
        ("feature-extractions", "created_at_after"),
        ("signature-scores", "computed_at_before"),
    ],
)
def test_a_moment_without_a_zone_is_a_400_asking_for_one(
    endpoint, parameter, calendar_api, biobank
):
    response = calendar_api.get(f"/api/{endpoint}/", {parameter: "2020-01-22T08:00:00"})

    assert response.status_code == 400
    [message] = response.json()[parameter]
    assert "no zone" in message
    assert "2020-01-22T08:00:00Z" in message


@pytest.mark.parametrize(
    "moment", ["2020-01-22", "01/22/2020 08:00", "2020-01-22T25:00Z"]
)
def test_a_moment_that_is_no_iso_moment_is_a_400(moment, calendar_api, biobank):
    response = calendar_api.get("/api/blood-samples/", {"drawn_at_after": moment})

    assert response.status_code == 400
    assert "ISO 8601 with its zone" in response.json()["drawn_at_after"][0]


def test_a_moment_with_a_zone_still_filters(calendar_api, biobank):
    rows = results(
        calendar_api.get(
            "/api/blood-samples/", {"drawn_at_after": "2020-01-22T09:00:00+01:00"}
        )
    )

    assert biobank.a.sample.pk in {row["id"] for row in rows}


# Errors name the parameter, not the form field behind it:


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("diagnosis_on_after=2000-13-01", "diagnosis_on_after"),
        (
            "diagnosis_on_after=2000-01-01&diagnosis_on_before=soon",
            "diagnosis_on_before",
        ),
        ("birth_year_min=many", "birth_year_min"),
        (f"birth_year_min=1900&birth_year_max={HUGE}", "birth_year_max"),
    ],
)
def test_a_range_error_names_the_bound_typed(query, parameter, calendar_api, biobank):
    response = calendar_api.get(f"/api/patients/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]


# A new list cannot forget any of this:


@pytest.mark.parametrize(("prefix", "viewset"), filtered_viewsets())
def test_every_list_reads_its_parameters_strictly(prefix, viewset):
    backends = viewset.filter_backends

    assert any(issubclass(b, StrictFilterBackend) for b in backends), prefix
    assert any(issubclass(b, StrictOrderingFilter) for b in backends), prefix
    plain = [
        b
        for b in backends
        if b in (DjangoFilterBackend, OrderingFilter)
        or not issubclass(b, (StrictFilterBackend, StrictOrderingFilter))
    ]
    assert plain == [], prefix
    assert issubclass(viewset.filterset_class, BoundedFilterSet), prefix


@pytest.mark.parametrize(("prefix", "viewset"), filtered_viewsets())
def test_every_date_moment_and_boolean_filter_is_strict(prefix, viewset):
    form = viewset.filterset_class().form
    loose = []
    for name, field in form.fields.items():
        for part in getattr(field, "fields", None) or [field]:
            if isinstance(part, forms.DateTimeField):
                strict = isinstance(part, MomentField)
            elif isinstance(part, forms.DateField):
                strict = isinstance(part, IsoDateField)
            elif isinstance(part, forms.NullBooleanField):
                strict = isinstance(part, StrictBooleanField)
            else:
                continue
            if not strict:
                loose.append(f"{prefix}?{name}")

    assert loose == []


# The schema and the documentation pages:


@pytest.fixture
def schema(api) -> dict:
    return api.get("/api/schema/?format=json").json()


def test_schema_lists_the_fields_a_list_can_be_ordered_by(schema):
    parameters = schema["paths"]["/api/patients/"]["get"]["parameters"]
    [ordering] = [p for p in parameters if p["name"] == "ordering"]

    enum = ordering["schema"]["items"]["enum"]
    assert {"pseudonym", "-pseudonym", "diagnosis_on", "-id"} <= set(enum)
    assert "source_key" not in enum
    assert "pseudonym" in ordering["description"]


def test_schema_has_no_sample_links_of_another_server(api):
    text = api.get("/api/schema/").content.decode()

    assert "example.org" not in text
    assert "URL of the next page" in text


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
@pytest.mark.attack
def test_anonymous_visitor_of_the_docs_is_sent_to_sign_in_and_back(url, client, db):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_docs_answer_a_wrong_token_with_401(url, db):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)

    assert client.get(url).status_code == 401


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_signed_in_visitor_reads_the_docs(url, client, analyst):
    client.force_login(analyst)

    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("url", "offered"),
    [
        ("/api/", "json, api"),
        ("/api/patients/", "json, api"),
        ("/api/patients/PT-A/", "json, api"),
        ("/api/patients/PT-A/timeline/", "json, api"),
        ("/api/feature-values/", "json, api"),
        ("/api/cohort-pairs/", "json, api"),
        # The schema's first renderer is YAML; the refusal is JSON all the same:
        ("/api/schema/", "yaml, json"),
        # The matrix reads format itself, as the file format:
        ("/api/cohort-matrix/", "csv, json, jsonl, parquet"),
    ],
)
def test_an_unknown_format_is_refused_with_the_formats_offered(
    api, biobank, url, offered
):
    response = api.get(url, {"format": "xyz"})

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"format": [f"Format must be one of {offered}."]}


@pytest.mark.parametrize(
    "url", ["/api/patients/?format=json", "/api/schema/?format=json"]
)
def test_a_format_offered_is_served(api, biobank, url):
    response = api.get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        ("application/json", "application/vnd.oai")
    )
