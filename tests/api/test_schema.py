"""The OpenAPI contract: a valid schema covering every endpoint, docs served offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator

from biobank.cohorts.forms import MAX_WINDOW_DAYS
from tests.api.test_endpoints import ENDPOINTS, record_of


@pytest.fixture
def schema(api) -> dict:
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    validate_schema(schema)

    assert schema["openapi"].startswith("3.")


def test_schema_generates_without_warnings(tmp_path, db):
    # --fail-on-warn turns every guessed type or unresolved filter into an error:
    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yaml"),
    )

    assert "/api/variants/" in (tmp_path / "schema.yaml").read_text()


def test_schema_covers_every_list_detail_and_nested_view(schema):
    paths = set(schema["paths"])

    for endpoint, _ in ENDPOINTS:
        assert f"/api/{endpoint}/" in paths
        assert f"/api/{endpoint}/{{id}}/" in paths
    assert "/api/patients/{id}/timeline/" in paths
    assert "/api/cohort-pairs/" in paths


def test_schema_documents_the_filters_and_cursor(schema):
    parameters = {
        parameter["name"]
        for parameter in schema["paths"]["/api/variants/"]["get"]["parameters"]
    }

    assert {"gene", "variant", "call", "vaf_min", "vaf_max", "cursor"} <= parameters
    assert "page" not in parameters


def test_schema_describes_a_cohort_pair_s_two_sample_ids(schema):
    pair = schema["components"]["schemas"]["CohortPair"]

    fields = list(pair["properties"])
    assert fields.index("lab_sample_id") == fields.index("sample_id") + 1
    assert "lab_sample_id" in pair["required"]
    described = pair["properties"]["lab_sample_id"]["description"]
    assert "external_sample_id, e.g. LB45707-01" in described
    assert "each date written in it reads [date]" in described
    assert "database id" in pair["properties"]["sample_id"]["description"]


def test_schema_shows_a_variants_dbsnp_id_as_read_only(schema):
    components = schema["components"]["schemas"]
    shown = components["VariantResult"]["properties"]["dbsnp_id"]
    writes = ("VariantResultRequest", "PatchedVariantResultRequest")

    assert shown["readOnly"] is True
    assert "MAF (dbSNP_RS) or VCF (ID)" in shown["description"]
    # No write takes it:
    assert all("dbsnp_id" not in components[name]["properties"] for name in writes)


@pytest.mark.parametrize("path", ["/api/variants/", "/api/cohort-pairs/"])
def test_schema_says_which_variants_the_variant_filter_refuses(schema, path):
    [variant] = [
        parameter
        for parameter in schema["paths"][path]["get"]["parameters"]
        if parameter["name"] == "variant"
    ]

    assert "a build no variant is stored in" in variant["description"]
    assert "that no variant you may read carries" in variant["description"]


def test_schema_says_how_to_sign_in(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["tokenAuth"]["type"] == "apiKey"
    assert schemes["cookieAuth"]["in"] == "cookie"


@pytest.mark.parametrize(
    ("url", "asset"),
    [
        ("/api/docs/", "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"),
        ("/api/redoc/", "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"),
    ],
)
def test_docs_pages_load_their_scripts_from_the_package(url, asset, client, analyst):
    client.force_login(analyst)

    page = client.get(url).content.decode()

    assert f"/static/{asset}" in page
    assert finders.find(asset) is not None
    # No script or style sheet from another host:
    external = re.findall(r'(?:src|href)="(?:https?:)?//[^"]+"', page)
    assert external == []


@pytest.mark.attack
def test_docs_pages_need_sign_in(client, db):
    # An anonymous browser is sent to sign in (tests/api/test_strict_params.py):
    assert client.get("/api/docs/").status_code == 302
    assert client.get("/api/redoc/").status_code == 302


def json_schema(schema: object) -> object:
    """Return an OpenAPI 3.0 schema as JSON Schema: `nullable` as a null type, and an
    object of listed properties closed to others, so that a key the schema does not
    name fails as a missing one does."""
    if isinstance(schema, list):
        return [json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    converted = {name: json_schema(value) for name, value in schema.items()}
    if "properties" in converted and "additionalProperties" not in converted:
        converted["additionalProperties"] = False
    if converted.pop("nullable", False):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def dated_reads(schema: dict) -> dict[str, dict]:
    """Return the reads whose schema lists `dates`, by path."""
    return {
        path: operations["get"]
        for path, operations in schema["paths"].items()
        if "get" in operations
        and "dates" in {p["name"] for p in operations["get"].get("parameters", [])}
    }


def read_urls(schema: dict, biobank, api) -> dict[str, str]:
    """Return per read of the schema a URL of it that returns records of the biobank."""
    saved = api.post(
        "/api/saved-cohorts/",
        {"name": "schema", "query": {"window_days": 3650}},
        format="json",
    )
    assert saved.status_code == 201, saved.content[:500]
    urls = {
        "/api/cohort-pairs/": "/api/cohort-pairs/?window_days=3650",
        "/api/patients/{id}/timeline/": f"/api/patients/{biobank.a.patient.pk}/timeline/",
        "/api/saved-cohorts/{id}/versions/{number}/members/": (
            f"/api/saved-cohorts/{saved.json()['id']}/versions/1/members/"
        ),
        # NB: one version, so its diff has no pairs whose dates the modes rewrite:
        "/api/saved-cohorts/{id}/diff/": f"/api/saved-cohorts/{saved.json()['id']}/diff/",
    }
    for endpoint, _ in ENDPOINTS:
        urls[f"/api/{endpoint}/"] = f"/api/{endpoint}/"
        urls[f"/api/{endpoint}/{{id}}/"] = (
            f"/api/{endpoint}/{record_of(biobank, endpoint).pk}/"
        )
    return urls


# Dated reads whose answers are no JSON rows: tests/api/test_matrix.py and
# test_saved_cohort_dates.py check their columns in each mode.
MATRICES = {"/api/cohort-matrix/", "/api/saved-cohorts/{id}/versions/{number}/matrix/"}


def test_schema_lists_dates_on_every_read_that_honours_it(
    schema, biobank, calendar_api
):
    urls = read_urls(schema, biobank, calendar_api)
    documented = set(dated_reads(schema))

    for path, url in urls.items():
        separator = "&" if "?" in url else "?"
        response = calendar_api.get(f"{url}{separator}dates=someday")
        honoured = response.status_code == 400 and "dates" in response.json()
        assert honoured == (path in documented), (path, response.status_code)
    assert documented - set(urls) == MATRICES


@pytest.mark.parametrize("mode", ["calendar", "shifted", "relative"])
def test_every_dated_read_answers_as_its_schema_says_in_each_date_mode(
    mode, schema, biobank, calendar_api
):
    urls = read_urls(schema, biobank, calendar_api)
    components = json_schema(schema["components"])

    for path, read in dated_reads(schema).items():
        if path in MATRICES:
            continue
        separator = "&" if "?" in urls[path] else "?"
        response = calendar_api.get(f"{urls[path]}{separator}dates={mode}")
        assert response.status_code == 200, (path, response.content[:300])
        body = response.json()
        rows = body.get("results", [body]) if isinstance(body, dict) else body
        assert rows, path  # some rows to check
        answer = read["responses"]["200"]["content"]["application/json"]["schema"]
        validator = Draft202012Validator(
            {**json_schema(answer), "components": components}
        )
        errors = [error.message for error in validator.iter_errors(body)]
        assert not errors, (path, mode, errors[:3])


def test_every_dated_read_declares_its_errors(schema, biobank, api):
    urls = read_urls(schema, biobank, api)
    error = {"$ref": "#/components/schemas/Error"}

    for path, read in dated_reads(schema).items():
        declared = {
            code: answer["content"]["application/json"]["schema"]
            for code, answer in read["responses"].items()
            if code != "200"
        }
        assert {"400", "403"} <= set(declared), path
        if path not in MATRICES:
            # A viewer asking for calendar dates:
            separator = "&" if "?" in urls[path] else "?"
            refused = api.get(f"{urls[path]}{separator}dates=calendar")
            assert refused.status_code == 403, path
            Draft202012Validator(
                {**error, "components": json_schema(schema["components"])}
            ).validate(refused.json())
    pairs = schema["paths"]["/api/cohort-pairs/"]["get"]["responses"]
    assert "404" in pairs  # a page past the last one
    assert api.get("/api/cohort-pairs/?page=99").status_code == 404


def test_schema_gives_the_cohort_filters_bounds_the_server_enforces(schema):
    parameters = {
        parameter["name"]: parameter["schema"]
        for parameter in schema["paths"]["/api/cohort-pairs/"]["get"]["parameters"]
    }

    assert parameters["window_days"]["minimum"] == 0
    assert parameters["window_days"]["maximum"] == MAX_WINDOW_DAYS
    assert parameters["min_ctc"]["minimum"] == 0
    query = schema["components"]["schemas"]["CohortQueryRequest"]["properties"]
    assert query["window_days"]["maximum"] == MAX_WINDOW_DAYS
