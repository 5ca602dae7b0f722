"""DICOM import in worker processes (BIOBANK_DICOM_WORKERS): the same rows, files and reports."""

from __future__ import annotations

import logging
import shutil
import threading
import zipfile
from pathlib import Path

import pydicom
import pytest
from django.db import IntegrityError
from pydicom.uid import generate_uid

import radiomics.importers.dicom as dicom
from patients.models import DataIssue, ImportRun, Patient
from patients.services import pseudonymise, source_key
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import (
    DeidentifiedAttribute,
    ImageInstance,
    ImageSeries,
    ImagingStudy,
)
from tests.radiomics.conftest import build_ct, set_raw, stored_dataset, write_part10

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


@pytest.fixture
def in_pool(settings, caplog):
    """Store every batch's images in two worker processes, and check that they did."""
    settings.BIOBANK_DICOM_WORKERS = 2
    settings.BIOBANK_DICOM_POOL_MIN_FILES = 1
    # The pool is only forked from a process running one thread (start_pool()):
    assert threading.active_count() == 1
    caplog.set_level(logging.INFO, logger="radiomics.importers.dicom")
    yield
    logged = [record.getMessage() for record in caplog.get_records("call")]
    assert [line for line in logged if "stored by 2 processes" in line]


def build_batch(inbox: Path) -> None:
    """Write a batch that takes every turn of storing a series' files.

    Two patients, three series; warnings (a legacy date, an age without its unit, a
    name in a description, the other patient's name in a description, a date in the
    future, a decimal string that is no number, another PatientName), a file cut
    short in its pixel data, a copy of a file under another name, a file with the
    SOP Instance UID of another but other content, and a fourth series, of a study
    of its own, whose two files name two patients (refused whole).
    """
    first = build_ct(PatientName="GARCIA^ANA", PatientID="SYN-4711")
    shared = {
        "StudyInstanceUID": first.StudyInstanceUID,
        "PatientName": "GARCIA^ANA",
        "PatientID": "SYN-4711",
    }
    second_series = generate_uid()
    for series in (1, 2):
        uid = first.SeriesInstanceUID if series == 1 else second_series
        for number in range(1, 8):
            write_part10(
                build_ct(
                    **shared,
                    SeriesInstanceUID=uid,
                    SeriesNumber=series,
                    InstanceNumber=number,
                    PatientAge="42",
                    AcquisitionDate="2022.03.10" if number == 2 else "20220310",
                    SeriesDescription="for GARCIA" if number == 5 else "Thorax",
                ),
                inbox / f"s{series}_{number:02d}.dcm",
            )
    # Within series 2: a date in the future, a decimal that is no number, another
    # name under the same PatientID:
    odd = {
        3: {"ContentDate": "20990310"},
        4: {"WindowCenter": b"1A"},
        6: {"PatientName": "GARCIA^ANNA"},
    }
    for number, attributes in odd.items():
        path = inbox / f"s2_{number:02d}.dcm"
        ds = pydicom.dcmread(path)
        for keyword, value in attributes.items():
            if isinstance(value, bytes):
                set_raw(ds, keyword, value)
            else:
                setattr(ds, keyword, value)
        write_part10(ds, path)
    # Within series 1: a copy, a conflict, a file cut short.
    shutil.copy(inbox / "s1_02.dcm", inbox / "s1_02_copy.dcm")
    conflicting = build_ct(
        **shared,
        SeriesInstanceUID=first.SeriesInstanceUID,
        InstanceNumber=4,
        SOPInstanceUID=dicom_uid(inbox / "s1_04.dcm"),
        Manufacturer="Other Imaging",
    )
    write_part10(conflicting, inbox / "s1_04_other.dcm")
    # A series of two patients (once a file of another patient within series 1,
    # which a series mixing patients now rejects whole, so it has a study of its own):
    mixed = build_ct()
    for number, patient_id in ((1, "SYN-4711"), (2, "SYN-0042")):
        write_part10(
            build_ct(
                StudyInstanceUID=mixed.StudyInstanceUID,
                SeriesInstanceUID=mixed.SeriesInstanceUID,
                InstanceNumber=number,
                PatientID=patient_id,
            ),
            inbox / f"s3_{number:02d}.dcm",
        )
    cut = inbox / "s1_10.dcm"
    write_part10(build_ct(**shared, SeriesInstanceUID=first.SeriesInstanceUID), cut)
    cut.write_bytes(cut.read_bytes()[:-40])
    # Another patient's series, whose description names the first patient:
    other = build_ct(PatientID="SYN-0815")
    for number in range(1, 5):
        write_part10(
            build_ct(
                PatientID="SYN-0815",
                InstanceNumber=number,
                StudyInstanceUID=other.StudyInstanceUID,
                SeriesInstanceUID=other.SeriesInstanceUID,
                SeriesDescription="compare GARCIA",
            ),
            inbox / f"p2_{number}.dcm",
        )


def write_series(inbox: Path, count: int) -> None:
    """Write a series of `count` images, a1.dcm to a<count>.dcm."""
    study = build_ct()
    for number in range(1, count + 1):
        write_part10(
            build_ct(
                InstanceNumber=number,
                StudyInstanceUID=study.StudyInstanceUID,
                SeriesInstanceUID=study.SeriesInstanceUID,
            ),
            inbox / f"a{number}.dcm",
        )


def dicom_uid(path: Path) -> str:
    return pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID


def snapshot(report, storage_root: Path) -> dict:
    """Return what an import left: report, rows, issues and stored files.

    Pseudonyms are drawn at random, so each is replaced by its patient's place.
    """
    pseudonyms = {
        p.pseudonym: f"<patient {n}>"
        for n, p in enumerate(Patient.objects.order_by("source_key"))
    }

    def plain(value: object) -> object:
        text = str(value)
        for pseudonym, label in pseudonyms.items():
            text = text.replace(pseudonym, label)
        return text

    def problems(found) -> list[tuple]:
        return [(p.source, p.code, p.field, p.value, str(p.message)) for p in found]

    files = {}
    for path in sorted(storage_root.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            for pseudonym in pseudonyms:
                data = data.replace(pseudonym.encode(), b"<patient>")
            files[plain(path.relative_to(storage_root))] = data
    return {
        "created": report.created,
        "duplicates": report.duplicates,
        "identical": report.identical_files,
        "warnings": problems(report.warnings),
        "rejected": problems(report.rejected),
        "instances": sorted(
            plain(row)
            for row in ImageInstance.objects.values_list(
                "sop_instance_uid",
                "source_uid_hash",
                "content_sha256",
                "sop_class_uid",
                "instance_number",
                "storage_path",
                "series__series_instance_uid",
            )
        ),
        "series": sorted(
            plain(row)
            for row in ImageSeries.objects.values_list(
                "series_instance_uid",
                "instance_count",
                "storage_path",
                "modality",
                "series_number",
                "description",
                "slice_thickness_mm",
                "study__study_instance_uid",
            )
        ),
        "studies": sorted(
            plain(row)
            for row in ImagingStudy.objects.values_list(
                "study_instance_uid",
                "study_date",
                "date_source",
                "patient_age_raw",
                "modalities",
            )
        ),
        "issues": sorted(
            plain(row)
            for row in DataIssue.objects.values_list(
                "severity",
                "code",
                "source_name",
                "field",
                "value",
                "message",
                "record_type",
                "patient__pseudonym",
            )
        ),
        "deidentified": sorted(
            DeidentifiedAttribute.objects.values_list(
                "path", "tag", "decision", "rule", "file_count", "element_count"
            )
        ),
        "patients": Patient.objects.count(),
        "files": files,
    }


def forget(project, storage_root: Path) -> None:
    """Remove what an import stored, so that the next one starts afresh."""
    Patient.objects.filter(project=project).delete()
    ImportRun.objects.all().delete()
    shutil.rmtree(storage_root, ignore_errors=True)


def ingest_both_ways(settings, path: Path, project, storage_root: Path, caplog):
    settings.BIOBANK_DICOM_WORKERS = 1
    alone = snapshot(ingest_dicom(path, project), storage_root)
    forget(project, storage_root)
    settings.BIOBANK_DICOM_WORKERS = 2
    settings.BIOBANK_DICOM_POOL_MIN_FILES = 1
    caplog.set_level(logging.INFO, logger="radiomics.importers.dicom")
    assert threading.active_count() == 1
    pooled = snapshot(ingest_dicom(path, project), storage_root)
    assert "stored by 2 processes" in caplog.text
    return alone, pooled


def test_workers_store_what_the_process_alone_stores(
    settings, inbox, project, storage_root, caplog
):
    build_batch(inbox)

    alone, pooled = ingest_both_ways(settings, inbox, project, storage_root, caplog)

    assert pooled == alone
    # ... and the batch did take the turns it was built for:
    assert alone["created"] == {
        "patients": 2,
        "studies": 2,
        "series": 3,
        "instances": 18,
    }
    assert alone["identical"] == ["s1_02_copy.dcm"]
    assert sorted((source, code) for source, code, *_ in alone["rejected"]) == [
        ("s1_04_other.dcm", "content-conflict"),
        ("s1_10.dcm", "truncated"),
        ("s3_01.dcm", "patient-mismatch"),
    ]
    codes = {code for _source, code, *_ in alone["warnings"]}
    assert {
        "invalid-age",
        "non-standard-date-format",
        "identifier-in-text",
        "future-date",
        "invalid-number",
        "patient-name-mismatch",
    } <= codes
    assert len(alone["files"]) == 18
    # The other patient's series, cleaned of the first patient's name:
    assert ("p2_1.dcm", "identifier-in-text") in {
        (source, code) for source, code, *_ in alone["warnings"]
    }
    assert not [path for path, data in alone["files"].items() if b"GARCIA" in data]


def test_workers_read_the_members_of_an_archive(
    settings, inbox, tmp_path, project, storage_root, caplog
):
    build_batch(inbox)
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(inbox.iterdir()):
            zipped.write(path, f"export/{path.name}")

    alone, pooled = ingest_both_ways(settings, archive, project, storage_root, caplog)

    assert pooled == alone
    assert alone["created"]["instances"] == 18


def test_workers_store_nothing_twice(in_pool, inbox, project, storage_root):
    build_batch(inbox)
    ingest_dicom(inbox, project)
    files = sorted(storage_root.rglob("*.dcm"))

    again = ingest_dicom(inbox, project)

    assert again.created == {}
    # The 18 files stored, and the copy of one of them:
    assert again.duplicates == 19
    assert len(again.identical_files) == 19
    assert sorted(storage_root.rglob("*.dcm")) == files
    assert ImageInstance.objects.count() == 18


def test_a_duplicate_whose_first_file_fails_is_stored_in_process(
    in_pool, inbox, project, storage_root, monkeypatch
):
    """A file with the SOP Instance UID of an earlier one that could not be written."""
    for number in (1, 2, 3):
        write_part10(
            build_ct(
                StudyInstanceUID="1.2.3",
                SeriesInstanceUID="1.2.3.4",
                InstanceNumber=number,
            ),
            inbox / f"{number}.dcm",
        )
    shutil.copy(inbox / "2.dcm", inbox / "2_copy.dcm")
    write_copy = dicom.write_copy

    def unwritable_first(source, ds, transfer_syntax, target):
        if source == "2.dcm":
            return dicom.Problem(source, "could not be written.", code="unwritable")
        return write_copy(source, ds, transfer_syntax, target)

    monkeypatch.setattr(dicom, "write_copy", unwritable_first)
    # The fast lane would store 2.dcm without write_copy():
    monkeypatch.setattr(dicom, "FAST_LANE", False)

    report = ingest_dicom(inbox, project)

    assert [(p.source, p.code) for p in report.rejected] == [("2.dcm", "unwritable")]
    assert report.created["instances"] == 3
    assert len(list(storage_root.rglob("*.dcm"))) == 3


def test_a_disk_failing_in_a_worker_rolls_the_series_back_whole(
    in_pool, inbox, project, storage_root, monkeypatch
):
    write_series(inbox, 8)
    write_part10(build_ct(PatientID="SYN-OTHER"), inbox / "b.dcm")
    write = pydicom.dcmwrite

    def full_disk(path, ds, **options):
        write(path, ds, **options)
        if ds.InstanceNumber == 6:
            raise OSError("No space left on device")

    # Forked after this, the workers write through it (the slow lane; the fast one
    # writes with write_pieces(), below):
    monkeypatch.setattr(pydicom, "dcmwrite", full_disk)
    monkeypatch.setattr(dicom, "FAST_LANE", False)

    report = ingest_dicom(inbox, project)

    (problem,) = report.rejected
    assert (problem.source, problem.code) == ("a1.dcm", "storage-failed")
    assert report.created == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    assert ImageInstance.objects.get().series.study.patient.pseudonym
    # Only b's copy is left, whichever worker wrote a's files:
    assert len([p for p in storage_root.rglob("*") if p.is_file()]) == 1


def test_a_disk_failing_in_a_workers_fast_lane_rolls_the_series_back_whole(
    in_pool, inbox, project, storage_root, monkeypatch
):
    write_series(inbox, 8)
    write = dicom.write_pieces

    def full_disk(target, pieces):
        write(target, pieces)
        raise OSError("No space left on device")

    # Forked after this, the workers write through it:
    monkeypatch.setattr(dicom, "write_pieces", full_disk)

    report = ingest_dicom(inbox, project)

    assert [(p.source, p.code) for p in report.rejected] == [
        ("a1.dcm", "storage-failed")
    ]
    assert not ImageInstance.objects.exists()
    # The files stored by pydicom before it are gone too:
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []


def test_a_database_failure_rolls_back_the_files_the_workers_wrote(
    in_pool, inbox, project, storage_root, monkeypatch
):
    write_series(inbox, 6)

    def failing_bulk_create(rows, *args, **options):
        raise IntegrityError("disk says no")

    monkeypatch.setattr(ImageInstance.objects, "bulk_create", failing_bulk_create)

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["storage-failed"]
    assert not Patient.objects.exists()
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []


def test_a_series_of_unreadable_files_leaves_no_patient_behind(in_pool, inbox, project):
    """The workers need the pseudonym first; a patient nothing was stored for goes again."""
    for number in (1, 2):
        write_part10(build_ct(InstanceNumber=number), inbox / f"{number}.dcm")
    truncated = inbox / "1.dcm"
    truncated.write_bytes(truncated.read_bytes()[:-40])
    (inbox / "2.dcm").write_bytes((inbox / "2.dcm").read_bytes()[:-40])

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["truncated", "truncated"]
    assert report.created == {}
    assert not Patient.objects.exists()


def test_small_imports_store_in_process(settings, make_ct, inbox, project, caplog):
    settings.BIOBANK_DICOM_WORKERS = 2
    settings.BIOBANK_DICOM_POOL_MIN_FILES = 3
    caplog.set_level(logging.INFO, logger="radiomics.importers.dicom")
    make_ct("1.dcm")
    make_ct("2.dcm")

    report = ingest_dicom(inbox, project)

    assert report.created["instances"] == 2
    assert "processes" not in caplog.text


def test_a_patient_made_for_a_series_none_of_whose_files_loads_is_made_again(
    in_pool, inbox, project
):
    # The first series' files are cut short: the patient made for it is rolled back
    # with its savepoint, and the next series of the patient makes it again.
    for number in (1, 2):
        cut = write_part10(
            build_ct(
                PatientID="SYN-1",
                StudyInstanceUID="1.1",
                SeriesInstanceUID="1.1.1",
                InstanceNumber=number,
            ),
            inbox / f"a{number}.dcm",
        )
        cut.write_bytes(cut.read_bytes()[:-40])
        write_part10(
            build_ct(
                PatientID="SYN-1",
                StudyInstanceUID="1.2",
                SeriesInstanceUID="1.2.1",
                InstanceNumber=number,
            ),
            inbox / f"b{number}.dcm",
        )

    report = ingest_dicom(inbox, project)

    assert sorted(p.source for p in report.rejected) == ["a1.dcm", "a2.dcm"]
    assert {p.code for p in report.rejected} != {"storage-failed"}
    assert ImageSeries.objects.get().series_instance_uid
    assert ImageInstance.objects.count() == 2
    assert Patient.objects.count() == 1


def test_workers_screen_for_the_batch_and_the_patients_stored_before(
    in_pool, inbox, project
):
    """The workers screen each file as the process alone does: for the batch's other
    patients and for the source IDs of patients stored before (KnownPatients), whose
    keys they inherit (dicom._SCREEN) rather than get with every part of a series."""
    pseudonymise(project, "STS_001")
    write_part10(build_ct(PatientID="SYN-1111", PatientName="LI^WEI"), inbox / "a.dcm")
    series = build_ct()
    texts = {
        "SeriesDescription": "IBSI_1_STS_001_CT",
        "StudyDescription": "follow-up of Li Wei",
        "ProtocolName": "CT CHEST",
    }
    for number in (1, 2, 3, 4):
        write_part10(
            build_ct(
                PatientID="SYN-2222",
                StudyInstanceUID=series.StudyInstanceUID,
                SeriesInstanceUID=series.SeriesInstanceUID,
                InstanceNumber=number,
                **texts,
            ),
            inbox / f"b{number}.dcm",
        )

    report = ingest_dicom(inbox, project)

    assert report.created["instances"] == 5
    stored = [
        stored_dataset(instance)
        for instance in ImageInstance.objects.filter(
            series__study__patient__source_key=source_key(project, "SYN-2222")
        )
    ]
    assert len(stored) == 4
    for ds in stored:
        assert (ds.SeriesDescription, ds.StudyDescription) == ("", "")
        assert ds.ProtocolName == "CT CHEST"
    assert not ImageSeries.objects.filter(description__icontains="STS").exists()


def test_a_pool_that_cannot_start_leaves_no_identifiers_behind(
    settings, monkeypatch, inbox, project
):
    """The headers and screen the workers would inherit (dicom._BATCH, _SCREEN) hold
    patients' names and IDs: they are cleared even when the pool's constructor fails
    (an OSError where there is no /dev/shm)."""
    settings.BIOBANK_DICOM_WORKERS = 2
    settings.BIOBANK_DICOM_POOL_MIN_FILES = 1
    assert threading.active_count() == 1

    def no_pool(*args, **kwargs):
        raise OSError("no /dev/shm")

    monkeypatch.setattr(dicom, "ProcessPoolExecutor", no_pool)
    for number in (1, 2):
        write_part10(
            build_ct(PatientName="LI^WEI", PatientID="SYN-1111", InstanceNumber=number),
            inbox / f"a{number}.dcm",
        )

    with pytest.raises(OSError, match="no /dev/shm"):
        ingest_dicom(inbox, project)

    assert dicom._BATCH == []
    assert dicom._SCREEN == []
