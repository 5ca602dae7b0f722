"""The radiomic features of every synthetic extraction: definitions and plausible values."""

from __future__ import annotations

import numpy as np

from radiomics.features import IBSI_CODES
from radiomics.models import FeatureDefinition

from .distributions import SCANNERS

FEATURES_PER_EXTRACTION = 100


def ensure_feature_definitions() -> list[FeatureDefinition]:
    """Return the 100 PyRadiomics features the generator fills, creating missing ones.

    Definitions are shared by every project; existing ones are reused unchanged.
    """
    wanted = list(IBSI_CODES.items())[:FEATURES_PER_EXTRACTION]
    names = [f"original_{family}_{name}" for (family, name), _code in wanted]
    existing = FeatureDefinition.objects.in_bulk(names, field_name="name")
    FeatureDefinition.objects.bulk_create(
        [
            FeatureDefinition(
                name=name,
                family=family,
                feature_name=feature_name,
                image_filter="original",
                ibsi_code=code,
                description=ibsi_name,
            )
            for name, ((family, feature_name), (code, ibsi_name)) in zip(
                names, wanted, strict=True
            )
            if name not in existing
        ]
    )
    by_name = FeatureDefinition.objects.in_bulk(names, field_name="name")
    return [by_name[name] for name in names]


def feature_matrix(
    rng: np.random.Generator,
    features: list[FeatureDefinition],
    latents: list[tuple[float, int]],
) -> np.ndarray:
    """Return plausible values, one row per extraction, one column per feature.

    Each family has its own scale: volumes and areas log-normal and growing with the
    patient's tumour size, shape ratios and normalised texture features in (0, 1),
    CT intensities in HU around soft tissue, entropies of a few bits, emphasis and
    non-uniformity features log-normal. The scanner shifts every texture feature a
    little, as reconstruction kernels do.
    """
    rows = len(latents)
    size = np.array([latent[0] for latent in latents])
    scanner = np.array([latent[1] for latent in latents])
    scanner_shift = np.linspace(-0.15, 0.15, len(SCANNERS))[scanner]
    values = np.empty((rows, len(features)))
    for column, feature in enumerate(features):
        values[:, column] = feature_column(rng, feature, size, scanner_shift)
    return values


# Features whose values lie between 0 and 1 (besides every "...Normalized" one):
RATIOS = {
    "Sphericity", "Elongation", "Flatness", "Compactness1", "Compactness2",
    "Uniformity", "Id", "Idm", "Idn", "Idmn", "Imc2", "Correlation", "JointEnergy",
    "MaximumProbability", "RunPercentage", "ZonePercentage", "DependencePercentage",
    "ShortRunEmphasis", "SmallAreaEmphasis", "SmallDependenceEmphasis",
}  # fmt: skip


def feature_column(
    rng: np.random.Generator,
    feature: FeatureDefinition,
    size: np.ndarray,
    shift: np.ndarray,
) -> np.ndarray:
    name, family, rows = feature.feature_name, feature.family, len(size)
    if family == "shape" and any(word in name for word in ("Volume", "Area")):
        if "Ratio" in name:
            return rng.lognormal(np.log(0.6), 0.3, rows) / np.cbrt(size)
        power = 2 / 3 if "Area" in name else 1.0
        return 15_000 * size**power * rng.lognormal(0, 0.3, rows)
    if family == "shape" and ("Length" in name or "Diameter" in name):
        return 35 * np.cbrt(size) * rng.lognormal(0, 0.2, rows)
    if family == "shape" and "SphericalDisproportion" in name:
        return 1 + rng.gamma(2.0, 0.25, rows)
    if name in RATIOS or name.endswith("Normalized"):
        return rng.beta(5, 5, rows) * (1 + shift) / (1 + shift.max())
    if name.endswith("NonUniformity"):  # counts, growing with the ROI's voxels
        return 400 * size * rng.lognormal(0, 0.5, rows) * (1 + shift)
    if name == "Imc1":
        return -rng.beta(2, 8, rows)
    if family == "firstorder" and name in (
        "Mean", "Median", "Minimum", "10Percentile", "90Percentile", "Maximum",
        "RootMeanSquared",
    ):  # fmt: skip
        offset = {
            "Minimum": -180,
            "10Percentile": -40,
            "90Percentile": 90,
            "Maximum": 260,
        }
        return rng.normal(35 + offset.get(name, 0), 25, rows)
    if name == "Skewness" or name == "ClusterShade":
        return rng.normal(0, 0.8 if name == "Skewness" else 50, rows)
    if "Entropy" in name:
        return np.clip(rng.normal(4.5, 0.8, rows), 0.1, None) * (1 + shift / 3)
    if name == "Energy":
        return 1e8 * size * rng.lognormal(0, 0.5, rows)
    return rng.lognormal(np.log(5.0), 1.0, rows) * (1 + shift)
