"""Fixtures of the radiomics tests: small DICOM files built with pydicom, and their import."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import Tag
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from radiomics.models import ImageInstance, ImageSeries, Segmentation


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """A folder to build import input in, apart from the storage root."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def build_ct(**attributes: object) -> Dataset:
    """Return an 8x8 CT data set (pixels 0..63) with the given attributes on top."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.Modality = "CT"
    ds.Manufacturer = "Acme Imaging"
    ds.PatientName = "TESTPERSON^ALEX"
    ds.PatientID = "SYN-9001"
    ds.PatientSex = "F"
    ds.StudyDate = "20220310"
    ds.StudyTime = "090000"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.SliceThickness = "2.5"
    ds.PixelSpacing = ["0.8", "0.8"]
    ds.ImagePositionPatient = ["0", "0", "0"]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.PixelData = np.arange(64, dtype="<i2").reshape(8, 8).tobytes()
    for keyword, value in attributes.items():
        if value is None:
            if keyword in ds:
                delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    return ds


def set_raw(ds: Dataset, keyword: str, value: bytes) -> Dataset:
    """Give an attribute a value written as it is, which pydicom would refuse (1A as IS)."""
    tag = pydicom.datadict.tag_for_keyword(keyword)
    vr = pydicom.datadict.dictionary_VR(tag)
    ds[tag] = RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)
    return ds


def write_part10(ds: Dataset, path: Path) -> Path:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    pydicom.dcmwrite(path, ds, enforce_file_format=True)
    return path


def write_bare(ds: Dataset, path: Path) -> Path:
    """Write a data set without Part-10 header (no preamble, DICM or file meta), implicit VR."""
    pydicom.dcmwrite(
        path, ds, implicit_vr=True, little_endian=True, enforce_file_format=False
    )
    return path


@pytest.fixture
def make_ct(inbox: Path) -> Callable[..., Path]:
    """Write build_ct(**attributes) as a Part-10 file into the inbox; return its path."""

    def make(name: str = "ct.dcm", **attributes: object) -> Path:
        return write_part10(build_ct(**attributes), inbox / name)

    return make


def stored_dataset(instance: ImageInstance | str) -> Dataset:
    """Read a stored, de-identified file back, by its instance or storage path."""
    from django.conf import settings

    relative = (
        instance.storage_path if isinstance(instance, ImageInstance) else instance
    )
    return pydicom.dcmread(Path(settings.BIOBANK_STORAGE_ROOT) / relative)


def private_tags(ds: Dataset) -> list[str]:
    """Return every private tag of a data set, at any depth."""
    found = []
    for elem in ds.iterall():
        if elem.tag.is_private:
            found.append(str(elem.tag))
    return found


def build_rtstruct(*rois: tuple[int, str, Dataset], **attributes: object) -> Dataset:
    """Return an RT Structure Set with one ROI per (number, name, image it is drawn on).

    Each ROI has one contour on its image; the ROI's RTROIObservations item carries
    ROIInterpreter and RTROIInterpretedType when given as attributes
    `interpreter_<number>` and `type_<number>`.
    """
    first = rois[0][2]
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.481.3"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = first.StudyInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "RTSTRUCT"
    ds.PatientName = first.PatientName
    ds.PatientID = first.PatientID
    ds.StructureSetLabel = "RTSTRUCT"
    ds.StructureSetDate = "20220311"

    frames, structure_rois, contours, observations = [], [], [], []
    for number, name, image in rois:
        contour_image = Dataset()
        contour_image.ReferencedSOPClassUID = image.SOPClassUID
        contour_image.ReferencedSOPInstanceUID = image.SOPInstanceUID
        series = Dataset()
        series.SeriesInstanceUID = image.SeriesInstanceUID
        series.ContourImageSequence = [contour_image]
        study = Dataset()
        study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        study.ReferencedSOPInstanceUID = image.StudyInstanceUID
        study.RTReferencedSeriesSequence = [series]
        frame = Dataset()
        frame.FrameOfReferenceUID = image.FrameOfReferenceUID
        frame.RTReferencedStudySequence = [study]
        frames.append(frame)

        roi = Dataset()
        roi.ROINumber = number
        roi.ReferencedFrameOfReferenceUID = image.FrameOfReferenceUID
        roi.ROIName = name
        roi.ROIGenerationAlgorithm = attributes.get(f"algorithm_{number}", "MANUAL")
        structure_rois.append(roi)

        contour = Dataset()
        contour.ContourImageSequence = [contour_image]
        contour.ContourGeometricType = "CLOSED_PLANAR"
        contour.NumberOfContourPoints = 3
        contour.ContourData = ["0", "0", "0", "1", "0", "0", "0", "1", "0"]
        roi_contour = Dataset()
        roi_contour.ReferencedROINumber = number
        roi_contour.ContourSequence = [contour]
        contours.append(roi_contour)

        observation = Dataset()
        observation.ObservationNumber = number
        observation.ReferencedROINumber = number
        observation.RTROIInterpretedType = attributes.get(f"type_{number}", "GTV")
        observation.ROIInterpreter = attributes.get(f"interpreter_{number}", "")
        observations.append(observation)

    ds.ReferencedFrameOfReferenceSequence = frames
    ds.StructureSetROISequence = structure_rois
    ds.ROIContourSequence = contours
    ds.RTROIObservationsSequence = observations
    return ds


def two_boxes() -> np.ndarray:
    """Label 1: 3 x 5 x 4 = 60 voxels; label 2: 2 x 3 x 6 = 36 voxels, in the GTV."""
    array = np.zeros((59, 202, 198), dtype=np.uint8)
    array[28:31, 95:100, 95:99] = 1
    array[20:22, 100:103, 100:106] = 2
    return array


@pytest.fixture
def sts_ct(project) -> ImageSeries:
    """The CT series of STS_001 (shared test data), ingested."""
    from radiomics.importers.dicom import ingest_dicom
    from tests.radiomics.test_masks import sts

    ingest_dicom(sts("CT", "image"), project)
    return ImageSeries.objects.get()


@pytest.fixture
def two_label_mask(sts_ct, tmp_path) -> Segmentation:
    """Labels 1 and 2 in a NIfTI file on the STS CT, registered with label 2."""
    from radiomics.masks import register_mask
    from radiomics.series import read_grid
    from tests.radiomics.test_masks import write_mask

    path = write_mask(tmp_path / "mask.nii.gz", two_boxes(), read_grid(sts_ct))
    segmentation, _ = register_mask(path, sts_ct, "Boxes", label=2)
    return segmentation
