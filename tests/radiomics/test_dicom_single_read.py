"""DICOM ingest reads each file once: the header first, the pixel data on from there."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from radiomics.importers.dicom import ingest_dicom
from radiomics.importers.sources import (
    SourceFile,
    UnreadableFile,
    read_dataset,
    read_object,
    read_rest,
)
from radiomics.models import ImageInstance
from tests.radiomics.conftest import (
    build_ct,
    build_rtstruct,
    stored_dataset,
    write_bare,
    write_part10,
)


def source(path: Path) -> SourceFile:
    return SourceFile(path.name, lambda: open(path, "rb"))  # noqa: SIM115


def header_then_rest(path: Path) -> tuple[pydicom.Dataset, str]:
    ds = read_dataset(source(path), header_only=True)
    # What the ingest does to a header before it is loaded converts some elements:
    str(ds.PatientName), str(ds.SOPInstanceUID)
    return read_rest(source(path), ds)


def with_trailing_padding(ds: pydicom.Dataset) -> pydicom.Dataset:
    ds.add_new(0xFFFCFFFC, "OB", b"\x00" * 6)  # Data Set Trailing Padding
    return ds


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(build_ct, id="image"),
        pytest.param(
            lambda: with_trailing_padding(build_ct()), id="elements after pixel data"
        ),
        pytest.param(
            lambda: build_rtstruct((1, "GTV", build_ct())), id="no pixel data"
        ),
    ],
)
def test_header_then_rest_hashes_and_reads_like_one_whole_read(tmp_path, build):
    path = write_part10(build(), tmp_path / "object.dcm")

    whole, whole_hash = read_object(source(path))
    ds, rest_hash = header_then_rest(path)

    assert rest_hash == whole_hash
    assert sorted(ds.keys()) == sorted(whole.keys())
    assert ds == whole
    assert not hasattr(ds, "unread")


def test_a_file_without_part10_header_reads_alike_in_two_steps(tmp_path):
    path = write_bare(build_ct(), tmp_path / "bare.dcm")

    whole, whole_hash = read_object(source(path))
    ds, rest_hash = header_then_rest(path)

    assert rest_hash == whole_hash
    assert ds.PixelData == whole.PixelData


def test_a_file_cut_inside_its_pixel_data_is_found_truncated_when_loaded(tmp_path):
    path = write_part10(build_ct(), tmp_path / "cut.dcm")
    path.write_bytes(path.read_bytes()[:-20])

    ds = read_dataset(source(path), header_only=True)

    with pytest.raises(UnreadableFile) as caught:
        read_rest(source(path), ds)
    assert caught.value.code == "truncated"


# The stale offset lands inside an element, which pydicom may warn about:
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_file_changed_after_its_header_was_read_is_read_whole_again(tmp_path):
    path = write_part10(build_ct(), tmp_path / "ct.dcm")
    ds = read_dataset(source(path), header_only=True)
    # Another writer puts a longer header in place; the stop offset is now stale:
    write_part10(build_ct(ImageComments="a longer header now"), path)

    again, digest = read_rest(source(path), ds)

    assert again is not ds
    assert again.ImageComments == "a longer header now"
    assert digest == read_object(source(path))[1]


def test_a_reingest_finds_every_file_stored_identical(inbox, project):
    for number in (1, 2, 3):
        write_part10(
            with_trailing_padding(build_ct(InstanceNumber=number)),
            inbox / f"{number}.dcm",
        )

    first = ingest_dicom(inbox, project)
    again = ingest_dicom(inbox, project)

    assert first.created["instances"] == 3
    assert again.duplicates == 3
    assert again.rejected == []
    assert ImageInstance.objects.count() == 3


def test_stored_copy_keeps_the_bytes_of_attributes_kept_unchanged(inbox, project):
    # Padded as some scanners write it; a value encoded again would lose the spaces:
    write_part10(build_ct(Manufacturer="Acme Imaging  "), inbox / "ct.dcm")

    ingest_dicom(inbox, project)

    stored = stored_dataset(ImageInstance.objects.get())
    assert stored.get_item("Manufacturer").value == b"Acme Imaging  "
    assert stored.Manufacturer == "Acme Imaging"
