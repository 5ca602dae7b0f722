"""Import cfDNA variant tables (a lab's CSV, or the CAIRO5 matched-sequencing table)."""

from __future__ import annotations

import logging
from pathlib import Path

from biobank.core.importing import Problem, read_table
from biobank.core.validation import InvalidValue
from liquidbiopsy.hgvs import normalise_cdna_change
from liquidbiopsy.importers.common import (
    MISSING,
    PERCENT,
    Draw,
    FractionColumn,
    LabReport,
    PatientLookup,
    RowProblems,
    check_draw_of_patient,
    check_lengths,
    declared_unit,
    read_draws,
    read_fraction_column,
    recorded_lab_import,
    require_columns,
    screen_cells,
    screen_patients,
    unit_of_column,
    warn_unknown_columns,
)
from liquidbiopsy.importers.variants import (
    VariantRow,
    allele_type,
    check_gene,
    gene_values,
    read_alteration,
    store_variant_rows,
)
from liquidbiopsy.models import BloodSample, CfDNAAssay, VariantResult
from liquidbiopsy.validation import (
    NOT_A_CONCENTRATION,
    READS_DISAGREE,
    WHOLE_READS,
    check_call,
    check_concentration,
    check_detected_above_lod,
    check_fraction,
    check_genome_build,
    check_limit_of_detection,
    check_method,
    check_reads,
    check_reads_within_depth,
    read_genomic_change,
    read_whole,
    reads_disagree,
    resolve_call,
)
from patients.models import Project

logger = logging.getLogger(__name__)

STANDARD, CAIRO5 = "standard", "cairo5"
FORMATS = (STANDARD, CAIRO5)

Call = VariantResult.Call

ALIASES = {
    "alteration": "protein_change",
    "drawn_on": "draw_date",
    "external_sample_id": "sample_id",
}
KNOWN = {
    "patient_id",
    "draw_date",
    "drawn_at",
    "gene",
    "protein_change",
    "alteration_type",
    "cdna_change",
    "genomic_change",
    "genome_build",
    "vaf",
    "vaf_unit",
    "alt_reads",
    "depth",
    "supporting_reads",
    "call",
    "method",
    "panel",
    "cfdna_ng_per_ml",
    "tumour_fraction",
    "limit_of_detection",
    "sample_id",
    "timepoint",
    "tube_type",
    "is_clonal_haematopoiesis",
    "is_germline",
    "is_seen_in_ctc",
    "note",
}
# The column of a variant field whose column has another name:
VARIANT_COLUMNS = {
    "protein_change_raw": "protein_change",
    "fusion_5prime": "protein_change",
    "fusion_3prime": "protein_change",
    "fusion_note": "protein_change",
    "gene_hgnc": "gene",
}
# A source patient ID in a cell (common.screen_cells) rejects its row where the cell
# identifies the record or is read as a variant (the lab's sample ID; the
# alteration and cDNA change, stored as written when they do not parse); the
# descriptive text is stored with the ID replaced, the same way on every run.
REFUSED = ("sample_id", "protein_change", "cdna_change")
REDACTED = ("timepoint", "tube_type", "panel", "genome_build", "note")
FRACTION_COLUMNS = ("vaf", "tumour_fraction", "limit_of_detection")

# The CAIRO5 table of the plasmut package (../shared/data/liquid_biopsy_ctdna_cairo5):
CAIRO5_COLUMNS = {
    "Patient": "patient_id",
    "Date": "drawn_at",
    "Timepoint": "timepoint",
    "Gene": "gene",
    "AAChange": "protein_change",
    "Nucleotide Position (hg19)": "genomic_change",
    "cfDNA distinct reads": "depth",
    "cfDNA distinct mutant reads": "alt_reads",
    "source": "is_clonal_haematopoiesis",
    "type": "is_germline",
}
BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "y": True,
    "0": False,
    "false": False,
    "no": False,
    "n": False,
}


def detect_format(header: list[str]) -> str:
    return (
        CAIRO5
        if {"Patient", "AAChange", "cfDNA distinct reads"} <= set(header)
        else STANDARD
    )


def import_cfdna(
    path: Path,
    project: Project,
    create_patients: bool = False,
    vaf_unit: str | None = None,
    date_order: str | None = None,
    method: str | None = None,
    panel: str = "",
    table_format: str | None = None,
    user=None,
) -> LabReport:
    """Import a cfDNA variant table into `project`; bad rows are rejected one by one.

    Parameters
    ----------
    vaf_unit
        "percent" or "fraction": the unit of the whole vaf column (see the VAF rule in
        read_fraction_column). None leaves it to a vaf_unit column or % signs.
    method, panel
        The assay of rows that give none; the method defaults to targeted-NGS.
    table_format
        STANDARD or CAIRO5; None tells the CAIRO5 table by its header.

    Raises
    ------
    ImportRejected
        For a problem of the whole file (a missing column, malformed UTF-8, a unit
        contradiction, a VAF above 100 %); nothing is stored. A problem of one row
        only rejects that row, listed in the report and as a DataIssue.
    """
    report = LabReport(source=path.name)
    patients = PatientLookup(project, report, create_patients)
    with recorded_lab_import(project, "cfdna", path, report, user) as links:
        rows, problems = read_cfdna_rows(
            path, patients, report, vaf_unit, date_order, method, panel, table_format
        )
        store_variant_rows(rows, report, links, problems)
        report.rejected = problems.sorted()

    logger.info(
        "cfDNA variants of %s imported into project %s",
        report.source_name(path),
        project.code,
    )
    return report


def read_cfdna_rows(
    path: Path,
    patients: PatientLookup,
    report: LabReport,
    vaf_unit: str | None,
    date_order: str | None,
    method: str | None,
    panel: str,
    table_format: str | None,
) -> tuple[list[VariantRow], RowProblems]:
    """Check every row; return the good rows and the problems of the others.

    Raises ImportRejected for a problem of the whole file.
    """
    source = path.name
    header, lines = read_table(path)
    table_format = table_format or detect_format(header)
    if table_format == CAIRO5:
        require_columns(source, header, [(name,) for name in CAIRO5_COLUMNS])
        column_of = {standard: name for name, standard in CAIRO5_COLUMNS.items()}
        table = [(line, _from_cairo5(cells)) for line, cells in lines]
        declared_vaf = None
    else:
        declared_vaf = _header_unit(header)
        header = [_standard(name) for name in header]
        table = [
            (line, {_standard(k): v for k, v in cells.items()}) for line, cells in lines
        ]
        require_columns(
            source,
            header,
            [
                ("patient_id",),
                ("draw_date", "drawn_at"),
                ("gene",),
                ("protein_change",),
            ],
        )
        warn_unknown_columns(source, header, KNOWN, report)
        column_of = {}
    screen_patients(report, table)
    problems = RowProblems(source, column_of)
    screen_cells(report, problems, table, patients.project, REFUSED, REDACTED)

    fractions = _read_fractions(source, table, problems, vaf_unit, declared_vaf)
    date_name = (
        "draw_date" if any("draw_date" in cells for _, cells in table) else "drawn_at"
    )
    draws = read_draws(
        source,
        column_of.get(date_name, date_name),
        {line: cells.get(date_name, "") for line, cells in table},
        problems,
        report.warnings,
        date_order,
    )

    cleaner = _Cleaner(problems, report.warnings, patients, fractions, method, panel)
    rows = [
        row
        for line, cells in table
        if (row := cleaner.row(line, cells, draws.get(line))) is not None
    ]
    return rows, problems


def _header_unit(header: list[str]) -> str | None:
    """Return percent when the header's VAF column says so (vaf_percent, VAF (%))."""
    return PERCENT if any(_is_percent_vaf(name) for name in header) else None


def _is_percent_vaf(name: str) -> bool:
    return name.lower().startswith("vaf") and ("%" in name or "percent" in name.lower())


def _standard(name: str) -> str:
    """Return the column name used here for a header name (alteration -> protein_change)."""
    return "vaf" if _is_percent_vaf(name) else ALIASES.get(name, name)


def _from_cairo5(cells: dict[str, str]) -> dict[str, str]:
    """Return a CAIRO5 row in the standard columns, with its flags and note."""
    row = {standard: cells.get(name, "") for name, standard in CAIRO5_COLUMNS.items()}
    source = {part.strip() for part in cells["source"].split(",")}
    row["is_clonal_haematopoiesis"] = str("CHIP" in source)
    row["is_seen_in_ctc"] = str("CTC" in source)
    row["is_germline"] = str(cells["type"] == "Germline")
    row["genome_build"] = "hg19"
    row["note"] = f"type: {cells['type']}; g_include: {cells.get('g_include', '')}"
    return row


def _read_fractions(
    source: str,
    table: list[tuple[int, dict[str, str]]],
    problems: RowProblems,
    vaf_unit: str | None,
    declared_vaf: str | None,
) -> dict[str, FractionColumn]:
    """Read the vaf, tumour fraction and limit of detection columns, each in one unit."""
    fractions = {}
    for name in FRACTION_COLUMNS:
        cells = {line: cells.get(name, "") for line, cells in table}
        declarations: dict[str, str | None] = {}
        if name == "vaf":
            declarations = {
                "--vaf-unit": vaf_unit,
                "the header": declared_vaf,
                "the vaf_unit column": unit_of_column(
                    source,
                    "vaf_unit",
                    {line: cells.get("vaf_unit", "") for line, cells in table},
                ),
            }
        unit = declared_unit(source, name, cells, declarations)
        check = (
            check_limit_of_detection if name == "limit_of_detection" else check_fraction
        )
        fractions[name] = read_fraction_column(
            source, name, cells, problems, unit, check
        )
    return fractions


class _Cleaner:
    """Turn the cells of one row into a VariantRow, recording the row's problems."""

    def __init__(
        self,
        problems: RowProblems,
        warnings: list[Problem],
        patients: PatientLookup,
        fractions: dict[str, FractionColumn],
        method: str | None,
        panel: str,
    ) -> None:
        self.problems = problems
        self.warnings = warnings
        self.patients = patients
        self.fractions = fractions
        self.method = method
        self.panel = panel

    def row(
        self, line: int, cells: dict[str, str], draw: Draw | None
    ) -> VariantRow | None:
        gene = check_gene(self.problems, self.warnings, line, cells.get("gene", ""))
        alteration = None
        if gene is not None:
            alteration = read_alteration(
                self.problems,
                self.warnings,
                line,
                gene,
                _cell(cells, "protein_change"),
                cells.get("alteration_type", ""),
            )
        reads = {
            name: self.whole(line, cells, name)
            for name in ("alt_reads", "depth", "supporting_reads")
        }
        genomic = self.genomic(line, cells)
        flags = {
            name: self.flag(line, cells, name)
            for name in ("is_clonal_haematopoiesis", "is_germline", "is_seen_in_ctc")
        }
        method = self.assay_method(line, cells)
        assay_values = self.assay_values(line, cells)
        call, vaf, is_stated = self.call(line, cells, reads)
        sample_details = {
            "timepoint": cells.get("timepoint", ""),
            "tube_type": cells.get("tube_type", ""),
        }
        check_lengths(
            self.problems,
            line,
            BloodSample,
            sample_details | {"external_sample_id": cells.get("sample_id", "")},
            {"external_sample_id": "sample_id"},
        )
        panel = _cell(cells, "panel") or self.panel
        check_lengths(self.problems, line, CfDNAAssay, {"panel": panel})
        patient = self.patients.check(self.problems, line, cells.get("patient_id", ""))
        if patient is not None and draw is not None:
            date_name = "draw_date" if "draw_date" in cells else "drawn_at"
            check_draw_of_patient(self.problems, line, date_name, patient, draw)

        if (
            patient is None
            or draw is None
            or gene is None
            or alteration is None
            or method is None
            or call is None
            or self.problems.has(line)
        ):
            return None
        values = gene_values(gene) | alteration | reads | flags | genomic
        if values["variant_type"] == VariantResult.Type.OTHER and genomic:
            values["variant_type"] = allele_type(genomic["genomic_change"])
        values |= {"call": call, "vaf": vaf}
        if _cell(cells, "cdna_change"):
            values["cdna_change"] = normalise_cdna_change(cells["cdna_change"])
        if (
            _cell(cells, "note")
            and values.get("variant_type") != VariantResult.Type.FUSION
        ):
            values["note"] = cells["note"][:300]
        check_lengths(self.problems, line, VariantResult, values, VARIANT_COLUMNS)
        if self.problems.has(line):
            return None
        return VariantRow(
            line,
            patient,
            draw,
            method,
            panel,
            cells.get("sample_id", ""),
            sample_details,
            assay_values,
            values,
            is_call_stated=is_stated,
        )

    def whole(self, line: int, cells: dict[str, str], name: str) -> int | None:
        text = _cell(cells, name)
        if not text:
            return None
        try:
            number = read_whole(text)
        except ValueError:
            self.problems.add(line, name, WHOLE_READS, text)
            return None
        try:
            return check_reads(number)
        except InvalidValue as exc:
            self.problems.add(line, name, str(exc), text, code=exc.code)
            return None

    def flag(self, line: int, cells: dict[str, str], name: str) -> bool:
        text = _cell(cells, name).lower()
        if text and text not in BOOLEANS:
            self.problems.add(
                line, name, "must be yes or no (1/0, true/false).", cells[name]
            )
        return BOOLEANS.get(text, False)

    def genomic(self, line: int, cells: dict[str, str]) -> dict[str, str]:
        text = _cell(cells, "genomic_change")
        if not text:
            return {}
        try:
            change = read_genomic_change(text)
        except InvalidValue as exc:
            self.problems.add(line, "genomic_change", str(exc), text)
            return {}
        build = _cell(cells, "genome_build")
        try:
            return {"genomic_change": change, "genome_build": check_genome_build(build)}
        except InvalidValue as exc:
            self.problems.add(line, "genome_build", str(exc), build, exc.code)
            return {}

    def assay_method(self, line: int, cells: dict[str, str]) -> str | None:
        text = _cell(cells, "method") or self.method or CfDNAAssay.Method.TARGETED_NGS
        try:
            return check_method(text)
        except InvalidValue as exc:
            self.problems.add(line, "method", str(exc), text)
            return None

    def assay_values(self, line: int, cells: dict[str, str]) -> dict[str, object]:
        concentration = None
        text = _cell(cells, "cfdna_ng_per_ml")
        if text:
            try:
                concentration = check_concentration(float(text))
            except InvalidValue as exc:
                self.problems.add(line, "cfdna_ng_per_ml", str(exc), text)
            except ValueError:  # not a number
                self.problems.add(line, "cfdna_ng_per_ml", NOT_A_CONCENTRATION, text)
        return {
            "cfdna_ng_per_ml": concentration,
            "tumour_fraction": self.fractions["tumour_fraction"].values.get(line),
            "limit_of_detection_vaf": self.fractions["limit_of_detection"].values.get(
                line
            ),
        }

    def call(
        self, line: int, cells: dict[str, str], reads: dict[str, int | None]
    ) -> tuple[str | None, float | None, bool]:
        """Return the call, the VAF and whether the lab stated the call.

        "not detected" and "below LOD" never carry a VAF. Without a vaf cell the
        VAF is alt_reads / depth; without a call, the VAF and depth give it
        (validation.call_of). Whether a VAF is under the limit of detection is
        decided against the assay's one limit, the row's or the one stored on its
        assay, once that is found (variants.call_against_limit).
        """
        vaf_column = self.fractions["vaf"]
        vaf = vaf_column.values.get(line)
        stated = {vaf_column.calls.get(line)}
        text = _cell(cells, "call")
        if text:
            try:
                stated.add(check_call(text))
            except InvalidValue as exc:
                self.problems.add(line, "call", str(exc), text)
                return None, None, False
        stated.discard(None)
        if len(stated) > 1:
            self.problems.add(
                line, "call", "contradicts the call in the vaf cell.", text
            )
            return None, None, False

        alt, depth = reads["alt_reads"], reads["depth"]
        try:
            check_reads_within_depth(alt, depth)
        except InvalidValue as exc:
            self.problems.add(line, "alt_reads", str(exc), str(alt))
            return None, None, False
        call = stated.pop() if stated else None
        try:
            resolved = resolve_call(call, vaf, alt, depth)
            if call is not None:
                # Refused by the row's own limit here, quoting the cell; by the one
                # stored on the assay later (variants.call_against_limit):
                lod = self.fractions["limit_of_detection"].values.get(line)
                check_detected_above_lod(call, resolved[1], lod)
        except InvalidValue as exc:
            self.problems.add(line, "vaf", str(exc), _cell(cells, "vaf"), exc.code)
            return None, None, False
        disagreement = reads_disagree(vaf, alt, depth)
        if disagreement:
            self.warnings.append(
                Problem(
                    self.problems.source,
                    disagreement,
                    row=line,
                    field=self.problems.column_of.get("vaf", "vaf"),
                    value=_cell(cells, "vaf"),
                    code=READS_DISAGREE,
                )
            )
        return *resolved, call is not None


def _cell(cells: dict[str, str], name: str) -> str:
    text = cells.get(name, "").strip()
    return "" if text.upper() in MISSING else text
