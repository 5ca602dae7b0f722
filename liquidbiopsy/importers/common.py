"""What every lab importer shares: patients, draw dates, fraction columns, calls and the run."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.db import models
from django.utils import timezone

from biobank.core.dates import parse_date_column, parse_datetime_cell
from biobank.core.importing import (
    ImportRejected,
    ImportReport,
    Problem,
    control_characters,
    counted,
    printable,
)
from biobank.core.importing import require_columns as base_require_columns
from biobank.core.validation import (
    InvalidValue,
    check_date_text,
    check_not_future,
    longer_than_message,
)
from biobank.core.wording import give
from liquidbiopsy.hgvs import HGVSError, ascii_digits_and_dashes, parse_protein_change
from liquidbiopsy.models import BloodSample, sample_id_taken_message
from liquidbiopsy.validation import (
    CALL_WORDS,
    DRAW_REQUIRED,
    FRACTION,
    PERCENT,
    check_draw_after_birth,
    check_fraction,
    has_percent_sign,
    read_decimal,
    read_signed_decimal,
)
from patients.importers.cells import CellScreen
from patients.importers.runs import RunLinks, _record_issues, recorded_import, screened
from patients.models import DataIssue, Patient, Project
from patients.services import find_patient, pseudonymise

MISSING = {"", "NA", "N/A", "NULL", "NONE", "-", "."}
UNITS = (PERCENT, FRACTION)

_UNIT_WORDS = {
    "percent": PERCENT,
    "%": PERCENT,
    "pct": PERCENT,
    "fraction": FRACTION,
    "frac": FRACTION,
    "ratio": FRACTION,
}


@dataclass
class LabReport(ImportReport):
    """An ImportReport that counts rows: imported, rejected one by one, or already stored."""

    rows_imported: int = 0
    # Variants stored before without a dbSNP ID that a MAF or VCF gave theirs:
    dbsnp_ids_filled: int = 0
    # The draws this file made, by id: the row that made each (sample_id_taken):
    draws_made: dict[int, int] = field(default_factory=dict)

    def sample_id_taken(self, other: BloodSample) -> str:
        """Why a row's lab sample ID, which draw `other` carries, is refused.

        A draw this file made is named by its row, not by its id and pseudonym: a
        file refused whole stores neither, and they would name no record.
        """
        line = self.draws_made.get(other.pk)
        if line is None:
            return sample_id_taken_message(other)
        return (
            f"is the lab sample ID of the draw of row {line} of this file, of another "
            "patient or day. A lab sample ID names one tube: correct the ID of one of "
            "the draws, or, if both are the same draw, give them the same patient and "
            "date."
        )

    @property
    def rows_rejected(self) -> int:
        return len({p.row for p in self.rejected if p.row is not None and p.row > 1})

    def forget_stored(self) -> None:
        super().forget_stored()
        self.rows_imported = 0
        self.dbsnp_ids_filled = 0

    def summary(self) -> str:
        filled = ""
        if self.dbsnp_ids_filled:
            filled = (
                f"; filled in the dbSNP ID of "
                f"{counted(self.dbsnp_ids_filled, 'stored variants')}"
            )
        head = (
            f"{self.source}: {counted(self.rows_imported, 'rows')} imported and "
            f"{self.rows_rejected} rejected; {counted(self.duplicates, 'duplicates')} "
            f"skipped{filled}; created {self.made()}; "
            f"{counted(len(self.warnings), 'warnings')}."
        )
        # The base summary's first line counts problems, not rows; the rest lists them:
        lines = [self.screen.redact(head), *super().summary().splitlines()[1:]]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return super().as_dict() | {
            "rows_imported": self.rows_imported,
            "rows_rejected": self.rows_rejected,
            "dbsnp_ids_filled": self.dbsnp_ids_filled,
        }


@contextmanager
def recorded_lab_import(
    project: Project, importer: str, path: Path, report: LabReport, user=None
) -> Iterator[RunLinks]:
    """Run the body as one recorded import (patients.importers.runs), rows rejected one by one.

    A body that raises ImportRejected stores nothing. Rows the body put into
    `report.rejected` are not stored either, and each becomes an error DataIssue of
    the run while the good rows are kept.
    """
    with recorded_import(project, importer, path, report, user) as links:
        yield links
        # NB: recorded_import writes error issues only for a rejected file:
        report.rejected = screened(report, report.rejected)

    if report.rejected:
        _record_issues(
            links.run, project, report.rejected, DataIssue.Severity.ERROR, links
        )


def screen_patients(
    report: ImportReport, table: list[tuple[int, dict[str, str]]], *columns: str
) -> None:
    """Add the table's patient identifiers to the report's screen, before any check."""
    report.screen_patients(table, columns or ("patient_id",), MISSING)


# A coding DNA change in HGVS notation: an accession perhaps, then c., positions
# (offsets, ranges, uncertain ones) and an edit of bases; no other letters:
_CDNA_NOTATION = re.compile(
    r"^(?:[A-Z]{2,4}_?\d+(?:\.\d+)?:)?c\.[-*]?[\d?()_+*-]+"
    r"(?:[ACGTN]+>[ACGTN]+|(?:del|dup|ins|delins|inv)[ACGTN\d]*|=)?$"
)


def is_variant_notation(text: str) -> bool:
    """Whether a change cell is HGVS the importers read: a protein change
    (p.Y221D, G12C) or a coding DNA one (c.35G>A), whose numbers are positions.

    Such a cell is stored as read, and its ID-like parts (221D) are no patient's;
    a cell that is no such notation is stored as written and is screened."""
    text = ascii_digits_and_dashes(text).strip()
    if not text:
        return False
    if _CDNA_NOTATION.match(text):
        return True
    try:
        parse_protein_change(text)
    except HGVSError:
        return False
    return True


def screen_cells(
    report: ImportReport,
    problems: RowProblems,
    table: list[tuple[int, dict[str, str]]],
    project: Project,
    refused: tuple[str, ...] = (),
    redacted: tuple[str, ...] = (),
    id_column: str = "patient_id",
) -> None:
    """Screen the rows' free-text cells for source patient IDs (CellScreen).

    An ID in a `refused` column is the row's problem; one in a `redacted` column is
    replaced in `table`, with a warning. `id_column` holds each row's source ID.
    """
    screen = CellScreen(problems.source, project)
    screen.add_patients(
        cells.get(id_column, "")
        for _, cells in table
        if cells.get(id_column, "").upper() not in MISSING
    )
    errors, warnings = screen.screen_table(
        table,
        id_column,
        refused,
        redacted,
        problems.column_of,
        well_formed=lambda _column, text: is_variant_notation(text),
    )
    problems.extend(errors)
    report.warnings += warnings


class RowProblems:
    """The problems of a table, by line, for rows that are rejected one by one.

    `column_of` names the file's column behind a field, when the file calls it otherwise.
    """

    def __init__(self, source: str, column_of: dict[str, str] | None = None) -> None:
        self.source = source
        self.column_of = column_of or {}
        self.problems: list[Problem] = []
        self._lines: set[int] = set()

    def add(
        self, line: int, name: str, message: str, value: str = "", code: str = ""
    ) -> None:
        field_name = self.column_of.get(name, name)
        self.problems.append(
            Problem(
                self.source, message, row=line, field=field_name, value=value, code=code
            )
        )
        self._lines.add(line)

    def extend(self, problems: list[Problem]) -> None:
        """Add problems whose field already names the file's column."""
        self.problems += problems
        self._lines.update(p.row for p in problems if p.row is not None)

    def has(self, line: int) -> bool:
        return line in self._lines

    def sorted(self) -> list[Problem]:
        return sorted(self.problems, key=lambda p: (p.row or 0, p.field))


class PatientLookup:
    """Find the patient of a source identifier; create it only when asked to.

    A patient it creates is counted in `report`, as the import's other records are.
    """

    def __init__(
        self, project: Project, report: ImportReport, create: bool = False
    ) -> None:
        self.project = project
        self.report = report
        self.create = create
        self._found: dict[str, Patient | None] = {}

    def __call__(self, source_id: str) -> Patient | None:
        # Whether found or not, the identifier stays out of the file's reported name:
        self.report.screen.add(source_id)
        if source_id not in self._found:
            if self.create:
                patient, created = pseudonymise(self.project, source_id)
                if created:
                    self.report.count("patients")
                self._found[source_id] = patient
            else:
                self._found[source_id] = find_patient(self.project, source_id)
        return self._found[source_id]

    def check(
        self, problems: RowProblems, line: int, source_id: str, name: str = "patient_id"
    ) -> Patient | None:
        """Return the patient, or record the row's problem (never the identifier itself).

        Call it last for a row: a row with other problems creates no patient.
        """
        if self.create and problems.has(line):
            return None
        if source_id.upper() in MISSING:
            problems.add(
                line, name, "is empty; every row needs the source patient identifier."
            )
            return None
        patient = self(source_id)
        if patient is None:
            problems.add(
                line,
                name,
                f"names no patient of project {self.project.code}; import the clinical "
                f"table first, or {give('create_patients')}.",
                code="unknown-patient",
            )
        return patient


@dataclass
class Draw:
    """When blood was drawn: an aware moment and whether its time of day is known."""

    drawn_at: dt.datetime
    is_time_known: bool

    @classmethod
    def on(cls, day: dt.date) -> Draw:
        return cls(timezone.make_aware(dt.datetime.combine(day, dt.time())), False)


def read_draws(
    source: str,
    name: str,
    cells: dict[int, str],
    problems: RowProblems,
    warnings: list[Problem],
    date_order: str | None = None,
) -> dict[int, Draw]:
    """Read a draw date (or date and time) column; return the draws of the good rows.

    One day/month order holds for the whole column (biobank.core.dates); a column
    that proves none rejects the file. A missing, future or implausibly early draw
    (biobank.core.validation.check_not_future), or a time that is no time
    (2024-08-06T25:00:00Z), is the row's problem.
    NB: a time of exactly 00:00:00 (2015-04-08T00:00:00Z) is how exports write a bare
    date, so it is read as a date without a time.
    """
    column = parse_date_column(source, name, cells, declared_order=date_order)
    if column.errors and all(p.row is None for p in column.errors):
        raise ImportRejected(column.errors)
    for problem in column.errors:
        problems.add(
            problem.row or 0, name, problem.message, problem.value, problem.code
        )
    warnings.extend(column.warnings)

    # A date left empty as a spreadsheet serial is missing; the row says why:
    serials = {p.row for p in column.warnings if p.code == "excel-serial-date"}
    draws = {}
    for line, text in cells.items():
        day = column.values.get(line)
        if problems.has(line):
            continue
        if day is None and line in serials:
            problems.add(
                line,
                name,
                "is required; this value looks like a spreadsheet serial number, not "
                "a date (see the warning): give the draw date as YYYY-MM-DD.",
                text,
                code="excel-serial-date",
            )
            continue
        if day is None:
            problems.add(line, name, DRAW_REQUIRED, text)
            continue
        try:
            check_not_future(day)
            check_date_text(text)
        except InvalidValue as exc:
            problems.add(line, name, str(exc), text, code=exc.code)
            continue
        parsed = parse_datetime_cell(text, column.order)
        if parsed is None or parsed[0].time() == dt.time() or not parsed[1]:
            draws[line] = Draw.on(day)
        else:
            draws[line] = Draw(*parsed)
    return draws


def check_lengths(
    problems: RowProblems,
    line: int,
    model: type[models.Model],
    values: dict[str, object],
    column_of: dict[str, str] | None = None,
) -> None:
    """Record the row's problem for each text longer than its model field holds.

    `column_of` names the file's column of a model field that it calls otherwise.
    """
    for name, value in values.items():
        max_length = getattr(model._meta.get_field(name), "max_length", None)
        if isinstance(value, str) and max_length and len(value) > max_length:
            column = (column_of or {}).get(name, name)
            problems.add(line, column, longer_than_message(max_length), value[:40])


def check_draw_of_patient(
    problems: RowProblems, line: int, name: str, patient: Patient, draw: Draw
) -> None:
    """Record the row's problem when its blood was drawn before the patient was born."""
    try:
        check_draw_after_birth(patient.birth_year, timezone.localdate(draw.drawn_at))
    except InvalidValue as exc:
        problems.add(line, name, str(exc), code=exc.code)


def declared_unit(
    source: str, name: str, cells: dict[int, str], declarations: dict[str, str | None]
) -> str | None:
    """Return the one unit a fraction column is declared in, or None if undeclared.

    `declarations` maps where a unit was declared (an option, a unit column, the
    header) to the unit; a % sign in any cell declares percent for the whole column.
    Raises ImportRejected when two declarations disagree.
    """
    found = {where: unit for where, unit in declarations.items() if unit}
    signed = next(
        (line for line, text in cells.items() if has_percent_sign(text)), None
    )
    if signed is not None:
        found[f"the % sign on line {signed}"] = PERCENT
        if len(found) == 1:
            _refuse_unsigned_beside_signed(source, name, cells, signed)
    if len(set(found.values())) > 1:
        said = "; ".join(f"{where} says {unit}" for where, unit in found.items())
        raise ImportRejected(
            [
                Problem(
                    source,
                    f"the unit of this column is contradictory ({said}); make them agree.",
                    row=1,
                    field=name,
                    code="unit-contradiction",
                )
            ]
        )
    return next(iter(found.values()), None)


def _refuse_unsigned_beside_signed(
    source: str, name: str, cells: dict[int, str], signed: int
) -> None:
    """Refuse a value of 0 to 1 without % sign in a column only the sign declares percent.

    Beside 5%, a bare 0.05 may be a fraction or 0.05 %: read as percent it would be a
    hundred times smaller than meant, so nothing guesses.
    """
    for line, text in cells.items():
        text = text.strip()
        try:
            number = read_decimal(text)
        except ValueError:
            continue  # a % sign, a call, or no number: read_fraction_column() says
        if 0 < number <= 1:
            raise ImportRejected(
                [
                    Problem(
                        source,
                        f"holds values with a % sign (row {signed}: "
                        f"{cells[signed].strip()}) and a value of 0 to 1 without one, "
                        "which may be a fraction or a percentage; write every value "
                        "of the column the same way.",
                        row=line,
                        field=name,
                        value=text,
                        code="unit-contradiction",
                    )
                ]
            )


def unit_of_column(source: str, name: str, values: dict[int, str]) -> str | None:
    """Return the one unit a unit column (vaf_unit) gives for all its rows, or None."""
    units: dict[str, int] = {}
    for line, text in values.items():
        if text.upper() in MISSING:
            continue
        unit = _UNIT_WORDS.get(text.strip().lower())
        if unit is None:
            raise ImportRejected(
                [
                    Problem(
                        source,
                        f"must be one of {', '.join(UNITS)}.",
                        row=line,
                        field=name,
                        value=text,
                    )
                ]
            )
        units.setdefault(unit, line)
    if len(units) > 1:
        raise ImportRejected(
            [
                Problem(
                    source,
                    "gives both percent and fraction; the unit holds for the whole column, never per value.",
                    row=max(units.values()),
                    field=name,
                    code="unit-contradiction",
                )
            ]
        )
    return next(iter(units), None)


@dataclass
class FractionColumn:
    """The values of a VAF-like column as fractions 0..1, and the calls some cells state."""

    values: dict[int, float | None] = field(default_factory=dict)
    calls: dict[int, str] = field(default_factory=dict)


def read_fraction_column(
    source: str,
    name: str,
    cells: dict[int, str],
    problems: RowProblems,
    unit: str | None,
    check: Callable[[Decimal, str | None], float] = check_fraction,
) -> FractionColumn:
    """Read a VAF (or tumour fraction, or limit of detection) column as fractions.

    The VAF rule: a column is a fraction unless declared percent (see declared_unit);
    the decision is per column, never per value. An undeclared column holding a value
    above 1 rejects the file, asking to declare the unit; a value above 100 % (or 1 in
    a declared fraction column) or below 0 rejects the file too. Cells such as "not
    detected" or "below LOD" are calls with no value, never 0. Other text is the
    row's problem. `check` reads each number (a limit of detection's own rule).
    """
    column = FractionColumn()
    numbers: dict[int, Decimal] = {}
    for line, raw in cells.items():
        text = raw.strip()
        word = CALL_WORDS.get(text.lower())
        if text.upper() in MISSING or word is not None:
            column.values[line] = None
            if word is not None:
                column.calls[line] = word
            continue
        try:
            numbers[line] = read_signed_decimal(text)[0]
        except ValueError:
            problems.add(
                line, name, "is not a number (or a call such as 'not detected').", text
            )

    wrong = []
    for line, number in numbers.items():
        try:
            column.values[line] = check(number, unit)
        except InvalidValue as exc:
            wrong.append(
                Problem(
                    source,
                    str(exc),
                    row=line,
                    field=name,
                    value=cells[line].strip(),
                    code=exc.code,
                )
            )
    if wrong:
        raise ImportRejected(wrong)
    return column


def require_columns(
    source: str, header: list[str], needed: list[tuple[str, ...]]
) -> None:
    """Reject the file unless the header has one column of each group of alternatives."""
    missing = [names[0] for names in needed if not set(names) & set(header)]
    if missing:
        base_require_columns(source, header, missing)


def warn_unknown_columns(
    source: str, header: list[str], known: set[str], report: ImportReport
) -> None:
    for name in header:
        if name not in known:
            report.warnings.append(
                Problem(
                    source,
                    "is not a column of this import; it was ignored.",
                    row=1,
                    field=name,
                    code="unknown-column",
                )
            )


def control_characters_of_lines(
    source: str, lines: list[tuple[int, str]]
) -> list[Problem]:
    """Return a problem for each tab-separated cell (MAF, VCF) holding a control character.

    A cell is named by the column of the header line (#CHROM, or the first line not
    a comment), else by its number.
    """
    header: list[str] = []
    table = []
    for number, line in lines:
        cells = line.split("\t")
        if line.startswith("#CHROM") or (
            not header and line.strip() and not line.startswith("#")
        ):
            header = [printable(name.lstrip("#")) for name in cells]
        names = [
            header[i] if i < len(header) else f"column {i + 1}"
            for i in range(len(cells))
        ]
        table.append((number, dict(zip(names, cells, strict=True))))
    return control_characters(source, table)


def reject_if_any(problems: list[Problem]) -> None:
    if problems:
        raise ImportRejected(sorted(problems, key=lambda p: (p.row or 0, p.field)))
