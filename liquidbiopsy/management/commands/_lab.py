"""Options every liquid-biopsy import command shares."""

from __future__ import annotations

from django.core.management.base import CommandParser

from biobank.core.dates import ORDERS
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
