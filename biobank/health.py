"""Liveness, readiness and the error page that tells a missing database from a bug."""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.defaults import server_error as django_server_error

from biobank.core.middleware import is_connection_failure, unavailable_response


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. It touches nothing else, so it stays cheap."""
    return JsonResponse({"status": "ok"})


@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database answers and the storage root is writable.

    A load balancer sends traffic only to nodes that answer 200 here.
    """
    checks = {"database": _database_ok(), "storage": _storage_ok()}
    ready_now = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready_now else "unavailable", "checks": checks},
        status=200 if ready_now else 503,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a 503 when the database is away (from any middleware), else Django's."""
    if is_connection_failure(sys.exc_info()[1]):
        return unavailable_response(request)
    return django_server_error(request)


def _database_ok() -> str:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 -- any failure means "not ready"
        return f"failed: {type(exc).__name__}"
    return "ok"


def _storage_ok() -> str:
    root = settings.BIOBANK_STORAGE_ROOT
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / ".ready-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        return f"failed: {exc.strerror or type(exc).__name__}"
    return "ok"
