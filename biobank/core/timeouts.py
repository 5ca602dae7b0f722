"""Statements run under a PostgreSQL statement timeout, for a choice of plans.

A count can be made in a list's own order or in none, as the database likes; which
is faster depends on the list, and a guess that proves wrong should cost a bounded
time, not seconds (biobank.api.pagination, biobank.cohorts.query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import OperationalError, connections, transaction

T = TypeVar("T")

# PostgreSQL's error code for a statement stopped by its timeout:
QUERY_CANCELED = "57014"


def restore_statement_timeout(connection, value: str) -> None:
    """Set PostgreSQL's statement timeout for the transaction back to `value`, as
    tighten_statement_timeout returned it (as SHOW gives it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [value])


def tighten_statement_timeout(connection, seconds: float) -> str:
    """Set the statement timeout to `seconds` for the transaction, unless one as
    short or shorter is set (an operator's, kept); return the one before."""
    value = f"{max(1, round(seconds * 1000))}ms"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('statement_timeout'), set_config("
            "'statement_timeout', CASE WHEN current_setting('statement_timeout') "
            "<> '0' AND current_setting('statement_timeout')::interval <= "
            "%s::interval THEN current_setting('statement_timeout') ELSE %s END, true)",
            [value, value],
        )
        return cursor.fetchone()[0]


def within_timeout(using: str, seconds: float, call: Callable[[], T]) -> T | None:
    """Return what `call` returns, or None if a statement of it ran past `seconds`.

    PostgreSQL only; on other databases, which have no statement timeout, None at
    once, so that the caller takes its other way. Run in a savepoint, whose rollback
    undoes the timeout too; the timeout before is restored after. A shorter
    timeout set before stays, and stops `call` as soon.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    try:
        with transaction.atomic(using=using):
            previous = tighten_statement_timeout(connection, seconds)
            result = call()
            restore_statement_timeout(connection, previous)
    except OperationalError as error:
        if is_timeout(error):
            return None
        raise
    return result


def is_timeout(error: OperationalError) -> bool:
    """Whether `error` is PostgreSQL stopping a statement at its timeout."""
    return getattr(error.__cause__, "sqlstate", None) == QUERY_CANCELED
