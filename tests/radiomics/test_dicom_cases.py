"""DICOM import of the shared cases 01 (PatientAge), 02 (dates), 03 (no preamble) and 07 (re-import)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pydicom
import pytest
from django.utils import timezone
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

from patients.models import DataIssue
from patients.services import find_patient, pseudonymise
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy
from tests.conftest import case_path
from tests.radiomics.conftest import build_ct, stored_dataset, write_part10

pytestmark = [
    pytest.mark.django_db,
    # Odd values are written on purpose; pydicom says so when the test builds them:
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


def study_of(project, patient_id: str) -> ImagingStudy:
    return find_patient(project, patient_id).imaging_studies.get()


def instance_of(study: ImagingStudy) -> ImageInstance:
    return ImageInstance.objects.get(series__study=study)


def warnings_about(report, field_start: str, source: str = "") -> list:
    return [
        p
        for p in report.warnings
        if p.field.startswith(field_start) and p.source.startswith(source)
    ]


# Case 01: PatientAge (0010,1010)


@pytest.fixture
def age_case(project):
    return ingest_dicom(case_path("01-dicom-patient-age-as"), project)


def test_imports_all_three_age_studies_however_odd_the_age(age_case, project):
    assert ImagingStudy.objects.count() == 3
    for patient_id in ("SYN-0011", "SYN-0012", "SYN-0013"):
        assert study_of(project, patient_id).series.get().instance_count == 1


def test_links_lab_records_of_the_same_patient_id_to_the_imaging_patient(
    age_case, project
):
    patient, created = pseudonymise(project, " SYN-0011 ")

    assert created is False
    assert patient == study_of(project, "SYN-0011").patient


def test_reads_045Y_as_45_years(age_case, project):
    study = study_of(project, "SYN-0011")

    assert (study.patient_age_value, study.patient_age_unit) == (45, "Y")
    assert study.patient_age_years == Decimal("45")
    assert study.is_age_unit_assumed is False


def test_reads_018M_as_18_months_that_is_one_and_a_half_years(age_case, project):
    study = study_of(project, "SYN-0012")

    assert (study.patient_age_value, study.patient_age_unit) == (18, "M")
    assert study.patient_age_years == Decimal("1.5")


def test_keeps_a_bare_42_raw_and_assumes_years_only_with_the_flag(age_case, project):
    study = study_of(project, "SYN-0013")

    assert study.patient_age_raw == "42"
    assert (study.patient_age_value, study.patient_age_unit) == (42, "Y")
    assert study.is_age_unit_assumed is True


def test_warns_about_the_bare_age_naming_tag_file_and_value(age_case, project):
    (problem,) = warnings_about(age_case, "PatientAge (0010,1010)")

    # The patients are named AGE^CASE11..13, so "age" leaves the file name:
    assert problem.source == "c_[redacted]_bare_42.dcm"
    assert problem.value == "42"
    assert "not a valid AS value" in problem.message
    issue = DataIssue.objects.get(code=problem.code)
    assert issue.field == "PatientAge (0010,1010)"
    assert issue.source_name == "c_[redacted]_bare_42.dcm"
    assert issue.patient == find_patient(project, "SYN-0013")


@pytest.mark.parametrize(
    ("patient_id", "raw"),
    [("SYN-0011", "045Y"), ("SYN-0012", "018M"), ("SYN-0013", "42")],
)
def test_keeps_the_raw_age_unchanged_in_the_stored_copy(
    age_case, project, patient_id, raw
):
    stored = stored_dataset(instance_of(study_of(project, patient_id)))

    assert stored.PatientAge == raw


@pytest.mark.parametrize(
    ("raw", "value", "unit", "years"),
    [
        ("010D", 10, "D", Decimal("0.03")),  # 10 / 365.25
        ("006W", 6, "W", Decimal("0.11")),  # 42 / 365.25
        ("018M", 18, "M", Decimal("1.50")),
        ("001Y", 1, "Y", Decimal("1")),
        ("089Y", 89, "Y", Decimal("89")),
    ],
)
def test_reads_every_age_string_unit(make_ct, inbox, project, raw, value, unit, years):
    make_ct(PatientAge=raw)

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert (study.patient_age_value, study.patient_age_unit) == (value, unit)
    assert study.patient_age_years == years
    assert study.is_age_unit_assumed is False
    assert not warnings_about(report, "PatientAge")


@pytest.mark.parametrize(
    ("raw", "value", "unit", "assumed"),
    [
        ("42", 42, "Y", True),
        ("7", 7, "Y", True),
        ("42Y", 42, "Y", False),
        ("18 MONTHS", 18, "M", False),
        ("forty", None, "", False),
        ("4.5Y", None, "", False),
    ],
)
def test_accepts_non_conformant_ages_with_a_warning(
    make_ct, inbox, project, raw, value, unit, assumed
):
    make_ct(PatientAge=raw)

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert study.patient_age_raw == raw
    assert (study.patient_age_value, study.patient_age_unit) == (value, unit)
    assert study.is_age_unit_assumed is assumed
    (problem,) = warnings_about(report, "PatientAge (0010,1010)")
    assert (problem.source, problem.value) == ("ct.dcm", raw)
    assert "not a valid AS value" in problem.message


@pytest.mark.parametrize("raw", ["090Y", "095Y", "120Y", "95"])
def test_records_ages_above_89_as_90_years(make_ct, inbox, project, raw):
    make_ct(PatientAge=raw)

    ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert study.patient_age_years == Decimal("90")
    assert stored_dataset(instance_of(study)).PatientAge == "090Y"


# Case 02: missing, empty, placeholder and legacy dates


@pytest.fixture
def date_case(project):
    return ingest_dicom(case_path("02-dicom-missing-or-malformed-dates"), project)


def test_imports_all_four_date_studies(date_case, project):
    assert ImagingStudy.objects.count() == 4
    assert not ImagingStudy.objects.filter(study_date=timezone.localdate()).exists()


def test_takes_the_acquisition_date_when_study_date_is_empty(date_case, project):
    study = study_of(project, "SYN-0021")

    assert study.study_date == dt.date(2022, 1, 18)
    assert study.date_source == "AcquisitionDate"
    assert study.study_time == dt.time(10, 15)
    (problem,) = warnings_about(date_case, "StudyDate (0008,0020)", "a_")
    assert "is empty" in problem.message and "AcquisitionDate" in problem.message


def test_keeps_a_study_without_any_date_undated_and_flagged(date_case, project):
    study = study_of(project, "SYN-0022")

    assert study.study_date is None
    assert study.date_source == ""
    issue = DataIssue.objects.get(code="no-usable-date")
    assert (issue.record_type, issue.record_id) == ("ImagingStudy", study.pk)
    assert issue.patient == study.patient
    # The patient is DATES^BRAVO: a name part goes wherever it stands.
    assert issue.source_name == "b_no_[redacted]_at_all.dcm"


def test_treats_a_placeholder_birth_date_as_absent(date_case, project):
    study = study_of(project, "SYN-0023")

    assert study.study_date == dt.date(2021, 3, 14)
    (problem,) = warnings_about(date_case, "PatientBirthDate (0010,0030)")
    assert problem.value == "00/00/0000"
    assert problem.source == "c_birthdate_placeholder.dcm"
    assert stored_dataset(instance_of(study)).PatientBirthDate == ""


def test_accepts_the_dotted_legacy_study_date_with_a_warning(date_case, project):
    study = study_of(project, "SYN-0024")

    assert study.study_date == dt.date(2021, 3, 14)
    assert study.date_source == "StudyDate"
    (problem,) = warnings_about(date_case, "StudyDate (0008,0020)", "d_")
    assert problem.value == "2021.03.14"
    assert "non-standard DA format" in problem.message
    assert stored_dataset(instance_of(study)).StudyDate == "20210314"


@pytest.mark.parametrize("legacy", ["2021.03.14", "2021-03-14", "2021/03/14"])
def test_accepts_every_year_first_legacy_date_form(make_ct, inbox, project, legacy):
    make_ct(StudyDate=legacy)

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert study.study_date == dt.date(2021, 3, 14)
    (problem,) = warnings_about(report, "StudyDate")
    assert "non-standard DA format" in problem.message
    assert problem.value == legacy


@pytest.mark.parametrize(
    "placeholder",
    ["00000000", "00/00/0000", "0000-00-00", "0000.00.00", "20210000", "00000314"],
)
def test_treats_placeholder_study_dates_as_absent_and_falls_back(
    make_ct, inbox, project, placeholder
):
    make_ct(StudyDate=placeholder, SeriesDate="20210315")

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert study.study_date == dt.date(2021, 3, 15)
    assert study.date_source == "SeriesDate"
    placeholder_warning = next(
        p for p in report.warnings if p.code == "placeholder-date"
    )
    assert (placeholder_warning.field, placeholder_warning.value) == (
        "StudyDate (0008,0020)",
        placeholder,
    )
    assert stored_dataset(instance_of(study)).StudyDate == ""


@pytest.mark.parametrize("invalid", ["20211345", "14/03/2021", "yesterday"])
def test_treats_invalid_study_dates_as_absent(make_ct, inbox, project, invalid):
    make_ct(StudyDate=invalid)

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert study.study_date is None
    assert DataIssue.objects.filter(code="no-usable-date").count() == 1
    problem = next(p for p in report.warnings if p.code == "invalid-date")
    assert (problem.field, problem.value) == ("StudyDate (0008,0020)", invalid)
    assert "not a valid DA value" in problem.message


@pytest.mark.parametrize(
    ("dates", "source", "expected"),
    [
        (
            {
                "SeriesDate": "20200102",
                "AcquisitionDate": "20200103",
                "ContentDate": "20200104",
            },
            "SeriesDate",
            dt.date(2020, 1, 2),
        ),
        (
            {"AcquisitionDate": "20200103", "ContentDate": "20200104"},
            "AcquisitionDate",
            dt.date(2020, 1, 3),
        ),
        ({"ContentDate": "20200104"}, "ContentDate", dt.date(2020, 1, 4)),
        (
            {"SeriesDate": "00000000", "ContentDate": "2020.01.04"},
            "ContentDate",
            dt.date(2020, 1, 4),
        ),
    ],
)
def test_falls_back_from_study_date_in_the_standard_order(
    make_ct, inbox, project, dates, source, expected
):
    make_ct(StudyDate=None, StudyTime=None, **dates)

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert (study.study_date, study.date_source) == (expected, source)
    fallback = next(p for p in report.warnings if p.code == "study-date-fallback")
    assert "StudyDate" in fallback.field and "is absent" in fallback.message


@pytest.mark.parametrize(
    ("keyword", "raw", "stored", "code"),
    [
        ("SeriesDate", "2019.12.01", "20191201", "non-standard-date-format"),
        ("ContentDate", "00/00/0000", "", "placeholder-date"),
        ("PerformedProcedureStepStartDate", "0000-00-00", "", "placeholder-date"),
        ("StudyTime", "14:10:00", "141000", "non-standard-date-format"),
        ("AcquisitionTime", "25:00", "", "invalid-date"),
        (
            "AcquisitionDateTime",
            "2019-12-01T10:15:00",
            "20191201101500",
            "non-standard-date-format",
        ),
        ("AcquisitionDateTime", "00000000000000", "", "placeholder-date"),
    ],
)
def test_checks_every_date_and_time_attribute(
    make_ct, inbox, project, keyword, raw, stored, code
):
    make_ct(**{keyword: raw})

    report = ingest_dicom(inbox, project)

    problem = next(p for p in report.warnings if p.field.startswith(keyword))
    assert (problem.code, problem.value) == (code, raw)
    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == stored


def test_checks_dates_inside_sequences(make_ct, inbox, project):
    item = pydicom.Dataset()
    item.RadiopharmaceuticalStartDateTime = "00000000000000"
    item.Radiopharmaceutical = "FDG"
    make_ct(Modality="PT", RadiopharmaceuticalInformationSequence=[item])

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "placeholder-date"]
    assert problem.field == (
        "RadiopharmaceuticalInformationSequence > RadiopharmaceuticalStartDateTime (0018,1078)"
    )
    assert ImageSeries.objects.get().radiopharmaceutical == "FDG"


def test_withholds_the_value_of_an_odd_birth_date_that_deidentification_removes(
    make_ct, inbox, project
):
    make_ct(PatientBirthDate="1961.07.04")

    report = ingest_dicom(inbox, project)

    problem = next(p for p in report.warnings if p.field.startswith("PatientBirthDate"))
    assert problem.value == ""
    assert "1961" not in problem.message


# Case 03: no preamble, implicit VR; a text file named .dcm


@pytest.fixture
def preamble_case(project):
    return ingest_dicom(case_path("03-dicom-no-preamble-implicit-vr"), project)


def test_accepts_a_file_without_preamble_and_stores_it_as_part10(
    preamble_case, project
):
    study = study_of(project, "SYN-0031")
    instance = instance_of(study)
    stored = stored_dataset(instance)

    assert study.study_date == dt.date(2019, 3, 5)
    assert instance.series.modality == "CT"
    assert (instance.series.rows, instance.series.columns) == (8, 8)
    assert instance.series.description == "THORAX 2.5mm"
    assert stored.file_meta.TransferSyntaxUID == ImplicitVRLittleEndian
    assert stored.SeriesDescription == "THORAX 2.5mm"
    assert (stored.pixel_array[0, 0], stored.pixel_array[7, 7]) == (0, 63)


def test_writes_preamble_dicm_and_file_meta_for_a_file_that_had_none(
    preamble_case, project
):
    instance = instance_of(study_of(project, "SYN-0031"))
    path = Path(stored_dataset(instance).filename)

    data = path.read_bytes()
    assert data[128:132] == b"DICM"
    assert (
        pydicom.dcmread(path).file_meta.MediaStorageSOPInstanceUID
        == instance.sop_instance_uid
    )


def test_rejects_a_text_file_named_dcm_by_name_without_touching_the_rest(preamble_case):
    rejected = {p.source: p for p in preamble_case.rejected}

    assert "not a DICOM file" in rejected["b_not_dicom.dcm"].message
    assert ImageInstance.objects.count() == 1
    assert DataIssue.objects.filter(
        source_name="b_not_dicom.dcm", severity="error"
    ).exists()


@pytest.mark.parametrize("implicit_vr", [True, False])
def test_accepts_bare_data_sets_in_either_little_endian_encoding(
    inbox, project, implicit_vr
):
    ds = build_ct(SeriesDescription="bare")
    ds.save_as(inbox / "bare.dcm", implicit_vr=implicit_vr, little_endian=True)
    assert (inbox / "bare.dcm").read_bytes()[128:132] != b"DICM"

    report = ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert stored.SeriesDescription == "bare"
    assert stored.pixel_array[7, 7] == 63
    assert any(p.code == "no-part10-header" for p in report.warnings)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"Export log 2019-03-05: 212 images transferred.\n",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
        bytes(range(256)) * 4,
    ],
    ids=["empty", "text", "pdf", "jpeg", "binary"],
)
def test_rejects_any_non_dicom_content_as_not_a_dicom_file(
    make_ct, inbox, project, content
):
    (inbox / "junk.dcm").write_bytes(content)
    make_ct("good.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert problem.source == "junk.dcm"
    assert "not a DICOM file" in problem.message
    assert ImageInstance.objects.count() == 1


# Case 07: the same object again, and the same UIDs with other content


@pytest.fixture
def duplicate_case():
    return case_path("07-dicom-duplicate-uid-reimport")


def stored_files(storage_root: Path) -> list[Path]:
    return sorted(storage_root.rglob("*.dcm"))


def test_stores_the_original_once(duplicate_case, project, storage_root):
    report = ingest_dicom(duplicate_case / "a_original.dcm", project)

    assert report.created == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    assert len(stored_files(storage_root)) == 1


def test_reports_a_byte_identical_copy_as_already_present_and_writes_nothing(
    duplicate_case, project, storage_root
):
    ingest_dicom(duplicate_case / "a_original.dcm", project)
    (before,) = stored_files(storage_root)
    stamp = before.stat().st_mtime_ns

    report = ingest_dicom(duplicate_case / "b_exact_copy.dcm", project)

    assert report.created == {}
    assert report.duplicates == 1
    assert "already present, identical" in report.summary()
    assert not report.rejected
    assert stored_files(storage_root) == [before]
    assert before.stat().st_mtime_ns == stamp
    assert ImageInstance.objects.count() == 1


def test_rejects_same_uids_with_other_content_naming_the_sop_instance_uid(
    duplicate_case, project, storage_root
):
    ingest_dicom(duplicate_case / "a_original.dcm", project)
    ingest_dicom(duplicate_case / "b_exact_copy.dcm", project)

    report = ingest_dicom(duplicate_case / "c_same_uids_different_content.dcm", project)

    instance = ImageInstance.objects.get()
    (problem,) = report.rejected
    assert instance.sop_instance_uid in problem.message
    assert "content differs" in problem.message
    assert (
        DataIssue.objects.get(severity="error", code="content-conflict").value
        == instance.sop_instance_uid
    )
    stored = stored_dataset(instance)
    assert stored.SeriesDescription == "CT CHEST 2.5mm"
    assert stored.pixel_array[0, 0] == 0
    assert ImageSeries.objects.get().description == "CT CHEST 2.5mm"
    assert len(stored_files(storage_root)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"SeriesDescription": "CORRECTED"},
        {"PixelData": bytes(128)},
        {"ImageComments": "added later"},
        {"PatientAge": None},
    ],
    ids=["description", "pixels", "added attribute", "removed attribute"],
)
def test_rejects_any_change_of_content_under_the_same_uids(inbox, project, change):
    uids = {
        keyword: generate_uid()
        for keyword in (
            "SOPInstanceUID",
            "StudyInstanceUID",
            "SeriesInstanceUID",
            "FrameOfReferenceUID",
        )
    }
    write_part10(build_ct(PatientAge="050Y", **uids), inbox / "a.dcm")
    ingest_dicom(inbox / "a.dcm", project)
    write_part10(build_ct(**{"PatientAge": "050Y", **uids, **change}), inbox / "b.dcm")

    report = ingest_dicom(inbox / "b.dcm", project)

    assert [p.code for p in report.rejected] == ["content-conflict"]
    assert ImageInstance.objects.count() == 1


def test_recognises_the_same_data_set_without_its_part10_header_as_identical(
    make_ct, inbox, project
):
    path = make_ct("a.dcm")
    ingest_dicom(path, project)
    bare = pydicom.dcmread(path)
    bare.file_meta = pydicom.dataset.FileMetaDataset()
    bare.preamble = None
    bare.save_as(inbox / "bare.dcm", implicit_vr=False, little_endian=True)

    report = ingest_dicom(inbox / "bare.dcm", project)

    assert (report.duplicates, report.rejected) == (1, [])


def test_imports_the_three_files_in_one_batch_in_name_order(duplicate_case, project):
    report = ingest_dicom(duplicate_case, project)

    assert ImageInstance.objects.count() == 1
    assert report.duplicates == 1
    assert [p.source for p in report.rejected if p.code == "content-conflict"] == [
        "c_same_uids_different_content.dcm"
    ]
