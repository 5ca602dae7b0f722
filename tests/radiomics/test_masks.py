"""Stored series as volumes, and segmentations (RTSTRUCT, SEG, mask files) as masks on them."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command
from pydicom.dataset import Dataset
from skimage.draw import polygon2mask

from radiomics.importers.dicom import ingest_dicom
from radiomics.masks import (
    load_mask,
    mask_array,
    mask_labels,
    polygon_mask,
    rasterise_roi,
)
from radiomics.models import ImageSeries, Segmentation
from radiomics.series import SeriesGrid, SeriesUnusable, load_series, read_grid
from tests.conftest import shared_path

pytestmark = pytest.mark.django_db


def sts(*parts: str) -> Path:
    return shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", *parts)


def source_slices(folder: Path) -> list[pydicom.Dataset]:
    """The source images of a folder, lowest z first (axial series)."""
    slices = [pydicom.dcmread(path) for path in sorted(folder.iterdir())]
    return sorted(slices, key=lambda ds: float(ds.ImagePositionPatient[2]))


def contour_points(rtstruct: Path) -> list[np.ndarray]:
    ds = pydicom.dcmread(rtstruct)
    return [
        np.asarray(contour.ContourData, dtype=np.float64).reshape(-1, 3)
        for contour in ds.ROIContourSequence[0].ContourSequence
    ]


def shoelace_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


# Polygons on one slice (even-odd rule), counted by hand


def test_a_contour_inside_another_cuts_a_hole_and_a_separate_one_adds_an_island():
    # Outer square around centres 0..5 (36 voxels), inner around 2..3 (4 voxels),
    # an island around centres 7..8 of rows 0..1 (4 voxels):
    outer = np.array([[-0.5, -0.5], [5.5, -0.5], [5.5, 5.5], [-0.5, 5.5]])
    inner = np.array([[1.5, 1.5], [3.5, 1.5], [3.5, 3.5], [1.5, 3.5]])
    island = np.array([[6.5, -0.5], [8.5, -0.5], [8.5, 1.5], [6.5, 1.5]])

    mask = (
        polygon_mask(outer, 10, 10)
        ^ polygon_mask(inner, 10, 10)
        ^ polygon_mask(island, 10, 10)
    )

    assert mask.sum() == 36 - 4 + 4
    assert not mask[2:4, 2:4].any()
    assert mask[0:2, 7:9].all()
    assert not mask[6:, :].any()


def test_a_polygon_takes_the_voxels_whose_centres_it_encloses():
    # A triangle with its right angle at centre (1, 1) and legs 4 voxels long holds
    # the centres with x >= 1, y >= 1, (x - 1) + (y - 1) < 4 (edge on the
    # hypotenuse excluded): 4 + 3 + 2 + 1 = 10, hand-counted.
    triangle = np.array([[0.9, 0.9], [5.0, 0.9], [0.9, 5.0]])

    mask = polygon_mask(triangle, 8, 8)

    assert mask.sum() == 10
    assert mask[1, 1:5].all() and mask[4, 1] and not mask[4, 2]


def test_places_a_contour_on_a_sagittal_series_by_its_orientation():
    # Rows run posterior (+y), columns down (-z), so slices follow -x: x = 10, 8, 6.
    grid = SeriesGrid(
        series_instance_uid="1.2.3",
        frame_of_reference_uid="",
        modality="MR",
        rows=6,
        columns=6,
        pixel_spacing=(1.0, 1.0),
        direction=np.array([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
        positions=np.array([[10.0, 0.0, 0.0], [8.0, 0.0, 0.0], [6.0, 0.0, 0.0]]),
        sop_instance_uids=("a", "b", "c"),
        paths=(),
    )
    contour = Dataset()
    contour.ContourGeometricType = "CLOSED_PLANAR"
    # y 1.5..3.5 mm is columns 2-3, z -1.5..-3.5 mm is rows 2-3, on the slice at x = 8:
    contour.ContourData = [8, 1.5, -1.5, 8, 3.5, -1.5, 8, 3.5, -3.5, 8, 1.5, -3.5]
    roi = Dataset()
    roi.ReferencedROINumber = 1
    roi.ContourSequence = [contour]
    structure_set = Dataset()
    structure_set.ROIContourSequence = [roi]

    mask = rasterise_roi(structure_set, 1, grid)

    assert mask.sum() == 4
    assert mask[1, 2:4, 2:4].all()


# STS_001: CT series and its RTSTRUCT (contours matched by position only)


@pytest.fixture
def sts_stored(project):
    ingest_dicom(sts(), project)
    return Segmentation.objects.get(series__modality="CT")


def test_loads_the_sts_ct_series_with_the_geometry_and_hu_of_its_files(sts_stored):
    slices = source_slices(sts("CT", "image"))

    volume = load_series(sts_stored.series)

    first, second = slices[0], slices[1]
    assert volume.array.shape == (59, first.Rows, first.Columns)
    assert volume.spacing == pytest.approx(
        (float(first.PixelSpacing[1]), float(first.PixelSpacing[0]), 3.27), abs=1e-3
    )
    assert volume.origin == pytest.approx(
        [float(v) for v in first.ImagePositionPatient]
    )
    assert volume.direction == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert volume.modality == "CT"
    hu = second.pixel_array * float(second.RescaleSlope) + float(
        second.RescaleIntercept
    )
    assert np.array_equal(volume.array[1], hu)


def test_rasterises_the_sts_ct_gtv_to_the_volume_its_contour_polygons_enclose(
    sts_stored,
):
    grid = read_grid(sts_stored.series)
    contours = contour_points(sts("CT", "mask", "RS.dcm"))
    # Independent volume: polygon areas (shoelace) times the slice spacing. The
    # slice holding two contours holds them side by side, so the areas add up.
    polygon_volume = sum(shoelace_area(points) for points in contours) * 3.27

    mask = load_mask(sts_stored, grid)

    voxel_volume = float(np.prod(mask.spacing))
    assert len(contours) == 32
    assert mask.array.sum() * voxel_volume == pytest.approx(polygon_volume, rel=0.01)
    assert mask.spacing == pytest.approx(load_series(sts_stored.series).spacing)


def test_rasterises_each_sts_contour_as_scikit_image_fills_it(sts_stored):
    grid = read_grid(sts_stored.series)
    slices = source_slices(sts("CT", "image"))
    row_mm, column_mm = (float(v) for v in slices[0].PixelSpacing)
    z_of_slices = [float(ds.ImagePositionPatient[2]) for ds in slices]
    expected = np.zeros(grid.shape, dtype=bool)
    for points in contour_points(sts("CT", "mask", "RS.dcm")):
        index = int(np.argmin(np.abs(np.array(z_of_slices) - points[0, 2])))
        rows = (points[:, 1] - float(slices[index].ImagePositionPatient[1])) / row_mm
        columns = (
            points[:, 0] - float(slices[index].ImagePositionPatient[0])
        ) / column_mm
        expected[index] ^= polygon2mask(
            (grid.rows, grid.columns), np.column_stack([rows, columns])
        )

    mask = mask_array(sts_stored, grid)

    assert mask.sum() == expected.sum() > 100_000
    assert np.array_equal(mask.astype(bool), expected)


# DICOM SEG: frames placed by their own positions


def test_places_the_bit_packed_dcmqi_seg_frames_on_their_slices(project):
    data = shared_path("dicom_seg_dcmqi_bitpacking")
    ingest_dicom(data, project)
    segmentation = Segmentation.objects.get()
    seg = pydicom.dcmread(data / "mask" / "mask.dcm")
    slice_z = [
        float(ds.ImagePositionPatient[2]) for ds in source_slices(data / "image")
    ]

    mask = load_mask(segmentation)

    assert mask.array.shape == (3, 38, 23)
    assert int(seg.NumberOfFrames) == len(seg.PerFrameFunctionalGroupsSequence) == 3
    for frame, groups in zip(
        seg.pixel_array, seg.PerFrameFunctionalGroupsSequence, strict=True
    ):
        z = float(groups.PlanePositionSequence[0].ImagePositionPatient[2])
        assert np.array_equal(mask.array[slice_z.index(z)], frame)
    # dcmqi's notes: each slice has its 4 corners set, the middle one a round region
    corners = mask.array[:, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert corners.all()
    assert mask.array.sum(axis=(1, 2)).tolist() == [4, 314, 4]


@pytest.fixture
def highdicom_ct(project):
    data = shared_path("dicom_seg_sr_highdicom")
    ingest_dicom(data / "referenced_ct_series_pydicom_CT2", project)
    return data


@pytest.mark.parametrize(
    "name", ["seg_image_ct_binary.dcm", "seg_image_ct_true_fractional.dcm"]
)
def test_places_binary_and_fractional_seg_frames_thresholded_at_one_half(
    highdicom_ct, project, name
):
    ingest_dicom(highdicom_ct / name, project)
    segmentation = Segmentation.objects.get()
    seg = pydicom.dcmread(highdicom_ct / name)
    maximum = float(seg.get("MaximumFractionalValue", 1))
    slice_z = [
        float(ds.ImagePositionPatient[2])
        for ds in source_slices(highdicom_ct / "referenced_ct_series_pydicom_CT2")
    ]
    expected = np.zeros((4, 16, 16), dtype=bool)
    for frame, groups in zip(
        seg.pixel_array, seg.PerFrameFunctionalGroupsSequence, strict=True
    ):
        z = float(groups.PlanePositionSequence[0].ImagePositionPatient[2])
        index = int(np.argmin(np.abs(np.array(slice_z) - z)))
        assert slice_z[index] == pytest.approx(z, abs=1e-3)
        expected[index] |= frame / maximum >= 0.5

    # The CT2 slices are unevenly spaced, so the mask is placed on the slice list:
    mask = mask_array(segmentation, read_grid(segmentation.series))

    assert np.array_equal(mask.astype(bool), expected)
    assert expected.sum() == 638 if "fractional" in name else expected.sum() > 0


def test_refuses_to_load_an_unevenly_spaced_series_as_a_volume(highdicom_ct):
    series = ImageSeries.objects.get()

    with pytest.raises(SeriesUnusable, match="not evenly spaced") as refused:
        load_series(series)

    assert "202.5" in str(refused.value) and "1.25" in str(refused.value)


# Mask files registered with add_mask


def write_mask(path: Path, array: np.ndarray, grid, shift_mm: float = 0.0) -> Path:
    """Write a mask file on a series grid (shifted along x by `shift_mm`) with ITK."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "builtin type", DeprecationWarning)
        import itk

        image = itk.image_from_array(np.ascontiguousarray(array.astype(np.uint8)))
        image.SetSpacing([float(v) for v in grid.spacing])
        image.SetOrigin(
            [float(v) + shift_mm * (i == 0) for i, v in enumerate(grid.origin)]
        )
        image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(grid.direction)))
        itk.imwrite(image, str(path))
    return path


@pytest.fixture
def dcmqi_series(project) -> ImageSeries:
    ingest_dicom(shared_path("dicom_seg_dcmqi_bitpacking", "image"), project)
    return ImageSeries.objects.get()


def two_labels() -> np.ndarray:
    array = np.zeros((3, 38, 23), dtype=np.uint8)
    array[1, 10:20, 5:15] = 1  # 100 voxels
    array[0:2, 25:30, 8:12] = 2  # 40 voxels
    return array


def test_registers_a_nifti_mask_as_a_stored_copy_with_its_label(dcmqi_series, tmp_path):
    grid = read_grid(dcmqi_series)
    path = write_mask(tmp_path / "reader2.nii.gz", two_labels(), grid)

    call_command(
        "add_mask",
        path,
        series=dcmqi_series.series_instance_uid,
        roi_name="Liver",
        label=2,
        reader="reader 2",
    )
    call_command(
        "add_mask",
        path,
        series=dcmqi_series.series_instance_uid,
        roi_name="Liver",
        label=2,
        reader="reader 2",
    )

    segmentation = Segmentation.objects.get()
    assert segmentation.source_kind == Segmentation.SourceKind.MASK
    assert (segmentation.roi_number, segmentation.reader) == (2, "reader 2")
    stored = Path(segmentation.storage_path)
    assert (
        stored.parts[: len(Path(dcmqi_series.storage_path).parts)]
        == Path(dcmqi_series.storage_path).parts
    )
    mask = load_mask(segmentation)
    assert mask.source != path.name
    assert int((mask.array == 2).sum()) == 40
    assert mask.origin == pytest.approx(grid.origin)


def test_refuses_a_mask_with_several_labels_and_no_label_choice(dcmqi_series, tmp_path):
    path = write_mask(tmp_path / "mask.nrrd", two_labels(), read_grid(dcmqi_series))

    with pytest.raises(CommandError, match="1 → 100 voxels, 2 → 40 voxels"):
        call_command(
            "add_mask", path, series=dcmqi_series.series_instance_uid, roi_name="Liver"
        )

    assert not Segmentation.objects.exists()


def test_refuses_a_mask_that_is_not_on_the_series_grid(dcmqi_series, tmp_path):
    path = write_mask(
        tmp_path / "mask.nii.gz", two_labels(), read_grid(dcmqi_series), shift_mm=0.7
    )

    with pytest.raises(CommandError, match="origin differs along x"):
        call_command(
            "add_mask",
            path,
            series=dcmqi_series.series_instance_uid,
            roi_name="Liver",
            label=1,
        )

    assert not Segmentation.objects.exists()


def test_refuses_a_nrrd_header_whose_voxels_are_in_another_file(dcmqi_series, tmp_path):
    (tmp_path / "mask.raw").write_bytes(bytes(3 * 38 * 23))
    header = tmp_path / "mask.nrrd"
    header.write_text(
        "NRRD0004\ntype: uint8\ndimension: 3\nsizes: 23 38 3\nencoding: raw\n"
        "data file: mask.raw\n\n"
    )

    with pytest.raises(CommandError, match="separate data file"):
        call_command(
            "add_mask", header, series=dcmqi_series.series_instance_uid, roi_name="L"
        )


def test_registers_a_float_mask_of_one_value_as_its_only_value(dcmqi_series, tmp_path):
    grid = read_grid(dcmqi_series)
    path = tmp_path / "float.nii.gz"
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "builtin type", DeprecationWarning)
        import itk

        array = (two_labels() == 1).astype(np.float32) / 255
        image = itk.image_from_array(array)
        image.SetSpacing([float(v) for v in grid.spacing])
        image.SetOrigin([float(v) for v in grid.origin])
        itk.imwrite(image, str(path))

    call_command(
        "add_mask", path, series=dcmqi_series.series_instance_uid, roi_name="Liver"
    )

    segmentation = Segmentation.objects.get()
    assert segmentation.roi_number == 0  # "the file's only non-zero value"
    [(value, count)] = mask_labels(segmentation).items()
    assert (value, count) == (pytest.approx(1 / 255), 100)
