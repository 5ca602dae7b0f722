"""A bounded schemathesis run: requests generated from the schema get no server error.

Each read operation gets a few generated requests (positive and negative data) signed
with a reader's token, and each write operation fewer, signed with a curator's, against
the small biobank of tests/api/conftest.py; what a run writes is rolled back with
its test.
"""

from __future__ import annotations

import json
import os

import pytest

pytestmark = pytest.mark.attack

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is a development requirement"
)

from django.core.signals import request_finished, request_started  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import close_old_connections, connection  # noqa: E402
from drf_spectacular.generators import SchemaGenerator  # noqa: E402
from drf_spectacular.renderers import OpenApiJsonRenderer  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

# Generated examples per operation: enough to hit malformed ids, ranges and choices in
# every list, small enough for the suite:
EXAMPLES = 20
# Writes are checked as a curator (a reader only ever gets 403), with fewer examples:
WRITE_EXAMPLES = 10


def load_schema(methods: list[str], coverage: bool):
    """Return the operations of `methods`, with or without the coverage phase."""
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(
        json.loads(OpenApiJsonRenderer().render(raw))
    )
    schema.app = get_wsgi_application()
    schema.config.phases.coverage.enabled = coverage
    return schema.include(method=methods)


# The coverage phase sends every boundary and malformed value the schema defines (about
# 5,000 reads and 6,000 writes, most of this file's time). CI runs the PostgreSQL and
# SQLite suites side by side, so each takes half: reads on PostgreSQL, where analysts'
# queries run in production, writes on SQLite; the generated examples run on both.
# BIOBANK_SCHEMA_COVERAGE=all runs every coverage case on either database.
ALL_COVERAGE = os.environ.get("BIOBANK_SCHEMA_COVERAGE") == "all"
ON_POSTGRESQL = connection.vendor == "postgresql"
reads = load_schema(["GET"], coverage=ALL_COVERAGE or ON_POSTGRESQL)
writes = load_schema(
    ["POST", "PUT", "PATCH", "DELETE"], coverage=ALL_COVERAGE or not ON_POSTGRESQL
)


@pytest.fixture
def open_connection():
    """Keep the test's database connection open across requests, as the test client does.

    The WSGI handler closes it after each request, which ends the test's transaction
    on PostgreSQL.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


DRAWS = {
    "deadline": None,
    "suppress_health_check": [
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
    "database": None,
    # The same generated requests on every run, so that CI stays reproducible; set
    # BIOBANK_EXPLORE=1 to draw new ones (and fix what they find).
    "derandomize": os.environ.get("BIOBANK_EXPLORE") != "1",
}


@pytest.mark.django_db
@reads.parametrize()
@settings(max_examples=EXAMPLES, **DRAWS)
def test_generated_request_gets_no_server_error(case, token, biobank, open_connection):
    case.call_and_validate(
        headers={"Authorization": f"Token {token.key}"}, checks=[not_a_server_error]
    )


@pytest.fixture
def curator_token(curator):
    from rest_framework.authtoken.models import Token

    return Token.objects.create(user=curator)


@pytest.mark.django_db
@writes.parametrize()
@settings(max_examples=WRITE_EXAMPLES, **DRAWS)
def test_generated_write_gets_no_server_error(
    case, curator_token, biobank, open_connection
):
    case.call_and_validate(
        headers={"Authorization": f"Token {curator_token.key}"},
        checks=[not_a_server_error],
    )
