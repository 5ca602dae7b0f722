"""Hostile files refused before anything is read: climbing archives, bombs, wrong kinds."""

from __future__ import annotations

import gzip
import io
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from biobank.core.importing import ImportRejected, read_table
from biobank.core.safefiles import decode_utf8, read_text_bytes, safe_members
from liquidbiopsy.importers.maf import read_maf_text
from patients.models import ImportRun, Patient, Project
from radiomics.models import ImageInstance
from tests.radiomics.conftest import build_ct, write_part10

pytestmark = pytest.mark.attack


def zipped(path: Path, members: dict[str, bytes], **infos: int) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if name in infos:
                info.external_attr = infos[name]
            archive.writestr(info, data)
    return path


def refusal(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive, pytest.raises(ImportRejected) as refused:
        safe_members(archive, path.name)
    assert all(p.source == path.name for p in refused.value.problems)
    return [p.message for p in refused.value.problems]


def ct_bytes() -> bytes:
    buffer = io.BytesIO()
    write_part10(build_ct(), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("../evil.dcm", "has '..' in its path"),
        ("a/../../evil.dcm", "has '..' in its path"),
        ("..\\..\\evil.dcm", "has '..' in its path"),
        ("/etc/cron.d/evil", "has an absolute path"),
        ("\\\\server\\share\\evil.dcm", "has an absolute path"),
        ("C:\\Windows\\evil.dcm", "has an absolute path"),
        ("d:evil.dcm", "has an absolute path"),
    ],
)
def test_a_member_whose_path_climbs_out_refuses_the_archive(tmp_path, member, reason):
    archive = zipped(tmp_path / "in.zip", {"ok.dcm": b"x", member: b"y"})

    (message,) = refusal(archive)

    assert f"'{member}' {reason}" in message


def test_a_symbolic_link_refuses_the_archive(tmp_path):
    link = (stat.S_IFLNK | 0o777) << 16
    archive = zipped(tmp_path / "in.zip", {"link": b"/etc/passwd"}, link=link)

    assert refusal(archive) == [
        "archive member 'link' is a symbolic link; the archive was not read."
    ]


@pytest.mark.parametrize(
    ("member", "data"),
    [
        ("inner.zip", b"anything"),
        ("inner.tar.gz", b"anything"),
        ("looks-like.dcm", b"PK\x03\x04rest"),
        ("gzipped.dcm", gzip.compress(b"inner")),
    ],
)
def test_an_archive_inside_the_archive_is_refused(tmp_path, member, data):
    archive = zipped(tmp_path / "in.zip", {member: data})

    (message,) = refusal(archive)

    assert "inside the archive" in message


def test_a_member_packed_like_a_zip_bomb_is_refused(tmp_path):
    archive = zipped(tmp_path / "bomb.zip", {"zeros.dcm": bytes(8 << 20)})

    (message,) = refusal(archive)

    assert "zip bomb" in message


def test_an_archive_that_unpacks_to_too_much_is_refused_before_reading(
    tmp_path, settings
):
    settings.BIOBANK_MAX_UNPACKED_BYTES = 1000
    archive = zipped(tmp_path / "big.zip", {"a": bytes(600), "b": bytes(600)})

    (message,) = refusal(archive)

    assert "unpacks to 1,200 bytes, above the limit of 1,000" in message


def test_an_archive_of_too_many_members_is_refused(tmp_path, settings):
    settings.BIOBANK_MAX_ARCHIVE_MEMBERS = 3
    archive = zipped(tmp_path / "many.zip", {f"{n}.dcm": b"x" for n in range(4)})

    (message,) = refusal(archive)

    assert "holds 4 members, above the limit of 3" in message


def test_a_safe_archive_lists_its_files_only(tmp_path):
    archive = zipped(tmp_path / "ok.zip", {"a/1.dcm": ct_bytes(), "a/2.dcm": b"x"})

    with zipfile.ZipFile(archive) as opened:
        names = [info.filename for info in safe_members(opened, "ok.zip")]

    assert names == ["a/1.dcm", "a/2.dcm"]


def test_ingest_dicom_refuses_a_zip_bomb_and_stores_nothing(tmp_path, db, storage_root):
    archive = zipped(
        tmp_path / "bomb.zip", {"1.dcm": ct_bytes(), "zeros.dcm": bytes(8 << 20)}
    )
    # A project of its own keeps the failed run (one made for the file goes with it):
    Project.objects.create(code="demo", name="demo")

    with pytest.raises(CommandError, match=r"bomb\.zip: archive member 'zeros\.dcm'"):
        call_command("ingest_dicom", str(archive), project="demo")

    assert not ImageInstance.objects.exists()
    assert not Patient.objects.exists()
    assert not list(storage_root.rglob("*.dcm"))
    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


def test_ingest_dicom_refuses_a_zip_above_the_upload_limit(tmp_path, db, settings):
    settings.BIOBANK_MAX_UPLOAD_BYTES = 100
    archive = zipped(tmp_path / "large.zip", {"1.dcm": ct_bytes()})

    with pytest.raises(CommandError, match=r"large\.zip: is [\d,]+ bytes, above"):
        call_command("ingest_dicom", str(archive), project="demo")

    assert not ImageInstance.objects.exists()


def test_malformed_utf8_is_named_with_line_and_byte_offset():
    data = b"patient_id,sex\nP1,F\nP2," + b"\xc3\x28" + b"\n"

    with pytest.raises(ImportRejected) as refused:
        decode_utf8("in.csv", data)

    (problem,) = refused.value.problems
    offset = data.index(b"\xc3")
    assert (problem.source, problem.row, problem.code) == ("in.csv", 3, "not-utf8")
    assert f"byte offset {offset}, byte 0xc3" in problem.message


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"PK\x03\x04" + bytes(40), "a ZIP archive"),
        (b"%PDF-1.7\n", "a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(40), "an old Excel"),
        (bytes(128) + b"DICM" + bytes(40), "a DICOM file"),
    ],
)
def test_a_binary_file_given_as_a_table_is_named_as_what_it_is(tmp_path, content, kind):
    path = tmp_path / "counts.csv"
    path.write_bytes(content)

    with pytest.raises(ImportRejected, match=f"counts.csv: is {kind}"):
        read_table(path)


def test_an_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")

    with pytest.raises(ImportRejected, match="empty.csv: is empty"):
        read_table(path)


def test_a_file_above_the_upload_limit_is_refused_unread(tmp_path, settings):
    settings.BIOBANK_MAX_UPLOAD_BYTES = 10
    path = tmp_path / "big.csv"
    path.write_text("patient_id\nP1\nP2\n", encoding="utf-8")

    with pytest.raises(ImportRejected, match="big.csv: is 17 bytes, above"):
        read_text_bytes(path)


def test_a_gzip_bomb_given_as_a_maf_is_refused(tmp_path, settings):
    settings.BIOBANK_MAX_UNPACKED_BYTES = 1 << 20
    path = tmp_path / "calls.maf.gz"
    path.write_bytes(gzip.compress(b"Hugo_Symbol\n" + b"\n" * (4 << 20)))

    with pytest.raises(ImportRejected, match="calls.maf.gz: unpacks to more than"):
        read_maf_text(path)


def test_a_gzipped_maf_within_the_limits_is_read(tmp_path):
    path = tmp_path / "calls.maf.gz"
    path.write_bytes(gzip.compress(b"Hugo_Symbol\tVariant\nEGFR\tx\n"))

    assert read_maf_text(path)[:2] == [(1, "Hugo_Symbol\tVariant"), (2, "EGFR\tx")]
