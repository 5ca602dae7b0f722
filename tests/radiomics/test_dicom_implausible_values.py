"""DICOM import of dates the biobank refuses, numbers that are none, and two names of one ID."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest
from django.utils import timezone

from patients.models import DataIssue, ImportRun
from patients.services import find_patient, pseudonymise
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy
from tests.radiomics.conftest import build_ct, set_raw, stored_dataset, write_part10

pytestmark = [
    pytest.mark.django_db,
    # Odd values are written on purpose; pydicom says so when the test writes them:
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
    pytest.mark.filterwarnings("ignore:Value .* is not valid for elements"),
]


def days_from_today(days: int) -> str:
    return (timezone.localdate() + dt.timedelta(days=days)).strftime("%Y%m%d")


def issues(code: str) -> list[DataIssue]:
    return list(DataIssue.objects.filter(code=code).order_by("pk"))


def everything_said(report) -> str:
    """The report, the run and its issues as text: what a curator can read of an import."""
    run = ImportRun.objects.get(pk=report.import_run_id)
    rows = DataIssue.objects.values_list("source_name", "field", "value", "message")
    return "\n".join(
        [report.summary(), str(run.summary), run.source_name]
        + [" ".join(row) for row in rows]
    )


# Dates before 1880 or in the future


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        ("18790101", "implausible-date", "lies before 1880-01-01"),
        ("20990101", "future-date", "is in the future"),
    ],
)
def test_a_refused_study_date_is_warned_about_kept_in_the_copy_and_not_used(
    make_ct, inbox, project, raw, code, reason
):
    make_ct(StudyDate=raw, SeriesDate="20210315")

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert (study.study_date, study.date_source) == (dt.date(2021, 3, 15), "SeriesDate")
    (problem,) = [p for p in report.warnings if p.code == code]
    assert (problem.source, problem.field, problem.value) == (
        "ct.dcm",
        "StudyDate (0008,0020)",
        raw,
    )
    assert reason in problem.message and "stored copy keeps it" in problem.message
    fallback = next(p for p in report.warnings if p.code == "study-date-fallback")
    assert fallback.message.startswith(reason)
    assert "taken from SeriesDate" in fallback.message
    (issue,) = issues(code)
    assert issue.patient == study.patient
    assert stored_dataset(ImageInstance.objects.get()).StudyDate == raw


def test_a_study_whose_only_date_is_in_the_future_is_kept_undated(
    make_ct, inbox, project
):
    make_ct(StudyDate=days_from_today(1), StudyTime="101500")

    report = ingest_dicom(inbox, project)

    study = ImagingStudy.objects.get()
    assert (study.study_date, study.study_time, study.date_source) == (None, None, "")
    codes = [p.code for p in report.warnings]
    assert "future-date" in codes and "no-usable-date" in codes


@pytest.mark.parametrize(
    ("day", "code"),
    [
        ("18791231", "implausible-date"),
        ("18800101", None),
        (0, None),
        (1, "future-date"),
    ],
    ids=["the day before 1880", "1880-01-01", "today", "tomorrow"],
)
def test_a_series_date_is_stored_from_1880_to_today(make_ct, inbox, project, day, code):
    # Days from today are counted when the test runs, not when it is collected:
    raw = day if isinstance(day, str) else days_from_today(day)
    make_ct(SeriesDate=raw)

    report = ingest_dicom(inbox, project)

    stored = ImageSeries.objects.get().series_date
    warned = [p for p in report.warnings if p.field == "SeriesDate (0008,0021)"]
    if code is None:
        assert stored == dt.datetime.strptime(raw, "%Y%m%d").date()
        assert warned == []
    else:
        assert stored is None
        (problem,) = warned
        assert (problem.code, problem.value) == (code, raw)
    assert stored_dataset(ImageInstance.objects.get()).SeriesDate == raw


@pytest.mark.parametrize(
    ("keyword", "raw", "code"),
    [
        ("AcquisitionDate", "18500101", "implausible-date"),
        ("ContentDate", "20990101", "future-date"),
        ("AcquisitionDateTime", "20990101101500", "future-date"),
        ("AcquisitionDateTime", "1850", "implausible-date"),
    ],
)
def test_every_date_the_biobank_refuses_is_warned_about_by_its_attribute(
    make_ct, inbox, project, keyword, raw, code
):
    make_ct(**{keyword: raw})

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.field.startswith(keyword + " (")]
    assert (problem.code, problem.value, problem.source) == (code, raw, "ct.dcm")
    assert ImagingStudy.objects.get().study_date == dt.date(2022, 3, 10)
    assert getattr(stored_dataset(ImageInstance.objects.get()), keyword) == raw


@pytest.mark.parametrize(
    ("birth_date", "code"),
    [("18500704", "implausible-date"), ("20990704", "future-date")],
)
def test_a_refused_birth_date_is_warned_about_without_its_value(
    make_ct, inbox, project, birth_date, code
):
    make_ct(PatientBirthDate=birth_date)

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == code]
    assert (problem.field, problem.value) == ("PatientBirthDate (0010,0030)", "")
    assert "withheld" in problem.message
    said = everything_said(report)
    for form in (birth_date, birth_date[:4], "0704"):
        assert form not in said
    assert stored_dataset(ImageInstance.objects.get()).PatientBirthDate == ""


def test_a_refused_date_that_deidentification_replaces_is_warned_about_without_it(
    make_ct, inbox, project
):
    # A sequence whose action is D: its dates without an action of their own
    # become dummies, so the warning must not give the real one.
    operator = pydicom.Dataset()
    operator.ExpiryDate = "20990704"
    make_ct(OperatorIdentificationSequence=[operator])

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "future-date"]
    assert problem.field == "OperatorIdentificationSequence > ExpiryDate (0014,1020)"
    assert problem.value == ""
    assert "2099" not in everything_said(report)
    stored = stored_dataset(ImageInstance.objects.get())
    assert stored.OperatorIdentificationSequence[0].ExpiryDate != "20990704"


# Dates before the patient's birth year


def test_dates_before_the_patients_birth_year_are_warned_about_and_not_stored(
    make_ct, inbox, project
):
    pseudonymise(project, "SYN-9001", birth_year=2023)
    make_ct(StudyDate="20221231", SeriesDate="20221231", AcquisitionDate="20230102")

    report = ingest_dicom(inbox, project)

    study, series = ImagingStudy.objects.get(), ImageSeries.objects.get()
    assert (study.study_date, study.date_source) == (
        dt.date(2023, 1, 2),
        "AcquisitionDate",
    )
    assert series.series_date is None
    warned = [
        (p.field, p.value) for p in report.warnings if p.code == "date-before-birth"
    ]
    assert warned == [
        ("StudyDate (0008,0020)", "20221231"),
        ("SeriesDate (0008,0021)", "20221231"),
        ("SeriesDate (0008,0021)", "20221231"),
    ]
    fallback = next(p for p in report.warnings if p.code == "study-date-fallback")
    assert fallback.message.startswith("lies before the patient's birth year;")
    assert stored_dataset(ImageInstance.objects.get()).StudyDate == "20221231"


def test_dates_in_the_patients_birth_year_are_stored(make_ct, inbox, project):
    pseudonymise(project, "SYN-9001", birth_year=2022)
    make_ct(StudyDate="20220101", SeriesDate="20220101")

    report = ingest_dicom(inbox, project)

    assert ImagingStudy.objects.get().study_date == dt.date(2022, 1, 1)
    assert ImageSeries.objects.get().series_date == dt.date(2022, 1, 1)
    assert not [p for p in report.warnings if p.code == "date-before-birth"]


# Integer and decimal strings that are no number


@pytest.mark.parametrize(
    ("keyword", "raw", "column", "value"),
    [
        ("KVP", b"12x ", "kvp", "12x"),
        ("SliceThickness", b"2.5.1 ", "slice_thickness_mm", "2.5.1"),
        ("SeriesNumber", b"1A", "series_number", "1A"),
        ("SeriesNumber", b"2.5 ", "series_number", "2.5"),
        # Beyond the 32 bits of an IS (and of the column, on PostgreSQL):
        ("SeriesNumber", b"99999999999 ", "series_number", "99999999999"),
        ("PixelSpacing", b"0.8\\0,8 ", "pixel_spacing_column_mm", "0,8"),
    ],
)
def test_a_number_string_that_is_no_number_is_warned_about_and_not_read(
    make_ct, inbox, project, keyword, raw, column, value
):
    write_part10(set_raw(build_ct(), keyword, raw), inbox / "ct.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "invalid-number"]
    assert (problem.source, problem.value) == ("ct.dcm", value)
    assert problem.field.startswith(keyword + " (")
    assert getattr(ImageSeries.objects.get(), column) is None
    assert DataIssue.objects.get(code="invalid-number").field == problem.field
    # The stored copy keeps the bytes as they came:
    stored = stored_dataset(ImageInstance.objects.get())
    assert stored.get_item(pydicom.datadict.tag_for_keyword(keyword)).value == raw


def test_a_broken_number_that_deidentification_removes_is_warned_about_without_it(
    make_ct, inbox, project
):
    # Where the picture was taken tells where the patient was:
    write_part10(set_raw(build_ct(), "GPSLatitude", b"51.4779x"), inbox / "ct.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "invalid-number"]
    assert (problem.field, problem.value) == ("GPSLatitude (0016,0072)", "")
    assert "withheld" in problem.message
    assert "51.4779" not in everything_said(report)
    assert "GPSLatitude" not in stored_dataset(ImageInstance.objects.get())


def test_valid_number_strings_draw_no_warning(make_ct, inbox, project):
    make_ct(KVP="+120", SliceThickness=" 1.25E0", SeriesNumber="-3", WindowCenter="40")

    report = ingest_dicom(inbox, project)

    assert [p for p in report.warnings if p.code == "invalid-number"] == []
    series = ImageSeries.objects.get()
    assert (series.kvp, series.slice_thickness_mm, series.series_number) == (
        120.0,
        1.25,
        -3,
    )


@pytest.mark.parametrize(
    ("keyword", "raw", "code"),
    [
        ("RadiopharmaceuticalStartDateTime", b"20990101101500", "future-date"),
        ("RadionuclideTotalDose", b"3.7E8x", "invalid-number"),
    ],
)
def test_a_value_inside_a_sequence_is_named_by_its_path(
    make_ct, inbox, project, keyword, raw, code
):
    item = pydicom.Dataset()
    item.Radiopharmaceutical = "FDG"
    set_raw(item, keyword, raw)
    make_ct(Modality="PT", RadiopharmaceuticalInformationSequence=[item])

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == code]
    assert problem.field.startswith(
        f"RadiopharmaceuticalInformationSequence > {keyword} ("
    )
    assert problem.value == raw.decode()


@pytest.mark.parametrize(
    ("keyword", "raw"),
    [
        ("NumberOfFrames", b"1A"),
        ("NumberOfFrames", b"0 "),
        ("NumberOfFrames", b"2.5 "),
        ("Rows", b"\x00\x00"),
    ],
)
def test_a_file_whose_pixels_cannot_be_counted_is_rejected_by_name(
    make_ct, inbox, project, keyword, raw
):
    write_part10(set_raw(build_ct(), keyword, raw), inbox / "odd.dcm")
    make_ct("whole.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert (problem.source, problem.code) == ("odd.dcm", "invalid-number")
    assert problem.field.startswith(keyword + " (")
    assert "pixels" in problem.message
    if keyword == "NumberOfFrames":
        assert problem.value == raw.decode().strip()
    assert ImageInstance.objects.count() == 1


# Another PatientName under the same PatientID


def test_a_file_with_another_name_for_the_same_patient_id_is_warned_about(
    make_ct, inbox, project
):
    make_ct("a.dcm", PatientName="QUIGLEY^MARGARET", PatientID="SYN-5501")
    make_ct("b.dcm", PatientName="QUIGLEY^MARGARET", PatientID="SYN-5501")
    make_ct("c.dcm", PatientName="FENWICK^OTTILIE", PatientID="SYN-5501")

    report = ingest_dicom(inbox, project)

    (problem,) = [p for p in report.warnings if p.code == "patient-name-mismatch"]
    assert problem.source == "c.dcm"
    assert "another PatientName than a.dcm" in problem.message
    assert (problem.field, problem.value) == ("PatientName (0010,0010)", "")
    said = everything_said(report)
    for part in ("QUIGLEY", "MARGARET", "FENWICK", "OTTILIE"):
        assert part.casefold() not in said.casefold()
    # Imported all the same, as the one patient the ID says:
    patient = find_patient(project, "SYN-5501")
    assert ImageInstance.objects.filter(series__study__patient=patient).count() == 3
    assert DataIssue.objects.get(code="patient-name-mismatch").patient == patient


def test_a_re_run_warns_of_another_name_only_for_files_it_stores(
    make_ct, inbox, project
):
    make_ct("a.dcm", PatientName="QUIGLEY^MARGARET", PatientID="SYN-5501")
    make_ct("b.dcm", PatientName="FENWICK^OTTILIE", PatientID="SYN-5501")
    first = ingest_dicom(inbox, project)

    again = ingest_dicom(inbox, project)
    make_ct("c.dcm", PatientName="HOLLOWAY^PRUDENCE", PatientID="SYN-5501")
    third = ingest_dicom(inbox, project)

    def mismatches(report):
        return [p.source for p in report.warnings if p.code == "patient-name-mismatch"]

    assert mismatches(first) == ["b.dcm"]
    # Nothing stored, nothing warned again, like the files' other warnings:
    assert sorted(again.identical_files) == ["a.dcm", "b.dcm"]
    assert mismatches(again) == []
    assert mismatches(third) == ["c.dcm"]
    assert DataIssue.objects.filter(code="patient-name-mismatch").count() == 2


def test_files_with_the_other_name_are_counted_in_one_warning(make_ct, inbox, project):
    make_ct("a.dcm", PatientName="QUIGLEY^MARGARET")
    for name in ("b.dcm", "c.dcm", "d.dcm"):
        make_ct(name, PatientName="FENWICK^OTTILIE")
    make_ct("e.dcm", PatientName="HOLLOWAY^PRUDENCE")

    report = ingest_dicom(inbox, project)

    found = [p for p in report.warnings if p.code == "patient-name-mismatch"]
    assert [p.source for p in found] == ["b.dcm", "e.dcm"]
    assert "The same holds for 2 more files with its name." in found[0].message
    assert "more files" not in found[1].message


@pytest.mark.parametrize(
    "other",
    ["quigley^margaret", "QUIGLEY^MARGARET^^", " QUIGLEY ^MARGARET", "", None],
    ids=["case", "empty parts", "padding", "empty", "absent"],
)
def test_the_same_name_written_otherwise_or_no_name_draws_no_warning(
    make_ct, inbox, project, other
):
    make_ct("a.dcm", PatientName="QUIGLEY^MARGARET")
    make_ct("b.dcm", PatientName=other)

    report = ingest_dicom(inbox, project)

    assert [p for p in report.warnings if p.code == "patient-name-mismatch"] == []


def test_other_patient_ids_may_have_other_names(make_ct, inbox, project):
    make_ct("a.dcm", PatientName="QUIGLEY^MARGARET", PatientID="SYN-5501")
    make_ct("b.dcm", PatientName="FENWICK^OTTILIE", PatientID="SYN-5502")

    report = ingest_dicom(inbox, project)

    assert [p for p in report.warnings if p.code == "patient-name-mismatch"] == []
