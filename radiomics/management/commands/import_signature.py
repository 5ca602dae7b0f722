"""Import a radiomic signature definition (JSON or YAML) and score it."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from radiomics.models import SignatureScore
from radiomics.signatures import SignatureError, read_definition, save_definition


class Command(BaseCommand):
    help = (
        "Create or update a radiomic signature from a definition file (name, "
        "description, reference, intercept, cutoff, labels, terms); importing the "
        "same file again changes nothing. Format: docs/signatures_and_robustness.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="A .json, .yaml or .yml file.")

    def handle(self, *args, **options) -> None:
        try:
            definition = read_definition(options["path"])
            # Scores follow on commit, through the receivers in radiomics.signatures:
            signature, changed = save_definition(definition)
        except SignatureError as error:
            raise CommandError(str(error)) from error

        scored = SignatureScore.objects.filter(signature=signature).count()
        state = "saved" if changed else "unchanged"
        self.stdout.write(
            f"Signature {signature.name!r} {state}: {len(definition.terms)} terms, "
            f"{scored} extractions scored."
        )
