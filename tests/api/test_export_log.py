"""The export log: every export path leaves a record with its user, definition and rows."""

from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.core.signals import request_finished
from django.db import close_old_connections, connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIRequestFactory, force_authenticate

from biobank.api.matrix import CohortMatrixView
from biobank.exports.admin import ExportRecordAdmin
from biobank.exports.audit import record_export
from biobank.exports.models import ExportRecord
from patients.models import Project
from tests.conftest import grant

pytestmark = pytest.mark.usefixtures("renewed_consent")

Status = ExportRecord.Status
Kind = ExportRecord.Kind


def drain(response) -> bytes:
    assert response.status_code == 200, response.content[:500]
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def served(user, url: str):
    """Return the matrix view's response as a server gets it, not yet sent."""
    request = APIRequestFactory().get(url)
    force_authenticate(request, user)
    return CohortMatrixView.as_view()(request)


def leave(response) -> None:
    """Close the response as a server does when its client disconnects.

    The signal that closes the database connection after a request is held off, as
    the test client does, since the test's transaction lives on that connection.
    """
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)


def only_record() -> ExportRecord:
    (record,) = ExportRecord.objects.all()
    return record


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_a_matrix_download_is_logged_with_its_rows(fmt, api, analyst, project, biobank):
    drain(api.get(f"/api/cohort-matrix/?genes=EGFR&window_days=14&format={fmt}"))

    record = only_record()
    assert record.kind == Kind.MATRIX
    assert (record.user, record.username) == (analyst, "analyst")
    assert (record.format, record.date_mode) == (fmt, "shifted")
    assert (record.status, record.row_count) == (Status.COMPLETE, 2)
    assert record.definition["query"] == {"window_days": 14, "mode": "all"}
    assert record.definition["matrix"]["genes"] == ["EGFR"]
    assert list(record.projects.all()) == [project]
    assert record.finished_at >= record.started_at


def test_a_stream_is_written_to_the_log_before_its_first_row(analyst, biobank, caplog):
    caplog.set_level("INFO", logger="biobank.exports.audit")
    response = served(analyst, "/api/cohort-matrix/?format=csv")

    # Started, in the log too, before any block is sent:
    record = only_record()
    assert record.status == Status.STARTED
    assert f"Export {record.pk} started: matrix" in caplog.messages
    drain(response)


def test_a_matrix_download_left_early_is_logged_as_interrupted(analyst, biobank):
    response = served(analyst, "/api/cohort-matrix/?format=json")
    blocks = iter(response.streaming_content)

    next(blocks)
    leave(response)

    # The one chunk was not finished with when the client left:
    record = only_record()
    assert (record.status, record.row_count) == (Status.INTERRUPTED, 0)


def test_a_download_closed_before_its_first_byte_is_logged_as_interrupted(
    analyst, biobank
):
    response = served(analyst, "/api/cohort-matrix/?format=parquet")

    leave(response)

    record = only_record()
    assert (record.status, record.row_count) == (Status.INTERRUPTED, 0)


def test_a_download_failing_midway_is_logged_as_failed(api, biobank, monkeypatch):
    def broken(frame):
        raise RuntimeError("disk full")

    monkeypatch.setattr("biobank.cohorts.matrix._as_text", broken)
    response = api.get("/api/cohort-matrix/?format=csv")

    with pytest.raises(RuntimeError):
        b"".join(response.streaming_content)

    assert only_record().status == Status.FAILED


def test_the_pairs_csv_is_logged_with_its_rows(client, analyst, biobank):
    client.force_login(analyst)

    content = drain(client.get("/cohorts/", {"format": "csv", "gene": "EGFR"}))

    record = only_record()
    assert (record.kind, record.format, record.status) == (
        Kind.PAIRS_CSV,
        "csv",
        Status.COMPLETE,
    )
    assert record.row_count == len(content.splitlines()) - 1 == 1
    assert record.definition["query"]["gene"] == "EGFR"


def test_the_pairs_json_and_api_pages_are_logged_with_their_rows(
    client, api, analyst, biobank
):
    client.force_login(analyst)

    drain(client.get("/cohorts/query.json", {"limit": 1}))
    drain(api.get("/api/cohort-pairs/"))

    json_record, api_record = ExportRecord.objects.order_by("id")
    assert (json_record.kind, json_record.row_count) == (Kind.PAIRS_JSON, 1)
    assert json_record.definition["limit"] == 1
    assert (api_record.kind, api_record.row_count) == (Kind.PAIRS_API, 2)


def test_the_analysis_page_is_logged_with_the_pairs_analysed(client, analyst, biobank):
    client.force_login(analyst)

    drain(client.get("/cohorts/analysis/", {"features": "original_firstorder_Mean"}))

    record = only_record()
    # Its box plot names each pair by dates, a viewer's shifted:
    assert (record.kind, record.row_count, record.date_mode) == (
        Kind.ANALYSIS,
        2,
        "shifted",
    )


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_saved_cohort_version_download_is_logged(fmt, api, analyst, project, biobank):
    grant(analyst, project, "curator")
    created = api.post("/api/saved-cohorts/", {"name": "logged"}, format="json")
    assert created.status_code == 201, created.content[:300]
    version = f"/api/saved-cohorts/{created.json()['id']}/versions/1"

    drain(api.get(f"{version}/matrix/?format={fmt}"))
    drain(api.get(f"{version}/members/"))

    matrix, members = ExportRecord.objects.order_by("id")
    assert (matrix.kind, matrix.format, matrix.date_mode) == (
        Kind.SAVED_MATRIX,
        fmt,
        "calendar",
    )
    assert (matrix.status, matrix.row_count) == (Status.COMPLETE, 2)
    assert matrix.definition["version"] == 1
    assert (members.kind, members.row_count) == (Kind.SAVED_MEMBERS, 2)


def admin_records(user) -> list[ExportRecord]:
    request = RequestFactory().get("/admin/exports/exportrecord/")
    request.user = user
    model_admin = ExportRecordAdmin(ExportRecord, site)
    if not model_admin.has_view_permission(request):
        return []
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    return list(model_admin.get_queryset(request))


def test_the_log_is_shown_to_site_admins_and_the_projects_managers(
    api, analyst, project, biobank, django_user_model
):
    drain(api.get("/api/cohort-matrix/"))
    other = Project.objects.create(code="other", name="Other")
    manager = grant(
        django_user_model.objects.create_user("manager"), project, "manager"
    )
    elsewhere = grant(
        django_user_model.objects.create_user("elsewhere"), other, "manager"
    )
    admin = django_user_model.objects.create_superuser("root")

    assert admin_records(admin) == [only_record()]
    assert admin_records(manager) == [only_record()]
    assert admin_records(elsewhere) == []
    assert admin_records(analyst) == []


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="asynchronous commit is PostgreSQL's"
)


def record_one(user) -> list[str]:
    """Record an export of `user`; return the statements it ran."""
    request = RequestFactory().get("/api/cohort-pairs/?gene=EGFR")
    request.user = user
    with CaptureQueriesContext(connection) as statements:
        record_export(
            request,
            Kind.PAIRS_API,
            rows=3,
            definition={"query": {"gene": "EGFR"}},
            fmt="json",
            date_mode="calendar",
            projects=[],
        )
    return [statement["sql"] for statement in statements.captured_queries]


def show_synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_record_of_its_own_commits_without_waiting_for_the_disk(django_user_model):
    user = django_user_model.objects.create_user("asyncreader")

    statements = record_one(user)

    first_insert = next(
        number for number, sql in enumerate(statements) if sql.startswith("INSERT")
    )
    assert "SET LOCAL synchronous_commit TO OFF" in statements[:first_insert]
    # For that transaction only: the connection's next ones wait for the disk again.
    assert show_synchronous_commit() == "on"
    assert only_record().row_count == 3


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_record_inside_a_callers_transaction_leaves_its_commit_as_it_was(
    django_user_model,
):
    user = django_user_model.objects.create_user("syncreader")

    with transaction.atomic():
        statements = record_one(user)
        setting = show_synchronous_commit()

    assert not [sql for sql in statements if "synchronous_commit" in sql]
    assert setting == "on"
    assert only_record().row_count == 3
