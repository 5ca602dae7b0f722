"""Read the regions of RTSTRUCT and SEG objects and the images each one references."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

from radiomics.models import Segmentation

RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
SEGMENTATION_CLASSES = {RTSTRUCT_CLASS: "RTSTRUCT", SEG_CLASS: "SEG"}

# ROIGenerationAlgorithm (3006,0036) and SegmentAlgorithmType (0062,0008) share terms:
METHODS = {
    "MANUAL": Segmentation.Method.MANUAL,
    "SEMIAUTOMATIC": Segmentation.Method.SEMI_AUTOMATIC,
    "AUTOMATIC": Segmentation.Method.AUTOMATIC,
}


@dataclass
class Region:
    """One ROI of a structure set or one segment of a SEG, with what it was drawn on."""

    number: int
    name: str
    method: str = ""
    interpreted_type: str = ""
    frame_of_reference_uid: str = ""
    series_uids: set[str] = field(default_factory=set)
    instance_uids: set[str] = field(default_factory=set)


def read_regions(ds: Dataset) -> list[Region]:
    """Return the regions of an RTSTRUCT or SEG data set, in number order."""
    if str(ds.SOPClassUID) == RTSTRUCT_CLASS:
        regions = _structure_set_regions(ds)
    else:
        regions = _segment_regions(ds)
    return sorted(regions, key=lambda region: region.number)


def _structure_set_regions(ds: Dataset) -> list[Region]:
    # Frame of reference -> the series and images drawn on (3006,0010):
    series_of_frame: dict[str, set[str]] = {}
    images_of_frame: dict[str, set[str]] = {}
    for frame in ds.get("ReferencedFrameOfReferenceSequence", []):
        frame_uid = str(frame.get("FrameOfReferenceUID", ""))
        series_uids = series_of_frame.setdefault(frame_uid, set())
        images = images_of_frame.setdefault(frame_uid, set())
        for study in frame.get("RTReferencedStudySequence", []):
            for series in study.get("RTReferencedSeriesSequence", []):
                series_uids.add(str(series.SeriesInstanceUID))
                images.update(
                    str(image.ReferencedSOPInstanceUID)
                    for image in series.get("ContourImageSequence", [])
                )

    images_of_roi: dict[int, set[str]] = {}
    for contour_set in ds.get("ROIContourSequence", []):
        images = images_of_roi.setdefault(int(contour_set.ReferencedROINumber), set())
        for contour in contour_set.get("ContourSequence", []):
            for image in contour.get("ContourImageSequence", []):
                images.add(str(image.ReferencedSOPInstanceUID))

    observations = {
        int(obs.ReferencedROINumber): obs
        for obs in ds.get("RTROIObservationsSequence", [])
        if "ReferencedROINumber" in obs
    }
    regions = []
    for roi in ds.get("StructureSetROISequence", []):
        number = int(roi.ROINumber)
        frame_uid = str(roi.get("ReferencedFrameOfReferenceUID", ""))
        observation = observations.get(number, Dataset())
        regions.append(
            Region(
                number=number,
                name=str(roi.get("ROIName", "")),
                method=METHODS.get(
                    str(roi.get("ROIGenerationAlgorithm", "")).upper(), ""
                ),
                interpreted_type=str(observation.get("RTROIInterpretedType", "")),
                frame_of_reference_uid=frame_uid,
                series_uids=series_of_frame.get(frame_uid, set()),
                # Contour Image Sequence is optional per contour (PS3.3 C.8.8.6); the
                # structure set's own list of images stands in for it:
                instance_uids=images_of_roi.get(number)
                or images_of_frame.get(frame_uid, set()),
            )
        )
    return regions


def _segment_regions(ds: Dataset) -> list[Region]:
    series_uids: set[str] = set()
    all_images: set[str] = set()
    for series in ds.get("ReferencedSeriesSequence", []):
        series_uids.add(str(series.SeriesInstanceUID))
        all_images.update(
            str(image.ReferencedSOPInstanceUID)
            for image in series.get("ReferencedInstanceSequence", [])
        )

    # Per-frame references say which images each segment was drawn on (PS3.3 C.8.20.2):
    images_of_segment: dict[int, set[str]] = {}
    for frame in ds.get("PerFrameFunctionalGroupsSequence", []):
        identification = frame.get("SegmentIdentificationSequence")
        if not identification:
            continue
        images = images_of_segment.setdefault(
            int(identification[0].ReferencedSegmentNumber), set()
        )
        for derivation in frame.get("DerivationImageSequence", []):
            for image in derivation.get("SourceImageSequence", []):
                images.add(str(image.ReferencedSOPInstanceUID))

    frame_uid = str(ds.get("FrameOfReferenceUID", ""))
    return [
        Region(
            number=int(segment.SegmentNumber),
            name=str(segment.get("SegmentLabel", "")),
            method=METHODS.get(
                str(segment.get("SegmentAlgorithmType", "")).upper(), ""
            ),
            frame_of_reference_uid=frame_uid,
            series_uids=series_uids,
            instance_uids=images_of_segment.get(int(segment.SegmentNumber))
            or all_images,
        )
        for segment in ds.get("SegmentSequence", [])
    ]


def readers_of(ds: Dataset) -> dict[int, str]:
    """Return ROIInterpreter (3006,00A6) by ROI number: who drew each ROI, if recorded."""
    return {
        int(obs.ReferencedROINumber): str(obs.get("ROIInterpreter", "") or "").strip()
        for obs in ds.get("RTROIObservationsSequence", [])
        if "ReferencedROINumber" in obs
    }
