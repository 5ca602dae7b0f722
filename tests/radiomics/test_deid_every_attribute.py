"""De-identification against every attribute of PS3.15 Table E.1-1 that a CT, RTSTRUCT and SEG can carry."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import io
import itertools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

# NB: highdicom's own tables of the standard (IOD -> modules -> attributes, with the
# sequences each sits in); a private module, but the only offline copy we have.
from highdicom._standard_utils import get_iod_module_map, get_module_attribute_map
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from liquidbiopsy.models import BloodSample
from patients.models import ImportRun
from radiomics.importers.profile import BASIC_PROFILE, resolve_action
from radiomics.models import (
    DeidentifiedAttribute,
    ImageInstance,
    ImagingStudy,
    Segmentation,
)
from tests.radiomics.conftest import build_ct, build_rtstruct, write_part10

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

IODS = {
    "ct.dcm": "ct-image",
    "rtstruct.dcm": "rt-structure-set",
    "seg.dcm": "segmentation",
}
PATIENT_NAME = "ZQXWPATIENT^JOANNA"
PATIENT_ID = "PID-314159"
BIRTH_DATE = "19610704"
STUDY_DATE = "20220310"
# Values kept on purpose (dates for time-linking, patient characteristics):
RETAINED = {"DA": STUDY_DATE, "TM": "093000", "DT": "20220310093000", "AS": "061Y"}
RETAINED_BY_KEYWORD = {
    "PatientSex": "F",
    "PatientSize": "1.72",
    "PatientWeight": "70",
    "TimezoneOffsetFromUTC": "+0100",
}
# What each action of Table E.1-1 must come to, as resolve_action() picks it:
EXPECTED = {
    "X": DeidentifiedAttribute.Decision.REMOVED,
    "Z": DeidentifiedAttribute.Decision.EMPTIED,
    "D": DeidentifiedAttribute.Decision.DUMMY,
    "U": DeidentifiedAttribute.Decision.UID,
    "K": DeidentifiedAttribute.Decision.KEPT,
    # Descriptors we load with a hidden identifier, so they are cleaned:
    "C": DeidentifiedAttribute.Decision.CLEANED,
    None: DeidentifiedAttribute.Decision.CLEANED,
}
FREE_TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC"}
FREE_TEXT_WORDS = ("Description", "Label", "Comments", "Name")
NUMBER_VRS = ("US", "UL", "SS", "SL", "FL", "FD")


@functools.cache
def iod_paths(iod: str) -> list[tuple[str, ...]]:
    """Return every path (sequences, then the attribute) that the IOD's modules define."""
    modules = get_module_attribute_map()
    paths = {
        (*attribute["path"], attribute["keyword"])
        for module in get_iod_module_map()[iod]
        for attribute in modules[module["key"]]
    }
    return sorted(
        path
        for path in paths
        if all(tag_for_keyword(keyword) is not None for keyword in path)
        # File meta (0002) and directory (0004) attributes are no part of a data set:
        and tag_for_keyword(path[-1]) >> 16 not in (0x0002, 0x0004)
    )


def vr_of(keyword: str) -> str:
    """Return the VR of a keyword; the first of an ambiguous one (OB or OW)."""
    return dictionary_VR(tag_for_keyword(keyword)).split(" or ")[0]


def profile_paths(iod: str) -> list[tuple[str, ...]]:
    """Return the paths of the IOD whose attribute Table E.1-1 lists."""
    return [p for p in iod_paths(iod) if tag_for_keyword(p[-1]) in BASIC_PROFILE]


def free_text_paths(iod: str) -> list[tuple[str, ...]]:
    """Return the paths of the IOD's free-text descriptions that the table does not list.

    ROIName, SegmentLabel, ContentDescription: where a person types what they like.
    """
    return [
        p
        for p in iod_paths(iod)
        if tag_for_keyword(p[-1]) not in BASIC_PROFILE
        and vr_of(p[-1]) in FREE_TEXT_VRS
        and p[-1].endswith(FREE_TEXT_WORDS)
    ]


@dataclass
class Planted:
    """What a test file was loaded with, and what must not come out again."""

    # file name -> [(path, VR, how it was loaded)]; "hidden" marks free text with an identifier
    paths: dict[str, list[tuple[tuple[str, ...], str, str]]] = field(
        default_factory=dict
    )
    # Values that must survive nowhere: text found as a substring, case ignored...
    tokens: set[str] = field(default_factory=set)
    # ... and dates, times and numbers, compared with whole element values:
    exact: set[str] = field(default_factory=set)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    hidden: itertools.count = field(default_factory=lambda: itertools.count(1))

    def token(self) -> str:
        text = f"QXV{next(self.counter):04d}"
        self.tokens.add(text)
        return text


def hidden(planted: Planted, vr: str) -> str:
    """Return free text with one of the patient's own identifiers hidden in it.

    Short enough for SH (16 characters); QH<n> marks the text, so that it is found
    again wherever it lands.
    """
    n = next(planted.hidden)
    identifier = ("Joanna", PATIENT_ID, "04.07.1961")[n % 3]
    planted.tokens.add(f"QH{n:03d}")
    return f"QH{n:03d} {identifier}"


def value_for(planted: Planted, keyword: str, vr: str) -> object:
    """Return an identifying value of the VR, or the retained value of a kept attribute."""
    action = resolve_action(tag_for_keyword(keyword))
    if action == "K":
        if vr in ("OB", "OW", "UN"):
            return STUDY_DATE.encode()
        if vr in NUMBER_VRS:
            return 1
        return RETAINED_BY_KEYWORD.get(keyword) or RETAINED.get(vr, "1")
    if action == "C":
        return hidden(planted, vr)
    n = next(planted.counter)
    if vr == "UI":
        uid = generate_uid()
        planted.tokens.add(uid)
        return uid
    if vr in ("DA", "TM", "DT"):
        moment = dt.datetime(1950, 1, 1) + dt.timedelta(days=n, minutes=n)
        text = moment.strftime(
            {"DA": "%Y%m%d", "TM": "%H%M%S", "DT": "%Y%m%d%H%M%S"}[vr]
        )
        planted.exact.add(text)
        return text
    if vr in ("DS", "IS", "AS", *NUMBER_VRS):
        number = 7000 + n
        text = f"{number % 1000:03d}Y" if vr == "AS" else str(number)
        planted.exact.add(text)
        return number if vr in NUMBER_VRS else text
    token = planted.token()
    if vr == "PN":
        return f"{token}^{token}G"
    if vr in ("OB", "OW", "UN"):
        return (token + "\x00").encode()
    if vr == "UR":
        return f"https://{token.lower()}.example.org/"
    return token


def item_at(ds: Dataset, sequences: tuple[str, ...]) -> Dataset:
    """Return the first item at the end of the sequences, making what is missing."""
    for keyword in sequences:
        if keyword not in ds or not ds[keyword].value:
            setattr(ds, keyword, Sequence([Dataset()]))
        ds = ds[keyword].value[0]
    return ds


def load(ds: Dataset, name: str, planted: Planted) -> None:
    """Load every profile attribute and free-text description the IOD defines."""
    kept_as_built = {"PatientName", "PatientID", "PatientBirthDate", "StudyDate"}
    loaded = planted.paths.setdefault(name, [])
    for path in profile_paths(IODS[name]):
        keyword = path[-1]
        vr = vr_of(keyword)
        item = item_at(ds, path[:-1])
        if keyword in item and (vr in ("UI", "SQ") or keyword in kept_as_built):
            # References between the objects stay as built; their source UIDs go:
            if vr == "UI":
                planted.tokens.update(str(uid) for uid in _values(item[keyword]))
            loaded.append((path, vr, "built"))
            continue
        if vr == "SQ":
            inner = Dataset()
            if resolve_action(tag_for_keyword(keyword)) in ("X", "Z", "D"):
                # What such a sequence holds goes with it:
                inner.CodeValue = planted.token()
                inner.CodeMeaning = f"{planted.token()} {PATIENT_NAME}"
            setattr(item, keyword, Sequence([inner]))
        else:
            setattr(item, keyword, value_for(planted, keyword, vr))
        loaded.append((path, vr, "loaded"))

    for path in free_text_paths(IODS[name]):
        item = item_at(ds, path[:-1])
        setattr(item, path[-1], hidden(planted, vr_of(path[-1])))
        loaded.append((path, vr_of(path[-1]), "hidden"))


def _values(elem) -> list[object]:
    value = elem.value
    return (
        list(value)
        if isinstance(value, list | pydicom.multival.MultiValue)
        else [value]
    )


def add_private(ds: Dataset, planted: Planted, *where: str) -> None:
    """Add private elements of several VRs at the top level and in the items named."""
    for item in [ds, *(item_at(ds, tuple(path.split(" > "))) for path in where)]:
        block = item.private_block(0x0029, "ACME DEID 1.0", create=True)
        block.add_new(0x01, "LO", planted.token())
        block.add_new(0x02, "PN", f"{planted.token()}^PRIVATE")
        block.add_new(0x03, "UN", planted.token().encode())
        inner = Dataset()
        inner.add_new(0x00100020, "LO", planted.token())  # a PatientID in a private SQ
        block.add_new(0x04, "SQ", Sequence([inner]))


def build_files(inbox: Path) -> tuple[Planted, dict[str, Dataset]]:
    """Write a CT, an RTSTRUCT on it and a SEG of it, loaded; return what was planted."""
    planted = Planted()
    planted.tokens |= {"ZQXWPATIENT", "JOANNA", PATIENT_ID}
    planted.exact.add(BIRTH_DATE)

    ct = build_ct(
        PatientName=PATIENT_NAME,
        PatientID=PATIENT_ID,
        PatientBirthDate=BIRTH_DATE,
        StudyDate=STUDY_DATE,
        StudyID="1",
        AccessionNumber="ACC0001",
        ReferringPhysicianName="",
    )
    planted.tokens.add("ACC0001")
    # highdicom reads the image's modules, so the SEG is made before they are loaded:
    seg = make_seg(copy.deepcopy(ct))
    rtstruct = build_rtstruct((1, "GTV", ct))
    rtstruct.PatientBirthDate = BIRTH_DATE
    rtstruct.StudyDate = STUDY_DATE
    files = {"ct.dcm": ct, "rtstruct.dcm": rtstruct, "seg.dcm": seg}

    for name, ds in files.items():
        load(ds, name, planted)
    add_private(ct, planted, "ReferencedImageSequence", "SourceImageSequence")
    add_private(
        rtstruct,
        planted,
        "StructureSetROISequence",
        "ReferencedFrameOfReferenceSequence > RTReferencedStudySequence",
    )
    add_private(seg, planted, "SegmentSequence", "ReferencedSeriesSequence")
    # The repeating groups of the profile, overlay comments and data:
    ct.add_new(0x60004000, "LT", planted.token())
    ct.add_new(0x60003000, "OB", planted.token().encode())

    for name, ds in files.items():
        write_part10(ds, inbox / name)
    return planted, files


def make_seg(ct: Dataset) -> Dataset:
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="GTV",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    mask = np.zeros((1, 8, 8), dtype=bool)
    mask[0, 2:6, 2:6] = True
    seg = hd.seg.Segmentation(
        source_images=[ct],
        pixel_array=mask,
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(),
        series_number=3,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer="Acme Imaging",
        manufacturer_model_name="Segmenter",
        software_versions="1.0",
        device_serial_number="SN-1",
    )
    return pydicom.dcmread(_written(seg))


def _written(ds: Dataset) -> io.BytesIO:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer


@pytest.fixture
def ingested(inbox, project, caplog):
    """The three files loaded with identifiers, ingested by the command; its output and logs."""
    planted, files = build_files(inbox)
    out, err = io.StringIO(), io.StringIO()
    # The apps' loggers have levels of their own (settings.LOGGING):
    for name in ("", "radiomics", "patients", "biobank"):
        caplog.set_level(logging.DEBUG, logger=name)

    call_command(
        "ingest_dicom", str(inbox), project=project.code, stdout=out, stderr=err
    )

    return planted, files, out.getvalue() + err.getvalue() + caplog.text


# A page's CSRF token is 64 random letters and digits, in which a planted QH571 turns
# up by chance about once in a few thousand runs:
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="[A-Za-z0-9]+"')


def leaked(text: str, planted: Planted) -> list[str]:
    """Return the planted identifiers found in the text, case ignored."""
    lower = CSRF_TOKEN.sub("", text).lower()
    return sorted(token for token in planted.tokens if token.lower() in lower)


def database_rows() -> list[tuple[str, list[str]]]:
    """Return (table, every column as text) for every row of every table."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                rows.append((table, [_as_text(value) for value in row]))
    return rows


def _as_text(value: object) -> str:
    if isinstance(value, bytes | memoryview):
        return bytes(value).decode("latin-1")
    return "" if value is None else str(value)


def stored_values(storage_root: Path) -> list[tuple[Path, str]]:
    """Return (file, value) for every element of every stored file, items of sequences too."""
    found = []
    for path in sorted(storage_root.rglob("*.dcm")):
        ds = pydicom.dcmread(path)
        for elem in [*ds.file_meta.iterall(), *ds.iterall()]:
            if elem.VR != "SQ" and elem.value is not None:
                found += [(path, _as_text(value)) for value in _values(elem)]
    return found


def test_ingests_the_image_the_structure_set_and_the_segmentation(ingested):
    assert ImageInstance.objects.count() == 1
    assert set(Segmentation.objects.values_list("source_kind", flat=True)) == {
        "RTSTRUCT",
        "SEG",
    }
    assert ImportRun.objects.get().status == ImportRun.Status.DONE


def test_no_identifier_survives_in_any_column_of_any_table(ingested):
    planted, _files, _logs = ingested
    dates = {f"{d[:4]}-{d[4:6]}-{d[6:8]}" for d in planted.exact if len(d) == 8}

    rows = database_rows()

    assert len(rows) > 100
    text = "\n".join(f"{table}: {' | '.join(values)}" for table, values in rows)
    assert leaked(text, planted) == []
    assert [
        (table, value)
        for table, values in rows
        for value in values
        if value in planted.exact or value[:10] in dates
    ] == []


def test_no_identifier_survives_in_any_element_or_byte_of_the_stored_files(
    ingested, storage_root
):
    planted, _files, _logs = ingested

    values = stored_values(storage_root)

    assert len(list(storage_root.rglob("*.dcm"))) == 3
    assert [(p.name, v) for p, v in values if leaked(v, planted)] == []
    assert [(p.name, v) for p, v in values if v.strip() in planted.exact] == []
    for path in storage_root.rglob("*"):
        if path.is_file():
            assert leaked(path.read_bytes().decode("latin-1"), planted) == [], path


def test_no_identifier_survives_in_the_logs_or_the_command_output(ingested):
    planted, _files, logs = ingested

    assert "Import run" in logs
    assert leaked(logs, planted) == []


def test_no_identifier_survives_in_the_api_the_exports_or_the_admin(
    ingested, client, curator
):
    planted, _files, _logs = ingested
    study = ImagingStudy.objects.get()
    BloodSample.objects.create(
        patient=study.patient,
        drawn_at=timezone.make_aware(dt.datetime(2022, 3, 12, 9, 0)),
    )
    client.force_login(curator)
    run = ImportRun.objects.get()
    api_lists = client.get("/api/", HTTP_ACCEPT="application/json").json().values()
    pages = [
        *api_lists,
        f"/api/imaging-studies/{study.pk}/",
        *(
            f"/api/image-series/{pk}/"
            for pk in study.series.values_list("pk", flat=True)
        ),
        *(
            f"/api/segmentations/{pk}/"
            for pk in Segmentation.objects.values_list("pk", flat=True)
        ),
        f"/api/patients/{study.patient.pk}/",
        "/api/cohort-matrix/?window_days=30",
        "/cohorts/?window_days=30&format=csv",
        f"/admin/radiomics/deidentifiedattribute/report/{run.pk}/",
        f"/admin/patients/importrun/{run.pk}/change/",
        f"/admin/radiomics/imagingstudy/{study.pk}/change/",
        f"/admin/patients/patient/{study.patient.pk}/change/",
        *(
            f"/admin/radiomics/segmentation/{pk}/change/"
            for pk in Segmentation.objects.values_list("pk", flat=True)
        ),
    ]

    bodies = {}
    for page in pages:
        response = client.get(page, HTTP_ACCEPT="application/json")
        assert response.status_code == 200, page
        bodies[page] = (
            b"".join(response.streaming_content).decode()
            if response.streaming
            else response.content.decode()
        )

    # The study is in both cohort exports, so their rows were looked at:
    assert study.patient.pseudonym in bodies["/api/cohort-matrix/?window_days=30"]
    assert study.patient.pseudonym in bodies["/cohorts/?window_days=30&format=csv"]
    assert {
        page: leaked(body, planted)
        for page, body in bodies.items()
        if leaked(body, planted)
    } == {}


def test_references_between_the_objects_still_resolve_after_replacement(
    ingested, storage_root
):
    _planted, files, _logs = ingested
    source_ct = files["ct.dcm"]
    stored = {
        str(ds.Modality): ds
        for ds in (pydicom.dcmread(p) for p in storage_root.rglob("*.dcm"))
    }
    ct, rtstruct, seg = stored["CT"], stored["RTSTRUCT"], stored["SEG"]

    frame = rtstruct.ReferencedFrameOfReferenceSequence[0]
    series = frame.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    contour = rtstruct.ROIContourSequence[0].ContourSequence[0]
    seg_series = seg.ReferencedSeriesSequence[0]
    source = (
        seg.PerFrameFunctionalGroupsSequence[0]
        .DerivationImageSequence[0]
        .SourceImageSequence[0]
    )

    assert ct.SOPInstanceUID != source_ct.SOPInstanceUID
    assert ct.StudyInstanceUID == rtstruct.StudyInstanceUID == seg.StudyInstanceUID
    assert (
        frame.FrameOfReferenceUID == ct.FrameOfReferenceUID == seg.FrameOfReferenceUID
    )
    assert (
        rtstruct.StructureSetROISequence[0].ReferencedFrameOfReferenceUID
        == ct.FrameOfReferenceUID
    )
    assert (
        frame.RTReferencedStudySequence[0].ReferencedSOPInstanceUID
        == ct.StudyInstanceUID
    )
    assert (
        series.SeriesInstanceUID == seg_series.SeriesInstanceUID == ct.SeriesInstanceUID
    )
    assert contour.ContourImageSequence[0].ReferencedSOPInstanceUID == ct.SOPInstanceUID
    assert (
        seg_series.ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
        == ct.SOPInstanceUID
    )
    assert source.ReferencedSOPInstanceUID == ct.SOPInstanceUID
    # ... and the biobank linked both by their images:
    image_series = ImageInstance.objects.get().series
    assert [(s.series, s.linkage) for s in Segmentation.objects.all()] == [
        (image_series, Segmentation.Linkage.INSTANCES)
    ] * 2


def expected_decision(path: tuple[str, ...], how: str) -> tuple[str, str]:
    """Return the attribute path the report must list, and its decision.

    Whatever sits in a sequence that is removed or emptied is reported as that
    sequence; in a sequence replaced by a dummy, values without an action of their
    own become dummies too.
    """
    Decision = DeidentifiedAttribute.Decision
    in_dummy = False
    for depth, keyword in enumerate(path):
        name = " > ".join(path[: depth + 1])
        action = resolve_action(tag_for_keyword(keyword))
        vr = vr_of(keyword)
        if depth == 0 and keyword in ("PatientName", "PatientID"):
            return name, Decision.PSEUDONYM
        if action == "X":
            return name, Decision.REMOVED
        if action == "Z":
            return name, Decision.EMPTIED
        if depth < len(path) - 1:
            in_dummy = in_dummy or action == "D"
            continue
        if vr == "SQ":
            return name, Decision.DUMMY if in_dummy or action == "D" else Decision.KEPT
        if in_dummy and action in (None, "C") and vr != "UI":
            return name, Decision.DUMMY
        if action is None and vr == "UI":
            return name, Decision.KEPT
        return name, EXPECTED[action]
    raise AssertionError(path)


def test_the_report_lists_every_loaded_attribute_with_its_decision(ingested):
    planted, _files, _logs = ingested
    run = ImportRun.objects.get()
    reported = {
        (row.path, row.decision): row
        for row in DeidentifiedAttribute.objects.filter(import_run=run)
    }

    expected = {
        (name, *expected_decision(path, how))
        for name, loaded in planted.paths.items()
        for path, _vr, how in loaded
    }

    assert len(expected) > 500
    missing = sorted(
        (name, path, decision)
        for name, path, decision in expected
        if (path, decision) not in reported
    )
    assert missing == []


def test_the_report_explains_kept_attributes_and_counts_files(ingested):
    run = ImportRun.objects.get()
    rows = {
        (row.path, row.decision): row
        for row in DeidentifiedAttribute.objects.filter(import_run=run)
    }
    Decision, Rule = DeidentifiedAttribute.Decision, DeidentifiedAttribute.Rule

    assert rows["StudyDate", Decision.KEPT].rule == Rule.FULL_DATES
    assert rows["StudyDate", Decision.KEPT].file_count == 3
    assert rows["PatientSex", Decision.KEPT].rule == Rule.PATIENT_CHARACTERISTICS
    assert rows["SOPInstanceUID", Decision.UID].rule == Rule.UID
    assert rows["SliceThickness", Decision.KEPT].rule == Rule.ACQUISITION
    assert rows["SliceThickness", Decision.KEPT].file_count == 1
    assert rows["PatientID", Decision.PSEUDONYM].file_count == 3
    assert rows["StudyDescription", Decision.CLEANED].rule == Rule.CLEAN_DESCRIPTORS
    assert rows["(0029,1001)", Decision.REMOVED].rule == Rule.PRIVATE
    assert (
        rows["StructureSetROISequence > (0029,1001)", Decision.REMOVED].rule
        == Rule.PRIVATE
    )
    assert rows["OverlayComments", Decision.REMOVED].profile_action == "X"
    assert (
        rows[
            "ReferencedFrameOfReferenceSequence > RTReferencedStudySequence > ReferencedSOPInstanceUID",
            Decision.UID,
        ].file_count
        == 1
    )
    assert rows["ReferencedStudySequence", Decision.EMPTIED].profile_action == "X/Z"


def test_the_command_prints_where_the_report_is_and_the_page_groups_it(
    ingested, client, curator
):
    _planted, _files, output = ingested
    run = ImportRun.objects.get()
    url = f"/admin/radiomics/deidentifiedattribute/report/{run.pk}/"
    client.force_login(curator)

    page = client.get(url).content.decode()

    assert url in output
    for decision in ("removed", "uid", "kept", "cleaned", "emptied", "dummy"):
        assert f'<h2 id="{decision}">' in page
    assert "Retain Longitudinal Temporal Information with Full Dates Option" in page
    assert "radiomic features depend on it" in page
    assert "references between objects" in page
    assert (
        url
        in client.get(f"/admin/patients/importrun/{run.pk}/change/").content.decode()
    )
