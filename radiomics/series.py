"""Load a stored image series as a Volume: slices in order along their normal, in LPS mm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

from biobank.core.storage import (
    StoragePathRefused,
    StoredFileMissing,
    stored_file,
)
from radiomics.engines.base import Volume
from radiomics.models import ImageSeries

# Positions written as DS strings carry a few decimals; slices whose in-plane origins or
# spacings differ by less than this are the same grid (the 0.01 mm rounding of STS_001).
POSITION_TOLERANCE_MM = 0.05
ORIENTATION_TOLERANCE = 1e-4
# A gap between slices may differ this much from the mean gap (relative) and still
# count as even spacing:
SPACING_TOLERANCE = 0.02


class SeriesUnusable(ValueError):
    """The stored series cannot be read as one regular 3D grid; the message says why."""


@dataclass(frozen=True, eq=False)
class SeriesGrid:
    """Where the voxels of a stored series lie, read from the headers of its files.

    Slices are in order along the slice normal (the cross product of the row and
    column directions of ImageOrientationPatient (0020,0037)); `positions` holds each
    slice's ImagePositionPatient (0020,0032) and `sop_instance_uids` its instance, in
    that order. `direction` is ITK's direction matrix, its columns the x (along a
    row), y (down a column) and z (slice normal) axes. Slices need not be evenly
    spaced here; `volume()` asks for that.
    """

    series_instance_uid: str
    frame_of_reference_uid: str
    modality: str
    rows: int
    columns: int
    pixel_spacing: tuple[float, float]  # (x, y): column spacing, then row spacing
    direction: np.ndarray
    positions: np.ndarray
    sop_instance_uids: tuple[str, ...]
    paths: tuple[Path, ...]

    @property
    def source(self) -> str:
        return f"series {self.series_instance_uid}"

    @property
    def shape(self) -> tuple[int, int, int]:
        """Array shape [z, y, x]."""
        return (len(self.positions), self.rows, self.columns)

    @property
    def origin(self) -> np.ndarray:
        return self.positions[0]

    @property
    def normal(self) -> np.ndarray:
        return self.direction[:, 2]

    @property
    def slice_offsets(self) -> np.ndarray:
        """Distance of each slice from the first along the normal, in mm."""
        return (self.positions - self.origin) @ self.normal

    def slice_spacing(self) -> float:
        """Return the even distance between slices; raise SeriesUnusable if uneven."""
        if len(self.positions) == 1:
            return 1.0
        gaps = np.diff(self.slice_offsets)
        mean = float(gaps.mean())
        worst = float(np.abs(gaps - mean).max())
        if worst > SPACING_TOLERANCE * mean:
            listed = ", ".join(f"{gap:g}" for gap in np.unique(np.round(gaps, 2)))
            raise SeriesUnusable(
                f"Slices of {self.source} are not evenly spaced (gaps of {listed} mm); "
                "a radiomics volume needs one slice spacing. Store the evenly spaced "
                "part as a series of its own."
            )
        return mean

    @property
    def spacing(self) -> tuple[float, float, float]:
        return (*self.pixel_spacing, self.slice_spacing())

    def empty_volume(self, source: str) -> Volume:
        """Return a volume of this grid without voxel memory, for grid checks."""
        return self.volume(np.broadcast_to(np.zeros(1, np.uint8), self.shape), source)

    def volume(self, array: np.ndarray, source: str) -> Volume:
        """Wrap an array of this grid's shape as a Volume; the slices must be even."""
        return Volume(
            array=array,
            spacing=self.spacing,
            origin=tuple(float(v) for v in self.origin),
            direction=tuple(float(v) for v in self.direction.ravel()),
            modality=self.modality,
            source=source,
        )

    def to_voxel(self, points: np.ndarray) -> np.ndarray:
        """Return continuous (x, y, z) voxel indices of LPS points (N x 3).

        x and y count columns and rows from the first voxel centre; z is the distance
        along the normal from the first slice in units of the mean slice gap, so it is
        an index only for evenly spaced slices (see slice_index for the others).
        """
        relative = (np.asarray(points, dtype=np.float64) - self.origin) @ self.direction
        gap = (
            float(np.diff(self.slice_offsets).mean()) if len(self.positions) > 1 else 1
        )
        return relative / np.array([*self.pixel_spacing, gap])

    def slice_index(self, point: np.ndarray, tolerance_mm: float) -> int | None:
        """Return the slice whose plane passes within `tolerance_mm` of a point, or None."""
        offset = float(
            (np.asarray(point, dtype=np.float64) - self.origin) @ self.normal
        )
        distances = np.abs(self.slice_offsets - offset)
        nearest = int(distances.argmin())
        return nearest if distances[nearest] <= tolerance_mm else None


def read_grid(series: ImageSeries) -> SeriesGrid:
    """Read the geometry of a stored series from the headers of its instance files.

    Raises
    ------
    SeriesUnusable
        No stored instances, multi-frame images, mixed orientations, sizes or pixel
        spacings, a tilted gantry, or two images at one position.
    """
    instances = list(series.instances.values_list("sop_instance_uid", "storage_path"))
    name = f"series {series.series_instance_uid}"
    if not instances:
        raise SeriesUnusable(f"{name.capitalize()} has no stored images.")

    headers = []
    for uid, relative in instances:
        try:
            path = stored_file(relative, f"image {uid} of {name}")
        except (StoragePathRefused, StoredFileMissing) as error:
            raise SeriesUnusable(str(error)) from None
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        # TODO: enhanced multi-frame images (one file per series) keep their geometry
        # per frame; they are refused here until a reader for them is written.
        if int(ds.get("NumberOfFrames", 1) or 1) > 1:
            raise SeriesUnusable(
                f"{name.capitalize()} holds multi-frame images, which cannot be "
                "loaded as a volume yet."
            )
        for keyword in ("ImagePositionPatient", "ImageOrientationPatient"):
            if keyword not in ds:
                raise SeriesUnusable(
                    f"Image {uid} of {name} has no {keyword}; its place in the "
                    "patient is unknown."
                )
        headers.append((uid, path, ds))

    first = headers[0][2]
    orientation = np.asarray(first.ImageOrientationPatient, dtype=np.float64)
    row_direction, column_direction = orientation[:3], orientation[3:]
    direction = np.column_stack(
        [row_direction, column_direction, np.cross(row_direction, column_direction)]
    )
    # PixelSpacing (0028,0030) is row spacing (between rows, along y), then column:
    pixel_spacing = tuple(float(v) for v in reversed(first.PixelSpacing))
    for uid, _, ds in headers[1:]:
        _check_same_plane(name, uid, ds, first, orientation)

    positions = np.array(
        [np.asarray(ds.ImagePositionPatient, dtype=np.float64) for _, _, ds in headers]
    )
    order = np.argsort((positions - positions[0]) @ direction[:, 2], kind="stable")
    positions = positions[order]
    headers = [headers[i] for i in order]

    in_plane = (positions - positions[0]) @ direction[:, :2]
    if np.abs(in_plane).max() > POSITION_TOLERANCE_MM:
        raise SeriesUnusable(
            f"Slices of {name} are shifted in their own plane (by up to "
            f"{np.abs(in_plane).max():.2f} mm), as with a tilted gantry; the series "
            "is no rectangular grid."
        )
    offsets = (positions - positions[0]) @ direction[:, 2]
    if len(offsets) > 1 and np.diff(offsets).min() < POSITION_TOLERANCE_MM:
        raise SeriesUnusable(
            f"Two images of {name} lie at the same position; store each "
            "acquisition as a series of its own."
        )

    return SeriesGrid(
        series_instance_uid=series.series_instance_uid,
        frame_of_reference_uid=series.frame_of_reference_uid,
        modality=series.modality,
        rows=int(first.Rows),
        columns=int(first.Columns),
        pixel_spacing=pixel_spacing,
        direction=direction,
        positions=positions,
        sop_instance_uids=tuple(uid for uid, _, _ in headers),
        paths=tuple(path for _, path, _ in headers),
    )


def _check_same_plane(
    name: str, uid: str, ds: pydicom.Dataset, first: pydicom.Dataset, orientation
) -> None:
    differences = []
    if (int(ds.Rows), int(ds.Columns)) != (int(first.Rows), int(first.Columns)):
        differences.append(f"{ds.Rows} x {ds.Columns} pixels")
    if (
        np.abs(np.asarray(ds.ImageOrientationPatient, dtype=np.float64) - orientation)
        > ORIENTATION_TOLERANCE
    ).any():
        differences.append("another orientation")
    if (
        np.abs(
            np.asarray(ds.PixelSpacing, dtype=np.float64)
            - np.asarray(first.PixelSpacing, dtype=np.float64)
        )
        > 1e-4
    ).any():
        differences.append(f"pixel spacing {list(ds.PixelSpacing)}")
    if differences:
        raise SeriesUnusable(
            f"Image {uid} of {name} differs from the others: {', '.join(differences)}; "
            "a volume needs one grid."
        )


def load_series(series: ImageSeries, grid: SeriesGrid | None = None) -> Volume:
    """Return the stored series as a Volume of modality values (HU for CT).

    RescaleSlope and RescaleIntercept (0028,1053/1052), or a Modality LUT, are
    applied per slice; voxels are float32, which holds CT numbers and SUVs exactly
    enough. Raises SeriesUnusable for series that are no regular grid.

    NB: values stay in the units stored: PET counts in Bq/ml are not turned into SUV
    here (STS_001 stores SUV already, Units GML), and MR intensities are arbitrary.
    """
    grid = grid or read_grid(series)
    grid.slice_spacing()  # refuse uneven slices before reading any pixels

    array = np.empty(grid.shape, dtype=np.float32)
    for index, path in enumerate(grid.paths):
        ds = pydicom.dcmread(path)
        array[index] = apply_modality_lut(ds.pixel_array, ds)
    return grid.volume(array, grid.source)
