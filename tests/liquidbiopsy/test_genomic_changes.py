"""Genomic changes as labs, pages and gnomAD write them, read into the stored form."""

from __future__ import annotations

import pytest

from biobank.core.validation import InvalidValue
from liquidbiopsy.validation import (
    looks_like_genomic_change,
    read_genomic_change,
    read_shown_genomic_change,
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
