"""Import a CTC count table into a project."""

from __future__ import annotations

from pathlib import Path

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.management.commands._lab import LabImportCommand
from patients.models import Project


class Command(LabImportCommand):
    help = (
        "Import CTC counts, whole file or nothing. Columns and rules: "
        "docs/liquid_biopsy_imports.md."
    )

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_ctc(
            path,
            project,
            user=options["user"],
            create_patients=options["create_patients"],
            date_order=options["date_order"],
        )
