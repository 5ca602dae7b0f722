from __future__ import annotations

import pytest

from liquidbiopsy.hgvs import (
    THREE_TO_ONE,
    FusionError,
    GeneSpreadsheetDateError,
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

AMINO_ACIDS = {
    code: one for code, one in THREE_TO_ONE.items() if code not in ("Ter", "Sec")
}


def test_the_twenty_standard_amino_acids_are_known():
    assert len(AMINO_ACIDS) == 20


@pytest.mark.parametrize("three, one", sorted(AMINO_ACIDS.items()))
def test_every_amino_acid_reads_the_same_in_three_and_one_letter_form(three, one):
    canonical = f"p.{one}100{'W' if one != 'W' else 'C'}"
    alt_three = "Trp" if one != "W" else "Cys"

    assert parse_protein_change(f"p.{three}100{alt_three}").canonical == canonical
    assert parse_protein_change(f"{one}100{canonical[-1]}").canonical == canonical
    assert parse_protein_change(f"p.Gly5{three}").canonical == f"p.G5{one}"


@pytest.mark.parametrize(
    "spelling",
    [
        "p.T790M",
        "p.Thr790Met",
        "T790M",
        "p.(Thr790Met)",
        "NP_005219.2:p.Thr790Met",
        "p.(T790M)",
    ],
)
def test_every_spelling_of_t790m_has_one_canonical_form(spelling):
    assert parse_protein_change(spelling).canonical == "p.T790M"


def test_the_raw_spelling_the_predicted_flag_and_the_accession_are_kept():
    predicted = parse_protein_change("p.(Thr790Met)")
    with_accession = parse_protein_change("NP_005219.2:p.Thr790Met")

    assert (predicted.raw, predicted.is_predicted) == ("p.(Thr790Met)", True)
    assert (with_accession.accession, with_accession.is_predicted) == (
        "NP_005219.2",
        False,
    )


@pytest.mark.parametrize(
    "spelling, canonical",
    [
        ("p.Arg213Ter", "p.R213*"),
        ("p.R213X", "p.R213*"),
        ("p.Arg213*", "p.R213*"),
        ("p.E746_A750del", "p.E746_A750del"),
        ("p.Glu746_Ala750del", "p.E746_A750del"),
        ("F113del", "p.F113del"),
        ("p.Ala767_Val769dup", "p.A767_V769dup"),
        ("p.V769dup", "p.V769dup"),
        ("p.Asp770_Asn771insSerValAsp", "p.D770_N771insSVD"),
        ("p.H773_V774insNPH", "p.H773_V774insNPH"),
        ("p.Glu746_Ser752delinsVal", "p.E746_S752delinsV"),
        ("R1445fs", "p.R1445fs"),
        ("p.Arg1445fs", "p.R1445fs"),
        ("S1335Kfs*7", "p.S1335Kfs*7"),
        ("p.Ser1335LysfsTer7", "p.S1335Kfs*7"),
        ("p.S1335KfsX7", "p.S1335Kfs*7"),
        ("p.Ter110GlnextTer17", "p.*110Qext*17"),
        ("p.Met1ext-5", "p.M1ext-5"),
        ("p.=", "p.="),
        ("p.Leu858=", "p.L858="),
        ("p.?", "p.?"),
        ("428V>E", "p.V428E"),
        ("810A>D", "p.A810D"),
        ("600V>E", "p.V600E"),
    ],
)
def test_del_ins_dup_delins_fs_ext_and_legacy_forms_are_canonical(spelling, canonical):
    assert parse_protein_change(spelling).canonical == canonical


@pytest.mark.parametrize(
    "typo",
    [
        "p.Thr79OMet",
        "p.ThrO790Met",
        "p.T79OM",
        "p.Thr790Mex",
        "p.t790m",
        "p.304_305KQ>KLQ",
        "p.-169fs",
        "",
    ],
)
def test_what_is_no_hgvs_protein_change_is_rejected(typo):
    with pytest.raises(HGVSError):
        parse_protein_change(typo)


@pytest.mark.parametrize(
    "spelling",
    [
        "p.T٧٩٠M",  # Arabic-Indic digits
        "p.Thr۷۹۰Met",  # Extended Arabic-Indic (Persian, Urdu) digits
        "p.(Thr७९०Met)",  # Devanagari digits
        "T７９０M",  # fullwidth digits
        "NP_００５２１９.２:p.Thr٧٩٠Met",
        "٧٩٠T>M",
    ],
)
def test_digits_of_any_script_are_read_in_ascii(spelling):
    # Stored and asked for in ASCII digits, so that each finds the other:
    change = parse_protein_change(spelling)

    assert change.canonical == "p.T790M"
    assert change.raw == spelling
    assert change.accession in ("", "NP_005219.2")


def test_any_dash_of_an_extension_is_read_as_a_hyphen():
    assert parse_protein_change("p.Met١ext\N{EN DASH}٥").canonical == "p.M1ext-5"


@pytest.mark.parametrize("spelling", ["p.T⁷⁹⁰M", "p.Thr79①Met", "T７⁹0M"])
def test_characters_that_only_look_like_digits_are_named_in_the_error(spelling):
    with pytest.raises(HGVSError, match="only looks like a digit"):
        parse_protein_change(spelling)


@pytest.mark.parametrize(
    "written", ["c.٢٣٦٩C>T", "c.２３６９C>T", "c.٦٧٣\N{EN DASH}٢A>G", "٦٧٣−٢A>G"]
)
def test_coding_dna_changes_are_stored_in_ascii_digits_and_hyphens(written):
    assert looks_like_cdna(written)
    assert normalise_cdna_change(written) in ("c.2369C>T", "c.673-2A>G")


def test_the_letter_o_for_a_zero_is_named_in_the_error():
    with pytest.raises(HGVSError, match="letter O where a digit"):
        parse_protein_change("p.Thr79OMet")


@pytest.mark.parametrize(
    "value",
    [
        "1-Mar",
        "9-Sep",
        "1-Dec",
        "2021-09-02",
        "Sep-09",
        "01-Mar-2020",
        "1-MAR",
        "Mar-1",
        "2-Sept",
        "10-Oct",
        "15-Apr-21",
        "1 March",
        "09/02/2021",
        "2021/09/02",
        "2021-09-02 00:00:00",
        "44291",
    ],
)
def test_spreadsheet_dates_are_no_gene_symbols(value):
    with pytest.raises(
        GeneSpreadsheetDateError, match="looks like a date produced by a spreadsheet"
    ) as raised:
        check_gene_symbol(value)
    assert raised.value.code == "gene-spreadsheet-date"
    # Callers catching every gene symbol error still catch it:
    assert isinstance(raised.value, GeneSymbolError)


@pytest.mark.parametrize(
    "symbol",
    [
        "SEPT9",
        "SEPTIN9",
        "MARCH1",
        "MARCHF1",
        "DEC1",
        "EGFR",
        "NKX2-1",
        "HLA-A",
        "C9orf72",
    ],
)
def test_real_symbols_with_month_like_names_are_kept_as_given(symbol):
    assert check_gene_symbol(symbol) == symbol


@pytest.mark.parametrize(
    "text",
    [
        "KRAS G12D",
        "AC004943.1",
        "RP11-34P13.7",
        "5S_rRNA",
        "KRAS/NRAS",
        "KRAS;",
        "-KRAS",
        "KRAS-",
        "NKX2--1",
        "K@RAS",
        "IGH@@",
        "ΑΒCD",
        "KRAS\u200b",
        "1B",
    ],
)
def test_a_shape_no_hgnc_symbol_has_is_refused(text):
    with pytest.raises(GeneSymbolShapeError, match="is not an HGNC gene symbol"):
        check_gene_symbol(text)


# The rarer shapes of approved symbols (HGNC, July 2024): an underscore in three copy
# symbols, a final @ in cluster symbols, "orf" with a suffix, hyphenated parts.
@pytest.mark.parametrize(
    "symbol",
    [
        "C4B_2",
        "APOBEC3A_B",
        "HOXA@",
        "PCDHG@",
        "CXorf51A",
        "C2orf69P1",
        "C1orf220-AS1",
        "RNASEK-C17orf49",
        "IGHV1-69-2",
        "MT-ND1",
        "HLA-DRB1",
        "A1BG-AS1",
    ],
)
def test_every_shape_of_an_approved_symbol_is_taken_in_its_own_case(symbol):
    assert check_gene_symbol(symbol) == symbol
    assert canonical_case(symbol) == symbol
    assert canonical_case(symbol.lower()) == symbol


@pytest.mark.parametrize(
    "given, canonical",
    [
        ("kras", "KRAS"),
        ("Kras", "KRAS"),
        (" egfr ", "EGFR"),
        ("c9ORF72", "C9orf72"),
        ("C9ORF72", "C9orf72"),
        ("cxorf51a", "CXorf51A"),
        ("nkx2-1", "NKX2-1"),
        ("hoxa@", "HOXA@"),
    ],
)
def test_hgnc_case_is_upper_case_but_for_orf(given, canonical):
    assert canonical_case(given) == canonical
    assert current_symbol(given) == canonical


def test_a_well_shaped_unknown_symbol_is_taken_as_given():
    # No HGNC list is shipped (see check_gene_symbol), so shape is all that is known:
    assert check_gene_symbol("notagene") == "notagene"
    assert current_symbol("notagene") == "NOTAGENE"


@pytest.mark.parametrize(
    "former, current",
    [
        ("SEPT9", "SEPTIN9"),
        ("MARCH1", "MARCHF1"),
        ("MARC1", "MTARC1"),
        ("DEC1", "DELEC1"),
        ("sept9", "SEPTIN9"),
        ("EGFR", "EGFR"),
    ],
)
def test_the_alias_table_maps_former_symbols_to_current_ones(former, current):
    assert current_symbol(former) == current


@pytest.mark.parametrize(
    "text, five, three, breakpoint",
    [
        ("EML4-ALK fusion", "EML4", "ALK", ""),
        ("EML4::ALK", "EML4", "ALK", ""),
        ("EML4::ALK (E13;A20)", "EML4", "ALK", "E13;A20"),
        ("EML4-ALK (E6;A20)", "EML4", "ALK", "E6;A20"),
        ("EML4/ALK", "EML4", "ALK", ""),
        ("EML4 ALK fusion", "EML4", "ALK", ""),
        ("KIF5B-RET fusion", "KIF5B", "RET", ""),
        ("KIF5B::RET", "KIF5B", "RET", ""),
        ("CD74-ROS1", "CD74", "ROS1", ""),
        ("TMPRSS2-ERG fusion", "TMPRSS2", "ERG", ""),
        ("NKX2-1-ALK", "NKX2-1", "ALK", ""),
        ("ALK rearrangement (partner not identified)", "", "ALK", ""),
        ("ALK fusion", "", "ALK", ""),
    ],
)
def test_fusion_spellings_give_their_partners_in_order(text, five, three, breakpoint):
    fusion = parse_fusion(text, "ALK")

    assert looks_like_fusion(text, "fusion")
    assert (fusion.five_prime, fusion.three_prime, fusion.breakpoint) == (
        five,
        three,
        breakpoint,
    )


@pytest.mark.parametrize(
    "text, known",
    [
        ("ALK-EML4", "EML4::ALK"),
        ("RET::KIF5B", "KIF5B::RET"),
        ("ROS1-CD74", "CD74::ROS1"),
        ("ERG-TMPRSS2", "TMPRSS2::ERG"),
    ],
)
def test_reversed_partners_are_kept_in_their_order_and_flagged(text, known):
    fusion = parse_fusion(text)

    assert fusion.canonical == "::".join(reversed(known.split("::")))
    assert fusion.note == f"partner order differs from {known}"


def test_a_fusion_with_several_hyphens_and_unknown_symbols_is_ambiguous():
    with pytest.raises(FusionError, match="ambiguous"):
        parse_fusion("ABC-1-DEF-2")


@pytest.mark.parametrize(
    "text, canonical, recased",
    [
        ("eml4::alk", "EML4::ALK", ("eml4", "alk")),
        ("EML4-alk fusion", "EML4::ALK", ("alk",)),
        ("Eml4/Alk", "EML4::ALK", ("Eml4", "Alk")),
        ("eml4 alk fusion", "EML4::ALK", ("eml4", "alk")),
        ("alk-eml4", "ALK::EML4", ("alk", "eml4")),
        ("c9ORF72::alk", "C9orf72::ALK", ("c9ORF72", "alk")),
        ("C9ORF72-ALK", "C9orf72::ALK", ("C9ORF72",)),
        ("nkx2-1-alk", "NKX2-1::ALK", ("nkx2-1", "alk")),
        ("alk rearrangement (partner unknown)", "ALK rearrangement", ("alk",)),
        ("EML4::ALK", "EML4::ALK", ()),
    ],
)
def test_fusion_partners_are_given_in_hgnc_case_in_their_order(
    text, canonical, recased
):
    fusion = parse_fusion(text, "ALK")

    assert (fusion.canonical, fusion.recased) == (canonical, recased)


def test_a_reversed_pair_in_another_case_is_flagged_as_in_upper_case():
    assert parse_fusion("alk::eml4").note == "partner order differs from EML4::ALK"


def test_the_rows_gene_named_alone_is_no_partner_written_in_another_case():
    fusion = parse_fusion("rearrangement", "alk")

    assert (fusion.three_prime, fusion.recased) == ("ALK", ())


@pytest.mark.parametrize(
    "text, message",
    [
        ("KRAS G12D::ALK", "'KRAS G12D', which is not an HGNC gene symbol"),
        ("AC004943.1::ALK", "'AC004943.1', which is not an HGNC gene symbol"),
        ("EML4::1ALK", "'1ALK', which is not an HGNC gene symbol"),
        ("Sep-09::ALK", "looks like a date produced by a spreadsheet"),
        ("EML4::", "names no gene on one side"),
        ("ALK fusion positive", "'positive', a word that is neither"),
        ("ALK-positive", "'positive', a word that is neither"),
        ("fusion detected", "'detected', a word that is neither"),
        ("Fusion present", "'present', a word that is neither"),
    ],
)
def test_a_partner_no_hgnc_symbol_is_shaped_like_is_refused(text, message):
    with pytest.raises(FusionError, match=message):
        parse_fusion(text, "ALK")


def test_a_word_in_another_case_is_taken_when_it_is_the_rows_gene():
    assert parse_fusion("met fusion", "MET").three_prime == "MET"
    with pytest.raises(FusionError, match="'met', a word"):
        parse_fusion("met fusion", "ALK")


def test_an_annotators_name_is_a_partner_only_where_annotators_named_genes():
    fusion = parse_fusion("AC004943.1::alk", annotator_names=True)

    assert (fusion.canonical, fusion.not_hgnc) == ("AC004943.1::ALK", ("AC004943.1",))
    with pytest.raises(FusionError, match="'34P13.7', which is not an HGNC"):
        parse_fusion("RP11-34P13.7", annotator_names=True)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("eml4-alk", True),
        ("Kif5b/ret", True),
        ("EML4-ALK", True),
        ("exon19-del", False),
        ("ex19-del", False),
    ],
)
def test_a_pair_in_another_case_is_a_fusion_when_a_partner_is_known_for_fusions(
    text, expected
):
    assert looks_like_fusion(text) is expected


def test_a_protein_change_is_no_fusion():
    assert not looks_like_fusion("p.T790M")
    assert not looks_like_fusion("T790M", "SNV")
