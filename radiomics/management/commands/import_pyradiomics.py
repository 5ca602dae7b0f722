"""Import a PyRadiomics batch CSV into a project."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.importing import ImportReport
from patients.importers.runs import ImportCommand
from patients.models import Project
from radiomics.importers.pyradiomics_csv import ID_COLUMNS, import_pyradiomics


class Command(ImportCommand):
    help = (
        "Import PyRadiomics batch output (one row per ROI), whole or not at all. "
        "Rules: docs/pyradiomics_imports.md."
    )

    def add_import_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--id-column",
            help=f"Column of the source patient identifier; default the first of {', '.join(ID_COLUMNS)}.",
        )
        parser.add_argument(
            "--create-patients",
            action="store_true",
            help="Create a patient for an unknown patient ID instead of rejecting the file.",
        )

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_pyradiomics(
            path,
            project,
            user=options["user"],
            id_column=options["id_column"],
            create_patients=options["create_patients"],
        )
