"""Ingest a folder, .zip archive or file of DICOM objects into a project, de-identified."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from biobank.core.connections import ImportCutOff
from biobank.core.importing import ImportRejected
from patients.importers.runs import (
    acting_as,
    add_acting_user_argument,
    removed_if_unused,
    removed_once_back,
    target_project,
)
from radiomics.importers.dicom import ingest_dicom


class Command(BaseCommand):
    # NB: not an ImportCommand, which takes one file; this one takes folders too.
    help = (
        "Import DICOM images, RTSTRUCT and SEG objects from a folder (recursively), a .zip "
        "archive or one file. Everything is de-identified and stored under "
        "BIOBANK_STORAGE_ROOT; re-running the same input stores nothing twice."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", type=Path, help="A folder, a .zip archive or a file."
        )
        parser.add_argument(
            "--project",
            required=True,
            help="Project code; a new code creates the project, and says so.",
        )
        add_acting_user_argument(parser)
        parser.add_argument(
            "--progress-every",
            type=int,
            default=100,
            help="Report progress on stderr every N files (0: never).",
        )

    def handle(
        self,
        *args,
        path: Path,
        project: str,
        progress_every: int,
        as_user: str | None,
        **options,
    ) -> None:
        def progress(done: int, total: int) -> None:
            if progress_every > 0 and (done % progress_every == 0 or done == total):
                self.stderr.write(f"{done}/{total} files")

        # DICOM headers create their patients, so a new code makes a new project:
        target, user, created = target_project(project, as_user, create=True)
        if created:
            self.stdout.write(f"Created new project {target.code!r}.")
        try:
            with acting_as(user):
                report = ingest_dicom(path, target, progress=progress, user=user)
        except ImportCutOff as exc:
            removed = removed_once_back(target, created, user)
            raise CommandError(f"{exc}{removed}") from None
        except ImportRejected as exc:
            removed = removed_if_unused(target, created, user)
            raise CommandError(f"Nothing was imported.{removed}\n{exc}") from None
        self.stdout.write(report.summary())
        # A batch goes on past rejected files, but one where every file was rejected
        # must not look like success to a script:
        every_rejected = (
            report.rejected and not report.created and not report.duplicates
        )
        removed = removed_if_unused(target, created, user) if every_rejected else ""
        if report.import_run_id is not None and not removed:
            url = reverse(
                "admin:radiomics_deidentifiedattribute_report",
                args=[report.import_run_id],
            )
            self.stdout.write(
                f"What de-identification removed, replaced and kept, attribute by "
                f"attribute (import run {report.import_run_id}): {url} on the admin site"
            )
        if every_rejected:
            raise CommandError(
                f"Every file was rejected; nothing was imported.{removed}"
            )
