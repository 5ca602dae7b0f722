"""How the DICOM ingest finds what is stored already: for the whole batch at once."""

from __future__ import annotations

import pydicom
import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from radiomics.importers import dicom
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy

pytestmark = pytest.mark.django_db


def selects_from(queries: CaptureQueriesContext, table: str) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
    )


def test_a_batch_looks_up_its_stored_series_and_files_once(make_ct, inbox, project):
    for series in (1, 2, 3):
        for number in (1, 2):
            make_ct(
                f"s{series}_{number}.dcm",
                StudyInstanceUID="1.2.3",
                SeriesInstanceUID=f"1.2.3.{series}",
                InstanceNumber=number,
            )

    with CaptureQueriesContext(connection) as queries:
        report = ingest_dicom(inbox, project)

    assert report.created["series"] == 3
    # Once for the batch, not once a series:
    assert selects_from(queries, "radiomics_imageseries") == 1
    assert selects_from(queries, "radiomics_imageinstance") == 1
    assert selects_from(queries, "radiomics_imagingstudy") == 1
    # The keyed hashes of the project's patients (KnownPatients) only: the batch's
    # patient is not among them, so it is not looked up:
    assert selects_from(queries, "patients_patient") == 1
    assert report.created["studies"] == report.created["patients"] == 1


def test_a_stored_patient_and_study_are_found_by_the_batch_look_up(
    make_ct, inbox, project
):
    make_ct("a1.dcm", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.1")
    ingest_dicom(inbox, project)
    make_ct("b1.dcm", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.2")

    with CaptureQueriesContext(connection) as queries:
        again = ingest_dicom(inbox, project)

    # The project's keyed hashes, then the batch's patient found among them:
    assert selects_from(queries, "patients_patient") == 2
    assert again.created["series"] == 1
    assert "studies" not in again.created and "patients" not in again.created
    assert ImagingStudy.objects.get().series.count() == 2
    assert Patient.objects.count() == 1


def fail_series(monkeypatch, series_uid: str) -> None:
    """Make storing the rows of the series with this SeriesInstanceUID fail."""
    insert = dicom._Ingest.insert_instances

    def failing(self, state, scope):
        if state.first.text("SeriesInstanceUID") == series_uid:
            raise DatabaseError("the server went away")
        insert(self, state, scope)

    monkeypatch.setattr(dicom._Ingest, "insert_instances", failing)


def test_a_patient_and_study_made_by_a_series_rolled_back_are_made_again(
    make_ct, inbox, project, monkeypatch
):
    for series in (1, 2):
        make_ct(
            f"s{series}.dcm",
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID=f"1.2.3.{series}",
        )
    fail_series(monkeypatch, "1.2.3.1")

    report = ingest_dicom(inbox, project)

    assert [(p.source, p.code) for p in report.rejected] == [
        ("s1.dcm", "storage-failed")
    ]
    assert report.created["patients"] == report.created["studies"] == 1
    study = ImagingStudy.objects.get()
    assert study.patient == Patient.objects.get()
    assert list(study.series.values_list("series_number", flat=True)) == [1]


def test_a_study_changed_by_a_series_rolled_back_is_read_again(
    make_ct, inbox, project, monkeypatch
):
    # The second series would add PT to the study's modalities, and is rolled back:
    for series, modality in ((1, "CT"), (2, "PT"), (3, "MR")):
        make_ct(
            f"s{series}.dcm",
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID=f"1.2.3.{series}",
            Modality=modality,
        )
    fail_series(monkeypatch, "1.2.3.2")

    report = ingest_dicom(inbox, project)

    assert [p.source for p in report.rejected] == ["s2.dcm"]
    assert ImagingStudy.objects.get().modalities == "CT,MR"


def test_a_series_uid_in_two_studies_goes_into_the_series_stored_first(
    make_ct, inbox, project
):
    # The batch was looked up before the first study's series was stored:
    for study in (1, 2):
        for number in (1, 2):
            make_ct(
                f"st{study}_{number}.dcm",
                StudyInstanceUID=f"1.2.3.{study}",
                SeriesInstanceUID="1.2.3.9",
                InstanceNumber=2 * study + number,
            )

    report = ingest_dicom(inbox, project)

    assert report.rejected == []
    assert ImageSeries.objects.get().instance_count == 4


def test_a_sop_uid_stored_by_an_earlier_series_of_the_batch_is_a_conflict(
    make_ct, inbox, project
):
    first = make_ct("a1.dcm", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.1")
    make_ct(
        "b1.dcm",
        StudyInstanceUID="1.2.3",
        SeriesInstanceUID="1.2.3.2",
        InstanceNumber=1,
    )
    make_ct(
        "b2.dcm",
        StudyInstanceUID="1.2.3",
        SeriesInstanceUID="1.2.3.2",
        SOPInstanceUID=pydicom.dcmread(first).SOPInstanceUID,
        InstanceNumber=2,
    )

    report = ingest_dicom(inbox, project)

    # Found stored though the batch was looked up before: the rest of b is stored.
    assert [(p.source, p.code) for p in report.rejected] == [
        ("b2.dcm", "content-conflict")
    ]
    assert ImageInstance.objects.count() == 2


def test_files_stored_by_another_import_meanwhile_stay_when_this_one_rolls_back(
    make_ct, inbox, project, monkeypatch, storage_root
):
    # Two imports of the same files at once: the other one committed the series
    # after this one looked the batch up, so this one writes the same paths and the
    # database refuses its rows.
    for number in (1, 2, 3):
        make_ct(
            f"s{number}.dcm",
            StudyInstanceUID="1.2.3",
            SeriesInstanceUID="1.2.3.1",
            InstanceNumber=number,
        )
    ingest_dicom(inbox, project)
    stored = {
        instance.storage_path: (storage_root / instance.storage_path).read_bytes()
        for instance in ImageInstance.objects.all()
    }
    monkeypatch.setattr(dicom, "find_series", lambda keys: {})
    monkeypatch.setattr(dicom, "find_files", lambda keys: {})

    report = ingest_dicom(inbox, project)

    assert [p.code for p in report.rejected] == ["storage-failed"]
    assert len(stored) == 3
    for path, content in stored.items():
        assert (storage_root / path).read_bytes() == content
    assert not list(storage_root.rglob("*.part"))
