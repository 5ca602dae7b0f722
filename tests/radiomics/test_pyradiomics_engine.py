"""The PyRadiomics engine: native mode against PyRadiomics' baselines, IBSI mode against
the published IBSI-1 reference values, and its corrected IBSI mapping."""

from __future__ import annotations

import ast
import csv
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from radiomics.engines import Volume, get_engine, get_preset
from radiomics.engines.conformance import CONFIGURATIONS, run_configuration
from radiomics.engines.ibsi import FEATURE_CODES
from radiomics.engines.presets import Discretisation, Interpolation
from radiomics.engines.pyradiomics_engine import (
    IBSI_CODES,
    PyRadiomicsEngine,
    discretise,
    feature_conformance,
    interpolation_grid,
    pyradiomics,
)
from tests.conftest import shared_path

CASES = ("brain1", "breast1")
# Features computed from PyRadiomics' surface mesh: its marching cubes changed since the
# baselines were made (PyRadiomics 1.3.0), and brain1's mesh values moved by up to 0.09 %.
MESH_FEATURES = {
    "original_shape_MeshVolume",
    "original_shape_SurfaceArea",
    "original_shape_SurfaceVolumeRatio",
    "original_shape_Sphericity",
}
MESH_RTOL = 1e-3  # PyRadiomics' own regression tests are looser still
RTOL = 1e-9  # everything else is reproduced to floating-point precision


def read_baseline(case: str) -> tuple[dict[str, float], dict]:
    """Return the baseline values of `case` and the settings they were made with."""
    folder = shared_path("pyradiomics_testcases", "baseline")
    values: dict[str, float] = {}
    settings: dict = {}
    for sheet in sorted(folder.glob("baseline_*.csv")):
        with sheet.open(newline="") as rows:
            for row in csv.DictReader(rows):
                name, value = row["featureName"], row.get(case, "")
                if name == "diagnostics_Configuration_Settings" and value:
                    settings = ast.literal_eval(value)
                elif name.startswith("original_") and value != "":
                    values[name] = float(value)
    return values, settings


def parameter_file(tmp_path, settings: dict) -> str:
    """Write the baseline settings as a PyRadiomics YAML parameter file."""
    kept = {key: value for key, value in settings.items() if value is not None}
    kept.pop("additionalInfo", None)
    lines = ["imageType:", "  Original: {}", "setting:"]
    lines += [
        f"  {key}: {value!r}".replace("False", "false").replace("True", "true")
        for key, value in kept.items()
    ]
    path = tmp_path / "params.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("case", CASES)
def test_native_mode_reproduces_pyradiomics_baseline(case, tmp_path):
    baseline, settings = read_baseline(case)
    assert settings["binWidth"] == 25 and settings["voxelArrayShift"] == 2000
    images = shared_path("pyradiomics_testcases", "images")
    engine = PyRadiomicsEngine(parameters=parameter_file(tmp_path, settings))

    extraction = engine.extract(
        images / f"{case}_image.nrrd", images / f"{case}_label.nrrd", label=1
    )

    ours = {value.name: value.value for value in extraction.values if not value.source}
    quartiles = {value.name: value.value for value in extraction.values if value.source}
    expected = {name: v for name, v in baseline.items() if "shape2D" not in name}
    assert set(ours) == set(expected)
    # The biobank's quartiles beside them span PyRadiomics' interquartile range:
    p25, p75 = (quartiles[f"original_firstorder_{p}Percentile"] for p in (25, 75))
    assert len(quartiles) == 2
    assert np.isclose(p75 - p25, expected["original_firstorder_InterquartileRange"])
    wrong = [
        f"{name}: ours {ours[name]!r}, baseline {value!r}"
        for name, value in expected.items()
        if not np.isclose(
            ours[name], value, rtol=MESH_RTOL if name in MESH_FEATURES else RTOL, atol=0
        )
    ]
    assert wrong == []
    assert extraction.parameters["mode"] == "native"
    assert extraction.engine == "pyradiomics"


def test_native_mode_codes_follow_corrected_mapping(tmp_path):
    _, settings = read_baseline("breast1")
    images = shared_path("pyradiomics_testcases", "images")
    engine = PyRadiomicsEngine(parameters=parameter_file(tmp_path, settings))
    extraction = engine.extract(
        images / "breast1_image.nrrd", images / "breast1_label.nrrd", label=1
    )
    codes = {value.name: value.ibsi_code for value in extraction.values}

    assert codes["original_glszm_SmallAreaLowGrayLevelEmphasis"] == "5RAI"
    assert codes["original_glszm_LowGrayLevelZoneEmphasis"] == "XMSY"
    assert codes["original_glcm_Imc2"] == "JN9H"
    # PyRadiomics' kurtosis is not IBSI's excess kurtosis, so native mode codes none:
    assert codes["original_firstorder_Kurtosis"] == ""


def test_corrected_mapping_differs_from_shipped_file_only_where_documented():
    sheet = shared_path(
        "pyradiomics_testcases", "ibsi_mapping", "featuresDict_IBSIv7.tsv"
    )
    with sheet.open(newline="", encoding="utf-8") as rows:
        shipped = {
            (row["pyradiomics_feature_class"], row["pyradiomics_feature_name"]): row[
                "IBSI_code"
            ]
            for row in csv.DictReader(rows, delimiter="\t")
            if row["pyradiomics_feature_class"]
        }
    deprecated = {
        ("gldm", "GrayLevelNonUniformityNormalized"),
        ("gldm", "DependencePercentage"),
        ("glcm", "SumVariance"),
        ("glcm", "Dissimilarity"),
    }
    misfiled = {
        ("glcm", "SmallAreaLowGrayLevelEmphasis"): ("glszm", "5RAI"),
        ("glcm", "SmallAreaHighGrayLevelEmphasis"): ("glszm", "HW1V"),
        ("glcm", "LargeAreaLowGrayLevelEmphasis"): ("glszm", "YH51"),
        ("glcm", "LargeAreaHighGrayLevelEmphasis"): ("glszm", "J17V"),
    }
    # Names PyRadiomics does not have; its GLSZM says ZoneVariance and ZoneEntropy:
    renamed = {
        ("glszm", "ZoneSizeVariance"): "ZoneVariance",
        ("glszm", "ZoneSizeEntropy"): "ZoneEntropy",
    }
    for key, code in shipped.items():
        if key in deprecated:
            assert key not in IBSI_CODES
        elif key in misfiled:
            family, fixed = misfiled[key]
            assert code == fixed and IBSI_CODES[(family, key[1])] == code
        elif key in renamed:
            assert IBSI_CODES[("glszm", renamed[key])] == code
        elif key in {
            ("glszm", "LowGreyLevelZoneEmphasis"),
            ("glszm", "HighGreyLevelZoneEmphasis"),
        }:
            # S1RA and K26C are distance-zone codes in the IBSI manual:
            assert FEATURE_CODES["dzm_lgze"] == "S1RA" == code or code == "K26C"
        else:
            assert IBSI_CODES[key] == code, key
    assert (
        IBSI_CODES[("glszm", "LowGrayLevelZoneEmphasis")] == FEATURE_CODES["szm_lgze"]
    )
    assert (
        IBSI_CODES[("glszm", "HighGrayLevelZoneEmphasis")] == FEATURE_CODES["szm_hgze"]
    )
    added = (
        set(IBSI_CODES)
        - set(shipped)
        - {(family, feature) for (family, feature) in misfiled.values()}
    )
    assert {key for key in added if key[0] != "glszm"} == {
        ("glcm", "Autocorrelation"),
        ("glcm", "Imc1"),
        ("glcm", "Imc2"),
        ("firstorder", "Kurtosis"),
    }
    assert set(IBSI_CODES.values()) <= set(FEATURE_CODES.values())


def test_interpolation_grid_is_centred_on_the_original():
    # 5 voxels of 1 mm -> ceil(5 / 2) = 3 of 2 mm at original indices 0, 2, 4;
    # 4 voxels of 1 mm -> 2 of 2 mm, centred: indices 0.5 and 2.5 (centre 1.5 both).
    (five,) = interpolation_grid((5,), (1.0,), (2.0,))
    (four,) = interpolation_grid((4,), (1.0,), (2.0,))
    assert five.tolist() == [0.0, 2.0, 4.0]
    assert four.tolist() == [0.5, 2.5]
    # 3 mm slices to 2 mm: ceil(10 * 3 / 2) = 15 points, centre 13.5 mm stays at index 4.5
    (slices,) = interpolation_grid((10,), (3.0,), (2.0,))
    assert len(slices) == 15 and slices.mean() == pytest.approx(4.5)


def test_fixed_bin_size_counts_from_the_resegmentation_bound():
    values = np.array([-480.0, -450.0, 390.0, 999.0])
    mask = np.array([True, True, True, False])
    levels = discretise(values, mask, Discretisation("fixed_bin_size", 25.0), -500.0)
    # floor((x + 500) / 25) + 1 by hand; outside the ROI stays 0:
    assert levels.tolist() == [1.0, 3.0, 36.0, 0.0]
    number = discretise(
        values, mask, Discretisation("fixed_bin_number", bin_count=4), None
    )
    # floor(4 (x - min) / (max - min)) + 1, the maximum in the top bin:
    assert number.tolist() == [1.0, 1.0, 4.0, 0.0]


def test_pyradiomics_loads_without_displacing_this_app():
    import radiomics as app

    modules = pyradiomics()

    assert sys.modules["radiomics"] is app
    assert (Path(app.__file__).parent / "engines").is_dir()
    assert modules["radiomics"] is not app
    assert modules["radiomics"].cMatrices is not None


def test_get_engine_knows_pyradiomics():
    engine = get_engine("pyradiomics")
    assert isinstance(engine, PyRadiomicsEngine) and engine.mode == "ibsi"


def test_conformance_marks():
    assert feature_conformance("ibsi3Davg_glcm_JointAverage") == (
        True,
        "matches the IBSI-1 reference values (digital phantom, configurations A, C, D)",
    )
    assert feature_conformance("ibsi_firstorder_TotalEnergy")[0] is None
    conformant, note = feature_conformance("original_firstorder_Kurtosis")
    assert conformant is False and "excess" in note
    assert feature_conformance("original_glcm_Contrast")[0] is None


def assert_marks_agree_with_reference(configuration: str):
    """Every value of a feature marked conformant passes; every referenced one is computed."""
    data = shared_path("ibsi1_reference_values").parent
    result = run_configuration(PyRadiomicsEngine(), CONFIGURATIONS[configuration], data)
    by_tag = {c.reference.tag: c for c in result.comparisons}

    checked, wrong = 0, []
    for value in result.extraction.values:
        conformant, _ = feature_conformance(value.name)
        if value.ibsi_code:
            assert value.tag in by_tag, f"{value.name} ({value.tag}) has no reference"
        if conformant and value.tag in by_tag:
            checked += 1
            comparison = by_tag[value.tag]
            if not comparison.passed:
                wrong.append(
                    f"{value.name} ({value.tag}): ours {value.value}, reference "
                    f"{comparison.reference.reference} ± {comparison.reference.tolerance}"
                )
    assert wrong == []
    assert checked >= 150
    # What fails is only what PyRadiomics does not compute (GLDZM, IVH, local intensity...):
    computed_but_failing = [
        c.reference.tag for c in result.failures if c.ours is not None
    ]
    assert computed_but_failing == []
    diagnostics = [
        c
        for c in result.comparisons
        if c.reference.tag in result.extraction.diagnostics
    ]
    assert all(c.passed for c in diagnostics)
    return result


def test_ibsi_mode_on_the_digital_phantom():
    result = assert_marks_agree_with_reference("phantom")
    # Hand-checkable values of the phantom (IBSI manual, table values):
    assert result.extraction.value("ibsi_firstorder_Kurtosis") == pytest.approx(
        -0.355, abs=5e-4
    )
    assert result.extraction.value("ibsi_shape_MinorAxisLength") == pytest.approx(
        9.31, abs=5e-3
    )


def test_ibsi_mode_on_configuration_a():
    assert_marks_agree_with_reference("A")


# C and D take a few seconds each (PyRadiomics' speed), so they run by default.
@pytest.mark.parametrize("configuration", ["C", "D"])
def test_ibsi_mode_on_interpolated_configurations(configuration):
    assert_marks_agree_with_reference(configuration)


def test_conformance_command_runs_the_pyradiomics_engine(tmp_path):
    data = shared_path("ibsi1_reference_values").parent
    output = tmp_path / "report.md"

    call_command(
        "ibsi_conformance",
        config="phantom",
        engine="pyradiomics",
        output=output,
        data=data,
        stdout=StringIO(),
    )

    report = output.read_text(encoding="utf-8")
    assert report.startswith("# IBSI-1 conformance of the pyradiomics engine")
    assert (
        "`python manage.py ibsi_conformance --config phantom --engine pyradiomics`"
        in report
    )
    # IBSI's excess kurtosis of the phantom is -0.355; PyRadiomics' own value is 2.645:
    assert "| (Excess) kurtosis | `stat_kurt` | -0.355 | 0 | -0.35462 | yes |" in report


def test_conformance_command_refuses_an_unknown_engine():
    with pytest.raises(CommandError, match="Unknown engine 'nope'"):
        call_command("ibsi_conformance", config="phantom", engine="nope")


def test_2d_preset_interpolates_in_plane_only():
    # 12 x 12 voxels of 1 mm to 2 mm in-plane: ceil(12 / 2) = 6 per axis; 4 slices of
    # 3 mm stay 4 slices of 3 mm (IBSI: 2D interpolation leaves z alone).
    preset = get_preset("ibsi1_config_a").with_changes(
        name="config_b_like", interpolation=Interpolation(spacing_mm=2.0)
    )
    image = np.arange(4 * 12 * 12, dtype=float).reshape(4, 12, 12) % 50
    mask = np.zeros_like(image)
    mask[:, 2:10, 2:10] = 1

    extraction = PyRadiomicsEngine().extract(
        Volume.from_array(image, spacing=(1, 1, 3), modality="CT"),
        Volume.from_array(mask, spacing=(1, 1, 3)),
        preset,
        label=1,
    )

    dims = extraction.diagnostics
    assert (dims["img_dim_x_interp_img"], dims["img_dim_y_interp_img"]) == (6, 6)
    assert dims["img_dim_z_interp_img"] == 4
    assert (dims["vox_dim_x_interp_img"], dims["vox_dim_z_interp_img"]) == (2.0, 3.0)
    assert extraction.value("ibsi2Davg_glcm_JointEntropy") >= 0
