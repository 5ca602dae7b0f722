"""Import a clinical CSV (patients, treatments or events) into a project."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.dates import ORDERS
from biobank.core.importing import ImportReport
from patients.importers.clinical import FORMATS, KINDS, PATIENTS, import_clinical
from patients.importers.runs import ImportCommand
from patients.models import Project


class Command(ImportCommand):
    help = (
        "Import a clinical table, whole or not at all. Columns and rules: "
        "docs/clinical_imports.md."
    )
    project_help = (
        "Code of the project; a patients table (--kind patients) with a new code "
        "creates the project, and says so."
    )

    def add_import_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", choices=KINDS, default=PATIENTS)
        parser.add_argument(
            "--date-order",
            choices=ORDERS,
            help="Order of slashed dates such as 03/04/2021; needed when no day above 12 proves it.",
        )
        parser.add_argument(
            "--format",
            dest="table_format",
            choices=FORMATS,
            help="Layout of the table; by default the Lung1 table is told by its header.",
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="Replace stored values the file contradicts (history keeps the old ones).",
        )

    def may_create_project(self, options: dict) -> bool:
        # A patients table creates its patients; treatments and events need them:
        return options["kind"] == PATIENTS

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_clinical(
            path,
            project,
            user=options["user"],
            kind=options["kind"],
            date_order=options["date_order"],
            table_format=options["table_format"],
            update=options["update"],
        )
