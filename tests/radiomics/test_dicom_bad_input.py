"""DICOM import of bad input: junk, cut files, hostile archives, failing storage; and the command."""

from __future__ import annotations

import io
import shutil
import stat
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError

import radiomics.importers.dicom as dicom
from biobank.core.importing import ImportRejected
from patients.models import DataIssue, ImportRun, Patient, Project
from patients.services import find_patient
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy
from tests.conftest import shared_path
from tests.radiomics.conftest import build_ct, write_part10

pytestmark = [
    pytest.mark.attack,
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


def phantom_slice() -> Path:
    return shared_path("ibsi1_ct_phantom", "dicom", "image", "DCM_IMG_00000.dcm")


def pixel_data_offset(data: bytes) -> int:
    """Return where the Pixel Data element (7FE0,0010) starts in a little endian file."""
    return data.rindex(b"\xe0\x7f\x10\x00")


@pytest.mark.parametrize(
    "cut",
    [
        lambda data: 600,  # inside the header
        lambda data: pixel_data_offset(data),  # right before Pixel Data
        lambda data: pixel_data_offset(data) + 20,  # inside Pixel Data
        lambda data: len(data) - 1,  # one byte short
    ],
    ids=["header", "before pixel data", "in pixel data", "last byte"],
)
def test_rejects_a_truncated_file_by_name_and_imports_the_rest(
    make_ct, inbox, project, cut
):
    data = phantom_slice().read_bytes()
    (inbox / "cut.dcm").write_bytes(data[: cut(data)])
    make_ct("whole.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert problem.source == "cut.dcm"
    assert "truncated" in problem.message
    assert problem.code == "truncated"
    assert ImageInstance.objects.count() == 1
    assert DataIssue.objects.get(severity="error").source_name == "cut.dcm"


def test_rejects_a_file_without_patient_id(make_ct, inbox, project):
    make_ct(PatientID="")

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["no-patient-id"]
    assert not Patient.objects.exists()


def test_rejects_images_with_burned_in_annotation(make_ct, inbox, project):
    make_ct(BurnedInAnnotation="YES")

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["burned-in-annotation"]
    assert not ImageInstance.objects.exists()


def test_rejects_objects_that_are_no_image_rtstruct_or_seg(inbox, project):
    report_ds = build_ct(SOPClassUID="1.2.840.10008.5.1.4.1.1.88.22", Modality="SR")
    for keyword in ("Rows", "Columns", "PixelData", "BitsAllocated"):
        delattr(report_ds, keyword)
    write_part10(report_ds, inbox / "sr.dcm")

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert problem.code == "unsupported-object"
    assert "Enhanced SR" in problem.message


def test_rejects_every_file_of_a_series_whose_patients_differ(make_ct, inbox, project):
    # Once the file of the other patient was rejected and the first kept; had the
    # other sorted first, its patient would have had the series. A series is of
    # one patient, and only a curator can tell which: none is stored.
    first = make_ct("1.dcm", InstanceNumber=1)
    ds = build_ct(InstanceNumber=2, PatientID="SYN-OTHER")
    reference = pydicom.dcmread(first)
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID"):
        setattr(ds, keyword, getattr(reference, keyword))
    write_part10(ds, inbox / "2.dcm")

    report = ingest_dicom(inbox, project)

    assert [(p.source, p.code, p.field) for p in report.rejected] == [
        ("1.dcm", "patient-mismatch", "PatientID (0010,0020)")
    ]
    assert not ImageInstance.objects.exists()


def test_rejects_every_series_of_a_study_whose_patients_differ(make_ct, inbox, project):
    first = make_ct("1.dcm", InstanceNumber=1)
    make_ct(
        "2.dcm",
        PatientID="SYN-OTHER",
        StudyInstanceUID=pydicom.dcmread(first).StudyInstanceUID,
    )

    report = ingest_dicom(inbox, project)

    assert sorted((p.source, p.code) for p in report.rejected) == [
        ("1.dcm", "patient-mismatch"),
        ("2.dcm", "patient-mismatch"),
    ]
    assert (
        "belongs to a study whose 2 files name 2 patients" in report.rejected[0].message
    )
    assert "SYN-OTHER" not in report.summary()
    assert not ImageInstance.objects.exists()


def zip_with(
    path: Path, members: dict[str, bytes], symlinks: tuple[str, ...] = ()
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name in symlinks:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return path


def ct_bytes(**attributes: object) -> bytes:
    buffer = io.BytesIO()
    ds = build_ct(**attributes)
    write_part10(ds, buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.dcm", "'..'"),
        ("ok/../../evil.dcm", "'..'"),
        ("/var/evil.dcm", "absolute path"),
        ("C:/evil.dcm", "absolute path"),
        ("..\\evil.dcm", "'..'"),
    ],
)
def test_refuses_an_archive_whose_members_climb_out_naming_them(
    tmp_path, project, member, reason
):
    archive = zip_with(
        tmp_path / "upload.zip",
        {member: ct_bytes(PatientID="SYN-EVIL"), "series/ok.dcm": ct_bytes()},
    )

    with pytest.raises(ImportRejected) as refused:
        ingest_dicom(archive, project)

    (problem,) = refused.value.problems
    assert problem.source == "upload.zip"
    assert member in problem.message
    assert reason in problem.message
    assert problem.code == "unsafe-archive-member"
    assert not ImageInstance.objects.exists()
    assert not Patient.objects.exists()
    assert not (tmp_path / "evil.dcm").exists()
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert run.issues.get().code == "unsafe-archive-member"


def test_refuses_an_archive_with_a_symbolic_link(tmp_path, project, storage_root):
    archive = zip_with(
        tmp_path / "upload.zip", {"ok.dcm": ct_bytes()}, symlinks=("link.dcm",)
    )

    with pytest.raises(ImportRejected, match="'link.dcm' is a symbolic link"):
        ingest_dicom(archive, project)

    assert not ImageInstance.objects.exists()
    assert not storage_root.exists() or not any(storage_root.rglob("*.dcm"))


def test_imports_a_whole_archive_like_a_folder(tmp_path, project):
    archive = zip_with(
        tmp_path / "upload.zip",
        {"a/1.dcm": ct_bytes(), "a/2.dcm": ct_bytes(), "notes.txt": b"hello"},
    )

    report = ingest_dicom(archive, project)

    assert report.created["instances"] == 2
    assert [p.source for p in report.rejected] == ["notes.txt"]
    assert ImportRun.objects.get().source_sha256


def test_rejects_a_corrupt_archive_and_records_the_failed_run(tmp_path, project):
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")

    with pytest.raises(ImportRejected, match="not a readable .zip archive"):
        ingest_dicom(tmp_path / "broken.zip", project)

    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


def test_rejects_a_path_that_does_not_exist(tmp_path, project):
    with pytest.raises(ImportRejected, match="does not exist"):
        ingest_dicom(tmp_path / "nowhere", project)


def test_rolls_a_series_back_whole_and_removes_its_files_when_the_database_fails(
    inbox, project, storage_root, monkeypatch
):
    study = build_ct()
    for number in (1, 2, 3):
        write_part10(
            build_ct(
                InstanceNumber=number,
                StudyInstanceUID=study.StudyInstanceUID,
                SeriesInstanceUID=study.SeriesInstanceUID,
                FrameOfReferenceUID=study.FrameOfReferenceUID,
            ),
            inbox / f"a{number}.dcm",
        )
    write_part10(build_ct(PatientID="SYN-OTHER"), inbox / "b.dcm")
    # A series' rows go in together once its files are written: the database refuses
    # series a's three (the series are stored in UID order, so a may come first or last).
    bulk_create = ImageInstance.objects.bulk_create
    inserted = []

    def failing_bulk_create(rows, *args, **options):
        inserted.append(len(rows))
        if len(rows) == 3:
            raise IntegrityError("disk says no")
        return bulk_create(rows, *args, **options)

    monkeypatch.setattr(ImageInstance.objects, "bulk_create", failing_bulk_create)

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert problem.code == "storage-failed"
    assert problem.source == "a1.dcm"
    assert (
        ImagingStudy.objects.count()
        == ImageSeries.objects.count()
        == ImageInstance.objects.count()
        == 1
    )
    assert ImageInstance.objects.get().series.study.patient.pseudonym != ""
    assert report.created == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    assert sorted(inserted) == [1, 3]
    assert len(list(storage_root.rglob("*.dcm"))) == 1
    assert not list(storage_root.rglob("*.part"))


def test_reports_progress_after_every_file(make_ct, inbox, project):
    for number in range(3):
        make_ct(f"{number}.dcm")
    (inbox / "junk.txt").write_text("not dicom")
    seen = []

    ingest_dicom(
        inbox, project, progress=lambda done, total: seen.append((done, total))
    )

    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]


def test_records_the_run_and_its_issues(make_ct, inbox, project, curator):
    make_ct(PatientAge="42")
    (inbox / "junk.dcm").write_text("not dicom")

    report = ingest_dicom(inbox, project, user=curator)

    run = ImportRun.objects.get()
    assert (run.importer, run.status, run.user, run.source_name) == (
        "dicom",
        "partial",
        curator,
        "inbox",
    )
    assert run.summary["created"] == report.created
    assert run.issues.filter(severity="error").count() == 1
    assert run.issues.filter(severity="warning", code="invalid-age").count() == 1


def test_command_prints_the_summary_and_progress(make_ct, inbox, capsys):
    make_ct()

    call_command(
        "ingest_dicom", str(inbox), "--project", "cmd", "--progress-every", "1"
    )

    out, err = capsys.readouterr()
    assert "created 1 instance, 1 patient, 1 series, 1 study; " in out
    assert "1/1 files" in err
    assert ImagingStudy.objects.get().patient.project.code == "cmd"


def test_command_fails_clearly_on_a_missing_path(tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        call_command("ingest_dicom", str(tmp_path / "nowhere"), "--project", "cmd")


def test_imports_a_single_file_given_directly(make_ct, project):
    path = make_ct("single.dcm")

    report = ingest_dicom(path, project)

    assert report.created == {"patients": 1, "studies": 1, "series": 1, "instances": 1}


def test_skips_a_dicomdir_index_with_a_note(inbox, project):
    dicomdir = shared_path("dicom_pydicom_testfiles")
    candidates = list(dicomdir.rglob("DICOMDIR"))
    if not candidates:
        pytest.skip("no DICOMDIR among the shared pydicom test files")
    shutil.copy(candidates[0], inbox / "DICOMDIR")

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.warnings] == ["dicomdir"]
    assert report.rejected == []


def test_rejects_new_files_of_a_stored_series_that_name_another_patient(
    make_ct, inbox, project
):
    first = pydicom.dcmread(make_ct("1.dcm", InstanceNumber=1))
    ingest_dicom(inbox / "1.dcm", project)
    write_part10(
        build_ct(
            InstanceNumber=2,
            PatientID="SYN-OTHER",
            StudyInstanceUID=first.StudyInstanceUID,
            SeriesInstanceUID=first.SeriesInstanceUID,
        ),
        inbox / "2.dcm",
    )

    report = ingest_dicom(inbox / "2.dcm", project)

    assert [p.code for p in report.rejected] == ["patient-mismatch"]
    assert ImageInstance.objects.count() == 1
    assert find_patient(project, "SYN-OTHER") is None


def test_rolls_a_series_back_and_leaves_no_partial_file_when_the_disk_fails(
    inbox, project, storage_root, monkeypatch
):
    study = build_ct()
    for number in (1, 2):
        write_part10(
            build_ct(
                InstanceNumber=number,
                StudyInstanceUID=study.StudyInstanceUID,
                SeriesInstanceUID=study.SeriesInstanceUID,
            ),
            inbox / f"{number}.dcm",
        )
    write = pydicom.dcmwrite
    calls = []

    def failing_write(path, ds, **options):
        calls.append(path)
        write(path, ds, **options)
        if len(calls) == 2:
            raise OSError("No space left on device")

    monkeypatch.setattr(pydicom, "dcmwrite", failing_write)
    # Both files through pydicom's writer (the fast lane's: test_dicom_fast_lane.py):
    monkeypatch.setattr(dicom, "FAST_LANE", False)

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["storage-failed"]
    assert "; 2 rejected; " in report.summary()  # both files of the series
    assert not ImagingStudy.objects.exists()
    assert not Patient.objects.exists()
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []


def test_a_series_rolled_back_counts_its_files_stored_before_as_present_only(
    inbox, project, monkeypatch
):
    study = build_ct()
    for number in (1, 2, 3):
        write_part10(
            build_ct(
                InstanceNumber=number,
                StudyInstanceUID=study.StudyInstanceUID,
                SeriesInstanceUID=study.SeriesInstanceUID,
            ),
            inbox / f"{number}.dcm",
        )
    ingest_dicom(inbox / "1.dcm", project)
    write = pydicom.dcmwrite

    def failing_write(path, ds, **options):
        write(path, ds, **options)
        raise OSError("No space left on device")

    monkeypatch.setattr(pydicom, "dcmwrite", failing_write)
    monkeypatch.setattr(dicom, "FAST_LANE", False)

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["storage-failed"]
    assert report.duplicates == 1
    assert "; 1 already present; 2 rejected; " in report.summary()
    assert ImageInstance.objects.count() == 1


@pytest.mark.django_db
def test_command_fails_when_every_file_of_the_batch_is_rejected(tmp_path, capsys):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("not an image")
    (inbox / "empty.dcm").write_bytes(b"")

    with pytest.raises(CommandError, match="Every file was rejected") as raised:
        call_command("ingest_dicom", str(inbox), "--project", "cmd")

    assert "2 rejected" in capsys.readouterr().out
    assert not ImagingStudy.objects.exists()
    # The project made for the batch held nothing, and was removed again:
    assert str(raised.value).endswith(
        "Project 'cmd', created for it, was removed again."
    )
    assert not Project.objects.filter(code="cmd").exists()


@pytest.mark.django_db
def test_every_file_rejected_into_an_existing_project_keeps_the_project(
    tmp_path, capsys
):
    existing = Project.objects.create(code="kept", name="kept")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("not an image")

    with pytest.raises(CommandError, match="Every file was rejected") as raised:
        call_command("ingest_dicom", str(inbox), "--project", "kept")

    assert "removed" not in str(raised.value)
    assert Project.objects.filter(pk=existing.pk).exists()
    # Its run is kept, and the de-identification report of the run is named:
    assert "import run" in capsys.readouterr().out
