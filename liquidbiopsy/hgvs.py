"""Read protein changes, fusions and gene symbols as labs write them; return one canonical form."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A character that is no ASCII, to be read by _ascii_of:
_NOT_ASCII = re.compile(r"[^\x00-\x7f]")


def ascii_digits_and_dashes(text: str) -> str:
    """Return `text` with each decimal digit of any script as its ASCII digit (١٧ and
    １７ as 17) and each dash (– — ‐ −) as a hyphen; other characters as they are.

    Protein, coding DNA and genomic changes (validation.read_genomic_change) are read
    so before their patterns: a change is stored, and asked for, in ASCII digits
    whatever digits it was typed in, so that a change typed in other digits finds the
    one stored in ASCII (stored as typed, none asked in ASCII would find it). A
    character that only looks like a digit (², ①) is left, so the change is refused.
    """
    return _NOT_ASCII.sub(_ascii_of, text)


def _ascii_of(found: re.Match) -> str:
    character = found[0]
    if unicodedata.category(character) == "Pd" or character == "\N{MINUS SIGN}":
        return "-"
    digit = unicodedata.decimal(character, None)
    return character if digit is None else str(digit)


# HGVS amino-acid codes (https://hgvs-nomenclature.org/stable/background/standards/):
THREE_TO_ONE = {
    "Ala": "A",
    "Arg": "R",
    "Asn": "N",
    "Asp": "D",
    "Cys": "C",
    "Gln": "Q",
    "Glu": "E",
    "Gly": "G",
    "His": "H",
    "Ile": "I",
    "Leu": "L",
    "Lys": "K",
    "Met": "M",
    "Phe": "F",
    "Pro": "P",
    "Ser": "S",
    "Thr": "T",
    "Trp": "W",
    "Tyr": "Y",
    "Val": "V",
    "Sec": "U",
    "Ter": "*",
}
# NB: pyrrolysine (Pyl, O) is left out on purpose: no human protein has it, and the
# letter O typed for a zero (p.Thr79OMet) must be an error, not an amino acid.

_AA = "(?:" + "|".join(THREE_TO_ONE) + r"|[ACDEFGHIKLMNPQRSTUVWXY*])"
_AAS = rf"(?:{_AA})+"
_POS = r"\d+"
_ACCESSION = re.compile(
    r"^(?P<accession>[A-Z]{2}_\d+(?:\.\d+)?|ENSP\d+(?:\.\d+)?):(?P<rest>.+)$"
)
_LEGACY_SUBSTITUTION = re.compile(r"^(?P<pos>\d+)(?P<ref>[A-Z*])>(?P<alt>[A-Z*])$")
_STOP = r"(?:\*|Ter|X)"

# Each form of HGVS protein change, on the text after "p." with parentheses removed:
_FORMS = [
    (
        "substitution",
        re.compile(rf"^(?P<ref>{_AA})(?P<pos>{_POS})(?P<alt>{_AA}|=|\?)$"),
    ),
    (
        "frameshift",
        re.compile(
            rf"^(?P<ref>{_AA})(?P<pos>{_POS})(?P<alt>{_AA})?fs(?:{_STOP}(?P<stop>\d+|\?))?$"
        ),
    ),
    (
        "extension",
        re.compile(
            rf"^(?P<ref>{_AA})(?P<pos>{_POS})(?P<alt>{_AA})?ext(?P<stop>{_STOP}?-?\d+|{_STOP}\?)$"
        ),
    ),
    (
        "range",
        re.compile(
            rf"^(?P<ref>{_AA})(?P<pos>{_POS})(?:_(?P<ref2>{_AA})(?P<pos2>{_POS}))?"
            rf"(?P<kind>delins|del|dup|ins)(?P<seq>{_AAS})?$"
        ),
    ),
]


class HGVSError(ValueError):
    """The text is no HGVS protein change this module can read; the message says why."""


@dataclass(frozen=True)
class ProteinChange:
    """One protein change; `canonical` is the one-letter form, e.g. p.T790M, p.E746_A750del."""

    raw: str
    canonical: str
    kind: str
    is_predicted: bool = False
    accession: str = ""


def _one_letter(code: str) -> str:
    """Return the one-letter code of a one- or three-letter amino acid (X and Ter become *)."""
    if code in ("X", "Ter"):
        return "*"
    if len(code) == 1:
        return code
    return THREE_TO_ONE[code]


def parse_protein_change(text: str) -> ProteinChange:
    """Read an HGVS protein change in any accepted spelling; return its canonical form.

    Accepted: one- or three-letter codes (p.T790M, p.Thr790Met), no "p." (T790M),
    predicted changes in parentheses (p.(Thr790Met), flagged), a protein accession
    prefix (NP_005219.2:p.Thr790Met, kept apart), Ter or X for the stop (becomes *),
    del, dup, ins, delins, fs and ext forms, p.=, p.?, p.0, and the legacy
    position-first form 428V>E (read as p.V428E). Digits of any script and any dash
    are read as ASCII (p.T٧٩٠M is p.T790M, ascii_digits_and_dashes); `raw` keeps them.

    Raises
    ------
    HGVSError
        For anything else, e.g. the typo p.Thr79OMet (letter O for a zero).
    """
    raw = text
    text = ascii_digits_and_dashes(text).strip()
    if not text:
        raise HGVSError("is empty.")

    accession = ""
    match = _ACCESSION.match(text)
    if match:
        accession, text = match["accession"], match["rest"]
    if text.startswith("p."):
        text = text[2:]

    predicted = text.startswith("(") and text.endswith(")")
    if predicted:
        text = text[1:-1]

    if text in ("=", "?", "0", "0?"):
        return ProteinChange(raw, f"p.{text}", "special", predicted, accession)

    legacy = _LEGACY_SUBSTITUTION.match(text)
    if legacy:
        text = f"{legacy['ref']}{legacy['pos']}{legacy['alt']}"

    for kind, pattern in _FORMS:
        match = pattern.match(text)
        if match:
            canonical = _canonical(kind, match)
            return ProteinChange(raw, f"p.{canonical}", kind, predicted, accession)
    raise HGVSError(_explain(text))


def _canonical(kind: str, match: re.Match[str]) -> str:
    start = f"{_one_letter(match['ref'])}{match['pos']}"
    alt = match["alt"] if kind != "range" else None
    if kind == "substitution":
        return start + (alt if alt in ("=", "?") else _one_letter(alt))
    if kind == "frameshift":
        stop = f"*{match['stop']}" if match["stop"] else ""
        return f"{start}{_one_letter(alt) if alt else ''}fs{stop}"
    if kind == "extension":
        stop = re.sub(rf"^{_STOP}", "*", match["stop"])
        return f"{start}{_one_letter(alt) if alt else ''}ext{stop}"

    end = f"_{_one_letter(match['ref2'])}{match['pos2']}" if match["ref2"] else ""
    seq = "".join(_one_letter(code) for code in re.findall(_AA, match["seq"] or ""))
    if match["kind"] in ("ins", "delins") and not seq:
        raise HGVSError(f"names an {match['kind']} without the inserted amino acids.")
    if match["kind"] == "ins" and not end:
        raise HGVSError("names an insertion without the two flanking amino acids.")
    return f"{start}{end}{match['kind']}{seq}"


def _explain(text: str) -> str:
    # Digits of other scripts are read already; what is left only looks like one:
    shaped = [
        char
        for char in text
        if not char.isascii() and unicodedata.numeric(char, None) is not None
    ]
    if shaped:
        return (
            f"is not an HGVS protein change: {shaped[0]} only looks like a digit "
            "(write the position in decimal digits, e.g. 790)."
        )
    if re.search(r"\dO|O\d", text):
        return (
            "is not an HGVS protein change: it has the letter O where a digit is "
            "expected (write 0, zero)."
        )
    unknown = [
        code for code in re.findall(r"[A-Z][a-z]{2}", text) if code not in THREE_TO_ONE
    ]
    if unknown:
        return f"is not an HGVS protein change: {unknown[0]} is no amino-acid code."
    return (
        "is not an HGVS protein change (write e.g. p.T790M, p.Thr790Met, "
        "p.E746_A750del or p.R1445fs)."
    )


# Fusions, which HGNC writes 5' partner::3' partner (Bruford et al., Leukemia 2021):

# The orientation the literature and the fusion databases report for common drivers:
KNOWN_FUSIONS = {
    ("EML4", "ALK"),
    ("NPM1", "ALK"),
    ("KIF5B", "ALK"),
    ("KLC1", "ALK"),
    ("TFG", "ALK"),
    ("STRN", "ALK"),
    ("KIF5B", "RET"),
    ("CCDC6", "RET"),
    ("NCOA4", "RET"),
    ("TRIM33", "RET"),
    ("CD74", "ROS1"),
    ("SLC34A2", "ROS1"),
    ("EZR", "ROS1"),
    ("SDC4", "ROS1"),
    ("GOPC", "ROS1"),
    ("TPM3", "NTRK1"),
    ("LMNA", "NTRK1"),
    ("ETV6", "NTRK3"),
    ("CD74", "NRG1"),
    ("SLC3A2", "NRG1"),
    ("TMPRSS2", "ERG"),
    ("TMPRSS2", "ETV1"),
    ("FGFR3", "TACC3"),
    ("FGFR2", "BICC1"),
    ("BCR", "ABL1"),
    ("PML", "RARA"),
    ("EWSR1", "FLI1"),
    ("KIAA1549", "BRAF"),
}
KNOWN_3PRIME = {three for _five, three in KNOWN_FUSIONS}
KNOWN_5PRIME = {five for five, _three in KNOWN_FUSIONS}
KNOWN_PARTNERS = KNOWN_5PRIME | KNOWN_3PRIME

# Approved symbols that contain a hyphen, so "-" alone cannot split them off:
HYPHENATED_SYMBOLS = {
    "NKX2-1",
    "NKX2-5",
    "NKX3-1",
    "HLA-A",
    "HLA-B",
    "HLA-C",
    "HLA-DRB1",
}

_FUSION_TYPES = {"fusion", "rearrangement", "translocation", "sv", "structural variant"}
_FUSION_WORDS = re.compile(
    r"\s*\b(fusion|rearrangement|translocation|rearranged)\b\s*", re.IGNORECASE
)
_NOTE = re.compile(r"\s*\((?P<note>[^()]*)\)\s*$")
_GENE_PAIR = re.compile(r"^[A-Z][A-Z0-9]+[-/][A-Z][A-Z0-9]+$")
_PAIR_IN_ANY_CASE = re.compile(r"^([A-Za-z][A-Za-z0-9]+)[-/]([A-Za-z][A-Za-z0-9]+)$")
_PARTNER_UNKNOWN = re.compile(
    r"partner\s+(not\s+identified|unknown|not\s+known)|unknown\s+partner", re.IGNORECASE
)


class FusionError(ValueError):
    """The text is no fusion this module can read; the message says why."""


@dataclass(frozen=True)
class Fusion:
    """A fusion or rearrangement; an empty partner is one the report did not identify."""

    raw: str
    five_prime: str
    three_prime: str
    breakpoint: str = ""
    note: str = ""
    # Partners as the text wrote them, in another case than HGNC's (eml4 of eml4::alk):
    recased: tuple[str, ...] = ()
    # Partners kept as an annotator named them, of no HGNC shape (AC004943.1):
    not_hgnc: tuple[str, ...] = ()

    @property
    def canonical(self) -> str:
        if self.five_prime and self.three_prime:
            return f"{self.five_prime}::{self.three_prime}"
        return f"{self.five_prime or self.three_prime} rearrangement"


def looks_like_fusion(text: str, alteration_type: str = "") -> bool:
    """Return whether an alteration is a fusion rather than a protein change."""
    if alteration_type.strip().lower() in _FUSION_TYPES:
        return True
    if "::" in text or _FUSION_WORDS.search(text):
        return True
    text = text.strip()
    if _GENE_PAIR.match(text):
        return True
    # A pair in another case only with a partner known for fusions (eml4-alk):
    # exon19-del is no fusion but an unreadable protein change.
    pair = _PAIR_IN_ANY_CASE.match(text)
    return bool(pair) and any(
        canonical_case(partner) in KNOWN_PARTNERS for partner in pair.groups()
    )


def parse_fusion(text: str, gene: str = "", *, annotator_names: bool = False) -> Fusion:
    """Read a fusion as reports write it (EML4-ALK fusion, EML4::ALK (E13;A20), ...).

    The partner order is kept as written; `note` says when it is the reverse of the
    orientation known for the pair (ALK-EML4 stays ALK::EML4, never swapped silently).
    A rearrangement without a partner puts `gene` on the side it is known for (3'
    unless it is only known as a 5' partner). Partners are given in HGNC's case
    (eml4::alk is EML4::ALK); `recased` lists those the text wrote otherwise. With
    `annotator_names` (MAF and VCF, queries) a partner of no HGNC shape but an
    annotator's name of a gene (AC004943.1) is kept, upper case, in `not_hgnc`.

    Raises
    ------
    FusionError
        When the partners cannot be told apart (several hyphens) or are no gene symbols.
    """
    raw = text
    text = text.strip()
    breakpoint = ""
    unknown_partner = bool(_PARTNER_UNKNOWN.search(text))
    note_match = _NOTE.search(text)
    if note_match:
        if not unknown_partner:
            breakpoint = note_match["note"].strip()
        text = text[: note_match.start()]
    text = _FUSION_WORDS.sub(" ", text).strip()

    partners = _split_partners(text)
    # Words alone (a rearrangement) name the gene of the row, whose cell is checked as
    # its own field; the warning of a partner's case is for partners the text names:
    named = partners != [""]
    if not named:
        if not gene.strip():
            raise FusionError("names no gene for the rearrangement.")
        partners = [gene.strip()]
    written = [part for part in partners if named and canonical_case(part) != part]
    for part in written:
        _refuse_a_word(part, gene)
    symbols = [_partner(partner, annotator_names) for partner in partners]
    not_hgnc = tuple(
        symbol for symbol in symbols if named and not _HGNC_SHAPE.match(symbol)
    )
    if len(symbols) == 1:
        return _partner_unknown(raw, symbols[0], breakpoint, tuple(written), not_hgnc)
    five, three = symbols

    note = ""
    if (three, five) in KNOWN_FUSIONS:
        note = f"partner order differs from {three}::{five}"
    return Fusion(raw, five, three, breakpoint, note, tuple(written), not_hgnc)


def _partner(symbol: str, annotator_names: bool) -> str:
    """Return a partner in HGNC's case; raise FusionError when it is no symbol."""
    if not symbol:
        raise FusionError("names no gene on one side; write 5'::3' (e.g. EML4::ALK).")
    try:
        check_gene_symbol(symbol)
    except GeneSymbolShapeError as exc:
        # Not from a digit: 34P13.7 is the rest of RP11-34P13.7 split at its hyphen.
        if not (
            annotator_names and symbol[0].isalpha() and ANNOTATOR_NAME.match(symbol)
        ):
            raise FusionError(f"names {symbol!r}, which {exc}") from None
    except GeneSymbolError as exc:
        raise FusionError(f"names {symbol!r}, which {exc}") from None
    return canonical_case(symbol)


def _refuse_a_word(partner: str, gene: str) -> None:
    """Refuse a partner of letters alone, in another case, that could be a word.

    "ALK fusion positive", "ALK-positive", "fusion detected": in HGNC's case these
    words would be the partners POSITIVE and DETECTED. A known fusion partner (alk,
    eml4) or the row's own gene is taken in any case.
    """
    symbol = canonical_case(partner)
    if (
        partner.isalpha()
        and symbol not in KNOWN_PARTNERS
        and symbol != canonical_case(gene)
    ):
        raise FusionError(
            f"names {partner!r}, a word that is neither in HGNC's case, nor a known "
            "fusion partner, nor the row's gene: it could be a word of the report "
            "(positive, detected); write partners in HGNC's case (e.g. EML4::ALK)."
        )


def _split_partners(text: str) -> list[str]:
    if "::" in text:
        return [part.strip() for part in text.split("::", 1)]
    for separator in ("/", "\u2013", " "):
        if separator in text:
            return [part.strip() for part in text.split(separator, 1)]
    if "-" not in text:
        return [text]

    splits = [(text[:i], text[i + 1 :]) for i, char in enumerate(text) if char == "-"]
    if len(splits) > 1:
        splits = [
            (left, right)
            for left, right in splits
            if ("-" not in left or canonical_case(left) in HYPHENATED_SYMBOLS)
            and ("-" not in right or canonical_case(right) in HYPHENATED_SYMBOLS)
        ]
    if len(splits) != 1:
        raise FusionError(
            "has more than one hyphen, so its partners are ambiguous; write them "
            "as 5'::3' (e.g. EML4::ALK)."
        )
    return list(splits[0])


def _partner_unknown(
    raw: str,
    gene: str,
    breakpoint: str,
    recased: tuple[str, ...],
    not_hgnc: tuple[str, ...],
) -> Fusion:
    note = "partner not identified"
    if gene in KNOWN_5PRIME and gene not in KNOWN_3PRIME:
        return Fusion(raw, gene, "", breakpoint, note, recased, not_hgnc)
    return Fusion(raw, "", gene, breakpoint, note, recased, not_hgnc)


# Gene symbols:

_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_SPREADSHEET_DATES = [
    re.compile(rf"^\d{{1,2}}[-/ .]{_MONTHS}(?:[-/ .]\d{{2,4}})?$", re.IGNORECASE),
    re.compile(rf"^{_MONTHS}[-/ .]\d{{1,4}}(?:[-/ .]\d{{2,4}})?$", re.IGNORECASE),
    re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ][\d:.]+Z?)?$"),
    re.compile(r"^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}(?: [\d:]+)?$"),
    # A date's serial number, once the cell lost its date format:
    re.compile(r"^\d{1,6}(?:\.\d+)?$"),
]

# Former symbols that spreadsheets turn into dates, and their current HGNC symbols:
_ALIASES = [
    (re.compile(r"^SEPT(\d{1,2})$"), r"SEPTIN\1"),
    (re.compile(r"^MARCH(\d{1,2})$"), r"MARCHF\1"),
    (re.compile(r"^MARC([12])$"), r"MTARC\1"),
    (re.compile(r"^DEC1$"), "DELEC1"),
]


# The shape of every approved HGNC symbol (Bruford et al., "Guidelines for human gene
# nomenclature", Nat Genet 2020; checked against the 43,837 approved symbols of July
# 2024): upper-case Latin letters and digits, starting with a letter; parts joined by a
# hyphen (HLA-A, NKX2-1, A1BG-AS1) or, in three copy symbols, an underscore (C4B_2,
# GTF2H2C_2, APOBEC3A_B); a final @ in seven cluster symbols (HOXA@, PCDHG@). Lower
# case only in the "orf" of the open-reading-frame placeholders (C1orf112, CXorf51A,
# C2orf69P1, C1orf220-AS1).
_ORF = r"C(?:\d{1,2}|X|Y)orf\d+[A-Z0-9]*"
_HGNC_SHAPE = re.compile(rf"^(?:[A-Z][A-Z0-9]*|{_ORF})(?:[-_](?:[A-Z0-9]+|{_ORF}))*@?$")
_ORF_IN_UPPER_CASE = re.compile(r"(?<![A-Z0-9])C(\d{1,2}|X|Y)ORF(?=\d)")
# What annotators write for a gene HGNC has no symbol for (AC004943.1, RP11-34P13.7,
# 5S_rRNA), which MAF and VCF files carry over:
ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class GeneSymbolError(ValueError):
    """The text is no gene symbol; the message says why, `code` names the problem."""

    code = "gene-symbol"


class GeneSymbolShapeError(GeneSymbolError):
    """The text has a character or form that no HGNC symbol has."""


class GeneSpreadsheetDateError(GeneSymbolError):
    """The text is what a spreadsheet makes of a symbol it read as a date (1-Mar)."""

    code = "gene-spreadsheet-date"


def check_gene_symbol(text: str) -> str:
    """Return the symbol as given; raise GeneSymbolError for what no HGNC symbol can be.

    Refused: nothing; as GeneSpreadsheetDateError, a spreadsheet date ("1-Mar",
    "9-Sep", "2021-09-02", "Sep-09", "01-Mar-2020" are what a spreadsheet makes of
    MARCH1, SEPT9 and other symbols; no symbol is guessed back: 1-Mar could be MARCH1,
    now MARCHF1, or MARC1, now MTARC1); and, as GeneSymbolShapeError, a shape no
    approved symbol has in any case (a space, a dot, a leading digit). The case is not
    checked here: canonical_case gives it.
    """
    # NB: a well-shaped symbol is not looked up in HGNC's list, so NOTAGENE is taken:
    # no package this project installs ships that list, and it is not fetched at run
    # time (the list changes monthly and the machines reach no host but the registries).
    symbol = text.strip()
    if not symbol:
        raise GeneSymbolError("is empty; every variant needs its gene.")
    if any(pattern.match(symbol) for pattern in _SPREADSHEET_DATES):
        raise GeneSpreadsheetDateError(
            "looks like a date produced by a spreadsheet, not a gene symbol; "
            "restore the symbol in the source file (no symbol is guessed)."
        )
    if not _HGNC_SHAPE.match(canonical_case(symbol)):
        raise GeneSymbolShapeError(
            "is not an HGNC gene symbol: these are letters and digits starting with "
            "a letter, their parts joined by a hyphen (e.g. KRAS, NKX2-1, C9orf72)."
        )
    return symbol


def canonical_case(symbol: str) -> str:
    """Return a symbol in HGNC's case: upper case but for "orf" (kras -> KRAS, c9ORF72 -> C9orf72)."""
    return _ORF_IN_UPPER_CASE.sub(r"C\1orf", symbol.strip().upper())


def current_symbol(symbol: str) -> str:
    """Return the current HGNC symbol of a former one (SEPT9 -> SEPTIN9), else the symbol.

    Either in HGNC's case (canonical_case).
    """
    symbol = canonical_case(symbol)
    for pattern, replacement in _ALIASES:
        if pattern.match(symbol):
            return pattern.sub(replacement, symbol)
    return symbol


# Coding DNA changes, kept as given but for the "c." prefix and digits and dashes of
# other scripts, read as ASCII (ascii_digits_and_dashes):

_CDNA = re.compile(
    r"^(?:(?P<accession>[A-Z]{2}_\d+(?:\.\d+)?):)?(?:c\.)?(?P<change>[-*]?\d+.*)$"
)
_INTRONIC = re.compile(r"^[-*]?\d+[-+]\d+[ACGT]+>[ACGT]+$")


def normalise_cdna_change(text: str) -> str:
    """Return a coding DNA change with its "c." prefix (673-2A>G -> c.673-2A>G)."""
    text = ascii_digits_and_dashes(text).strip()
    match = _CDNA.match(text)
    if not text or not match:
        return text
    prefix = f"{match['accession']}:" if match["accession"] else ""
    return f"{prefix}c.{match['change']}"


def looks_like_cdna(text: str) -> bool:
    """Return whether a protein-change cell holds a coding DNA change (673-2A>G, c.35G>A).

    NB: without "c." only an intronic offset proves it: 428A>G could be Ala428Gly.
    """
    text = ascii_digits_and_dashes(text).strip()
    return text.startswith("c.") or bool(_INTRONIC.match(text))
