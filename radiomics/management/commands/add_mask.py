"""Register a NIfTI or NRRD mask file as a segmentation of a stored image series."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from radiomics.engines import ExtractionRefused
from radiomics.engines.base import VolumeUnreadable
from radiomics.masks import MaskUnusable, mask_labels, register_mask
from radiomics.models import ImageSeries, Segmentation
from radiomics.series import SeriesUnusable


class Command(BaseCommand):
    help = (
        "Copy a mask file (.nii, .nii.gz, .nrrd, .mha) under BIOBANK_STORAGE_ROOT and "
        "register it as a segmentation of a stored series. The mask must lie on the "
        "series grid; the same file and label twice registers once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--series", required=True, help="SeriesInstanceUID as stored."
        )
        parser.add_argument("--roi-name", required=True)
        parser.add_argument(
            "--label",
            type=int,
            help="Mask value of the ROI; needed when the mask holds several.",
        )
        parser.add_argument("--reader", default="", help="Who drew the mask.")
        parser.add_argument(
            "--method", default="", choices=[c for c, _ in Segmentation.Method.choices]
        )

    def handle(self, *args, path: Path, series: str, **options) -> None:
        stored = ImageSeries.objects.filter(series_instance_uid=series).first()
        if stored is None:
            raise CommandError(f"No stored series has SeriesInstanceUID {series}.")

        try:
            segmentation, created = register_mask(
                path,
                stored,
                options["roi_name"],
                label=options["label"],
                reader=options["reader"],
                method=options["method"],
            )
        except (
            ExtractionRefused,
            MaskUnusable,
            SeriesUnusable,
            VolumeUnreadable,
        ) as error:
            raise CommandError(f"The mask was not registered. {error}") from None

        state = "registered" if created else "was registered before"
        self.stdout.write(
            f"Mask {path.name} {state} as segmentation {segmentation.pk} "
            f"({segmentation.roi_name}, label {segmentation.roi_number or 'its only value'})."
        )
        if not mask_labels(segmentation):
            self.stdout.write(
                "It is an empty segmentation (0 voxels): kept as a 'no lesion' result; "
                "its extractions will fail with that message."
            )
