"""Log every export and cohort download; streamed ones when their stream ends."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sized
from typing import TypeVar

from django.db import connections, router, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from biobank.api.access import project_codes_for
from biobank.core.logs import request_id
from biobank.exports.models import ExportRecord
from patients.models import Project

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Frame = TypeVar("Frame", bound=Sized)
PATH_LENGTH = ExportRecord._meta.get_field("path").max_length


def export_projects(user, pairs: QuerySet, project_code: str = "") -> set[int | None]:
    """Return the ids of the projects whose rows `pairs` (today's pairs) holds.

    An export without rows stands for the projects it could have held: those the
    user may read, narrowed to `project_code` when the cohort names one, so that
    an empty export asks the same role as a full one. Frozen rows have their own
    rule (saved.frozen_projects).
    """
    return projects_named(user, pairs.order_by().values("project_code"), project_code)


def projects_named(user, codes, project_code: str = "") -> set[int | None]:
    """Return the ids of the projects among `codes` (a query or a collection).

    Every project a code names counts, whether the user may read it or not, so that
    the strictest role among the rows decides their dates; a code no project has
    now stands as None, which allows no calendar dates (may_see_calendar). Without
    any code, the projects the export could have held (see export_projects).
    """
    if isinstance(codes, QuerySet):
        # NB: today's pairs read their code through the patient's project, so
        # every code of the query names a project.
        found = set(Project.objects.filter(code__in=codes).values_list("pk", flat=True))
        if found:
            return found
        return _projects_readable(user, project_code)

    # A page's codes: compared with the reader's projects as read for the page.
    codes = set(codes)
    if not codes:
        return _projects_readable(user, project_code)
    readable_codes = project_codes_for(user)
    found: set[int | None] = {
        pk for pk, code in readable_codes.items() if code in codes
    }
    unread = codes - set(readable_codes.values())
    if unread:
        others = dict(Project.objects.filter(code__in=unread).values_list("code", "pk"))
        found |= {others.get(code) for code in unread}
    return found


def _projects_readable(user, project_code: str) -> set[int]:
    readable_codes = project_codes_for(user)
    return {
        pk
        for pk, code in readable_codes.items()
        if not project_code or code.upper() == project_code.upper()
    }


def commit_without_waiting_for_disk(using: str) -> None:
    """Let the open transaction's commit return before PostgreSQL has flushed it to disk.

    For a record of its own transaction only: on PostgreSQL the request waited about
    4 ms (of 45 to 165 ms at 100,000 patients, BENCHMARKS.md) for the disk after
    every page of /api/cohort-pairs/. The record is stored and visible before the
    first row goes out, as before; what is given up is its survival of a crash of
    the database server within about 0.6 s of the commit (three times PostgreSQL's
    wal_writer_delay), which loses the last transactions whole, never part of one
    (PostgreSQL's "Asynchronous Commit"). The log line of each record
    (biobank.exports.audit) still names it. Nothing happens on other databases.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def start_export(
    request: HttpRequest,
    kind: str,
    *,
    definition: dict,
    fmt: str,
    date_mode: str,
    projects: Iterable[int | Project | None],
    **finished,
) -> ExportRecord:
    """Record an export as started, before its first row goes out.

    Two queries: the record and its projects, committed together (each committed on
    its own, the request waited for the disk twice: some 4 ms each on the benchmark's
    machine). Inside a caller's transaction, part of it, without a savepoint.
    """
    user = request.user
    Link = ExportRecord.projects.through
    using = router.db_for_write(ExportRecord)
    owns_transaction = not connections[using].in_atomic_block
    with transaction.atomic(using=using, savepoint=False):
        if owns_transaction:
            commit_without_waiting_for_disk(using)
        record = ExportRecord.objects.create(
            user=user if user.is_authenticated else None,
            username=user.get_username(),
            kind=kind,
            path=request.get_full_path()[:PATH_LENGTH],
            request_id=request_id.get(),
            definition=definition,
            format=fmt,
            date_mode=date_mode,
            **finished,
        )
        # One insert, where projects.set() would read the (empty) links first. A
        # project not known (None: rows whose project could not be matched) has
        # no link to keep; the record's definition still names what was exported.
        Link.objects.bulk_create(
            Link(exportrecord=record, project_id=getattr(project, "pk", project))
            for project in projects
            if project is not None
        )
    if record.status == ExportRecord.Status.STARTED:
        # Before the first row goes out: the log names a stream whose record a crash
        # of the database server could lose (commit_without_waiting_for_disk).
        logger.info("Export %s started: %s", record.pk, record.kind)
    return record


def record_export(
    request: HttpRequest, kind: str, *, rows: int, **details
) -> ExportRecord:
    """Record an export answered in one piece (a page, a JSON answer) as complete."""
    record = start_export(
        request,
        kind,
        status=ExportRecord.Status.COMPLETE,
        row_count=rows,
        finished_at=timezone.now(),
        **details,
    )
    logger.info("Export %s complete with %s rows", record.pk, rows)
    return record


def finish_export(record: ExportRecord, status: str, rows: int) -> None:
    record.status = status
    record.row_count = rows
    record.finished_at = timezone.now()
    record.save(update_fields=["status", "row_count", "finished_at"])
    logger.info("Export %s %s with %s rows", record.pk, status, rows)


class RowCounter:
    """Count the rows of a stream as the writer finishes with them."""

    def __init__(self) -> None:
        self.count = 0

    def frames(self, frames: Iterable[Frame]) -> Iterator[Frame]:
        """Yield `frames` (any sized chunks), counting each once the next is asked for."""
        for frame in frames:
            yield frame
            self.count += len(frame)

    def whole(self, blocks: Iterable[Item], rows: int) -> Iterator[Item]:
        """Yield the blocks of a file of `rows` rows, counted once all are handed out."""
        yield from blocks
        self.count = rows

    def rows(self, rows: Iterable[Item]) -> Iterator[Item]:
        for row in rows:
            yield row
            self.count += 1


class AuditedStream:
    """The blocks of a streamed response, completing its export record at the end.

    Django closes a streaming response's content when the response is done with,
    also when the client disconnects before the end or before the first block: the
    record then says interrupted, with the rows counted so far. An error in the
    stream marks it failed.
    """

    def __init__(
        self, blocks: Iterable[bytes], record: ExportRecord, counter: RowCounter
    ) -> None:
        self._blocks = iter(blocks)
        self._record = record
        self._counter = counter
        self._is_finished = False

    def __iter__(self) -> AuditedStream:
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._blocks)
        except StopIteration:
            self._finish(ExportRecord.Status.COMPLETE)
            raise
        except BaseException:
            self._finish(ExportRecord.Status.FAILED)
            raise

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
        self._finish(ExportRecord.Status.INTERRUPTED)

    def _finish(self, status: str) -> None:
        if self._is_finished:
            return
        self._is_finished = True
        finish_export(self._record, status, self._counter.count)
