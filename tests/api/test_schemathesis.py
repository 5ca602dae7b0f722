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


def load_schema():
    raw = SchemaGenerator().get_schema(request=None, public=True)
    schema = schemathesis.openapi.from_dict(
        json.loads(OpenApiJsonRenderer().render(raw))
    )
    schema.app = get_wsgi_application()
    return schema


schema = load_schema()
# The coverage phase sends every boundary and malformed value the schema defines (about
# 11,000 requests, most of this file's time); it runs on PostgreSQL, the production
# database, while SQLite gets the generated examples only, so that CI, which runs both
# suites, pays for it once. BIOBANK_SCHEMA_COVERAGE=1 runs it on SQLite as well.
schema.config.phases.coverage.enabled = (
    connection.vendor == "postgresql"
    or os.environ.get("BIOBANK_SCHEMA_COVERAGE") == "1"
)
reads = schema.include(method=["GET"])
writes = schema.include(method=["POST", "PUT", "PATCH", "DELETE"])


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
