"""Checks that keep a hostile input file (too large, a bomb, a climbing archive) out."""

from __future__ import annotations

import re
import stat
import zipfile
import zlib
from pathlib import Path

from django.conf import settings

from biobank.core.importing import ImportRejected, Problem

# How each kind of file we refuse to read as text begins (offset, bytes, what it is):
SIGNATURES = (
    (0, b"PK\x03\x04", "a ZIP archive (an Excel workbook is one)"),
    (0, b"PK\x05\x06", "an empty ZIP archive"),
    (0, b"\x1f\x8b", "a gzip archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (0, b"Rar!\x1a\x07", "a RAR archive"),
    (0, b"BZh", "a bzip2 archive"),
    (0, b"\xfd7zXZ\x00", "an xz archive"),
    (257, b"ustar", "a tar archive"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel or Word file"),
    (0, b"%PDF-", "a PDF document"),
    (0, b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (0, b"\xff\xd8\xff", "a JPEG image"),
    (128, b"DICM", "a DICOM file"),
)
ARCHIVE_SUFFIXES = (".zip", ".gz", ".tgz", ".tar", ".7z", ".rar", ".bz2", ".xz")
# Members smaller than this may pack as tightly as they like (a blank image does):
RATIO_FLOOR_BYTES = 1 << 20
SNIFF_BYTES = 512


def check_size(path: Path, name: str = "") -> None:
    """Refuse an empty file, or one above BIOBANK_MAX_UPLOAD_BYTES, before reading it.

    Messages name the file `name` (as the user gave it), else by its own name.
    """
    name = name or path.name
    size = path.stat().st_size
    if size == 0:
        raise ImportRejected([Problem(name, "is empty.", code="empty-file")])
    limit = settings.BIOBANK_MAX_UPLOAD_BYTES
    if size > limit:
        raise ImportRejected(
            [
                Problem(
                    name,
                    f"is {size:,} bytes, above the limit of {limit:,} "
                    "(BIOBANK_MAX_UPLOAD_BYTES); split it.",
                    code="too-large",
                )
            ]
        )


def kind_of(head: bytes) -> str:
    """Return what binary kind of file `head` (its first bytes) begins, '' if none."""
    for offset, magic, kind in SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return kind
    return ""


def read_text_bytes(path: Path, gzip_allowed: bool = False) -> bytes:
    """Return the bytes of a text table, refusing oversized and binary files.

    A gzipped file (when `gzip_allowed`) is unpacked, at most BIOBANK_MAX_UNPACKED_BYTES
    and BIOBANK_MAX_COMPRESSION_RATIO times its size, without ever holding more.
    """
    check_size(path)
    data = path.read_bytes()
    if gzip_allowed and data[:2] == b"\x1f\x8b":
        data = gunzip(path.name, data)
    kind = kind_of(data[:SNIFF_BYTES])
    if kind:
        raise ImportRejected(
            [
                Problem(
                    path.name,
                    f"is {kind}, not a text table; export it as CSV or tab-separated "
                    "text in UTF-8.",
                    code="wrong-kind",
                )
            ]
        )
    return data


def gunzip(name: str, data: bytes) -> bytes:
    limit = min(
        settings.BIOBANK_MAX_UNPACKED_BYTES,
        max(len(data), RATIO_FLOOR_BYTES) * settings.BIOBANK_MAX_COMPRESSION_RATIO,
    )
    unpacker = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        # Asking for one byte more than the limit tells a bomb from a file at the limit:
        unpacked = unpacker.decompress(data, limit + 1)
    except zlib.error:
        raise ImportRejected(
            [Problem(name, "is not a readable gzip file.", code="bad-archive")]
        ) from None
    if len(unpacked) > limit:
        raise ImportRejected(
            [
                Problem(
                    name,
                    f"unpacks to more than {limit:,} bytes (a gzip bomb?); not read.",
                    code="archive-too-large",
                )
            ]
        )
    # NB: a second gzip member (files concatenated with cat) is not read.
    return unpacked


def decode_utf8(name: str, data: bytes) -> str:
    """Return `data` as text; malformed UTF-8 is refused with its line and byte offset."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = len(re.split(rb"\r\n|\r|\n", data[: exc.start]))
        raise ImportRejected(
            [
                Problem(
                    name,
                    f"is not valid UTF-8 text (byte offset {exc.start}, byte "
                    f"0x{data[exc.start]:02x}); save it as UTF-8.",
                    row=line,
                    code="not-utf8",
                )
            ]
        ) from None


def safe_members(archive: zipfile.ZipFile, name: str) -> list[zipfile.ZipInfo]:
    """Return the members of a ZIP archive to read, or refuse the whole archive.

    Refused: a member whose path climbs out (``..``), is absolute or starts with a
    drive letter, a symbolic link, an encrypted member, an archive inside the archive,
    more than BIOBANK_MAX_ARCHIVE_MEMBERS members, more than BIOBANK_MAX_UNPACKED_BYTES
    unpacked, and a member packed more tightly than BIOBANK_MAX_COMPRESSION_RATIO.
    Nothing is extracted: callers read members into memory by their ZipInfo.
    """
    infos = archive.infolist()
    limit = settings.BIOBANK_MAX_ARCHIVE_MEMBERS
    if len(infos) > limit:
        raise ImportRejected(
            [
                Problem(
                    name,
                    f"holds {len(infos):,} members, above the limit of {limit:,} "
                    "(BIOBANK_MAX_ARCHIVE_MEMBERS); split it.",
                    code="archive-too-large",
                )
            ]
        )
    total = sum(info.file_size for info in infos)
    limit = settings.BIOBANK_MAX_UNPACKED_BYTES
    if total > limit:
        raise ImportRejected(
            [
                Problem(
                    name,
                    f"unpacks to {total:,} bytes, above the limit of {limit:,} "
                    "(BIOBANK_MAX_UNPACKED_BYTES); split it.",
                    code="archive-too-large",
                )
            ]
        )

    problems = []
    members = []
    for info in infos:
        if info.is_dir():
            continue
        reason = unsafe_member_reason(archive, info)
        if reason:
            problems.append(
                Problem(
                    name,
                    f"archive member '{info.filename}' {reason}; the archive was not read.",
                    code="unsafe-archive-member",
                )
            )
        members.append(info)
    if problems:
        raise ImportRejected(problems)
    return members


def unsafe_member_reason(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    """Return why a member must not be read ('' if it is safe)."""
    path = info.filename.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "has an absolute path"
    if ".." in path.split("/"):
        return "has '..' in its path"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if info.flag_bits & 0x1:
        return "is encrypted"
    ratio = settings.BIOBANK_MAX_COMPRESSION_RATIO
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > ratio * max(
        info.compress_size, 1
    ):
        return f"unpacks more than {ratio} times its packed size (a zip bomb?)"
    if path.lower().endswith(ARCHIVE_SUFFIXES):
        return "is an archive inside the archive; unpack it first"
    try:
        with archive.open(info) as member:
            head = member.read(SNIFF_BYTES)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, EOFError):
        return "cannot be unpacked"
    kind = kind_of(head)
    if "archive" in kind:
        return f"is {kind} inside the archive; unpack it first"
    return ""
