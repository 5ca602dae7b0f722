"""Import MAF files (plain or gzipped, any column order) as cfDNA variants of one draw date."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from biobank.core.dates import parse_one
from biobank.core.importing import ImportRejected, Problem, read_table
from biobank.core.safefiles import decode_utf8, read_text_bytes
from biobank.core.validation import InvalidValue, check_date_text, check_not_future
from biobank.core.wording import give
from liquidbiopsy.importers.common import (
    MISSING,
    PERCENT,
    Draw,
    LabReport,
    PatientLookup,
    RowProblems,
    check_draw_of_patient,
    check_lengths,
    control_characters_of_lines,
    declared_unit,
    read_fraction_column,
    recorded_lab_import,
    require_columns,
    screen_cells,
    screen_patients,
)
from liquidbiopsy.importers.variants import (
    VariantRow,
    allele_type,
    called_vaf,
    check_gene,
    dbsnp_id_of,
    draw_of_option,
    flag_germline,
    gene_values,
    germline_skipped,
    lod_of_option,
    read_alteration,
    store_variant_rows,
)
from liquidbiopsy.models import CfDNAAssay, VariantResult
from liquidbiopsy.validation import (
    WHOLE_READS,
    check_genome_build,
    check_reads,
    genomic_change,
    read_whole,
)
from patients.importers.cells import CellScreen
from patients.models import Project

logger = logging.getLogger(__name__)

REQUIRED = [
    ("Hugo_Symbol",),
    ("Tumor_Sample_Barcode",),
    ("Chromosome",),
    ("Start_Position",),
    ("Reference_Allele",),
    ("Tumor_Seq_Allele2",),
]
# Protein change columns, the first one present wins:
# Amino_Acid_Change is the legacy TCGA column cBioPortal reads without HGVSp_Short.
PROTEIN_COLUMNS = (
    "HGVSp_Short",
    "Protein_Change",
    "amino_acid_change",
    "HGVSp",
    "Amino_Acid_Change",
)
# VAF columns, and the unit their convention fixes (None: declare it, or fraction):
VAF_COLUMNS = {
    "i_TumorVAF_WU": PERCENT,
    "tumor_f": "fraction",
    "t_vaf": None,
    "VAF": None,
}
# Mutation_Status values whose allele is inherited (any case), and what they mean:
GERMLINE_STATUS = {"germline": "germline", "loh": "LOH"}
_MAX_CDNA = VariantResult._meta.get_field("cdna_change").max_length
# The column of a variant field whose column has another name:
VARIANT_COLUMNS = {
    "gene": "Hugo_Symbol",
    "gene_hgnc": "Hugo_Symbol",
    "genomic_change": "Start_Position",
    "genome_build": "NCBI_Build",
    "dbsnp_id": "dbSNP_RS",
    "protein_change_raw": "protein_change",
    "fusion_5prime": "protein_change",
    "fusion_3prime": "protein_change",
    "fusion_note": "protein_change",
}


@dataclass
class SampleOrigin:
    """Whose draw a Tumor_Sample_Barcode stands for, from the sample map or the barcode."""

    patient_id: str
    draw: Draw | None
    sample_id: str = ""


def import_maf(
    path: Path,
    project: Project,
    drawn_on: str | None = None,
    sample_map: Path | None = None,
    create_patients: bool = False,
    vaf_unit: str | None = None,
    method: str | None = None,
    panel: str = "",
    user=None,
    keep_germline: bool = False,
    lod: str | float | None = None,
    date_order: str | None = None,
) -> LabReport:
    """Import a MAF file into `project`; bad rows are rejected one by one.

    Parameters
    ----------
    drawn_on
        The blood draw date of every sample (YYYY-MM-DD); a sample map may give one per
        sample instead. A file with no draw date for a sample is rejected whole.
    sample_map
        CSV with Tumor_Sample_Barcode (or sample), patient_id and optionally draw_date
        and sample_id. Without it, the barcode is the source patient ID.
    vaf_unit
        The unit of a VAF column whose convention fixes none (i_TumorVAF_WU is percent).
    keep_germline
        Store rows whose Mutation_Status is Germline or LOH with is_germline set. By
        default they are skipped and counted in a warning.
    lod
        The assay's limit of detection, a VAF fraction (0.005), stored on the assay: a
        row whose VAF is under it is below LOD, as in a cfDNA table. A MAF states
        none, so without it the rows are called against the limit stored on their
        draw's assay, if any (variants.lod_of_option, store_variant_rows).

    Raises
    ------
    ImportRejected
        For a problem of the whole file: malformed UTF-8, a missing column, no draw
        date, a VAF above 100 %, a limit of detection that is no fraction.
    """
    report = LabReport(source=path.name)
    patients = PatientLookup(project, report, create_patients)
    with recorded_lab_import(project, "maf", path, report, user) as links:
        default_draw = (
            draw_of_option(path.name, drawn_on, date_order)
            if drawn_on or not sample_map
            else None
        )
        limit = lod_of_option(path.name, lod, report.warnings)
        origins = (
            read_sample_map(sample_map, default_draw, date_order, project)
            if sample_map
            else None
        )
        for barcode, origin in (origins or {}).items():
            report.screen.add(barcode, origin.patient_id)
        rows, problems = read_maf_rows(
            path,
            patients,
            report,
            default_draw,
            origins,
            vaf_unit,
            method,
            panel,
            keep_germline,
            limit,
        )
        store_variant_rows(rows, report, links, problems, lod_of_file=True)
        report.rejected = problems.sorted()

    logger.info(
        "MAF %s imported into project %s", report.source_name(path), project.code
    )
    return report


def read_maf_text(path: Path) -> list[tuple[int, str]]:
    """Return the lines of a MAF with their numbers; gzip and CR-only endings are read.

    Malformed UTF-8 rejects the file with the line and byte offset it sits at; an
    oversized file or gzip bomb is refused unread (biobank/core/safefiles.py).
    """
    text = decode_utf8(path.name, read_text_bytes(path, gzip_allowed=True))
    lines = list(enumerate(re.split(r"\r\n|\r|\n", text), start=1))
    problems = control_characters_of_lines(path.name, lines)
    if problems:
        raise ImportRejected(problems)
    return lines


def read_maf_rows(
    path: Path,
    patients: PatientLookup,
    report: LabReport,
    default_draw: Draw | None,
    origins: dict[str, SampleOrigin] | None,
    vaf_unit: str | None,
    method: str | None,
    panel: str,
    keep_germline: bool = False,
    lod: float | None = None,
) -> tuple[list[VariantRow], RowProblems]:
    """Check every row; return the good rows and the problems of the others.

    A row whose Mutation_Status is Germline or LOH is skipped and counted in a
    warning, or with `keep_germline` stored with is_germline set. A VAF under the
    assay's limit of detection `lod` is below LOD.
    """
    source = path.name
    header: list[str] | None = None
    table: list[tuple[int, dict[str, str]]] = []
    for number, line in read_maf_text(path):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [cell.strip() for cell in line.split("\t")]
        if header is None:
            header = cells
            continue
        table.append((number, dict(zip(header, cells, strict=False))))
    # Without a sample map the barcode is the patient's ID:
    screen_patients(report, table, "Tumor_Sample_Barcode", "sample")
    if header is None:
        raise ImportRejected([Problem(source, "is empty; a MAF header row is needed.")])
    require_columns(source, header, REQUIRED)

    protein_column = next((name for name in PROTEIN_COLUMNS if name in header), "")
    vaf_column = next((name for name in VAF_COLUMNS if name in header), "")
    problems = RowProblems(
        source,
        {
            "gene": "Hugo_Symbol",
            "patient_id": "Tumor_Sample_Barcode",
            "protein_change": protein_column or "protein_change",
            "alteration_type": "Variant_Type",
            "vaf": vaf_column or "vaf",
            "dbsnp_id": "dbSNP_RS",
        },
    )
    vafs = {}
    if vaf_column:
        cells = {number: cells.get(vaf_column, "") for number, cells in table}
        declarations = {
            "--vaf-unit": vaf_unit,
            f"the MAF convention for {vaf_column}": VAF_COLUMNS[vaf_column],
        }
        unit = declared_unit(source, vaf_column, cells, declarations)
        vafs = read_fraction_column(source, vaf_column, cells, problems, unit).values

    # The barcode is the patient's ID without a sample map, and often holds it with
    # one; a source ID in a change, stored as written, rejects the row:
    screen_cells(
        report,
        problems,
        table,
        patients.project,
        refused=tuple(name for name in ("HGVSc", protein_column) if name),
        id_column="Tumor_Sample_Barcode",
    )
    _check_draws(source, table, default_draw, origins)
    cleaner = _Cleaner(
        problems,
        report.warnings,
        patients,
        protein_column,
        vaf_column,
        method,
        panel,
        lod,
    )
    rows = []
    skipped: dict[tuple[str, str, str], int] = {}
    for number, cells in table:
        status = cells.get("Mutation_Status", "")
        meaning = GERMLINE_STATUS.get(status.lower())
        if meaning and not keep_germline:
            key = ("Mutation_Status", status, meaning)
            skipped[key] = skipped.get(key, 0) + 1
            continue
        origin = _origin(
            problems, number, cells["Tumor_Sample_Barcode"], default_draw, origins
        )
        row = cleaner.row(number, cells, origin, vafs.get(number))
        if row is not None and meaning:
            flag_germline(row, meaning, "Mutation_Status", status)
        if row is not None:
            rows.append(row)
    report.warnings += germline_skipped(source, skipped)
    return rows, problems


def read_sample_map(
    path: Path,
    default_draw: Draw | None,
    date_order: str | None = None,
    project: Project | None = None,
) -> dict[str, SampleOrigin]:
    """Read the sample map: barcode -> patient, with its own draw date if it gives one.

    A sample_id holding a source patient ID rejects the map (CellScreen): it is
    part of what finds the draw again, so it is neither stored nor rewritten.
    """
    header, lines = read_table(path)
    barcode = "Tumor_Sample_Barcode" if "Tumor_Sample_Barcode" in header else "sample"
    require_columns(path.name, header, [(barcode,), ("patient_id",)])

    lines = list(lines)
    screen = CellScreen(path.name, project)
    screen.add_patients(cells["patient_id"] for _, cells in lines)
    errors, _ = screen.screen_table(lines, "patient_id", refused=("sample_id",))
    origins: dict[str, SampleOrigin] = {}
    for line, cells in lines:
        draw = default_draw
        text = cells.get("draw_date", "")
        if text.upper() not in MISSING:
            day = parse_one(text, date_order)
            if day is None:
                errors.append(
                    Problem(
                        path.name,
                        "is not a date (YYYY-MM-DD).",
                        row=line,
                        field="draw_date",
                        value=text,
                    )
                )
                continue
            try:
                check_not_future(day)
                check_date_text(text)
            except InvalidValue as exc:
                errors.append(
                    Problem(
                        path.name,
                        str(exc),
                        row=line,
                        field="draw_date",
                        value=text,
                        code=exc.code,
                    )
                )
                continue
            draw = draw_of_option(path.name, text, date_order)
        origins[cells[barcode]] = SampleOrigin(
            cells["patient_id"], draw, cells.get("sample_id", "")
        )
    if errors:
        raise ImportRejected(errors)
    return origins


def _check_draws(
    source: str,
    table: list[tuple[int, dict[str, str]]],
    default_draw: Draw | None,
    origins: dict[str, SampleOrigin] | None,
) -> None:
    """Reject the file when a sample of it has no draw date (never guessed)."""
    if default_draw is not None or origins is None:
        return
    barcodes = {cells.get("Tumor_Sample_Barcode", "") for _number, cells in table}
    # Barcodes missing from the map are the problem of their rows (see _origin):
    undated = [b for b in barcodes if b in origins and origins[b].draw is None]
    if undated:
        raise ImportRejected(
            [
                Problem(
                    source,
                    f"has no blood draw date for {len(undated)} samples; "
                    f"{give('drawn_on')} or a draw_date column in the sample map.",
                    field="drawn_on",
                    code="no-draw-date",
                )
            ]
        )


def _origin(
    problems: RowProblems,
    line: int,
    barcode: str,
    default_draw: Draw | None,
    origins: dict[str, SampleOrigin] | None,
) -> SampleOrigin | None:
    if origins is None:
        return SampleOrigin(barcode, default_draw)
    if barcode not in origins:
        # NB: a barcode may identify the patient, so it is not quoted in the problem.
        problems.add(
            line, "patient_id", "is not in the sample map; add the sample to it."
        )
        return None
    return origins[barcode]


class _Cleaner:
    """Turn the cells of one MAF row into a VariantRow, recording the row's problems."""

    def __init__(
        self,
        problems: RowProblems,
        warnings: list[Problem],
        patients: PatientLookup,
        protein_column: str,
        vaf_column: str,
        method: str | None,
        panel: str,
        lod: float | None = None,
    ) -> None:
        self.vaf_column = vaf_column
        self.problems = problems
        self.warnings = warnings
        self.patients = patients
        self.protein_column = protein_column
        self.method = method or CfDNAAssay.Method.TARGETED_NGS
        self.panel = panel
        self.lod = lod
        # By line, the count columns of 0 read as unknown (warn_of_zero), which the
        # stored call's note names, so that the call shows it beyond the import's report:
        self.zero_counts: dict[int, list[str]] = {}

    def row(
        self,
        line: int,
        cells: dict[str, str],
        origin: SampleOrigin | None,
        vaf: float | None,
    ) -> VariantRow | None:
        gene_text = cells.get("Hugo_Symbol", "")
        gene = (
            ""
            if gene_text in ("Unknown", "")
            else check_gene(self.problems, self.warnings, line, gene_text, strict=False)
        )
        position = self.whole(line, cells, "Start_Position", required=True)
        ref = _allele(cells.get("Reference_Allele", ""))
        alt = _allele(cells.get("Tumor_Seq_Allele2", ""))
        if alt == ref:
            alt = _allele(cells.get("Tumor_Seq_Allele1", ""))
        alteration = read_alteration(
            self.problems,
            self.warnings,
            line,
            gene or "",
            _cell(cells, self.protein_column),
            cells.get("Variant_Type", ""),
            strict=False,
        )
        alt_reads, depth, former = self.counts_of_call(line, cells)
        if alt_reads is not None and depth:
            vaf = alt_reads / depth
        build = self.genome_build(line, cells)
        patient = None
        if origin is not None:
            patient = self.patients.check(self.problems, line, origin.patient_id)
        if patient is not None and origin is not None and origin.draw is not None:
            check_draw_of_patient(self.problems, line, "drawn_on", patient, origin.draw)

        if (
            patient is None
            or origin is None
            or origin.draw is None
            or gene is None
            or position is None
            or alteration is None
            or self.problems.has(line)
        ):
            return None
        change = genomic_change(cells["Chromosome"], str(position), ref, alt)
        values = gene_values(gene) | alteration
        if values["variant_type"] == VariantResult.Type.OTHER:
            values["variant_type"] = allele_type(change)
        vaf_name = "t_alt_count" if alt_reads is not None and depth else self.vaf_column
        vaf = called_vaf(self.warnings, self.problems.source, line, vaf_name, vaf)
        # Below LOD or not, against the assay's limit: variants.call_against_limit.
        call = VariantResult.Call.DETECTED
        values |= {
            "genomic_change": change,
            "genome_build": build,
            "dbsnp_id": dbsnp_id_of(
                self.warnings,
                self.problems.source,
                line,
                "dbSNP_RS",
                cells.get("dbSNP_RS", ""),
            ),
            "cdna_change": _cell(cells, "HGVSc")[:_MAX_CDNA],
            "alt_reads": alt_reads,
            "depth": depth,
            "vaf": vaf,
            "call": call,
        }
        if line in self.zero_counts:
            values["note"] = (
                f"{' and '.join(self.zero_counts[line])} 0 in the MAF, read as "
                "unknown: not the reads the call was made on"
            )
        check_lengths(self.problems, line, VariantResult, values, VARIANT_COLUMNS)
        if self.problems.has(line):
            return None
        return VariantRow(
            line,
            patient,
            origin.draw,
            self.method,
            self.panel,
            origin.sample_id,
            assay_values={"limit_of_detection_vaf": self.lod},
            values=values,
            former=former,
        )

    def counts_of_call(
        self, line: int, cells: dict[str, str]
    ) -> tuple[int | None, int | None, dict[str, object]]:
        """Return the alt reads and depth of a called variant, and their former reading.

        A count of 0 is unknown. A MAF row is a variant the caller called in this
        very sample (its Tumor_Sample_Barcode). A VCF record is a site listed for
        every sample of the file, so a sample's own 0 alt reads say that sample lacks
        the allele (vcf._Reader.call: not detected); in a MAF row no supporting read,
        or no read at all, contradicts the call itself, so the counts are not of the
        reads it was called on: MAFs write 0 where counts were not computed or were
        filtered (cBioPortal's study_es_0 writes t_depth 0 beside empty alt counts),
        or count on another alignment, as pileup counters miss indel reads. The call
        stays detected, with a warning, and a 0 is stored as unknown, as is the VAF
        it would give: kept beside the depth, it would give any later change a VAF
        of 0 again (resolve_call derives alt_reads / depth). A t_depth of 0 beside
        read counts is a depth not computed, so t_ref_count + t_alt_count give it.
        The former reading is what the importer stored for such a row before it read
        a 0 as unknown (see store_variants); empty where both agree.
        NB: a "fill-out" MAF, every variant of a patient genotyped in each of its
        samples, is no list of calls: its rows of 0 alt reads are absences, read as
        calls here; import such results as a cfDNA table, whose call the reads give.
        """
        alt_reads = self.whole(line, cells, "t_alt_count")
        given_depth = self.whole(line, cells, "t_depth")
        ref_reads = self.whole(line, cells, "t_ref_count")
        counted = None
        if ref_reads is not None and alt_reads is not None:
            counted = ref_reads + alt_reads
        depth = given_depth or counted  # a t_depth of 0 was not computed
        if alt_reads is not None and depth is not None and alt_reads > depth:
            self.problems.add(
                line,
                "t_alt_count",
                f"exceeds the depth of {depth} reads.",
                str(alt_reads),
            )
            return None, None, {}
        former = _former_reading(alt_reads, given_depth, counted)
        if given_depth == 0:
            self.warn_of_zero(line, "t_depth", _zero_depth(alt_reads, depth))
        elif counted == 0:
            self.warn_of_zero(
                line, "t_alt_count", ", as is t_ref_count," + _NO_READS + _NOT_ITS_READS
            )
        if depth == 0 or (given_depth == 0 and depth is None and not alt_reads):
            alt_reads, depth = None, None  # no read at all, warned of above
        elif alt_reads == 0:
            self.warn_of_zero(line, "t_alt_count", _NO_ALLELE_READS + _NOT_ITS_READS)
            alt_reads = None
        if (alt_reads, depth) == (former["alt_reads"], former["depth"]):
            former = {}
        return alt_reads, depth, former

    def warn_of_zero(self, line: int, field: str, message: str) -> None:
        self.zero_counts.setdefault(line, []).append(field)
        self.warnings.append(
            Problem(
                self.problems.source,
                f"is 0{message}",
                row=line,
                field=field,
                value="0",
                code="zero-reads-of-called-variant",
            )
        )

    def genome_build(self, line: int, cells: dict[str, str]) -> str:
        """Return the build of NCBI_Build by its name: 37, hg19, GRCh37-lite -> GRCh37."""
        text = _cell(cells, "NCBI_Build")
        try:
            return check_genome_build(text)
        except InvalidValue as exc:
            self.problems.add(line, "NCBI_Build", str(exc), text, exc.code)
            return ""

    def whole(
        self, line: int, cells: dict[str, str], name: str, required: bool = False
    ) -> int | None:
        text = _cell(cells, name)
        if not text:
            if required:
                self.problems.add(
                    line,
                    name,
                    "is required; a MAF row needs its position.",
                    cells.get(name, ""),
                )
            return None
        if not text.isdigit():
            self.problems.add(line, name, "is not a whole number (0 or more).", text)
            return None
        if name == "Start_Position":
            return int(text)  # NB: kept in the genomic change, a text of any length.
        try:
            return check_reads(read_whole(text))
        except ValueError as exc:  # InvalidValue, or int() of over 4300 digits
            message = str(exc) if isinstance(exc, InvalidValue) else WHOLE_READS
            self.problems.add(line, name, message, text, code="number-out-of-range")
            return None


_NO_READS = (
    " for a variant the caller called in this sample, and no call is made without "
    "reads:"
)
_NO_ALLELE_READS = (
    " for a variant the caller called in this sample, and no call is made without "
    "reads of its allele:"
)
_NOT_ITS_READS = (
    " the counts are not of the reads it was called on (not computed, or counted on "
    "another alignment). It is stored as detected, the count as unknown, with no VAF "
    "from it."
)


def _former_reading(
    alt_reads: int | None, given_depth: int | None, counted: int | None
) -> dict[str, object]:
    """Return what the importer stored of a row's counts before 0 was read as unknown.

    The counts as written, the depth t_depth else t_ref_count + t_alt_count, and no
    VAF for 0 alt reads of some depth (a VAF of 0 of a called variant, stored empty).
    A stored result of a MAF imported then is the same result, not a conflict.
    """
    depth = counted if given_depth is None else given_depth
    former: dict[str, object] = {"alt_reads": alt_reads, "depth": depth}
    if alt_reads == 0 and depth:
        former["vaf"] = None
    return former


def _zero_depth(alt_reads: int | None, depth: int | None) -> str:
    """Return the rest of the warning of a t_depth of 0, after "is 0"."""
    if depth:
        return (
            f", but t_ref_count and t_alt_count count {depth} reads: the depth was "
            "not computed, and their sum is stored as the depth."
        )
    if alt_reads:
        return (
            f", but t_alt_count counts {alt_reads} reads of the allele: the depth "
            "was not computed, and is stored as unknown, with no VAF from it."
        )
    return _NO_READS + _NOT_ITS_READS


def _cell(cells: dict[str, str], name: str) -> str:
    text = cells.get(name, "").strip() if name else ""
    return "" if text.upper() in MISSING else text


def _allele(text: str) -> str:
    text = text.strip()
    return "" if text in ("-", ".", "") else text
