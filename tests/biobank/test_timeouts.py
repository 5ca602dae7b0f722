"""Statements under a statement timeout (biobank.core.timeouts)."""

from __future__ import annotations

import pytest
from django.db import OperationalError, connection, transaction

from biobank.core.timeouts import within_timeout

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="a statement timeout is PostgreSQL's"
)


def fetch(sql: str):
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchone()


@postgresql_only
def test_a_statement_past_the_timeout_gives_none_and_the_timeout_before_stays():
    with transaction.atomic():
        fetch("SELECT set_config('statement_timeout', '7s', true)")

        stopped = within_timeout("default", 0.02, lambda: fetch("SELECT pg_sleep(5)"))
        done = within_timeout("default", 5, lambda: fetch("SELECT 1"))

        assert stopped is None
        assert done == (1,)
        assert fetch("SHOW statement_timeout") == ("7s",)


@postgresql_only
def test_a_shorter_timeout_set_before_stays():
    with transaction.atomic():
        fetch("SELECT set_config('statement_timeout', '20ms', true)")

        stopped = within_timeout("default", 5, lambda: fetch("SELECT pg_sleep(1)"))

        assert stopped is None
        assert fetch("SHOW statement_timeout") == ("20ms",)


@postgresql_only
def test_other_database_errors_pass_through():
    with pytest.raises(OperationalError, match="disk full"):
        within_timeout("default", 5, lambda: raise_(OperationalError("disk full")))


@pytest.mark.skipif(connection.vendor == "postgresql", reason="for other databases")
def test_without_a_statement_timeout_nothing_runs():
    calls = []

    assert within_timeout("default", 5, lambda: calls.append(1)) is None
    assert calls == []


def raise_(error: Exception):
    raise error
