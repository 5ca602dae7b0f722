"""Options every liquid-biopsy import command shares."""

from __future__ import annotations

from django.core.management.base import CommandParser

from biobank.core.dates import ORDERS
from liquidbiopsy.importers.common import UNITS
from liquidbiopsy.models import CfDNAAssay
from patients.importers.runs import ImportCommand


class LabImportCommand(ImportCommand):
    """An ImportCommand with --create-patients and --date-order."""

    def add_import_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--create-patients",
            action="store_true",
            help="Create a patient for an unknown patient ID instead of rejecting its row.",
        )
        parser.add_argument(
            "--date-order",
            choices=ORDERS,
            help="Order of slashed dates such as 03/04/2021; needed when no day above 12 proves it.",
        )
        self.add_lab_arguments(parser)

    def add_lab_arguments(self, parser: CommandParser) -> None:
        pass


def add_assay_arguments(parser: CommandParser) -> None:
    """Add the options of the variant imports: VAF unit, assay method and panel."""
    parser.add_argument(
        "--vaf-unit",
        choices=UNITS,
        help="Unit of the whole VAF column; by default a fraction unless the file declares percent.",
    )
    parser.add_argument(
        "--method",
        choices=CfDNAAssay.Method.values,
        help="Assay method of rows that name none (default targeted-NGS).",
    )
    parser.add_argument("--panel", default="", help="Panel of rows that name none.")


def add_germline_argument(parser: CommandParser) -> None:
    """Add --keep-germline of the MAF and VCF imports, which skip germline calls."""
    parser.add_argument(
        "--keep-germline",
        action="store_true",
        help="Store the records the caller calls germline or LOH flagged is_germline "
        "instead of skipping them.",
    )


def add_lod_argument(parser: CommandParser) -> None:
    """Add --lod of the MAF and VCF imports, whose files state no limit of detection."""
    parser.add_argument(
        "--lod",
        help="The assay's limit of detection as a VAF fraction (0.005 for 0.5 %%), "
        "above 0 and under 1, stored on the assay; calls whose VAF is under it are "
        "below-lod. Without it the limit stored on the draw's assay holds, if any.",
    )
