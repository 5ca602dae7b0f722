"""The engine interface: an image and a mask in, IBSI-coded feature values out."""

from __future__ import annotations

import logging
import re
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from radiomics.engines.checks import (
    EngineFailed,
    ExtractionRefused,
    RoiSelection,
    bounding_box_size,
    check_inputs,
)
from radiomics.engines.presets import Preset, get_preset

logger = logging.getLogger(__name__)
# A Python class an engine names in its messages, e.g. " (<class 'mirp.x.MRImage'>)":
_CLASS_NAME = re.compile(r"\s*\(?<class '[^']*'>\)?")


class VolumeUnreadable(ValueError):
    pass


@dataclass(frozen=True, eq=False)
class Volume:
    """Voxels with their place in the patient, in LPS millimetres.

    `array` is indexed [z, y, x] ([y, x] for a 2D image), as ITK and MIRP hold it;
    `spacing` and `origin` list x first, as DICOM and ITK state them; `direction` holds
    ITK's direction matrix row by row, its columns being the directions of the x, y and
    z axes. `source` names the file for messages.
    """

    array: np.ndarray
    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: tuple[float, ...]
    modality: str = ""
    source: str = "array"

    @classmethod
    def from_array(
        cls,
        array: np.ndarray,
        spacing: tuple[float, ...] | None = None,
        origin: tuple[float, ...] | None = None,
        direction: tuple[float, ...] | None = None,
        modality: str = "",
        source: str = "array",
    ) -> Volume:
        """Wrap an array; geometry left out defaults to 1 mm voxels at 0 with identity axes."""
        array = np.asarray(array)
        dims = array.ndim
        return cls(
            array=array,
            spacing=tuple(float(s) for s in spacing) if spacing else (1.0,) * dims,
            origin=tuple(float(o) for o in origin) if origin else (0.0,) * dims,
            direction=(
                tuple(float(d) for d in direction)
                if direction
                else tuple(np.eye(dims).ravel().tolist())
            ),
            modality=modality,
            source=source,
        )

    @property
    def size(self) -> tuple[int, ...]:
        """Voxels along x, y (and z)."""
        return tuple(reversed(self.array.shape))

    @property
    def is_2d(self) -> bool:
        return self.array.ndim == 2 or self.array.shape[0] == 1

    def as_3d(self) -> Volume:
        """Return this volume with a z axis, one slice thick for a 2D image."""
        if self.array.ndim == 3:
            return self
        direction = np.eye(3)
        direction[:2, :2] = np.reshape(self.direction, (2, 2))
        return Volume(
            array=self.array[np.newaxis],
            spacing=(*self.spacing, 1.0),
            origin=(*self.origin, 0.0),
            direction=tuple(direction.ravel().tolist()),
            modality=self.modality,
            source=self.source,
        )


def read_volume(path: str | Path, modality: str = "") -> Volume:
    """Read a NIfTI or NRRD file, or a folder holding one DICOM series, through ITK.

    ITK turns NIfTI's RAS axes into LPS, so every volume shares the DICOM patient frame.
    """
    path = Path(path)
    if not path.exists():
        raise VolumeUnreadable(f"{path} does not exist.")

    # NB: ITK's SWIG wrappers raise a DeprecationWarning per call under Python 3.11+;
    # it says nothing about the data, so it is kept out of the logs and test reports.
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", "builtin type .* has no __module__", DeprecationWarning
        )
        import itk  # heavy: loaded only when a file is read

        try:
            image = itk.imread(str(path))
        except RuntimeError as error:
            raise VolumeUnreadable(
                f"{path} could not be read as an image: {error}"
            ) from error
        volume = Volume(
            array=itk.array_from_image(image),
            spacing=tuple(float(s) for s in image.GetSpacing()),
            origin=tuple(float(o) for o in image.GetOrigin()),
            direction=tuple(
                itk.array_from_matrix(image.GetDirection()).ravel().tolist()
            ),
            modality=modality or (_dicom_modality(path) if path.is_dir() else ""),
            source=path.name,
        )
    return volume


def _dicom_modality(folder: Path) -> str:
    import pydicom

    for file in sorted(folder.iterdir()):
        try:
            return str(
                pydicom.dcmread(file, stop_before_pixels=True).get("Modality", "")
            )
        except (pydicom.errors.InvalidDicomError, IsADirectoryError):
            continue
    return ""


@dataclass(frozen=True)
class FeatureValue:
    """One feature: the engine's name, its IBSI code ("" where none) and its value.

    `tag` is the name in the IBSI compliance sheet ("cm_joint_max_3D_avg");
    `aggregation_code` is the IBSI code of the texture aggregation method, if any.
    `source` is empty for the engine's own output; otherwise it says who computed the
    value and how, and becomes the description of the stored feature.
    """

    name: str
    ibsi_code: str
    value: float
    tag: str = ""
    aggregation_code: str = ""
    source: str = ""


# The 25th and 75th intensity percentiles of a texture report. Neither engine gives
# them (both give the 10th and 90th, the median and the interquartile range, IBSI SALO
# = P75 - P25), and IBSI gives them no code, so the biobank computes them.
QUARTILES = (25, 75)
QUARTILE_SOURCE = (
    "{p}th percentile of the ROI intensities that {engine} used for its first-order "
    "features, computed by the biobank the way {engine} computes its 10th and 90th "
    "(numpy, linear interpolation); no IBSI code (P75 - P25 is the interquartile "
    "range, SALO)"
)


def intensity_percentiles(
    intensities: np.ndarray, percentiles: tuple[float, ...]
) -> dict[float, float]:
    """Return percentiles of ROI intensities, interpolated as both engines do theirs.

    PyRadiomics (numpy.nanpercentile) and MIRP (numpy.percentile) take numpy's default:
    linear interpolation between the two nearest ranks (Hyndman and Fan's type 7), on
    the intensities as they hold them (float64 and float32); so does this.
    """
    return {p: float(np.percentile(intensities, p)) for p in percentiles}


def quartile_values(
    intensities: np.ndarray, engine: str, name: str
) -> list[FeatureValue]:
    """Return the 25th and 75th percentiles of the ROI intensities as feature values.

    `intensities` are the voxels the engine's first-order features were computed from;
    `name` holds "{p}" for the percentile, so that each engine's names stay its own
    ("stat_p{p}", "original_firstorder_{p}Percentile").
    """
    return [
        FeatureValue(
            name=name.format(p=p),
            ibsi_code="",
            value=value,
            tag=f"stat_p{p}",
            source=QUARTILE_SOURCE.format(p=p, engine=engine),
        )
        for p, value in intensity_percentiles(intensities, QUARTILES).items()
    ]


@dataclass
class Extraction:
    """What an engine computed from one ROI, with everything needed to repeat it."""

    engine: str
    engine_version: str
    preset: str
    parameters: dict[str, Any]
    label: float
    voxel_count: int
    values: list[FeatureValue]
    diagnostics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def value(self, tag_or_name: str) -> float:
        for feature in self.values:
            if tag_or_name in (feature.tag, feature.name):
                return feature.value
        raise KeyError(f"{self.engine} computed no feature {tag_or_name!r}.")

    def rows(self) -> list[tuple[str, str, float]]:
        """Return (feature name, IBSI code, value) per feature."""
        return [
            (feature.name, feature.ibsi_code, feature.value) for feature in self.values
        ]

    def by_tag(self) -> dict[str, float]:
        return {feature.tag: feature.value for feature in self.values if feature.tag}


class Engine(ABC):
    """A feature extractor; subclasses compute, this class checks and records."""

    name: ClassVar[str]

    @property
    @abstractmethod
    def version(self) -> str: ...

    @abstractmethod
    def parameters(self, preset: Preset) -> dict[str, Any]:
        """Return the full parameter set the engine runs with for `preset`."""

    def feature_conformance(self, name: str, ibsi_code: str) -> tuple[bool | None, str]:
        """Return whether this engine's value of a feature matches IBSI, and why.

        None means not known; engines whose conformance was measured say more.
        """
        return None, ""

    @abstractmethod
    def compute(
        self, image: Volume, roi: np.ndarray, preset: Preset
    ) -> tuple[list[FeatureValue], dict[str, float]]:
        """Return feature values and IBSI diagnostics for a checked, boolean 3D ROI."""

    def explain(self, message: str, image: Volume, preset: Preset) -> str:
        """Return an engine's warning or error in the biobank's words.

        It names the image and preset, and drops the engine's internals (Python class
        names) that say nothing to the user; engines translate what they know better.
        """
        text = _CLASS_NAME.sub("", message).strip()
        return (
            f"{self.name} on image {image.source} with preset '{preset.name}': {text}"
        )

    def extract(
        self,
        image: Volume | str | Path,
        mask: Volume | str | Path,
        preset: Preset | str,
        label: float | None = None,
    ) -> Extraction:
        """Check image and mask, then compute every feature of `preset` in the ROI.

        `label` picks one mask value as the ROI; without it a mask holding a single
        non-zero value is taken whole. Raises ExtractionRefused (see checks.py) with a
        message saying what to change when no feature can be computed.
        """
        started = time.perf_counter()
        image = image if isinstance(image, Volume) else read_volume(image)
        mask = mask if isinstance(mask, Volume) else read_volume(mask)
        preset = get_preset(preset)

        roi: RoiSelection = check_inputs(image, mask, preset, label=label)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            try:
                values, diagnostics = self.compute(image.as_3d(), roi.mask_3d, preset)
            except ExtractionRefused:
                raise
            except Exception as error:
                raise EngineFailed(self.explain(str(error), image, preset)) from error
        advice = [self.explain(str(w.message), image, preset) for w in caught]

        seconds = time.perf_counter() - started
        logger.debug(
            "%s extracted %s features in %.1f s", self.name, len(values), seconds
        )
        return Extraction(
            engine=self.name,
            engine_version=self.version,
            preset=preset.name,
            parameters=self.parameters(preset),
            label=roi.label,
            voxel_count=roi.voxel_count,
            values=values,
            diagnostics=diagnostics,
            warnings=list(dict.fromkeys([*roi.warnings, *advice])),
            seconds=seconds,
        )


AXES = {"x": 2, "y": 1, "z": 0}  # diagnostic axis -> array axis


def image_diagnostics(
    stage: str, image: np.ndarray, spacing: tuple[float, ...]
) -> dict[str, float]:
    """Return the IBSI diagnostic features of an image (IBSI manual 5.2).

    `stage` is the tag suffix, "init_img" or "interp_img"; the array is [z, y, x] and
    the spacing lists x first.
    """
    values = {f"img_dim_{a}_{stage}": image.shape[i] for a, i in AXES.items()}
    values |= {f"vox_dim_{a}_{stage}": spacing[2 - i] for a, i in AXES.items()}
    values |= {
        f"mean_int_{stage}": image.mean(),
        f"min_int_{stage}": image.min(),
        f"max_int_{stage}": image.max(),
    }
    return {key: float(value) for key, value in values.items()}


def mask_diagnostics(
    stage: str,
    image: np.ndarray,
    intensity_mask: np.ndarray,
    morphology_mask: np.ndarray,
) -> dict[str, float]:
    """Return the IBSI diagnostic features of the ROI masks at "init_roi", "interp_roi" or "reseg_roi"."""
    inside = image[intensity_mask]
    values = {
        f"int_mask_dim_{a}_{stage}": intensity_mask.shape[i] for a, i in AXES.items()
    }
    for name, mask in (("int_mask", intensity_mask), ("morph_mask", morphology_mask)):
        extent = bounding_box_size(mask)
        values |= {f"{name}_bb_dim_{a}_{stage}": extent[i] for a, i in AXES.items()}
        values[f"{name}_vox_count_{stage}"] = int(mask.sum())
    values |= {
        f"int_mask_mean_int_{stage}": inside.mean(),
        f"int_mask_min_int_{stage}": inside.min(),
        f"int_mask_max_int_{stage}": inside.max(),
    }
    return {key: float(value) for key, value in values.items()}
