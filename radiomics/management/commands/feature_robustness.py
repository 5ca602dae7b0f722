"""Compute and store per-feature intraclass correlation over repeated extractions."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from radiomics.models import FeatureRobustness
from radiomics.robustness import (
    DEFAULT_FORM,
    DEFAULT_THRESHOLD,
    ICC_FORMS,
    RobustnessError,
    Selection,
    store_robustness,
)


class Command(BaseCommand):
    help = (
        "Per-feature ICC with 95 % interval over several readers' segmentations or "
        "test-retest scans of the same lesions; a feature is robust when the lower "
        "bound reaches the threshold. Replaces the stored result of the same design, "
        "form and selection. See docs/signatures_and_robustness.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--design", required=True, choices=FeatureRobustness.Design.values
        )
        parser.add_argument("--form", default=DEFAULT_FORM, choices=ICC_FORMS)
        parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
        parser.add_argument("--engine", help="Only extractions of this software.")
        parser.add_argument("--preset", help="Only extractions of this preset.")
        parser.add_argument("--project", help="Only patients of this project code.")
        parser.add_argument(
            "--modality", help="Only segmentations on series of this modality (CT, MR)."
        )
        parser.add_argument(
            "--series-description",
            help="Only segmentations on series of this SeriesDescription (any case).",
        )
        parser.add_argument(
            "--first-series",
            action="store_true",
            help="Where a lesion has several extractions for one repeat (several "
            "series of a study), use the one on the series with the lowest series "
            "number, as the cohort matrix chooses.",
        )

    def handle(self, *args, **options) -> None:
        threshold = options["threshold"]
        if not -1 <= threshold <= 1:
            raise CommandError("--threshold must lie between -1 and 1.")
        try:
            summary = store_robustness(
                options["design"],
                form=options["form"],
                threshold=threshold,
                selection=Selection(
                    engine=options["engine"],
                    preset=options["preset"],
                    project=options["project"],
                    modality=options["modality"],
                    series_description=options["series_description"],
                    first_series=options["first_series"],
                ),
            )
        except RobustnessError as error:
            raise CommandError(str(error)) from error

        selection = summary.selection or "all finished extractions"
        self.stdout.write(
            f"{options['form']} over {options['design']} ({selection}): "
            f"{summary.features} features, {summary.robust} robust "
            f"(lower 95 % bound >= {threshold:g}), {summary.without_icc} without an ICC."
        )
