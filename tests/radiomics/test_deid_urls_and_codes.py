"""De-identification of addresses (VR UR) and of codes: what is removed, what a name empties.

Addresses are removed by rule: a Retrieve URL carried the source's Study Instance UID
and the PatientID into the stored copy. Codes (CS, acquisition parameters, the code of
a coded entry) are screened for name parts as whole words of four letters or more,
and not at all where the value is a defined term of its element.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from django.conf import settings
from pydicom.dataset import Dataset

from radiomics.importers.dicom import ingest_dicom
from radiomics.models import DeidentifiedAttribute, ImageInstance, ImagingStudy
from tests.radiomics.conftest import build_ct, stored_dataset, write_part10
from tests.radiomics.test_dicom_deid import found_anywhere
from tests.radiomics.test_dicom_fast_lane import (  # noqa: F401 -- fixture
    lanes,
    write_slices,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

PATIENT_ID = "PID-314159"
Decision = DeidentifiedAttribute.Decision
Rule = DeidentifiedAttribute.Rule


def retrieve_url(study_uid: str, instance_uid: str = "") -> str:
    url = f"https://pacs.example/studies/{study_uid}"
    if instance_uid:
        url += f"/instances/{instance_uid}"
    return f"{url}?PatientID={PATIENT_ID}"


def stored_bytes() -> list[bytes]:
    root = Path(settings.BIOBANK_STORAGE_ROOT)
    return [
        (root / instance.storage_path).read_bytes()
        for instance in ImageInstance.objects.all()
    ]


def addresses(ds: Dataset) -> list[str]:
    """Every element of VR UR, and the trial URL (ST), at any depth."""
    return [
        str(elem.tag)
        for elem in ds.iterall()
        if elem.VR == "UR" or elem.tag == 0x0040A992
    ]


def assert_no_address(source_uid: str, storage_root: Path) -> None:
    for instance in ImageInstance.objects.all():
        assert addresses(stored_dataset(instance)) == []
    for data in stored_bytes():
        assert PATIENT_ID.encode() not in data
        assert source_uid.encode() not in data
        assert b"pacs.example" not in data
    assert found_anywhere(PATIENT_ID, storage_root) == []
    assert found_anywhere(source_uid, storage_root) == []


def report_rows(path: str) -> list[tuple]:
    return list(
        DeidentifiedAttribute.objects.filter(path=path).values_list(
            "tag", "profile_action", "decision", "rule", "file_count"
        )
    )


def test_removes_the_retrieve_url_that_named_the_source_study_and_patient(
    inbox, project, storage_root
):
    ds = build_ct(PatientID=PATIENT_ID)
    ds.RetrieveURL = retrieve_url(ds.StudyInstanceUID)
    write_part10(ds, inbox / "ct.dcm")

    report = ingest_dicom(inbox, project)

    assert report.created["instances"] == 1
    assert "RetrieveURL" not in stored_dataset(ImageInstance.objects.get())
    assert_no_address(ds.StudyInstanceUID, storage_root)
    assert report_rows("RetrieveURL") == [
        ("(0008,1190)", "", Decision.REMOVED, Rule.URL, 1)
    ]
    # Removed, not cleaned: no warning, nothing to say about its value.
    assert not [p for p in report.warnings if p.field.startswith("RetrieveURL")]


@pytest.mark.parametrize(
    ("keyword", "tag"),
    [
        ("RetrieveURI", "(0040,E010)"),
        ("PixelDataProviderURL", "(0028,7FE0)"),
        ("StorageURL", "(0040,4073)"),
        ("UniformResourceLocatorTrial", "(0040,A992)"),  # a retired ST
    ],
)
def test_removes_every_address_in_sequences_too(
    inbox, project, storage_root, keyword, tag
):
    ds = build_ct(PatientID=PATIENT_ID)
    address = retrieve_url(ds.StudyInstanceUID)
    referenced = Dataset()
    referenced.SeriesInstanceUID = ds.SeriesInstanceUID
    setattr(referenced, keyword, address)
    ds.ReferencedSeriesSequence = [referenced]
    setattr(ds, keyword, address)
    write_part10(ds, inbox / "ct.dcm")

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert keyword not in stored
    assert keyword not in stored.ReferencedSeriesSequence[0]
    assert_no_address(ds.StudyInstanceUID, storage_root)
    rule = (Decision.REMOVED, Rule.URL, 1)
    assert [row[:1] + row[2:] for row in report_rows(keyword)] == [(tag, *rule)]
    nested = f"ReferencedSeriesSequence > {keyword}"
    assert [row[:1] + row[2:] for row in report_rows(nested)] == [(tag, *rule)]


def test_removes_a_urn_code_value_with_every_address_and_keeps_the_coded_entry(
    inbox, project, storage_root
):
    ds = build_ct(PatientID=PATIENT_ID)
    region = Dataset()
    region.URNCodeValue = f"urn:oid:{ds.StudyInstanceUID}"
    region.CodeMeaning = "Lung"
    ds.AnatomicRegionSequence = [region]
    write_part10(ds, inbox / "ct.dcm")

    ingest_dicom(inbox, project)

    item = stored_dataset(ImageInstance.objects.get()).AnatomicRegionSequence[0]
    assert "URNCodeValue" not in item
    assert item.CodeMeaning == "Lung"
    assert_no_address(ds.StudyInstanceUID, storage_root)


def with_retrieve_urls(paths: list[Path], per_slice: bool) -> None:
    """Give each file a Retrieve URL naming the source study (and its instance)."""
    for path in paths:
        ds = pydicom.dcmread(path)
        instance = ds.SOPInstanceUID if per_slice else ""
        ds.RetrieveURL = retrieve_url(ds.StudyInstanceUID, instance)
        write_part10(ds, path)


@pytest.mark.parametrize("per_slice", [True, False], ids=["per slice", "constant"])
def test_the_fast_lane_writes_no_address_of_a_series(
    lanes,  # noqa: F811 -- fixture
    inbox,
    storage_root,
    per_slice,
):
    paths = write_slices(inbox, 5, PatientID=PATIENT_ID)
    with_retrieve_urls(paths, per_slice)
    source_uid = pydicom.dcmread(paths[0]).StudyInstanceUID

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast == ["s02.dcm", "s03.dcm", "s04.dcm", "s05.dcm"]
    assert ImageInstance.objects.count() == 5
    assert_no_address(source_uid, storage_root)
    assert report_rows("RetrieveURL") == [
        ("(0008,1190)", "", Decision.REMOVED, Rule.URL, 5)
    ]


# Codes: ---------------------------------------------------------------------------


def coded_entry(value: str, scheme: str, meaning: str, **more: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    for keyword, text in more.items():
        setattr(item, keyword, text)
    return item


def cleaned(report) -> list[str]:
    return [p.field for p in report.warnings if p.code == "identifier-in-text"]


def test_a_short_name_part_of_the_patient_empties_no_code_of_a_coded_entry(
    make_ct, inbox, project
):
    """A patient LN^AB lost every LOINC CodingSchemeDesignator LN: the code of a
    coded entry is a code, as a CS is. Its meaning is free text, still screened."""
    make_ct(
        PatientName="LN^AB",
        AnatomicRegionSequence=[
            coded_entry("AB", "LN", "AB region", CodingSchemeVersion="AB")
        ],
    )

    report = ingest_dicom(inbox, project)

    item = stored_dataset(ImageInstance.objects.get()).AnatomicRegionSequence[0]
    assert (item.CodeValue, item.CodingSchemeDesignator) == ("AB", "LN")
    assert item.CodingSchemeVersion == "AB"
    assert item.CodeMeaning == ""
    assert cleaned(report) == ["AnatomicRegionSequence > CodeMeaning (0008,0104)"]


@pytest.mark.parametrize(
    ("patient", "keyword", "code"),
    [
        ({"PatientID": PATIENT_ID}, "CodeValue", "PID314159"),
        ({"PatientID": "P12"}, "CodeValue", "P12"),  # a short ID, whole
        ({"PatientBirthDate": "19610704"}, "CodingSchemeDesignator", "19610704"),
        ({"PatientName": "ZQXWPATIENT^JO"}, "CodeValue", "ZQXWPATIENT"),
        ({"PatientName": "ZQXWPATIENT^JO"}, "LongCodeValue", "code of Zqxwpatient"),
    ],
)
def test_the_code_of_a_coded_entry_is_still_screened_for_ids_dates_and_long_names(
    make_ct, inbox, project, patient, keyword, code
):
    item = coded_entry("39607008", "SCT", "Lung structure")
    setattr(item, keyword, code)
    make_ct(**patient, AnatomicRegionSequence=[item])

    report = ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get()).AnatomicRegionSequence[0]
    assert getattr(stored, keyword) in ("", None)
    assert [field.split(" (")[0] for field in cleaned(report)] == [
        f"AnatomicRegionSequence > {keyword}"
    ]


def test_a_patient_named_head_keeps_body_part_examined_head(make_ct, inbox, project):
    """HEAD is a defined term of BodyPartExamined (PS3.16 Annex L): no name there."""
    make_ct(PatientName="BONE^HEAD", BodyPartExamined="HEAD")

    report = ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).BodyPartExamined == "HEAD"
    assert ImagingStudy.objects.get().body_part == "HEAD"
    assert cleaned(report) == []


@pytest.mark.parametrize(
    ("keyword", "code"),
    [
        ("ConvolutionKernel", "BONEPLUS"),  # GE's kernel: BONE inside a word
        ("BodyPartExamined", "HEADNECK"),
        ("ImageType", ["ORIGINAL", "PRIMARY", "HEADFIRST"]),
    ],
)
def test_a_code_keeps_a_long_name_part_found_inside_a_word(
    make_ct, inbox, project, keyword, code
):
    make_ct(PatientName="BONE^HEAD", **{keyword: code})

    report = ingest_dicom(inbox, project)

    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == code
    assert cleaned(report) == []


@pytest.mark.parametrize(
    ("keyword", "code"),
    [
        ("ImageType", ["ORIGINAL", "PRIMARY", "SMITH"]),
        ("ConvolutionKernel", "SMITH"),
        ("ConvolutionKernel", "SMITH01"),  # letters turn to digits: a word ends
        ("Manufacturer", "SmithScanner"),  # lower case turns to upper
        ("BodyPartExamined", "SMITH_CHEST"),  # no defined term
        # A kernel of no list: a name part as a whole word still goes.
        ("ConvolutionKernel", "LUNG SHARP"),
    ],
)
def test_a_code_holding_a_long_name_part_as_a_whole_word_is_still_emptied(
    make_ct, inbox, project, keyword, code
):
    make_ct(PatientName="SMITH^LUNG", **{keyword: code})

    report = ingest_dicom(inbox, project)

    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) in ("", None)
    assert [field.split(" (")[0] for field in cleaned(report)] == [keyword]


def test_free_text_is_still_emptied_for_a_long_name_part_inside_a_word(
    make_ct, inbox, project
):
    make_ct(PatientName="BONE^HEAD", SeriesDescription="HEADFIRST 2mm")

    report = ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).SeriesDescription == ""
    assert [field.split(" (")[0] for field in cleaned(report)] == ["SeriesDescription"]


def test_another_patient_named_head_leaves_the_batchs_body_parts_alone(
    make_ct, inbox, project
):
    make_ct("a.dcm", PatientName="BONE^HEAD", PatientID="PID-1001")
    make_ct(
        "b.dcm",
        PatientName="DOE^JANE",
        PatientID="PID-2002",
        BodyPartExamined="HEAD",
        ConvolutionKernel="BONEPLUS",
        SeriesDescription="BONE window",
    )

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get(body_part="HEAD")
    stored = stored_dataset(ImageInstance.objects.get(series__study=study).storage_path)
    assert (stored.BodyPartExamined, stored.ConvolutionKernel) == ("HEAD", "BONEPLUS")
    # Free text still names the other patient of the batch:
    assert stored.SeriesDescription == ""
    assert [field.split(" (")[0] for field in cleaned(report)] == ["SeriesDescription"]


@pytest.mark.parametrize(
    ("name", "kernel"),
    [("BONE^HEAD", "BONE"), ("LUNG^ALEX", "LUNG"), ("SMITH^LUNG", "LUNG")],
)
def test_a_patient_named_like_a_kernel_of_ge_keeps_the_kernel(
    make_ct, inbox, project, name, kernel
):
    """BONE and LUNG are kernels of GE (deid._GE_KERNELS): no name there."""
    make_ct(PatientName=name, ConvolutionKernel=kernel, SeriesDescription="CT")

    report = ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).ConvolutionKernel == kernel
    assert cleaned(report) == []


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("LOEWE^HANS", "LOWER LIMB"),  # LOWE, LOEWE spelt with one vowel
        ("LÖWE^HANS", "Lower limb"),
        ("LOEWE^HANS", "LOWERLIMB"),
        ("BO^NE", "BONE WINDOW"),  # two short parts glued into a word of the trade
        ("BONE^HEAD", "HEADNECK 2mm"),  # a body part (PS3.16 Table L-1)
        ("RAIN^LI", "BRAIN MRI"),
    ],
)
def test_the_patients_name_inside_a_word_of_the_trade_is_no_name(
    make_ct, inbox, project, name, description
):
    make_ct(PatientName=name, SeriesDescription=description)

    report = ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).SeriesDescription == description
    assert cleaned(report) == []


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("LOEWE^HANS", "LOWE LIMB"),  # the name as a word of its own
        ("LOEWE^HANS", "LOWERLOWE"),  # no word of the trade
        ("LUNG^ALEX", "LUNG WINDOW"),  # the name is the word of the trade
        ("LOWE^ROBERT", "LOWER LIMB"),  # LOWE and the initial R glued
        ("MORISON^ALEX", "MORISONS follow-up"),  # the name with an S: a possessive
        ("WILLI^ALEX", "WILLIS"),
    ],
)
def test_the_patients_name_beside_a_word_of_the_trade_is_still_emptied(
    make_ct, inbox, project, name, description
):
    make_ct(PatientName=name, SeriesDescription=description)

    report = ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).SeriesDescription == ""
    assert [field.split(" (")[0] for field in cleaned(report)] == ["SeriesDescription"]
