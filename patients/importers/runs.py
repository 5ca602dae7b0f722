"""The ImportRun and DataIssue rows that record one all-or-nothing import of a file."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import (
    IntegrityError,
    InterfaceError,
    OperationalError,
    connection,
    transaction,
)
from django.db.models import ProtectedError
from django.utils import timezone

from biobank.core.connections import (
    ImportCutOff,
    is_connection_failure,
    written_once_back,
)
from biobank.core.importing import (
    ImportRejected,
    ImportReport,
    Problem,
    file_sha256,
    printed_lines,
)
from biobank.core.processes import ProcessMark, has_ended, process_mark
from patients.models import DataIssue, ImportRun, Patient, Project
from patients.services import BadProjectCode, get_project

logger = logging.getLogger(__name__)

# A shifted column can make every cell of a file wrong; the first ones tell what to fix:
MAX_LISTED_PROBLEMS = 200


class RunLinks:
    """What the importer learnt while storing: the patient and record behind each row."""

    def __init__(self, run: ImportRun | None = None) -> None:
        self.run = run
        self.patients: dict[int, Patient] = {}
        self.records: dict[int, tuple[str, int]] = {}

    def link(self, row: int, patient: Patient, record: object | None = None) -> None:
        self.patients[row] = patient
        if record is not None:
            self.records[row] = (type(record).__name__, record.pk)  # type: ignore[attr-defined]


# A running import holds a PostgreSQL advisory lock of its session, keyed by its run:
# when the session ends (the connection lost in a database restart, the process
# killed), the server lets the lock go, and a run still "running" whose lock nobody
# holds is one whose import is gone (fail_abandoned_runs). The run's id is the
# lower half of the key, this the upper half, apart from any other lock.
# NB: a pool that shares server sessions between clients (PgBouncer's transaction
# mode) would lose the lock at once; the biobank connects directly.
# Other databases (SQLite) hold no such lock: there a run records its process (host,
# pid, start), and one whose process ended is gone. NB: that tells nothing of a run
# of another host (or container), which stays "running" until marked by hand.
RUN_LOCK_SPACE = 0x1B10_0000
CUT_OFF = "import-cut-off"


def start_run(**fields: object) -> ImportRun:
    """Create a running ImportRun held by this process's database session until it ends.

    Created and locked in one transaction, so that no one sees the run unheld.
    """
    process = process_mark()
    with transaction.atomic():
        run = ImportRun.objects.create(
            host=process.host, pid=process.pid, process_key=process.key, **fields
        )
        _run_lock(run.pk, "pg_advisory_lock")
        # The session holding it: a connection opened since holds nothing.
        run._held_by = connection.connection  # type: ignore[attr-defined]
    return run


def end_run_hold(run: ImportRun) -> None:
    """Let go of the run's lock once its end is recorded, if this session holds it."""
    held_by = getattr(run, "_held_by", None)
    run._held_by = None  # type: ignore[attr-defined]
    if held_by is None or held_by is not connection.connection:
        return  # that session ended, and its locks with it
    try:
        _run_lock(run.pk, "pg_advisory_unlock")
    except (OperationalError, InterfaceError) as error:
        if not is_connection_failure(error):
            raise


def fail_abandoned_runs(pks: list[int] | None = None) -> list[int]:
    """Mark failed the running runs (of `pks`, or all) whose import is gone; return them.

    Called as each import starts and when a run's page is opened. On PostgreSQL a
    run is gone when its lock is free: taken here, it is marked failed with an issue
    saying what to do, and let go again. Elsewhere (SQLite) a run is gone when the
    process that ran it has ended, on this host (biobank.core.processes). A run
    whose end is being recorded that moment is left as it is (the update asks for
    status running).
    """
    running = ImportRun.objects.filter(status=ImportRun.Status.RUNNING)
    if pks is not None:
        running = running.filter(pk__in=pks)
    failed = []
    fields = ("pk", "project", "source_name", "host", "pid", "process_key")
    for run in running.only(*fields):
        if connection.vendor != "postgresql":
            process = ProcessMark(run.host, run.pid or 0, run.process_key)
            if has_ended(process) and _mark_cut_off(run, PROCESS_ENDED_MESSAGE):
                failed.append(run.pk)
            continue
        if not _run_lock(run.pk, "pg_try_advisory_lock"):
            continue
        try:
            if _mark_cut_off(run, CUT_OFF_MESSAGE):
                failed.append(run.pk)
        finally:
            _run_lock(run.pk, "pg_advisory_unlock")
    if failed:
        logger.warning("Import runs %s were cut off and are marked failed", failed)
    return failed


CUT_OFF_MESSAGE = (
    "the import stopped before its end: the database connection of the process "
    "running it was lost (a database restart, the process stopped). What it had "
    "committed stays: a table file is stored whole or not at all, a DICOM import "
    "keeps the image series stored before the cut. Import the same file again to "
    "complete it; nothing is stored twice."
)


# The same, for a run found gone by its process (a database without session locks):
PROCESS_ENDED_MESSAGE = (
    "the import stopped before its end: the process running it ended without "
    "recording it (killed, or its machine stopped). What it had committed stays: a "
    "table file is stored whole or not at all, a DICOM import keeps the image series "
    "stored before the cut. Import the same file again to complete it; nothing is "
    "stored twice."
)


def _mark_cut_off(run: ImportRun, message: str) -> bool:
    """Mark a run found gone failed, with an issue saying what to do, if still running."""
    with transaction.atomic():
        marked = ImportRun.objects.filter(
            pk=run.pk, status=ImportRun.Status.RUNNING
        ).update(status=ImportRun.Status.FAILED, finished_at=timezone.now())
        if marked:
            DataIssue.objects.create(
                import_run=run,
                project_id=run.project_id,
                severity=DataIssue.Severity.ERROR,
                code=CUT_OFF,
                source_name=run.source_name,
                message=message,
            )
    return bool(marked)


def _run_lock(run_id: int, function: str) -> bool:
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [(RUN_LOCK_SPACE << 32) | run_id])
        return bool(cursor.fetchone()[0])


@contextmanager
def recorded_import(
    project: Project, importer: str, path: Path, report: ImportReport, user=None
) -> Iterator[RunLinks]:
    """Run the body in one transaction and record the run, whether it stores or not.

    The ImportRun is written before the transaction, so a rejected file still leaves
    its run (status failed) and one DataIssue per problem; its data rows roll back.
    Raises the ImportRejected of the body again once it is recorded.

    The file's name, and every problem, is stored and raised screened by
    `report.screen` (docs/clinical_imports.md): the body adds the identifiers it
    reads. NB: until the run ends, its name is screened for those the importer
    gave before the body (from the command line) only; the end names it again.
    """
    fail_abandoned_runs()
    run = start_run(
        project=project,
        importer=importer,
        source_name=report.source_name(path),
        source_sha256=file_sha256(path),
        user=user,
    )
    links = RunLinks(run)

    try:
        with transaction.atomic():
            yield links
            _note_same_file(run, report, path)
            report.warnings = screened(report, report.warnings)
            _record_issues(
                run, project, report.warnings, DataIssue.Severity.WARNING, links
            )
    except ImportRejected as exc:
        # The rows stored before the problem was found rolled back with the transaction:
        report.forget_stored()
        report.rejected = screened(report, listed(exc.problems, path.name))
        report.warnings = screened(report, report.warnings)
        _finish(run, report, ImportRun.Status.FAILED, path)
        _record_issues(run, project, report.warnings, DataIssue.Severity.WARNING)
        _record_issues(run, project, report.rejected, DataIssue.Severity.ERROR)
        end_run_hold(run)
        logger.info("Import run %s of %s rejected the file", run.pk, importer)
        raise ImportRejected(report.rejected, report.warnings) from None
    except Exception as exc:
        # A fault of the importer, not of the file; the run must not stay "running":
        report.forget_stored()
        if not is_connection_failure(exc):
            _finish(run, report, ImportRun.Status.FAILED, path)
            end_run_hold(run)
            raise
        raise _cut_off(run, report, path) from None

    _finish(run, report, status_of(report), path)
    end_run_hold(run)
    logger.info("Import run %s of %s stored %s", run.pk, importer, report.created)


def _cut_off(run: ImportRun, report: ImportReport, path: Path) -> ImportCutOff:
    """Record a run whose connection was lost as failed once the database is back.

    Return the error that says so in one line. When the database is not back after
    the waits, the next import or the run's page marks it (fail_abandoned_runs).
    """
    name = report.source_name(path)
    report.rejected = [Problem(name, CUT_OFF_MESSAGE, code=CUT_OFF)]

    def record() -> None:
        _finish(run, report, ImportRun.Status.FAILED, path)
        _record_issues(run, run.project, report.rejected, DataIssue.Severity.ERROR)

    marked = written_once_back(record)
    if marked:
        end_run_hold(run)
    logger.error(
        "Import run %s of %s was cut off by the database", run.pk, run.importer
    )
    return ImportCutOff(
        f"The database connection was lost during the import of {name} (import run "
        f"{run.pk}); nothing of the file was stored (it is stored whole or not at "
        f"all). {when_marked(marked)}Run the same command again once the database "
        "answers."
    )


def when_marked(marked: bool) -> str:
    if marked:
        return "The run is marked failed. "
    return (
        "The database is still away, so the run is marked failed by the next import "
        "or when its page is opened. "
    )


def _note_same_file(run: ImportRun, report: ImportReport, path: Path) -> None:
    """Warn when a file imported whole before stored new records again.

    Importers are idempotent, so the same file again stores nothing, unless what
    places its rows changed: a MAF given another draw date stored every variant a
    second time, under new draws, without a word. The warning names the earlier
    runs of the file that stored records, not one that only found them present.
    """
    if not any(report.created.values()):
        return
    earlier = list(
        ImportRun.objects.filter(
            project=run.project,
            importer=run.importer,
            source_sha256=run.source_sha256,
            status=ImportRun.Status.DONE,
        )
        .exclude(pk=run.pk)
        .order_by("pk")
        .only("pk", "started_at", "summary")
    )
    if not earlier:
        return
    storing = [other for other in earlier if _stored_records(other)]
    report.warnings.append(
        Problem(
            path.name,
            _same_file_message(storing, earlier[-1], report.made()),
            code="same-file-again",
        )
    )


# The earlier runs of a file that a same-file-again warning names, at most:
MAX_NAMED_RUNS = 5
SAME_RESULTS_TWICE = (
    "If an option changed (a draw date, a patient, a sample map), they may be the "
    "same results twice: "
)


def _stored_records(run: ImportRun) -> bool:
    """Return whether a run created any record (its summary counts them)."""
    created = (run.summary or {}).get("created") or {}
    return any(created.values())


def _same_file_message(storing: list[ImportRun], latest: ImportRun, made: str) -> str:
    """Say which earlier runs stored the file's records, or that none did.

    Without any, the latest run of the file found every record already stored (by
    another file, or a run not done whole), so no run's records are there to compare.
    """
    if not storing:
        return (
            f"was imported whole by import run {latest.pk} on {_day(latest)}, which "
            "found every record of it stored already and stored nothing; this run "
            f"stored {made} more from it. {SAME_RESULTS_TWICE}compare this run's "
            "records with those stored before, and delete the wrong ones."
        )
    if len(storing) == 1:
        (first,) = storing
        return (
            f"is the file import run {first.pk} stored whole on {_day(first)}; this "
            f"run stored {made} more from it. {SAME_RESULTS_TWICE}compare the two "
            "runs' records, and delete the wrong ones."
        )
    named = [f"{other.pk} ({_day(other)})" for other in storing[:MAX_NAMED_RUNS]]
    more = len(storing) - len(named)
    runs = ", ".join(named[:-1]) + (
        f", {named[-1]} and {more} more" if more else f" and {named[-1]}"
    )
    return (
        f"is the file import runs {runs} each stored records of; this run stored "
        f"{made} more from it. {SAME_RESULTS_TWICE}compare this run's records with "
        "theirs, and delete the wrong ones."
    )


def _day(run: ImportRun) -> str:
    return f"{timezone.localdate(run.started_at):%Y-%m-%d}"


def status_of(report: ImportReport) -> str:
    """Return the status of a run that went to its end, by what it stored and rejected.

    A run whose rows (or files) were all rejected stored nothing, as a refused file
    does; one that rejected some of them stored the others, or found them stored.
    """
    if not report.rejected:
        return ImportRun.Status.DONE
    if any(report.created.values()) or report.duplicates:
        return ImportRun.Status.PARTIAL
    return ImportRun.Status.FAILED


def listed(problems: list[Problem], source: str) -> list[Problem]:
    """Return the first MAX_LISTED_PROBLEMS problems, and a line counting the rest."""
    if len(problems) <= MAX_LISTED_PROBLEMS:
        return list(problems)
    hidden = len(problems) - MAX_LISTED_PROBLEMS
    return problems[:MAX_LISTED_PROBLEMS] + [
        Problem(source, f"{hidden} more problems are not listed; fix these first.")
    ]


def screened(report: ImportReport, problems: list[Problem]) -> list[Problem]:
    """Return the problems with the identifiers the import met screened out."""
    return [report.screen.redact_problem(problem) for problem in problems]


def _finish(run: ImportRun, report: ImportReport, status: str, path: Path) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.summary = report.as_dict()
    # Screened again, now for the identifiers of the rows too:
    run.source_name = report.source_name(path)
    run.save(update_fields=["status", "finished_at", "summary", "source_name"])


def _record_issues(
    run: ImportRun,
    project: Project,
    problems: list[Problem],
    severity: str,
    links: RunLinks | None = None,
) -> None:
    issues = []
    for problem in problems:
        patient = links.patients.get(problem.row) if links and problem.row else None
        record_type, record_id = (
            links.records.get(problem.row, ("", None))
            if links and problem.row
            else ("", None)
        )
        issues.append(
            DataIssue(
                import_run=run,
                project=project,
                patient=patient,
                severity=severity,
                code=problem.code
                or ("rejected" if severity == DataIssue.Severity.ERROR else "assumed"),
                source_name=problem.source[:500],
                row=problem.row,
                field=problem.field[:100],
                value=problem.value[:200],
                message=problem.message,
                record_type=record_type,
                record_id=record_id,
            )
        )
    DataIssue.objects.bulk_create(issues)


def add_acting_user_argument(parser: CommandParser) -> None:
    parser.add_argument(
        "--as-user",
        metavar="USERNAME",
        help="Import on behalf of this account: it must be a curator (or manager) of "
        "the project, only a site administrator creates one, and the run and history "
        "record it. Without it the command acts as the operator of the server.",
    )


def active_account(option: str, username: str):
    """Return the active account of that name, or stop naming the option that gave it."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(f"{option}: no active account is named {username!r}.")
    return user


def stored_project(code: str) -> Project | None:
    """Return the project of a code, whatever its case; None if none; stop if invalid."""
    try:
        return get_project(code, create=False)
    except BadProjectCode as exc:
        raise CommandError(str(exc)) from None
    except Project.DoesNotExist:
        return None


def removed_if_unused(project: Project, created: bool, user=None) -> str:
    """Delete `project` if this command `created` it and its import stored nothing,
    as `user` (acting_as: its history names them).

    Return what to tell the user ("" when the project stays). A rejected file said
    "nothing was stored" beside "Created new project", and left that empty project
    in every list of projects (trial T22). The project goes only if nothing but this
    command's own failed run and its problems refer to it: no patient, role, export
    record, saved cohort, other run (another command's, failed too) or problem of
    none. Its row is locked first, so that a role or run added meanwhile is seen or
    waits. NB: a patient that another import is storing into the project at that
    moment is not seen (its key is checked when that import commits), so that
    import then fails whole at its commit and can be run again.
    """
    if not created:
        return ""
    try:
        with acting_as(user), transaction.atomic():
            locked = Project.objects.select_for_update().get(pk=project.pk)
            runs = locked.import_runs.all()
            used = (
                runs.count() > 1
                or runs.exclude(status=ImportRun.Status.FAILED).exists()
                or locked.patients.exists()
                or locked.memberships.exists()
                or locked.export_records.exists()
                or locked.data_issues.filter(import_run__isnull=True).exists()
            )
            if used:
                return ""
            locked.delete()
    except (Project.DoesNotExist, ProtectedError, IntegrityError):
        return ""  # gone already, or held by a record made meanwhile (a saved cohort)
    return f" Project {project.code!r}, created for it, was removed again."


def removed_once_back(project: Project, created: bool, user=None) -> str:
    """removed_if_unused() after an import the database cut off: "" while it is away.

    NB: a project left then stays, empty, until it is deleted in the admin.
    """
    try:
        return removed_if_unused(project, created, user)
    except (OperationalError, InterfaceError) as error:
        if not is_connection_failure(error):
            raise
        return ""


def target_project(code: str, username: str | None, create: bool = False):
    """Return the project, the acting user and whether the project is new, or stop.

    Only an import that creates patients may `create` a project; any other refuses
    an unknown code in one line, since a misspelt code (dmeo for demo) would
    otherwise start an empty project or reject every row as an unknown patient.
    Raises CommandError when the code is not valid or unknown and not to be
    created, when the user is unknown or inactive, or when they may not curate the
    project (or create it).
    """
    from biobank.api.access import CURATE, is_site_admin, may

    user = active_account("--as-user", username) if username is not None else None
    existing = stored_project(code)
    if existing is None and not create:
        raise CommandError(
            f"No project has the code {code!r}; nothing was imported. Check the code: "
            "only a clinical patients table (import_clinical) or a DICOM ingest "
            "(ingest_dicom) makes a new project; create one for lab tables alone with "
            "create_project."
        )
    if user is not None and existing is None and not is_site_admin(user):
        raise CommandError(
            f"--as-user: {username} may not create project {code!r}; a site "
            "administrator creates projects."
        )
    if user is not None and existing is not None and not may(user, CURATE, existing):
        raise CommandError(
            f"--as-user: {username} is not a curator of project {existing.code}; "
            "nothing was imported."
        )
    return existing or get_project(code), user, existing is None


@contextmanager
def acting_as(user) -> Iterator[None]:
    """Make the history of every record written in the block name `user`."""
    from simple_history.models import HistoricalRecords

    if user is None:
        yield
        return
    previous = getattr(HistoricalRecords.context, "request", None)
    HistoricalRecords.context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        if previous is None:
            del HistoricalRecords.context.request
        else:
            HistoricalRecords.context.request = previous


class ImportCommand(BaseCommand):
    """A management command that imports one file into a project and prints its report.

    Subclasses add their options in `add_import_arguments` and run the importer in
    `run_import`; a rejected file ends the command with CommandError listing every
    problem.
    """

    project_help = (
        "Code of an existing project: only a clinical patients table (import_clinical) "
        "or a DICOM ingest (ingest_dicom) makes a new one."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--project",
            required=True,
            help=self.project_help,
        )
        add_acting_user_argument(parser)
        self.add_import_arguments(parser)

    def may_create_project(self, options: dict) -> bool:
        """Whether this run may create its project: only a table of patients may.

        NB: a lab table with --create-patients also creates patients, but a lab
        result is never the first record of a cohort; a new code there is a typo.
        """
        return False

    def add_import_arguments(self, parser: CommandParser) -> None:
        pass

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        raise NotImplementedError

    def handle(
        self, *args, path: Path, project: str, as_user: str | None, **options
    ) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        target, user, created = target_project(
            project, as_user, create=self.may_create_project(options)
        )
        if created:
            self.stdout.write(f"Created new project {target.code!r}.")

        try:
            with acting_as(user):
                report = self.run_import(path, target, user=user, **options)
        except ImportCutOff as exc:
            raise CommandError(
                f"{exc}{removed_once_back(target, created, user)}"
            ) from None
        except ImportRejected as exc:
            # The warnings often explain a problem (a serial number left empty is then missing):
            lines = printed_lines(exc.problems, "", "rejected")
            lines += printed_lines(exc.warnings, "  warning: ", "warnings")
            said = "\n".join(lines)
            removed = removed_if_unused(target, created, user)
            raise CommandError(
                f"File rejected; nothing was stored.{removed}\n{said}"
            ) from None

        self.stdout.write(report.summary())
        # Rows are rejected one by one, but a file whose every row was rejected must
        # not look like success to a script (ingest_dicom does the same for files):
        if status_of(report) == ImportRun.Status.FAILED:
            removed = removed_if_unused(target, created, user)
            raise CommandError(f"Every row was rejected; nothing was stored.{removed}")
