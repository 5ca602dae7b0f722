"""Stored paths stay under BIOBANK_STORAGE_ROOT: refused when written, and when read."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from biobank.core.storage import StoragePathRefused, check_storage_path
from radiomics.models import (
    FeatureExtraction,
    ImageInstance,
    ImageSeries,
    Segmentation,
)
from radiomics.series import SeriesUnusable, read_grid

pytestmark = pytest.mark.django_db


@pytest.fixture
def outside(tmp_path) -> Path:
    """A folder beside the storage root, as /work/shared or /etc are."""
    folder = tmp_path / "outside"
    folder.mkdir()
    return folder


@pytest.fixture
def linked(storage_root, outside) -> str:
    """A folder under the root that is a symbolic link to one outside it."""
    storage_root.mkdir(parents=True, exist_ok=True)
    (storage_root / "linked").symlink_to(outside, target_is_directory=True)
    return "linked"


def bad_paths(outside: Path, linked: str) -> list[str]:
    return [
        str(outside / "mask.nii.gz"),
        "../../../../etc/passwd",
        "demo/../../outside/mask.nii.gz",
        f"{linked}/mask.nii.gz",
    ]


def test_paths_leading_out_of_the_root_are_refused_without_naming_it(
    storage_root, outside, linked
):
    for path in bad_paths(outside, linked):
        with pytest.raises(StoragePathRefused) as refused:
            check_storage_path(path)
        assert str(storage_root) not in str(refused.value), path
        assert str(outside) not in str(refused.value), path

    assert check_storage_path("demo/PT-1/1.2.3/4.5.6/masks/abc.nii.gz")
    assert check_storage_path("") == ""


@pytest.mark.parametrize("model", [Segmentation, ImageSeries, ImageInstance])
def test_every_stored_path_field_refuses_them_in_its_clean(
    model, sts_ct, outside, linked
):
    record = {
        Segmentation: lambda: Segmentation(
            series=sts_ct, roi_name="GTV", source_kind="MASK"
        ),
        ImageSeries: lambda: ImageSeries.objects.get(),
        ImageInstance: lambda: ImageInstance.objects.first(),
    }[model]()

    for path in bad_paths(outside, linked):
        record.storage_path = path
        with pytest.raises(ValidationError) as invalid:
            record.full_clean()
        assert "storage_path" in invalid.value.message_dict, path


def test_the_admin_adds_no_segmentation_and_never_edits_its_path(
    admin_client, two_label_mask
):
    stored = two_label_mask.storage_path
    url = reverse("admin:radiomics_segmentation_change", args=[two_label_mask.pk])

    adding = admin_client.get(reverse("admin:radiomics_segmentation_add"))
    form = admin_client.get(url).context["adminform"].form
    posted = admin_client.post(
        url,
        {
            "series": two_label_mask.series_id,
            "roi_name": "Boxes",
            "storage_path": "../../../../etc/passwd",
            "source_kind": "RTSTRUCT",
        },
    )

    assert adding.status_code == 403
    assert "storage_path" not in form.fields and "source_kind" not in form.fields
    assert posted.status_code == 302
    two_label_mask.refresh_from_db()
    assert two_label_mask.storage_path == stored
    assert two_label_mask.source_kind == "MASK"


def extract(segmentation: Segmentation) -> FeatureExtraction:
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "extract_features", segmentation=[segmentation.pk], stdout=StringIO()
        )
    return FeatureExtraction.objects.get(segmentation=segmentation)


@pytest.mark.parametrize("kind", range(4))
def test_a_mask_path_stored_outside_the_root_is_never_read(
    kind, two_label_mask, storage_root, outside, linked
):
    # A readable copy of the very mask: reading it would compute features.
    shutil.copy(storage_root / two_label_mask.storage_path, outside / "mask.nii.gz")
    path = bad_paths(outside, linked)[kind]
    Segmentation.objects.filter(pk=two_label_mask.pk).update(storage_path=path)
    two_label_mask.refresh_from_db()

    extraction = extract(two_label_mask)

    assert extraction.status == FeatureExtraction.Status.FAILED
    assert extraction.error.startswith(
        f"The stored path of segmentation {two_label_mask.pk} (Boxes) is refused. "
    )
    assert str(storage_root) not in extraction.error
    assert str(outside) not in extraction.error
    assert not extraction.values.exists()


def test_a_missing_mask_file_fails_naming_its_path_under_the_root(
    two_label_mask, storage_root
):
    (storage_root / two_label_mask.storage_path).unlink()

    extraction = extract(two_label_mask)

    assert extraction.error == (
        f"The stored file of segmentation {two_label_mask.pk} (Boxes) is missing from "
        f"storage ({two_label_mask.storage_path}); restore it from backup or store "
        "it again."
    )


def test_an_image_path_stored_outside_the_root_is_never_read(
    sts_ct, storage_root, outside
):
    instance = sts_ct.instances.first()
    copy = outside / "image.dcm"
    shutil.copy(storage_root / instance.storage_path, copy)
    ImageInstance.objects.filter(pk=instance.pk).update(storage_path=str(copy))

    with pytest.raises(SeriesUnusable, match="The path is absolute") as refused:
        read_grid(sts_ct)

    assert str(outside) not in str(refused.value)


@pytest.mark.parametrize("lane", [True, False], ids=["fast lane", "pydicom"])
def test_new_files_of_a_series_stored_out_of_the_root_are_never_written(
    inbox, project, storage_root, outside, linked, monkeypatch, lane
):
    import radiomics.importers.dicom as dicom
    from radiomics.importers.dicom import ingest_dicom
    from tests.radiomics.conftest import build_ct, write_part10

    monkeypatch.setattr(dicom, "FAST_LANE", lane)
    study = build_ct()
    same = {
        "StudyInstanceUID": study.StudyInstanceUID,
        "SeriesInstanceUID": study.SeriesInstanceUID,
    }
    write_part10(build_ct(InstanceNumber=1, **same), inbox / "1.dcm")
    ingest_dicom(inbox, project)
    for path in bad_paths(outside, linked):
        ImageSeries.objects.update(storage_path=path)
        for number in (2, 3):
            write_part10(
                build_ct(InstanceNumber=number, **same), inbox / f"{number}.dcm"
            )

        report = ingest_dicom(inbox, project)

        assert [(p.source, p.code) for p in report.rejected] == [
            ("1.dcm", "storage-failed")
        ]
        assert "its 3 files were not imported" in str(report.rejected[0].message)
        assert str(outside) not in str(report.rejected[0].message)
        assert ImageInstance.objects.count() == 1
    assert list(outside.iterdir()) == []
