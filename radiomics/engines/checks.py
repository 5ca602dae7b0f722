"""Checks run before any feature is computed, each failing with a message that says what to change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from radiomics.engines.base import Volume
    from radiomics.engines.presets import Preset

# Grids within these tolerances are the same grid written with rounding (case 09: a
# NIfTI stores spacing as float32; a Slicer export jitters the origin by 2e-5 mm).
GRID_TOLERANCE_MM = 1e-3
DIRECTION_TOLERANCE = 1e-4

AXES = ("x", "y", "z")


class ExtractionRefused(Exception):
    """No feature was computed from these inputs; the message says why."""


class GridMismatch(ExtractionRefused):
    pass


class DimensionMismatch(ExtractionRefused):
    pass


class EngineFailed(RuntimeError):
    """The engine itself failed on checked inputs; the message names image and preset."""


class EmptyMask(ExtractionRefused):
    pass


class LabelNotFound(ExtractionRefused):
    pass


class AmbiguousLabels(ExtractionRefused):
    pass


class GreyLevelsUndefined(ExtractionRefused):
    pass


class RoiTooSmall(ExtractionRefused):
    """The ROI is a point or a line; what is defined on it travels with the refusal."""

    def __init__(self, message: str, voxel_count: int, volume_mm3: float, mean: float):
        super().__init__(message)
        self.voxel_count = voxel_count
        self.volume_mm3 = volume_mm3
        self.mean = mean


@dataclass(frozen=True, eq=False)
class RoiSelection:
    """The ROI picked from a mask: a boolean array on the mask's grid."""

    mask: np.ndarray
    label: float
    voxel_count: int
    warnings: tuple[str, ...] = ()

    @property
    def mask_3d(self) -> np.ndarray:
        return self.mask if self.mask.ndim == 3 else self.mask[np.newaxis]


def check_inputs(
    image: Volume, mask: Volume, preset: Preset, label: float | None = None
) -> RoiSelection:
    """Run every check in the order a user would fix the problems; return the ROI."""
    check_grids(image, mask)
    check_dimensions(image, preset)
    roi = select_roi(mask, label)
    check_roi_extent(image, roi, preset)
    check_grey_levels(image, roi, preset)
    return roi


def check_grey_levels(image: Volume, roi: RoiSelection, preset: Preset) -> None:
    """Refuse intensities that cannot serve as grey levels when nothing discretises them.

    A preset without discretisation (the IBSI digital phantom's) takes each intensity
    as its grey level, which the texture matrices index from 1: the ROI must hold whole
    numbers of at least 1. Anything else would be silently clipped or rounded.
    """
    if preset.discretisation.method != "none":
        return
    values = np.asarray(image.array)[roi.mask]
    bad = int(np.count_nonzero((values < 1) | (values != np.round(values))))
    if not bad:
        return
    raise GreyLevelsUndefined(
        f"Preset '{preset.name}' takes intensities as grey levels without "
        "discretisation, so they must be whole numbers of at least 1; "
        f"{bad} of the ROI's {values.size} voxels are not (range {values.min():g} to "
        f"{values.max():g}). Choose a preset that discretises, such as ibsi1_config_c "
        "for CT or ibsi1_config_d for PET and MR."
    )


def check_grids(
    image: Volume,
    mask: Volume,
    tolerance_mm: float = GRID_TOLERANCE_MM,
    direction_tolerance: float = DIRECTION_TOLERANCE,
) -> None:
    """Refuse a mask whose voxel grid is not the image's; the mask is never resampled."""
    differences = []
    if image.size != mask.size:
        differences.append(
            f"size differs: image {_voxels(image.size)}, mask {_voxels(mask.size)}"
        )

    for field, unit in (("spacing", "mm"), ("origin", "mm")):
        image_values, mask_values = getattr(image, field), getattr(mask, field)
        for axis, (ours, theirs) in enumerate(
            zip(image_values, mask_values, strict=False)
        ):
            if abs(ours - theirs) > tolerance_mm:
                differences.append(
                    f"{field} differs along {AXES[axis]}: image {ours:g} {unit}, "
                    f"mask {theirs:g} {unit} ({abs(ours - theirs):g} {unit} apart)"
                )

    if len(image.direction) == len(mask.direction):
        dims = round(len(image.direction) ** 0.5)
        ours = np.reshape(image.direction, (dims, dims))
        theirs = np.reshape(mask.direction, (dims, dims))
        for axis in range(dims):
            if np.abs(ours[:, axis] - theirs[:, axis]).max() > direction_tolerance:
                differences.append(
                    f"direction of the {AXES[axis]} axis differs: image "
                    f"{_vector(ours[:, axis])}, mask {_vector(theirs[:, axis])}"
                )

    if differences:
        raise GridMismatch(
            f"Mask {mask.source} does not lie on the grid of image {image.source}: "
            + "; ".join(differences)
            + f" (tolerance {tolerance_mm:g} mm). No features were computed; fix the "
            "mask or resample it onto the image explicitly."
        )


def presets_of(dimensions: str, discretisation: str | None = None) -> list[str]:
    """Return the names of the presets of these dimensions ("2D"), and binning method."""
    from radiomics.engines.presets import PRESETS

    return [
        name
        for name, preset in PRESETS.items()
        if preset.dimensions == dimensions
        and discretisation in (None, preset.discretisation.method)
    ]


def check_dimensions(image: Volume, preset: Preset) -> None:
    if image.is_2d and preset.is_3d:
        raise DimensionMismatch(
            f"Image {image.source} is 2D ({_voxels(image.size)}) but preset "
            f"'{preset.name}' computes 3D features; choose a 2D preset "
            f"({', '.join(presets_of('2D'))})."
        )


# Mask values a message lists before counting the rest:
SHOWN_LABELS = 10


def select_roi(mask: Volume, label: float | None = None) -> RoiSelection:
    """Pick the ROI: voxels equal to `label`, or the only non-zero value when none is given.

    A mask value that is not a whole number (a 1/255 float mask) is still a label, never
    truncated to zero; choosing it alone gives a warning that names it.
    """
    labels = count_labels(mask.array)
    if not labels:
        raise EmptyMask(
            f"Mask {mask.source} is an empty segmentation (0 voxels); no features were computed."
        )

    if label is None:
        if len(labels) > 1:
            raise AmbiguousLabels(
                f"Mask {mask.source} holds {len(labels)} labels: {describe_labels(labels)}; "
                "choose one label value."
            )
        label = next(iter(labels))
    elif label not in labels:
        raise LabelNotFound(
            f"Label {label:g} is not present in mask {mask.source}; "
            f"labels present: {describe_labels(labels)}."
        )

    warnings = ()
    if float(label) != round(label):
        warnings = (
            f"Mask value {label:g} is not a whole number; it was taken as the ROI label "
            f"({labels[label]} voxels).",
        )
    return RoiSelection(
        mask=mask.array == label,
        label=float(label),
        voxel_count=labels[label],
        warnings=warnings,
    )


def count_labels(array: np.ndarray) -> dict[float, int]:
    """Return each non-zero mask value with its voxel count, lowest value first."""
    values, counts = np.unique(array[array != 0], return_counts=True)
    return {
        float(value): int(count) for value, count in zip(values, counts, strict=True)
    }


def describe_labels(labels: dict[float, int]) -> str:
    """Name the mask's values with their voxel counts: the first SHOWN_LABELS of them.

    An image registered as a mask by mistake has thousands of values; listing them
    all made a message of tens of kilobytes, so it says what it looks like instead.
    """
    shown = ", ".join(
        f"{value:g} → {count} voxel{'s' if count != 1 else ''}"
        for value, count in list(labels.items())[:SHOWN_LABELS]
    )
    if len(labels) <= SHOWN_LABELS:
        return shown
    return (
        f"{shown} and {len(labels) - SHOWN_LABELS} more values (a mask holds a few "
        "whole labels; this looks like an image)"
    )


def check_roi_extent(image: Volume, roi: RoiSelection, preset: Preset) -> None:
    """Refuse an ROI on which shape and texture are undefined: a point or a line.

    3D presets need the ROI to span at least 2 voxels along two axes; 2D presets along
    both in-plane axes, x and y. The refusal still states the ROI's voxel count, volume
    and mean intensity, which are defined.
    """
    extent = dict(zip(AXES, reversed(bounding_box_size(roi.mask_3d)), strict=True))
    wide = [axis for axis, voxels in extent.items() if voxels > 1]
    if preset.is_3d:
        enough, minimum = len(wide) >= 2, "at least 2 voxels along at least two axes"
    else:
        enough, minimum = (
            {"x", "y"} <= set(wide),
            "at least 2 voxels along both x and y",
        )
    if enough:
        return

    volume_mm3 = roi.voxel_count * float(np.prod(image.spacing))
    mean = float(image.array[roi.mask].mean())
    defined = f"{volume_mm3:g} mm³, mean intensity {mean:g}"
    if roi.voxel_count == 1:
        shape = f"ROI has 1 voxel ({defined})"
    elif len(wide) == 1:
        shape = f"ROI is a line: {roi.voxel_count} voxels ({defined}) extending along {wide[0]} only"
    else:
        shape = f"ROI of {roi.voxel_count} voxels ({defined}) extends along {' and '.join(wide)} only"
    raise RoiTooSmall(
        f"{shape}; shape and texture features of preset '{preset.name}' need an ROI of "
        f"{minimum}.",
        voxel_count=roi.voxel_count,
        volume_mm3=volume_mm3,
        mean=mean,
    )


def bounding_box_size(mask: np.ndarray) -> tuple[int, ...]:
    """Return the voxels spanned by a non-empty mask along each array axis."""
    return tuple(int(axis.max() - axis.min() + 1) for axis in np.nonzero(mask))


def _voxels(size: tuple[int, ...]) -> str:
    return " x ".join(str(n) for n in size) + " voxels"


def _vector(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:g}" for value in values) + ")"
