"""Generate a synthetic biobank of a given size into a project of its own."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from biobank import synthetic
from patients.services import BadProjectCode


class Command(BaseCommand):
    help = (
        "Generate synthetic patients with imaging studies, series, segmentations, "
        "feature values, blood draws, CTC counts and cfDNA panels, reproducibly from "
        "a seed, into a project of their own (COPY on PostgreSQL)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--patients",
            type=int,
            default=synthetic.DEFAULT_PATIENTS,
            help=f"Number of patients (default {synthetic.DEFAULT_PATIENTS:,}).",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Same seed and size, same data."
        )
        parser.add_argument(
            "--project",
            default=synthetic.DEFAULT_PROJECT,
            help=f"Project code (default {synthetic.DEFAULT_PROJECT!r}); a project "
            "of real data is refused.",
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the project's synthetic records first, if it has any.",
        )

    def handle(
        self, *args, patients: int, seed: int, project: str, replace: bool, **options
    ) -> None:
        def report(line: str) -> None:
            if options["verbosity"] > 1:
                self.stdout.write(line)

        try:
            summary = synthetic.generate_biobank(
                patients=patients,
                seed=seed,
                project_code=project,
                replace=replace,
                progress=report,
            )
        except (synthetic.SyntheticProjectExists, BadProjectCode, ValueError) as error:
            raise CommandError(str(error)) from error

        self.stdout.write(self.style.SUCCESS(summary.describe()))
