"""The OpenAPI contract: a valid schema covering every endpoint, docs served offline."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

from tests.api.test_endpoints import ENDPOINTS


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
