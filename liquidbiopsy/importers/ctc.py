"""Import CTC counts (CellSearch and other platforms), whole files or nothing."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

from biobank.core.importing import Problem, read_table
from biobank.core.validation import InvalidValue
from liquidbiopsy.importers.common import (
    MISSING,
    Draw,
    LabReport,
    PatientLookup,
    RowProblems,
    check_draw_of_patient,
    check_lengths,
    read_draws,
    recorded_lab_import,
    reject_if_any,
    require_columns,
    screen_cells,
    screen_patients,
    warn_unknown_columns,
)
from liquidbiopsy.models import BloodSample, CTCCount
from liquidbiopsy.services import (
    SampleIdTaken,
    StoredRecordDiffers,
    find_or_create_sample,
    store_ctc_count,
)
from liquidbiopsy.validation import (
    COUNT_REQUIRED,
    WHOLE_CELLS,
    check_blood_volume,
    check_cells,
    check_enrichment,
    check_platform,
    find_same_platform,
    read_whole,
)
from patients.models import Patient, Project

logger = logging.getLogger(__name__)

# Other names labs give the columns, and the name used here:
ALIASES = {
    "drawn_on": "draw_date",
    "ctc_count": "count",
    "assay": "platform",
    "volume_ml": "blood_volume_ml",
    "external_sample_id": "sample_id",
}
PER_7_5_ML = "ctc_count_per_7_5ml"
KNOWN = {
    "patient_id",
    "draw_date",
    "drawn_at",
    "count",
    PER_7_5_ML,
    "platform",
    "enrichment",
    "blood_volume_ml",
    "clusters",
    "timepoint",
    "tube_type",
    "sample_id",
}

# A source patient ID in a cell (common.screen_cells): the lab's sample ID is part
# of what finds the draw again, so it refuses the file; the rest is stored with the
# ID replaced, the same way on every run.
REFUSED = ("sample_id",)
REDACTED = ("timepoint", "tube_type", "platform")


@dataclass
class CTCRow:
    line: int
    patient: Patient
    draw: Draw
    sample_id: str
    sample_details: dict[str, object]
    values: dict[str, object]


def import_ctc(
    path: Path,
    project: Project,
    create_patients: bool = False,
    date_order: str | None = None,
    user=None,
) -> LabReport:
    """Import a CTC count table into `project`, whole or not at all (docs/liquid_biopsy_imports.md).

    Parameters
    ----------
    create_patients
        Create a patient for an unknown patient_id; without it such a row rejects the file.
    date_order
        "day-first" or "month-first" for slashed draw dates.

    Raises
    ------
    ImportRejected
        Any problem in any row, or a stored count of the same draw and platform with
        another value (a conflict is never overwritten). Nothing is stored.
    """
    report = LabReport(source=path.name)
    with recorded_lab_import(project, "ctc", path, report, user) as links:
        rows = read_ctc_rows(
            path, PatientLookup(project, report, create_patients), report, date_order
        )
        errors: list[Problem] = []
        for row in rows:
            _store(row, report, errors)
            links.link(row.line, row.patient)
        reject_if_any(errors)

    logger.info(
        "CTC counts of %s imported into project %s",
        report.source_name(path),
        project.code,
    )
    return report


def read_ctc_rows(
    path: Path, patients: PatientLookup, report: LabReport, date_order: str | None
) -> list[CTCRow]:
    """Read and check every row; raise ImportRejected listing every problem found."""
    source = path.name
    header, lines = read_table(path)
    header = [ALIASES.get(name, name) for name in header]
    table = [
        (line, {ALIASES.get(k, k): v for k, v in cells.items()})
        for line, cells in lines
    ]
    screen_patients(report, table)
    _check_header(source, header, report)

    problems = RowProblems(source)
    screen_cells(report, problems, table, patients.project, REFUSED, REDACTED)
    date_name = "draw_date" if "draw_date" in header else "drawn_at"
    draws = read_draws(
        source,
        date_name,
        {line: cells[date_name] for line, cells in table},
        problems,
        report.warnings,
        date_order,
    )

    rows: list[CTCRow] = []
    for line, cells in table:
        row = _clean(line, cells, patients, draws.get(line), problems, date_name)
        if row is not None:
            rows.append(row)
    reject_if_any(problems.problems)
    return rows


def _check_header(source: str, header: list[str], report: LabReport) -> None:
    require_columns(
        source,
        header,
        [("patient_id",), ("draw_date", "drawn_at"), ("count", PER_7_5_ML)],
    )
    warn_unknown_columns(source, header, KNOWN, report)


def _clean(
    line: int,
    cells: dict[str, str],
    patients: PatientLookup,
    draw: Draw | None,
    problems: RowProblems,
    date_name: str,
) -> CTCRow | None:
    volume = _number(problems, line, cells, "blood_volume_ml", 7.5)
    if volume is not None:
        try:
            check_blood_volume(volume)
        except InvalidValue as exc:
            problems.add(line, "blood_volume_ml", str(exc), cells["blood_volume_ml"])
            volume = None  # a count per 7.5 mL is not scaled to a refused volume
    count = _count(problems, line, cells, volume)
    clusters = _whole(problems, line, cells, "clusters")
    enrichment = cells.get("enrichment", "").strip() or CTCCount.Enrichment.EPCAM
    try:
        enrichment = check_enrichment(enrichment)
    except InvalidValue as exc:
        problems.add(line, "enrichment", str(exc), enrichment)
    sample_details = {
        "timepoint": cells.get("timepoint", ""),
        "tube_type": cells.get("tube_type", ""),
    }
    platform = cells.get("platform", "")
    try:
        platform = check_platform(platform)
    except InvalidValue as exc:
        problems.add(line, "platform", str(exc), platform, exc.code)
    check_lengths(
        problems,
        line,
        BloodSample,
        sample_details | {"external_sample_id": cells.get("sample_id", "")},
        {"external_sample_id": "sample_id"},
    )
    check_lengths(problems, line, CTCCount, {"platform": platform})
    patient = patients.check(problems, line, cells.get("patient_id", ""))
    if patient is not None and draw is not None:
        check_draw_of_patient(problems, line, date_name, patient, draw)

    if patient is None or draw is None or problems.has(line):
        return None
    return CTCRow(
        line,
        patient,
        draw,
        cells.get("sample_id", ""),
        sample_details,
        {
            "platform": platform,
            "enrichment": enrichment,
            "blood_volume_ml": volume,
            "count": count,
            "clusters": clusters,
        },
    )


def _number(
    problems: RowProblems, line: int, cells: dict[str, str], name: str, default: float
) -> float | None:
    text = cells.get(name, "")
    if text.upper() in MISSING:
        return default
    try:
        return float(text)
    except ValueError:
        problems.add(line, name, "is not a number.", text)
        return None


def _whole(
    problems: RowProblems, line: int, cells: dict[str, str], name: str
) -> int | None:
    text = cells.get(name, "")
    if text.upper() in MISSING:
        return None
    try:
        number = read_whole(text)
    except ValueError:
        problems.add(line, name, WHOLE_CELLS, text)
        return None
    try:
        return check_cells(number)
    except InvalidValue as exc:
        problems.add(line, name, str(exc), text, code=exc.code)
        return None


def _count(
    problems: RowProblems, line: int, cells: dict[str, str], volume: float | None
) -> int | None:
    """Return the cells counted in the tube; a count per 7.5 mL is scaled to the volume."""
    if "count" in cells:
        if cells["count"].upper() in MISSING:
            problems.add(line, "count", COUNT_REQUIRED)
            return None
        return _whole(problems, line, cells, "count")

    per_7_5 = _whole(problems, line, cells, PER_7_5_ML)
    if cells[PER_7_5_ML].upper() in MISSING:
        problems.add(line, PER_7_5_ML, COUNT_REQUIRED)
    if per_7_5 is None or volume is None or volume <= 0:
        return None
    counted = per_7_5 * volume / 7.5
    if not math.isfinite(counted) or abs(counted - round(counted)) > 1e-6:
        problems.add(
            line,
            PER_7_5_ML,
            f"does not give a whole number of cells in {volume:g} mL; give the count itself.",
            cells[PER_7_5_ML],
        )
        return None
    try:
        return check_cells(round(counted))
    except InvalidValue as exc:
        problems.add(line, PER_7_5_ML, str(exc), cells[PER_7_5_ML], code=exc.code)
        return None


def _store(row: CTCRow, report: LabReport, errors: list[Problem]) -> None:
    try:
        sample, created = find_or_create_sample(
            row.patient,
            row.draw.drawn_at,
            row.draw.is_time_known,
            row.sample_id,
            **row.sample_details,
        )
    except SampleIdTaken as exc:
        errors.append(
            Problem(
                report.source,
                report.sample_id_taken(exc.other),
                row=row.line,
                field="sample_id",
                value=row.sample_id,
                code="sample-id-taken",
            )
        )
        return
    if created:
        report.count("blood samples")
        report.draws_made[sample.pk] = row.line
    values = dict(row.values)
    # A platform stored in another case is the same platform (its stored spelling):
    stored = None if created else find_same_platform(sample.pk, values["platform"])
    if stored is not None:
        values["platform"] = stored.platform
    try:
        _count_record, created = store_ctc_count(sample, **values)
    except StoredRecordDiffers as exc:
        for difference in exc.differences:
            errors.append(
                Problem(
                    report.source,
                    f"differs from the stored CTC count of this draw and platform "
                    f"({difference.field} {difference.stored}); a stored count is never "
                    "overwritten: correct the file or the stored record.",
                    row=row.line,
                    field=difference.field,
                    value=str(difference.given),
                    code="conflicting-value",
                )
            )
        return
    if created:
        report.count("CTC counts")
        report.rows_imported += 1
    else:
        report.duplicates += 1
