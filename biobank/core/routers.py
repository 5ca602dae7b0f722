"""Send the analysts' read-only requests to a PostgreSQL read replica, when one is set."""

from __future__ import annotations

import contextvars
from collections.abc import Callable

from django.db import connections
from django.http import HttpRequest, HttpResponse

REPLICA = "replica"
reading_only: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "reading_only", default=False
)

# Paths whose GET requests may read slightly stale data: the analyst API and the
# cohort queries. Pages that follow a curator's edit read the primary.
REPLICA_PATHS = ("/api/", "/cohorts/")


def replica_configured() -> bool:
    return REPLICA in connections.settings


class ReplicaRouter:
    """Reads of a read-only request go to the replica; everything else to default."""

    def db_for_read(self, model, **hints) -> str | None:
        if reading_only.get() and replica_configured():
            return REPLICA
        return None

    def db_for_write(self, model, **hints) -> str | None:
        return "default"

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The replica holds the same rows as the primary:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints) -> bool | None:
        return db != REPLICA


class ReadOnlyRequestMiddleware:
    """Mark safe requests to the analyst paths as replica reads."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        replica_read = request.method in ("GET", "HEAD") and request.path.startswith(
            REPLICA_PATHS
        )
        token = reading_only.set(replica_read)
        try:
            return self.get_response(request)
        finally:
            reading_only.reset(token)
