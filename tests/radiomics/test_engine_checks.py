"""Checks before extraction: grids, labels, empty and tiny ROIs, 2D images (cases 09-11)."""

from __future__ import annotations

import numpy as np
import pytest

from radiomics.engines import Volume, get_engine, read_volume
from radiomics.engines.checks import (
    AmbiguousLabels,
    DimensionMismatch,
    EmptyMask,
    EngineFailed,
    GreyLevelsUndefined,
    GridMismatch,
    LabelNotFound,
    RoiTooSmall,
    check_grids,
)
from radiomics.engines.presets import IBSI1_CONFIG_A, IBSI1_DIGITAL_PHANTOM
from tests.conftest import case_path
from tests.radiomics.conftest import build_ct, write_part10

# First-order and voxel-counting features are enough to read the cases' expected values:
QUICK_3D = IBSI1_DIGITAL_PHANTOM.with_changes(families=("morph", "stat"))
QUICK_2D = IBSI1_CONFIG_A.with_changes(families=("stat", "cm"))

GEOMETRY = "09-mask-geometry-mismatch"
LABELS = "10-mask-label-values"
TINY = "11-mask-single-voxel-empty"


def extract(case: str, mask: str, label: float | None = None):
    image = read_volume(case_path(case, "image.nrrd"), modality="CT")
    return get_engine().extract(
        image, read_volume(case_path(case, mask)), QUICK_3D, label
    )


def refusal(
    exception: type[Exception], case: str, mask: str, label: float | None = None
) -> str:
    with pytest.raises(exception) as caught:
        extract(case, mask, label)
    return str(caught.value)


def assert_expected_roi(
    extraction, voxels: int = 8, volume: float = 12.8, mean: float = 288.5
):
    assert extraction.voxel_count == voxels
    assert extraction.value("morph_vol_approx") == pytest.approx(volume)
    assert extraction.value("stat_mean") == pytest.approx(mean)


@pytest.mark.parametrize(
    "mask",
    [
        "mask_a_exact.nrrd",
        "mask_b_same_geometry_ras.nii.gz",
        "mask_c_float_jitter.nrrd",
    ],
)
def test_accepts_masks_on_the_image_grid_and_reads_the_nifti_unmirrored(mask):
    extraction = extract(GEOMETRY, mask)

    assert_expected_roi(extraction)
    assert extraction.value("stat_min") == 233
    assert extraction.value("stat_max") == 344
    assert extraction.diagnostics["int_mask_vox_count_init_roi"] == 8


def test_rejects_a_mask_shifted_by_one_slice_naming_origin_axis_and_both_values():
    message = refusal(GridMismatch, GEOMETRY, "mask_d_shifted_one_slice.nrrd")

    assert "origin differs along z: image 30 mm, mask 32.5 mm (2.5 mm apart)" in message
    assert "mask_d_shifted_one_slice.nrrd" in message
    assert "spacing" not in message


def test_rejects_a_mask_with_another_slice_spacing():
    message = refusal(GridMismatch, GEOMETRY, "mask_e_spacing_mismatch.nrrd")

    assert "spacing differs along z: image 2.5 mm, mask 2 mm" in message


def test_rejects_masks_of_another_size_or_direction():
    image = Volume.from_array(np.zeros((4, 8, 8)), spacing=(0.8, 0.8, 2.5))
    smaller = Volume.from_array(np.zeros((3, 8, 8)), spacing=(0.8, 0.8, 2.5))
    mirrored = Volume.from_array(
        np.zeros((4, 8, 8)),
        spacing=(0.8, 0.8, 2.5),
        direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1),
    )

    with pytest.raises(
        GridMismatch, match="size differs: image 8 x 8 x 4 voxels, mask 8 x 8 x 3"
    ):
        check_grids(image, smaller)
    with pytest.raises(
        GridMismatch,
        match=r"direction of the x axis differs: image \(1, 0, 0\), mask \(-1, 0, 0\)",
    ):
        check_grids(image, mirrored)


@pytest.mark.parametrize(
    "mask, label", [("mask_a_label255.nrrd", 255), ("mask_b_label2.nrrd", 2)]
)
def test_takes_a_mask_with_one_non_zero_value_as_the_roi_and_records_that_label(
    mask, label
):
    extraction = extract(LABELS, mask)

    assert extraction.label == label
    assert_expected_roi(extraction)
    assert extraction.warnings == []


def test_asks_for_a_label_when_the_mask_holds_two_listing_their_voxel_counts():
    message = refusal(AmbiguousLabels, LABELS, "mask_c_multilabel_1_and_2.nrrd")

    assert "1 → 8 voxels, 2 → 6 voxels" in message


def test_an_image_given_as_a_mask_is_named_so_without_listing_every_value():
    image = read_volume(case_path(LABELS, "image.nrrd"), modality="CT")
    values = np.unique(image.array)
    assert len(values) > 10

    with pytest.raises(AmbiguousLabels) as caught:
        get_engine().extract(image, image, QUICK_3D)

    message = str(caught.value)
    assert f"holds {len(values[values != 0])} labels" in message
    assert message.count("→") == 10
    assert (
        "more values (a mask holds a few whole labels; this looks like an image)"
        in message
    )


def test_extracts_each_label_of_a_multilabel_mask_separately():
    first = extract(LABELS, "mask_c_multilabel_1_and_2.nrrd", label=1)
    second = extract(LABELS, "mask_c_multilabel_1_and_2.nrrd", label=2)

    assert_expected_roi(first)
    assert_expected_roi(second, voxels=6, volume=9.6, mean=106.0)


def test_refuses_a_label_not_in_the_mask_listing_the_labels_present():
    message = refusal(LabelNotFound, LABELS, "mask_c_multilabel_1_and_2.nrrd", label=3)

    assert message.startswith(
        "Label 3 is not present in mask mask_c_multilabel_1_and_2.nrrd"
    )
    assert "labels present: 1 → 8 voxels, 2 → 6 voxels" in message


def test_reads_a_float_mask_of_1_over_255_as_its_roi_with_a_warning_naming_the_value():
    extraction = extract(LABELS, "mask_d_float_1_over_255.nrrd")

    assert_expected_roi(extraction)
    assert extraction.label == pytest.approx(1 / 255)
    assert len(extraction.warnings) == 1
    assert "0.00392157 is not a whole number" in extraction.warnings[0]


def test_refuses_a_single_voxel_roi_naming_the_minimum_and_what_is_defined():
    with pytest.raises(RoiTooSmall) as caught:
        extract(TINY, "mask_a_single_voxel.nrrd")

    message = str(caught.value)
    assert message.startswith("ROI has 1 voxel (1.6 mm³, mean intensity 344)")
    assert "need an ROI of at least 2 voxels along at least two axes" in message
    assert "dimension" not in message
    assert (caught.value.voxel_count, caught.value.mean) == (1, 344)


def test_refuses_a_two_voxel_line_saying_it_is_a_line():
    with pytest.raises(RoiTooSmall) as caught:
        extract(TINY, "mask_b_two_voxels_in_a_row.nrrd")

    assert str(caught.value).startswith(
        "ROI is a line: 2 voxels (3.2 mm³, mean intensity 344.5) extending along x only"
    )
    assert caught.value.volume_mm3 == pytest.approx(3.2)


def test_reports_an_empty_mask_as_an_empty_segmentation():
    message = refusal(EmptyMask, TINY, "mask_c_empty.nrrd")

    assert "empty segmentation (0 voxels)" in message


def test_refuses_a_2d_image_with_a_3d_preset():
    image = Volume.from_array(np.arange(64.0).reshape(8, 8), source="slice.png")
    mask = Volume.from_array(np.ones((8, 8)))

    with pytest.raises(DimensionMismatch) as caught:
        get_engine().extract(image, mask, QUICK_3D)

    assert str(caught.value) == (
        "Image slice.png is 2D (8 x 8 voxels) but preset 'ibsi1_digital_phantom' computes "
        "3D features; choose a 2D preset (ibsi1_config_a, ibsi1_config_b, "
        "slice_2d_relative)."
    )


def test_extracts_a_2d_image_with_a_2d_preset():
    image = Volume.from_array(
        np.arange(64.0).reshape(8, 8), spacing=(0.8, 0.8), modality="CT"
    )
    mask = Volume.from_array(np.pad(np.ones((4, 4)), 2), spacing=(0.8, 0.8))

    extraction = get_engine().extract(image, mask, QUICK_2D)

    assert extraction.voxel_count == 16
    assert extraction.value("stat_mean") == pytest.approx(
        np.arange(64.0).reshape(8, 8)[2:6, 2:6].mean()
    )
    assert extraction.value("cm_joint_max_2D_avg") > 0


def test_refuses_an_roi_that_re_segmentation_leaves_empty():
    image = read_volume(case_path(GEOMETRY, "image.nrrd"), modality="CT")
    mask = read_volume(case_path(GEOMETRY, "mask_a_exact.nrrd"))
    above_every_voxel = QUICK_3D.with_changes(resegmentation_range=(1000.0, 2000.0))

    with pytest.raises(EmptyMask, match="The ROI of 8 voxels has none left after"):
        get_engine().extract(image, mask, above_every_voxel)


def test_reads_a_dicom_series_folder_with_its_geometry_and_modality(tmp_path):
    series = {
        "StudyInstanceUID": "1.2.3",
        "SeriesInstanceUID": "1.2.3.4",
        "FrameOfReferenceUID": "1.2.3.5",
    }
    for index in range(3):
        ds = build_ct(
            **series,
            InstanceNumber=index + 1,
            ImagePositionPatient=["-10", "-20", str(30 + 2.5 * index)],
            PixelData=(np.arange(64, dtype="<i2") + 100 * index).tobytes(),
        )
        write_part10(ds, tmp_path / f"slice{index}.dcm")

    volume = read_volume(tmp_path)

    assert volume.size == (8, 8, 3)
    assert volume.spacing == pytest.approx((0.8, 0.8, 2.5))
    assert volume.origin == pytest.approx((-10, -20, 30))
    assert volume.modality == "CT"
    assert volume.array[2, 0, 0] == 200
    assert volume.array[0, 7, 7] == 63


@pytest.mark.parametrize("engine", ["mirp", "pyradiomics"])
@pytest.mark.parametrize(
    ("low", "step"), [(-20.0, 1.0), (1.0, 0.5)], ids=["below 1", "not whole"]
)
def test_a_preset_without_discretisation_refuses_intensities_that_are_no_grey_levels(
    engine, low, step
):
    values = low + step * np.arange(4 * 4 * 4, dtype=float).reshape(4, 4, 4)
    image = Volume.from_array(values, modality="CT")
    mask = Volume.from_array(np.ones((4, 4, 4), dtype=np.uint8))

    with pytest.raises(GreyLevelsUndefined) as caught:
        get_engine(engine).extract(image, mask, IBSI1_DIGITAL_PHANTOM)

    assert "whole numbers of at least 1" in str(caught.value)
    assert "ibsi1_config_c" in str(caught.value)


def mr_slice() -> tuple[Volume, Volume]:
    """A 16 x 16 MR slice in arbitrary units with an 8 x 8 ROI in the middle."""
    rng = np.random.default_rng(3)
    image = Volume.from_array(
        rng.uniform(100, 900, (16, 16)), spacing=(1.0, 1.0), source="mr", modality="MR"
    )
    roi = np.pad(np.ones((8, 8)), 4)
    return image, Volume.from_array(roi, spacing=(1.0, 1.0), source="roi")


def test_an_engine_warning_is_told_in_the_biobanks_words_naming_image_and_preset():
    image, mask = mr_slice()

    result = get_engine("mirp").extract(image, mask, IBSI1_CONFIG_A)

    (warning,) = result.warnings
    assert warning.startswith("Image mr (MR) holds intensities in arbitrary units")
    assert "preset 'ibsi1_config_a'" in warning
    assert "slice_2d_relative" in warning and "<class" not in warning


def test_an_engine_error_names_image_and_preset_without_engine_internals(monkeypatch):
    image, mask = mr_slice()
    engine = get_engine("mirp")

    def broken(*args):
        raise ValueError("cannot read <class 'mirp._images.mr_image.MRImage'> here")

    monkeypatch.setattr(engine, "compute", broken)
    with pytest.raises(EngineFailed) as failure:
        engine.extract(image, mask, IBSI1_CONFIG_A)

    assert str(failure.value) == (
        "mirp on image mr with preset 'ibsi1_config_a': cannot read here"
    )
