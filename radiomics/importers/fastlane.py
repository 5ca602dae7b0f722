"""The DICOM ingest's fast lane: files of a series that differ from its first only per slice.

The files of one image series share nearly every element byte for byte: they differ
in their SOP Instance UID, instance number, position, a few numbers and the pixels.
De-identifying each file with pydicom parses and rewrites every element again, and
costs ten times pydicom's own header read. The fast lane reads such a file as bytes
instead and, for each element, either proves that the slow path would write what it
wrote for the series' first file, or gives the file back to the slow path:

- The header phase reads each file's elements as byte ranges. A file whose
  patient, study and series match an earlier file read by pydicom, with the same
  elements in the same order, differing only in per-slice values (see
  `header_may_differ`), is grouped without pydicom; everything the grouping
  reads (patient, study, series, dates, kind, identifiers) is the earlier file's.
- The series' first file in storing order is stored by the slow path; it becomes the
  series' template if nothing was reported for it. Its source and its de-identified
  copy, both read as bytes, tell per element what de-identification did with it:
  removed it, kept its bytes, or replaced a UID by `replacement_uid()`.
- A later file of the series is stored fast when every element it does not share
  with the template is one de-identification treats the same whatever its value
  (`SeriesTemplate.how`): its copy is the template's copy with those elements
  replaced, its de-identification decisions are the template's, and its content hash
  is computed from the hash input of the elements it shares with the template.

Anything else (another transfer syntax, a deflated, compressed or big-endian file,
no Part-10 header, an element out of order, a differing text, date, person name,
sequence or identifier, a template that drew a warning) is read by pydicom as before.
tests/radiomics/test_dicom_fast_lane.py checks that both lanes store the same bytes,
rows, hashes, decisions and warnings.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import NamedTuple

from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset as read_elements

from biobank.core.importing import Problem
from radiomics.importers import values
from radiomics.importers.deid import (
    _IDENTIFYING_TAGS,
    Decisions,
    Rule,
    _dictionary_vr,
    _plan,
    replacement_uid,
)
from radiomics.importers.sources import _gather

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
SYNTAXES = {IMPLICIT_LE: True, EXPLICIT_LE: False}  # transfer syntax -> implicit VR
UNDEFINED = 0xFFFFFFFF
ITEM_END = 0xFFFEE00D  # Item Delimitation
PIXEL_DATA = 0x7FE00010
# A header-only read stops at Float Pixel Data (7FE0,0008) at the latest:
HEADER_END = 0x7FE00008
CHARACTER_SET = 0x00080005
SOP_CLASS = 0x00080016
MEDIA_SOP_CLASS = 0x00020002
SOP_INSTANCE = 0x00080018
INSTANCE_NUMBER = 0x00200013
MEDIA_SOP_INSTANCE = 0x00020003
TRANSFER_SYNTAX = 0x00020010
SERIES_KEY = (0x00100020, 0x0020000D, 0x0020000E)  # PatientID, study and series UIDs
# Per-slice attributes of the Image Pixel and Presentation modules that may differ
# within a series; the rest of group 0028 (rows, bits, burned-in text) may not:
PER_SLICE_PIXEL_TAGS = frozenset(
    (0x00280106, 0x00280107, 0x00281050, 0x00281051, 0x00281052, 0x00281053)
)
VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV "
    b"TM UC UI UL UN UR US UT UV".split()
)
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
BINARY_NUMBER_VRS = {
    "US": 2,
    "SS": 2,
    "US or SS": 2,
    "UL": 4,
    "SL": 4,
    "FL": 4,
    "FD": 8,
}
# One UID, padded with a NUL or a space to an even length, as the standard writes it:
UID_VALUE = re.compile(rb"[0-9]+(?:\.[0-9]+)*[\x00 ]?")
# An instance number written plainly, which pydicom reads and writes back alike:
INTEGER = re.compile(rb"(?:0|[1-9][0-9]*) ?")
# One date, time or date-time, padded with a space to an even length:
TEMPORAL = re.compile(rb"[0-9.+\-]+ ?")
STUDY_DATE_TIME = (0x00080020, 0x00080030)
# A decimal or integer string, several separated by backslashes:
NUMBER_STRING = re.compile(rb"[ 0-9+\-.eE\\]+")

# The kinds of value the slow path keeps as read whatever they hold, once it kept the
# template's (it never parses them, or parses dates only to check them):
COPIED_KINDS = ("number", "pixels", "temporal")

_TAG_VR_SHORT = struct.Struct("<HH2sH")
_UINT32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")
_IMPLICIT = struct.Struct("<HHI")
_HASH_HEAD = struct.Struct("<IQ")


class Unusual(Exception):
    """The file is not one the fast lane reads; pydicom reads it."""


class Element(NamedTuple):
    """Where one top-level element lies in the file: from its tag, its value, its end."""

    start: int
    value_start: int
    end: int
    vr: bytes | None  # as written (explicit VR); None in implicit VR
    undefined: bool = False  # a sequence of undefined length, delimiters included


@dataclass
class Parsed:
    """A Part-10 file in little-endian VR, read as the byte ranges of its elements."""

    data: bytes
    transfer_syntax: str
    implicit: bool
    # Where the data set begins (after the preamble, DICM and the file meta group):
    body: int
    meta: dict[int, Element]
    elements: dict[int, Element]  # in the file's order, which is ascending
    _spans: tuple[list[int], list[tuple[int, int]]] | None = field(
        default=None, repr=False
    )
    # Where the file compared last differed from this one, by element index:
    hint: list[int] = field(default_factory=list, repr=False)

    def header_part(self) -> Parsed:
        """The same, holding only the bytes up to the end of its last element read."""
        end = max((e.end for e in self.elements.values()), default=self.body)
        return Parsed(
            self.data[:end],
            self.transfer_syntax,
            self.implicit,
            self.body,
            self.meta,
            self.elements,
        )

    def spans(self) -> tuple[list[int], list[tuple[int, int]]]:
        """The tags in order and where each element begins and ends (compare() reads them)."""
        if self._spans is None:
            self._spans = (
                list(self.elements),
                [(found.start, found.end) for found in self.elements.values()],
            )
        return self._spans

    def raw(self, tag: int) -> memoryview:
        """The element as written: tag, VR, length and value."""
        found = self.elements[tag]
        return memoryview(self.data)[found.start : found.end]

    def value(self, tag: int) -> bytes:
        found = self.elements[tag]
        return self.data[found.value_start : found.end]

    def vr(self, tag: int) -> str:
        """The VR as written, or the dictionary's ('' for a tag it does not know)."""
        written = self.elements[tag].vr
        return written.decode("ascii") if written is not None else _dictionary_vr(tag)

    def series_key(self) -> tuple[bytes, ...] | None:
        """As series_key() reads it from the file."""
        if not all(tag in self.elements for tag in SERIES_KEY):
            return None
        return (self.transfer_syntax.encode(), *(self.value(t) for t in SERIES_KEY))


def parse(data: bytes, header_only: bool) -> Parsed:
    """Read the file's elements as byte ranges; raise Unusual for any other kind of file.

    `header_only` stops before the pixel data. Sequences are not entered but passed
    over whole, undefined lengths included.
    """
    syntax, implicit, body, meta = _head(data)
    stop = HEADER_END if header_only else None
    elements = {
        tag: Element(*found)
        for tag, found in _walk(data, body, len(data), implicit, stop)
    }
    return Parsed(data, syntax, implicit, body, meta, elements)


def compare(
    data: bytes, template: Parsed, header_only: bool, complete: bool = True
) -> Parsed:
    """Read the file against the template; its `elements` are those that differ.

    Raises Unusual for a file parse() does not read, and for one of another shape
    than the template: another transfer syntax, SOP class in the file meta, or
    other elements or order. `template` is read as far as this file is
    (`header_only` alike). With `header_only`, `data` may be the file's first bytes
    only (not `complete`): they must then hold the tag after the header too, or
    Unusual is raised, since what follows could be another element of the header.

    The file is not read element by element: the runs of the template's elements
    between those in which the file before differed (`template.hint`) are compared
    as one range of bytes each, at the place they take in this file, and only a run
    that differs is read element by element. Equal bytes from an element's start on
    hold the same elements.
    """
    syntax, implicit, body, meta = _head(data)
    if syntax != template.transfer_syntax:
        raise Unusual("transfer syntax")
    if _meta_value(data, meta, MEDIA_SOP_CLASS) != _meta_value(
        template.data, template.meta, MEDIA_SOP_CLASS
    ):
        raise Unusual("media storage SOP class")
    tags, spans = template.spans()
    reading = _Reading(data, template.data, implicit, tags, spans, body - template.body)
    done = 0
    for index in [*template.hint, len(tags)]:
        if done < index and not reading.same(spans[done][0], spans[index - 1][1]):
            for each in range(done, index):
                reading.element(each)
        if index < len(tags):
            reading.element(index)
        done = index + 1
    end = (spans[-1][1] if spans else template.body) + reading.shift
    if header_only:
        if end + 4 <= len(data):
            group, number = _TAG.unpack_from(data, end)
            if group << 16 | number < HEADER_END:
                raise Unusual("other elements")
        elif not complete:
            raise Unusual("cut short")
    elif end != len(data):
        raise Unusual("other elements")
    template.hint = [tags.index(tag) for tag in reading.differ]
    return Parsed(data, syntax, implicit, body, meta, reading.differ)


@dataclass
class _Reading:
    """A file read against a template in compare(): where its elements lie, which differ."""

    data: bytes
    theirs: bytes
    implicit: bool
    tags: list[int]
    spans: list[tuple[int, int]]
    shift: int  # where this file's element begins, minus where the template's does
    differ: dict[int, Element] = field(default_factory=dict)

    def same(self, start: int, end: int) -> bool:
        """Whether the template's bytes from start to end are this file's, shifted."""
        ours = start + self.shift
        if ours + end - start > len(self.data):
            return False
        if end - start < 4096:
            return self.data[ours : ours + end - start] == self.theirs[start:end]
        mine = memoryview(self.data)[ours : ours + end - start]
        return mine == memoryview(self.theirs)[start:end]

    def element(self, index: int) -> None:
        """Read this file's element at the place of the template's index-th one."""
        start, end = self.spans[index]
        position = start + self.shift
        tag, found = _element_at(self.data, position, len(self.data), self.implicit)
        if tag != self.tags[index]:
            raise Unusual("other elements")
        length = found[2] - position
        if length != end - start or not self.same(start, end):
            self.differ[tag] = Element(*found)
        self.shift += length - (end - start)


def _element_at(
    data: bytes, position: int, end: int, implicit: bool
) -> tuple[int, tuple[int, int, int, bytes | None, bool]]:
    """Read the element at `position`: its tag, and its place as _walk() yields it."""
    if position + 8 > end:
        raise Unusual("cut short")
    value_start = position + 8
    vr = None
    if implicit:
        group, number, length = _IMPLICIT.unpack_from(data, position)
    else:
        group, number, vr, length = _TAG_VR_SHORT.unpack_from(data, position)
        if vr not in VRS:
            raise Unusual("unknown VR")
        if vr in LONG_VRS:
            if position + 12 > end:
                raise Unusual("cut short")
            length = _UINT32.unpack_from(data, position + 8)[0]
            value_start = position + 12
    if group == 0xFFFE:
        raise Unusual("delimiter out of place")
    if length == UNDEFINED:
        if vr not in (None, b"SQ"):
            raise Unusual("undefined length")  # encapsulated pixel data, UN
        element_end = _pass_sequence(data, value_start, end, implicit)
    else:
        element_end = value_start + length
        if element_end > end:
            raise Unusual("cut short")
    return group << 16 | number, (
        position,
        value_start,
        element_end,
        vr,
        length == UNDEFINED,
    )


def series_key(data: bytes) -> tuple[bytes, ...] | None:
    """The transfer syntax, PatientID, study and series UIDs as bytes; None if one lacks."""
    syntax, implicit, body, _meta = _head(data)
    found = {
        tag: data[element[1] : element[2]]
        for tag, element in _walk(data, body, len(data), implicit, SERIES_KEY[-1] + 1)
        if tag in SERIES_KEY
    }
    if len(found) < len(SERIES_KEY):
        return None
    return (syntax.encode(), *(found[tag] for tag in SERIES_KEY))


def _head(data: bytes) -> tuple[str, bool, int, dict[int, Element]]:
    """Read the preamble and file meta: transfer syntax, implicit VR, body, meta elements."""
    if len(data) < 144 or data[128:132] != b"DICM":
        raise Unusual("no Part-10 header")
    group, element, vr, length = _TAG_VR_SHORT.unpack_from(data, 132)
    if (group, element, vr, length) != (2, 0, b"UL", 4):
        raise Unusual("no file meta group length")
    body = 144 + _UINT32.unpack_from(data, 140)[0]
    if body > len(data):
        raise Unusual("cut short")
    meta = {tag: Element(*found) for tag, found in _walk(data, 144, body, False, None)}
    syntax = _meta_value(data, meta, TRANSFER_SYNTAX)
    syntax = (syntax or b"").rstrip(b"\x00 ").decode("ascii", "replace")
    if syntax not in SYNTAXES:
        raise Unusual("transfer syntax")
    return syntax, SYNTAXES[syntax], body, meta


def _walk(
    data: bytes,
    position: int,
    end: int,
    implicit: bool,
    stop: int | None,
    in_item: bool = False,
) -> Iterator[tuple[int, tuple[int, int, int, bytes | None, bool]]]:
    """Yield the tag and place of each element from `position`, in ascending order.

    Stops at `end`, at the first tag from `stop` on, or at the end of an item
    (`in_item`); returns where it stopped. A place is (start, value start, end, VR
    as written, undefined length), which Element(*place) names.
    """
    last = -1
    while position < end:
        if position + 4 > end:
            raise Unusual("cut short")
        group, number = _TAG.unpack_from(data, position)
        tag = group << 16 | number
        if in_item and tag == ITEM_END:
            return position + 8
        if stop is not None and tag >= stop:
            return position
        if tag <= last:
            raise Unusual("elements out of order")
        last = tag
        tag, found = _element_at(data, position, end, implicit)
        yield tag, found
        position = found[2]
    if in_item:
        raise Unusual("item not closed")
    return position


def _pass_sequence(data: bytes, position: int, end: int, implicit: bool) -> int:
    """Return where a sequence of undefined length ends, after its delimiter."""
    while True:
        if position + 8 > end:
            raise Unusual("cut short")
        group, number, length = _IMPLICIT.unpack_from(data, position)
        position += 8
        if (group, number) == (0xFFFE, 0xE0DD):
            return position
        if (group, number) != (0xFFFE, 0xE000):
            raise Unusual("no item")
        if length == UNDEFINED:
            items = _walk(data, position, end, implicit, None, in_item=True)
            position = _exhausted(items)
        else:
            position += length
            if position > end:
                raise Unusual("cut short")


def _exhausted(walk: Iterator[tuple[int, Element]]) -> int:
    """Run a walk to its end and return where it stopped."""
    while True:
        try:
            next(walk)
        except StopIteration as stopped:
            return stopped.value


def _meta_value(data: bytes, meta: dict[int, Element], tag: int) -> bytes | None:
    found = meta.get(tag)
    return None if found is None else data[found.value_start : found.end]


def per_slice_kind(parsed: Parsed, tag: int, template: Parsed) -> str | None:
    """What kind of per-slice value an element differing from the template's holds.

    "private" for a private element, "url" for an address de-identification
    removes by rule (deid.URL_VR), "number" for numbers (binary ones of the
    template's length; strings of digits that are valid IS or DS values), "pixels"
    for Pixel Data of the template's length, "uid" for one UID, "temporal" for one
    date or time that normalise_temporal_values() finds standard and so leaves as
    read without a word (a day from 1880 to today); None for
    anything that must not differ within a series: the file meta, the patient's
    module, identifiers, texts, person names, sequences, the image's size and
    layout, empty values.
    """
    value = parsed.value(tag)
    if not value or parsed.elements[tag].undefined:
        return None
    group = tag >> 16
    if group % 2:
        return "private"
    if group in (0x0002, 0x0010) or tag in _IDENTIFYING_TAGS:
        return None
    if _plan(tag).removed_by == Rule.URL:
        # Removed whatever it holds (a Retrieve URL naming each instance), and never
        # read as an identifier to screen for:
        return "url"
    if group == 0x0028 and tag not in PER_SLICE_PIXEL_TAGS:
        return None
    vr = parsed.vr(tag)
    if tag == PIXEL_DATA:
        return "pixels" if len(value) == len(template.value(tag)) else None
    if vr in BINARY_NUMBER_VRS:
        same_size = len(value) == len(template.value(tag))
        return (
            "number" if same_size and len(value) % BINARY_NUMBER_VRS[vr] == 0 else None
        )
    if vr in values.NUMBER_VRS:
        # Values that are no number (1A) are warned about by the slow path:
        if NUMBER_STRING.fullmatch(value) is None:
            return None
        return None if values.invalid_numbers(vr, value.decode("ascii")) else "number"
    if vr == "UI":
        return "uid" if UID_VALUE.fullmatch(value) else None
    if vr in values.CHECKS and TEMPORAL.fullmatch(value):
        checked = values.CHECKS[vr](temporal_text(value))
        if checked.status != values.OK:
            return None
        # A day before 1880 or in the future is warned about by the slow path:
        return None if values.refused_date(vr, checked.value) else "temporal"
    return None


def temporal_text(value: bytes) -> str:
    """A date or time as pydicom reads it, which strips trailing spaces only."""
    return value.rstrip(b" ").decode("ascii")


def header_may_differ(
    parsed: Parsed, tag: int, template: Parsed, facts: dict[int, str]
) -> bool:
    """Whether a file may be grouped like the template though this element differs.

    The SOP Instance UID, instance number and the series, acquisition and content
    dates and times are read from the file itself (header_facts); no other
    attribute that grouping, the patient or the study read (`facts`, by tag) may
    differ.
    """
    if tag == SOP_INSTANCE:
        return per_slice_kind(parsed, tag, template) == "uid"
    if tag == INSTANCE_NUMBER:
        return bool(INTEGER.fullmatch(parsed.value(tag)))
    if tag in (SOP_CLASS, *SERIES_KEY, *STUDY_DATE_TIME):
        return False
    kind = per_slice_kind(parsed, tag, template)
    if tag in facts:
        return kind == "temporal"
    return kind is not None


def uid_text(value: bytes) -> str:
    return value.rstrip(b"\x00 ").decode("ascii")


def header_facts(
    parsed: Parsed, tags: list[int], facts: dict[int, str]
) -> dict[str, str]:
    """The header facts (keywords by tag) of the differing tags, as _text() reads them."""
    found = {}
    for tag in tags:
        if tag == SOP_INSTANCE:
            found[facts[tag]] = uid_text(parsed.value(tag))
        elif tag == INSTANCE_NUMBER:
            found[facts[tag]] = parsed.value(tag).decode("ascii").strip()
        elif tag in facts:
            found[facts[tag]] = temporal_text(parsed.value(tag))
    return found


def encode_uid(tag: int, uid: str, implicit: bool) -> bytes:
    """One UI element, padded with a NUL to an even length, as pydicom writes it."""
    value = uid.encode("ascii")
    if len(value) % 2:
        value += b"\x00"
    if implicit:
        return _IMPLICIT.pack(tag >> 16, tag & 0xFFFF, len(value)) + value
    return _TAG_VR_SHORT.pack(tag >> 16, tag & 0xFFFF, b"UI", len(value)) + value


@dataclass
class SeriesTemplate:
    """A series' first stored file: its source, its de-identified copy, what was done."""

    project_code: str
    source: Parsed
    copy: Parsed
    decisions: Decisions
    sop_class_uid: str
    instance_number: int | None
    # The warnings de-identifying it gave (named after it):
    problems: list[Problem]
    # The hash input of each source element (sources._gather), by tag:
    hash_parts: dict[int, bytes]
    # What de-identification did with a tag whatever its value, worked out once:
    # "removed", "copied" (its bytes), "uid" (replaced by replacement_uid()), or None.
    _how: dict[int, str | None] = field(default_factory=dict)
    _joined_by_tags: dict[tuple[int, ...], _Joined] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        project_code: str,
        source: bytes,
        copy: bytes,
        content_sha256: str,
        decisions: Decisions,
        sop_class_uid: str,
        instance_number: int | None,
        problems: list[Problem],
    ) -> SeriesTemplate:
        """Read the first file and its copy; Unusual when the fast lane cannot follow it."""
        parsed = parse(source, header_only=False)
        template = cls(
            project_code,
            parsed,
            parse(copy, header_only=False),
            decisions,
            sop_class_uid,
            instance_number,
            problems,
            _hash_parts(parsed),
        )
        if template.copy.implicit != template.source.implicit:
            raise Unusual("the copy's encoding")
        # The hash input read from the bytes is pydicom's, element for element, or
        # the digest differs (an element pydicom reads otherwise, a value it converts):
        digest = hashlib.sha256(b"".join(template.hash_parts.values()))
        if digest.hexdigest() != content_sha256:
            raise Unusual("content hash")
        expected = encode_uid(
            MEDIA_SOP_INSTANCE,
            replacement_uid(
                project_code, uid_text(template.source.value(SOP_INSTANCE))
            ),
            implicit=False,
        )
        found = template.copy.meta.get(MEDIA_SOP_INSTANCE)
        if found is None or template.copy.data[found.start : found.end] != expected:
            raise Unusual("file meta of the copy")
        return template

    def how(self, tag: int) -> str | None:
        """What de-identification does with this tag in this series, whatever its value."""
        if tag not in self._how:
            self._how[tag] = self._work_out(tag)
        return self._how[tag]

    def _work_out(self, tag: int) -> str | None:
        kind = per_slice_kind(self.source, tag, self.source)
        if tag not in self.copy.elements:
            return "removed" if _plan(tag).removed_by is not None else None
        if kind in COPIED_KINDS and self.copy.raw(tag) == self.source.raw(tag):
            return "copied"
        if kind == "uid":
            new = replacement_uid(self.project_code, uid_text(self.source.value(tag)))
            if self.copy.raw(tag) == encode_uid(tag, new, self.copy.implicit):
                return "uid"
        return None

    def store_plan(self, parsed: Parsed) -> dict[int, str] | None:
        """Per differing tag, what to do with it; None unless every one is value-blind.

        `parsed` is a file compare()d with the template's source.
        """
        plan = {}
        for tag in parsed.elements:
            how = self.how(tag)
            kind = per_slice_kind(parsed, tag, self.source)
            if how is None or kind is None:
                return None
            if tag == INSTANCE_NUMBER and not INTEGER.fullmatch(parsed.value(tag)):
                return None
            if how == "uid" and kind != "uid":
                return None
            if how == "copied" and kind not in COPIED_KINDS:
                return None
            plan[tag] = how
        return plan

    def content_sha256(self, parsed: Parsed, plan: dict[int, str]) -> str:
        """The content hash of the file, as sources.content_sha256() computes it."""
        static = self._joined(tuple(plan)).hashed
        digest = hashlib.sha256(static[0])
        for tag, after in zip(plan, static[1:], strict=True):
            value = parsed.value(tag)
            digest.update(_HASH_HEAD.pack(tag, len(value)))
            digest.update(value)
            digest.update(after)
        return digest.hexdigest()

    def copy_of(
        self, parsed: Parsed, plan: dict[int, str], new_uid: str
    ) -> list[bytes | memoryview]:
        """The de-identified copy of the file, in pieces to write one after another.

        `new_uid` is replacement_uid() of its SOP Instance UID.
        """
        joined = self._joined(tuple(plan))
        media_uid = encode_uid(MEDIA_SOP_INSTANCE, new_uid, implicit=False)
        meta_length = len(joined.meta_before) + len(media_uid) + len(joined.meta_after)
        pieces: list[bytes | memoryview] = [
            joined.preamble,
            _TAG_VR_SHORT.pack(2, 0, b"UL", 4) + _UINT32.pack(meta_length),
            joined.meta_before,
            media_uid,
            joined.meta_after,
            joined.copied[0],
        ]
        for tag, after in zip(joined.written, joined.copied[1:], strict=True):
            if plan[tag] == "copied":
                pieces.append(parsed.raw(tag))
            else:
                new = (
                    new_uid
                    if tag == SOP_INSTANCE
                    else replacement_uid(self.project_code, uid_text(parsed.value(tag)))
                )
                pieces.append(encode_uid(tag, new, self.copy.implicit))
            pieces.append(after)
        return pieces

    def _joined(self, tags: tuple[int, ...]) -> _Joined:
        """The template's hash input and copy joined between these differing tags, once."""
        joined = self._joined_by_tags.get(tags)
        if joined is None:
            joined = self._joined_by_tags[tags] = _Joined.of(self, set(tags))
        return joined

    def sop_instance_uid(self, parsed: Parsed) -> str:
        """The file's own SOP Instance UID (the template's when they share it)."""
        differing = SOP_INSTANCE in parsed.elements
        return uid_text((parsed if differing else self.source).value(SOP_INSTANCE))

    def instance_number_of(self, parsed: Parsed, plan: dict[int, str]) -> int | None:
        if INSTANCE_NUMBER not in plan:
            return self.instance_number
        return int(parsed.value(INSTANCE_NUMBER).decode("ascii").strip())


@dataclass(frozen=True)
class _Joined:
    """A template's bytes joined between the tags in which a file differs from it.

    `hashed`: the hash input around the differing tags (one more than they are);
    `copied`: the copy's elements around those of them written in the copy
    (`written`, the removed ones left out), after the file meta, whose
    MediaStorageSOPInstanceUID lies between `meta_before` and `meta_after`.
    """

    hashed: list[bytes]
    preamble: bytes
    meta_before: bytes
    meta_after: bytes
    written: list[int]
    copied: list[bytes]

    @classmethod
    def of(cls, template: SeriesTemplate, tags: set[int]) -> _Joined:
        hashed = _split(template.hash_parts.items(), tags)
        copy = template.copy
        written = [tag for tag in copy.elements if tag in tags]
        copied = _split(((tag, copy.raw(tag)) for tag in copy.elements), tags)
        meta = [(tag, copy.data[m.start : m.end]) for tag, m in copy.meta.items()]
        at = [tag for tag, _ in meta].index(MEDIA_SOP_INSTANCE)
        return cls(
            hashed,
            copy.data[:132],
            b"".join(part for _, part in meta[:at]),
            b"".join(part for _, part in meta[at + 1 :]),
            written,
            copied,
        )


def _split(
    parts: Iterable[tuple[int, bytes | memoryview]], tags: set[int]
) -> list[bytes]:
    """Join the parts between those of the tags, which are left out."""
    runs: list[bytes] = []
    run: list[bytes | memoryview] = []
    for tag, part in parts:
        if tag in tags:
            runs.append(b"".join(run))
            run = []
        else:
            run.append(part)
    runs.append(b"".join(run))
    return runs


def _hash_parts(parsed: Parsed) -> dict[int, bytes]:
    """The hash input of each element, as sources.content_sha256() feeds it, by tag.

    pydicom keeps a value of defined length raw, and _gather() hashes its bytes; an
    empty value, a sequence of undefined length and the Specific Character Set it
    converts, so those elements are read by pydicom, on their own.
    """
    parts: dict[int, bytes] = {}
    converted = []
    for tag, found in parsed.elements.items():
        if found.undefined or found.end == found.value_start or tag == CHARACTER_SET:
            converted.append(tag)
            parts[tag] = b""  # keeps its place; filled in below
        else:
            value = parsed.data[found.value_start : found.end]
            parts[tag] = _HASH_HEAD.pack(tag, len(value)) + value
    if not converted:
        return parts

    raw = b"".join(parsed.raw(tag) for tag in converted)
    ds = read_elements(BytesIO(raw), parsed.implicit, True)
    ds.get(CHARACTER_SET)  # converted in place, as dcmread() reads it to decode texts
    for tag in converted:
        one = Dataset()
        one._dict[tag] = ds._dict[tag]
        gathered: list[bytes] = []
        _gather(one, gathered)
        parts[tag] = b"".join(gathered)
    return parts
