"""The 25th and 75th intensity percentiles the biobank adds beside each engine's first
order, held to the engine's own 10th and 90th percentiles, median and interquartile range."""

from __future__ import annotations

import numpy as np
import pytest

from radiomics.engines import Volume, base, get_engine, get_preset
from radiomics.engines.conformance import read_phantom
from radiomics.engines.presets import IBSI1_DIGITAL_PHANTOM, Discretisation
from radiomics.extraction import plan_extraction, run_extraction
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import FeatureExtraction, Segmentation
from tests.conftest import shared_path
from tests.radiomics.test_masks import sts

# Each engine's names of (P10, median, P90, interquartile range, P25, P75):
PYRADIOMICS_NAMES = (
    "10Percentile", "Median", "90Percentile", "InterquartileRange", "25Percentile",
    "75Percentile",
)  # fmt: skip
NAMES = {
    "mirp": ("stat_p10", "stat_median", "stat_p90", "stat_iqr", "stat_p25", "stat_p75"),
    "pyradiomics": tuple(f"ibsi_firstorder_{name}" for name in PYRADIOMICS_NAMES),
}
NATIVE_NAMES = tuple(f"original_firstorder_{name}" for name in PYRADIOMICS_NAMES)
# PyRadiomics' own re-sampling and re-segmentation, so that the test shows the
# quartiles read the voxels after them:
NATIVE_PARAMETERS = {
    "imageType": {"Original": {}},
    "featureClass": {"firstorder": []},
    "setting": {"resampledPixelSpacing": [2, 2, 2], "resegmentRange": [-100, 300]},
}
# Only the statistics: the quartiles need nothing else, and the real CT stays quick.
STATISTICS_C = get_preset("ibsi1_config_c").with_changes(families=("stat",))


@pytest.fixture
def handed_over(monkeypatch) -> list[np.ndarray]:
    """The intensities each extraction hands to the biobank's percentiles."""
    seen: list[np.ndarray] = []
    compute = base.intensity_percentiles

    def spy(intensities: np.ndarray, percentiles: tuple[float, ...]):
        seen.append(intensities)
        return compute(intensities, percentiles)

    monkeypatch.setattr(base, "intensity_percentiles", spy)
    return seen


def assert_agrees_with_the_engine(
    values: dict[str, float], names: tuple[str, ...], intensities: np.ndarray
) -> None:
    """Percentiles computed our way from the voxels handed over equal the engine's."""
    p10, median, p90, iqr, p25, p75 = names

    ours = base.intensity_percentiles(intensities, (10, 50, 90))

    assert (ours[10], ours[50], ours[90]) == pytest.approx(
        (values[p10], values[median], values[p90]), rel=1e-12, abs=1e-12
    )
    # MIRP subtracts its float32 percentiles in float32:
    assert values[p75] - values[p25] == pytest.approx(values[iqr], rel=1e-6, abs=1e-6)
    assert values[p25] < values[p75]


def distinct_values() -> tuple[Volume, Volume]:
    """A 3 x 3 x 3 ROI of distinct non-integer values, where interpolation methods differ."""
    rng = np.random.default_rng(20240607)
    image = rng.uniform(0.0, 100.0, size=(5, 5, 5)).astype(np.float32)
    mask = np.zeros((5, 5, 5), dtype=np.uint8)
    mask[1:4, 1:4, 1:4] = 1
    return Volume.from_array(image), Volume.from_array(mask)


@pytest.mark.parametrize("engine", ["mirp", "pyradiomics"])
def test_quartiles_interpolate_as_the_engine_does(engine, handed_over):
    image, mask = distinct_values()
    preset = IBSI1_DIGITAL_PHANTOM.with_changes(
        families=("stat",),
        discretisation=Discretisation("fixed_bin_number", bin_count=8),
    )

    result = get_engine(engine).extract(image, mask, preset)

    (intensities,) = handed_over
    assert intensities.size == 27
    values = {v.name: v.value for v in result.values}
    assert_agrees_with_the_engine(values, NAMES[engine], intensities)
    # Another interpolation would not do here: the 10th percentile falls between ranks.
    nearest = np.percentile(intensities, 10, method="nearest")
    assert values[NAMES[engine][0]] != pytest.approx(nearest, rel=1e-6)


@pytest.mark.parametrize("engine", ["mirp", "pyradiomics"])
def test_quartiles_read_the_ct_phantom_after_interpolation_and_resegmentation(
    engine, handed_over
):
    image, mask = read_phantom(shared_path("ibsi1_ct_phantom"))

    result = get_engine(engine).extract(image, mask, STATISTICS_C)

    (intensities,) = handed_over
    values = {v.name: v.value for v in result.values}
    assert_agrees_with_the_engine(values, NAMES[engine], intensities)
    # The voxels after 2 mm interpolation and the [-1000, 400] HU range, not the input's:
    assert intensities.size == result.diagnostics["int_mask_vox_count_reseg_roi"]
    assert intensities.size != np.count_nonzero(mask.array)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("engine", "parameters", "names"),
    [
        ("mirp", None, NAMES["mirp"]),
        ("pyradiomics", None, NAMES["pyradiomics"]),
        ("pyradiomics", NATIVE_PARAMETERS, NATIVE_NAMES),
    ],
    ids=["mirp", "pyradiomics", "pyradiomics-native"],
)
def test_quartiles_of_a_real_ct_gtv_are_stored_with_their_source(
    engine, parameters, names, project, handed_over
):
    ingest_dicom(sts("CT"), project)
    gtv = Segmentation.objects.get(series__modality="CT")
    planned = plan_extraction(
        gtv,
        engine,
        preset=None if parameters else STATISTICS_C,
        engine_parameters=parameters,
    )

    extraction = run_extraction(planned.pk)

    assert extraction.status == FeatureExtraction.Status.DONE, extraction.error
    stored = {v.feature.name: v for v in extraction.values.select_related("feature")}
    (intensities,) = handed_over
    assert_agrees_with_the_engine(
        {name: value.value for name, value in stored.items()}, names, intensities
    )
    p25 = stored[names[4]].feature
    assert (p25.family, p25.image_filter, p25.ibsi_code) == (
        "firstorder",
        "original",
        "",
    )
    assert p25.description.startswith(
        f"25th percentile of the ROI intensities that {engine} used"
    )
    assert "SALO" in p25.description
