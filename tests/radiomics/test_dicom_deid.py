"""De-identification on import: shared case 05 and the kinds of hidden identifiers it stands for."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pydicom
import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import models
from pydicom.dataset import Dataset

from patients.models import ImportRun, Patient
from patients.services import find_patient
from radiomics.importers.deid import replacement_uid
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import (
    DeidentifiedAttribute,
    ImageInstance,
    ImageSeries,
    ImagingStudy,
)
from tests.conftest import case_path
from tests.radiomics.conftest import (
    build_ct,
    private_tags,
    stored_dataset,
    write_part10,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

CASE_05_FORBIDDEN = [
    "SYNTHETIC",
    "PATIENTNAME",
    "MRN0048213",
    "19610704",
    "ACC77120",
    "ALT-99812",
    "EXAMPLEDOC",
    "Example General Hospital",
]


def database_texts() -> list[str]:
    """Return every text (and JSON) value of every row of the patients and radiomics apps.

    The paths of the de-identification report are left out: they are DICOM keywords
    (PatientName), which case 05 also uses as a patient's name.
    """
    texts = []
    for label in ("patients", "radiomics"):
        for model in apps.get_app_config(label).get_models():
            fields = [
                f
                for f in model._meta.concrete_fields
                if isinstance(f, models.CharField | models.TextField | models.JSONField)
                and (model, f.name) != (DeidentifiedAttribute, "path")
            ]
            for row in model.objects.all():
                texts += [
                    f"{model.__name__}.{f.name}={getattr(row, f.attname)}"
                    for f in fields
                ]
    return texts


def found_anywhere(needle: str, storage_root: Path) -> list[str]:
    """Return where `needle` occurs, case-insensitively, in stored files and the database."""
    needle = needle.lower()
    places = [
        str(path)
        for path in storage_root.rglob("*")
        if path.is_file() and needle.encode() in path.read_bytes().lower()
    ]
    return places + [text for text in database_texts() if needle in text.lower()]


@pytest.fixture
def phi_case(project):
    return ingest_dicom(
        case_path("05-dicom-private-tag-phi", "a_private_tags_with_phi.dcm"), project
    )


def test_imports_the_image_with_identifiers_in_private_tags(phi_case):
    assert phi_case.created == {
        "patients": 1,
        "studies": 1,
        "series": 1,
        "instances": 1,
    }


@pytest.mark.parametrize("needle", CASE_05_FORBIDDEN)
def test_leaves_no_identifier_in_any_stored_byte_or_database_field(
    phi_case, storage_root, needle
):
    assert found_anywhere(needle, storage_root) == []


def test_removes_every_private_element_of_the_case(phi_case):
    stored = stored_dataset(ImageInstance.objects.get())

    assert private_tags(stored) == []
    assert "RequestAttributesSequence" not in stored
    assert "OtherPatientIDsSequence" not in stored


def test_marks_the_stored_copy_as_deidentified(phi_case):
    stored = stored_dataset(ImageInstance.objects.get())

    assert stored.PatientIdentityRemoved == "YES"
    assert "Basic Application Confidentiality Profile" in " ".join(
        stored.DeidentificationMethod
    )
    codes = {item.CodeValue for item in stored.DeidentificationMethodCodeSequence}
    assert {"113100", "113106"} <= codes
    assert (
        stored.PatientName
        == stored.PatientID
        == ImagingStudy.objects.get().patient.pseudonym
    )


def test_links_the_patient_by_the_source_id_and_keeps_the_pseudonym_on_reimport(
    phi_case, project
):
    patient = find_patient(project, "MRN0048213")
    assert ImagingStudy.objects.get().patient == patient

    report = ingest_dicom(
        case_path("05-dicom-private-tag-phi", "a_private_tags_with_phi.dcm"), project
    )

    assert report.duplicates == 1
    assert Patient.objects.get() == patient
    assert find_patient(project, "MRN0048213").pseudonym == patient.pseudonym


def test_keeps_dates_sex_and_age_for_time_linking(make_ct, inbox, project):
    make_ct(
        PatientAge="061Y", PatientSex="F", StudyDate="20230412", SeriesDate="20230412"
    )

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert (stored.StudyDate, stored.SeriesDate) == ("20230412", "20230412")
    assert (stored.PatientAge, stored.PatientSex) == ("061Y", "F")
    assert stored.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert ImagingStudy.objects.get().study_date == dt.date(2023, 4, 12)


def private_block(group: int, creator: str, value: bytes | str, vr: str) -> Dataset:
    item = Dataset()
    block = item.private_block(group, creator, create=True)
    block.add_new(0x01, vr, value)
    return item


def nested(depth: int, leaf: Dataset) -> Dataset:
    """Wrap `leaf` in `depth` levels of public sequences."""
    ds = leaf
    for _ in range(depth):
        outer = Dataset()
        outer.ReferencedImageSequence = [ds]
        ds = outer
    return ds


@pytest.mark.parametrize("depth", [0, 1, 2, 3])
@pytest.mark.parametrize(
    ("vr", "value"),
    [
        ("LO", "ZQXWPATIENT"),
        ("UN", b"PID-314159"),
        ("OB", b"ZQXWPATIENT\x00"),
        ("LT", "seen for ZQXWPATIENT"),
        ("PN", "ZQXWPATIENT^JO"),
    ],
)
def test_removes_private_elements_at_any_depth_and_of_any_vr(
    inbox, project, storage_root, depth, vr, value
):
    carrier = nested(depth, private_block(0x0029, "ACME 1.0", value, vr))
    ds = build_ct(PatientName="ZQXWPATIENT^JO", PatientID="PID-314159")
    for elem in carrier:
        ds.add(elem)
    write_part10(ds, inbox / "ct.dcm")

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert private_tags(stored) == []
    assert found_anywhere("ZQXWPATIENT", storage_root) == []
    assert found_anywhere("PID-314159", storage_root) == []


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("SeriesDescription", "CT thorax for Zqxwpatient"),
        ("StudyDescription", "follow-up PID-314159"),
        ("ProtocolName", "ZQXWPATIENT protocol"),
        ("ContrastBolusAgent", "given 1961-07-04 to PID-314159"),
        ("Manufacturer", "ZqxwpatientScanner"),
        ("BodyPartExamined", "PID-314159"),
        # The ID written otherwise, or by its digits:
        ("StudyDescription", "follow-up PID 314159"),
        ("SeriesDescription", "PID314159 late"),
        ("ProtocolName", "ref 314159"),
    ],
)
def test_empties_kept_free_text_that_names_the_patient(
    inbox, project, storage_root, keyword, text
):
    write_part10(
        build_ct(
            PatientName="ZQXWPATIENT^JO",
            PatientID="PID-314159",
            PatientBirthDate="19610704",
            **{keyword: text},
        ),
        inbox / "ct.dcm",
    )

    report = ingest_dicom(inbox, project)

    problem = next(p for p in report.warnings if p.code == "identifier-in-text")
    assert problem.field.startswith(keyword)
    assert problem.value == ""
    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == ""
    assert found_anywhere(text, storage_root) == []


def test_keeps_the_modality_of_a_patient_named_by_an_id(make_ct, inbox, project):
    # CQ500-CT-310 (pydicom's 693_J2KI.dcm) once blanked Modality CT as a name.
    make_ct(PatientName="CQ500-CT-310", PatientID="CQ500-CT-310", Modality="CT")

    ingest_dicom(inbox, project)

    assert stored_dataset(ImageInstance.objects.get()).Modality == "CT"
    assert ImageSeries.objects.get().modality == "CT"


@pytest.mark.parametrize("description", ["CT of MR", "MR follow-up"])
def test_a_short_name_part_of_the_patient_empties_free_text_but_no_modality(
    make_ct, inbox, project, description
):
    """A patient named CT^MR lost Modality CT, and the series its modality: a coded
    string (CS) holds defined terms, not the patient's name parts of two or three
    letters. Free text is still screened for them as whole words."""
    make_ct(PatientName="CT^MR", Modality="CT", SeriesDescription=description)

    report = ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert (stored.Modality, stored.SeriesDescription) == ("CT", "")
    series = ImageSeries.objects.get()
    assert (series.modality, series.description) == ("CT", "")
    assert [p.field for p in report.warnings if p.code == "identifier-in-text"] == [
        "SeriesDescription (0008,103E)"
    ]


@pytest.mark.parametrize(
    ("name", "keyword", "text", "column"),
    [
        # A vendor's code that is a whole word, of VR SH and LO:
        ("WANG^YA", "ConvolutionKernel", "YA", "convolution_kernel"),
        (
            "CT^MR",
            "ManufacturerModelName",
            "Ingenuity TF PET/CT",
            "manufacturer_model_name",
        ),
        ("CT^MR", "SoftwareVersions", "syngo CT VA48A", None),
        # ... and codes whose letters run into digits, never words of their own:
        ("FC^ALEX", "ConvolutionKernel", "FC13", "convolution_kernel"),
        ("BR^ALEX", "ConvolutionKernel", "Br40d", "convolution_kernel"),
    ],
)
def test_keeps_acquisition_parameters_that_hold_a_short_name_part_of_the_patient(
    make_ct, inbox, project, name, keyword, text, column
):
    make_ct(PatientName=name, **{keyword: text})

    report = ingest_dicom(inbox, project)

    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == text
    if column is not None:
        assert getattr(ImageSeries.objects.get(), column) == text
    assert not [p for p in report.warnings if p.code == "identifier-in-text"]


@pytest.mark.parametrize(
    ("patient", "keyword", "code"),
    [
        ({"PatientID": "PID-314159"}, "BodyPartExamined", "PID314159"),
        ({"PatientID": "P12"}, "BodyPartExamined", "P12"),  # a short ID, whole
        ({"PatientID": "P12"}, "ConvolutionKernel", "P12"),
        ({"PatientName": "ZQXWPATIENT^JO"}, "ImageType", ["ORIGINAL", "ZQXWPATIENT"]),
        ({"PatientBirthDate": "19610704"}, "PatientPosition", "19610704"),
        ({"AccessionNumber": "ACC-4711"}, "Laterality", "ACC4711"),  # no acquisition
    ],
)
def test_a_code_that_holds_an_identifier_of_the_patient_is_still_emptied(
    make_ct, inbox, project, patient, keyword, code
):
    make_ct(**patient, **{keyword: code})

    report = ingest_dicom(inbox, project)

    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) in ("", None)
    assert [
        p.field.split(" ")[0] for p in report.warnings if p.code == "identifier-in-text"
    ] == [keyword]


def test_keeps_descriptors_that_name_nobody(make_ct, inbox, project):
    make_ct(
        SeriesDescription="THORAX 2.5mm B30f",
        StudyDescription="CT CHEST",
        ProtocolName="Lung",
    )

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert (stored.SeriesDescription, stored.StudyDescription, stored.ProtocolName) == (
        "THORAX 2.5mm B30f",
        "CT CHEST",
        "Lung",
    )
    assert ImageSeries.objects.get().description == "THORAX 2.5mm B30f"


def test_keeps_the_manufacturer_of_pydicoms_mr_small_that_names_its_institution(
    tmp_path, project
):
    # MR_small.dcm: InstitutionName TOSHIBA, Manufacturer TOSHIBA_MEC, model MRT50H1.
    source = Path(pydicom.__file__).parent / "data" / "test_files" / "MR_small.dcm"
    if not source.is_file():
        pytest.skip(f"pydicom's test file {source} is not installed.")

    report = ingest_dicom(source, project)

    series = ImageSeries.objects.get()
    assert (series.manufacturer, series.manufacturer_model_name) == (
        "TOSHIBA_MEC",
        "MRT50H1",
    )
    assert stored_dataset(ImageInstance.objects.get()).Manufacturer == "TOSHIBA_MEC"
    assert not [p for p in report.warnings if p.code == "identifier-in-text"]


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("Manufacturer", "SIEMENS"),
        ("ManufacturerModelName", "Siemens Biograph 64"),
        ("SoftwareVersions", "syngo siemens VB20"),
        ("ConvolutionKernel", "SIEMENS-B30f"),
        ("SequenceName", "*siemens_tse"),
        ("ImageType", ["ORIGINAL", "PRIMARY", "SIEMENS"]),
    ],
)
@pytest.mark.parametrize(
    "identifier",
    [
        {"InstitutionName": "Siemens"},
        {"ReferringPhysicianName": "SIEMENS^WERNER"},
        {"AccessionNumber": "SIEMENS"},
    ],
)
def test_keeps_acquisition_parameters_that_name_the_institution_or_a_physician(
    make_ct, inbox, project, keyword, text, identifier
):
    make_ct(**identifier, **{keyword: text})

    report = ingest_dicom(inbox, project)

    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == text
    assert not [p for p in report.warnings if p.code == "identifier-in-text"]


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        # Acquisition parameters naming the patient:
        ("SoftwareVersions", "build for PID-314159"),
        ("ManufacturerModelName", "Zqxwpatient 64"),
        ("SequenceName", "tse_19610704"),
        ("ConvolutionKernel", "OLD-123"),
        # Descriptions naming the institution, a visit or a physician:
        ("SeriesDescription", "CT thorax, St Example Clinic"),
        ("StudyDescription", "CT for ACC-4711"),
        ("ProtocolName", "Dr Werner lung"),
    ],
)
def test_empties_acquisition_parameters_naming_the_patient_and_descriptions_naming_anyone(
    make_ct, inbox, project, keyword, text
):
    make_ct(
        PatientName="ZQXWPATIENT^JO",
        PatientID="PID-314159",
        PatientBirthDate="19610704",
        OtherPatientIDs="OLD-123",
        InstitutionName="St Example Clinic",
        AccessionNumber="ACC-4711",
        ReferringPhysicianName="WERNER^KARL",
        **{keyword: text},
    )

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "identifier-in-text"]
    assert problem.field.startswith(keyword)
    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == ""


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("InstitutionName", "St. Example Clinic"),
        ("ReferringPhysicianName", "DOCTOR^ZED"),
        ("AccessionNumber", "ACC-4711"),
        ("OtherPatientIDs", "OLD-123"),
        ("ImageComments", "patient moved"),
        ("OperatorsName", "TECH^ANNA"),
        ("StationName", "CTROOM2"),
        ("DeviceSerialNumber", "SN-998877"),
    ],
)
def test_removes_or_replaces_identifying_attributes_of_the_profile(
    make_ct, inbox, project, storage_root, keyword, value
):
    make_ct(**{keyword: value})

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert str(stored.get(keyword, "")) in ("", "ANONYMIZED", "ANONYMOUS")
    assert found_anywhere(value, storage_root) == []


def test_replaces_uids_consistently_so_references_still_resolve(
    inbox, project, settings
):
    first = build_ct(InstanceNumber=1)
    reference = Dataset()
    reference.ReferencedSOPClassUID = first.SOPClassUID
    reference.ReferencedSOPInstanceUID = first.SOPInstanceUID
    second = build_ct(
        InstanceNumber=2,
        StudyInstanceUID=first.StudyInstanceUID,
        SeriesInstanceUID=first.SeriesInstanceUID,
        FrameOfReferenceUID=first.FrameOfReferenceUID,
        ReferencedImageSequence=[reference],
    )
    write_part10(first, inbox / "1.dcm")
    write_part10(second, inbox / "2.dcm")

    ingest_dicom(inbox, project)

    one, two = (
        stored_dataset(i) for i in ImageInstance.objects.order_by("instance_number")
    )
    assert two.ReferencedImageSequence[0].ReferencedSOPInstanceUID == one.SOPInstanceUID
    assert two.ReferencedImageSequence[0].ReferencedSOPClassUID == first.SOPClassUID
    assert one.StudyInstanceUID == two.StudyInstanceUID != first.StudyInstanceUID
    assert (
        one.FrameOfReferenceUID == two.FrameOfReferenceUID != first.FrameOfReferenceUID
    )
    assert one.SOPInstanceUID.startswith(settings.BIOBANK_UID_ROOT)
    assert len(one.SOPInstanceUID) <= 64
    assert one.SOPInstanceUID == replacement_uid(project.code, first.SOPInstanceUID)


def test_derives_other_uids_in_another_project(make_ct, inbox, project):
    path = make_ct()
    other = type(project).objects.create(code="other", name="Other")

    ingest_dicom(path, project)
    ingest_dicom(path, other)

    first, second = ImageInstance.objects.order_by("pk")
    assert first.sop_instance_uid != second.sop_instance_uid
    assert ImportRun.objects.filter(status="done").count() == 2


def test_never_stores_the_original_file(make_ct, inbox, project, storage_root):
    original = make_ct().read_bytes()

    ingest_dicom(inbox, project)

    (stored,) = storage_root.rglob("*.dcm")
    assert stored.read_bytes() != original
    assert b"TESTPERSON" not in stored.read_bytes()
    assert b"SYN-9001" not in stored.read_bytes()


def test_writes_a_valid_part10_file_pydicom_reads_without_force(
    make_ct, inbox, project, storage_root
):
    make_ct()

    ingest_dicom(inbox, project)

    (path,) = storage_root.rglob("*.dcm")
    stored = pydicom.dcmread(path)
    assert stored.file_meta.MediaStorageSOPInstanceUID == stored.SOPInstanceUID
    assert stored.file_meta.MediaStorageSOPClassUID == stored.SOPClassUID
    assert stored.pixel_array[7, 7] == 63


def test_keeps_patient_ids_and_names_in_folder_names_out_of_the_run_record(
    tmp_path, project
):
    folder = tmp_path / "PID-314159"
    (folder / "ZQXWPATIENT_JO").mkdir(parents=True)
    write_part10(
        build_ct(PatientName="ZQXWPATIENT^JO", PatientID="PID-314159", PatientAge="42"),
        folder / "ZQXWPATIENT_JO" / "ct.dcm",
    )
    (folder / "ZQXWPATIENT_JO" / "notes.txt").write_text("not dicom")

    ingest_dicom(folder, project)

    run = ImportRun.objects.get()
    texts = [run.source_name, str(run.summary)] + [
        f"{issue.source_name} {issue.message} {issue.value}"
        for issue in run.issues.all()
    ]
    assert run.issues.count() == 2
    assert not [
        text for text in texts if "PID-314159" in text or "ZQXWPATIENT" in text.upper()
    ]


def test_prints_the_summary_under_the_redacted_source_name_the_run_stores(
    tmp_path, project
):
    folder = tmp_path / "PID-314159"
    folder.mkdir()
    write_part10(
        build_ct(PatientName="ZQXWPATIENT^JO", PatientID="PID-314159"),
        folder / "ct.dcm",
    )
    out = io.StringIO()

    call_command("ingest_dicom", str(folder), project=project.code, stdout=out)

    assert ImportRun.objects.get().source_name == "[redacted]"
    assert out.getvalue().startswith("[redacted]: created 1 instance, 1 patient,")
    assert "PID-314159" not in out.getvalue()
