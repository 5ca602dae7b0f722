"""Request IDs, structured logs, readiness, and 503 while the database is away."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError
from django.test import Client, RequestFactory

from biobank.core.logs import JsonFormatter, RequestIdFilter, console_logging
from biobank.health import server_error
from tests.conftest import REPO


@pytest.fixture
def access_log(caplog):
    caplog.set_level(logging.INFO, logger="biobank.requests")
    return caplog


def test_every_response_carries_a_request_id_that_its_log_records_share(
    client, access_log, db
):
    response = client.get("/health/")

    record = next(r for r in access_log.records if r.name == "biobank.requests")
    assert len(response["X-Request-ID"]) == 32
    assert record.request_id == response["X-Request-ID"]
    assert (record.status_code, record.path) == (200, "/health/")


@pytest.mark.attack
def test_a_proxys_request_id_is_kept_and_a_forged_one_replaced(client, db):
    kept = client.get("/health/", HTTP_X_REQUEST_ID="lb-4f2a9c71-0001")
    forged = client.get("/health/", HTTP_X_REQUEST_ID="x\nFAKE LOG LINE")

    assert kept["X-Request-ID"] == "lb-4f2a9c71-0001"
    assert forged["X-Request-ID"] != "x\nFAKE LOG LINE"
    assert forged["X-Request-ID"].isalnum()


def test_djangos_log_line_of_a_failed_request_carries_its_request_id(client, db):
    # django.request logs a 404 after the middleware has returned it; the line is
    # written through the handler the settings configure:
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    django_request = logging.getLogger("django.request")
    django_request.addHandler(handler)
    try:
        response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lb-4f2a9c71-0002")
    finally:
        django_request.removeHandler(handler)

    entries = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert response.status_code == 404
    assert [entry["message"] for entry in entries] == ["Not Found: /no-such-page/"]
    assert entries[0]["request_id"] == response["X-Request-ID"] == "lb-4f2a9c71-0002"


def test_json_log_lines_hold_the_request_id():
    record = logging.LogRecord(
        "biobank", logging.ERROR, __file__, 1, "import %s failed", ("x.csv",), None
    )
    RequestIdFilter().filter(record)

    entry = json.loads(JsonFormatter().format(record))

    assert entry["message"] == "import x.csv failed"
    assert entry["request_id"] == "-"
    assert entry["level"] == "ERROR"


@pytest.mark.parametrize("path", ["/health/", "/ready/", "/health", "/ready"])
def test_probes_by_a_host_outside_allowed_hosts_are_answered_without_an_error_line(
    client, access_log, db, settings, path
):
    # A load balancer probes each node by its address, over plain HTTP:
    settings.SECURE_SSL_REDIRECT = True
    access_log.set_level(logging.INFO, logger="django.security")

    response = client.get(path, HTTP_HOST="10.20.30.40", HTTP_X_REQUEST_ID="lb-probe-1")

    assert response.status_code == 200
    assert response["X-Request-ID"] == "lb-probe-1"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert [(r.name, r.status_code) for r in access_log.records] == [
        ("biobank.requests", 200)
    ]


def test_other_pages_still_refuse_a_host_outside_allowed_hosts(client, db):
    response = client.get("/accounts/login/", HTTP_HOST="10.20.30.40")

    assert response.status_code == 400


def test_ready_checks_the_database_and_the_storage(client, db, settings, tmp_path):
    ok = client.get("/ready/")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the storage folder should be")
    settings.BIOBANK_STORAGE_ROOT = blocker
    storage_down = client.get("/ready/")

    assert (ok.status_code, ok.json()["checks"]) == (
        200,
        {"database": "ok", "storage": "ok"},
    )
    assert storage_down.status_code == 503
    assert storage_down.json()["checks"]["storage"].startswith("failed")


def test_ready_leaves_another_probes_file_alone(client, db, settings, tmp_path):
    settings.BIOBANK_STORAGE_ROOT = tmp_path
    # Another worker's or node's probe, written and not yet removed:
    other = tmp_path / ".ready-probe"
    other.write_text("ok")

    response = client.get("/ready/")

    assert response.status_code == 200
    assert other.exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == [".ready-probe"]


def test_ready_is_503_when_the_database_does_not_answer(client, db, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection failed: Connection refused")

    monkeypatch.setattr(
        "biobank.health.connections",
        {"default": type("Down", (), {"cursor": refuse})()},
    )
    response = client.get("/ready/")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed: OperationalError"


@pytest.mark.urls("tests.biobank.failing_urls")
def test_a_lost_database_is_a_503_and_a_bad_query_stays_a_500(db):
    client = Client(raise_request_exception=False)

    page = client.get("/lost/")
    api = client.get("/api/lost/")
    bug = client.get("/bad/")

    assert (page.status_code, page["Retry-After"]) == (503, "5")
    assert "database is unavailable" in page.content.decode()
    assert api.json() == {
        "detail": "The database is unavailable; try again in a moment."
    }
    assert bug.status_code == 500


def test_the_error_handler_answers_503_for_failures_outside_views(db):
    request = RequestFactory().get("/patients/")
    try:
        raise OperationalError("server closed the connection unexpectedly")
    except OperationalError:
        lost = server_error(request)
    try:
        raise ValueError("a bug")
    except ValueError:
        bug = server_error(request)

    assert lost.status_code == 503
    assert bug.status_code == 500


def test_a_log_format_other_than_text_or_json_stops_start_up():
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be text or json"):
        console_logging("JSON")


def test_the_wsgi_application_loads_every_view_when_the_server_starts():
    """Not in a worker's first request, which would wait seconds for pandas and SciPy."""
    loaded = subprocess.run(  # noqa: S603 -- our own interpreter, fixed arguments
        [
            sys.executable,
            "-c",
            "import sys, biobank.wsgi; from django.db import connections; "
            "print('biobank.browse.views' in sys.modules, "
            "'biobank.cohorts.views' in sys.modules, "
            # gunicorn forks its workers after loading (preload_app): no connection
            # may be open by then, or the workers would share it.
            "all(c.connection is None for c in connections.all()))",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == ["True", "True", "True"]
