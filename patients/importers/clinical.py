"""Import clinical tables: patients, treatments and events, and the Lung1 clinical table."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path

from django.utils import timezone

from biobank.core.dates import ORDERS, DateColumn, parse_date_column
from biobank.core.importing import (
    ImportRejected,
    ImportReport,
    Problem,
    read_table,
    require_columns,
)
from biobank.core.validation import (
    InvalidValue,
    check_date_text,
    check_not_future,
    choice_message,
    longer_than_message,
)
from biobank.core.wording import give
from patients.importers.cells import CellScreen
from patients.importers.runs import RunLinks, recorded_import
from patients.models import CancerType, ClinicalEvent, Patient, Project, Sex, Treatment
from patients.services import find_patient, pseudonymise
from patients.validation import (
    CANCER_TYPES,
    DATE_REQUIRED,
    EVENT_KINDS,
    RECIST,
    SEXES,
    TREATMENT_KINDS,
    birth_after_record_message,
    check_after_birth,
    check_age_at_diagnosis,
    check_birth_year,
    check_diagnosis_after_birth,
    check_end_after_start,
    check_overall_survival_days,
    check_source_id,
    check_treatment_line,
    earliest_records_before,
    find_same_treatment,
)

logger = logging.getLogger(__name__)

PATIENTS, TREATMENTS, EVENTS = "patients", "treatments", "events"
KINDS = (PATIENTS, TREATMENTS, EVENTS)
STANDARD, LUNG1 = "standard", "lung1"
FORMATS = (STANDARD, LUNG1)

MISSING = {"", "NA", "N/A", "NULL", "NONE", "-"}

COLUMNS = {
    PATIENTS: [
        "patient_id",
        "sex",
        "birth_year",
        "cancer_type",
        "histology",
        "stage",
        "t_stage",
        "n_stage",
        "m_stage",
        "diagnosis_date",
        "age_at_diagnosis",
        "overall_survival_days",
        "is_deceased",
    ],
    TREATMENTS: ["patient_id", "kind", "agent", "line", "start_date", "end_date"],
    EVENTS: ["patient_id", "kind", "recist", "date"],
}
REQUIRED = {
    PATIENTS: ["patient_id"],
    TREATMENTS: ["patient_id", "kind", "start_date"],
    EVENTS: ["patient_id", "kind", "date"],
}
# The free text each kind stores; a source patient ID in it is stored as [redacted]
# (CellScreen): none of them identifies the record but the agent, and the agent is
# rewritten the same way on every run, so a re-run still finds its treatment.
TEXT_COLUMNS = {
    PATIENTS: ["histology", "stage", "t_stage", "n_stage", "m_stage"],
    TREATMENTS: ["agent"],
    EVENTS: [],
}
DATE_COLUMNS = {
    PATIENTS: ["diagnosis_date"],
    TREATMENTS: ["start_date", "end_date"],
    EVENTS: ["date"],
}

# NSCLC-Radiomics (Aerts et al. 2014) clinical table as TCIA distributes it:
LUNG1_COLUMNS = {
    "PatientID": "patient_id",
    "age": "age_at_diagnosis",
    "clinical.T.Stage": "t_stage",
    "Clinical.N.Stage": "n_stage",
    "Clinical.M.Stage": "m_stage",
    "Overall.Stage": "stage",
    "Histology": "histology",
    "gender": "sex",
    "Survival.time": "overall_survival_days",
    "deadstatus.event": "is_deceased",
}
# NB: every Lung1 patient has NSCLC, so a missing histology still means NSCLC.
LUNG1_CANCER_TYPES = {
    "adenocarcinoma": CancerType.LUAD,
    "squamous cell carcinoma": CancerType.LUSC,
    "large cell": CancerType.LCLC,
    "nos": CancerType.NSCLC,
    "": CancerType.NSCLC,
}

BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "0": False,
    "false": False,
    "no": False,
}


@dataclass
class ClinicalReport(ImportReport):
    """An ImportReport that also counts stored records the file filled in or replaced."""

    updated: int = 0

    def summary(self) -> str:
        return super().summary() + f"\n  {self.updated} stored records updated."

    def as_dict(self) -> dict:
        return super().as_dict() | {"updated": self.updated}


@dataclass
class CleanRow:
    line: int
    patient_id: str
    values: dict[str, object] = field(default_factory=dict)


@dataclass
class ClinicalTable:
    """Checked rows, and the file's column behind each field (for error messages)."""

    rows: list[CleanRow]
    column_of: dict[str, str]


def detect_format(header: list[str]) -> str:
    """Return LUNG1 when the header is the Lung1 table's, else STANDARD."""
    return LUNG1 if {"PatientID", "Overall.Stage"} <= set(header) else STANDARD


def import_clinical(
    path: Path,
    project: Project,
    kind: str = PATIENTS,
    date_order: str | None = None,
    table_format: str | None = None,
    update: bool = False,
    user=None,
) -> ClinicalReport:
    """Import one clinical CSV or TSV file into `project`, whole or not at all.

    Parameters
    ----------
    kind
        PATIENTS, TREATMENTS or EVENTS: which columns the file has (docs/clinical_imports.md).
    date_order
        "day-first" or "month-first" for slashed dates; None lets a day above 12 prove
        the order of each column, and rejects a column that proves none.
    table_format
        STANDARD or LUNG1; None detects the Lung1 table by its header.
    update
        Replace stored values that the file contradicts (simple-history keeps the old
        ones). Without it such a file is rejected as a conflict.

    Raises
    ------
    ImportRejected
        Any error anywhere in the file; nothing is stored, the run is recorded as failed.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    report = ClinicalReport(source=path.name)

    with recorded_import(project, f"clinical-{kind}", path, report, user) as links:
        table = read_clinical_rows(
            path, kind, date_order, table_format, report, project
        )
        # Every row is read: the name in the records' history is screened for them all.
        source = report.source_name(path)
        storer = _Storer(project, source, report, links, update, table.column_of)
        storer.store(kind, table.rows)

    logger.info(
        "Clinical %s of %s imported into project %s",
        kind,
        report.source_name(path),
        project.code,
    )
    return report


def read_clinical_rows(
    path: Path,
    kind: str,
    date_order: str | None,
    table_format: str | None,
    report: ImportReport,
    project: Project | None = None,
) -> ClinicalTable:
    """Read and check every row; raise ImportRejected listing every problem found.

    With `project`, a treatment or event of a patient the project does not hold is
    one of those problems (else the import finds it while storing).
    """
    source = path.name
    header, cells_of = read_table(path)
    lines = list(cells_of)
    # A file may be named after its patients; their IDs stay out of what is reported,
    # also when a column rejects the whole file:
    report.screen_patients(lines, ("patient_id", "PatientID"), MISSING)
    table_format = table_format or detect_format(header)
    column_of = {name: name for name in header}
    known = COLUMNS[kind]

    if table_format == LUNG1:
        if kind != PATIENTS:
            raise ImportRejected(
                [
                    Problem(
                        source,
                        f"a Lung1 table holds patients only; {give('kind_patients')}.",
                    )
                ]
            )
        require_columns(source, header, ["PatientID"])
        column_of |= {LUNG1_COLUMNS.get(name, name): name for name in header}
        known = list(LUNG1_COLUMNS)
        cleaner = _Cleaner(source, column_of)
        table = [(line, cleaner.from_lung1(line, cells)) for line, cells in lines]
    else:
        require_columns(source, header, REQUIRED[kind])
        cleaner = _Cleaner(source, column_of)
        table = list(lines)

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

    cell_screen = CellScreen(source, project)
    cell_screen.add_patients(
        cells.get("patient_id", "")
        for _, cells in table
        if cells.get("patient_id", "").upper() not in MISSING
    )
    errors, warnings = cell_screen.screen_table(
        table, "patient_id", redacted=TEXT_COLUMNS[kind], column_of=column_of
    )
    cleaner.errors += errors
    report.warnings += warnings

    dates = cleaner.parse_dates(table, DATE_COLUMNS[kind], date_order)
    clean = {
        PATIENTS: cleaner.patient,
        TREATMENTS: cleaner.treatment,
        EVENTS: cleaner.event,
    }[kind]
    rows = [
        row for line, cells in table if (row := clean(line, cells, dates)) is not None
    ]

    seen: dict[tuple, CleanRow] = {}
    for row in rows:
        first = seen.setdefault(natural_key(kind, row), row)
        if first is not row:
            report_repeated_row(cleaner, kind, first, row)

    if project is not None and kind != PATIENTS:
        for row in rows:
            if find_patient(project, row.patient_id) is None:
                cleaner.error(
                    row.line,
                    "patient_id",
                    unknown_patient_message(project),
                    code="unknown-patient",
                )

    report.warnings.extend(cleaner.warnings)
    if cleaner.errors:
        raise ImportRejected(sorted(cleaner.errors, key=lambda p: p.row or 0))
    return ClinicalTable(rows, column_of)


def unknown_patient_message(project: Project) -> str:
    return (
        f"names no patient of project {project.code}; import the patients file first."
    )


def natural_key(kind: str, row: CleanRow) -> tuple:
    """Return what identifies the row's record: the unique constraint of its model.

    A treatment's agent in any capitals, as treatment_natural_key compares it.
    """
    if kind == PATIENTS:
        return (row.patient_id,)
    _model, key_fields = RECORDS[kind]
    values = {name: row.values[name] for name in key_fields}
    if kind == TREATMENTS:
        # NB: str.lower folds non-ASCII capitals too (Ä), which SQLite's lower() keeps:
        # there two such rows of one file are refused as one treatment, never stored.
        values["agent"] = str(values["agent"]).lower()
    return (row.patient_id, *values.values())


# What identifies a record of each kind, in the file's columns, and its name:
_KEY_WORDS = {
    PATIENTS: ("patient", "patient_id"),
    TREATMENTS: ("treatment", "patient_id, kind, agent in any capitals and start_date"),
    EVENTS: ("event", "patient_id, kind and date"),
}


def _key_columns(kind: str) -> tuple[str, ...]:
    """The columns identifying a record with its patient (RECORDS); a patient's, its ID."""
    if kind not in RECORDS:
        return ("patient_id",)
    return tuple(_FIELD_COLUMNS.get(name, name) for name in RECORDS[kind][1])


def report_repeated_row(
    cleaner: _Cleaner, kind: str, first: CleanRow, row: CleanRow
) -> None:
    """Reject a row naming the same record as an earlier row of its file.

    The error's field is the columns that differ from the earlier row, or for an
    identical row the columns identifying the record: a repeated treatment is not a
    problem of its patient_id, and the row's patient is never named.
    """
    noun, key = _KEY_WORDS[kind]
    fields, differing = [], []
    for name, value in row.values.items():
        earlier = first.values.get(name)
        if value != earlier:
            column = cleaner.column_of.get(_FIELD_COLUMNS.get(name, name), name)
            fields.append(column)
            differing.append(f"{column} {_shown(value)}, not {_shown(earlier)}")

    if differing:
        message = (
            f"names the {noun} of row {first.line} of this file (the same {key}) with "
            f"other values ({'; '.join(differing)}); give each {noun} once."
        )
    else:
        fields = [cleaner.column_of.get(name, name) for name in _key_columns(kind)]
        message = f"repeats row {first.line} of this file; give each {noun} once."
    cleaner.errors.append(
        Problem(
            cleaner.source,
            message,
            row=row.line,
            field=", ".join(fields),
            code="repeated-record",
        )
    )


def _shown(value: object) -> str:
    return "empty" if value in ("", None) else f'"{value}"'


# The model of each kind of dated record, and the fields that identify it with the patient:
RECORDS: dict[str, tuple[type[Treatment] | type[ClinicalEvent], tuple[str, ...]]] = {
    TREATMENTS: (Treatment, ("kind", "agent", "started_on")),
    EVENTS: (ClinicalEvent, ("kind", "occurred_on")),
}

# Model fields whose file column has another name:
_FIELD_COLUMNS = {
    "diagnosis_on": "diagnosis_date",
    "age_at_diagnosis_years": "age_at_diagnosis",
    "started_on": "start_date",
    "ended_on": "end_date",
    "occurred_on": "date",
}


class _Cleaner:
    """Turn the text cells of one row into model values, collecting every problem."""

    def __init__(self, source: str, column_of: dict[str, str]) -> None:
        self.source = source
        self.column_of = column_of
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []
        self.today = timezone.localdate()

    def error(
        self, line: int | None, name: str, message: str, value: str = "", code: str = ""
    ) -> None:
        self.errors.append(
            Problem(
                self.source,
                message,
                row=line,
                field=self.column_of.get(name, name),
                value=value,
                code=code,
            )
        )

    def from_lung1(self, line: int, cells: dict[str, str]) -> dict[str, str]:
        """Rename a Lung1 row's cells to standard columns; derive its cancer type."""
        row = {LUNG1_COLUMNS.get(name, name): text for name, text in cells.items()}
        histology = row.get("histology", "")
        histology = "" if histology.upper() in MISSING else histology
        cancer_type = LUNG1_CANCER_TYPES.get(histology.lower())
        if cancer_type is None:
            allowed = ", ".join(name for name in LUNG1_CANCER_TYPES if name)
            self.error(
                line, "histology", f"is not a Lung1 histology ({allowed}).", histology
            )
        row["cancer_type"] = cancer_type or ""
        return row

    def parse_dates(
        self,
        table: list[tuple[int, dict[str, str]]],
        names: list[str],
        order: str | None,
    ) -> dict[str, DateColumn]:
        if order is not None and order not in ORDERS:
            raise ValueError(f"date order must be one of {ORDERS}, not {order!r}")
        dates = {}
        for name in names:
            cells = {line: cells.get(name, "") for line, cells in table}
            column = parse_date_column(self.source, name, cells, declared_order=order)
            self.errors += column.errors
            self.warnings += column.warnings
            for line, text in cells.items():
                try:
                    check_date_text(text)
                except InvalidValue as exc:
                    self.error(line, name, str(exc), text, code=exc.code)
                    column.values.pop(line, None)
            dates[name] = column
        return dates

    # Cells by kind of value; each returns None for a missing cell or a problem:

    def text(
        self, line: int, cells: dict[str, str], name: str, max_length: int
    ) -> str | None:
        text = cells.get(name, "")
        if text.upper() in MISSING:
            return None
        if len(text) > max_length:
            self.error(line, name, longer_than_message(max_length), text[:40])
            return None
        return text

    def integer(
        self,
        line: int,
        cells: dict[str, str],
        name: str,
        check: Callable[[int], int],
    ) -> int | None:
        """Return the cell's whole number if `check` (patients.validation) accepts it."""
        text = self.text(line, cells, name, 20)
        if text is None:
            return None
        try:
            number = int(text)
        except ValueError:
            self.error(line, name, "is not a whole number.", text)
            return None
        try:
            return check(number)
        except InvalidValue as exc:
            self.error(line, name, str(exc), text, code=exc.code)
            return None

    def choice(
        self, line: int, cells: dict[str, str], name: str, choices: dict[str, object]
    ) -> object | None:
        text = self.text(line, cells, name, 100)
        if text is None:
            return None
        if text.lower() not in choices:
            self.error(line, name, choice_message(choices), text, code="unknown-choice")
            return None
        return choices[text.lower()]

    def date(
        self, line: int, name: str, dates: dict[str, DateColumn], required: bool = False
    ) -> dt.date | None:
        day = dates[name].values.get(line)
        if day is None and required and line in dates[name].values:
            self.error(line, name, DATE_REQUIRED)
        try:
            return check_not_future(day)
        except InvalidValue as exc:
            self.error(line, name, str(exc), str(day), code=exc.code)
            return None

    def patient_id(self, line: int, cells: dict[str, str]) -> str | None:
        # NB: the identifier never enters a Problem; DataIssue rows must not hold it.
        try:
            return check_source_id(cells.get("patient_id", ""), MISSING)
        except InvalidValue as exc:
            self.error(line, "patient_id", str(exc))
            return None

    # Rows by kind of file:

    def patient(
        self, line: int, cells: dict[str, str], dates: dict[str, DateColumn]
    ) -> CleanRow | None:
        patient_id = self.patient_id(line, cells)
        values = {
            "sex": self.choice(line, cells, "sex", SEXES),
            "birth_year": self.birth_year(line, cells),
            "cancer_type": self.choice(line, cells, "cancer_type", CANCER_TYPES),
            "histology": self.text(line, cells, "histology", 200),
            "stage": self.text(line, cells, "stage", 20),
            "t_stage": self.text(line, cells, "t_stage", 10),
            "n_stage": self.text(line, cells, "n_stage", 10),
            "m_stage": self.text(line, cells, "m_stage", 10),
            "diagnosis_on": self.date(line, "diagnosis_date", dates),
            "age_at_diagnosis_years": self.age(line, cells),
            "overall_survival_days": self.integer(
                line, cells, "overall_survival_days", check_overall_survival_days
            ),
            "is_deceased": self.choice(line, cells, "is_deceased", BOOLEANS),
        }
        try:
            check_diagnosis_after_birth(values["birth_year"], values["diagnosis_on"])  # type: ignore[arg-type]
        except InvalidValue as exc:
            self.error(line, "diagnosis_date", str(exc), str(values["diagnosis_on"]))
        if patient_id is None:
            return None
        return CleanRow(
            line, patient_id, {k: v for k, v in values.items() if v is not None}
        )

    def birth_year(self, line: int, cells: dict[str, str]) -> int | None:
        return self.integer(line, cells, "birth_year", check_birth_year)

    def age(self, line: int, cells: dict[str, str]) -> Decimal | None:
        text = self.text(line, cells, "age_at_diagnosis", 20)
        if text is None:
            return None
        try:
            years = Decimal(text)
        except InvalidOperation:
            self.error(line, "age_at_diagnosis", "is not a number of years.", text)
            return None
        try:
            # The model keeps three decimals (under a day); Lung1 gives four:
            return check_age_at_diagnosis(years)
        except InvalidValue as exc:
            self.error(line, "age_at_diagnosis", str(exc), text)
            return None

    def treatment(
        self, line: int, cells: dict[str, str], dates: dict[str, DateColumn]
    ) -> CleanRow | None:
        patient_id = self.patient_id(line, cells)
        values = {
            "kind": self.choice(line, cells, "kind", TREATMENT_KINDS),
            "agent": self.text(line, cells, "agent", 200) or "",
            "line": self.integer(line, cells, "line", check_treatment_line),
            "started_on": self.date(line, "start_date", dates, required=True),
            "ended_on": self.date(line, "end_date", dates),
        }
        started, ended = values["started_on"], values["ended_on"]
        try:
            check_end_after_start(started, ended)  # type: ignore[arg-type]
        except InvalidValue as exc:
            self.error(line, "end_date", str(exc), str(ended), code="end-before-start")
        if patient_id is None or values["kind"] is None or started is None:
            return None
        return CleanRow(line, patient_id, values)

    def event(
        self, line: int, cells: dict[str, str], dates: dict[str, DateColumn]
    ) -> CleanRow | None:
        patient_id = self.patient_id(line, cells)
        values = {
            "kind": self.choice(line, cells, "kind", EVENT_KINDS),
            "recist": self.choice(line, cells, "recist", RECIST) or "",
            "occurred_on": self.date(line, "date", dates, required=True),
        }
        if (
            patient_id is None
            or values["kind"] is None
            or values["occurred_on"] is None
        ):
            return None
        return CleanRow(line, patient_id, values)


class _Storer:
    """Write checked rows: create what is new, compare what is stored (see the docs)."""

    def __init__(
        self,
        project: Project,
        source: str,
        report: ClinicalReport,
        links: RunLinks,
        update: bool,
        column_of: dict[str, str],
    ) -> None:
        self.project = project
        self.source = source
        self.report = report
        self.links = links
        self.update = update
        self.column_of = column_of
        self.errors: list[Problem] = []
        # The stored patients whose birth year a row changes, checked together:
        self.births: dict[int, tuple[CleanRow, int]] = {}

    def store(self, kind: str, rows: list[CleanRow]) -> None:
        for row in rows:
            if kind == PATIENTS:
                self.patient(row)
            else:
                self.record(kind, row)
        self.check_births()

        if self.errors:
            raise ImportRejected(sorted(self.errors, key=lambda p: p.row or 0))

    def check_births(self) -> None:
        """Report each changed birth year that a stored record of its patient lies before.

        One query for the file (earliest_records_before); the rows were saved, and
        an error rejects the whole import, so nothing of it stays.
        """
        found = earliest_records_before(
            {patient_id: year for patient_id, (_, year) in self.births.items()}
        )
        for patient_id, words in found.items():
            row, year = self.births[patient_id]
            self.errors.append(
                Problem(
                    self.source,
                    birth_after_record_message(words),
                    row=row.line,
                    field=self.column_of.get("birth_year", "birth_year"),
                    value=str(year),
                    code="birth-after-record",
                )
            )

    def patient(self, row: CleanRow) -> None:
        patient, created = pseudonymise(self.project, row.patient_id, **row.values)
        self.links.link(row.line, patient, patient)
        if created:
            self.report.count("patients")
            return
        self.merge(patient, row)

    def known_patient(self, row: CleanRow) -> Patient | None:
        patient = find_patient(self.project, row.patient_id)
        if patient is None:
            self.errors.append(
                Problem(
                    self.source,
                    unknown_patient_message(self.project),
                    row=row.line,
                    field="patient_id",
                    code="unknown-patient",
                )
            )
        return patient

    def record(self, kind: str, row: CleanRow) -> None:
        """Store a treatment or event of a known patient, or compare it with the stored one."""
        patient = self.known_patient(row)
        if patient is None:
            return
        model, key_fields = RECORDS[kind]
        if not self.after_birth(patient, row):
            return
        values = dict(row.values)
        key = {name: values.pop(name) for name in key_fields}

        if model is Treatment:  # its agent in any case (find_same_treatment)
            stored = find_same_treatment(Treatment(patient=patient, **key))
            if stored is not None and stored.agent != key["agent"]:
                self.report.warnings.append(self.agent_as_stored(row, stored))
        else:
            stored = model.objects.filter(patient=patient, **key).first()
        if stored is None:
            stored = model.objects.create(patient=patient, **key, **values)
            self.report.count(kind)
        else:
            self.merge(stored, CleanRow(row.line, row.patient_id, values))
        self.links.link(row.line, patient, stored)

    def after_birth(self, patient: Patient, row: CleanRow) -> bool:
        """Return whether the row's dates lie from the patient's birth year on; else
        report the first that does not, as the lab importers report a draw."""
        for name in ("started_on", "occurred_on"):
            day = row.values.get(name)
            check = partial(check_after_birth, patient.birth_year, day)
            if not self.passes(row, name, day, check):
                return False
        return True

    def born_before_diagnosis(self, patient: Patient, row: CleanRow) -> bool:
        """Return whether the patient, as the row changes it, is born before its
        diagnosis; else report the row's error. Its stored records are checked
        for the whole file at the end (check_births)."""
        return self.passes(
            row,
            "diagnosis_on",
            patient.diagnosis_on,
            lambda: check_diagnosis_after_birth(
                patient.birth_year, patient.diagnosis_on
            ),
        )

    def passes(
        self, row: CleanRow, name: str, value: object, check: Callable[[], None]
    ) -> bool:
        """Return whether `check` passes; else report its error under the field's column."""
        try:
            check()
        except InvalidValue as exc:
            column = _FIELD_COLUMNS.get(name, name)
            self.errors.append(
                Problem(
                    self.source,
                    str(exc),
                    row=row.line,
                    field=self.column_of.get(column, column),
                    value=str(value),
                    code=exc.code,
                )
            )
            return False
        return True

    def agent_as_stored(self, row: CleanRow, stored: Treatment) -> Problem:
        """Return the warning of a row whose agent is the stored one in other capitals."""
        return Problem(
            self.source,
            f'differs only in capitals from the agent "{stored.agent}" of stored '
            f"treatment {stored.pk} (same patient, kind and start_date), which this "
            "row is: kept as stored, not added again.",
            row=row.line,
            field=self.column_of.get("agent", "agent"),
            value=str(row.values["agent"]),
            code="agent-case",
        )

    def merge(self, stored, row: CleanRow) -> None:
        """Compare a row with its stored record; fill blanks, reject or apply changes.

        An empty cell never clears a stored value. A stored blank (or sex "unknown")
        is filled in. A stored value that differs is a conflict, unless `update` asks
        to replace it; simple-history keeps the replaced value with this file's name.
        """
        changes: dict[str, object] = {}
        for name, new in row.values.items():
            old = getattr(stored, name)
            if old == new or new in ("", None):
                continue
            if (
                old in ("", None)
                or (name == "sex" and old == Sex.UNKNOWN)
                or self.update
            ):
                changes[name] = new
                continue
            column = _FIELD_COLUMNS.get(name, name)
            self.errors.append(
                Problem(
                    self.source,
                    f"differs from the stored value {old!s}; re-run with --update to replace it "
                    "(the history keeps the old value).",
                    row=row.line,
                    field=self.column_of.get(column, column),
                    value=str(new),
                    code="conflicting-value",
                )
            )
        if not changes:
            if not any(p.row == row.line for p in self.errors):
                self.report.duplicates += 1
            return

        for name, new in changes.items():
            setattr(stored, name, new)
        if isinstance(stored, Patient):
            if not self.born_before_diagnosis(stored, row):
                return
            if "birth_year" in changes and stored.birth_year is not None:
                self.births[stored.pk] = (row, stored.birth_year)
        stored._change_reason = f"import_clinical {self.source} row {row.line}"
        stored.save(update_fields=list(changes))
        self.report.updated += 1
