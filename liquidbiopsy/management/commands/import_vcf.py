"""Import one sample of a somatic VCF into a project."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandParser

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.management.commands._lab import (
    LabImportCommand,
    add_germline_argument,
    add_lod_argument,
)
from liquidbiopsy.models import CfDNAAssay
from patients.models import Project


class Command(LabImportCommand):
    help = (
        "Import one sample column of a VCF as the variants of one patient's blood draw; "
        "bad records are rejected one by one. Rules: docs/liquid_biopsy_imports.md."
    )

    def add_lab_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--patient", required=True, help="Source patient ID of the file."
        )
        parser.add_argument(
            "--drawn-on", required=True, help="Blood draw date (YYYY-MM-DD)."
        )
        parser.add_argument(
            "--sample",
            help="Sample column to read; by default TUMOR or the only non-NORMAL one.",
        )
        parser.add_argument(
            "--keep-filtered",
            action="store_true",
            help="Store records whose FILTER is not PASS as failed calls instead of skipping them.",
        )
        add_germline_argument(parser)
        add_lod_argument(parser)
        parser.add_argument(
            "--method",
            choices=CfDNAAssay.Method.values,
            help="Assay method (default targeted-NGS).",
        )
        parser.add_argument("--panel", default="", help="Panel of the assay.")

    def run_import(self, path: Path, project: Project, **options) -> ImportReport:
        return import_vcf(
            path,
            project,
            user=options["user"],
            patient_id=options["patient"],
            drawn_on=options["drawn_on"],
            sample=options["sample"],
            create_patients=options["create_patients"],
            keep_filtered=options["keep_filtered"],
            keep_germline=options["keep_germline"],
            lod=options["lod"],
            date_order=options["date_order"],
            method=options["method"],
            panel=options["panel"],
        )
