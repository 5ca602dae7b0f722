"""PyRadiomics engine: IBSI preprocessing done here, features by PyRadiomics' own classes.

Two modes:

- "ibsi" (the default, driven by our presets): we resample on the IBSI grid, round CT
  intensities, interpolate the ROI with a 0.5 partial-volume threshold, re-segment and
  discretise the IBSI way (fixed bin size counted from the re-segmentation lower bound),
  then hand PyRadiomics' feature classes the prepared arrays with its own resampling,
  re-segmentation and binning switched off. Kurtosis is reported as excess kurtosis.
- "native": a user's PyRadiomics parameter file (YAML or JSON, or a dict) run through
  PyRadiomics' own RadiomicsFeatureExtractor, with its own feature names
  ("original_glcm_Contrast").

Feature names stay PyRadiomics'. In IBSI mode the image-type slot of the name says how
the image was prepared and, for texture, which IBSI aggregation was computed:
"ibsi_shape_Sphericity", "ibsi_firstorder_Mean" (intensity statistics),
"ibsiHistogram_firstorder_Mean" (intensity histogram: first order of the grey levels),
"ibsi3Davg_glcm_Contrast", "ibsi25Dcomb_glrlm_RunEntropy", "ibsi2D_glszm_ZoneEntropy"
(see texture_prefix). Every feature has an IBSI conformance mark,
`feature_conformance(name)`, measured with `python manage.py ibsi_conformance --engine
pyradiomics` (docs/ibsi_conformance_pyradiomics.md).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import json
import logging
import sys
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from radiomics.engines.base import (
    Engine,
    Extraction,
    FeatureValue,
    Volume,
    image_diagnostics,
    mask_diagnostics,
    quartile_values,
)
from radiomics.engines.checks import EmptyMask
from radiomics.engines.ibsi import FEATURE_CODES, aggregation_code
from radiomics.engines.presets import Discretisation, Preset, get_preset

# Distributions that install PyRadiomics' import package "radiomics"; see
# requirements-pyradiomics.txt for why the second one is pinned.
DISTRIBUTIONS = ("pyradiomics", "pyradiomics-bhklab")
TEXTURE_CLASSES = ("glcm", "glrlm", "glszm", "gldm", "ngtdm")

# ---------------------------------------------------------------------------------------
# PyRadiomics (class, feature) -> IBSI permanent code.
#
# Built from PyRadiomics' featuresDict_IBSIv7.tsv (../shared/data/pyradiomics_testcases/
# ibsi_mapping), corrected where that file misfiles features:
# - the four size-zone grey-level emphases (5RAI, HW1V, YH51, J17V) are filed under
#   class "glcm"; they are GLSZM features;
# - it maps LowGreyLevelZoneEmphasis / HighGreyLevelZoneEmphasis (names PyRadiomics does
#   not have) to S1RA / K26C, the codes of the *distance*-zone features; PyRadiomics'
#   GLSZM LowGrayLevelZoneEmphasis / HighGrayLevelZoneEmphasis are XMSY / 5GN9;
# - it names two GLSZM features ZoneSizeVariance / ZoneSizeEntropy; PyRadiomics calls
#   them ZoneVariance / ZoneEntropy (3NSA / GU8N);
# - it leaves GLCM Autocorrelation (QWB0), Imc1 (R8DG), Imc2 (JN9H) and first-order
#   Kurtosis (IPH6) unmapped. Kurtosis maps only in IBSI mode, where we report the
#   excess kurtosis; PyRadiomics' own value is the plain kurtosis (excess + 3), so a
#   native-mode Kurtosis carries no IBSI code.
# Features with no IBSI definition (TotalEnergy, StandardDeviation, MCC, the GLDM
# variants of GLRLM-like emphases that IBSI defines differently, ...) have no code.
# ---------------------------------------------------------------------------------------
IBSI_CODES: dict[tuple[str, str], str] = {
    ("shape", "MeshVolume"): "RNU0",
    ("shape", "VoxelVolume"): "YEKZ",
    ("shape", "SurfaceArea"): "C0JK",
    ("shape", "SurfaceVolumeRatio"): "2PR5",
    ("shape", "Compactness1"): "SKGS",
    ("shape", "Compactness2"): "BQWJ",
    ("shape", "SphericalDisproportion"): "KRCK",
    ("shape", "Sphericity"): "QCFX",
    ("shape", "Maximum3DDiameter"): "L0JK",
    ("shape", "MajorAxisLength"): "TDIC",
    ("shape", "MinorAxisLength"): "P9VJ",
    ("shape", "LeastAxisLength"): "7J51",
    ("shape", "Elongation"): "Q3CK",
    ("shape", "Flatness"): "N17B",
    ("firstorder", "Mean"): "Q4LE",
    ("firstorder", "Variance"): "ECT3",
    ("firstorder", "Skewness"): "KE2A",
    ("firstorder", "Kurtosis"): "IPH6",  # IBSI mode only (excess kurtosis), see above
    ("firstorder", "Median"): "Y12H",
    ("firstorder", "Minimum"): "1GSF",
    ("firstorder", "10Percentile"): "QG58",
    ("firstorder", "90Percentile"): "8DWT",
    ("firstorder", "Maximum"): "84IY",
    ("firstorder", "InterquartileRange"): "SALO",
    ("firstorder", "Range"): "2OJQ",
    ("firstorder", "MeanAbsoluteDeviation"): "4FUA",
    ("firstorder", "RobustMeanAbsoluteDeviation"): "1128",
    ("firstorder", "Energy"): "N8CA",
    ("firstorder", "RootMeanSquared"): "5ZWQ",
    ("firstorder", "Entropy"): "TLU2",
    ("firstorder", "Uniformity"): "BJ5W",
    ("glcm", "MaximumProbability"): "GYBY",
    ("glcm", "JointAverage"): "60VM",
    ("glcm", "SumSquares"): "UR99",
    ("glcm", "JointEntropy"): "TU9B",
    ("glcm", "DifferenceAverage"): "TF7R",
    ("glcm", "DifferenceVariance"): "D3YU",
    ("glcm", "DifferenceEntropy"): "NTRS",
    ("glcm", "SumAverage"): "ZGXS",
    ("glcm", "SumEntropy"): "P6QZ",
    ("glcm", "JointEnergy"): "8ZQL",
    ("glcm", "Contrast"): "ACUI",
    ("glcm", "Id"): "IB1Z",
    ("glcm", "Idn"): "NDRX",
    ("glcm", "Idm"): "WF0Z",
    ("glcm", "Idmn"): "1QCO",
    ("glcm", "InverseVariance"): "E8JP",
    ("glcm", "Correlation"): "NI2N",
    ("glcm", "Autocorrelation"): "QWB0",  # unmapped in the shipped file
    ("glcm", "ClusterTendency"): "DG8W",
    ("glcm", "ClusterShade"): "7NFM",
    ("glcm", "ClusterProminence"): "AE86",
    ("glcm", "Imc1"): "R8DG",  # unmapped in the shipped file
    ("glcm", "Imc2"): "JN9H",  # unmapped in the shipped file
    ("glrlm", "ShortRunEmphasis"): "22OV",
    ("glrlm", "LongRunEmphasis"): "W4KF",
    ("glrlm", "LowGrayLevelRunEmphasis"): "V3SW",
    ("glrlm", "HighGrayLevelRunEmphasis"): "G3QZ",
    ("glrlm", "ShortRunLowGrayLevelEmphasis"): "HTZT",
    ("glrlm", "ShortRunHighGrayLevelEmphasis"): "GD3A",
    ("glrlm", "LongRunLowGrayLevelEmphasis"): "IVPO",
    ("glrlm", "LongRunHighGrayLevelEmphasis"): "3KUM",
    ("glrlm", "GrayLevelNonUniformity"): "R5YN",
    ("glrlm", "GrayLevelNonUniformityNormalized"): "OVBL",
    ("glrlm", "RunLengthNonUniformity"): "W92Y",
    ("glrlm", "RunLengthNonUniformityNormalized"): "IC23",
    ("glrlm", "RunPercentage"): "9ZK5",
    ("glrlm", "GrayLevelVariance"): "8CE5",
    ("glrlm", "RunVariance"): "SXLW",
    ("glrlm", "RunEntropy"): "HJ9O",
    ("glszm", "SmallAreaEmphasis"): "5QRC",
    ("glszm", "LargeAreaEmphasis"): "48P8",
    ("glszm", "LowGrayLevelZoneEmphasis"): "XMSY",  # shipped: S1RA (a GLDZM code)
    ("glszm", "HighGrayLevelZoneEmphasis"): "5GN9",  # shipped: K26C (a GLDZM code)
    ("glszm", "SmallAreaLowGrayLevelEmphasis"): "5RAI",  # shipped under class glcm
    ("glszm", "SmallAreaHighGrayLevelEmphasis"): "HW1V",  # shipped under class glcm
    ("glszm", "LargeAreaLowGrayLevelEmphasis"): "YH51",  # shipped under class glcm
    ("glszm", "LargeAreaHighGrayLevelEmphasis"): "J17V",  # shipped under class glcm
    ("glszm", "GrayLevelNonUniformity"): "JNSA",
    ("glszm", "GrayLevelNonUniformityNormalized"): "Y1RO",
    ("glszm", "SizeZoneNonUniformity"): "4JP3",
    ("glszm", "SizeZoneNonUniformityNormalized"): "VB3A",
    ("glszm", "ZonePercentage"): "P30P",
    ("glszm", "GrayLevelVariance"): "BYLV",
    ("glszm", "ZoneVariance"): "3NSA",
    ("glszm", "ZoneEntropy"): "GU8N",
    ("ngtdm", "Coarseness"): "QCDE",
    ("ngtdm", "Contrast"): "65HE",
    ("ngtdm", "Busyness"): "NQ30",
    ("ngtdm", "Complexity"): "HDEZ",
    ("ngtdm", "Strength"): "1X9X",
    ("gldm", "SmallDependenceEmphasis"): "SODN",
    ("gldm", "LargeDependenceEmphasis"): "IMOQ",
    ("gldm", "LowGrayLevelEmphasis"): "TL9H",
    ("gldm", "HighGrayLevelEmphasis"): "OAE7",
    ("gldm", "SmallDependenceLowGrayLevelEmphasis"): "EQ3F",
    ("gldm", "SmallDependenceHighGrayLevelEmphasis"): "JA6D",
    ("gldm", "LargeDependenceLowGrayLevelEmphasis"): "NBZI",
    ("gldm", "LargeDependenceHighGrayLevelEmphasis"): "9QMG",
    ("gldm", "GrayLevelNonUniformity"): "FP8K",
    ("gldm", "DependenceNonUniformity"): "Z87G",
    ("gldm", "DependenceNonUniformityNormalized"): "OKJI",
    ("gldm", "GrayLevelVariance"): "1PFV",
    ("gldm", "DependenceVariance"): "DNX2",
    ("gldm", "DependenceEntropy"): "FCBV",
}
# Deprecated PyRadiomics features that the shipped file maps: not computed by
# enableAllFeatures(), so left out above (gldm GrayLevelNonUniformityNormalized 5SPA,
# gldm DependencePercentage 6XV8, glcm SumVariance OEEB, glcm Dissimilarity 8S9J).

_STEM_BY_CODE = {code: stem for stem, code in FEATURE_CODES.items()}
# PyRadiomics' first-order class run on the discretised grey levels gives IBSI's
# intensity-histogram features ("ibsiHistogram_firstorder_Mean" is ih_mean); its
# Entropy and Uniformity already use the grey levels in the plain run.
HISTOGRAM_PREFIX = "ibsiHistogram"
HISTOGRAM_STEMS = {
    "Mean": "ih_mean",
    "Variance": "ih_var",
    "Skewness": "ih_skew",
    "Kurtosis": "ih_kurt",
    "Median": "ih_median",
    "Minimum": "ih_min",
    "10Percentile": "ih_p10",
    "90Percentile": "ih_p90",
    "Maximum": "ih_max",
    "InterquartileRange": "ih_iqr",
    "Range": "ih_range",
    "MeanAbsoluteDeviation": "ih_mad",
    "RobustMeanAbsoluteDeviation": "ih_rmad",
}
# With directions, averaged or merged; the others hold one matrix per slice or volume:
MATRIX_FAMILIES = ("glcm", "glrlm")
IBSI_FAMILIES = {
    "glcm": "cm",
    "glrlm": "rlm",
    "glszm": "szm",
    "gldm": "ngl",
    "ngtdm": "ngt",
}


def texture_prefix(suffix: str) -> str:
    """Name prefix of texture features of an IBSI aggregation: "3D_avg" -> "ibsi3Davg".

    The IBSI aggregations map onto PyRadiomics as: 3D = its 3D matrices; 2.5D = force2D,
    which pools every slice into one matrix per in-plane direction; 2D = force2D run
    slice by slice and averaged over slices (done here); "avg" = PyRadiomics' mean over
    directions, "comb" = its weightingNorm "no_weighting", which sums the directional
    matrices into one.
    """
    return "ibsi" + suffix.replace("_", "")


def ibsi_code(name: str) -> str:
    """Return the IBSI code of a feature name of this engine, "" where none."""
    image_type, family, feature = _split_name(name)
    if image_type == HISTOGRAM_PREFIX:
        stem = HISTOGRAM_STEMS.get(feature) if family == "firstorder" else None
        return FEATURE_CODES[stem] if stem else ""
    if (family, feature) == ("firstorder", "Kurtosis") and not image_type.startswith(
        "ibsi"
    ):
        return ""  # PyRadiomics' own kurtosis is not IBSI's excess kurtosis
    return IBSI_CODES.get((family, feature), "")  # shape2D: no IBSI code


# ---------------------------------------------------------------------------------------
# IBSI conformance marks, measured with `python manage.py ibsi_conformance --engine
# pyradiomics` on the digital phantom and configurations A, C, D (report:
# docs/ibsi_conformance_pyradiomics.md). Every IBSI-mode feature with an IBSI code passed
# every reference value it has there (3D aggregations on the phantom, C and D; 2D and
# 2.5D ones on the phantom and A; shape, statistics and histogram on all four), after
# the two corrections in _feature_values (excess kurtosis, axis-length covariance).
# test_pyradiomics_engine re-checks this. A feature found failing goes in NONCONFORMANT
# with its reason.
# ---------------------------------------------------------------------------------------
NONCONFORMANT: dict[str, str] = {}
NATIVE_NOTE = (
    "native mode: PyRadiomics' own preprocessing (a resampling grid aligned to a corner, "
    "nearest-neighbour mask, fixed bin size counted from the ROI minimum), so "
    "conformance depends on the parameter file"
)
CONFORMANT_NOTE = (
    "matches the IBSI-1 reference values (digital phantom, configurations A, C, D)"
)


def feature_conformance(name: str) -> tuple[bool | None, str]:
    """Return (conformant, note) for a feature name this engine produces.

    True: the IBSI-mode value matched every IBSI-1 reference value it has (digital
    phantom, configurations A, C, D). False: it does not match; the note says why.
    None: not known -- the feature has no IBSI definition, or it was computed in
    native mode, whose parameters are the user's.
    """
    image_type, family, feature = _split_name(name)
    code = ibsi_code(name)
    if not image_type.startswith("ibsi"):
        if (family, feature) == ("firstorder", "Kurtosis"):
            return (
                False,
                "PyRadiomics' kurtosis is not the excess kurtosis (IBSI = value - 3)",
            )
        if not code:
            return None, "no IBSI definition"
        return None, NATIVE_NOTE
    if not code:
        return None, "no IBSI definition"
    if name in NONCONFORMANT:
        return False, NONCONFORMANT[name]
    return True, CONFORMANT_NOTE


def _split_name(name: str) -> tuple[str, str, str]:
    parts = name.split("_", 2)
    if len(parts) != 3:
        return "", "", name
    return parts[0], parts[1], parts[2]


# ---------------------------------------------------------------------------------------
# Loading PyRadiomics. Its import package is "radiomics", the name of this Django app, so
# it is imported with the app's modules set aside and its own modules kept apart.
# ---------------------------------------------------------------------------------------
_PYRADIOMICS: dict[str, ModuleType] = {}
# Every module PyRadiomics imported, by its sys.modules key ("radiomics.glcm"):
_PYRADIOMICS_LOADED: dict[str, ModuleType] = {}
_NAME_LOCK = threading.RLock()


def _site_folder() -> tuple[str, str]:
    for distribution in DISTRIBUTIONS:
        try:
            dist = importlib.metadata.distribution(distribution)
        except importlib.metadata.PackageNotFoundError:
            continue
        init = Path(str(dist.locate_file("radiomics/__init__.py")))
        if init.is_file():
            return str(init.parent.parent), dist.version
    raise ImportError(
        "PyRadiomics is not installed; run `pip install --no-build-isolation -r "
        "requirements-pyradiomics.txt` (see that file)."
    )


def _is_radiomics(key: str) -> bool:
    return key == "radiomics" or key.startswith("radiomics.")


@contextlib.contextmanager
def pyradiomics_importable() -> Iterator[None]:
    """Let "radiomics" mean PyRadiomics for the duration (our app's modules set aside).

    Needed while PyRadiomics imports, and where it imports lazily: the parameter-file
    schema check loads radiomics/schemas/schemaFuncs.py, which imports "radiomics".
    NB: a thread importing one of our app's modules meanwhile would not find it; the
    swap is held under a lock and lasts only for PyRadiomics' own calls.
    """
    site, _ = _site_folder()
    with _NAME_LOCK:
        ours = {
            key: sys.modules.pop(key) for key in list(sys.modules) if _is_radiomics(key)
        }
        sys.modules.update(_PYRADIOMICS_LOADED)
        package_logger = logging.getLogger("radiomics")
        logger_state = (package_logger.level, list(package_logger.handlers))
        sys.path.insert(0, site)
        try:
            yield
        finally:
            sys.path.remove(site)
            for key in [key for key in sys.modules if _is_radiomics(key)]:
                _PYRADIOMICS_LOADED[key] = sys.modules.pop(key)
            sys.modules.update(ours)
            # PyRadiomics adds a stderr handler to the "radiomics" logger, which is also
            # the parent of this app's loggers; put the logger back as it was.
            package_logger.setLevel(logger_state[0])
            package_logger.handlers[:] = logger_state[1]


def pyradiomics() -> dict[str, ModuleType]:
    """Return PyRadiomics' modules by short name ("featureextractor", "glcm", ...).

    PyRadiomics' modules refer to each other through names bound at import time, so
    they keep working once our app's "radiomics" is back in sys.modules; every class is
    imported (and PyRadiomics' lazy class table filled) while PyRadiomics owns the name.
    """
    if _PYRADIOMICS:
        return _PYRADIOMICS
    with pyradiomics_importable():
        package = importlib.import_module("radiomics")
        modules = {"radiomics": package}
        for short in (
            "featureextractor",
            "imageoperations",
            "firstorder",
            "shape",
            "shape2D",
            *TEXTURE_CLASSES,
        ):
            modules[short] = importlib.import_module(f"radiomics.{short}")
        package.getFeatureClasses()
        package.getImageTypes()
        if package.cMatrices is None:  # pragma: no cover - a broken build
            raise ImportError("PyRadiomics' C extensions did not load; reinstall it.")
    # PyRadiomics' module loggers ("radiomics.glcm", ...) sit under this app's
    # "radiomics" logger; its INFO progress lines ("Computing glcm") are kept out:
    for key in _PYRADIOMICS_LOADED:
        logging.getLogger(key).setLevel(logging.WARNING)
    # Said on every GLCM computed with all features enabled; not a problem:
    logging.getLogger("radiomics.glcm").addFilter(
        lambda record: "GLCM is symmetrical" not in record.getMessage()
    )
    _PYRADIOMICS.update(modules)
    return _PYRADIOMICS


def pyradiomics_version() -> str:
    return _site_folder()[1]


# ---------------------------------------------------------------------------------------
# IBSI preprocessing
# ---------------------------------------------------------------------------------------
def interpolation_grid(
    shape: tuple[int, ...], spacing: tuple[float, ...], new_spacing: tuple[float, ...]
) -> list[np.ndarray]:
    """Return, per array axis, the original index of each new grid point (IBSI 2.4).

    The new grid has ceil(n s / t) points of spacing t per axis and is centred on the
    original grid: both grids share their centre. `spacing` is in array order.
    """
    axes = []
    for n, s, t in zip(shape, spacing, new_spacing, strict=True):
        m = int(np.ceil(np.round(n * s / t, 6)))
        offset = (s * (n - 1) - t * (m - 1)) / 2.0
        axes.append((np.arange(m) * t + offset) / s)
    return axes


def resample(array: np.ndarray, axes: list[np.ndarray], order: int) -> np.ndarray:
    from scipy.ndimage import map_coordinates

    grid = np.meshgrid(*axes, indexing="ij")
    return map_coordinates(
        array.astype(np.float64), grid, order=order, mode="nearest", prefilter=order > 1
    )


def ibsi_prepare(
    image: Volume, roi: np.ndarray, preset: Preset
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]:
    """Return (intensities, morphological mask, intensity mask, spacing x-first).

    Interpolation: intensities with splines of the preset's order, rounded to whole HU
    for CT; the ROI mask linearly, keeping voxels with partial volume >= the threshold.
    Re-segmentation: the intensity range, then outlier filtering (mean +- k sigma of
    what remains), as MIRP and the IBSI manual order them.
    """
    array = image.array.astype(np.float64)
    spacing = tuple(image.spacing)  # x first
    morphology = roi.astype(bool)
    if preset.interpolation is not None:
        target = preset.interpolation.spacing_mm
        spacing_zyx = tuple(reversed(spacing))
        new_zyx = (target,) * 3 if preset.is_3d else (spacing_zyx[0], target, target)
        axes = interpolation_grid(array.shape, spacing_zyx, new_zyx)
        array = resample(array, axes, preset.interpolation.image_order)
        if image.modality.upper() == "CT":
            array = np.round(array)
        fraction = resample(
            roi.astype(np.float64), axes, preset.interpolation.roi_order
        )
        morphology = np.round(fraction, 6) >= preset.interpolation.roi_partial_volume
        spacing = tuple(reversed(new_zyx))

    intensity = morphology.copy()
    if preset.resegmentation_range is not None:
        low, high = preset.resegmentation_range
        intensity &= (array >= low) & (array <= high)
    if preset.outlier_sigma is not None and intensity.any():
        values = array[intensity]
        mean, sigma = values.mean(), values.std()
        k = preset.outlier_sigma
        intensity &= (array >= mean - k * sigma) & (array <= mean + k * sigma)
    return array, morphology, intensity, spacing


def discretise(
    array: np.ndarray,
    mask: np.ndarray,
    discretisation: Discretisation,
    lower_bound: float | None,
) -> np.ndarray:
    """Return IBSI grey levels (1, 2, ...) inside `mask`, 0 outside (IBSI 2.7).

    Fixed bin size counts bins from the re-segmentation lower bound (the ROI minimum
    when there is none), not from the ROI minimum as PyRadiomics does.
    """
    levels = np.zeros(array.shape, dtype=np.float64)
    values = array[mask]
    method = discretisation.method
    if method == "none":
        discrete = np.round(values)
    elif method == "fixed_bin_size":
        low = values.min() if lower_bound is None else lower_bound
        discrete = np.floor((values - low) / discretisation.bin_width) + 1.0
    elif method == "fixed_bin_number":
        count = discretisation.bin_count
        low, high = values.min(), values.max()
        if high > low:
            discrete = np.floor(count * (values - low) / (high - low)) + 1.0
            discrete = np.minimum(discrete, count)
        else:
            discrete = np.full(values.shape, np.ceil(count / 2.0))
    else:  # pragma: no cover - Discretisation admits no other method
        raise ValueError(f"Unknown discretisation {method!r}.")
    levels[mask] = np.maximum(discrete, 1.0)
    return levels


# ---------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------
NATIVE_PRESET_NAME = "pyradiomics_native"


class PyRadiomicsEngine(Engine):
    """PyRadiomics behind the Engine interface.

    `PyRadiomicsEngine()` runs our presets in IBSI mode; `PyRadiomicsEngine(parameters=
    "params.yaml")` (a YAML or JSON file, or a dict in PyRadiomics' parameter-file form)
    runs in native mode, as `pyradiomics image mask --param params.yaml` would.
    """

    name = "pyradiomics"

    def feature_conformance(self, name: str, ibsi_code: str) -> tuple[bool | None, str]:
        return feature_conformance(name)

    def __init__(self, parameters: str | Path | dict[str, Any] | None = None):
        self.mode = "ibsi" if parameters is None else "native"
        self.parameter_file = (
            str(parameters) if isinstance(parameters, str | Path) else None
        )
        self.native_parameters = (
            load_parameter_file(parameters)
            if isinstance(parameters, str | Path)
            else parameters
        )

    @property
    def version(self) -> str:
        return pyradiomics_version()

    def parameters(self, preset: Preset) -> dict[str, Any]:
        if self.mode == "native":
            return {
                "mode": "native",
                "parameter_file": self.parameter_file,
                "pyradiomics_parameters": self.native_parameters,
            }
        return {
            "mode": "ibsi",
            "preset": preset.as_dict(),
            "ibsi_preprocessing": (
                "by the biobank: interpolation on a centred grid, CT intensities "
                "rounded, ROI linear with partial-volume threshold, re-segmentation, "
                "discretisation from the re-segmentation lower bound"
            ),
            "pyradiomics_settings": self._class_settings(preset),
            "kurtosis": "excess (PyRadiomics' value - 3)",
        }

    def extract(
        self,
        image: Volume | str | Path,
        mask: Volume | str | Path,
        preset: Preset | str | None = None,
        label: float | None = None,
    ) -> Extraction:
        """As Engine.extract; in native mode the preset only carries the checks' 2D/3D."""
        if preset is None:
            preset = (
                native_preset(self.native_parameters or {})
                if self.mode == "native"
                else "ibsi1_config_c"
            )
        return super().extract(image, mask, get_preset(preset), label=label)

    def compute(
        self, image: Volume, roi: np.ndarray, preset: Preset
    ) -> tuple[list[FeatureValue], dict[str, float]]:
        if self.mode == "native":
            return self._compute_native(image, roi), {}
        return self._compute_ibsi(image, roi, preset)

    # -- IBSI mode -------------------------------------------------------------------
    def _class_settings(self, preset: Preset) -> dict[str, Any]:
        return {
            "label": 1,
            "force2D": not preset.is_3d,
            "force2Ddimension": 0,
            "distances": [int(preset.texture_distance)],
            "symmetricalGLCM": True,
            "weightingNorm": None,
            "gldm_a": int(preset.ngldm_coarseness),
            "voxelArrayShift": 0,
        }

    def _compute_ibsi(
        self, image: Volume, roi: np.ndarray, preset: Preset
    ) -> tuple[list[FeatureValue], dict[str, float]]:
        modules = pyradiomics()
        array, morphology, intensity, spacing = ibsi_prepare(image, roi, preset)
        if not intensity.any():
            raise EmptyMask(
                f"The ROI of {int(roi.sum())} voxels has none left after interpolation "
                f"and re-segmentation with preset '{preset.name}'; no features were computed."
            )
        diagnostics = _diagnostics(image, roi, array, morphology, intensity, spacing)
        lower = (
            preset.resegmentation_range[0]
            if preset.resegmentation_range is not None
            else None
        )
        levels = discretise(array, intensity, preset.discretisation, lower)
        # PyRadiomics' matrices cover every voxel of the arrays it gets: crop to the ROI.
        box = tuple(slice(a.min(), a.max() + 1) for a in np.nonzero(morphology))
        prepared = Prepared(
            array[box], levels[box], morphology[box], intensity[box], spacing
        )
        settings = self._class_settings(preset)
        families = set(preset.families)

        def wanted(*ibsi_families: str) -> bool:
            return "all" in families or bool(families & set(ibsi_families))

        values: list[FeatureValue] = []
        # IBSI morphology is 3D whatever the preset, on the mask before re-segmentation:
        if wanted("morph"):
            shape = modules["shape"].RadiomicsShape(
                prepared.image(prepared.array),
                prepared.image(prepared.morphology),
                **settings | {"force2D": False},
            )
            values += _feature_values(
                _computed(shape), "ibsi", "shape", "", int(prepared.morphology.sum())
            )
        if wanted("stat", "ih"):
            first_order = modules["firstorder"].RadiomicsFirstOrder
            plain = _prebinned(first_order, levels, prepared.levels)(
                prepared.image(prepared.array),
                prepared.image(prepared.intensity),
                **settings,
            )
            values += _feature_values(_computed(plain), "ibsi", "firstorder", "")
            # The intensities its first-order class was handed (plain.targetVoxelArray):
            values += quartile_values(
                prepared.array[prepared.intensity],
                self.name,
                "ibsi_firstorder_{p}Percentile",
            )
            histogram = _prebinned(first_order, levels)(
                prepared.image(prepared.levels),
                prepared.image(prepared.intensity),
                **settings,
            )
            computed = {
                feature: value
                for feature, value in _computed(histogram).items()
                if feature in HISTOGRAM_STEMS
            }
            values += _feature_values(computed, HISTOGRAM_PREFIX, "firstorder", "")

        for family in TEXTURE_CLASSES:
            if not wanted(IBSI_FAMILIES[family]):
                continue
            feature_class = _prebinned(
                getattr(modules[family], _CLASS_NAMES[family]), levels
            )
            suffixes = (
                preset.aggregations
                if family in MATRIX_FAMILIES
                else sorted({_dimension(suffix) for suffix in preset.aggregations})
            )
            for suffix in suffixes:
                computed = _texture(feature_class, prepared, settings, suffix)
                values += _feature_values(
                    computed, texture_prefix(suffix), family, suffix
                )
        return values, diagnostics

    # -- native mode -----------------------------------------------------------------
    def _compute_native(self, image: Volume, roi: np.ndarray) -> list[FeatureValue]:
        import SimpleITK as sitk

        modules = pyradiomics()
        parameters = json.loads(json.dumps(self.native_parameters or {}))
        # A file goes to PyRadiomics as it is, so that its own schema check reads it.
        # NB: pykwalify (that check) loads its extension with the deprecated
        # load_module(); the warning says nothing about the parameters.
        with pyradiomics_importable(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "the load_module", DeprecationWarning)
            extractor = modules["featureextractor"].RadiomicsFeatureExtractor(
                self.parameter_file or parameters
            )
        extractor.settings["label"] = 1

        def sitk_image(values: np.ndarray) -> Any:
            result = sitk.GetImageFromArray(values)
            result.SetSpacing(tuple(float(s) for s in image.spacing))
            result.SetOrigin(tuple(float(o) for o in image.origin))
            result.SetDirection(tuple(float(d) for d in image.direction))
            return result

        quartiles = _computing_quartiles(extractor, self.name)
        array = image.array if image.array.ndim == 3 else image.array[np.newaxis]
        with pyradiomics_importable():
            result = extractor.execute(
                sitk_image(array), sitk_image(roi.astype(np.uint8))
            )
        values = []
        for name, value in result.items():
            if name.startswith("diagnostics_"):
                continue
            values.append(
                FeatureValue(name=name, ibsi_code=ibsi_code(name), value=float(value))
            )
        return values + quartiles


def _computing_quartiles(extractor: Any, engine: str) -> list[FeatureValue]:
    """Have `extractor` add the quartiles to each first-order class it runs; return their list.

    PyRadiomics hands computeFeatures the image and mask of one image type (original,
    wavelet-LLH, ...) after its own resampling, re-segmentation, filtering and cropping:
    those its first-order class reads, taking the voxels equal to the label.
    """
    import SimpleITK as sitk

    quartiles: list[FeatureValue] = []
    compute_features = extractor.computeFeatures

    def with_quartiles(image: Any, mask: Any, image_type: str, **settings: Any):
        features = compute_features(image, mask, image_type, **settings)
        if "firstorder" in extractor.enabledFeatures:
            inside = sitk.GetArrayFromImage(mask) == settings.get("label", 1)
            intensities = sitk.GetArrayFromImage(image)[inside].astype(float)
            name = f"{image_type}_firstorder_{{p}}Percentile"
            quartiles.extend(quartile_values(intensities, engine, name))
        return features

    extractor.computeFeatures = with_quartiles
    return quartiles


AXIS_LENGTHS = ("MajorAxisLength", "MinorAxisLength", "LeastAxisLength")
_CLASS_NAMES = {
    "glcm": "RadiomicsGLCM",
    "glrlm": "RadiomicsGLRLM",
    "glszm": "RadiomicsGLSZM",
    "gldm": "RadiomicsGLDM",
    "ngtdm": "RadiomicsNGTDM",
}


@dataclass(frozen=True, eq=False)
class Prepared:
    """The IBSI-prepared arrays ([z, y, x], cropped to the ROI) and their spacing."""

    array: np.ndarray
    levels: np.ndarray
    morphology: np.ndarray
    intensity: np.ndarray
    spacing: tuple[float, ...]  # x first

    def image(self, values: np.ndarray) -> Any:
        import SimpleITK as sitk

        result = sitk.GetImageFromArray(
            values.astype(np.uint8 if values.dtype == bool else np.float64)
        )
        result.SetSpacing(tuple(float(s) for s in self.spacing))
        return result

    def slice(self, z: int) -> Prepared:
        def one(values: np.ndarray) -> np.ndarray:
            return values[z : z + 1]

        return Prepared(
            one(self.array),
            one(self.levels),
            one(self.morphology),
            one(self.intensity),
            self.spacing,
        )


def _dimension(suffix: str) -> str:
    return suffix.removesuffix("_avg").removesuffix("_comb")


def _texture(
    feature_class: type, prepared: Prepared, settings: dict[str, Any], suffix: str
) -> dict[str, float]:
    """Compute one texture family with one IBSI aggregation (see texture_prefix)."""
    dimension = _dimension(suffix)
    settings = settings | {
        "force2D": dimension != "3D",
        "weightingNorm": "no_weighting" if suffix.endswith("_comb") else None,
    }

    def run(part: Prepared) -> dict[str, float]:
        instance = feature_class(
            part.image(part.levels), part.image(part.intensity), **settings
        )
        return _computed(instance)

    if dimension != "2D":
        return run(prepared)
    # IBSI 2D: one matrix per slice (per direction for "avg"), features averaged over
    # the slices that hold ROI voxels; a slice whose matrix is empty (a lone voxel has
    # no neighbour pair) defines no value and is left out of the mean.
    # NB: PyRadiomics also gives no GLRLM for a lone voxel, where IBSI counts one run of
    # length 1, so a slice holding a single ROI voxel is left out of the 2D GLRLM mean
    # and the value can differ from IBSI's; the IBSI phantoms have no such slice.
    per_slice = [
        run(prepared.slice(z))
        for z in range(prepared.intensity.shape[0])
        if prepared.intensity[z].any()
    ]
    averaged = {}
    for feature in per_slice[0]:
        defined = [v[feature] for v in per_slice if np.isfinite(v[feature])]
        averaged[feature] = float(np.mean(defined)) if defined else float("nan")
    return averaged


def _computed(instance: Any) -> dict[str, float]:
    instance.enableAllFeatures()
    # NB: PyRadiomics averages over directions with nanmean, which warns when a
    # direction-less (empty) matrix leaves nothing to average; the value is then NaN,
    # and that NaN is the message.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Mean of empty slice", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        computed = instance.execute()
    return {feature: float(value) for feature, value in computed.items()}


def _prebinned(
    feature_class: type, levels: np.ndarray, binned_image: np.ndarray | None = None
) -> type:
    """Return `feature_class` with PyRadiomics' binning replaced by our IBSI grey levels.

    PyRadiomics indexes its matrices by the grey levels present (coefficient
    "grayLevels"), so handing it levels counted from the re-segmentation bound keeps
    the absolute grey-level index that IBSI features such as joint average use. Ng, the
    number of grey levels (normalised inverse differences), is that of the whole ROI,
    also when a 2D aggregation runs slice by slice. The image handed to the class is
    taken as grey levels, unless `binned_image` gives them (first order, which needs
    the intensities too).
    """
    grey_levels = int(levels.max())

    def _applyBinning(self: Any, matrix: np.ndarray) -> np.ndarray:  # noqa: N802
        if binned_image is not None:
            matrix = binned_image
        binned = np.where(self.maskArray, matrix, 0).astype(np.int64)
        self.coefficients["grayLevels"] = np.unique(binned[self.maskArray])
        self.coefficients["Ng"] = grey_levels
        return binned

    # Same module name, so that it logs through PyRadiomics' logger for the class:
    namespace = {"_applyBinning": _applyBinning, "__module__": feature_class.__module__}
    return type(f"Ibsi{feature_class.__name__}", (feature_class,), namespace)


def _feature_values(
    computed: dict[str, float],
    prefix: str,
    family: str,
    suffix: str,
    voxel_count: int = 0,
) -> list[FeatureValue]:
    values = []
    for feature, value in computed.items():
        name = f"{prefix}_{family}_{feature}"
        if feature == "Kurtosis" and family == "firstorder":
            value -= 3.0  # excess kurtosis, as IBSI defines it
        elif family == "shape" and feature in AXIS_LENGTHS:
            # PyRadiomics divides the covariance of voxel positions by N, IBSI by N - 1
            # (the digital phantom's 74 voxels miss the tolerance by that factor):
            count = voxel_count
            value *= np.sqrt(count / (count - 1)) if count > 1 else 1.0
        code = ibsi_code(name)
        stem = _STEM_BY_CODE.get(code, "")
        tag = f"{stem}_{suffix}" if stem and suffix else stem
        values.append(
            FeatureValue(
                name=name,
                ibsi_code=code,
                value=value,
                tag=tag,
                aggregation_code=aggregation_code(tag) if tag else "",
            )
        )
    return values


def _diagnostics(
    image: Volume,
    roi: np.ndarray,
    array: np.ndarray,
    morphology: np.ndarray,
    intensity: np.ndarray,
    spacing: tuple[float, ...],
) -> dict[str, float]:
    initial = image.array.astype(np.float64)
    return (
        image_diagnostics("init_img", initial, image.spacing)
        | mask_diagnostics("init_roi", initial, roi, roi)
        | image_diagnostics("interp_img", array, spacing)
        | mask_diagnostics("interp_roi", array, morphology, morphology)
        | mask_diagnostics("reseg_roi", array, intensity, morphology)
    )


def load_parameter_file(path: str | Path) -> dict[str, Any]:
    """Read a PyRadiomics parameter file, YAML or JSON, as PyRadiomics would."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    from ruamel.yaml import YAML  # PyRadiomics' own reader (pykwalify) uses ruamel too

    return _plain(YAML(typ="safe").load(text)) or {}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def native_preset(parameters: dict[str, Any]) -> Preset:
    """A preset that records a parameter file's dimension and binning for the checks."""
    setting = parameters.get("setting") or {}
    if "binCount" in setting:
        discretisation = Discretisation(
            "fixed_bin_number", bin_count=int(setting["binCount"])
        )
    else:
        discretisation = Discretisation(
            "fixed_bin_size", bin_width=float(setting.get("binWidth", 25))
        )
    return Preset(
        name=NATIVE_PRESET_NAME,
        description="PyRadiomics parameter file, run by PyRadiomics itself.",
        dimensions="2D" if setting.get("force2D") else "3D",
        discretisation=discretisation,
    )
