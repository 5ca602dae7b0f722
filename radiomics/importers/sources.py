"""Find the files of an import (a folder, a .zip archive or one file) and read them."""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import struct
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset as read_elements
from pydicom.tag import BaseTag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from biobank.core.importing import Message
from biobank.core.safefiles import check_size, safe_members
from radiomics.importers.values import element

DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
# With force=True, pydicom reads any bytes as a data set; these show it is DICOM:
IDENTIFYING_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID")
ITEM_END = b"\xfe\xff\x0d\xe0"  # Item Delimitation tag (FFFE,E00D), between items
# Where a header-only read stops: Pixel Data, Float and Double Float Pixel Data:
PIXEL_DATA_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
REQUIRED_UIDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "StudyInstanceUID",
    "SeriesInstanceUID",
)


class UnreadableFile(Exception):
    """The file holds no DICOM object that can be imported; `message` says why."""

    def __init__(self, message: Message, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True)
class SourceFile:
    """One file of the import: its name for messages and a way to read its bytes."""

    name: str
    open: Callable[[], BinaryIO]


@contextmanager
def open_sources(path: Path) -> Iterator[list[SourceFile]]:
    """Yield the files under `path`, in name order.

    Hidden files (.DS_Store and the like) and macOS resource forks are skipped. An
    archive with an unsafe member, or one that would unpack to too much, is refused
    whole with ImportRejected (biobank/core/safefiles.py).
    """
    if path.is_dir():
        yield [
            SourceFile("/".join(parts), _file_opener(os.path.join(path, *parts)))
            for parts in sorted(_files_below(os.fspath(path)))
        ]
    elif path.suffix.lower() == ".zip":
        check_size(path)
        with zipfile.ZipFile(path) as archive:
            yield _archive_members(path.name, archive)
    else:
        yield [SourceFile(path.name, _file_opener(path))]


def _is_hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in name.split("/"))


def _files_below(folder: str, parts: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Yield the path parts, below `folder`, of each file not hidden (_is_hidden()).

    As Path.rglob("*") and is_file() find them, but from the directory entries
    alone, without a stat() of each file (a tenth of the time at 1,000 files):
    links to files count, links to folders are not followed, and a folder that
    cannot be listed is passed over. Sorted, the tuples are in Path order.
    """
    try:
        entries = list(os.scandir(folder))
    except PermissionError:
        return
    for entry in entries:
        if _is_hidden(entry.name):
            continue
        try:
            is_folder = entry.is_dir() and not entry.is_symlink()
            is_file = not is_folder and entry.is_file()
        except OSError:
            continue
        if is_folder:
            yield from _files_below(entry.path, (*parts, entry.name))
        elif is_file:
            yield (*parts, entry.name)


def _file_opener(path: str | Path) -> Callable[[], BinaryIO]:
    return lambda: open(path, "rb")  # noqa: SIM115 - the caller closes it


def _archive_members(archive_name: str, archive: zipfile.ZipFile) -> list[SourceFile]:
    members = []
    # An unsafe member or a zip bomb refuses the whole archive (ImportRejected):
    for info in sorted(safe_members(archive, archive_name), key=lambda i: i.filename):
        if _is_hidden(info.filename.replace("\\", "/")):
            continue
        # NB: members are read into memory, never extracted under their own names.
        members.append(SourceFile(info.filename, _member_opener(archive, info)))
    return members


def _member_opener(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo
) -> Callable[[], BinaryIO]:
    owner = os.getpid()

    def open_member() -> BinaryIO:
        # A process forked to store files (dicom.py's worker pool) shares the file
        # offset of the archive's open file with its parent and siblings, so it reads
        # through an archive opened by itself:
        own = archive if os.getpid() == owner else _reopened(archive.filename)
        return io.BytesIO(own.read(info))

    return open_member


@functools.cache
def _reopened(path: str) -> zipfile.ZipFile:
    """Return this process's own handle on an archive (opened once a process)."""
    return zipfile.ZipFile(path)


@contextmanager
def lenient_pydicom() -> Iterator[None]:
    """Let pydicom read and write vendors' odd values (a bare "42" as AS) without noise.

    The importer checks the values it relies on itself and reports them with the file
    name. NB: pydicom's settings are global, so this holds for the whole process
    while an import runs.
    """
    settings = pydicom.config.settings
    before = settings.reading_validation_mode, settings.writing_validation_mode
    settings.reading_validation_mode = settings.writing_validation_mode = (
        pydicom.config.IGNORE
    )
    try:
        yield
    finally:
        settings.reading_validation_mode, settings.writing_validation_mode = before


class _Collector(logging.Handler):
    def __init__(self, messages: Counter[str]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages

    def emit(self, record: logging.LogRecord) -> None:
        self.messages[record.getMessage()] += 1


@contextmanager
def library_messages() -> Iterator[Counter[str]]:
    """Collect what pydicom warns or logs in the body instead of letting it print.

    Yields a Counter of messages, filled when the body ends. pydicom names neither the
    file nor, at times, more than its own path, so the importer reports each message
    itself, under the file's screened name. pydicom's warn_and_log() both warns and
    logs a message; it counts once. NB: warnings filters and the pydicom logger are
    process-wide, as with lenient_pydicom().
    """
    messages: Counter[str] = Counter()
    logged: Counter[str] = Counter()
    handler = _Collector(logged)
    pydicom_logger = logging.getLogger("pydicom")
    propagate = pydicom_logger.propagate
    pydicom_logger.addHandler(handler)
    pydicom_logger.propagate = False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield messages
            finally:
                messages.update(str(warning.message) for warning in caught)
    finally:
        pydicom_logger.removeHandler(handler)
        pydicom_logger.propagate = propagate
        for message, n in logged.items():
            messages[message] = max(messages[message], n)


@dataclass
class Unread:
    """What a header-only read left for read_rest(): where it stopped, and the hash so far.

    The hash covers the elements read, as read (before anything converted them), so
    that read_rest() needs to parse and hash only the pixel data and what follows.
    """

    # Where the pixel data element begins; None when the read went to the end:
    offset: int | None
    digest: hashlib._Hash
    # The header-only read stopped inside a deflated data set; read it whole again:
    reread: bool = False


def read_dataset(source: SourceFile, header_only: bool) -> Dataset:
    """Read one file as DICOM, with or without a Part-10 header.

    Raises UnreadableFile for text or other bytes that are no DICOM object, and for
    files cut short. `header_only` stops before the pixel data; the data set then
    carries an `Unread` as `ds.unread`, for read_rest() to finish it without reading
    the header a second time.
    """
    ds, offset = _parse(source, header_only)
    if header_only:
        digest = hashlib.sha256()
        _feed(ds, digest)
        ds.unread = Unread(offset, digest, reread=_is_deflated(ds))
    _check(ds, header_only)
    return ds


def read_object(source: SourceFile) -> tuple[Dataset, str]:
    """Read a whole file for storing; return it with content_sha256() of it as read."""
    ds, _offset = _parse(source, header_only=False)
    digest = content_sha256(ds)
    _check(ds, header_only=False)
    return ds, digest


def read_rest(source: SourceFile, ds: Dataset) -> tuple[Dataset, str]:
    """Finish a data set read by read_dataset(header_only=True); return it and its hash.

    The pixel data and the elements after it are read from where the header read
    stopped and added to `ds` itself, so the header is parsed once; the hash equals
    content_sha256() of the whole file read at once. A data set without `ds.unread`,
    a deflated one, or a file whose elements after the pixel data are out of tag
    order (the split hash would then differ) is read whole again instead, as a new
    data set. Raises UnreadableFile as read_object() does.
    """
    unread: Unread | None = getattr(ds, "unread", None)
    if unread is None or unread.reread:
        return read_object(source)

    if unread.offset is not None:
        rest = _parse_rest(source, ds, unread.offset)
        if rest is None or min(rest.keys()) <= max(ds.keys()):
            return read_object(source)
        _feed(rest, unread.digest)
        for tag in rest.keys():
            ds[tag] = rest.get_item(tag)
    del ds.unread
    _check(ds, header_only=False)
    return ds, unread.digest.hexdigest()


def _parse(source: SourceFile, header_only: bool) -> tuple[Dataset, int | None]:
    """Return the data set and, if it stopped before pixel data, where they begin."""
    try:
        with source.open() as handle:
            ds = pydicom.dcmread(handle, force=True, stop_before_pixels=header_only)
            stopped_at = handle.tell()
            ended = handle.seek(0, io.SEEK_END) == stopped_at
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds on bytes it cannot parse
        raise UnreadableFile(_not_dicom(exc), "not-dicom") from None
    return ds, None if ended or not header_only else stopped_at


def _parse_rest(source: SourceFile, ds: Dataset, offset: int) -> Dataset | None:
    """Read the elements from `offset` on; None unless they begin with pixel data."""
    is_implicit, is_little = ds.original_encoding
    try:
        with source.open() as handle:
            handle.seek(offset)
            rest = read_elements(handle, is_implicit, is_little)
    except Exception as exc:  # noqa: BLE001 - as in _parse()
        raise UnreadableFile(_not_dicom(exc), "not-dicom") from None
    keys = list(rest.keys())
    if not keys or keys[0] not in PIXEL_DATA_TAGS:
        return None
    return rest


def _not_dicom(error: Exception) -> Message:
    # The name of the exception is pydicom's word; what it says may quote the file.
    return Message(
        "is not a DICOM file ({error}).", error=Message.own(type(error).__name__)
    )


def _is_deflated(ds: Dataset) -> bool:
    meta = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    return meta == DeflatedExplicitVRLittleEndian


def _check(ds: Dataset, header_only: bool) -> None:
    meta_class = ds.file_meta.get("MediaStorageSOPClassUID", "") if ds.file_meta else ""
    if meta_class == DICOMDIR_CLASS:
        raise UnreadableFile(
            Message("is a DICOMDIR index, not an object to import; skipped."),
            "dicomdir",
        )
    if not any(_has_value(ds, keyword) for keyword in IDENTIFYING_UIDS):
        raise UnreadableFile(
            Message(
                "is not a DICOM file: no SOPClassUID, SOPInstanceUID or StudyInstanceUID was found."
            ),
            "not-dicom",
        )
    if _is_cut_short(ds):
        raise UnreadableFile(
            Message("is truncated: the file ends inside a data element."), "truncated"
        )
    missing = [keyword for keyword in REQUIRED_UIDS if not _has_value(ds, keyword)]
    if missing:
        raise UnreadableFile(
            Message(
                "lacks {missing}; the file may be truncated. Not imported.",
                missing=Message.own(", ".join(missing)),
            ),
            "truncated",
        )
    if not header_only:
        check_pixel_data(ds)


def content_sha256(ds: Dataset) -> str:
    """Return a hash of the data set's values as read, file meta aside.

    Values still raw are hashed as their bytes, so nothing needs parsing; the same data
    set hashes alike with or without a Part-10 header, in implicit or explicit VR.
    """
    digest = hashlib.sha256()
    _feed(ds, digest)
    return digest.hexdigest()


def _feed(ds: Dataset, digest: hashlib._Hash) -> None:
    # Gathered and fed at once, which hashes alike and costs less than many updates:
    parts: list[bytes] = []
    _gather(ds, parts)
    digest.update(b"".join(parts))


def _gather(ds: Dataset, parts: list[bytes]) -> None:
    for tag, elem in sorted(ds.items(), key=_tag_number):
        if isinstance(elem, RawDataElement) and elem.value is None:
            # get_item() converts a value-less raw element; it is hashed converted:
            elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            data = elem.value or b""
        elif elem.VR == "SQ":
            parts.append(struct.pack("<IQ", int(tag), len(elem.value)))
            for item in elem.value:
                _gather(item, parts)
                parts.append(ITEM_END)
            continue
        else:
            data = repr(elem.value).encode()
        parts.append(struct.pack("<IQ", int(tag), len(data)))
        parts.append(data)


def _tag_number(item: tuple[BaseTag, object]) -> int:
    return int(item[0])


def _has_value(ds: Dataset, keyword: str) -> bool:
    elem = element(ds, keyword)
    return elem is not None and not elem.is_empty and bool(str(elem.value).strip())


def _is_cut_short(ds: Dataset) -> bool:
    """Tell whether the last element read holds fewer bytes than its length says.

    pydicom stops silently at the end of the bytes, so a cut file reads as a short
    data set; the declared length of its last element gives the cut away.
    """
    keys = list(ds.keys())
    if not keys:
        return True
    last = ds.get_item(keys[-1])
    if (
        isinstance(last, RawDataElement)
        and last.length != 0xFFFFFFFF
        and last.value is not None
    ):
        return len(last.value) < last.length
    return False


def check_pixel_data(ds: Dataset) -> None:
    """Raise UnreadableFile when an image's Pixel Data is missing or shorter than its size."""
    if "Rows" not in ds or "SOPClassUID" not in ds:
        return
    if not any(
        k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")
    ):
        raise UnreadableFile(
            Message("is truncated: it has image attributes but no Pixel Data."),
            "truncated",
        )

    transfer_syntax = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    if "PixelData" not in ds or (
        transfer_syntax is not None and transfer_syntax.is_compressed
    ):
        return
    expected = native_pixel_bytes(ds)
    actual = len(ds.get_item("PixelData").value or b"")
    if expected is not None and actual < expected:
        raise UnreadableFile(
            Message(
                "is truncated: Pixel Data holds {actual} bytes where {expected} are needed.",
                actual=actual,
                expected=expected,
            ),
            "truncated",
        )


def native_pixel_bytes(ds: Dataset) -> int | None:
    """Return the bytes that uncompressed Pixel Data of this image needs, if known."""
    try:
        bits = (
            int(ds.Rows)
            * int(ds.Columns)
            * int(ds.get("SamplesPerPixel", 1) or 1)
            * int(ds.get("NumberOfFrames", 1) or 1)
            * int(ds.BitsAllocated)
        )
    except (AttributeError, TypeError, ValueError):
        return None
    return (bits + 7) // 8


def transfer_syntax_of(ds: Dataset) -> str:
    """Return the data set's transfer syntax; for a file without file meta, its encoding."""
    declared = ds.file_meta.get("TransferSyntaxUID") if ds.file_meta else None
    if declared:
        return str(declared)
    is_implicit, is_little = ds.original_encoding
    if is_implicit:
        return ImplicitVRLittleEndian
    return ExplicitVRLittleEndian if is_little else ExplicitVRBigEndian


def has_part10_header(ds: Dataset) -> bool:
    return bool(getattr(ds, "preamble", None)) and bool(ds.file_meta)
