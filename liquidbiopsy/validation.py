"""Rules for liquid-biopsy values, shared by the lab importers and the API."""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import math
import re
from decimal import Decimal, InvalidOperation

from biobank.core.validation import InvalidValue, check_fits, choice_message
from liquidbiopsy.hgvs import ascii_digits_and_dashes
from liquidbiopsy.models import (
    ABOVE_MAX_BLOOD_VOLUME,
    LOD_OUT_OF_RANGE,
    MAX_BLOOD_VOLUME_ML,
    CfDNAAssay,
    CTCCount,
    VariantResult,
)
from patients.validation import check_after_birth

PERCENT, FRACTION = "percent", "fraction"
Call = VariantResult.Call

CALL_WORDS = {
    "detected": Call.DETECTED,
    "positive": Call.DETECTED,
    "pos": Call.DETECTED,
    "yes": Call.DETECTED,
    "mutation detected": Call.DETECTED,
    "not detected": Call.NOT_DETECTED,
    "not-detected": Call.NOT_DETECTED,
    "nd": Call.NOT_DETECTED,
    "negative": Call.NOT_DETECTED,
    "neg": Call.NOT_DETECTED,
    "no": Call.NOT_DETECTED,
    "below lod": Call.BELOW_LOD,
    "below-lod": Call.BELOW_LOD,
    "<lod": Call.BELOW_LOD,
    "< lod": Call.BELOW_LOD,
    "below limit of detection": Call.BELOW_LOD,
    "failed": Call.FAILED,
    "fail": Call.FAILED,
    "qc fail": Call.FAILED,
    "qc failed": Call.FAILED,
    "invalid": Call.FAILED,
}
ENRICHMENTS = (
    {choice.lower(): choice for choice in CTCCount.Enrichment.values}
    | {label.lower(): value for value, label in CTCCount.Enrichment.choices}
    | {"epcam": CTCCount.Enrichment.EPCAM, "filtration": CTCCount.Enrichment.SIZE}
)
METHODS = {value.lower(): value for value in CfDNAAssay.Method.values} | {
    "ngs": CfDNAAssay.Method.TARGETED_NGS,
    "targeted ngs": CfDNAAssay.Method.TARGETED_NGS,
    "digital pcr": CfDNAAssay.Method.DDPCR,
    "dpcr": CfDNAAssay.Method.DDPCR,
}

KNOWN_PLATFORMS = ("CellSearch", "Parsortix", "RareCyte", "IsoFlux", "CellCollector")
DEFAULT_PLATFORM = "CellSearch"
# How close (difflib's ratio of the platform keys) an unknown platform may come to a
# known one before it is taken for a misspelling of it: CelSearch (0.95) and
# Parsortics (0.84) are, RareCell (0.71) is not.
PLATFORM_CLOSENESS = 0.8


def platform_key(text: str) -> str:
    """Return what identifies a platform name: its letters and digits in any case.

    "Cell Search", "cell-search" and "CELLSEARCH" are all cellsearch.
    """
    return "".join(character for character in text if character.isalnum()).casefold()


# Known CTC platforms in one spelling, so "Cell Search" is the CellSearch count of a draw:
PLATFORMS = {platform_key(name): name for name in KNOWN_PLATFORMS}

# What the cfDNA importer derives from the gene and alteration; the API and the admin
# store them with those, never as written:
DERIVED_VARIANT_FIELDS = [
    "gene_hgnc",
    "protein_change_raw",
    "is_protein_change_predicted",
    "protein_accession",
    "fusion_5prime",
    "fusion_3prime",
    "fusion_note",
]

DRAW_REQUIRED = "is required; give the date of the blood draw."
COUNT_REQUIRED = "is required; give the number of CTCs counted."
WHOLE_CELLS = "is not a whole number of cells (0 or more)."
WHOLE_READS = "is not a whole number of reads (0 or more)."
MAX_CONCENTRATION = 100_000.0  # ng/mL
NOT_A_CONCENTRATION = (
    f"is not a concentration from 0 to {MAX_CONCENTRATION:,.0f} ng/mL of plasma."
)
BASES = ("A", "C", "G", "T")
LETTERED_CHROMOSOMES = {"X": "X", "Y": "Y", "M": "MT", "MT": "MT"}
NOT_A_GENOMIC_CHANGE = "is not a genomic change such as chr17:7578263 G>A."

_MAX_GENOMIC = VariantResult._meta.get_field("genomic_change").max_length
_COUNT = CTCCount._meta.get_field("count")
_READS = VariantResult._meta.get_field("depth")

# chr17_7578263-7578263_G_A, chr10.fa:123274635-123274635_A_T, 17:7578263 G>A:
_POSITION = re.compile(
    r"^(?P<chrom>(?:chr)?(?:\d{1,2}|X|Y|MT?))(?:\.fa)?[_:](?P<start>\d+)(?:-\d+)?"
    r"[_ ]?(?P<ref>[ACGTN]*|\(null\)|-)(?:_|>)(?P<alt>[ACGTN]*|\(null\)|-)$",
    re.IGNORECASE | re.ASCII,
)


# gnomAD's variant ID, a VCF record's CHROM-POS-REF-ALT: 17-7578263-G-A, 1-100-G-GA.
# NB: VCF alleles are never empty, so "-" here only separates; 17-100--A is refused.
_HYPHENATED = re.compile(
    r"^(?P<chrom>(?:chr)?(?:\d{1,2}|X|Y|MT?))-(?P<start>\d+)"
    r"-(?P<ref>[ACGTN]+)-(?P<alt>[ACGTN]+)$",
    re.IGNORECASE | re.ASCII,
)


def check_fraction(number: float | Decimal, unit: str | None = FRACTION) -> float:
    """Return a VAF-like value (VAF, tumour fraction, limit of detection) as a fraction.

    `unit` is the unit its column declares: PERCENT, FRACTION, or None when it
    declares none (then values above 1 ask for the unit to be declared). A percent
    is divided in decimal, so 5.2 % is exactly the float 0.052 (float division
    would give 0.052000000000000005, which a filter vaf_max=0.052 misses).
    """
    exact = _exact(number)
    limit = 100 if unit == PERCENT else 1
    if not exact.is_finite() or not 0 <= exact <= limit:
        raise InvalidValue(_out_of_range(unit, float(exact)), "fraction-out-of-range")
    return float(exact / 100 if unit == PERCENT else exact)


def _exact(number: float | Decimal) -> Decimal:
    return number if isinstance(number, Decimal) else Decimal(repr(float(number)))


def check_limit_of_detection(
    number: float | Decimal, unit: str | None = FRACTION
) -> float:
    """Return an assay's limit of detection: a VAF fraction above 0 and under 1.

    For the API, the admin, --lod and a cfDNA table's limit_of_detection column; the
    database's cfdna_lod_fraction holds the same bounds (migration 0017). Every
    number outside them gets the one message stating them, not check_fraction's
    "between 0 and 1", which 0 and 1 pass; but a number above 1 in a column that
    declares no unit is asked for its unit, as a VAF is.
    """
    exact = _exact(number)
    if unit is None and exact.is_finite() and exact > 1:
        check_fraction(exact, unit)  # raises, asking for the unit
    try:
        limit = check_fraction(exact, unit)
    except InvalidValue:
        raise InvalidValue(LOD_OUT_OF_RANGE, "lod-out-of-range") from None
    if not 0 < limit < 1:
        raise InvalidValue(LOD_OUT_OF_RANGE, "lod-out-of-range")
    return limit


def read_decimal(text: str) -> Decimal:
    """Return the number a cell writes, exactly; raise ValueError for other text."""
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None


def has_percent_sign(text: str) -> bool:
    """Return whether a cell writes its number with a % sign (0.5%, 38.46 %)."""
    return text.strip().endswith("%")


def read_signed_decimal(text: str) -> tuple[Decimal, bool]:
    """Return the number a cell writes, exactly, and whether a % sign follows it.

    The one reading of "0.5%" that VAF columns, VarScan's FREQ and --lod share;
    raises ValueError for text that is no number, with or without its sign.
    """
    signed = has_percent_sign(text)
    return read_decimal(text.strip().rstrip("%") if signed else text), signed


def _out_of_range(unit: str | None, number: float) -> str:
    if unit is None and number > 1:
        return (
            "is above 1, but the column declares no unit; declare percent (a vaf_unit "
            "column, --vaf-unit percent or a % sign) or give fractions."
        )
    if unit == PERCENT:
        return "is not a percentage between 0 and 100 %; no variant exceeds 100 %."
    return "is not a fraction between 0 and 1 (write 12.5 % as 0.125)."


def check_blood_volume(ml: float) -> float:
    """Return a CTC count's blood volume in mL: above 0, at most MAX_BLOOD_VOLUME_ML."""
    if not ml > 0:  # NaN too
        raise InvalidValue("must be above 0 mL.")
    if not ml <= MAX_BLOOD_VOLUME_ML:  # infinity too
        raise InvalidValue(ABOVE_MAX_BLOOD_VOLUME)
    return ml


def check_cells(number: float) -> int:
    """Return a number of cells (a CTC count, clusters): whole, 0 or more, and storable."""
    if not _is_whole(number):
        raise InvalidValue(WHOLE_CELLS)
    return check_fits(int(number), _COUNT)


def check_reads(number: float) -> int:
    """Return a number of reads (alt_reads, depth): whole, 0 or more, and storable."""
    if not _is_whole(number):
        raise InvalidValue(WHOLE_READS)
    return check_fits(int(number), _READS)


def read_whole(text: str) -> int | float:
    """Return the number a cell writes: an int for digits (exact however long), else a float.

    Raises ValueError for text that is no number.
    """
    text = text.strip()
    return int(text) if text.isdigit() else float(text)


def _is_whole(number: float) -> bool:
    if isinstance(number, int):
        return number >= 0
    return math.isfinite(number) and number >= 0 and float(number).is_integer()


def check_concentration(ng_per_ml: float) -> float:
    """Return a cfDNA concentration in ng per mL of plasma, 0 to MAX_CONCENTRATION.

    Plasma holds a few to some thousands of ng of cfDNA per mL; a value beyond the
    bound is another unit (pg/mL, copies/mL) or a typo, never a measurement.
    """
    if not (ng_per_ml >= 0 and math.isfinite(ng_per_ml)):
        raise InvalidValue(NOT_A_CONCENTRATION)
    if ng_per_ml > MAX_CONCENTRATION:
        raise InvalidValue(
            f"exceeds {MAX_CONCENTRATION:,.0f} ng/mL, far beyond any plasma; check "
            "the unit (ng per mL of plasma)."
        )
    return ng_per_ml


def check_draw_after_birth(birth_year: int | None, day: dt.date | None) -> None:
    """Raise, for the draw date, when blood was drawn in a year before the patient's birth."""
    check_after_birth(birth_year, day, "draw-before-birth")


def check_enrichment(text: str) -> str:
    choice = ENRICHMENTS.get(text.strip().lower())
    if choice is None:
        raise InvalidValue(choice_message(ENRICHMENTS))
    return choice


def check_platform(text: str) -> str:
    """Return a CTC platform: a known one in its own spelling, another as written.

    A known platform is recognised whatever its capitals, spaces and punctuation
    (platform_key); an unknown one close to a known one is refused as a likely
    misspelling of it, unless it holds the known name whole (CellSearch XT, a model
    of its own). Empty is the default platform, CellSearch; inner runs of spaces
    become one.
    """
    text = " ".join(text.split())
    if not text:
        return DEFAULT_PLATFORM
    key = platform_key(text)
    known = PLATFORMS.get(key)
    if known is not None:
        return known
    close = difflib.get_close_matches(key, PLATFORMS, n=1, cutoff=PLATFORM_CLOSENESS)
    if close and close[0] not in key:
        raise InvalidValue(
            f"is no platform the biobank knows; did you mean {PLATFORMS[close[0]]}? "
            "Capitals, spaces and hyphens do not matter (cell search is CellSearch).",
            "unknown-platform",
        )
    return text


def find_same_platform(
    sample_id: int, platform: str, exclude_pk: int | None = None
) -> CTCCount | None:
    """Return the stored CTC count of a draw on this platform in any case, if any.

    A platform is one whatever its case, so "ACME chip" and "acme chip" repeat each other.
    """
    stored = CTCCount.objects.filter(sample_id=sample_id, platform__iexact=platform)
    return stored.exclude(pk=exclude_pk).order_by("pk").first()


def check_method(text: str) -> str:
    method = METHODS.get(text.strip().lower())
    if method is None:
        raise InvalidValue(choice_message(METHODS))
    return method


def check_call(text: str) -> str:
    call = CALL_WORDS.get(text.strip().lower())
    if call is None:
        raise InvalidValue(choice_message(CALL_WORDS))
    return call


def check_reads_within_depth(alt_reads: int | None, depth: int | None) -> None:
    """Raise, for alt_reads, when a variant has more alternate reads than its depth."""
    if alt_reads is not None and depth is not None and alt_reads > depth:
        raise InvalidValue(f"exceeds the depth of {depth} reads.")


# The code of the warning that reads_disagree gives, wherever a VAF is written:
READS_DISAGREE = "vaf-reads-disagree"


def reads_disagree(vaf: float | None, alt_reads: int | None, depth: int | None) -> str:
    """Return why a reported VAF cannot come from its reads, or "" when it can.

    Labs report a VAF from deduplicated or consensus reads, so it need not equal
    alt_reads / depth; but alt_reads more than five binomial standard deviations (and
    two reads) away from depth x VAF is no rounding: one of the three is wrong, or
    a percent was given as a fraction. The VAF is stored as given; the importers, the
    API and the admin warn (READS_DISAGREE).
    """
    if vaf is None or alt_reads is None or not depth:
        return ""
    expected = depth * vaf
    spread = math.sqrt(depth * vaf * (1 - vaf)) if 0 < vaf < 1 else 0.0
    if abs(alt_reads - expected) <= 5 * spread + 2:
        return ""
    return (
        f"is {vaf:g}, but the reads give {alt_reads} of {depth} = "
        f"{alt_reads / depth:.4g}; check the VAF, the reads and the VAF's unit. The VAF "
        "is stored as given."
    )


def call_of(vaf: float | None, depth: int | None, lod: float | None = None) -> str:
    """Return the call that reads give when the input states none.

    No depth is a failed test; a VAF of 0 is "not detected" (stored without a VAF,
    never as 0); a VAF under the assay's limit of detection `lod` is "below LOD";
    anything else, including no VAF at all (a fusion), is detected.
    """
    if depth == 0:
        return Call.FAILED
    if vaf == 0:
        return Call.NOT_DETECTED
    if is_below_lod(vaf, lod):
        return Call.BELOW_LOD
    return Call.DETECTED


def resolve_call(
    call: str | None,
    vaf: float | None,
    alt_reads: int | None,
    depth: int | None,
    lod: float | None = None,
) -> tuple[str, float | None]:
    """Return the call and VAF of a variant; "not detected" and "below LOD" carry no VAF.

    Without a VAF it is alt_reads / depth; without a call, the VAF, depth and the
    assay's limit of detection `lod` give it, so a VAF under the limit is below LOD.
    Raises InvalidValue for the vaf when a variant not detected is given one, and
    when a lab calls "detected" a VAF under its own limit: the two contradict each
    other, and storing either would guess which one is wrong.
    """
    if vaf is None and alt_reads is not None and depth:
        vaf = alt_reads / depth

    if call is None:
        call = call_of(vaf, depth, lod)
        if call == Call.BELOW_LOD:
            return call, None  # under the limit a VAF is no measurement
    else:
        check_detected_above_lod(call, vaf, lod)
    if call in (Call.NOT_DETECTED, Call.BELOW_LOD, Call.FAILED):
        if vaf:
            raise InvalidValue(
                f"is given for a call of {call}; a variant not detected has no VAF."
            )
        return call, None
    return call, vaf


def check_detected_above_lod(call: str, vaf: float | None, lod: float | None) -> None:
    """Raise, for the vaf, when a lab calls "detected" a VAF under the assay's limit."""
    if call == Call.DETECTED and is_below_lod(vaf, lod):
        raise InvalidValue(
            f"is below the assay's limit of detection ({lod:g}) for a call of "
            "detected; give the call below-lod, or correct the VAF or the limit.",
            "detected-below-lod",
        )


def is_below_lod(vaf: float | None, lod: float | None) -> bool:
    """Return whether a measured VAF lies under the assay's limit of detection `lod`.

    No VAF, no limit or a VAF of 0 (not detected, see call_of) is not below LOD.
    """
    return vaf is not None and lod is not None and 0 < vaf < lod


def read_genomic_change(text: str) -> str:
    """Return "chrom:pos ref>alt" for chr17_7578263-7578263_G_A, 17:7578263 G>A and kin.

    gnomAD's variant IDs (17-7578263-G-A, chr17-7578263-G-A), which write the VCF's
    CHROM, POS, REF and ALT joined by hyphens, are read too; digits of any script
    and any dash as ascii_digits_and_dashes reads them. A change written with its
    build (GRCh37:7:55249071 C>T) is refused saying where the build goes.
    """
    text = ascii_digits_and_dashes(text).strip()
    match = _POSITION.match(text) or _HYPHENATED.match(text)
    if match is None:
        raise InvalidValue(_not_a_genomic_change(text))
    ref, alt = (
        "" if match[name] in ("(null)", "-") else match[name] for name in ("ref", "alt")
    )
    return genomic_change(match["chrom"], match["start"], ref, alt)


# How a text meant as a genomic change starts: a chromosome, then ":", "_", "-" or a
# space and a position. No protein change (p.T790M, 428V>E) nor fusion (EML4::ALK,
# EML4-ALK) starts so:
_GENOMIC_START = re.compile(
    r"^\s*(?:(?:chr)?(?:\d{1,2}|X|Y|MT?)[:_\s-]\s*(?:[gm]\.)?\d"
    r"|[A-Z]{2}_\d+(?:\.\d+)?\s*:\s*[gm]\.)",
    re.IGNORECASE | re.ASCII,
)
# The form genomic_change() writes for alleles too long for the field, as pages show it:
_HASHED = re.compile(
    r"^(?P<chrom>(?:chr)?(?:\d{1,2}|X|Y|MT?)):(?P<start>\d+) "
    r"(?P<alleles>\d+bp>\d+bp sha256:[0-9a-f]{16})$",
    re.IGNORECASE | re.ASCII,
)


# The genome builds a genomic change may be asked in, each with the spellings its
# files give (MAF NCBI_Build, a VCF's ##reference, CAIRO5's hg19), first the name:
GENOME_BUILDS = {
    "GRCh37": ("GRCh37", "hg19", "b37", "hs37d5"),
    "GRCh38": ("GRCh38", "hg38"),
}
# A build after the change asked for: "7:55249071 C>T hg38", "... (GRCh38)":
_ASKED_BUILD = re.compile(
    r"[\s,]+\(?(?P<build>GRCh3[78]|hg19|hg38|b37|hs37d5)(?:\.p\d+|-lite)?\)?\s*$",
    re.IGNORECASE,
)
ACCEPTED_BUILDS = (
    "GRCh37 (also written hg19, b37, hs37d5, 37, or with its patch: GRCh37.p13) or "
    "GRCh38 (hg38, 38, GRCh38.p14)"
)
# A genome build as files and curators write it: a spelling of GENOME_BUILDS, with
# a patch (GRCh37.p13) or TCGA's -lite, or a MAF's NCBI_Build number alone (37):
_BUILD_SPELLING = re.compile(
    r"^(?P<build>GRCh3[78]|hg19|hg38|b37|hs37d5|3[78])(?:\.p\d+|-lite)?$",
    re.IGNORECASE,
)
# A word that reads as a build, known or not, written before a genomic change
# (GRCh37:chr7:g.55249071C>T, hg19 7:55249071 C>T) or after it (7:55249071 C>T hg99):
_BUILD_WORD = r"\(?(?P<build>(?:GRCh|hg|b)\d+(?:\.p\d+|-lite)?|hs\d+d\d+)\)?"
_BUILD_BEFORE = re.compile(
    rf"^\s*{_BUILD_WORD}\s*[:,\s]\s*(?P<change>\S.*)$", re.IGNORECASE | re.ASCII
)
_BUILD_AFTER = re.compile(
    rf"^(?P<change>.*?\S)[\s,]+{_BUILD_WORD}\s*$", re.IGNORECASE | re.ASCII
)


def check_genome_build(text: str) -> str:
    """Return a genome build by its stored name: GRCh37 for hg19, b37, GRCh37.p13, 37.

    Empty stays empty (no build given). The API, the admin and the importers store
    nothing else (models.GenomeBuild).
    """
    text = text.strip()
    if not text:
        return ""
    match = _BUILD_SPELLING.match(text)
    if match is None:
        raise InvalidValue(
            f"is not a genome build the biobank knows; give {ACCEPTED_BUILDS}.",
            "unknown-genome-build",
        )
    build = match["build"]
    return genome_build_name(f"GRCh{build}" if build.isdigit() else build)


def build_written_with(text: str) -> tuple[str, str, str] | None:
    """Return (change, build as written, "before" or "after") of a genomic change
    written with a build beside it, known or not; None for any other text."""
    text = ascii_digits_and_dashes(text)
    for pattern, where in ((_BUILD_BEFORE, "before"), (_BUILD_AFTER, "after")):
        match = pattern.match(text)
        if match is not None and _GENOMIC_START.match(match["change"]):
            return match["change"].strip(), match["build"], where
    return None


def _not_a_genomic_change(text: str) -> str:
    """Return why `text` is no genomic change to store; one written with its build
    is told to give the build apart, under genome_build (the API's field, the cfDNA
    table's column)."""
    written = build_written_with(text)
    if written is None:
        return NOT_A_GENOMIC_CHANGE
    change, build, _ = written
    try:
        shown = read_genomic_change(change)
    except InvalidValue:
        try:
            shown = read_hgvs_genomic_change(change)[0]
        except InvalidValue:
            shown = "17:7578263 G>A"
    try:
        named = f"as {check_genome_build(build)}"
    except InvalidValue:
        named = f"as {ACCEPTED_BUILDS}; {build} is none of them"
    return (
        f"writes the genome build {build} in the genomic change; give the change "
        f"alone ({shown}) and its build under genome_build, {named}."
    )


def genome_build_name(stored: str) -> str:
    """Return the name of a stored build (hg19 is GRCh37), or the text of another one."""
    for name, spellings in GENOME_BUILDS.items():
        if stored.lower().startswith(tuple(s.lower() for s in spellings)):
            return name
    return stored


def split_genome_build(text: str) -> tuple[str, str]:
    """Return a genomic change asked for and the name of its build, or "".

    The build is the one written after the change (7:55249071 C>T hg38) or the one
    its RefSeq accession names (NC_000007.14:g.55181378C>T is GRCh38). The change
    comes with digits and dashes in ASCII (ascii_digits_and_dashes); one written in
    HGVS comes back as the pages show it (7:55181378 C>T).

    Raises
    ------
    InvalidValue
        For an HGVS change on no chromosome of GRCh37 or GRCh38, of an edit other
        than a substitution, or whose accession names another build than the one
        written after it.
    """
    text = ascii_digits_and_dashes(text)
    _refuse_build_misplaced(text)
    asked = _ASKED_BUILD.search(text)
    change = text if asked is None else text[: asked.start()]
    build = "" if asked is None else genome_build_name(asked["build"])
    if not _HGVS_GENOMIC.match(change.strip()):
        return change, build

    change, named = read_hgvs_genomic_change(change)
    if named and build and named != build:
        raise InvalidValue(
            f"names {named} by its accession and {build} after it; give one build."
        )
    return change, build or named


def _refuse_build_misplaced(text: str) -> None:
    """Refuse a change asked for with its build before it, or with an unknown build
    after it, saying how to give the build: after the change, by one of its names."""
    written = build_written_with(text)
    if written is None:
        return
    change, build, where = written
    try:
        name = check_genome_build(build)
    except InvalidValue:
        raise InvalidValue(
            f"names the genome build {build}, which the biobank does not know; write "
            f"{ACCEPTED_BUILDS} after the change ({change} GRCh37), or leave the "
            "build out."
        ) from None
    if where == "after":
        return  # where _ASKED_BUILD reads it
    raise InvalidValue(
        f"writes its genome build {build} before the change; write the build after "
        f"it ({change} {name}), or give an HGVS change on the chromosome's RefSeq "
        "accession, which names its build (NC_000007.13:g.55249071C>T is GRCh37)."
    )


# The RefSeq accession of each chromosome: one number, and a version for each build
# (NCBI's assembly reports of GRCh37.p13, GCF_000001405.25, and GRCh38.p14,
# GCF_000001405.40; patches do not change them):
_ACCESSION_VERSIONS = {
    "1": (10, 11),
    "2": (11, 12),
    "3": (11, 12),
    "4": (11, 12),
    "5": (9, 10),
    "6": (11, 12),
    "7": (13, 14),
    "8": (10, 11),
    "9": (11, 12),
    "10": (10, 11),
    "11": (9, 10),
    "12": (11, 12),
    "13": (10, 11),
    "14": (8, 9),
    "15": (9, 10),
    "16": (9, 10),
    "17": (10, 11),
    "18": (9, 10),
    "19": (9, 10),
    "20": (10, 11),
    "21": (8, 9),
    "22": (10, 11),
    "X": (10, 11),
    "Y": (9, 10),
}
_NUMBERS = {
    chrom: f"NC_{index:06}" for index, chrom in enumerate(_ACCESSION_VERSIONS, 1)
}
# The mitochondrion of both builds is the revised Cambridge Reference Sequence.
# NB: so an accession of it names no build. UCSC's hg19 named its chrM after another
# sequence (NC_001807.4, positions of its own), which is refused as no chromosome;
# a change stored as MT in hg19 may be on either, which the biobank cannot tell.
MITOCHONDRION = "NC_012920.1"
# Accession: (chromosome, build); the build "" for the mitochondrion:
REFSEQ_CHROMOSOMES = {
    f"{_NUMBERS[chrom]}.{version}": (chrom, build)
    for chrom, versions in _ACCESSION_VERSIONS.items()
    for build, version in zip(GENOME_BUILDS, versions, strict=True)
} | {MITOCHONDRION: ("MT", "")}

# An HGVS change on a chromosome: NC_000007.13:g.55249071C>T, chr7:g.55249071C>T,
# NC_012920.1:m.3243A>G; the edit is read apart:
_HGVS_GENOMIC = re.compile(
    r"^(?P<sequence>[A-Z]{2}_\d+(?:\.\d+)?|(?:chr)?(?:\d{1,2}|X|Y|MT?))\s*:\s*"
    r"(?P<prefix>[gm])\.(?P<edit>\S+)$",
    re.IGNORECASE | re.ASCII,
)
_HGVS_SUBSTITUTION = re.compile(
    r"^(?P<start>\d+)(?P<ref>[ACGT])>(?P<alt>[ACGT])$", re.IGNORECASE | re.ASCII
)
_HGVS_INDEL = re.compile(
    r"^\d+(?:_\d+)?(?P<kind>delins|del|ins|dup|inv)", re.IGNORECASE | re.ASCII
)
_INDEL_NAMES = {
    "del": "a deletion",
    "ins": "an insertion",
    "dup": "a duplication",
    "delins": "a deletion-insertion",
    "inv": "an inversion",
}
NOT_AN_HGVS_SUBSTITUTION = (
    "is not an HGVS substitution on a chromosome such as NC_000017.10:g.7578263G>A "
    "or chr17:g.7578263G>A."
)


def read_hgvs_genomic_change(text: str) -> tuple[str, str]:
    """Return an HGVS substitution on a chromosome as the pages show it, and the build
    its RefSeq accession names ("" for a chromosome named, or the mitochondrion).

    NC_000007.13:g.55249071C>T is 7:55249071 C>T of GRCh37, NC_000007.14:g.55181378C>T
    7:55181378 C>T of GRCh38; chr7:g.55249071C>T names no build.

    Raises
    ------
    InvalidValue
        For an accession of no chromosome of GRCh37 or GRCh38, and for an edit other
        than a substitution: the biobank stores an insertion or a deletion as its file
        wrote it (a VCF with the base before it, a MAF without), and an HGVS position
        does not give that form without the reference sequence.
    """
    text = ascii_digits_and_dashes(text).strip()
    match = _HGVS_GENOMIC.match(text)
    if match is None:
        raise InvalidValue(NOT_AN_HGVS_SUBSTITUTION)
    chrom, build = _chromosome_of(match["sequence"])
    if (match["prefix"].lower() == "m") != (chrom == "MT"):
        raise InvalidValue(
            "writes m. for a nuclear chromosome; HGVS writes g. on chromosomes 1-22, "
            "X and Y and m. on the mitochondrion."
            if chrom != "MT"
            else "writes g. for the mitochondrion; HGVS writes m. there "
            f"({MITOCHONDRION}:m.3243A>G)."
        )

    edit = match["edit"]
    indel = _HGVS_INDEL.match(edit)
    if indel is not None:
        raise InvalidValue(
            f"is {_INDEL_NAMES[indel['kind'].lower()]}, which an HGVS position cannot "
            "find: the biobank stores insertions and deletions as their files wrote "
            "them, a VCF with the base before (1:100 CA>C), a MAF without (1:101 A>-). "
            "Give it as the pages show it, or by gene and protein change (EGFR "
            "p.E746_A750del)."
        )
    substitution = _HGVS_SUBSTITUTION.match(edit)
    if substitution is None:
        raise InvalidValue(NOT_AN_HGVS_SUBSTITUTION)
    change = genomic_change(
        chrom, substitution["start"], substitution["ref"], substitution["alt"]
    )
    return change, build


def _chromosome_of(sequence: str) -> tuple[str, str]:
    """Return the chromosome and build of an HGVS reference sequence (NC_000007.13,
    chr7); raise InvalidValue naming the accessions of the chromosome otherwise."""
    if "_" not in sequence:
        return chromosome_name(sequence), ""
    accession = sequence.upper()
    known = REFSEQ_CHROMOSOMES.get(accession)
    if known is not None:
        return known

    number = accession.partition(".")[0]
    chrom = next((c for c, n in _NUMBERS.items() if n == number), None)
    if chrom is None:
        raise InvalidValue(
            f"is on {sequence}, which is no chromosome of GRCh37 or GRCh38; give a "
            "chromosome's RefSeq accession (NC_000001 to NC_000024 for chromosomes "
            f"1-22, X and Y, with the version of the build; {MITOCHONDRION} for the "
            "mitochondrion) or the chromosome (chr7:g.55249071C>T)."
        )
    grch37, grch38 = (f"{number}.{v}" for v in _ACCESSION_VERSIONS[chrom])
    given = (
        f"is on {sequence}, which gives no version; the version names the build"
        if "." not in accession
        else f"is on {sequence}, a version of no build the biobank stores"
    )
    raise InvalidValue(
        f"{given}: chromosome {chrom} is {grch37} in GRCh37 and {grch38} in GRCh38."
    )


# A dbSNP reference SNP ID, asked for as a variant: rs121434569.
_DBSNP_ID = re.compile(r"^\s*rs(?P<number>\d{1,15})\s*$", re.IGNORECASE | re.ASCII)
# The IDs of a MAF's dbSNP_RS or a VCF's ID cell: "rs121434569", "rs1;rs2", not
# "novel", "." nor the IDs of other databases (COSV, COSM):
_DBSNP_IDS_IN_CELL = re.compile(
    r"(?<![A-Za-z0-9])rs(\d{1,15})(?![A-Za-z0-9])", re.IGNORECASE | re.ASCII
)


def looks_like_dbsnp_id(text: str) -> bool:
    """Return whether a variant asked for is a dbSNP ID (rs121434569), in digits of
    any script (ascii_digits_and_dashes)."""
    return bool(_DBSNP_ID.match(ascii_digits_and_dashes(text)))


def read_dbsnp_id(text: str) -> str:
    """Return a dbSNP ID asked for as it is stored: rs121434569 for RS121434569."""
    match = _DBSNP_ID.match(ascii_digits_and_dashes(text))
    if match is None:
        raise InvalidValue("is not a dbSNP ID such as rs121434569.")
    return f"rs{match['number']}"


def dbsnp_ids_in(cell: str) -> list[str]:
    """Return the dbSNP IDs of a MAF's dbSNP_RS or a VCF's ID cell, as stored (rs123),
    each once, in the cell's order; none for "novel", "." or other databases' IDs."""
    found = (f"rs{number}" for number in _DBSNP_IDS_IN_CELL.findall(cell))
    return list(dict.fromkeys(found))


def looks_like_genomic_change(text: str) -> bool:
    """Return whether a variant asked for is a genomic change (17:7578263 G>A), in
    digits of any script and with any dash (ascii_digits_and_dashes); one with a
    build before it too (GRCh37:7:55249071 C>T), which split_genome_build refuses
    saying where the build goes."""
    text = ascii_digits_and_dashes(text)
    return bool(_GENOMIC_START.match(text)) or build_written_with(text) is not None


def read_shown_genomic_change(text: str) -> str:
    """Return the stored form of a genomic change as the pages show it or a lab writes it.

    Accepts what read_genomic_change reads, and the shortened form of long alleles
    (1:1000 60bp>1bp sha256:...), which only a copy from a page gives.
    """
    text = ascii_digits_and_dashes(text)
    hashed = _HASHED.match(text.strip())
    if hashed is None:
        return read_genomic_change(text)
    chrom = genomic_change(hashed["chrom"], hashed["start"], "", "").partition(":")[0]
    return f"{chrom}:{hashed['start']} {hashed['alleles'].lower()}"


def single_base_changes_at(change: str) -> list[str]:
    """Return the twelve single-base changes at the position of a stored `change`.

    In the stored form: 17:7578263 G>A gives 17:7578263 A>C, ... 17:7578263 T>G.
    """
    position = change.partition(" ")[0]
    return [f"{position} {ref}>{alt}" for ref in BASES for alt in BASES if ref != alt]


def reference_base(change: str) -> str:
    """Return the first base of a stored change's reference allele: C of 17:7578263 CA>C.

    "" when the change writes no base (an insertion's "-", alleles too long, shown
    by their length and hash).
    """
    first = change.partition(" ")[2][:1]
    return first if first in BASES else ""


def genomic_change(chrom: str, position: str, ref: str, alt: str) -> str:
    """Return "chrom:pos ref>alt" with the chromosome as 1..22, X, Y, MT (no "chr").

    An empty or missing allele is written "-"; alleles too long for the field keep
    their length and a hash, so the change still identifies the variant.
    """
    chrom = chromosome_name(chrom)
    ref = ref.strip().upper() or "-"
    alt = alt.strip().upper() or "-"
    text = f"{chrom}:{position.strip()} {ref}>{alt}"
    if len(text) <= _MAX_GENOMIC:
        return text
    digest = hashlib.sha256(f"{ref}>{alt}".encode()).hexdigest()[:16]
    return f"{chrom}:{position.strip()} {len(ref)}bp>{len(alt)}bp sha256:{digest}"


def chromosome_name(chrom: str) -> str:
    """Return a chromosome as genomic changes are stored: 1..22, X, Y, MT (no "chr").

    X, Y and MT in upper case whatever a file or a researcher wrote (chrx, mt), as
    the cohort filter asks for them; other contigs (chrUn_gl000220) stay as written.
    """
    chrom = re.sub(r"^chr|\.fa$", "", chrom.strip(), flags=re.IGNORECASE)
    return LETTERED_CHROMOSOMES.get(chrom.upper(), chrom)
