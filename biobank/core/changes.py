"""Notice committed writes to the records the dashboard counts.

Every statement Django sends passes through `track_writes` (installed on each new
connection by BiobankConfig.ready). An INSERT, UPDATE, DELETE or TRUNCATE of a counted
table raises the one DataGeneration row once the transaction commits; the stored
counts of biobank.browse.counts are stale when their generation is another. Writes
that bypass Django's cursor wrapper (COPY) call `data_changed` themselves.

Why the SQL and not model signals: bulk_create, QuerySet.update and COPY send no
signals, and a post_delete receiver on a table of millions of rows would make Django
fetch every row of a cascade to send it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache, partial

from django.db import DEFAULT_DB_ALIAS, connections, transaction

# The statement's verb and first table, as Django's compilers and flush() write them:
WRITE = re.compile(
    r'\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|TRUNCATE(?:\s+TABLE)?)\s+"?(\w+)"?',
    re.IGNORECASE,
)


@cache
def counted_tables() -> frozenset[str]:
    """The tables whose rows biobank.browse.counts counts or reads a condition from."""
    from liquidbiopsy.models import (
        BloodSample,
        CfDNAAssay,
        CirculatingRNAResult,
        CTCCount,
        VariantResult,
    )
    from patients.models import Patient, Project
    from radiomics.models import (
        FeatureExtraction,
        ImageSeries,
        ImagingStudy,
        Segmentation,
    )

    models = [Project, Patient, ImagingStudy, ImageSeries, Segmentation]
    models += [FeatureExtraction, BloodSample, CTCCount, CfDNAAssay]
    models += [CirculatingRNAResult, VariantResult]
    return frozenset(model._meta.db_table for model in models)


# A running extraction updates its progress and status every few seconds, which
# changes no count; only these columns of it decide where it is counted:
EXTRACTION_LINKS = re.compile(r'"(?:patient_id|segmentation_id)"\s*=')


def _writes_counted_rows(sql: str) -> bool:
    found = WRITE.match(sql)
    if found is None:
        return False
    table = found.group(1)
    verb = sql.lstrip()[:8].upper()
    if verb.startswith("TRUNCATE"):
        return True
    if table not in counted_tables():
        return False
    if verb.startswith("UPDATE") and table.endswith("_featureextraction"):
        set_clause = re.split(r"\sWHERE\s", sql, maxsplit=1, flags=re.IGNORECASE)[0]
        return EXTRACTION_LINKS.search(set_clause) is not None
    return True


def track_writes(execute, sql, params, many, context):
    """A connection execute wrapper: note writes to the counted tables."""
    result = execute(sql, params, many, context)
    if isinstance(sql, str) and _writes_counted_rows(sql):
        data_changed(context["connection"].alias)
    return result


def install(sender, connection, **kwargs) -> None:
    """connection_created receiver: wrap the new connection's statements."""
    if track_writes not in connection.execute_wrappers:
        connection.execute_wrappers.append(track_writes)


def data_changed(using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise the generation once the current transaction commits (now, outside one).

    Within a transaction the raise waits for the commit, so that no reader counts
    the old rows under the new number; it is registered once per transaction.
    """
    connection = connections[using]
    if not connection.in_atomic_block:
        _raise_generation(using)
    elif not writes_pending(using):
        transaction.on_commit(_raiser(using), using=using)


def writes_pending(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether this connection's open transaction wrote counted rows not yet committed.

    Read from Django's list of on-commit callbacks (a savepoint rolled back drops
    its own), since Django offers no hook on a rollback.
    """
    connection = connections[using]
    raiser = _raiser(using)
    return connection.in_atomic_block and any(
        raiser in entry for entry in connection.run_on_commit
    )


def current_generation(using: str = DEFAULT_DB_ALIAS) -> int:
    from biobank.models import DataGeneration

    value = DataGeneration.objects.using(using).values_list("value", flat=True).first()
    return value or 0


def _raise_generation(using: str) -> None:
    """Add one to the generation, creating its row at the first write (or a flush).

    Plain statements with no transaction of their own: called in autocommit mode
    right after the write, an SQLite INSERT ... RETURNING may still be open, and a
    COMMIT then would fail.
    """
    from biobank.models import DataGeneration

    connection = connections[using]
    table = connection.ops.quote_name(DataGeneration._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET value = value + 1")  # noqa: S608
        if not cursor.rowcount:
            # A concurrent first writer may have created the row meanwhile:
            cursor.execute(
                f"INSERT INTO {table} (id, value) VALUES (1, 1) "  # noqa: S608
                "ON CONFLICT (id) DO NOTHING"
            )


@cache
def _raiser(using: str) -> Callable[[], None]:
    """One callable per database alias, so that a pending raise can be found again."""
    return partial(_raise_generation, using)
