"""HGVS genomic changes on a chromosome or its RefSeq accession, and dbSNP IDs asked for."""

from __future__ import annotations

import pytest

from biobank.core.validation import InvalidValue
from liquidbiopsy.validation import (
    REFSEQ_CHROMOSOMES,
    dbsnp_ids_in,
    looks_like_dbsnp_id,
    looks_like_genomic_change,
    read_dbsnp_id,
    read_hgvs_genomic_change,
    split_genome_build,
)


@pytest.mark.parametrize(
    ("written", "change", "build"),
    [
        ("NC_000007.13:g.55249071C>T", "7:55249071 C>T", "GRCh37"),
        ("NC_000007.14:g.55181378C>T", "7:55181378 C>T", "GRCh38"),
        ("nc_000007.14:g.55181378c>t", "7:55181378 C>T", "GRCh38"),
        (" NC_000017.10:g.7578263G>A ", "17:7578263 G>A", "GRCh37"),
        ("NC_000023.10:g.100A>G", "X:100 A>G", "GRCh37"),
        ("NC_000024.10:g.100A>G", "Y:100 A>G", "GRCh38"),
        # A chromosome names no build; nor does the mitochondrion, one in both:
        ("chr7:g.55249071C>T", "7:55249071 C>T", ""),
        ("7:g.55249071C>T", "7:55249071 C>T", ""),
        ("chrX:g.100A>G", "X:100 A>G", ""),
        ("NC_012920.1:m.3243A>G", "MT:3243 A>G", ""),
        ("chrM:m.3243A>G", "MT:3243 A>G", ""),
        # Digits of any script, as other genomic changes:
        ("NC_000007.١٣:g.٥٥٢٤٩٠٧١C>T", "7:55249071 C>T", "GRCh37"),
    ],
)
def test_an_hgvs_substitution_is_read_with_the_build_its_accession_names(
    written, change, build
):
    assert looks_like_genomic_change(written)
    assert read_hgvs_genomic_change(written) == (change, build)
    assert split_genome_build(written) == (change, build)


@pytest.mark.parametrize(
    ("written", "build"),
    [
        ("chr7:g.55249071C>T hg38", "GRCh38"),
        ("NC_000007.13:g.55249071C>T (GRCh37)", "GRCh37"),
        ("NC_000007.13:g.55249071C>T hg19", "GRCh37"),
        ("NC_012920.1:m.3243A>G GRCh38", "GRCh38"),
    ],
)
def test_a_build_after_an_hgvs_change_agreeing_with_its_accession_is_read(
    written, build
):
    assert split_genome_build(written)[1] == build


def test_a_build_after_the_change_contradicting_its_accession_is_refused():
    with pytest.raises(InvalidValue) as refused:
        split_genome_build("NC_000007.13:g.55249071C>T hg38")

    assert str(refused.value) == (
        "names GRCh37 by its accession and GRCh38 after it; give one build."
    )


def test_each_chromosome_has_one_accession_per_build_of_one_number():
    by_chromosome: dict[str, dict[str, str]] = {}
    for accession, (chrom, build) in REFSEQ_CHROMOSOMES.items():
        by_chromosome.setdefault(chrom, {})[build] = accession

    chromosomes = [str(n) for n in range(1, 23)] + ["X", "Y"]
    assert sorted(by_chromosome) == sorted([*chromosomes, "MT"])
    for index, chrom in enumerate(chromosomes, 1):
        builds = by_chromosome[chrom]
        assert set(builds) == {"GRCh37", "GRCh38"}
        numbers = {accession.partition(".")[0] for accession in builds.values()}
        assert numbers == {f"NC_{index:06}"}
        # GRCh38 is the next version of each chromosome's GRCh37 sequence:
        old, new = (int(builds[b].partition(".")[2]) for b in ("GRCh37", "GRCh38"))
        assert new == old + 1
    assert by_chromosome["MT"] == {"": "NC_012920.1"}


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "NC_000007.12:g.55249071C>T",
            "is on NC_000007.12, a version of no build the biobank stores: "
            "chromosome 7 is NC_000007.13 in GRCh37 and NC_000007.14 in GRCh38.",
        ),
        (
            "NC_000007:g.55249071C>T",
            "is on NC_000007, which gives no version; the version names the build: "
            "chromosome 7 is NC_000007.13 in GRCh37 and NC_000007.14 in GRCh38.",
        ),
        (
            "NC_000023.9:g.100A>G",
            "is on NC_000023.9, a version of no build the biobank stores: "
            "chromosome X is NC_000023.10 in GRCh37 and NC_000023.11 in GRCh38.",
        ),
    ],
)
def test_another_version_of_a_chromosome_names_the_accessions_of_both_builds(
    written, message
):
    assert looks_like_genomic_change(written)
    with pytest.raises(InvalidValue) as refused:
        read_hgvs_genomic_change(written)

    assert str(refused.value) == message


@pytest.mark.parametrize(
    "written",
    ["NG_007726.3:g.5000C>T", "NC_000025.1:g.100A>G", "NC_001807.4:m.3243A>G"],
)
def test_an_accession_of_no_chromosome_is_refused_naming_those_accepted(written):
    assert looks_like_genomic_change(written)
    with pytest.raises(InvalidValue) as refused:
        read_hgvs_genomic_change(written)

    accession = written.partition(":")[0]
    assert str(refused.value).startswith(
        f"is on {accession}, which is no chromosome of GRCh37 or GRCh38; give a "
        "chromosome's RefSeq accession (NC_000001 to NC_000024"
    )
    assert "NC_012920.1 for the mitochondrion" in str(refused.value)


@pytest.mark.parametrize(
    ("written", "kind"),
    [
        ("NC_000007.13:g.55242465_55242479del", "a deletion"),
        ("NC_000007.13:g.55242465delG", "a deletion"),
        ("chr7:g.100_101insTT", "an insertion"),
        ("NC_000007.14:g.100dup", "a duplication"),
        ("7:g.100_102delinsTT", "a deletion-insertion"),
    ],
)
def test_an_hgvs_insertion_or_deletion_is_refused_saying_how_to_ask(written, kind):
    with pytest.raises(InvalidValue) as refused:
        split_genome_build(written)

    assert str(refused.value).startswith(f"is {kind}, which an HGVS position")
    assert "as the pages show it" in str(refused.value)


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("NC_000007.13:g.55249071C>TT", "is not an HGVS substitution on a chromosome"),
        ("NC_000007.13:g.55249071", "is not an HGVS substitution on a chromosome"),
        ("NC_000007.13:g.55249071C>N", "is not an HGVS substitution on a chromosome"),
        ("NC_000007.13:m.100A>G", "writes m. for a nuclear chromosome"),
        ("NC_012920.1:g.3243A>G", "writes g. for the mitochondrion"),
    ],
)
def test_a_misspelt_hgvs_change_is_refused(written, message):
    with pytest.raises(InvalidValue, match=message):
        read_hgvs_genomic_change(written)


@pytest.mark.parametrize(
    "written", ["NM_005228.5:c.2369C>T", "NP_005219.2:p.Thr790Met", "p.T790M"]
)
def test_a_coding_or_protein_change_on_an_accession_is_no_genomic_change(written):
    assert not looks_like_genomic_change(written)


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("rs121434569", "rs121434569"),
        ("RS121434569", "rs121434569"),
        (" rs1 ", "rs1"),
        ("rs١٢", "rs12"),
    ],
)
def test_a_dbsnp_id_asked_for_is_read_as_stored(written, stored):
    assert looks_like_dbsnp_id(written)
    assert not looks_like_genomic_change(written)
    assert read_dbsnp_id(written) == stored


@pytest.mark.parametrize("written", ["rs", "rs12a", "T790M", "ROS1", "17:1 A>G"])
def test_no_other_variant_is_a_dbsnp_id(written):
    assert not looks_like_dbsnp_id(written)
    with pytest.raises(InvalidValue, match="is not a dbSNP ID"):
        read_dbsnp_id(written)


@pytest.mark.parametrize(
    ("cell", "ids"),
    [
        ("rs121434569", ["rs121434569"]),
        ("RS5868032", ["rs5868032"]),
        ("rs1;rs2", ["rs1", "rs2"]),
        ("rs1,rs1", ["rs1"]),
        ("rs1;COSV52508725", ["rs1"]),
        ("novel", []),
        (".", []),
        ("", []),
        ("COSM6224", []),
        ("rs12a", []),
    ],
)
def test_the_dbsnp_ids_of_a_cell_are_those_of_rs_and_digits(cell, ids):
    assert dbsnp_ids_in(cell) == ids
