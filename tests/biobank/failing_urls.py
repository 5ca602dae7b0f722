"""Views that fail the ways a lost database and a bug fail, for the serving tests."""

from __future__ import annotations

from django.db import OperationalError
from django.urls import path


def lost_connection(request):
    raise OperationalError("connection failed: Connection refused")


def bad_query(request):
    raise OperationalError("no such table: missing_table")


urlpatterns = [
    path("lost/", lost_connection),
    path("api/lost/", lost_connection),
    path("bad/", bad_query),
]
