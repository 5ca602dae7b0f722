"""Ingest a folder, .zip archive or file of DICOM objects into a project, de-identified."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.importing import ImportReport
from patients.importers.runs import ImportCommand
from patients.models import Project
from radiomics.importers.dicom import ingest_dicom


class Command(ImportCommand):
    help = (
        "Import DICOM images, RTSTRUCT and SEG objects from a folder (recursively), a .zip "
        "archive or one file. Everything is de-identified and stored under "
        "BIOBANK_STORAGE_ROOT; re-running the same input stores nothing twice."
    )

    def add_import_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--progress-every",
            type=int,
            default=100,
            help="Report progress on stderr every N files (0: never).",
        )

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        every = options["progress_every"]

        def progress(done: int, total: int) -> None:
            if every > 0 and (done % every == 0 or done == total):
                self.stderr.write(f"{done}/{total} files")

        return ingest_dicom(path, project, progress=progress)
