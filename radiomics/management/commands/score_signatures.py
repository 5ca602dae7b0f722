"""Recompute radiomic signature scores over every stored extraction."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from radiomics.signatures import SignatureError, score_signatures


class Command(BaseCommand):
    help = (
        "Score every finished extraction holding all of a signature's features, for "
        "every signature or one; scores of extractions no longer complete are removed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--signature", help="Name of the one signature to score.")

    def handle(self, *args, **options) -> None:
        try:
            results = score_signatures(options["signature"])
        except SignatureError as error:
            raise CommandError(str(error)) from error

        if not results:
            self.stdout.write("No signature is stored.")
        for result in results:
            self.stdout.write(
                f"{result.signature}: {result.scored} extractions scored, "
                f"{len(result.incomplete)} lack some of its features, "
                f"{result.removed} old scores removed."
            )
