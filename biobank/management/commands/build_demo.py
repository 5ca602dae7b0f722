"""Build (or top up) the demo biobank and print how to sign in."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from biobank import demo


class Command(BaseCommand):
    help = "Ingest pydicom's real DICOM test files and generate lab records for a demo."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--seed", type=int, default=7, help="Seed of the generated records."
        )

    def handle(self, *args, seed: int, **options) -> None:
        summary = demo.build_demo(seed=seed)

        self.stdout.write(
            f"Demo biobank: {summary.patients} patients, {summary.studies} imaging studies, "
            f"{summary.samples} blood draws, {summary.ctc_counts} CTC counts, "
            f"{summary.variants} cfDNA variant results."
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Sign in at http://127.0.0.1:8000/ as {demo.DEMO_USERNAME!r} "
                f"with password {demo.DEMO_PASSWORD!r}."
            )
        )
