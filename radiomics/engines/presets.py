"""Named extraction parameter sets, stated in IBSI terms so that any engine can apply them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

# Texture aggregation, named by the tag suffixes of the IBSI compliance sheet:
ALL_2D = ("2D_avg", "2D_comb", "2_5D_avg", "2_5D_comb")
ALL_3D = ("3D_avg", "3D_comb")
# Feature families, named by the IBSI tag prefixes:
FAMILIES = (
    "all",
    "morph",
    "loc",
    "stat",
    "ih",
    "ivh",
    "cm",
    "rlm",
    "szm",
    "dzm",
    "ngt",
    "ngl",
)


class UnknownPreset(ValueError):
    pass


@dataclass(frozen=True)
class Discretisation:
    """Grey-level discretisation; `method` is "none", "fixed_bin_size" or "fixed_bin_number"."""

    method: Literal["none", "fixed_bin_size", "fixed_bin_number"] = "none"
    bin_width: float | None = None
    bin_count: int | None = None


@dataclass(frozen=True)
class Interpolation:
    """Resampling onto a grid of `spacing_mm`, centred on the original grid (IBSI 2.4).

    For 2D presets only the in-plane spacing changes. `image_order` is the spline order
    (1 = linear); the ROI mask is interpolated linearly and voxels with a partial volume
    of at least `roi_partial_volume` stay in the ROI.
    """

    spacing_mm: float
    image_order: int = 1
    roi_order: int = 1
    roi_partial_volume: float = 0.5


@dataclass(frozen=True)
class Preset:
    """A complete parameter set for one extraction.

    CT intensities are rounded to whole HU after interpolation (IBSI 2.4); for other
    modalities they are kept as interpolated.
    """

    name: str
    description: str
    dimensions: Literal["2D", "3D"]
    discretisation: Discretisation
    ivh_discretisation: Discretisation = Discretisation()
    interpolation: Interpolation | None = None
    resegmentation_range: tuple[float, float] | None = None
    outlier_sigma: float | None = None
    aggregations: tuple[str, ...] = ALL_3D
    families: tuple[str, ...] = ("all",)
    texture_distance: float = 1.0
    ngldm_coarseness: float = 0.0
    # Moran's I and Geary's C over every voxel pair; False lets an engine estimate them
    # from random samples of voxels, which is faster but misses the IBSI tolerance.
    exact_spatial_autocorrelation: bool = True
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        unknown = sorted(set(self.families) - set(FAMILIES))
        if unknown:
            raise UnknownPreset(
                f"Preset '{self.name}' names unknown feature families {', '.join(unknown)}; "
                f"choose among {', '.join(FAMILIES)}."
            )

    @property
    def is_3d(self) -> bool:
        return self.dimensions == "3D"

    def with_changes(self, **changes: Any) -> Preset:
        """Return a copy with some parameters changed; the copy records them by name."""
        if not changes:
            return self
        changed = ", ".join(
            f"{key}={value!r}" for key, value in sorted(changes.items())
        )
        return dataclasses.replace(
            self, **changes, notes=(*self.notes, f"changed: {changed}")
        )

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# The IBSI-1 reference settings (IBSI manual, chapter 5; ../shared/data/ibsi1_reference_values):
IBSI1_DIGITAL_PHANTOM = Preset(
    name="ibsi1_digital_phantom",
    description="IBSI-1 digital phantom: no interpolation, no re-segmentation, no discretisation.",
    dimensions="3D",
    discretisation=Discretisation("none"),
    aggregations=ALL_2D + ALL_3D,
)

IBSI1_CONFIG_A = Preset(
    name="ibsi1_config_a",
    description="IBSI-1 configuration A: 2D, no interpolation, range [-500, 400] HU, fixed bin size 25 HU.",
    dimensions="2D",
    discretisation=Discretisation("fixed_bin_size", bin_width=25.0),
    resegmentation_range=(-500.0, 400.0),
    aggregations=ALL_2D,
)

IBSI1_CONFIG_B = Preset(
    name="ibsi1_config_b",
    description=(
        "IBSI-1 configuration B: 2D, 2 mm in-plane bilinear interpolation, range [-500, 400] HU, "
        "fixed bin number 32."
    ),
    dimensions="2D",
    discretisation=Discretisation("fixed_bin_number", bin_count=32),
    interpolation=Interpolation(spacing_mm=2.0),
    resegmentation_range=(-500.0, 400.0),
    aggregations=ALL_2D,
)

IBSI1_CONFIG_C = Preset(
    name="ibsi1_config_c",
    description=(
        "IBSI-1 configuration C: 3D, 2 mm isotropic trilinear interpolation, range [-1000, 400] HU, "
        "fixed bin size 25 HU, IVH fixed bin size 2.5 HU."
    ),
    dimensions="3D",
    discretisation=Discretisation("fixed_bin_size", bin_width=25.0),
    ivh_discretisation=Discretisation("fixed_bin_size", bin_width=2.5),
    interpolation=Interpolation(spacing_mm=2.0),
    resegmentation_range=(-1000.0, 400.0),
)

IBSI1_CONFIG_D = Preset(
    name="ibsi1_config_d",
    description=(
        "IBSI-1 configuration D: 3D, 2 mm isotropic trilinear interpolation, 3-sigma outlier "
        "filtering, fixed bin number 32."
    ),
    dimensions="3D",
    discretisation=Discretisation("fixed_bin_number", bin_count=32),
    interpolation=Interpolation(spacing_mm=2.0),
    outlier_sigma=3.0,
)

IBSI1_CONFIG_E = Preset(
    name="ibsi1_config_e",
    description=(
        "IBSI-1 configuration E: 3D, 2 mm isotropic tricubic spline interpolation, range "
        "[-1000, 400] HU and 3-sigma outlier filtering, fixed bin number 32, IVH 1000 bins."
    ),
    dimensions="3D",
    discretisation=Discretisation("fixed_bin_number", bin_count=32),
    ivh_discretisation=Discretisation("fixed_bin_number", bin_count=1000),
    interpolation=Interpolation(spacing_mm=2.0, image_order=3),
    resegmentation_range=(-1000.0, 400.0),
    outlier_sigma=3.0,
)

# Not an IBSI-1 configuration: D computed slice by slice, for single-slice images in
# arbitrary units (MR), where A and B's HU range would leave no voxel:
SLICE_RELATIVE = dataclasses.replace(
    IBSI1_CONFIG_D,
    name="slice_2d_relative",
    description=(
        "2D, 2 mm in-plane bilinear interpolation, 3-sigma outlier filtering, fixed bin "
        "number 32: configuration D slice by slice, for single-slice images whose "
        "intensities are in arbitrary units (MR). Not an IBSI-1 reference configuration."
    ),
    dimensions="2D",
    aggregations=ALL_2D,
)

PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        IBSI1_DIGITAL_PHANTOM,
        IBSI1_CONFIG_A,
        IBSI1_CONFIG_B,
        IBSI1_CONFIG_C,
        IBSI1_CONFIG_D,
        IBSI1_CONFIG_E,
        SLICE_RELATIVE,
    )
}


def describe_presets() -> str:
    """Return "name (2D), name (3D), ..." for help texts."""
    return ", ".join(
        f"{name} ({preset.dimensions})" for name, preset in PRESETS.items()
    )


def get_preset(name_or_preset: str | Preset) -> Preset:
    if isinstance(name_or_preset, Preset):
        return name_or_preset
    try:
        return PRESETS[name_or_preset]
    except KeyError:
        raise UnknownPreset(
            f"Unknown preset '{name_or_preset}'; choose one of {', '.join(PRESETS)}."
        ) from None
