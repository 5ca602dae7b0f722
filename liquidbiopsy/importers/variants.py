"""What the variant importers share: reading an alteration, the variant key, storing rows."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import NoReturn

from django.db import transaction
from django.utils import timezone

from biobank.core.dates import parse_datetime_cell
from biobank.core.importing import ImportRejected, Problem
from biobank.core.validation import InvalidValue, check_date_text, check_not_future
from biobank.core.wording import give
from liquidbiopsy.hgvs import (
    ANNOTATOR_NAME,
    FusionError,
    GeneSymbolError,
    GeneSymbolShapeError,
    HGVSError,
    canonical_case,
    check_gene_symbol,
    current_symbol,
    looks_like_cdna,
    looks_like_fusion,
    normalise_cdna_change,
    parse_fusion,
    parse_protein_change,
)
from liquidbiopsy.importers.common import Draw, LabReport, RowProblems
from liquidbiopsy.models import CfDNAAssay, VariantResult
from liquidbiopsy.services import (
    SampleIdTaken,
    StoredRecordDiffers,
    detected_under,
    find_or_create_assay,
    find_or_create_sample,
    store_variants,
)
from liquidbiopsy.validation import (
    FRACTION,
    PERCENT,
    check_detected_above_lod,
    check_limit_of_detection,
    dbsnp_ids_in,
    is_below_lod,
    read_signed_decimal,
)
from patients.importers.runs import RunLinks
from patients.models import Patient

Type = VariantResult.Type

TYPE_WORDS = {
    "snv": Type.SNV,
    "snp": Type.SNV,
    "substitution": Type.SNV,
    "missense": Type.SNV,
    "nonsense": Type.SNV,
    "mnv": Type.MNV,
    "dnp": Type.MNV,
    "tnp": Type.MNV,
    "onp": Type.MNV,
    "indel": Type.INDEL,
    "ins": Type.INDEL,
    "del": Type.INDEL,
    "insertion": Type.INDEL,
    "deletion": Type.INDEL,
    "dup": Type.INDEL,
    "duplication": Type.INDEL,
    "delins": Type.INDEL,
    "frameshift": Type.INDEL,
    "fusion": Type.FUSION,
    "rearrangement": Type.FUSION,
    "translocation": Type.FUSION,
    "sv": Type.FUSION,
    "cnv": Type.CNV,
    "amplification": Type.CNV,
    "amp": Type.CNV,
    "gain": Type.CNV,
    "loss": Type.CNV,
    "copy number": Type.CNV,
    "other": Type.OTHER,
}
CNV_WORDS = {"amplification", "amp", "gain", "loss", "deletion", "homozygous deletion"}
_KINDS_OF_CHANGE = {
    "substitution": Type.SNV,
    "special": Type.SNV,
    "frameshift": Type.INDEL,
    "range": Type.INDEL,
    "extension": Type.INDEL,
}
_MAX_GENOMIC = VariantResult._meta.get_field("genomic_change").max_length
_MAX_KEY = VariantResult._meta.get_field("variant_key").max_length
_MAX_NOTE = VariantResult._meta.get_field("note").max_length


@dataclass
class VariantRow:
    """A checked row: the draw, assay and variant values it stores."""

    line: int
    patient: Patient
    draw: Draw
    method: str
    panel: str = ""
    sample_id: str = ""
    sample_details: dict[str, object] = field(default_factory=dict)
    assay_values: dict[str, object] = field(default_factory=dict)
    values: dict[str, object] = field(default_factory=dict)
    # The lab stated the call (a cfDNA table's call or vaf cell); else it is derived:
    is_call_stated: bool = False
    # What an earlier version of the importer stored for this row, where that differs
    # (maf._former_reading): a stored result equal to it is this same result.
    former: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return variant_key(self.values)


def variant_key(values: dict[str, object]) -> str:
    """Return what identifies a variant within its assay.

    The genomic change when known (1:11290178 TA>T), else the fusion partners in
    order, else the gene with the canonical protein change, cDNA change or note.
    """
    if values.get("genomic_change"):
        key = f"g:{values['genomic_change']}"
    elif values.get("variant_type") == Type.FUSION:
        key = f"fusion:{values.get('fusion_5prime') or '?'}::{values.get('fusion_3prime') or '?'}"
    else:
        gene = str(values.get("gene_hgnc") or values.get("gene", "")).upper()
        change = (
            values.get("protein_change")
            or values.get("cdna_change")
            or values.get("protein_change_raw")
            or values.get("note")
            or ""
        )
        key = f"{gene}:{change}"
    if len(key) > _MAX_KEY:
        key = key[:150] + "#" + hashlib.sha256(key.encode()).hexdigest()[:40]
    return key


def allele_type(change: str) -> str:
    """Return SNV, MNV or indel for a genomic change "chrom:pos ref>alt"."""
    ref, _, alt = change.rpartition(" ")[2].partition(">")
    if "-" in (ref, alt) or len(ref) != len(alt):
        return Type.INDEL
    return Type.SNV if len(ref) == 1 else Type.MNV


def called_vaf(
    warnings: list[Problem], source: str, line: int, name: str, vaf: float | None
) -> float | None:
    """Return the VAF of a variant a MAF row calls.

    A VAF of 0 measures no variant, so it is stored empty, with a warning, while the
    call stays "detected" as the caller made it.
    NB: a MAF's VAF column of 0 is often a VAF not computed (TCGA LAML's indels); a
    VCF reads the sample's own reads instead (vcf._Reader.call).
    """
    if vaf != 0:
        return vaf
    warnings.append(
        Problem(
            source,
            "is 0 for a variant the caller called; the variant is stored as detected "
            "without a VAF.",
            row=line,
            field=name,
            value="0",
            code="zero-vaf-of-called-variant",
        )
    )
    return None


def germline_skipped(
    source: str, skipped: dict[tuple[str, str, str], int]
) -> list[Problem]:
    """Return one warning per status of the germline records skipped, with their number.

    `skipped` counts records by (field, value, what the value means): ("INFO/SS",
    "1", "germline") for a VCF, ("Mutation_Status", "LOH", "LOH") for a MAF.
    """
    return [
        Problem(
            source,
            f"{count} records the caller calls {meaning} ({field.split('/')[-1]}="
            f"{value}) were skipped: their allele is inherited, no somatic variant; "
            "re-run with --keep-germline to store them flagged is_germline.",
            field=field,
            value=value,
            code="germline-records-skipped",
        )
        for (field, value, meaning), count in sorted(skipped.items())
    ]


def dbsnp_id_of(
    warnings: list[Problem], source: str, line: int, column: str, cell: str
) -> str:
    """Return the one dbSNP ID of a MAF's dbSNP_RS or a VCF's ID cell, or "".

    A cell naming several (rs1;rs2, IDs dbSNP has since merged) stores none, with a
    warning: the cohort filter asks for a variant by one ID, and the field holds one.
    NB: so such a variant is found by its genomic change only.
    """
    found = dbsnp_ids_in(cell)
    if len(found) > 1:
        warnings.append(
            Problem(
                source,
                f"gives {len(found)} dbSNP IDs; none is stored, so ask for the "
                "variant by its genomic change.",
                row=line,
                field=column,
                value=cell,
                code="several-dbsnp-ids",
            )
        )
        return ""
    return found[0] if found else ""


def flag_germline(row: VariantRow, meaning: str, field: str, value: str) -> None:
    """Mark a row the caller calls germline or LOH, kept with --keep-germline."""
    note = f"{meaning} ({field}={value})"
    row.values["is_germline"] = True
    row.values["note"] = "; ".join(
        filter(None, [str(row.values.get("note", "")), note])
    )[:_MAX_NOTE]


def draw_of_option(
    source: str, text: str | None, date_order: str | None = None
) -> Draw:
    """Return the draw that --drawn-on gives for a whole file; reject the file without one."""
    if not text or not text.strip():
        raise ImportRejected(
            [
                Problem(
                    source,
                    f"has no blood draw date; {give('drawn_on')} (a variant "
                    "without its draw cannot be placed in time).",
                    field="drawn_on",
                    code="no-draw-date",
                )
            ]
        )
    parsed = parse_datetime_cell(text, date_order)
    if parsed is None:
        raise ImportRejected(
            [
                Problem(
                    source, "is not a date (YYYY-MM-DD).", field="drawn_on", value=text
                )
            ]
        )
    try:
        check_not_future(timezone.localdate(parsed[0]))
        check_date_text(text)
    except InvalidValue as exc:
        raise ImportRejected(
            [Problem(source, str(exc), field="drawn_on", value=text, code=exc.code)]
        ) from None
    if parsed[1] and parsed[0].time() != dt.time():
        return Draw(*parsed)
    return Draw.on(timezone.localdate(parsed[0]))


# The highest limit of detection a cfDNA assay states: ddPCR reaches 0.01 to 0.1 %, a
# targeted NGS panel 0.1 to 1 %, shallow whole-genome sequencing some 3 % of tumour
# fraction. A higher one is likely a percent given as a fraction (--lod 0.5 meant as
# 0.5 %), which would call every variant under 50 % below LOD.
PLAUSIBLE_LOD = 0.05


def lod_of_option(
    source: str, text: str | float | None, warnings: list[Problem]
) -> float | None:
    """Return the assay's limit of detection that --lod gives for a whole file, or None.

    A VAF fraction (0.005), or a percent with its sign (0.5%), as a cfDNA table's
    limit_of_detection column, above 0 and under 1: a limit of 0 would call nothing
    below LOD and one of 1 everything, and an empty --lod is no limit either, so
    each rejects the file, as does text that is no number. A limit above
    PLAUSIBLE_LOD is kept with a warning. None (the option not given): the calls
    take the limit stored on the draw's assay, if any (store_variant_rows).
    """
    if text is None:
        return None
    written = str(text).strip()
    if not written:
        _reject_lod(
            source,
            text,
            "is empty; give the assay's limit of detection (0.005 for 0.5 %), or "
            "leave --lod out to call against the limit stored on the assay, if any.",
        )
    try:
        number, signed = read_signed_decimal(written)
        limit = check_limit_of_detection(number, PERCENT if signed else FRACTION)
    except InvalidValue as exc:
        _reject_lod(source, text, str(exc))
    except ValueError:
        _reject_lod(
            source,
            text,
            "is not a number; give the limit of detection as a VAF fraction "
            "(0.005 for 0.5 %).",
        )
    if limit > PLAUSIBLE_LOD:
        warnings.append(
            Problem(
                source,
                f"is {limit * 100:g} %, above the limit of detection of any cfDNA "
                f"assay ({PLAUSIBLE_LOD * 100:g} % at most): every call under it is "
                f"stored below-lod, and the assay keeps it. If you meant "
                f"{limit:g} %, write {limit / 100:g} or {limit:g}%, and correct the "
                "assay and its calls in the admin.",
                field="limit_of_detection",
                value=str(text),
                code="implausible-lod",
            )
        )
    return limit


def _reject_lod(source: str, text: str | float, message: str) -> NoReturn:
    raise ImportRejected(
        [Problem(source, message, field="limit_of_detection", value=str(text))]
    )


def check_gene(
    problems: RowProblems,
    warnings: list[Problem],
    line: int,
    text: str,
    name: str = "gene",
    strict: bool = True,
) -> str | None:
    """Return the gene symbol of a cell as given, or record the row's problem.

    A symbol in another case than HGNC's (kras, C9ORF72) or a former symbol (SEPT9)
    is stored as given with a warning; its gene_hgnc is the current symbol in HGNC's
    case. Without `strict` (MAF and VCF, whose genes an annotator named) a name of no
    HGNC shape is kept with a warning when it is an annotator's name of a gene without
    HGNC symbol (AC004943.1).
    """
    symbol = text.strip()
    column = problems.column_of.get(name, name)
    try:
        check_gene_symbol(symbol)
    except GeneSymbolShapeError as exc:
        if strict or not ANNOTATOR_NAME.match(symbol):
            problems.add(line, name, str(exc), text, code="gene-symbol")
            return None
        warnings.append(_not_hgnc(problems, line, column, symbol))
        return symbol
    except GeneSymbolError as exc:
        problems.add(line, name, str(exc), text, code=exc.code)
        return None

    warning = _stored_otherwise(problems, line, column, symbol)
    if warning is not None:
        warnings.append(warning)
    return symbol


def _stored_otherwise(
    problems: RowProblems, line: int, column: str, symbol: str
) -> Problem | None:
    """Return the warning of a symbol whose gene_hgnc differs from it, if it does.

    A former symbol (SEPT9, sept9) says so and names its current one; a symbol in
    another case (kras, notagene) names what is stored, never calling it approved:
    symbols are not looked up in HGNC's list (see check_gene_symbol).
    """
    in_case = canonical_case(symbol)
    current = current_symbol(symbol)
    if current != in_case:
        written = ""
        if in_case != symbol:
            written = f" ({in_case}), not written in HGNC's case"
        message = (
            f"is a former HGNC symbol{written}, now {current}; kept as given in gene, "
            f"stored as {current} in gene_hgnc."
        )
        code = "gene-former-symbol"
    elif in_case != symbol:
        message = (
            f"is not written in HGNC's case; kept as given in gene, stored as "
            f"{in_case} (HGNC's case) in gene_hgnc."
        )
        code = "gene-symbol-case"
    else:
        return None
    return Problem(
        problems.source, message, row=line, field=column, value=symbol, code=code
    )


def _not_hgnc(problems: RowProblems, line: int, column: str, name: str) -> Problem:
    """Return the warning of a gene kept as an annotator named it (AC004943.1)."""
    return Problem(
        problems.source,
        "is no HGNC symbol by its shape; kept as given, as an annotator's name "
        "of a gene HGNC has no symbol for.",
        row=line,
        field=column,
        value=name,
        code="gene-not-hgnc",
    )


def read_alteration(
    problems: RowProblems,
    warnings: list[Problem],
    line: int,
    gene: str,
    text: str,
    alteration_type: str = "",
    name: str = "protein_change",
    strict: bool = True,
) -> dict[str, object] | None:
    """Return the variant fields an alteration cell gives: protein change, fusion or CNV.

    With `strict` (variant tables, where the protein change is the variant's
    identity) an unreadable protein change is the row's problem. Without it (MAF,
    VCF, identified by their genomic change) the raw text is kept, the canonical
    form left empty, and a warning says so.
    """
    text = text.strip()
    declared = _declared_type(problems, line, alteration_type)
    if declared is False:
        return None

    if looks_like_fusion(text, alteration_type) or declared == Type.FUSION:
        return _fusion(problems, warnings, line, gene, text, name, strict)
    if declared == Type.CNV or text.lower() in CNV_WORDS:
        return {"variant_type": Type.CNV, "note": text}
    if looks_like_cdna(text):
        return {
            "variant_type": declared or Type.OTHER,
            "cdna_change": normalise_cdna_change(text),
        }
    if not text:
        return {"variant_type": declared or Type.OTHER}

    try:
        change = parse_protein_change(text)
    except HGVSError as exc:
        if strict:
            problems.add(line, name, str(exc), text, code="invalid-hgvs")
            return None
        warnings.append(
            Problem(
                problems.source,
                f"{exc} It is kept as given; the variant is identified by its genomic change.",
                row=line,
                field=problems.column_of.get(name, name),
                value=text,
                code="unreadable-protein-change",
            )
        )
        return {"variant_type": declared or Type.OTHER, "protein_change_raw": text}
    return {
        "variant_type": declared or _KINDS_OF_CHANGE[change.kind],
        "protein_change": change.canonical,
        "protein_change_raw": change.raw,
        "is_protein_change_predicted": change.is_predicted,
        "protein_accession": change.accession,
    }


def _declared_type(problems: RowProblems, line: int, text: str) -> str | None | bool:
    """Return the variant type a type cell declares, None if empty, False if unknown."""
    text = text.strip().lower().replace("_", " ")
    if not text:
        return None
    if text in TYPE_WORDS:
        return TYPE_WORDS[text]
    allowed = ", ".join(Type.values)
    problems.add(line, "alteration_type", f"is not one of {allowed}.", text)
    return False


def _fusion(
    problems: RowProblems,
    warnings: list[Problem],
    line: int,
    gene: str,
    text: str,
    name: str,
    strict: bool,
) -> dict[str, object] | None:
    """Return the fields of a fusion, its partners in HGNC's case, the text as given.

    Partners written in another case (eml4::alk) are stored in HGNC's with a warning,
    as a gene cell is; without `strict` (MAF, VCF) a partner an annotator named
    (AC004943.1) is kept with a warning. The gene cell, used when the text names no
    partner, has its own warnings.
    """
    try:
        fusion = parse_fusion(text or gene, gene, annotator_names=not strict)
    except FusionError as exc:
        problems.add(line, name, str(exc), text, code="invalid-fusion")
        return None
    column = problems.column_of.get(name, name)
    if text and fusion.recased:
        warnings.append(
            Problem(
                problems.source,
                f"writes {' and '.join(fusion.recased)} in another case than HGNC's; "
                f"kept as given, with the fusion stored as {fusion.canonical}.",
                row=line,
                field=column,
                value=text,
                code="fusion-partner-case",
            )
        )
    if text:
        warnings.extend(
            _not_hgnc(problems, line, column, partner) for partner in fusion.not_hgnc
        )
    notes = [
        note
        for note in (
            fusion.breakpoint and f"breakpoint {fusion.breakpoint}",
            fusion.note,
        )
        if note
    ]
    return {
        "variant_type": Type.FUSION,
        "fusion_5prime": fusion.five_prime,
        "fusion_3prime": fusion.three_prime,
        "fusion_note": "; ".join(notes),
        "protein_change_raw": fusion.raw,
        "note": fusion.canonical,
    }


def gene_values(gene: str) -> dict[str, str]:
    return {"gene": gene, "gene_hgnc": current_symbol(gene)}


# Model fields whose column in the tables has another name:
_FIELD_COLUMNS = {"limit_of_detection_vaf": "limit_of_detection"}


def store_variant_rows(
    rows: list[VariantRow],
    report: LabReport,
    links: RunLinks,
    problems: RowProblems,
    lod_of_file: bool = False,
) -> None:
    """Store the rows, assay by assay; a row that conflicts with the store is rejected.

    A variant already stored with the same measurement is a duplicate, skipped; with
    another it is the row's problem and is not stored. An assay whose stored values
    differ from the rows' rejects those rows, and their new draw is not kept either;
    so does a new draw whose lab sample ID another draw of the project carries.
    The calls of an assay are made against its one limit of detection, once it is
    found (_limit_of): rows giving a limit go before the rows of the same assay that
    give none, which then take it, whatever their order in the file.

    A limit given that the assay cannot take (another one stored, or stored calls
    under it) rejects the whole file, with one problem per assay naming both limits:
    it decides every call of the assay, and a file called against two limits is no
    result. `lod_of_file`: the limit is the file's (--lod of a MAF or VCF), not a
    row's cell, so the problem names no row.
    """
    refused: list[Problem] = []
    given_by: dict[int, int] = {}  # assay created by this file: the row giving it
    for group in _groups_by_assay(rows):
        made: list[str] = []
        try:
            with transaction.atomic():
                assay = _find_or_create_assay(group[0], made)
                limit = _limit_of(assay, group[0], report)
        except StoredRecordDiffers as exc:
            if _limit_differs(exc):
                refused.append(
                    _limit_refused(report, group[0], exc, given_by, lod_of_file)
                )
                continue
            for row in group:
                _record_conflict(problems, row.line, exc)
            continue
        except LimitContradicted as exc:
            refused.append(_limit_refused(report, group[0], exc, given_by, lod_of_file))
            continue
        except SampleIdTaken as exc:
            message = report.sample_id_taken(exc.other)
            for row in group:
                problems.add(
                    row.line, "sample_id", message, row.sample_id, "sample-id-taken"
                )
            continue
        if refused:
            continue  # the file is rejected: nothing more to store
        if "cfDNA assays" in made:
            given_by[assay.pk] = group[0].line
        if "blood samples" in made:
            report.draws_made[assay.sample_id] = group[0].line
        for kind in made:
            report.count(kind)

        keyed = []
        for row in group:
            key = row.key  # before call_against_limit notes a VAF under the limit
            if call_against_limit(row, limit, problems):
                keyed.append((key, row))
        stored = store_variants(
            assay,
            [(key, row.values) for key, row in keyed],
            [row.former for _key, row in keyed],
        )
        report.dbsnp_ids_filled += stored.dbsnp_ids_filled
        for (_key, row), (result, created) in zip(keyed, stored.results, strict=True):
            if isinstance(result, StoredRecordDiffers):
                _record_conflict(problems, row.line, result)
                continue
            links.link(row.line, row.patient, result)
            if created:
                report.count("variants")
                report.rows_imported += 1
            else:
                report.duplicates += 1
                for warning in (
                    _other_protein_change(problems, row, result),
                    _other_dbsnp_id(problems, row, result),
                ):
                    if warning is not None:
                        report.warnings.append(warning)
    if refused:
        raise ImportRejected(refused)


def _groups_by_assay(rows: list[VariantRow]) -> list[list[VariantRow]]:
    """Return the rows by assay and assay values, in file order but for the limit.

    Of one assay (draw, method, panel), the rows giving a limit of detection come
    first, so the rows giving none are called against it (see store_variant_rows).
    """
    by_assay: dict[tuple, dict[tuple, list[VariantRow]]] = {}
    for row in rows:
        assay = (
            row.patient.pk,
            row.draw.drawn_at,
            row.sample_id,
            row.method,
            row.panel,
        )
        values = tuple(row.assay_values.items())
        by_assay.setdefault(assay, {}).setdefault(values, []).append(row)
    return [
        group
        for groups in by_assay.values()
        for group in sorted(groups.values(), key=lambda g: _given_limit(g[0]) is None)
    ]


def _given_limit(row: VariantRow) -> float | None:
    return row.assay_values.get("limit_of_detection_vaf")  # type: ignore[return-value]


class LimitContradicted(Exception):
    """A limit of detection given for an assay stored without one that its calls contradict."""

    def __init__(
        self, assay: CfDNAAssay, given: float, under: list[VariantResult], count: int
    ) -> None:
        self.assay = assay
        self.given = given
        examples = ", ".join(
            f"{variant.genomic_change or variant.gene} at {variant.vaf:g}"
            for variant in under
        )
        super().__init__(
            f"stored without a limit of detection and with {count} calls of detected "
            f"under {given:g} ({examples})"
        )


def _limit_differs(exc: StoredRecordDiffers) -> bool:
    return any(d.field == "limit_of_detection_vaf" for d in exc.differences)


def _limit_refused(
    report: LabReport,
    row: VariantRow,
    exc: StoredRecordDiffers | LimitContradicted,
    given_by: dict[int, int],
    lod_of_file: bool,
) -> Problem:
    """Return the one problem of an assay that cannot take the limit of detection given.

    It names the assay (its draw, method and panel) and both limits: the one stored,
    or given by an earlier row of a cfDNA table, and the one given.
    """
    if isinstance(exc, LimitContradicted):
        assay, given = exc.assay, exc.given
        holds = str(exc)
        fix = "import it again without the limit"
    else:
        assay = exc.record  # type: ignore[assignment]
        (stored, given) = next(
            (d.stored, d.given)
            for d in exc.differences
            if d.field == "limit_of_detection_vaf"
        )
        line = given_by.get(assay.pk)
        holds = f"stored with the limit {stored:g}"
        if line is not None:
            holds = f"given the limit {stored:g} on row {line} of this file"
        fix = f"import it again with the limit {stored:g}, or without one"
    sample = assay.sample
    panel = f"panel {assay.panel}" if assay.panel else "no panel"
    return Problem(
        report.source,
        f"gives the limit of detection {given:g} for cfDNA assay {assay.pk} "
        f"({assay.method}, {panel}) of blood sample {sample.pk} ({sample}), "
        f"{holds}. An assay's calls are made against one limit and stored results "
        f"are never overwritten, so nothing of this file is imported: {fix}, or "
        "correct the stored assay and its calls first.",
        row=None if lod_of_file else row.line,
        field="limit_of_detection",
        value=f"{given:g}",
        code="conflicting-value",
    )


def _limit_of(assay: CfDNAAssay, row: VariantRow, report: LabReport) -> float | None:
    """Return the one limit of detection the rows of `assay` are called against.

    A limit stored on the assay holds for rows that give none (a MAF or VCF without
    --lod, a cfDNA row without limit_of_detection); a differing one given was
    refused already (find_or_create_assay). An assay stored without a limit takes
    the one given when none of its stored calls contradicts it, i.e. none is
    detected under it, with a warning: the limit is what the lab states of the
    assay, missing, not different, and every stored call then agrees with it, as
    the API's rule (resolve_call) requires. A detected call under it, made without
    the limit, contradicts it: storing the limit would leave that call wrong,
    ignoring it would call this file's rows against a limit the assay does not
    carry, so LimitContradicted rejects the file.
    NB: the stored calls are read unlocked: an import of the same assay running at
    the same moment may store a call under the limit after they were read.
    """
    given = _given_limit(row)
    stored = assay.limit_of_detection_vaf
    if given is None or stored is not None:
        return stored
    under = detected_under(assay, given)
    if under:
        raise LimitContradicted(assay, given, under[:3], len(under))
    assay.limit_of_detection_vaf = given
    assay.save(update_fields=["limit_of_detection_vaf"])
    report.warnings.append(
        Problem(
            report.source,
            f"is stored as the limit of detection of this draw's cfDNA assay, stored "
            f"without one before: none of its {assay.variants.count()} stored calls "
            "is detected under it.",
            row=row.line,
            field="limit_of_detection",
            value=f"{given:g}",
            code="limit-of-detection-added",
        )
    )
    return given


def call_against_limit(
    row: VariantRow, limit: float | None, problems: RowProblems
) -> bool:
    """Call a detected VAF under the assay's limit below LOD; False if that refuses the row.

    A lab's own call of detected under the limit contradicts it and rejects the
    row (check_detected_above_lod); a call the importer derived (MAF, VCF, a cfDNA
    row stating none) becomes below-lod. Its VAF field is emptied, as the API's rule
    has it (resolve_call): under the limit a VAF is no measurement to compare or
    filter cohorts by. Its reads stay, and the VAF measured is kept in the note, as
    text: for a record giving only a VAF (a VCF's GT:AF, a MAF's VAF column) it is
    all that was measured.
    """
    values = row.values
    vaf = values.get("vaf")
    if values.get("call") != VariantResult.Call.DETECTED or not is_below_lod(
        vaf,
        limit,  # type: ignore[arg-type]
    ):
        return True
    if row.is_call_stated:
        try:
            check_detected_above_lod(VariantResult.Call.DETECTED, vaf, limit)  # type: ignore[arg-type]
        except InvalidValue as exc:
            problems.add(row.line, "vaf", str(exc), f"{vaf:g}", code=exc.code)
            return False
    measured = f"VAF {vaf:g} measured, under the limit of detection {limit:g}"
    values["note"] = "; ".join(filter(None, [str(values.get("note", "")), measured]))[
        :_MAX_NOTE
    ]
    values |= {"call": VariantResult.Call.BELOW_LOD, "vaf": None}
    return True


def _other_protein_change(
    problems: RowProblems, row: VariantRow, stored: VariantResult
) -> Problem | None:
    """Return the warning of a duplicate whose protein change is not the stored one.

    The genomic change identifies a variant; its protein change is an annotation,
    which another transcript or annotator gives otherwise (A1CF p.D424E and
    p.D432E). The stored one is kept, as nothing stored changes, and the row stays
    a duplicate; the warning names both. Spellings of one change (p.Thr790Met and
    p.T790M) are the same; a row giving no protein change differs from nothing.
    """
    if row.values.get("variant_type") == Type.FUSION:
        return None  # identified by its partners, in any case (docs: Fusions)
    given = str(row.values.get("protein_change") or "")
    given_raw = str(row.values.get("protein_change_raw") or "").strip()
    if not given_raw:
        return None
    if given and stored.protein_change:
        if given == stored.protein_change:
            return None
    elif given_raw == stored.protein_change_raw.strip():
        return None
    kept = stored.protein_change_raw or stored.protein_change or "none"
    return _kept_stored(
        problems,
        row,
        "protein_change",
        given_raw,
        f"differs from the protein change stored for this variant ({kept}); the "
        "stored one is kept and the row counted as a duplicate. Another transcript "
        "or annotation gives another protein change of the same genomic change.",
    )


def _other_dbsnp_id(
    problems: RowProblems, row: VariantRow, stored: VariantResult
) -> Problem | None:
    """Return the warning of a duplicate whose dbSNP ID is not the stored one.

    The genomic change identifies a variant and its dbSNP ID names it; dbSNP merges
    IDs, so a later file may give another one for the same change. The stored ID is
    kept, as nothing stored changes (an ID is given only to a variant stored
    without one), and the row stays a duplicate; the warning names both.
    """
    given = row.values.get("dbsnp_id")
    if not given or not stored.dbsnp_id or given == stored.dbsnp_id:
        return None
    return _kept_stored(
        problems,
        row,
        "dbsnp_id",
        str(given),
        f"differs from the dbSNP ID stored for this variant ({stored.dbsnp_id}); the "
        "stored one is kept and the row counted as a duplicate. dbSNP merges IDs, so "
        "check which one is current, and correct the variant if the stored one is not.",
    )


def _kept_stored(
    problems: RowProblems, row: VariantRow, name: str, given: str, message: str
) -> Problem:
    """Return the warning of a duplicate row whose `name` differs from the stored value.

    Its code is the field's, spelt with hyphens: protein-change-differs.
    """
    return Problem(
        problems.source,
        message,
        row=row.line,
        field=problems.column_of.get(name, name),
        value=given,
        code=f"{name.replace('_', '-')}-differs",
    )


def _find_or_create_assay(row: VariantRow, made: list[str]) -> CfDNAAssay:
    """Return the row's assay; add to `made` what was created for it."""
    sample, created = find_or_create_sample(
        row.patient,
        row.draw.drawn_at,
        row.draw.is_time_known,
        row.sample_id,
        **row.sample_details,
    )
    if created:
        made.append("blood samples")
    assay, created = find_or_create_assay(
        sample, row.method, row.panel, **row.assay_values
    )
    if created:
        made.append("cfDNA assays")
    return assay


def _record_conflict(
    problems: RowProblems, line: int, exc: StoredRecordDiffers
) -> None:
    what = type(exc.record)._meta.verbose_name
    for difference in exc.differences:
        name = difference.field
        stored = (
            f"no {name}" if difference.stored is None else f"{name} {difference.stored}"
        )
        given = "" if difference.given is None else str(difference.given)
        problems.add(
            line,
            _FIELD_COLUMNS.get(name, name),
            f"{'differs from' if given else 'is empty, unlike'} the stored {what} of "
            f"this draw ({stored}); stored results are never overwritten.",
            given,
            code="conflicting-value",
        )
