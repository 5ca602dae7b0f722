"""Turn a stored Segmentation into a mask Volume on the grid of its image series."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from django.db import transaction
from pydicom.dataset import Dataset

from biobank.core.storage import (
    StoragePathRefused,
    StoredFileMissing,
    check_storage_path,
    storage_root,
    stored_file,
)
from radiomics.engines.base import Volume, VolumeUnreadable, read_volume
from radiomics.engines.checks import EmptyMask, check_grids, count_labels, select_roi
from radiomics.models import ImageSeries, Segmentation
from radiomics.series import SeriesGrid, read_grid

logger = logging.getLogger(__name__)

# A planar contour belongs to the slice whose plane lies within this fraction of the
# slice spacing; one farther off was drawn on another grid and is refused, because
# moving or interpolating it would change the ROI silently.
CONTOUR_SLICE_TOLERANCE = 0.25
# The same, for one-slice series, in mm:
SINGLE_SLICE_TOLERANCE_MM = 0.5
# SEG frames must start on a voxel of the series; offsets below this (in voxels) are
# rounding of the DS strings:
FRAME_OFFSET_TOLERANCE = 0.01
FRACTIONAL_THRESHOLD = 0.5
MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".mha")
# Segmentation.roi_number of a mask file registered without a label whose only value is
# not a whole number (a 1/255 float mask): the ROI is the mask's single non-zero value.
WHOLE_MASK = 0


class MaskUnusable(ValueError):
    """The segmentation cannot be placed on its series' grid; the message says why."""


def load_mask(segmentation: Segmentation, grid: SeriesGrid | None = None) -> Volume:
    """Return the ROI of a segmentation as a mask Volume.

    RTSTRUCT and SEG regions become 0/1 masks on the grid of the segmentation's series;
    a mask file is returned as stored, with its own geometry and label values (the
    engine checks then refuse a file not on the series grid).
    """
    name = describe(segmentation)
    if segmentation.source_kind == Segmentation.SourceKind.MASK:
        try:
            volume = read_volume(stored_path(segmentation))
        except VolumeUnreadable as error:
            # Its message names the file on this server; the extraction's error,
            # shown to curators, names it under the storage root:
            logger.warning("Mask of %s unreadable: %s", name, error)
            raise MaskUnusable(
                f"The stored file of {name} ({segmentation.storage_path}) could not "
                "be read as an image."
            ) from None
        return dataclasses.replace(volume, source=name)

    grid = grid or read_grid(segmentation.series)
    return grid.volume(mask_array(segmentation, grid), name)


def mask_array(segmentation: Segmentation, grid: SeriesGrid) -> np.ndarray:
    """Return the 0/1 mask [z, y, x] of an RTSTRUCT ROI or SEG segment on `grid`.

    Works on unevenly spaced series too, since slices are found by position.
    """
    ds = pydicom.dcmread(stored_path(segmentation))
    if segmentation.source_kind == Segmentation.SourceKind.RTSTRUCT:
        mask = rasterise_roi(ds, segmentation.roi_number, grid)
    elif segmentation.source_kind == Segmentation.SourceKind.SEG:
        mask = place_segment(ds, segmentation.roi_number, grid)
    else:
        raise MaskUnusable(f"{describe(segmentation)} is no DICOM object.")
    return mask.astype(np.uint8)


def describe(segmentation: Segmentation) -> str:
    return f"segmentation {segmentation.pk} ({segmentation.roi_name})"


def stored_path(segmentation: Segmentation) -> Path:
    """Return the segmentation's file under the storage root, or raise MaskUnusable.

    A path stored before paths were checked is checked here too: one leading out of
    the storage root is never read.
    """
    try:
        return stored_file(segmentation.storage_path, describe(segmentation))
    except (StoragePathRefused, StoredFileMissing) as error:
        raise MaskUnusable(str(error)) from None


# RTSTRUCT


def rasterise_roi(ds: Dataset, roi_number: int, grid: SeriesGrid) -> np.ndarray:
    """Rasterise the closed planar contours of one ROI onto the slices of `grid`.

    Each contour (3006,0050) is matched to the slice whose plane it lies on, within
    CONTOUR_SLICE_TOLERANCE of the slice spacing. A voxel is inside when its centre is
    inside an odd number of the contours on its slice (even-odd rule): a contour
    inside another cuts a hole, separate contours add islands. Voxel centres exactly
    on an edge follow the half-open crossing rule, so two contours sharing an edge
    never both claim a voxel. Points and open contours (POINT, OPEN_PLANAR,
    OPEN_NONPLANAR) enclose no volume and are skipped.
    """
    _check_frame_of_reference(
        _roi_frame_of_reference(ds, roi_number), grid, f"ROI {roi_number}"
    )
    contour_set = next(
        (
            item
            for item in ds.get("ROIContourSequence", [])
            if int(item.ReferencedROINumber) == roi_number
        ),
        None,
    )
    if contour_set is None:
        raise MaskUnusable(f"The structure set has no contours for ROI {roi_number}.")

    tolerance = _slice_tolerance(grid)
    mask = np.zeros(grid.shape, dtype=bool)
    for contour in contour_set.get("ContourSequence", []):
        if str(contour.get("ContourGeometricType", "")) != "CLOSED_PLANAR":
            continue
        points = np.asarray(contour.ContourData, dtype=np.float64).reshape(-1, 3)
        offsets = (points - grid.origin) @ grid.normal
        if np.ptp(offsets) > tolerance:
            raise MaskUnusable(
                f"A contour of ROI {roi_number} is not parallel to the slices of "
                f"{grid.source} (it spans {np.ptp(offsets):.2f} mm along their normal)."
            )
        index = grid.slice_index(points.mean(axis=0), tolerance)
        if index is None:
            raise MaskUnusable(
                f"A contour of ROI {roi_number} lies {float(offsets.mean()):.2f} mm from "
                f"the first slice of {grid.source}, on no slice of it (tolerance "
                f"{tolerance:.2f} mm); it was drawn on another grid."
            )
        voxels = grid.to_voxel(points)[:, :2]
        mask[index] ^= polygon_mask(voxels, grid.rows, grid.columns)
    return mask


def polygon_mask(vertices: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Return the voxels of a rows x columns slice whose centres lie inside a polygon.

    Parameters
    ----------
    vertices
        N x 2 continuous (x, y) voxel indices, x along a row; voxel centres sit at
        whole numbers. The polygon closes itself.

    Even-odd crossing test: a centre is inside when a ray towards +x crosses an odd
    number of edges; an edge counts for the rows with y0 <= y < y1 (half-open).
    """
    mask = np.zeros((rows, columns), dtype=bool)
    x0, y0 = vertices[:, 0], vertices[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    first = max(0, math.ceil(y0.min()))
    last = min(rows - 1, math.floor(y0.max()))
    centres = np.arange(columns, dtype=np.float64)

    for row in range(first, last + 1):
        crossing = ((y0 <= row) & (y1 > row)) | ((y1 <= row) & (y0 > row))
        if not crossing.any():
            continue
        xs = x0[crossing] + (row - y0[crossing]) * (
            (x1[crossing] - x0[crossing]) / (y1[crossing] - y0[crossing])
        )
        xs.sort()
        beyond = len(xs) - np.searchsorted(xs, centres, side="right")
        mask[row] = beyond % 2 == 1
    return mask


def _roi_frame_of_reference(ds: Dataset, roi_number: int) -> str:
    for roi in ds.get("StructureSetROISequence", []):
        if int(roi.ROINumber) == roi_number:
            return str(roi.get("ReferencedFrameOfReferenceUID", ""))
    return ""


def _slice_tolerance(grid: SeriesGrid) -> float:
    if len(grid.positions) == 1:
        return SINGLE_SLICE_TOLERANCE_MM
    return CONTOUR_SLICE_TOLERANCE * float(np.diff(grid.slice_offsets).min())


def _check_frame_of_reference(uid: str, grid: SeriesGrid, what: str) -> None:
    expected = grid.frame_of_reference_uid
    if uid and expected and uid != expected:
        raise MaskUnusable(
            f"{what} is drawn in frame of reference {uid}, {grid.source} lies in "
            f"{expected}; its coordinates do not apply to these images."
        )


# DICOM SEG


def place_segment(ds: Dataset, segment_number: int, grid: SeriesGrid) -> np.ndarray:
    """Place the frames of one SEG segment on the slices of `grid`.

    Each frame goes where its PlanePositionSequence (0020,9113) puts it; a frame
    without one goes on the image its DerivationImageSequence (0008,9124) names.
    BINARY frames are taken as they are; FRACTIONAL ones where the fraction reaches
    FRACTIONAL_THRESHOLD of MaximumFractionalValue (0062,000E); LABELMAP frames where
    the pixel equals the segment number.
    """
    _check_frame_of_reference(
        str(ds.get("FrameOfReferenceUID", "")), grid, f"Segment {segment_number}"
    )
    numbers = {int(item.SegmentNumber) for item in ds.get("SegmentSequence", [])}
    if segment_number not in numbers:
        raise MaskUnusable(
            f"The SEG has no segment {segment_number}; it holds segments "
            f"{', '.join(str(n) for n in sorted(numbers)) or 'none'}."
        )

    shared = (ds.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = ds.get("PerFrameFunctionalGroupsSequence", [])
    frames = ds.pixel_array
    if frames.ndim == 2:
        frames = frames[np.newaxis]
    kind = str(ds.get("SegmentationType", "BINARY"))
    maximum = float(ds.get("MaximumFractionalValue", 1) or 1)

    mask = np.zeros(grid.shape, dtype=bool)
    for number, frame in enumerate(frames):
        groups = per_frame[number] if number < len(per_frame) else Dataset()
        if kind == "LABELMAP":
            inside = frame == segment_number
        elif _frame_segment(groups, shared) != segment_number:
            continue
        elif kind == "FRACTIONAL":
            inside = frame / maximum >= FRACTIONAL_THRESHOLD
        else:
            inside = frame > 0
        _check_plane(groups, shared, grid)
        z, y, x = _frame_place(groups, shared, grid, number)
        rows, columns = inside.shape
        if y < 0 or x < 0 or y + rows > grid.rows or x + columns > grid.columns:
            raise MaskUnusable(
                f"Frame {number + 1} of the SEG reaches beyond the images of "
                f"{grid.source}."
            )
        mask[z, y : y + rows, x : x + columns] |= inside
    return mask


def _functional(groups: Dataset, shared: Dataset, keyword: str) -> Dataset | None:
    for source in (groups, shared):
        if keyword in source and len(source[keyword].value):
            return source[keyword].value[0]
    return None


def _frame_segment(groups: Dataset, shared: Dataset) -> int | None:
    identification = _functional(groups, shared, "SegmentIdentificationSequence")
    if identification is None:
        return None
    return int(identification.ReferencedSegmentNumber)


def _frame_place(
    groups: Dataset, shared: Dataset, grid: SeriesGrid, number: int
) -> tuple[int, int, int]:
    """Return the slice, row and column of a frame's first pixel."""
    position = _functional(groups, shared, "PlanePositionSequence")
    if position is not None and "ImagePositionPatient" in position:
        point = np.asarray(position.ImagePositionPatient, dtype=np.float64)
        index = grid.slice_index(point, _slice_tolerance(grid))
        offset = grid.to_voxel(point[np.newaxis])[0, :2]
        whole = np.round(offset)
        if index is None or np.abs(offset - whole).max() > FRAME_OFFSET_TOLERANCE:
            raise MaskUnusable(
                f"Frame {number + 1} of the SEG at {_point(point)} lies on no voxel of "
                f"{grid.source}."
            )
        return index, int(whole[1]), int(whole[0])

    derivation = _functional(groups, shared, "DerivationImageSequence")
    sources = derivation.get("SourceImageSequence", []) if derivation else []
    for source in sources:
        uid = str(source.ReferencedSOPInstanceUID)
        if uid in grid.sop_instance_uids:
            return grid.sop_instance_uids.index(uid), 0, 0
    raise MaskUnusable(
        f"Frame {number + 1} of the SEG has neither a position nor a reference to an "
        f"image of {grid.source}."
    )


def _check_plane(groups: Dataset, shared: Dataset, grid: SeriesGrid) -> None:
    """Refuse a frame whose orientation or pixel spacing is not the series'."""
    orientation = _functional(groups, shared, "PlaneOrientationSequence")
    if orientation is not None and "ImageOrientationPatient" in orientation:
        ours = np.concatenate([grid.direction[:, 0], grid.direction[:, 1]])
        theirs = np.asarray(orientation.ImageOrientationPatient, dtype=np.float64)
        if np.abs(ours - theirs).max() > 1e-4:
            raise MaskUnusable(
                f"The SEG frames are oriented {_point(theirs)}, the images of "
                f"{grid.source} {_point(ours)}; the SEG is not on their grid."
            )
    measures = _functional(groups, shared, "PixelMeasuresSequence")
    if measures is not None and "PixelSpacing" in measures:
        theirs = np.asarray(list(reversed(measures.PixelSpacing)), dtype=np.float64)
        if np.abs(theirs - np.asarray(grid.pixel_spacing)).max() > 1e-3:
            raise MaskUnusable(
                f"The SEG pixels are {_point(theirs)} mm apart, those of {grid.source} "
                f"{_point(np.asarray(grid.pixel_spacing))} mm; the SEG is not on their grid."
            )


def _point(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{value:g}" for value in values) + ")"


# Mask files


def register_mask(
    path: Path,
    series: ImageSeries,
    roi_name: str,
    label: int | None = None,
    reader: str = "",
    method: str = "",
) -> tuple[Segmentation, bool]:
    """Store a copy of a NIfTI or NRRD mask file as a Segmentation of `series`.

    The file is copied to <series folder>/masks/<sha256><suffix> under the storage
    root and never read in place again. The same file with the same label on the
    same series returns the stored Segmentation (created False).

    Raises
    ------
    MaskUnusable
        The file is no mask file this reader takes.
    ExtractionRefused
        (from checks.py) The mask is not on the series grid, is empty, lacks the
        label, or holds several labels and no label was chosen.
    """
    path = Path(path)
    suffix = next((s for s in MASK_SUFFIXES if path.name.lower().endswith(s)), None)
    if not path.is_file():
        raise MaskUnusable(f"{path} does not exist or is no file.")
    if suffix is None:
        raise MaskUnusable(
            f"{path.name} is no mask file; give a {', '.join(MASK_SUFFIXES)} file."
        )
    if suffix == ".nrrd" and _has_detached_data(path):
        raise MaskUnusable(
            f"{path.name} keeps its voxels in a separate data file, which would not be "
            "copied; save the mask as one .nrrd or .nii.gz file."
        )
    content_sha256 = _file_sha256(path)

    volume = dataclasses.replace(read_volume(path), source=path.name)
    grid = read_grid(series)
    check_grids(grid.empty_volume(grid.source), volume)
    try:
        roi = select_roi(volume, None if label is None else float(label))
    except EmptyMask as empty:
        # An empty segment can be a real "no lesion" result: it is kept, and its
        # extractions fail with this message instead of computing anything.
        logger.warning("Mask for series %s: %s", series.pk, empty)
        roi = None
    roi_number = (
        label if label is not None else (_label_number(roi.label) if roi else 1)
    )
    if roi is not None and roi.warnings:
        logger.warning("Mask for series %s: %s", series.pk, roi.warnings[0])

    # One Segmentation per file, label, ROI name and reader: two readers who hand in
    # the same file are two repeats of the lesion.
    known = Segmentation.objects.filter(
        series=series,
        source_kind=Segmentation.SourceKind.MASK,
        content_sha256=content_sha256,
        roi_number=roi_number,
        roi_name=roi_name[:200],
        reader=reader[:100],
    ).first()
    if known is not None:
        return known, False

    relative = PurePosixPath(series.storage_path, "masks", f"{content_sha256}{suffix}")
    try:
        check_storage_path(str(relative))
    except StoragePathRefused as refused:
        raise MaskUnusable(
            f"The folder of series {series.pk} is refused: {refused}"
        ) from None
    target = storage_root() / relative
    written = _copy_once(path, target)
    try:
        with transaction.atomic():
            segmentation = Segmentation.objects.create(
                series=series,
                roi_name=roi_name[:200],
                roi_number=roi_number,
                method=method,
                reader=reader[:100],
                source_kind=Segmentation.SourceKind.MASK,
                content_sha256=content_sha256,
                storage_path=str(relative),
            )
    except Exception:
        if written:
            target.unlink(missing_ok=True)
        raise

    logger.info(
        "Mask %s registered as segmentation %s of series %s (%s voxels of label %g)",
        content_sha256[:12],
        segmentation.pk,
        series.pk,
        roi.voxel_count if roi else 0,
        roi.label if roi else roi_number,
    )
    return segmentation, True


def mask_labels(segmentation: Segmentation) -> dict[float, int]:
    """Return each label value of a stored mask file with its voxel count."""
    return count_labels(load_mask(segmentation).array)


def _label_number(label: float) -> int:
    return int(label) if float(label).is_integer() else WHOLE_MASK


def _has_detached_data(path: Path) -> bool:
    with path.open("rb") as file:
        header = file.read(1 << 16).split(b"\n\n", 1)[0].lower()
    return b"\ndata file:" in header or b"\ndatafile:" in header


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _copy_once(source: Path, target: Path) -> bool:
    """Copy to a temporary name beside the target, then rename; False if it existed."""
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return True
