"""The curators' upload page and the result of each upload, in the admin's look."""

from __future__ import annotations

import csv
import logging
import re
import shutil
import tempfile
import uuid
import zipfile
from pathlib import Path

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from biobank.api.access import CURATE, may, projects_for
from biobank.cohorts.matrix import guard_formula
from biobank.core.importing import ImportRejected, Problem, counted, units_in_words
from biobank.core.safefiles import check_size, safe_members
from biobank.core.wording import PAGE, speaking_to
from biobank.imports.forms import UploadForm
from biobank.imports.kinds import DICOM_ZIP, KINDS, kind_the_header_suggests
from biobank.imports.runs import last_run_id, new_run_of
from biobank.imports.tasks import ingest_dicom_upload
from patients.admin import SHOWN_ISSUES
from patients.importers.runs import fail_abandoned_runs
from patients.models import DataIssue, ImportRun, Project
from radiomics.importers.dicom import IMPORTER as DICOM_IMPORTER
from radiomics.importers.pyradiomics_csv import EXTRACTION_FAILED

logger = logging.getLogger(__name__)
ISSUE_COLUMNS = ("severity", "code", "source_name", "row", "field", "value", "message")


def upload(request: HttpRequest) -> HttpResponse:
    """Import one uploaded file into a project the user curates; show what it did.

    Tables are imported in the request (each importer is all-or-nothing where the
    command is); a ZIP archive of DICOM files is queued as a background job, which
    runs at once when no broker is configured.
    """
    if not may(request.user, CURATE, None):
        raise PermissionDenied("You curate no project.")
    if request.method != "POST":
        return _form_page(request, UploadForm(request.user))

    # A project outside the user's own is a forged request, not a mistake to explain:
    chosen = request.POST.get("project", "")
    if (
        chosen
        and not projects_for(request.user, CURATE)
        .filter(pk=int(chosen) if chosen.isdigit() else None)
        .exists()
    ):
        raise PermissionDenied("You may not import into that project.")

    form = UploadForm(request.user, request.POST, request.FILES)
    refused = getattr(request, "upload_refused", "")
    if refused:
        return _form_page(request, form, [refused], status=413)
    if not form.is_valid():
        return _form_page(request, form, status=400)

    project = form.cleaned_data["project"]
    kind = KINDS[form.cleaned_data["kind"]]
    if form.cleaned_data["kind"] == DICOM_ZIP:
        return _queue_archive(request, form, project)

    with tempfile.TemporaryDirectory(prefix="upload-") as folder:
        path = _save(form.cleaned_data["file"], Path(folder))
        header = _header_of(path)
        before = last_run_id()
        problems: list[Problem] = []
        try:
            # Messages name the page's controls, not the commands' options:
            with speaking_to(PAGE):
                kind.run(path, project, request.user, form.cleaned_data)
        except ImportRejected as exc:
            # Recorded on its failed run, which the result page shows:
            problems = exc.problems
    run_id = new_run_of(before, kind.importer, project, request.user)
    if run_id is None:
        return _form_page(request, form, _messages(problems), status=400)
    _say_which_kind_it_looks_like(run_id, header, form.cleaned_data["kind"])

    logger.info(
        "Upload of %s into project %s: run %s", kind.importer, project.pk, run_id
    )
    return redirect("imports-run", run_id)


def run_result(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one import run: counts, and its first issues with file, row and field.

    A file with thousands of issues would make a page of megabytes; the rest are
    counted, and all of them are in the CSV download.
    """
    run = _curated_run(request, pk)
    # A run whose import was cut off (its database connection lost) is marked failed:
    if run.status == ImportRun.Status.RUNNING and fail_abandoned_runs([run.pk]):
        run.refresh_from_db()
    issues = ordered_issues(run)
    count = issues.count()
    # A DICOM run cut off keeps the units it committed (ImportRun.status_label):
    units = run.summary.get("stored_units") or {}
    context = admin.site.each_context(request) | {
        "title": f"Import of {run.source_name or 'an upload'}",
        "run": run,
        "created": [
            counted(n, kind)
            for kind, n in sorted((run.summary.get("created") or {}).items())
        ],
        "issues": issues[:SHOWN_ISSUES],
        "issue_count": count,
        "hidden_issues": max(count - SHOWN_ISSUES, 0),
        "rejected": _rejected(run),
        "stored_units": units_in_words(units) if any(units.values()) else "",
        "stored_nothing": not any((run.summary.get("created") or {}).values()),
        # A PyRadiomics row that held no number is stored as a failed extraction:
        "failed_extractions": issues.filter(code=EXTRACTION_FAILED).count(),
        "values_stored": bool((run.summary.get("created") or {}).get("feature values")),
    }
    return render(request, "admin/imports/result.html", context)


def run_issues_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Return every issue of one import run as CSV, in the order the page lists them."""
    run = _curated_run(request, pk)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="import-run-{run.pk}-issues.csv"'
    )
    writer = csv.writer(response)
    writer.writerow(ISSUE_COLUMNS)
    for values in ordered_issues(run).values_list(*ISSUE_COLUMNS).iterator():
        writer.writerow([guard_formula(value) for value in values])
    return response


def ordered_issues(run: ImportRun) -> QuerySet[DataIssue]:
    return run.issues.order_by("severity", "row", "pk")  # errors first


def _rejected(run: ImportRun) -> str:
    """Count the rows (files of a DICOM archive) a run rejected, in words, or "".

    A problem of the whole file (a missing column) names no row and is not counted.
    A DICOM run counts its files in its summary, each once: one problem refuses a
    series whole (several PatientIDs), and its issue names the first file only.
    """
    errors = run.issues.filter(severity=DataIssue.Severity.ERROR)
    if run.importer == KINDS[DICOM_ZIP].importer:
        files = (run.summary or {}).get("rejected_files")
        if files is None:  # a run recorded before the summary counted them
            files = errors.values("source_name").distinct().count()
        return counted(files, "files")
    rows = errors.filter(row__isnull=False).values("source_name", "row").distinct()
    return counted(rows.count(), "rows") if rows.exists() else ""


def _curated_run(request: HttpRequest, pk: int) -> ImportRun:
    return get_object_or_404(
        ImportRun.objects.select_related("project", "user"),
        pk=pk,
        project__in=projects_for(request.user, CURATE),
    )


def _queue_archive(request: HttpRequest, form: UploadForm, project: Project):
    folder = Path(settings.BIOBANK_UPLOAD_ROOT) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    uploaded = form.cleaned_data["file"]
    path = _save(uploaded, folder, suffix=".zip")
    try:
        _check_archive(path, Path(uploaded.name or path.name).name)
    except ImportRejected as exc:
        shutil.rmtree(folder, ignore_errors=True)
        return _form_page(request, form, _messages(exc.problems), status=400)

    # The job is followed through the import run it records, not through Celery's
    # result, which is kept only with CELERY_RESULT_BACKEND set (asking it without
    # one raised, a 500 for an archive queued all right). Without a broker the job
    # has run by now; with one, a worker may have started it already:
    before = last_run_id()
    ingest_dicom_upload.delay(str(path), project.pk, request.user.pk)
    run_id = new_run_of(before, DICOM_IMPORTER, project, request.user)
    if run_id is not None:
        return redirect("imports-run", run_id)
    context = admin.site.each_context(request) | {
        "title": "Archive queued",
        "source": path.name,
        "project": project,
    }
    return render(request, "admin/imports/queued.html", context, status=202)


def _check_archive(path: Path, name: str) -> None:
    """Refuse an archive before queueing it, so the curator hears at once.

    Messages name the file as uploaded (`name`), not the copy saved under a safe
    name with ".zip" added.
    """
    check_size(path, name)
    if not zipfile.is_zipfile(path):
        raise ImportRejected(
            [Problem(name, "is not a ZIP archive.", code="wrong-kind")]
        )
    with zipfile.ZipFile(path) as archive:
        safe_members(archive, name)


def _save(uploaded: UploadedFile, folder: Path, suffix: str = "") -> Path:
    """Write the upload under a name of safe characters; the browser's name is untrusted."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(uploaded.name or "").name)
    name = name.lstrip(".")[:100] or "upload"
    if suffix and not name.lower().endswith(suffix):
        name += suffix
    path = folder / name
    with open(path, "wb") as handle:
        for chunk in uploaded.chunks():
            handle.write(chunk)
    return path


def _header_of(path: Path) -> list[str]:
    """Return the column names of a table's first line (tab- or comma-separated)."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        line = handle.readline(65_536).strip()
    delimiter = "\t" if "\t" in line and "," not in line else ","
    return next(csv.reader([line], delimiter=delimiter), [])


def _say_which_kind_it_looks_like(run_id: int, header: list[str], chosen: str) -> None:
    """Add a warning to the run when the file's columns are another kind's.

    A CTC table uploaded as patients otherwise reads as repeated patients and
    ignored columns, which do not say that the wrong kind was chosen.
    """
    suggested = kind_the_header_suggests(header, chosen)
    if suggested is None:
        return
    run = ImportRun.objects.get(pk=run_id)
    DataIssue.objects.create(
        import_run=run,
        project=run.project,
        severity=DataIssue.Severity.WARNING,
        code="wrong-kind",
        source_name=run.source_name,
        row=1,
        message=(
            f"most columns are not those of a {KINDS[chosen].label} but of a "
            f"{suggested.label}; if that is what the file holds, upload it again as "
            "that kind."
        ),
    )


def _messages(problems: list[Problem]) -> list[str]:
    return [str(problem) for problem in problems]


def _form_page(
    request: HttpRequest,
    form: UploadForm,
    errors: list[str] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = admin.site.each_context(request) | {
        "title": "Upload a file to import",
        "form": form,
        "errors": errors or [],
        "max_bytes": settings.BIOBANK_MAX_UPLOAD_BYTES,
    }
    return render(request, "admin/imports/upload.html", context, status=status)
