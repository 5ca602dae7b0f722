"""Liveness, readiness and the error page that tells a missing database from a bug."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable

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


class ProbeMiddleware:
    """Answer /health/ and /ready/ before anything reads the Host header.

    A load balancer probes each node by its address, which ALLOWED_HOSTS need not
    list; Django would answer such a probe 400 and log a DisallowedHost traceback
    each time, so a healthy node would fail its probes and flood the log. Neither
    answer builds a URL from the host or depends on it, so the host check protects
    nothing here. Placed after RequestIdMiddleware (each probe keeps its request ID
    and access line) and SecurityMiddleware (which exempts both paths from the HTTPS
    redirect, the only place it reads the host), before everything else.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        # Without the slash too: the redirect to it would read the host.
        self.probes = {"/health": health, "/ready": ready}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = self.probes.get(request.path_info.removesuffix("/"))
        if probe is None:
            return self.get_response(request)
        return probe(request)


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
        # A file of its own: probes at once (several workers, nodes sharing the
        # storage) unlinked each other's one fixed file and answered 503.
        with tempfile.NamedTemporaryFile(dir=root, prefix=".ready-probe-") as probe:
            probe.write(b"ok")
            probe.flush()
    except OSError as exc:
        return f"failed: {exc.strerror or type(exc).__name__}"
    return "ok"
