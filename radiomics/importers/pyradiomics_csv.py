"""Import PyRadiomics batch output: one row per ROI, one column per feature."""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from django.db import connection
from django.db.models import Q
from simple_history.utils import bulk_create_with_history

from biobank.core.importing import (
    ImportRejected,
    ImportReport,
    Problem,
    chunks,
    read_table,
    require_columns,
)
from biobank.core.wording import give
from patients.importers.cells import CODE, REFUSED, CellScreen
from patients.importers.runs import RunLinks, recorded_import
from patients.models import Patient, Project
from patients.services import pseudonymise, source_key
from radiomics.features import ParsedFeature, parse_feature_name
from radiomics.importers.deid import IdentifierScreen, source_uid_hash
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    ImageSeries,
    Segmentation,
)
from radiomics.signatures import rescore_extractions

logger = logging.getLogger(__name__)
# The code of the warning on a row that held no number, stored as a failed extraction:
EXTRACTION_FAILED = "extraction-failed"

SOFTWARE = "PyRadiomics"
ID_COLUMNS = ("ID", "PatientID", "patient_id", "Patient")
# Optional columns that tie a row to a stored image series, so that its features take
# part in cohort queries (which pair imaging studies with blood draws):
SERIES_COLUMN = "SeriesInstanceUID"
ROI_COLUMN = "ROI"
LABEL_COLUMN = "Label"
LINK_COLUMNS = (SERIES_COLUMN, ROI_COLUMN, LABEL_COLUMN)
DIAGNOSTICS_PREFIX = "diagnostics_"
VERSION_COLUMN = "diagnostics_Versions_PyRadiomics"
SETTINGS_COLUMNS = (
    "diagnostics_Configuration_Settings",
    "diagnostics_Configuration_EnabledImageTypes",
)
EMPTY_ROW = "extraction failed / empty feature row"
# Rows per INSERT; Django lowers it to what the database accepts (999 parameters on SQLite):
BATCH_SIZE = 5000


@dataclass
class ExtractionRow:
    """One checked row; `values` follows the file's feature columns, NaN where empty."""

    line: int
    source_id: str
    image: str
    mask: str
    diagnostics: dict[str, str]
    values: array
    fingerprint: str = ""
    series_uid: str = ""
    roi_name: str = ""
    label: int = 1
    series: ImageSeries | None = None

    @property
    def is_empty(self) -> bool:
        return all(math.isnan(v) for v in self.values)


@dataclass
class FeatureTable:
    features: list[ParsedFeature]
    rows: list[ExtractionRow] = field(default_factory=list)
    # The file's patient identifiers, to keep out of what is stored and printed:
    screen: IdentifierScreen = field(default_factory=IdentifierScreen)

    def row_values(self, row: ExtractionRow) -> dict[str, float]:
        return {
            feature.name: value
            for feature, value in zip(self.features, row.values, strict=True)
            if not math.isnan(value)
        }


def import_pyradiomics(
    path: Path,
    project: Project,
    id_column: str | None = None,
    user=None,
    create_patients: bool = False,
) -> ImportReport:
    """Import a PyRadiomics batch CSV into `project`, whole or not at all.

    Parameters
    ----------
    id_column
        Column holding the source patient identifier; by default the first of
        ID_COLUMNS the header has. The identifier is pseudonymised, never stored.
    create_patients
        Create a patient for an identifier the project does not know; without it
        such a row rejects the file, so that a mistyped ID never becomes a patient.

    Raises
    ------
    ImportRejected
        Any error anywhere in the file (a non-numeric feature cell, a missing
        column, an extraction stored before with other values); nothing is stored.
    """
    report = ImportReport(source=path.name)

    with recorded_import(project, "pyradiomics-csv", path, report, user) as links:
        table = read_feature_table(path, project, id_column, report, create_patients)
        report.source = table.screen.redact(path.name)
        try:
            _Storer(project, report.source, table, report, links).store()
        except ImportRejected as exc:
            raise ImportRejected(
                [table.screen.redact_problem(p) for p in exc.problems]
            ) from None
        finally:
            report.warnings = [table.screen.redact_problem(p) for p in report.warnings]

    logger.info(
        "PyRadiomics table %s imported into project %s", report.source, project.code
    )
    return report


def read_feature_table(
    path: Path,
    project: Project,
    id_column: str | None,
    report: ImportReport,
    create_patients: bool = False,
) -> FeatureTable:
    """Read and check every row; raise ImportRejected listing every problem found."""
    source = path.name
    header, lines = read_table(path)
    id_column = id_column or next((c for c in ID_COLUMNS if c in header), ID_COLUMNS[0])
    require_columns(source, header, [id_column, "Image", "Mask"])
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ImportRejected(
            [
                Problem(source, "appears twice in the header.", row=1, field=name)
                for name in repeated
            ]
        )

    features = []
    diagnostics = []
    for name in header:
        parsed = parse_feature_name(name)
        if parsed is not None:
            features.append(parsed)
        elif name.startswith(DIAGNOSTICS_PREFIX):
            diagnostics.append(name)
        elif name not in (id_column, "Image", "Mask", *LINK_COLUMNS):
            report.warnings.append(
                Problem(
                    source,
                    "is neither a feature (<imageType>_<featureClass>_<name>) nor a "
                    "diagnostics column; it was ignored.",
                    row=1,
                    field=name,
                    code="unknown-column",
                )
            )
    if not features:
        raise ImportRejected(
            [
                Problem(
                    source,
                    "has no feature columns (<imageType>_<featureClass>_<name>).",
                    row=1,
                )
            ]
        )

    table = FeatureTable(features)
    errors: list[Problem] = []
    seen: dict[str, int] = {}
    for line, cells in lines:
        if cells.get(id_column):
            table.screen.add_identifier(cells[id_column], of_patient=True)
            report.screen.add(cells[id_column])
        row = _read_row(
            source, line, cells, id_column, features, diagnostics, errors, report
        )
        if row is None:
            continue
        row.fingerprint = fingerprint(project, row)
        if row.fingerprint in seen:
            errors.append(
                Problem(
                    source,
                    f"repeats the extraction of row {seen[row.fingerprint]}.",
                    row=line,
                )
            )
        seen.setdefault(row.fingerprint, line)
        table.rows.append(row)

    _check_roi_names(source, project, table.rows, errors)
    if not create_patients:
        _check_patients_known(source, project, id_column, table.rows, errors)
    if SERIES_COLUMN in header:
        _link_series(source, project, table.rows, errors)
    if errors:
        # Every row is read by now, so every identifier of the file is known:
        raise ImportRejected([table.screen.redact_problem(p) for p in errors])
    return table


def _check_roi_names(
    source: str, project: Project, rows: list[ExtractionRow], errors: list[Problem]
) -> None:
    """Refuse a ROI name holding a source patient ID (CellScreen).

    The name finds the series' stored segmentation again (_segmentation()), so it
    is neither stored nor rewritten. The image and mask paths and the diagnostics
    are stored screened instead (_Storer.create_extractions()).
    """
    screen = CellScreen(source, project)
    screen.add_patients(row.source_id for row in rows)
    for row in rows:
        if screen.finds(row.source_id, row.roi_name):
            errors.append(
                Problem(source, REFUSED, row=row.line, field=ROI_COLUMN, code=CODE)
            )


def _check_patients_known(
    source: str,
    project: Project,
    id_column: str,
    rows: list[ExtractionRow],
    errors: list[Problem],
) -> None:
    keys = {source_key(project, row.source_id) for row in rows}
    known = set()
    for chunk in chunks(sorted(keys)):
        known |= set(
            Patient.objects.filter(project=project, source_key__in=chunk).values_list(
                "source_key", flat=True
            )
        )
    for row in rows:
        if source_key(project, row.source_id) not in known:
            errors.append(
                Problem(
                    source,
                    f"names no patient of project {project.code}; import the clinical "
                    f"table or the images first, or {give('create_patients')}.",
                    row=row.line,
                    field=id_column,
                    code="unknown-patient",
                )
            )


def _link_series(
    source: str, project: Project, rows: list[ExtractionRow], errors: list[Problem]
) -> None:
    """Find each row's stored series by its UID, as the images had it or as stored.

    The source UID is matched through its keyed hash (DICOM ingest replaces UIDs);
    the series must belong to the row's patient. Rows with an empty cell stay
    unlinked. Problems never quote a UID or the patient identifier.
    """
    for row in rows:
        if not row.series_uid:
            continue
        hashed = source_uid_hash(project.code, row.series_uid)
        series = (
            ImageSeries.objects.filter(study__patient__project=project)
            .filter(Q(source_uid_hash=hashed) | Q(series_instance_uid=row.series_uid))
            .select_related("study__patient")
            .first()
        )
        if series is None:
            errors.append(
                Problem(
                    source,
                    "names no image series stored in this project; ingest the "
                    "images first (ingest_dicom) or leave the cell empty.",
                    row=row.line,
                    field=SERIES_COLUMN,
                    code="unknown-series",
                )
            )
        elif series.study.patient.source_key != source_key(project, row.source_id):
            errors.append(
                Problem(
                    source,
                    "names an image series stored for another patient.",
                    row=row.line,
                    field=SERIES_COLUMN,
                    code="patient-mismatch",
                )
            )
        else:
            row.series = series


def _segmentation(row: ExtractionRow) -> Segmentation | None:
    """Return the series' ROI this row measured: a stored one by name, or a new mask ROI.

    The mask file itself is not stored (the CSV names a path on another machine);
    the new Segmentation records that a mask of this label was drawn on the series.
    """
    series = row.series
    if series is None:
        return None
    name = row.roi_name or f"PyRadiomics mask, label {row.label}"
    existing = series.segmentations.filter(roi_name=name).order_by("pk").first()
    if existing is not None:
        return existing
    segmentation, _ = Segmentation.objects.get_or_create(
        series=series,
        roi_name=name,
        source_kind=Segmentation.SourceKind.MASK,
        roi_number=row.label,
        defaults={"method": Segmentation.Method.UNKNOWN},
    )
    return segmentation


def _read_row(
    source: str,
    line: int,
    cells: dict[str, str],
    id_column: str,
    features: list[ParsedFeature],
    diagnostics: list[str],
    errors: list[Problem],
    report: ImportReport,
) -> ExtractionRow | None:
    # NB: the identifier and the image paths never enter a Problem; they may name the patient.
    source_id = cells[id_column]
    if not source_id:
        errors.append(
            Problem(
                source,
                "is empty; every row needs the source patient identifier.",
                row=line,
                field=id_column,
            )
        )

    values = array("d")
    empty = not_numbers = 0
    for feature in features:
        text = cells[feature.name]
        try:
            value = float(text) if text else math.nan
        except ValueError:
            errors.append(
                Problem(
                    source,
                    "is not a number; feature cells must be numeric.",
                    row=line,
                    field=feature.name,
                    value=text[:60],
                )
            )
            value = math.nan
        empty += not text
        if text and not math.isfinite(value):
            not_numbers += 1
            value = math.nan
        values.append(value)

    if 0 < empty < len(features) or not_numbers:
        report.warnings.append(
            Problem(
                source,
                f"{empty} feature cells are empty and {not_numbers} are NaN or infinite; "
                "those features are not stored for this row.",
                row=line,
                code="missing-feature-values",
            )
        )
    label = 1
    if cells.get(LABEL_COLUMN):
        try:
            label = int(cells[LABEL_COLUMN])
        except ValueError:
            errors.append(
                Problem(
                    source,
                    "is not a whole number; the mask label is one.",
                    row=line,
                    field=LABEL_COLUMN,
                    value=cells[LABEL_COLUMN][:20],
                )
            )
    if not source_id:
        return None
    return ExtractionRow(
        line=line,
        source_id=source_id,
        image=cells["Image"],
        mask=cells["Mask"],
        # Kept as the text PyRadiomics wrote: tuples, hashes and versions are no numbers.
        diagnostics={name: cells[name] for name in diagnostics if cells[name]},
        values=values,
        series_uid=cells.get(SERIES_COLUMN, ""),
        roi_name=cells.get(ROI_COLUMN, "")[:200],
        label=label,
    )


def fingerprint(project: Project, row: ExtractionRow) -> str:
    """Return the hash that finds this extraction again: who, what and how, not results.

    The image and mask paths count as the file gives them, unscreened, so that an
    extraction imported before the paths were screened is still found again.
    """
    parts = [
        project.code,
        source_key(project, row.source_id),
        row.image,
        row.mask,
        row.diagnostics.get(VERSION_COLUMN, ""),
        *(row.diagnostics.get(name, "") for name in SETTINGS_COLUMNS),
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def parameters(diagnostics: dict[str, str]) -> dict[str, object]:
    """Return the extraction settings, parsed from PyRadiomics' Python-literal text."""
    found: dict[str, object] = {}
    for name, key in zip(
        SETTINGS_COLUMNS, ("settings", "enabled_image_types"), strict=True
    ):
        text = diagnostics.get(name)
        if not text:
            continue
        try:
            value = ast.literal_eval(text)
            json.dumps(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = text
        found[key] = value
    return found


class _Storer:
    """Write the checked table: new extractions in bulk, known ones compared."""

    def __init__(
        self,
        project: Project,
        source: str,
        table: FeatureTable,
        report: ImportReport,
        links: RunLinks,
    ) -> None:
        self.project = project
        self.source = source
        self.table = table
        self.report = report
        self.links = links
        self.patients: dict[str, Patient] = {}

    def store(self) -> None:
        stored = self.stored_extractions()
        new_rows = [row for row in self.table.rows if row.fingerprint not in stored]
        self.check_unchanged(
            [row for row in self.table.rows if row.fingerprint in stored], stored
        )

        if not new_rows:
            return
        definitions = self.feature_definitions()
        extractions = self.create_extractions(new_rows)

        self.insert_values(self.feature_values(new_rows, extractions, definitions))
        rescore_extractions(extraction.pk for extraction in extractions)

    def stored_extractions(self) -> dict[str, FeatureExtraction]:
        fingerprints = [row.fingerprint for row in self.table.rows]
        stored = {}
        for chunk in chunks(fingerprints):
            for extraction in FeatureExtraction.objects.filter(
                fingerprint__in=chunk
            ).select_related("patient"):
                stored[extraction.fingerprint] = extraction
        return stored

    def check_unchanged(
        self, rows: list[ExtractionRow], stored: dict[str, FeatureExtraction]
    ) -> None:
        """Count rows stored before; reject the file if their values changed since."""
        ids = [stored[row.fingerprint].pk for row in rows]
        stored_values: dict[int, dict[str, float]] = {pk: {} for pk in ids}
        for chunk in chunks(ids):
            for extraction_id, name, value in FeatureValue.objects.filter(
                extraction_id__in=chunk
            ).values_list("extraction_id", "feature__name", "value"):
                stored_values[extraction_id][name] = value

        errors = []
        for row in rows:
            extraction = stored[row.fingerprint]
            self.links.link(row.line, extraction.patient, extraction)
            if stored_values[extraction.pk] == self.table.row_values(row):
                self.report.duplicates += 1
                self.link_stored(extraction, row)
                continue
            errors.append(
                Problem(
                    self.source,
                    "repeats an extraction stored before (same patient, image, mask, "
                    "version and settings) with other feature values; nothing was changed.",
                    row=row.line,
                    code="conflicting-extraction",
                )
            )
        if errors:
            raise ImportRejected(errors)

    def link_stored(self, extraction: FeatureExtraction, row: ExtractionRow) -> None:
        """Tie an extraction imported before without its series to the series now named."""
        if row.series is None or extraction.segmentation_id is not None:
            return
        extraction.segmentation = _segmentation(row)
        extraction.label = row.label
        extraction._change_reason = f"import_pyradiomics {self.source}"[:100]
        extraction.save(update_fields=["segmentation", "label"])
        self.report.count("links to a series")

    def feature_definitions(self) -> dict[str, FeatureDefinition]:
        names = [feature.name for feature in self.table.features]
        known = self.definitions_named(names)
        missing = [
            FeatureDefinition(
                name=feature.name,
                family=feature.family,
                feature_name=feature.feature_name,
                image_filter=feature.image_filter,
                ibsi_code=feature.ibsi_code,
                description=f"IBSI: {feature.ibsi_name}" if feature.ibsi_name else "",
            )
            for feature in self.table.features
            if feature.name not in known
        ]
        # Another import may create the same definitions meanwhile:
        FeatureDefinition.objects.bulk_create(
            missing, batch_size=BATCH_SIZE, ignore_conflicts=True
        )
        if missing:
            self.report.count("feature definitions", len(missing))
        return known | self.definitions_named([d.name for d in missing])

    def definitions_named(self, names: list[str]) -> dict[str, FeatureDefinition]:
        found = {}
        for chunk in chunks(names):
            for definition in FeatureDefinition.objects.filter(name__in=chunk):
                found[definition.name] = definition
        return found

    def patient(self, source_id: str) -> Patient:
        if source_id not in self.patients:
            patient, created = pseudonymise(self.project, source_id)
            if created:
                self.report.count("patients")
            self.patients[source_id] = patient
        return self.patients[source_id]

    def create_extractions(self, rows: list[ExtractionRow]) -> list[FeatureExtraction]:
        # The lab's paths often name the patient (/data/STS_001/ct.nrrd): they are
        # stored screened, as /data/[redacted]/ct.nrrd.
        redact = self.table.screen.redact
        extractions = []
        for row in rows:
            failed = row.is_empty
            extractions.append(
                FeatureExtraction(
                    patient=self.patient(row.source_id),
                    segmentation=_segmentation(row),
                    label=row.label if row.series else None,
                    software=SOFTWARE,
                    software_version=row.diagnostics.get(VERSION_COLUMN, "")[:40],
                    parameters=parameters(row.diagnostics),
                    diagnostics={
                        name: redact(text) for name, text in row.diagnostics.items()
                    },
                    fingerprint=row.fingerprint,
                    source_name=self.source[:500],
                    image_reference=redact(row.image)[:500],
                    mask_reference=redact(row.mask)[:500],
                    status=FeatureExtraction.Status.FAILED
                    if failed
                    else FeatureExtraction.Status.DONE,
                    error=EMPTY_ROW if failed else "",
                )
            )
        created = bulk_create_with_history(
            extractions,
            FeatureExtraction,
            batch_size=BATCH_SIZE,
            default_change_reason=f"import_pyradiomics {self.source}"[:100],
        )

        for row, extraction in zip(rows, created, strict=True):
            self.links.link(row.line, extraction.patient, extraction)
            if extraction.status == FeatureExtraction.Status.FAILED:
                self.report.warnings.append(
                    Problem(
                        self.source,
                        f"{EMPTY_ROW}: no feature cell holds a number, so no value is "
                        "stored and the extraction is marked failed.",
                        row=row.line,
                        code=EXTRACTION_FAILED,
                    )
                )
        self.report.count("extractions", len(created))
        return created

    def feature_values(
        self,
        rows: list[ExtractionRow],
        extractions: list[FeatureExtraction],
        definitions: dict[str, FeatureDefinition],
    ) -> Iterator[tuple[int, int, float]]:
        feature_ids = [definitions[feature.name].pk for feature in self.table.features]
        for row, extraction in zip(rows, extractions, strict=True):
            for feature_id, value in zip(feature_ids, row.values, strict=True):
                if not math.isnan(value):
                    yield extraction.pk, feature_id, value

    def insert_values(self, values: Iterator[tuple[int, int, float]]) -> None:
        """Insert (extraction id, feature id, value) rows in bulk: COPY, or many per INSERT.

        NB: not bulk_create. For 1,000 ROIs x 1,500 features it spent two minutes
        building model instances and SQL; a FeatureValue has no signals or history
        to skip. On PostgreSQL, COPY also avoids psycopg's client-side parsing of
        long INSERT statements.
        """
        table, columns = FeatureValue.bulk_target()

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # COPY's text format written a block at a time: psycopg's write_row
                # spent 8 us of Python on each value, the join below half as much.
                # Ids and float reprs need no escaping (NaN and infinities are never
                # stored).
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    while batch := list(islice(values, BATCH_SIZE)):
                        copy.write("".join(f"{e}\t{f}\t{v!r}\n" for e, f, v in batch))
                        self.report.count("feature values", len(batch))
                return

            limit = connection.features.max_query_params
            per_statement = min(BATCH_SIZE, limit // 3) if limit else BATCH_SIZE
            while batch := list(islice(values, per_statement)):
                placeholders = ", ".join(["(%s, %s, %s)"] * len(batch))
                sql = f"INSERT INTO {table} ({columns}) VALUES {placeholders}"  # noqa: S608 - names from model meta
                cursor.execute(sql, [cell for value in batch for cell in value])
                self.report.count("feature values", len(batch))
