"""DICOM import of public data: STS_001 (CT, PET, MR with RTSTRUCTs), the IBSI CT phantom, a SEG."""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest

from patients.models import DataIssue
from radiomics.importers.deid import reader_pseudonym
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy, Segmentation
from tests.conftest import shared_path
from tests.radiomics.conftest import (
    build_ct,
    build_rtstruct,
    private_tags,
    stored_dataset,
    write_part10,
)

pytestmark = pytest.mark.django_db

STS_SERIES = {"CT": "CT", "PET": "PT", "MR_T1": "MR"}


def sts() -> Path:
    return shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001")


def first_image(folder: Path) -> pydicom.Dataset:
    return pydicom.dcmread(sorted(folder.glob("*.dcm"))[0], stop_before_pixels=True)


@pytest.fixture
def sts_import(project):
    return ingest_dicom(sts(), project)


def test_imports_sts_001_as_one_study_of_three_series_of_59_images(sts_import):
    study = ImagingStudy.objects.get()

    assert sts_import.created == {
        "patients": 1,
        "studies": 1,
        "series": 3,
        "instances": 177,
        "segmentations": 3,
    }
    assert sts_import.rejected == []
    assert study.modalities == "CT,MR,PT"
    assert (study.study_date, study.date_source) == (dt.date(2000, 9, 7), "StudyDate")
    for folder, modality in STS_SERIES.items():
        series = ImageSeries.objects.get(modality=modality)
        assert len(list((sts() / folder / "image").glob("*.dcm"))) == 59
        assert series.instance_count == series.instances.count() == 59


def test_records_the_acquisition_parameters_each_sts_file_holds(sts_import):
    for folder, modality in STS_SERIES.items():
        source = first_image(sts() / folder / "image")

        series = ImageSeries.objects.get(modality=modality)

        assert series.manufacturer == source.Manufacturer
        assert series.manufacturer_model_name == source.ManufacturerModelName
        assert series.slice_thickness_mm == pytest.approx(float(source.SliceThickness))
        assert series.pixel_spacing_row_mm == pytest.approx(
            float(source.PixelSpacing[0])
        )
        assert series.pixel_spacing_column_mm == pytest.approx(
            float(source.PixelSpacing[1])
        )
        assert (series.rows, series.columns) == (source.Rows, source.Columns)
        assert series.frame_of_reference_uid.startswith("2.25.")

    ct, pet, mr = (
        first_image(sts() / folder / "image") for folder in ("CT", "PET", "MR_T1")
    )
    ct_series = ImageSeries.objects.get(modality="CT")
    assert ct_series.manufacturer == "GE MEDICAL SYSTEMS"
    assert ct_series.kvp == pytest.approx(float(ct.KVP))
    assert ct_series.exposure_mas == pytest.approx(float(ct.Exposure))
    assert ct_series.tube_current_ma == pytest.approx(float(ct.XRayTubeCurrent))
    assert ct_series.convolution_kernel == ct.ConvolutionKernel
    pet_series = ImageSeries.objects.get(modality="PT")
    assert pet_series.pet_units == pet.Units == "GML"
    radiopharmaceutical = pet.RadiopharmaceuticalInformationSequence[
        0
    ].Radiopharmaceutical
    assert pet_series.radiopharmaceutical == radiopharmaceutical
    assert ImageSeries.objects.get(modality="MR").mr_sequence.startswith(
        str(mr.ScanningSequence)
    )


def test_links_each_sts_rtstruct_to_its_own_series_by_series_and_frame_of_reference(
    sts_import,
):
    for folder, roi in (
        ("CT", "GTV_Mass_CT"),
        ("PET", "GTV_Mass_PET"),
        ("MR_T1", "GTV_Mass_MR_T1"),
    ):
        segmentation = Segmentation.objects.get(roi_name=roi)

        assert segmentation.series.modality == STS_SERIES[folder]
        assert segmentation.linkage == Segmentation.Linkage.SERIES
        assert segmentation.source_kind == Segmentation.SourceKind.RTSTRUCT
        assert segmentation.roi_number == 1
        assert segmentation.method == Segmentation.Method.MANUAL
        assert segmentation.roi_type == "GTV"

    warnings = [
        p for p in sts_import.warnings if p.code == "segmentation-linked-by-series"
    ]
    assert sorted(p.source for p in warnings) == [
        "CT/mask/RS.dcm",
        "MR_T1/mask/RS.dcm",
        "PET/mask/RS.dcm",
    ]
    assert all("0 of its" in p.message for p in warnings)


def test_stores_each_sts_rtstruct_deidentified_with_references_that_still_resolve(
    sts_import,
):
    for segmentation in Segmentation.objects.select_related("series__study__patient"):
        stored = stored_dataset(segmentation.storage_path)

        frame = stored.ReferencedFrameOfReferenceSequence[0]
        referenced = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
        assert referenced.SeriesInstanceUID == segmentation.series.series_instance_uid
        assert frame.FrameOfReferenceUID == segmentation.series.frame_of_reference_uid
        assert stored.SOPInstanceUID == segmentation.source_sop_instance_uid
        assert stored.StructureSetROISequence[0].ROIName == segmentation.roi_name
        assert stored.PatientID == segmentation.series.study.patient.pseudonym
        assert private_tags(stored) == []


def test_reimporting_sts_001_creates_nothing_new(sts_import, project, storage_root):
    files_before = sorted(storage_root.rglob("*"))
    rows_before = (
        ImageInstance.objects.count(),
        Segmentation.objects.count(),
        ImageSeries.objects.count(),
    )

    report = ingest_dicom(sts(), project)

    assert report.created == {}
    assert report.duplicates == 180
    assert report.rejected == []
    assert (
        ImageInstance.objects.count(),
        Segmentation.objects.count(),
        ImageSeries.objects.count(),
    ) == rows_before
    assert ImagingStudy.objects.count() == 1
    assert sorted(storage_root.rglob("*")) == files_before


def test_reports_an_rtstruct_imported_before_its_images_and_links_it_later(project):
    rtstruct = sts() / "CT" / "mask" / "RS.dcm"

    early = ingest_dicom(rtstruct, project)

    assert [p.code for p in early.rejected] == ["segmentation-unresolved"]
    assert Segmentation.objects.count() == 0

    ingest_dicom(sts() / "CT" / "image", project)
    late = ingest_dicom(rtstruct, project)

    assert late.created == {"segmentations": 1}
    assert Segmentation.objects.get().roi_name == "GTV_Mass_CT"


# IBSI 1 CT phantom


@pytest.fixture
def phantom_import(project):
    return ingest_dicom(shared_path("ibsi1_ct_phantom", "dicom"), project)


def test_imports_the_60_ct_images_of_the_ibsi_phantom(phantom_import):
    series = ImageSeries.objects.get()
    source = first_image(shared_path("ibsi1_ct_phantom", "dicom", "image"))

    assert series.instance_count == 60
    assert series.modality == "CT"
    assert series.slice_thickness_mm == pytest.approx(float(source.SliceThickness))
    assert series.pixel_spacing_row_mm == pytest.approx(float(source.PixelSpacing[0]))
    assert (series.rows, series.columns) == (source.Rows, source.Columns)


def test_links_gtv_1_of_the_phantom_by_its_images(phantom_import):
    segmentation = Segmentation.objects.get()

    assert segmentation.roi_name == "GTV-1"
    assert segmentation.linkage == Segmentation.Linkage.INSTANCES
    assert segmentation.series == ImageSeries.objects.get()


def test_keeps_the_undated_phantom_study_with_a_null_date_and_a_flag(phantom_import):
    study = ImagingStudy.objects.get()

    assert study.study_date is None
    issue = DataIssue.objects.get(code="no-usable-date")
    assert (issue.record_type, issue.record_id) == ("ImagingStudy", study.pk)


# highdicom SEG on the pydicom CT2 series


def seg_data() -> Path:
    return shared_path("dicom_seg_sr_highdicom")


def test_links_a_seg_to_its_ct_series_by_its_images(project):
    ingest_dicom(seg_data() / "referenced_ct_series_pydicom_CT2", project)

    report = ingest_dicom(seg_data() / "seg_image_ct_binary.dcm", project)

    segmentation = Segmentation.objects.get()
    source = pydicom.dcmread(
        seg_data() / "seg_image_ct_binary.dcm", stop_before_pixels=True
    )
    segment = source.SegmentSequence[0]
    assert report.created == {"segmentations": 1}
    assert segmentation.roi_name == segment.SegmentLabel == "first segment"
    assert segmentation.roi_number == segment.SegmentNumber
    assert segmentation.method == Segmentation.Method.AUTOMATIC
    assert segmentation.source_kind == Segmentation.SourceKind.SEG
    assert segmentation.linkage == Segmentation.Linkage.INSTANCES
    assert segmentation.series.instance_count == 4


def test_stores_the_seg_with_references_to_the_stored_images(project):
    ingest_dicom(seg_data() / "referenced_ct_series_pydicom_CT2", project)
    ingest_dicom(seg_data() / "seg_image_ct_binary.dcm", project)

    segmentation = Segmentation.objects.get()
    stored = stored_dataset(segmentation.storage_path)

    referenced = {
        item.ReferencedSOPInstanceUID
        for item in stored.ReferencedSeriesSequence[0].ReferencedInstanceSequence
    }
    assert referenced == set(
        segmentation.series.instances.values_list("sop_instance_uid", flat=True)
    )
    assert stored.FrameOfReferenceUID == segmentation.series.frame_of_reference_uid
    assert stored.PatientName == segmentation.series.study.patient.pseudonym


def test_processes_a_seg_after_the_images_of_the_same_batch(project, tmp_path):
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(
            seg_data() / "seg_image_ct_binary.dcm", "0_first_in_name_order.dcm"
        )
        for path in sorted((seg_data() / "referenced_ct_series_pydicom_CT2").iterdir()):
            zipped.write(path, f"ct/{path.name}")

    report = ingest_dicom(archive, project)

    assert report.created == {
        "patients": 1,
        "studies": 1,
        "series": 1,
        "instances": 4,
        "segmentations": 1,
    }
    assert Segmentation.objects.get().linkage == Segmentation.Linkage.INSTANCES


def test_reimporting_a_folder_with_a_seg_creates_nothing_new(project, tmp_path):
    folder = tmp_path / "seg_batch"
    shutil.copytree(seg_data() / "referenced_ct_series_pydicom_CT2", folder / "ct")
    shutil.copy(seg_data() / "seg_image_ct_binary.dcm", folder / "seg.dcm")
    ingest_dicom(folder, project)

    report = ingest_dicom(folder, project)

    assert report.created == {}
    assert report.duplicates == 5


# Structure sets built here, for what the public data does not show


def test_records_method_reader_and_type_of_each_roi(inbox, project):
    ct = build_ct()
    write_part10(ct, inbox / "ct.dcm")
    write_part10(
        build_rtstruct(
            (1, "GTV_lung", ct),
            (2, "Heart", ct),
            algorithm_2="SEMIAUTOMATIC",
            type_2="ORGAN",
            interpreter_1="READER^ONE",
        ),
        inbox / "rs.dcm",
    )

    ingest_dicom(inbox, project)

    gtv, heart = Segmentation.objects.order_by("roi_number")
    assert (gtv.roi_name, gtv.method, gtv.roi_type) == ("GTV_lung", "manual", "GTV")
    # The reader's name is kept as a keyed hash, the same whatever the case:
    assert gtv.reader == reader_pseudonym(project.code, "Reader^One")
    assert "ONE" not in gtv.reader.upper()
    assert (heart.roi_name, heart.method, heart.reader, heart.roi_type) == (
        "Heart",
        "semi-automatic",
        "",
        "ORGAN",
    )
    assert gtv.linkage == heart.linkage == Segmentation.Linkage.INSTANCES
    assert gtv.storage_path == heart.storage_path


def test_adds_the_rois_of_a_structure_set_whose_other_images_arrive_later(
    inbox, project
):
    ct, pet = build_ct(), build_ct(Modality="PT", PatientID="SYN-9001")
    pet.StudyInstanceUID = ct.StudyInstanceUID
    rtstruct = build_rtstruct((1, "GTV_CT", ct), (2, "GTV_PET", pet))
    write_part10(ct, inbox / "ct.dcm")
    write_part10(rtstruct, inbox / "rs.dcm")
    first = ingest_dicom(inbox, project)
    write_part10(pet, inbox / "pet.dcm")

    second = ingest_dicom(inbox, project)

    assert first.created["segmentations"] == 1
    assert [p.code for p in first.rejected] == ["segmentation-unresolved"]
    assert second.created == {"series": 1, "instances": 1, "segmentations": 1}
    assert second.rejected == []
    assert sorted(Segmentation.objects.values_list("roi_name", "series__modality")) == [
        ("GTV_CT", "CT"),
        ("GTV_PET", "PT"),
    ]
    assert ingest_dicom(inbox, project).created == {}


def test_sts_001_pet_keeps_its_injected_activity_in_mbq(sts_import):
    pet = first_image(sts() / "PET" / "image")
    dose = pet.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose

    series = ImageSeries.objects.get(modality="PT")

    assert series.injected_activity_mbq == pytest.approx(float(dose) / 1e6)
    assert series.injected_activity_mbq == pytest.approx(388.8, abs=0.1)
    # Injected at 10:35:00 (RadiopharmaceuticalStartTime), the series at 11:20:11:
    assert series.uptake_time_min == pytest.approx(45 + 11 / 60)
    # The CT header has no CTDIvol (0018,9345), and nothing is invented:
    assert ImageSeries.objects.get(modality="CT").ctdi_vol_mgy is None
    assert not [p for p in sts_import.warnings if p.code == "implausible-value"]
