"""Genomic changes as labs, pages and gnomAD write them, read into the stored form."""

from __future__ import annotations

import pytest

from biobank.core.validation import InvalidValue
from liquidbiopsy.validation import (
    genomic_change,
    looks_like_genomic_change,
    read_genomic_change,
    read_shown_genomic_change,
    reference_base,
    single_base_changes_at,
    split_genome_build,
)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("17-7579312-C-A", "17:7579312 C>A"),
        ("chr17-7579312-C-A", "17:7579312 C>A"),
        ("CHR17-7579312-c-a", "17:7579312 C>A"),
        ("x-100-a-g", "X:100 A>G"),
        ("MT-10-A-G", "MT:10 A>G"),
        # Indels as a VCF writes them, with the base before:
        ("1-55051215-G-GA", "1:55051215 G>GA"),
        ("1-55051215-GA-G", "1:55051215 GA>G"),
        (" 17-7579312-C-A ", "17:7579312 C>A"),
    ],
)
def test_a_change_written_as_gnomad_writes_it_is_read(written, stored):
    assert looks_like_genomic_change(written)
    assert read_genomic_change(written) == stored
    assert read_shown_genomic_change(written) == stored


@pytest.mark.parametrize(
    "written",
    [
        "17-7579312-C",
        "17-7579312-C-A-T",
        # VCF alleles are never empty:
        "17-7579312--A",
        "17-7579312-C-",
        "17-7579312-C-Q",
        "17-7,579,312-C-A",
    ],
)
def test_a_hyphenated_change_missing_or_spoiling_a_part_is_refused(written):
    assert looks_like_genomic_change(written)
    with pytest.raises(InvalidValue, match="is not a genomic change"):
        read_genomic_change(written)


@pytest.mark.parametrize(
    "written", ["EML4-ALK", "MT-ND1", "p.T790M", "T790M", "428V>E", "X-linked"]
)
def test_a_fusion_or_protein_change_with_hyphens_is_no_genomic_change(written):
    assert not looks_like_genomic_change(written)


@pytest.mark.parametrize(
    ("change", "base"),
    [
        ("17:7579312 C>A", "C"),
        ("1:55051215 GA>G", "G"),
        # A MAF insertion names no base; nor do alleles shortened to a hash:
        ("17:7579312 ->A", ""),
        (genomic_change("2", "1000", "A" * 120, "A"), ""),
        ("17:7579312 N>A", ""),
    ],
)
def test_the_reference_base_is_the_first_base_of_the_reference_allele(change, base):
    assert reference_base(change) == base


def test_the_single_base_changes_at_a_position_are_the_twelve_pairs_of_bases():
    changes = single_base_changes_at("17:7579312 GA>G")

    assert len(changes) == len(set(changes)) == 12
    assert "17:7579312 C>A" in changes and "17:7579312 T>G" in changes
    assert not any(change[-3] == change[-1] for change in changes)
    assert {change.partition(" ")[0] for change in changes} == {"17:7579312"}


@pytest.mark.parametrize(
    "written",
    [
        "١٧-٧٥٧٩٣١٢-C-A",  # Arabic-Indic digits
        "١٧:٧٥٧٩٣١٢ C>A",
        "۱۷:۷۵۷۹۳۱۲ C>A",  # Extended Arabic-Indic (Persian, Urdu) digits
        "१७:७५७९३१२ C>A",  # Devanagari digits
        "１７:７５７９３１２ C>A",  # fullwidth digits
        "17:７５７９３１２ C>A",
        "chr１７_７５７９３１２_C_A hg19",
        "17\N{EN DASH}7579312\N{EN DASH}C\N{EN DASH}A",
        "17\N{EM DASH}7579312\N{EM DASH}C\N{EM DASH}A",
        "17\N{MINUS SIGN}7579312\N{MINUS SIGN}C\N{MINUS SIGN}A",
        "17\N{HYPHEN}7579312\N{HYPHEN}C\N{HYPHEN}A",
        "１７\N{FULLWIDTH HYPHEN-MINUS}７５７９３１２\N{FULLWIDTH HYPHEN-MINUS}C-A",
        "١٧\N{EN DASH}٧٥٧٩٣١٢\N{EN DASH}C\N{EN DASH}A",
    ],
)
def test_digits_of_any_script_and_any_dash_are_read_in_ascii(written):
    # Stored and asked for in ASCII digits, so that each finds the other:
    change, _ = split_genome_build(written)

    assert looks_like_genomic_change(written)
    assert read_shown_genomic_change(change) == "17:7579312 C>A"
    assert read_genomic_change(change) == "17:7579312 C>A"


@pytest.mark.parametrize(
    "written",
    [
        "¹⁷:7579312 C>A",  # superscript digits are no decimal digits
        "17:75793①2 C>A",
        "17:7579312 Ｃ>Ａ",  # fullwidth letters
    ],
)
def test_characters_that_only_look_like_digits_make_no_genomic_change(written):
    with pytest.raises(InvalidValue, match="is not a genomic change"):
        read_genomic_change(written)
