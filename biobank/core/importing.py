"""Shared vocabulary of the importers: problems named by file, row and field, and reports."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path

from biobank.core.validation import InvalidValue, check_text

_FORMATTER = string.Formatter()


class Message(str):
    """A message in the importer's own words whose fields were taken from the input.

    Message("has another PatientID than {file}; not imported.", file=name) reads as
    str.format() does, and remembers which parts are fields: values, file names and
    what a library said, which may quote a patient's name. Screens that keep
    identifiers out of messages (radiomics.importers.deid.IdentifierScreen) look at
    the fields only, so the wording survives a patient named like one of its words.
    Every field counts as input, numbers too; a field that is a Message keeps its own
    split, and Message.own() marks text the importer made itself (a keyword list, a
    UID's dictionary name). A plain str counts as input all through.
    """

    # The text in order, each part with whether it was taken from the input:
    parts: tuple[tuple[str, bool], ...]

    def __new__(cls, template: str, /, **fields: object) -> Message:
        parts: list[tuple[str, bool]] = []
        for literal, name, spec, conversion in _FORMATTER.parse(template):
            parts.append((literal, False))
            if name is None:
                continue
            value = fields[name]
            if isinstance(value, Message) and not spec and not conversion:
                parts += value.parts
            else:
                value = _FORMATTER.convert_field(value, conversion)
                parts.append((format(value, spec or ""), True))
        return cls.from_parts(parts)

    @classmethod
    def own(cls, text: object) -> Message:
        """Return the text as the importer's own words, braces and all."""
        return cls.from_parts([(str(text), False)])

    @classmethod
    def from_parts(cls, parts: Iterable[tuple[str, bool]]) -> Message:
        """Return the message of these (text, taken from the input) parts, in order."""
        joined = tuple(
            ("".join(text for text, _ in run), is_input)
            for is_input, run in groupby(
                (part for part in parts if part[0]), key=lambda part: part[1]
            )
        )
        message = super().__new__(cls, "".join(text for text, _ in joined))
        message.parts = joined
        return message

    def __reduce__(self) -> tuple:
        # Copies and pickles are rebuilt from the parts, not parsed as a template:
        return type(self).from_parts, (self.parts,)


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or assumed) in an input, located as precisely as the input allows.

    `source` and `value` come from the input; so does `message` unless it is a Message,
    which keeps the importer's wording apart from what it quotes of the input.
    """

    source: str
    message: str
    row: int | None = None
    field: str = ""
    value: str = ""
    code: str = ""

    def __str__(self) -> str:
        where = [self.source]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field:
            where.append(f"field {self.field}")
        value = f" (value {self.value!r})" if self.value else ""
        return f"{', '.join(where)}: {self.message}{value}"


class ImportRejected(Exception):
    """The file was not imported at all; `problems` says why, row by row.

    `warnings` are what the importer assumed before it gave up (a spreadsheet serial
    left empty, say): they often explain a problem, so commands print them too.
    """

    def __init__(
        self, problems: list[Problem], warnings: list[Problem] | None = None
    ) -> None:
        self.problems = problems
        self.warnings = warnings or []
        super().__init__("\n".join(str(p) for p in problems))


REDACTED = "[redacted]"
# The digits of an ID (0048213 of MRN0048213) are screened alone from this many on:
_SHORTEST_DIGITS = 5
_DIGITS = re.compile(r"\d+")


class SourceScreen:
    """The source patient identifiers one table import met, kept out of what it reports.

    An export names its files after the patient (MRN0048213_tumor.vcf), so the name
    of a file is screened, with every message that quotes it, before it is stored
    (ImportRun, DataIssue), printed or logged: `add` the identifiers given on the
    command line and read from the rows, then `redact`. An identifier goes where it
    stands as a whole token (between anything but letters and digits, as in
    ctc_SYN-0071_SYN-0072.csv), case ignored; its digits alone too when five or more
    (0048213.vcf). A short ID (7) thus leaves ct7.csv alone.

    NB: DICOM ingest screens with radiomics.importers.deid.IdentifierScreen, which
    also knows the patient's names from the headers; the tables name no one, and
    this module may not import an app, so this screen knows identifiers only.
    """

    def __init__(self, identifiers: Iterable[str] = ()) -> None:
        self._identifiers: set[str] = set()
        self._patterns: dict[bool, re.Pattern[str]] = {}
        self.add(*identifiers)

    def add(self, *identifiers: str | None) -> None:
        for identifier in identifiers:
            text = (identifier or "").strip()
            if not text or text.casefold() in self._identifiers:
                continue
            self._identifiers.add(text.casefold())
            self._identifiers.update(
                digits
                for digits in _DIGITS.findall(text)
                if len(digits) >= _SHORTEST_DIGITS
            )
            self._patterns.clear()

    def redact(self, text: str, short_numbers: bool = True) -> str:
        """Return `text` with every identifier of the screen as "[redacted]".

        Without `short_numbers`, an ID of one to three digits alone (patient 12 of a
        study) is left: in a message it would blank the 12 of 2026-12-05 and of
        "row 12", while a file name (ctc_12.csv) is screened for it.
        """
        if not self._identifiers or not text:
            return text
        if short_numbers not in self._patterns:
            words = [
                word
                for word in self._identifiers
                if short_numbers or not (word.isdigit() and len(word) < 4)
            ]
            if not words:
                return text
            # Longest first, so that MRN0048213_T goes whole before MRN0048213:
            alternatives = "|".join(
                re.escape(word) for word in sorted(words, key=len, reverse=True)
            )
            self._patterns[short_numbers] = re.compile(
                rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.IGNORECASE
            )
        return self._patterns[short_numbers].sub(REDACTED, text)

    def redact_problem(self, problem: Problem) -> Problem:
        """Return the problem with its file name, message and value screened."""
        return replace(
            problem,
            source=self.redact(problem.source),
            message=self.redact(problem.message, short_numbers=False),
            value=self.redact(problem.value, short_numbers=False),
        )


# The importers count records by plural nouns; the singular of most drops an "s"
# ("patients") or turns "ies" into "y" ("studies"), but not of these:
SINGULARS = {
    "series": "series",
    "image series": "image series",
    "links to a series": "link to a series",
}


def counted(n: int, kind: str) -> str:
    """Return `n` records of `kind`, a plural noun, in words: "1 study", "2 studies"."""
    if n != 1:
        return f"{n} {kind}"
    if kind in SINGULARS:
        return f"1 {SINGULARS[kind]}"
    if kind.endswith("ies"):
        return f"1 {kind.removesuffix('ies')}y"
    return f"1 {kind.removesuffix('s')}"


def units_in_words(units: dict[str, int]) -> str:
    """Return counts of units in words: "3 image series and 1 segmentation object"."""
    named = [counted(n, kind) for kind, n in units.items() if n]
    if len(named) < 2:
        return "".join(named) or "nothing"
    return ", ".join(named[:-1]) + f" and {named[-1]}"


# Rejections and warnings a command prints of each, before counting the rest:
PRINTED_PROBLEMS = 50


def printed_lines(problems: list[Problem], prefix: str, kind: str) -> list[str]:
    """Return a line per problem for a command to print, the first PRINTED_PROBLEMS only.

    A MAF of 2,000 samples missing from its sample map printed 2,000 lines; the rest
    are counted in one line.
    """
    lines = [f"{prefix}{problem}" for problem in problems[:PRINTED_PROBLEMS]]
    if len(problems) > PRINTED_PROBLEMS:
        lines.append(
            f"  ... {len(problems) - PRINTED_PROBLEMS} more {kind}, not printed; "
            "the import run's issues in the admin list them."
        )
    return lines


@dataclass
class ImportReport:
    """What one importer run did; printed by the management commands."""

    source: str
    created: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    rejected: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # The patients' identifiers met so far; what the report prints passes through it:
    screen: SourceScreen = field(
        default_factory=SourceScreen, repr=False, compare=False
    )

    def count(self, kind: str, n: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + n

    def screen_patients(
        self,
        table: Iterable[tuple[int, dict[str, str]]],
        columns: Iterable[str],
        missing: set[str],
    ) -> None:
        """Add the table's patient identifiers to the screen, before any check.

        A file rejected whole (a bad column) is named in its issues screened for its
        rows' patients too, not only for those the import got to look up. `missing`
        holds the words of no value (NA and the like), which are no identifier and
        would blank every NA of a message.
        """
        rows = list(table)
        for name in columns:
            identifiers = (cells.get(name, "") for _, cells in rows)
            self.screen.add(
                *(text for text in identifiers if text.upper() not in missing)
            )

    def forget_stored(self) -> None:
        """Forget what was counted as stored: the transaction that stored it rolled back."""
        self.created = {}
        self.duplicates = 0

    def rejected_count(self) -> int:
        """Return how many rows (files) were rejected: one a problem here."""
        return len(self.rejected)

    def made(self) -> str:
        """Return what was created, in words: "1 patient, 2 studies", or "nothing"."""
        return (
            ", ".join(counted(n, kind) for kind, n in sorted(self.created.items()))
            or "nothing"
        )

    def summary(self) -> str:
        lines = [
            f"{self.source}: created {self.made()}; {self.duplicates} already present; "
            f"{self.rejected_count()} rejected; {counted(len(self.warnings), 'warnings')}."
        ]
        lines += printed_lines(self.rejected, "  rejected: ", "rejected")
        lines += printed_lines(self.warnings, "  warning: ", "warnings")
        return self.screen.redact("\n".join(lines))

    def as_dict(self) -> dict:
        return {
            "created": self.created,
            "duplicates": self.duplicates,
            "rejected": [self.screen.redact(str(p)) for p in self.rejected],
            "warnings": [self.screen.redact(str(p)) for p in self.warnings],
        }

    def source_name(self, path: Path) -> str:
        """Return the file's name as runs, issues and logs give it: screened."""
        return self.screen.redact(path.name)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: Path) -> str:
    """Return the file's text; refuse an empty, oversized, binary or non-UTF-8 file."""
    # NB: imported here because safefiles builds on this module's Problem.
    from biobank.core.safefiles import decode_utf8, read_text_bytes

    return decode_utf8(path.name, read_text_bytes(path))


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Read a CSV or TSV file into (header, rows); rows carry their 1-based line number.

    The header is line 1, so the first data row is line 2. Cells are stripped; the
    delimiter is a tab when the header has tabs and no commas, else a comma. Old Mac
    line endings (CR only) are accepted.
    """
    text = read_text(path)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first and "," not in first else ","

    # strict: a quote left open or stray text after a closing quote is an error, not
    # a cell silently swallowing the rest of the line.
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)

    def broken(error: csv.Error) -> ImportRejected:
        return ImportRejected(
            [
                Problem(
                    path.name,
                    f"is not well-formed CSV there ({error}); check its quotes.",
                    row=reader.line_num,
                )
            ]
        )

    try:
        header = [cell.strip() for cell in next(reader)]
    except StopIteration:
        raise ImportRejected(
            [Problem(path.name, "is empty; a header row is needed.")]
        ) from None
    except csv.Error as error:
        raise broken(error) from None
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        raise ImportRejected(
            [
                Problem(
                    path.name, "names this column twice; keep one.", row=1, field=name
                )
                for name in repeated
            ]
        )

    problems = control_characters(
        path.name, [(1, dict(zip(header, header, strict=False)))]
    )
    if problems:
        raise ImportRejected(problems)

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        # Control characters are listed once every row is read, all at once:
        problems: list[Problem] = []
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                if problems:
                    raise ImportRejected(problems) from None
                return
            except csv.Error as error:
                raise broken(error) from None
            line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if any(cell.strip() for cell in cells[len(header) :]):
                raise ImportRejected(
                    [
                        Problem(
                            path.name,
                            f"has {len(cells)} cells where the header names "
                            f"{len(header)} columns; a separator or quote is misplaced.",
                            row=line,
                        )
                    ]
                )
            row = {
                name: (cells[i].strip() if i < len(cells) else "")
                for i, name in enumerate(header)
            }
            problems += control_characters(path.name, [(line, row)])
            yield line, row

    return header, rows()


def control_characters(
    source: str, table: list[tuple[int, dict[str, str]]]
) -> list[Problem]:
    """Return a problem for each cell holding a NUL or another control character but tab."""
    problems = []
    for line, cells in table:
        for name, text in cells.items():
            try:
                check_text(text)
            except InvalidValue as exc:
                problems.append(
                    Problem(
                        source,
                        str(exc),
                        row=line,
                        field=printable(name),
                        code=exc.code,
                    )
                )
    return problems


def printable(text: str) -> str:
    """Return `text` with each control character but tab written as "?" (a column name)."""
    return "".join(
        "?" if character != "\t" and not character.isprintable() else character
        for character in text
    )


def require_columns(source: str, header: list[str], needed: list[str]) -> None:
    missing = [name for name in needed if name not in header]
    if missing:
        raise ImportRejected(
            [
                Problem(
                    source,
                    f"the required column {name!r} is missing{missing_hint(name, header)}.",
                    row=1,
                    field=name,
                )
                for name in missing
            ]
        )


def missing_hint(name: str, header: list[str]) -> str:
    """Return what a header has instead of a missing column: a near name, or a separator."""
    wanted = normalised(name)
    near = [given for given in header if normalised(given) == wanted]
    if near:
        return (
            f"; the header has {near[0]!r}, which differs only in case or spacing: "
            f"rename it {name!r}"
        )
    if len(header) == 1:
        for separator in (";", "|"):
            if separator in header[0]:
                return (
                    f"; the file seems to be separated by {separator!r}: save it "
                    "with commas or tabs"
                )
    return ""


def normalised(name: str) -> str:
    """Return a column name in lower case, with spaces and hyphens as one underscore."""
    return re.sub(r"[\s\-_]+", "_", name.strip().lower())


# Values per IN (...) look-up, below SQLite's 999 parameters:
LOOKUP_CHUNK = 500


def chunks(items: list, size: int = LOOKUP_CHUNK) -> Iterator[list]:
    """The items in lists of `size`, for look-ups of many keys in IN (...)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
