"""The default engine: MIRP (oncoray/mirp), IBSI-1 and IBSI-2 compliant, pure Python."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import numpy as np

from radiomics.engines.base import (
    Engine,
    FeatureValue,
    Volume,
    image_diagnostics,
    mask_diagnostics,
    quartile_values,
)
from radiomics.engines.checks import EmptyMask, presets_of
from radiomics.engines.ibsi import aggregation_code, feature_code
from radiomics.engines.presets import FAMILIES, Preset
from radiomics.engines.spatial import spatial_autocorrelation

# IBSI tag suffix -> MIRP spatial method, for matrices with directions (GLCM, GLRLM):
MATRIX_METHODS = {
    "2D_avg": "2d_average",
    "2D_comb": "2d_slice_merge",
    "2_5D_avg": "2.5d_direction_merge",
    "2_5D_comb": "2.5d_volume_merge",
    "3D_avg": "3d_average",
    "3D_comb": "3d_volume_merge",
}
# MIRP name suffix -> IBSI tag suffix:
MIRP_SUFFIXES = {
    "2d_avg": "2D_avg",
    "2d_s_mrg": "2D_comb",
    "2.5d_d_mrg": "2_5D_avg",
    "2.5d_v_mrg": "2_5D_comb",
    "3d_avg": "3D_avg",
    "3d_v_mrg": "3D_comb",
    "2d": "2D",
    "2.5d": "2_5D",
    "3d": "3D",
}
# Zone and neighbourhood matrices have no directions: one method per dimension.
ZONE_METHODS = {"2D": "2d", "2_5D": "2.5d", "3D": "3d"}
FEATURE_PREFIXES = tuple(f"{family}_" for family in FAMILIES if family != "all")
# Preset family (IBSI tag prefix) -> MIRP family name:
MIRP_FAMILIES = {
    "all": "all",
    "morph": "morphology",
    "loc": "local_intensity",
    "stat": "statistics",
    "ih": "intensity_histogram",
    "ivh": "intensity_volume_histogram",
    "cm": "glcm",
    "rlm": "glrlm",
    "szm": "glszm",
    "dzm": "gldzm",
    "ngt": "ngtdm",
    "ngl": "ngldm",
}
MODALITIES = {"CT": "ct", "PT": "pet", "PET": "pet", "MR": "mr"}

_DISCRETISATION_SUFFIX = re.compile(r"_fb[a-z]*_[a-z]+[\d.]+$")
_AGGREGATION_SUFFIX = re.compile(
    r"_(?:d1_(?:a0\.0_)?)?(" + "|".join(re.escape(s) for s in MIRP_SUFFIXES) + r")$"
)
SPATIAL_AUTOCORRELATION = (
    "exact over all voxel pairs with 1/distance weights, by FFT correlation "
    "(radiomics.engines.spatial); replaces MIRP's estimate from sampled voxels"
)


class MirpEngine(Engine):
    name = "mirp"

    def feature_conformance(self, name: str, ibsi_code: str) -> tuple[bool | None, str]:
        # Measured: every IBSI-1 reference value of the digital phantom and of
        # configurations A, C and D passes (docs/ibsi_conformance.md).
        if not ibsi_code:
            return None, "no IBSI definition"
        return True, "matches the IBSI-1 reference values (docs/ibsi_conformance.md)"

    @property
    def version(self) -> str:
        return version("mirp")

    def parameters(self, preset: Preset) -> dict[str, Any]:
        from mirp.settings.generic import SettingsClass

        arguments = mirp_arguments(preset)
        settings = vars(SettingsClass(**arguments))
        # No preset filters the image, so the transformation group holds only defaults:
        settings.pop("img_transform")
        return {
            "preset": preset.as_dict(),
            "mirp_arguments": arguments,
            "mirp_settings": {
                group: _json_safe(vars(values)) for group, values in settings.items()
            },
            "moran_i_geary_c": (
                SPATIAL_AUTOCORRELATION
                if preset.exact_spatial_autocorrelation
                else "MIRP's estimate from sampled voxels (ROIs of 1,000 voxels or more)"
            ),
        }

    def explain(self, message: str, image: Volume, preset: Preset) -> str:
        # MIRP's advice here names the method the preset already uses; what it means
        # is that a fixed bin size suits calibrated units (HU, SUV) only:
        if "do not represent calibrated values" in message:
            suited = presets_of(preset.dimensions, "fixed_bin_number")
            return (
                f"Image {image.source} ({image.modality or 'no modality'}) holds "
                f"intensities in arbitrary units, but preset '{preset.name}' bins them "
                "by a fixed bin size, which suits calibrated units such as HU only; "
                "its texture features cannot be compared between scans. Choose a "
                f"preset with a fixed bin number ({', '.join(suited)})."
            )
        return super().explain(message, image, preset)

    def compute(
        self, image: Volume, roi: np.ndarray, preset: Preset
    ) -> tuple[list[FeatureValue], dict[str, float]]:
        from mirp import extract_features_and_images

        with _mirp_logging_contained():
            results = extract_features_and_images(
                image=_mirp_image(image),
                mask=_mirp_mask(image, roi),
                export_features=True,
                export_images=True,
                image_export_format="native",
                **mirp_arguments(preset),
            )
        table, processed_images, processed_masks = results[0]
        processed_image, processed_mask = processed_images[0], processed_masks[0]
        if (
            processed_mask is None
            or not processed_mask.roi_intensity.get_voxel_grid().any()
        ):
            raise EmptyMask(
                f"The ROI of {roi.sum()} voxels has none left after interpolation and "
                f"re-segmentation with preset '{preset.name}'; no features were computed."
            )

        values = mirp_feature_values(table.iloc[0].to_dict())
        if preset.exact_spatial_autocorrelation:
            values = _with_exact_spatial_autocorrelation(
                values, processed_image, processed_mask
            )
        if any(value.tag == "stat_median" for value in values):
            # MIRP's statistics read the processed image within the intensity mask:
            intensities = processed_image.get_voxel_grid()[
                processed_mask.roi_intensity.get_voxel_grid()
            ]
            values += quartile_values(intensities, self.name, "stat_p{p}")

        diagnostics = initial_diagnostics(image, roi) | _processed_diagnostics(
            processed_image, processed_mask
        )
        return values, diagnostics


def mirp_arguments(preset: Preset) -> dict[str, Any]:
    """Translate a preset into MIRP keyword arguments (MIRP's own IBSI-1 tests set the same)."""
    zone_methods = sorted(
        {ZONE_METHODS[_dimension(suffix)] for suffix in preset.aggregations}
    )
    arguments: dict[str, Any] = {
        "by_slice": not preset.is_3d,
        "no_approximation": False,
        "base_feature_families": [MIRP_FAMILIES[family] for family in preset.families],
        "base_discretisation_method": preset.discretisation.method,
        "ivh_discretisation_method": preset.ivh_discretisation.method,
        "glcm_distance": [preset.texture_distance],
        "glcm_spatial_method": [MATRIX_METHODS[s] for s in preset.aggregations],
        "glrlm_spatial_method": [MATRIX_METHODS[s] for s in preset.aggregations],
        "glszm_spatial_method": zone_methods,
        "gldzm_spatial_method": zone_methods,
        "ngtdm_spatial_method": zone_methods,
        "ngldm_distance": [preset.texture_distance],
        "ngldm_difference_level": [preset.ngldm_coarseness],
        "ngldm_spatial_method": zone_methods,
        "anti_aliasing": False,
    }
    for prefix, discretisation in (
        ("base", preset.discretisation),
        ("ivh", preset.ivh_discretisation),
    ):
        if discretisation.bin_width is not None:
            arguments[f"{prefix}_discretisation_bin_width"] = discretisation.bin_width
        if discretisation.bin_count is not None:
            arguments[f"{prefix}_discretisation_n_bins"] = discretisation.bin_count

    if preset.interpolation is not None:
        arguments |= {
            "new_spacing": preset.interpolation.spacing_mm,
            "spline_order": preset.interpolation.image_order,
            "roi_spline_order": preset.interpolation.roi_order,
            "roi_interpolation_mask_inclusion_threshold": preset.interpolation.roi_partial_volume,
        }
    if preset.resegmentation_range is not None:
        arguments["resegmentation_intensity_range"] = [
            float(v) for v in preset.resegmentation_range
        ]
    if preset.outlier_sigma is not None:
        arguments["resegmentation_sigma"] = preset.outlier_sigma
    return arguments


def _dimension(suffix: str) -> str:
    return suffix.removesuffix("_avg").removesuffix("_comb")


def mirp_feature_values(row: dict[str, Any]) -> list[FeatureValue]:
    """Turn one row of MIRP's feature table into IBSI-coded values, skipping metadata."""
    values = []
    for name, value in row.items():
        if not name.startswith(FEATURE_PREFIXES) or value is None:
            continue
        tag = ibsi_tag(name)
        values.append(
            FeatureValue(
                name=name,
                ibsi_code=feature_code(tag),
                value=float(value),
                tag=tag,
                aggregation_code=aggregation_code(tag),
            )
        )
    return values


def ibsi_tag(mirp_name: str) -> str:
    """Return the IBSI compliance-sheet tag of a MIRP feature name.

    "cm_joint_max_d1_3d_avg_fbs_w25.0" -> "cm_joint_max_3D_avg": the discretisation, the
    distance 1 and the NGLDM coarseness 0 that every preset uses are dropped.
    """
    name = _DISCRETISATION_SUFFIX.sub("", mirp_name)
    return _AGGREGATION_SUFFIX.sub(
        lambda match: "_" + MIRP_SUFFIXES[match.group(1)], name
    )


def initial_diagnostics(image: Volume, roi: np.ndarray) -> dict[str, float]:
    array = image.array.astype(np.float64)
    return image_diagnostics("init_img", array, image.spacing) | mask_diagnostics(
        "init_roi", array, roi, roi
    )


def _processed_diagnostics(image: Any, mask: Any) -> dict[str, float]:
    # MIRP keeps spacing in [z, y, x] order; the diagnostics want x first.
    array = image.get_voxel_grid().astype(np.float64)
    spacing = tuple(reversed(image.image_spacing))
    interpolated = mask.roi.get_voxel_grid()
    return (
        image_diagnostics("interp_img", array, spacing)
        | mask_diagnostics("interp_roi", array, interpolated, interpolated)
        | mask_diagnostics(
            "reseg_roi",
            array,
            mask.roi_intensity.get_voxel_grid(),
            mask.roi_morphology.get_voxel_grid(),
        )
    )


def _with_exact_spatial_autocorrelation(
    values: list[FeatureValue], image: Any, mask: Any
) -> list[FeatureValue]:
    moran_i, geary_c = spatial_autocorrelation(
        image.get_voxel_grid(), mask.roi_intensity.get_voxel_grid(), image.image_spacing
    )
    exact = {"morph_moran_i": moran_i, "morph_geary_c": geary_c}
    return [
        FeatureValue(v.name, v.ibsi_code, exact[v.tag], v.tag, v.aggregation_code)
        if v.tag in exact
        else v
        for v in values
    ]


def _mirp_image(image: Volume) -> Any:
    from mirp._data_import.numpy_file import ImageNumpyFile

    return _mirp_file(
        ImageNumpyFile,
        image,
        image.array.astype(np.float32),
        MODALITIES.get(image.modality.upper(), "generic"),
    )


def _mirp_mask(image: Volume, roi: np.ndarray) -> Any:
    from mirp._data_import.numpy_file import MaskNumpyFile

    return _mirp_file(MaskNumpyFile, image, roi.astype(np.int8), "generic_mask")


def _mirp_file(
    file_class: type, image: Volume, array: np.ndarray, modality: str
) -> Any:
    # NB: MIRP lists geometry in [z, y, x] order, and its direction matrix is ITK's
    # flattened and reversed, as its own ITK reader builds it.
    mirp_file = file_class(
        image_data=array,
        image_spacing=tuple(reversed(image.spacing)),
        image_origin=tuple(reversed(image.origin)),
        image_orientation=np.reshape(np.asarray(image.direction)[::-1], (3, 3)),
        image_dimensions=array.shape,
        image_modality=modality,
        sample_name="roi",
    )
    mirp_file.image_metadata = array
    return mirp_file


@contextlib.contextmanager
def _mirp_logging_contained() -> Iterator[None]:
    # NB: MIRP calls logging.basicConfig(level=INFO, stream=stdout) on every run, which
    # would give an unconfigured root logger a stdout handler for good; a temporary
    # handler makes that call a no-op.
    root = logging.getLogger()
    placeholder = logging.NullHandler()
    if not root.handlers:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        if placeholder in root.handlers:
            root.removeHandler(placeholder)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)
