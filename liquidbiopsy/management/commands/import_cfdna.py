"""Import a cfDNA variant table (or the CAIRO5 table) into a project."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.cfdna import FORMATS, import_cfdna
from liquidbiopsy.management.commands._lab import LabImportCommand, add_assay_arguments
from patients.models import Project


class Command(LabImportCommand):
    help = (
        "Import a cfDNA variant table; bad rows are rejected one by one and listed. "
        "Columns and rules: docs/liquid_biopsy_imports.md."
    )

    def add_lab_arguments(self, parser: CommandParser) -> None:
        add_assay_arguments(parser)
        parser.add_argument(
            "--format",
            dest="table_format",
            choices=FORMATS,
            help="Layout of the table; by default the CAIRO5 table is told by its header.",
        )

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_cfdna(
            path,
            project,
            user=options["user"],
            create_patients=options["create_patients"],
            vaf_unit=options["vaf_unit"],
            date_order=options["date_order"],
            method=options["method"],
            panel=options["panel"],
            table_format=options["table_format"],
        )
