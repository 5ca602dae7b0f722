"""Compute radiomic features of stored segmentations, one extraction per segmentation."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from patients.models import Project
from radiomics.engines.presets import UnknownPreset, describe_presets
from radiomics.extraction import plan_extraction, run_extraction
from radiomics.models import FeatureExtraction, Segmentation

Status = FeatureExtraction.Status


class Command(BaseCommand):
    help = (
        "Extract features from stored segmentations on their image series. Each "
        "(segmentation, engine, preset, label) is one extraction record; asking again "
        "reuses it, and a done extraction is computed again only with --again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        chosen = parser.add_argument_group("segmentations (at least one choice)")
        chosen.add_argument("--segmentation", type=int, nargs="+", default=[])
        chosen.add_argument("--series", help="SeriesInstanceUID as stored.")
        chosen.add_argument("--project", help="Project code.")
        chosen.add_argument("--patient", help="Patient pseudonym.")
        chosen.add_argument("--all", action="store_true", help="Every segmentation.")
        parser.add_argument("--engine", default="mirp")
        parser.add_argument(
            "--preset",
            help=f"One of {describe_presets()}. By default ibsi1_config_c for CT and "
            "ibsi1_config_d for other modalities, or for a single-image (2D) series "
            "ibsi1_config_a for CT and slice_2d_relative for other modalities.",
        )
        parser.add_argument(
            "--label",
            type=float,
            help="Mask value taken as the ROI (mask files; an RTSTRUCT or SEG mask is 1).",
        )
        parser.add_argument(
            "--params",
            type=Path,
            help="A PyRadiomics parameter file (YAML or JSON), run as PyRadiomics itself "
            "would, with its own feature names (needs --engine pyradiomics; no --preset).",
        )
        parser.add_argument(
            "--again", action="store_true", help="Compute done extractions again."
        )
        parser.add_argument(
            "--background",
            action="store_true",
            help="Queue one job per extraction for the Celery workers and return at "
            "once; without CELERY_BROKER_URL the jobs run here before it returns.",
        )
        parser.add_argument(
            "--queue",
            help="With --background: the Celery queue to send the jobs to (workers "
            "take it with `celery worker --queues NAME`); default 'celery'.",
        )

    def handle(self, *args, **options) -> None:
        segmentations = select_segmentations(options)
        if not segmentations.exists():
            if (
                options.get("project")
                and not Project.objects.filter(code=options["project"]).exists()
            ):
                raise CommandError(f"No project has the code {options['project']}.")
            raise CommandError("No segmentation matches the selection.")

        if options["params"] is not None:
            if options["preset"]:
                raise CommandError("Give --params or --preset, not both.")
            if not options["params"].is_file():
                raise CommandError(f"{options['params']} does not exist or is no file.")
            from radiomics.engines.pyradiomics_engine import load_parameter_file

            try:
                settings = load_parameter_file(options["params"])
            except Exception as error:  # noqa: BLE001 - YAML and JSON readers raise their own
                raise CommandError(
                    f"{options['params'].name} is no readable PyRadiomics parameter "
                    f"file: {error}"
                ) from None
            if not isinstance(settings, dict):
                raise CommandError(
                    f"{options['params'].name} must hold a mapping (setting, "
                    "imageType, featureClass)."
                )
        try:
            extractions = [
                plan_extraction(
                    segmentation,
                    engine=options["engine"],
                    preset=options["preset"],
                    label=options["label"],
                    engine_parameters=options["params"],
                )
                for segmentation in segmentations
            ]
        except (UnknownPreset, ValueError) as error:
            raise CommandError(str(error)) from None
        if not options["again"]:
            for extraction in extractions:
                if extraction.status == Status.DONE:
                    self.report(extraction, "already done", 0.0)
                elif _is_queued(extraction):
                    self.report(
                        extraction,
                        f"already {extraction.status} (job {extraction.task_id}; "
                        "--again queues it anew)",
                        0.0,
                    )
            extractions = [
                e for e in extractions if e.status != Status.DONE and not _is_queued(e)
            ]

        failed = self.queue_or_run(
            extractions, background=options["background"], queue=options["queue"]
        )
        if failed:
            raise CommandError(
                f"{failed} of the {len(extractions)} extractions computed now failed."
            )

    def queue_or_run(
        self,
        extractions: list[FeatureExtraction],
        background: bool,
        queue: str | None = None,
    ) -> int:
        """Run the extractions here, one after the other; return how many failed.

        With `background`, one job per extraction is queued instead (radiomics.tasks),
        and each line says the job's id and the status of its extraction so far.
        """
        if background:
            from radiomics.tasks import queue_extractions

            failed = 0
            for extraction, task_id in zip(
                extractions, queue_extractions(extractions, queue=queue), strict=True
            ):
                extraction.refresh_from_db()
                self.report(extraction, f"{extraction.status} (job {task_id})", 0.0)
                failed += extraction.status == Status.FAILED
            return failed

        failed = 0
        for extraction in extractions:
            started = time.perf_counter()
            try:
                extraction = run_extraction(extraction.pk)
            except Exception as error:  # noqa: BLE001 - recorded on the extraction; the others go on
                extraction.refresh_from_db()
                self.stderr.write(f"{type(error).__name__}: {error}")
            self.report(extraction, extraction.status, time.perf_counter() - started)
            failed += extraction.status == Status.FAILED
        return failed

    def report(
        self, extraction: FeatureExtraction, status: str, seconds: float
    ) -> None:
        count = extraction.values.count()
        line = (
            f"extraction {extraction.pk} segmentation {extraction.segmentation_id} "
            f"{extraction.software} {extraction.preset}: {status}, {count} features, "
            f"{seconds:.1f} s"
        )
        if extraction.status == Status.FAILED:
            line += f" -- {extraction.error}"
        for warning in (extraction.diagnostics or {}).get("warnings", []):
            line += f"\n  warning: {warning}"
        self.stdout.write(line)


def select_segmentations(options: dict) -> QuerySet[Segmentation]:
    chosen = Segmentation.objects.select_related("series__study__patient")
    if options["all"]:
        return chosen.order_by("pk")
    if not any(
        options[key] for key in ("segmentation", "series", "project", "patient")
    ):
        raise CommandError(
            "Choose segmentations: --segmentation ID..., --series UID, --project CODE, "
            "--patient PSEUDONYM or --all."
        )
    if options["segmentation"]:
        chosen = chosen.filter(pk__in=options["segmentation"])
    if options["series"]:
        chosen = chosen.filter(series__series_instance_uid=options["series"])
    if options["project"]:
        chosen = chosen.filter(series__study__patient__project__code=options["project"])
    if options["patient"]:
        chosen = chosen.filter(series__study__patient__pseudonym=options["patient"])
    return chosen.order_by("pk")


def _is_queued(extraction: FeatureExtraction) -> bool:
    """A job is waiting for it or running it (queue again with --again)."""
    return extraction.status == Status.RUNNING or (
        extraction.status == Status.PENDING and bool(extraction.task_id)
    )
