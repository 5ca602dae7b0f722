"""A variant's genome build is GRCh37 or GRCh38, read from the spellings files give."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import connection

from biobank.core.validation import InvalidValue
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import VariantResult
from liquidbiopsy.validation import (
    check_genome_build,
    read_genomic_change,
    split_genome_build,
)
from tests.biobank.conftest import Records
from tests.liquidbiopsy.conftest import register, write

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0027_variant_genome_build_names"
)
CFDNA = "patient_id,draw_date,gene,protein_change,genomic_change,genome_build,vaf\n"
MAF = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tNCBI_Build\tChromosome\tStart_Position"
    "\tReference_Allele\tTumor_Seq_Allele2\n"
)


@pytest.mark.parametrize(
    "written, name",
    [
        ("GRCh37", "GRCh37"),
        ("grch37", "GRCh37"),
        ("hg19", "GRCh37"),
        ("b37", "GRCh37"),
        ("hs37d5", "GRCh37"),
        ("GRCh37.p13", "GRCh37"),
        ("GRCh37-lite", "GRCh37"),
        ("37", "GRCh37"),
        ("GRCh38", "GRCh38"),
        ("hg38", "GRCh38"),
        ("GRCh38.p14", "GRCh38"),
        ("38", "GRCh38"),
        (" ", ""),
    ],
)
def test_a_build_is_stored_by_its_name_whatever_its_spelling(written, name):
    assert check_genome_build(written) == name


@pytest.mark.parametrize("written", ["hg99", "GRCh36", "NCBI36", "hg19x", "39"])
def test_an_unknown_build_is_refused_listing_the_accepted_ones(written):
    with pytest.raises(InvalidValue) as refused:
        check_genome_build(written)

    message = str(refused.value)
    assert message.startswith("is not a genome build the biobank knows")
    for accepted in ("GRCh37", "hg19", "b37", "GRCh37.p13", "GRCh38", "hg38"):
        assert accepted in message


@pytest.mark.parametrize(
    "written, build",
    [
        ("GRCh37:7:55249071 C>T", "GRCh37"),
        ("GRCh37:chr7:g.55249071C>T", "GRCh37"),
        ("hg38 7:55249071 C>T", "hg38"),
        ("7:55249071 C>T hg19", "hg19"),
    ],
)
def test_a_change_stored_with_its_build_in_it_is_told_where_the_build_goes(
    written, build
):
    with pytest.raises(InvalidValue) as refused:
        read_genomic_change(written)

    message = str(refused.value)
    assert f"writes the genome build {build} in the genomic change" in message
    assert "(7:55249071 C>T)" in message
    assert "under genome_build" in message


@pytest.mark.parametrize("asked", ["GRCh37:chr7:g.55249071C>T", "hg19 7:55249071 C>T"])
def test_a_change_asked_for_with_its_build_before_it_is_told_to_write_it_after(asked):
    with pytest.raises(InvalidValue) as refused:
        split_genome_build(asked)

    message = str(refused.value)
    assert "before the change; write the build after it" in message
    assert "GRCh37)" in message


def test_a_change_asked_for_in_an_unknown_build_is_told_the_builds():
    with pytest.raises(InvalidValue) as refused:
        split_genome_build("7:55249071 C>T hg99")

    assert "names the genome build hg99" in str(refused.value)
    assert "GRCh38 (hg38" in str(refused.value)


def test_a_change_asked_for_with_its_build_after_it_is_read_as_before():
    assert split_genome_build("7:55249071 C>T hg19") == ("7:55249071 C>T", "GRCh37")
    assert split_genome_build("7:55249071 C>T GRCh37-lite") == (
        "7:55249071 C>T",
        "GRCh37",
    )


def test_the_cfdna_import_stores_builds_by_name_and_rejects_an_unknown_one(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        CFDNA
        + "P1,2022-01-03,EGFR,p.T790M,7:55249071 C>T,hg19,0.1\n"
        + "P1,2022-01-03,EGFR,p.L858R,7:55259515 T>G,hg99,0.1\n"
        + "P1,2022-01-03,KRAS,p.G12C,GRCh37:12:25398285 C>A,,0.1\n",
    )

    report = import_cfdna(path, project)

    assert VariantResult.objects.get().genome_build == "GRCh37"
    problems = [(p.row, p.field, p.value) for p in report.rejected]
    assert problems == [
        (3, "genome_build", "hg99"),
        (4, "genomic_change", "GRCh37:12:25398285 C>A"),
    ]
    assert "GRCh38 (hg38" in report.rejected[0].message
    assert "under genome_build" in report.rejected[1].message


def test_the_maf_import_stores_ncbi_build_by_name_and_rejects_an_unknown_one(
    project, tmp_path
):
    path = write(
        tmp_path,
        "m.maf",
        MAF
        + "KRAS\tS1\t37\t12\t25398284\tC\tT\n"
        + "TP53\tS1\thg19\t17\t7577120\tC\tT\n"
        + "EGFR\tS1\tGRCh37-lite\t7\t55249071\tC\tT\n"
        + "BRAF\tS1\tNCBI36\t7\t140453136\tA\tT\n",
    )

    report = import_maf(path, project, drawn_on="2020-01-15", create_patients=True)

    builds = VariantResult.objects.values_list("gene", "genome_build")
    assert sorted(builds) == [
        ("EGFR", "GRCh37"),
        ("KRAS", "GRCh37"),
        ("TP53", "GRCh37"),
    ]
    assert [(p.row, p.field, p.value) for p in report.rejected] == [
        (5, "NCBI_Build", "NCBI36")
    ]


def test_the_vcf_import_stores_the_build_of_its_reference_by_name(project, tmp_path):
    path = write(
        tmp_path,
        "b.vcf",
        "##fileformat=VCFv4.2\n"
        "##reference=file:///refs/hs37d5.fa\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        "12\t25398284\t.\tC\tT\t.\tPASS\t.\tGT:AF\t0/1:0.2\n",
    )
    register(project, "SYN-V1")

    import_vcf(path, project, patient_id="SYN-V1", drawn_on="2020-01-15")

    assert VariantResult.objects.get().genome_build == "GRCh37"


def test_the_migration_names_the_known_spellings_and_leaves_the_unknown(project):
    records = Records(project)
    sample = records.draw(records.patient("PT-1"), dt.date(2024, 3, 3))
    spellings = ["hg19", "b37", "GRCh37.p13", "GRCh37-lit", "hg38", "GRCh38", "hg99"]
    variants = {}
    for number, spelling in enumerate(spellings):
        variant = records.variant(sample, "KRAS", f"p.G{number + 10}C")
        VariantResult.objects.filter(pk=variant.pk).update(genome_build=spelling)
        variants[spelling] = variant

    MIGRATION.name_builds(apps, connection.schema_editor())

    stored = {
        spelling: VariantResult.objects.get(pk=variant.pk).genome_build
        for spelling, variant in variants.items()
    }
    assert stored == {
        "hg19": "GRCh37",
        "b37": "GRCh37",
        "GRCh37.p13": "GRCh37",
        "GRCh37-lit": "GRCh37",
        "hg38": "GRCh38",
        "GRCh38": "GRCh38",
        "hg99": "hg99",
    }
