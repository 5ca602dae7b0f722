"""Read-only analyst requests go to the read replica when one is configured."""

from __future__ import annotations

from django.http import HttpResponse
from django.test import RequestFactory

from biobank.core.routers import REPLICA, ReadOnlyRequestMiddleware, ReplicaRouter
from patients.models import Patient


def route_of(method: str, path: str, replica: bool, monkeypatch) -> dict:
    monkeypatch.setattr("biobank.core.routers.replica_configured", lambda: replica)
    decided = {}

    def view(request):
        decided["read"] = ReplicaRouter().db_for_read(Patient)
        decided["write"] = ReplicaRouter().db_for_write(Patient)
        return HttpResponse()

    request = getattr(RequestFactory(), method.lower())(path)
    ReadOnlyRequestMiddleware(view)(request)
    return decided


def test_api_and_cohort_reads_go_to_the_replica(monkeypatch):
    for path in ("/api/patients/", "/cohorts/query.json"):
        decided = route_of("GET", path, True, monkeypatch)
        assert decided == {"read": REPLICA, "write": "default"}


def test_writes_admin_pages_and_unconfigured_replicas_use_the_primary(monkeypatch):
    assert route_of("POST", "/api/patients/", True, monkeypatch)["read"] is None
    assert route_of("GET", "/admin/", True, monkeypatch)["read"] is None
    assert route_of("GET", "/api/patients/", False, monkeypatch)["read"] is None


def test_outside_requests_reads_use_the_primary():
    assert ReplicaRouter().db_for_read(Patient) is None


def test_the_replica_is_never_migrated():
    router = ReplicaRouter()

    assert router.allow_migrate(REPLICA, "patients") is False
    assert router.allow_migrate("default", "patients") is True
