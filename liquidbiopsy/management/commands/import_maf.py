"""Import a MAF file (plain or gzipped) into a project."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.management.commands._lab import (
    LabImportCommand,
    add_assay_arguments,
    add_germline_argument,
    add_lod_argument,
)
from patients.models import Project


class Command(LabImportCommand):
    help = (
        "Import a MAF file as the variants of one blood draw date; bad rows are rejected "
        "one by one and listed. Columns and rules: docs/liquid_biopsy_imports.md."
    )

    def add_lab_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--drawn-on",
            help="Blood draw date of the samples (YYYY-MM-DD); required unless the sample map gives them.",
        )
        parser.add_argument(
            "--sample-map",
            type=Path,
            help="CSV of Tumor_Sample_Barcode, patient_id[, draw_date, sample_id]; without it the barcode is the patient ID.",
        )
        add_assay_arguments(parser)
        add_germline_argument(parser)
        add_lod_argument(parser)

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_maf(
            path,
            project,
            user=options["user"],
            drawn_on=options["drawn_on"],
            sample_map=options["sample_map"],
            create_patients=options["create_patients"],
            vaf_unit=options["vaf_unit"],
            method=options["method"],
            panel=options["panel"],
            keep_germline=options["keep_germline"],
            lod=options["lod"],
            date_order=options["date_order"],
        )
