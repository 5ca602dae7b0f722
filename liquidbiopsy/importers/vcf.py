"""Import the tumour (or plasma) sample of a somatic VCF as the variants of one draw."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from biobank.core.importing import ImportRejected, Problem
from biobank.core.validation import InvalidValue
from liquidbiopsy.importers.common import (
    FRACTION,
    PERCENT,
    Draw,
    LabReport,
    PatientLookup,
    RowProblems,
    check_draw_of_patient,
    check_lengths,
    recorded_lab_import,
)
from liquidbiopsy.importers.maf import read_maf_text
from liquidbiopsy.importers.variants import (
    VariantRow,
    allele_type,
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
    check_genome_build,
    check_reads,
    genomic_change,
    read_signed_decimal,
)
from patients.importers.cells import CODE, REFUSED, CellScreen
from patients.models import Patient, Project

logger = logging.getLogger(__name__)

FIXED = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
PASSED = {"PASS", "."}
_FORMAT_LINE = re.compile(r"^##FORMAT=<ID=(?P<id>[^,>]+),Number=(?P<number>[^,>]+)")
_CSQ_LINE = re.compile(r'^##INFO=<ID=(?P<id>CSQ|ANN),.*Format: (?P<fields>[^">]+)')
_BUILD = re.compile(r"GRCh3[78]|hg19|hg38|b37|hs37d5", re.IGNORECASE)
# The somatic status codes of VarScan (INFO SS) and of MuTect 1, MuSE, SomaticSniper
# and Pindel (FORMAT SS): 0 reference, 1 germline, 2 somatic, 3 LOH, 4
# post-transcriptional, 5 unknown. A germline or LOH record's allele is inherited:
GERMLINE_STATUS = {"1": "germline", "3": "LOH"}
# snpEff's ANN fields (http://pcingola.github.io/SnpEff/adds/VCFannotationformat_v1.0.pdf):
_ANN_FIELDS = [
    "Allele",
    "Annotation",
    "Annotation_Impact",
    "SYMBOL",
    "Gene_ID",
    "Feature_Type",
    "Feature_ID",
    "Transcript_BioType",
    "Rank",
    "HGVSc",
    "HGVSp",
]


@dataclass
class VCFHeader:
    """What the meta lines and the #CHROM line say: samples, FORMAT numbers, annotations."""

    samples: list[str]
    numbers: dict[str, str] = field(default_factory=dict)
    annotation: tuple[str, list[str]] | None = None
    build: str = ""


def import_vcf(
    path: Path,
    project: Project,
    patient_id: str,
    drawn_on: str | None,
    sample: str | None = None,
    create_patients: bool = False,
    keep_filtered: bool = False,
    method: str | None = None,
    panel: str = "",
    user=None,
    keep_germline: bool = False,
    lod: str | float | None = None,
    date_order: str | None = None,
) -> LabReport:
    """Import one sample column of a VCF into `project`; bad records are rejected one by one.

    Parameters
    ----------
    patient_id, drawn_on
        The source patient ID and blood draw date of the whole file; without either
        the file is rejected.
    sample
        The sample column to read (by its #CHROM header name); by default TUMOR, the
        only sample, or the one beside NORMAL.
    keep_filtered
        Store records whose FILTER is not PASS (or ".") with the call "failed" and the
        filter in the note. By default they are skipped and counted in a warning.
    keep_germline
        Store records the caller calls germline or LOH (somatic_status) with
        is_germline set. By default they are skipped and counted in a warning.
    lod
        The assay's limit of detection, a VAF fraction (0.005), stored on the assay: a
        PASS record whose VAF is under it is below LOD, as in a cfDNA table. A VCF
        states none, so without it the records are called against the limit stored
        on the draw's assay, if any (variants.lod_of_option, store_variant_rows).

    Raises
    ------
    ImportRejected
        For a problem of the whole file: malformed UTF-8, no #CHROM line, an unknown
        sample or patient, no draw date, a limit of detection that is no fraction.
    """
    report = LabReport(source=path.name)
    # The file is often named after the patient or the sample (MRN0048213_T.vcf):
    report.screen.add(patient_id, sample)
    with recorded_lab_import(project, "vcf", path, report, user) as links:
        draw = draw_of_option(path.name, drawn_on, date_order)
        limit = lod_of_option(path.name, lod, report.warnings)
        patient = _patient(
            path.name, PatientLookup(project, report, create_patients), patient_id
        )
        _check_draw_of(path.name, patient, draw)
        reader = _Reader(
            path.name,
            report.warnings,
            patient,
            draw,
            method,
            panel,
            keep_filtered,
            keep_germline,
            limit,
        )
        reader.screen.add_patients([patient_id])
        rows, problems = reader.read(path, sample)
        store_variant_rows(rows, report, links, problems, lod_of_file=True)
        report.rejected = problems.sorted()

    logger.info(
        "VCF %s imported into project %s", report.source_name(path), project.code
    )
    return report


def _patient(source: str, patients: PatientLookup, patient_id: str) -> Patient:
    problems = RowProblems(source)
    patient = patients.check(problems, 0, patient_id)
    if patient is None:
        raise ImportRejected(
            [
                Problem(source, p.message, field="patient_id", code=p.code)
                for p in problems.problems
            ]
        )
    return patient


def _check_draw_of(source: str, patient: Patient, draw: Draw) -> None:
    """Reject the file when its draw lies before the birth year of its patient."""
    problems = RowProblems(source)
    check_draw_of_patient(problems, 0, "drawn_on", patient, draw)
    if problems.problems:
        raise ImportRejected(
            [
                Problem(source, p.message, field="drawn_on", code=p.code)
                for p in problems.problems
            ]
        )


def choose_sample(source: str, samples: list[str], wanted: str | None) -> int:
    """Return the index of the sample column to read (see import_vcf).

    NB: sample names may identify patients, so the problems do not quote them.
    """
    if wanted is not None:
        if wanted not in samples:
            raise ImportRejected(
                [
                    Problem(
                        source,
                        f"has no sample column of that name among its {len(samples)}; "
                        "give --sample as its #CHROM line spells it.",
                        field="sample",
                    )
                ]
            )
        return samples.index(wanted)
    if "TUMOR" in samples:
        return samples.index("TUMOR")
    others = [name for name in samples if name.upper() != "NORMAL"]
    if len(others) == 1:
        return samples.index(others[0])
    raise ImportRejected(
        [
            Problem(
                source,
                f"has {len(samples)} sample columns; name the one to import with "
                "--sample as its #CHROM line spells it.",
                field="sample",
            )
        ]
    )


class _Reader:
    """Read records into VariantRows: one per ALT allele of the chosen sample."""

    def __init__(
        self,
        source: str,
        warnings: list[Problem],
        patient: Patient,
        draw: Draw,
        method: str | None,
        panel: str,
        keep_filtered: bool,
        keep_germline: bool = False,
        lod: float | None = None,
    ) -> None:
        self.source = source
        self.warnings = warnings
        self.patient = patient
        self.draw = draw
        self.method = method or CfDNAAssay.Method.TARGETED_NGS
        self.panel = panel
        self.keep_filtered = keep_filtered
        self.keep_germline = keep_germline
        self.lod = lod
        self.problems = RowProblems(source, {"dbsnp_id": "ID"})
        # The file's patient's source ID, and stored patients', in the text stored:
        self.screen = CellScreen(source, patient.project)
        self.filtered: dict[str, int] = {}
        # Records skipped as germline, by (field, status code, its meaning):
        self.germline: dict[tuple[str, str, str], int] = {}

    def read(
        self, path: Path, wanted: str | None
    ) -> tuple[list[VariantRow], RowProblems]:
        lines = read_maf_text(path)
        header = _header(self.source, lines)
        column = len(FIXED) + choose_sample(self.source, header.samples, wanted)

        rows: list[VariantRow] = []
        for number, line in lines:
            if not line.strip() or line.startswith("#"):
                continue
            rows += self.record(number, line.split("\t"), column, header)

        for name, count in sorted(self.filtered.items()):
            self.warnings.append(
                Problem(
                    self.source,
                    f"{count} records with FILTER {name} were skipped (not PASS); "
                    "re-run with --keep-filtered to store them as failed calls.",
                    field="FILTER",
                    value=name,
                    code="filtered-records-skipped",
                )
            )
        self.warnings += germline_skipped(self.source, self.germline)
        return rows, self.problems

    def record(
        self, line: int, cells: list[str], column: int, header: VCFHeader
    ) -> list[VariantRow]:
        if len(cells) <= column:
            self.problems.add(
                line,
                "FORMAT",
                f"has {len(cells)} columns; the #CHROM line names {column + 1}.",
            )
            return []
        chrom, pos, ids, ref, alts, _qual, filters, info, keys = cells[: len(FIXED)]
        if not pos.isdigit():
            self.problems.add(line, "POS", "is not a position.", pos)
            return []
        if filters not in PASSED and not self.keep_filtered:
            self.filtered[filters] = self.filtered.get(filters, 0) + 1
            return []

        values = dict(zip(keys.split(":"), cells[column].split(":"), strict=False))
        status, status_field = somatic_status(info, values)
        if status in GERMLINE_STATUS and not self.keep_germline:
            key = (status_field, status, GERMLINE_STATUS[status])
            self.germline[key] = self.germline.get(key, 0) + 1
            return []
        called = called_alleles(values.get("GT", ""))
        # dbSNP names a position's alleles by one ID, so each allele takes the record's:
        dbsnp_id = dbsnp_id_of(self.warnings, self.source, line, "ID", ids)
        rows = []
        for index, alt in enumerate(alts.split(",")):
            if called and index + 1 not in called:
                continue
            if alt.startswith("<") or alt in ("*", "."):
                continue  # NB: symbolic and spanning-deletion alleles name no sequence to store.
            row = self.allele(
                line, chrom, pos, ref, alt, index, filters, info, values, header
            )
            if row is not None and status in GERMLINE_STATUS:
                flag_germline(row, GERMLINE_STATUS[status], status_field, status)
            if row is not None:
                row.values["dbsnp_id"] = dbsnp_id
                rows.append(row)
        return rows

    def allele(
        self,
        line: int,
        chrom: str,
        pos: str,
        ref: str,
        alt: str,
        index: int,
        filters: str,
        info: str,
        values: dict[str, str],
        header: VCFHeader,
    ) -> VariantRow | None:
        alt_reads, depth, counted_by = allele_counts(
            values, header.numbers, ref, alt, index
        )
        for count in (alt_reads, depth):
            try:
                check_reads(count or 0)
            except InvalidValue as exc:
                self.problems.add(line, counted_by, str(exc), str(count), exc.code)
                return None
        vaf, vaf_field = allele_fraction(values, index)
        if vaf is None and alt_reads is not None and depth:
            vaf, vaf_field = alt_reads / depth, counted_by
        if alt_reads is not None and depth is not None and alt_reads > depth:
            depth = None  # NB: DP may count only reads that pass filters the AD count did not.
        if vaf is not None and not 0 <= vaf <= 1:
            self.problems.add(
                line, vaf_field, "gives an allele fraction outside 0..1.", str(vaf)
            )
            return None

        annotation = self.annotation(line, info, alt, header)
        if annotation is None:
            return None
        change = genomic_change(chrom, pos, ref, alt)
        result = annotation | {
            "genomic_change": change,
            "genome_build": header.build,
            "alt_reads": alt_reads,
            "depth": depth,
        }
        if result["variant_type"] == VariantResult.Type.OTHER:
            result["variant_type"] = allele_type(change)
        if filters in PASSED:
            if vaf == 0 and alt_reads and depth:
                # A fraction written 0 (FA 0.00) where reads show the allele is rounding:
                vaf, vaf_field = alt_reads / depth, counted_by
            call, vaf = self.call(
                line, values, vaf, vaf_field or counted_by, alt_reads, depth
            )
            result |= {"call": call, "vaf": vaf}
        else:
            result |= {
                "call": VariantResult.Call.FAILED,
                "vaf": None,
                "note": f"FILTER {filters}"[:300],
            }
        # Only the annotation in INFO gives text of any length:
        check_lengths(
            self.problems, line, VariantResult, result, dict.fromkeys(result, "INFO")
        )
        self.check_text(line, result, filters)
        if self.problems.has(line):
            return None
        return VariantRow(
            line,
            self.patient,
            self.draw,
            self.method,
            self.panel,
            assay_values={"limit_of_detection_vaf": self.lod},
            values=result,
        )

    def check_text(self, line: int, result: dict[str, object], filters: str) -> None:
        """Refuse the record when a text it stores holds a source patient ID.

        The FILTER of a failed call is stored in its note, the rest comes from the
        annotation in INFO; the change built from CHROM, POS, REF and ALT is none.
        """
        for name, value in result.items():
            if name == "genomic_change" or not isinstance(value, str):
                continue
            if self.screen.finds("", value):
                column = (
                    "FILTER" if name == "note" and filters not in PASSED else "INFO"
                )
                self.problems.add(line, column, REFUSED, code=CODE)
                return

    def call(
        self,
        line: int,
        values: dict[str, str],
        vaf: float | None,
        vaf_field: str,
        alt_reads: int | None,
        depth: int | None,
    ) -> tuple[str, float | None]:
        """Return the call and VAF of a PASS record from what the sample measured.

        As in a cfDNA table: a VAF of 0 (or 0 alt reads of some depth) is not detected,
        stored without VAF but with its reads; no reads at all (depth 0) is failed. A
        genotype calling no ALT (0/0) is not detected unless the sample's reads or
        allele fraction show the allele (Pindel writes 0/0 for subclonal variants).
        Whether a detected VAF is under the assay's limit of detection is decided
        when the assay is found, against its one limit (variants.call_against_limit).
        """
        Call = VariantResult.Call
        if vaf is None and alt_reads == 0 and depth == 0:
            return Call.FAILED, None
        if vaf == 0 or (vaf is None and alt_reads == 0):
            self.warnings.append(
                Problem(
                    self.source,
                    "is 0 for a variant the caller called; the sample shows no "
                    "variant, so it is stored as not detected, with its reads and "
                    "without a VAF.",
                    row=line,
                    field=vaf_field,
                    value="0",
                    code="zero-vaf-of-called-variant",
                )
            )
            return Call.NOT_DETECTED, None
        if vaf is None and calls_reference_only(values.get("GT", "")):
            return Call.NOT_DETECTED, None
        return Call.DETECTED, vaf

    def annotation(
        self, line: int, info: str, alt: str, header: VCFHeader
    ) -> dict[str, object] | None:
        """Return gene and protein change from a VEP CSQ or snpEff ANN entry of this allele."""
        fields = _annotation_of(info, alt, header)
        gene = fields.get("SYMBOL", "")
        if gene:
            checked = check_gene(
                self.problems, self.warnings, line, gene, "INFO", strict=False
            )
            if checked is None:
                return None
            gene = checked
        alteration = read_alteration(
            self.problems,
            self.warnings,
            line,
            gene,
            fields.get("HGVSp", "").split(":")[-1],
            strict=False,
        )
        if alteration is None:
            return None
        return (
            gene_values(gene)
            | alteration
            | {"cdna_change": fields.get("HGVSc", "").split(":")[-1][:100]}
        )


def _header(source: str, lines: list[tuple[int, str]]) -> VCFHeader:
    numbers: dict[str, str] = {}
    annotation = None
    build = ""
    for _number, line in lines:
        if line.startswith("#CHROM"):
            names = line.rstrip("\n").split("\t")
            if names[: len(FIXED)] != FIXED:
                raise ImportRejected(
                    [
                        Problem(
                            source,
                            "has no standard #CHROM header line (CHROM POS ID REF ALT QUAL FILTER INFO FORMAT).",
                            row=_number,
                        )
                    ]
                )
            return VCFHeader(names[len(FIXED) :], numbers, annotation, build)
        if match := _FORMAT_LINE.match(line):
            numbers[match["id"]] = match["number"]
        elif match := _CSQ_LINE.match(line):
            annotation = (match["id"], match["fields"].strip().split("|"))
        elif line.startswith(("##reference", "##contig", "##assembly")) and not build:
            found = _BUILD.search(line)
            # By its name (hs37d5 is GRCh37); _BUILD finds known spellings only:
            build = check_genome_build(found.group(0)) if found else ""
        elif not line.startswith("##"):
            break
    raise ImportRejected([Problem(source, "has no #CHROM header line; is it a VCF?")])


def _annotation_of(info: str, alt: str, header: VCFHeader) -> dict[str, str]:
    if header.annotation is None:
        return {}
    key, names = header.annotation
    names = _ANN_FIELDS if key == "ANN" else names
    for item in info.split(";"):
        if not item.startswith(f"{key}="):
            continue
        entries = [entry.split("|") for entry in item[len(key) + 1 :].split(",")]
        for entry in entries:
            fields = dict(zip(names, entry, strict=False))
            if fields.get("Allele") in (alt, alt[1:] or "-"):
                return fields
        return dict(zip(names, entries[0], strict=False)) if entries else {}
    return {}


def called_alleles(genotype: str) -> set[int]:
    """Return the ALT allele numbers a genotype calls (0/2 -> {2}); empty when it calls none.

    NB: somatic callers often write 0/0 for a tumour with a subclonal variant (Pindel
    does), so a genotype that calls no ALT selects nothing and every ALT is read.
    """
    return {
        int(part)
        for part in re.split(r"[/|]", genotype)
        if part.isdigit() and part != "0"
    }


def calls_reference_only(genotype: str) -> bool:
    """Return whether a genotype calls the reference allele alone (0/0, 0, 0|0)."""
    parts = re.split(r"[/|]", genotype)
    return bool(genotype) and all(part == "0" for part in parts)


def somatic_status(info: str, values: dict[str, str]) -> tuple[str, str]:
    """Return the caller's somatic status code of a record and the field it is read from.

    VarScan's INFO SS first, else the sample's FORMAT SS (MuTect 1, MuSE,
    SomaticSniper, Pindel), else "2" (somatic) for the INFO flag SOMATIC (Strelka,
    MuSE, VarScan); ("", "") when the record says nothing. Codes: GERMLINE_STATUS.
    NB: MuTect 2 marks a likely germline call by FILTER germline, skipped as any
    filtered record is.
    """
    items = info.split(";")
    for item in items:
        if item.startswith("SS="):
            return item[3:], "INFO/SS"
    if values.get("SS", ".") not in ("", "."):
        return values["SS"], "FORMAT/SS"
    if "SOMATIC" in items:
        return "2", "INFO/SOMATIC"
    return "", ""


def _numbers(text: str | None) -> list[int | None]:
    if not text:
        return []
    return [int(part) if part.isdigit() else None for part in text.split(",")]


def allele_counts(
    values: dict[str, str], numbers: dict[str, str], ref: str, alt: str, index: int
) -> tuple[int | None, int | None, str]:
    """Return (alt reads, depth, fields read) of one ALT allele from FORMAT fields.

    The fields read ("FORMAT/AD", "FORMAT/DP4") name the source in messages.

    AD (ref, alt...; VarScan's AD of Number=1 is the alt count, with RD the ref
    count), Strelka's tier-1 counts (AU/CU/GU/TU for SNVs, TAR/TIR for indels), DP4
    (ref fwd, ref rev, alt fwd, alt rev) and BCOUNT (A, C, G, T), in that order; the
    depth is their sum, else DP.
    """
    dp = _numbers(values.get("DP"))
    depth = dp[0] if dp else None
    ad = _numbers(values.get("AD"))
    if ad and numbers.get("AD") == "1":
        rd = _numbers(values.get("RD"))
        alt_reads = ad[0]
        if rd and rd[0] is not None and alt_reads is not None:
            return alt_reads, rd[0] + alt_reads, "FORMAT/AD+RD"
        return alt_reads, depth, "FORMAT/AD+DP"
    if len(ad) > index + 1 and ad[index + 1] is not None:
        total = None if None in ad else sum(ad)  # type: ignore[arg-type]
        if total is None:
            return ad[index + 1], depth, "FORMAT/AD+DP"
        return ad[index + 1], total, "FORMAT/AD"

    tiers = {base: _numbers(values.get(f"{base}U")) for base in "ACGT"}
    if all(tiers.values()) and len(alt) == 1 and alt.upper() in tiers:
        first = {base: counts[0] or 0 for base, counts in tiers.items()}
        return first[alt.upper()], sum(first.values()), "FORMAT/AU,CU,GU,TU"
    tar, tir = _numbers(values.get("TAR")), _numbers(values.get("TIR"))
    if tar and tir and tar[0] is not None and tir[0] is not None:
        return tir[0], tar[0] + tir[0], "FORMAT/TAR+TIR"
    dp4 = _numbers(values.get("DP4"))
    if len(dp4) == 4 and None not in dp4 and index == 0:
        return dp4[2] + dp4[3], sum(dp4), "FORMAT/DP4"  # type: ignore[operator,arg-type]
    bcount = _numbers(values.get("BCOUNT"))
    if (
        len(bcount) == 4
        and None not in bcount
        and len(alt) == 1
        and alt.upper() in "ACGT"
    ):
        return bcount["ACGT".index(alt.upper())], sum(bcount), "FORMAT/BCOUNT"  # type: ignore[arg-type]
    return None, depth, "FORMAT/DP"


def allele_fraction(values: dict[str, str], index: int) -> tuple[float | None, str]:
    """Return the allele fraction the caller states, and its field ("FORMAT/AF").

    FA and AF are fractions, FREQ a percent: VarScan writes it as a percent string
    ("38.46%"), with or without the sign.
    """
    for name, unit in (("FA", FRACTION), ("AF", FRACTION), ("FREQ", PERCENT)):
        text = values.get(name)
        if not text or text == ".":
            continue
        parts = text.split(",")
        part = parts[index] if index < len(parts) else ""
        try:
            number = read_signed_decimal(part)[0]
        except ValueError:
            continue
        # In decimal, so 38.46 % is exactly 0.3846 (see check_fraction):
        return float(number / 100 if unit == PERCENT else number), f"FORMAT/{name}"
    return None, ""
