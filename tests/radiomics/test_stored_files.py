"""Deleting a patient, study or series removes its de-identified files from storage,
once the deletion commits, unless another record still names a file; the admin's
confirmation page says how many files go."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.db import transaction

from patients.models import Patient
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy, Segmentation
from tests import test_admin
from tests.biobank.conftest import Records
from tests.test_admin import admin_url

curator_client = test_admin.curator_client


def stored(root: Path, relative: str) -> str:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"DICM")
    return relative


def image(series: ImageSeries, relative: str) -> ImageInstance:
    uid = f"{series.series_instance_uid}.{ImageInstance.objects.count() + 1}"
    return ImageInstance.objects.create(
        series=series,
        sop_instance_uid=uid,
        source_uid_hash=f"hash-{uid}",
        content_sha256="0" * 64,
        storage_path=relative,
    )


@pytest.fixture
def stored_study(project, storage_root) -> ImagingStudy:
    """A study with two images and a segmentation, each with its file in storage."""
    records = Records(project)
    patient = records.patient("DEMO-00001")
    study = records.study(patient, dt.date(2024, 1, 10))
    series = study.series.get()
    for number in (1, 2):
        image(series, stored(storage_root, f"demo/DEMO-00001/s1/{number}.dcm"))
    Segmentation.objects.create(
        series=series,
        roi_name="GTV",
        source_kind=Segmentation.SourceKind.MASK,
        storage_path=stored(storage_root, "demo/DEMO-00001/s1/gtv.nii.gz"),
    )
    return study


def files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


@pytest.mark.parametrize("model", [Patient, ImagingStudy, ImageSeries])
def test_deleting_in_the_admin_removes_the_files_after_commit(
    stored_study,
    storage_root,
    curator_client,
    django_capture_on_commit_callbacks,
    model,
):
    record = {
        Patient: stored_study.patient,
        ImagingStudy: stored_study,
        ImageSeries: stored_study.series.get(),
    }[model]
    url = admin_url(model, "delete", record.pk)

    asked = curator_client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = curator_client.post(url, {"post": "yes"})

    assert "De-identified files removed from storage once deleted: 3" in (
        asked.content.decode()
    )
    assert deleted.status_code == 302
    assert files_under(storage_root) == []


def test_a_file_another_record_names_is_kept(
    stored_study, storage_root, django_capture_on_commit_callbacks
):
    other = Records(stored_study.patient.project)
    kept_by = other.study(other.patient("DEMO-00002"), dt.date(2024, 2, 1))
    image(kept_by.series.get(), "demo/DEMO-00001/s1/1.dcm")

    with django_capture_on_commit_callbacks(execute=True):
        stored_study.patient.delete()

    assert files_under(storage_root) == [
        "demo",
        "demo/DEMO-00001",
        "demo/DEMO-00001/s1",
        "demo/DEMO-00001/s1/1.dcm",
    ]


def test_a_deletion_rolled_back_keeps_the_files(stored_study, storage_root):
    before, pk = files_under(storage_root), stored_study.pk

    with pytest.raises(RuntimeError), transaction.atomic():
        stored_study.delete()
        raise RuntimeError("rolled back")

    assert ImagingStudy.objects.filter(pk=pk).exists()
    assert files_under(storage_root) == before
