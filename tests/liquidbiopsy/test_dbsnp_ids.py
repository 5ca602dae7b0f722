"""dbSNP IDs stored from a MAF's dbSNP_RS and a VCF's ID column."""

from __future__ import annotations

import pytest

from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import VariantResult
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import register, write
from tests.liquidbiopsy.test_maf_import import maf_change, maf_rows

DRAWN_ON = "2021-06-01"


def vcf_ids(path) -> dict[str, str]:
    """Read a VCF's ID column apart from the importer: by "chrom:pos ref>", PASS only."""
    ids = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") or not line:
            continue
        chrom, pos, record_id, ref, _alt, _qual, filters = line.split("\t")[:7]
        if filters == "PASS":
            ids[f"{chrom}:{pos} {ref}>"] = record_id
    return ids


def stored_ids() -> dict[str, str]:
    return dict(VariantResult.objects.values_list("genomic_change", "dbsnp_id"))


def import_muse(path, project):
    register(project, "SYN-V1")
    return import_vcf(path, project, patient_id="SYN-V1", drawn_on=DRAWN_ON)


def test_a_vcf_stores_the_dbsnp_id_of_each_record_that_gives_one(project):
    path = shared_path("genomics_vcf_somatic", "test_muse.vcf")
    expected = vcf_ids(path)

    import_muse(path, project)

    stored = stored_ids()
    assert len(stored) == len(expected)
    for change, dbsnp_id in stored.items():
        [given] = [v for k, v in expected.items() if change.startswith(k)]
        assert dbsnp_id == (given if given.startswith("rs") else "")
    # The file names some, and leaves others ".":
    assert 0 < sum(map(bool, stored.values())) < len(stored)


def test_a_maf_stores_the_dbsnp_id_of_each_row_that_gives_one(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    rows = maf_rows(path)
    register(project, "TUMOR")

    import_maf(path, project, drawn_on=DRAWN_ON)

    for row in rows:
        given = row["dbSNP_RS"]
        stored = VariantResult.objects.get(genomic_change=maf_change(row)).dbsnp_id
        assert stored == (given if given.startswith("rs") else "")
    assert any(row["dbSNP_RS"].startswith("rs") for row in rows)


def test_a_record_of_several_dbsnp_ids_stores_none_and_warns(project, tmp_path):
    text = shared_path("genomics_vcf_somatic", "test_muse.vcf").read_text()
    record_id = next(v for v in vcf_ids_of_text(text) if v.startswith("rs"))
    path = write(
        tmp_path, "several.vcf", text.replace(f"\t{record_id}\t", "\trs1;rs2\t", 1)
    )

    report = import_muse(path, project)

    assert VariantResult.objects.filter(dbsnp_id__in=["rs1", "rs2"]).count() == 0
    [warning] = [w for w in report.warnings if w.code == "several-dbsnp-ids"]
    assert (warning.field, warning.value) == ("ID", "rs1;rs2")
    assert warning.message.startswith("gives 2 dbSNP IDs; none is stored")


def vcf_ids_of_text(text: str) -> list[str]:
    return [
        line.split("\t")[2]
        for line in text.splitlines()
        if line and not line.startswith("#") and line.split("\t")[6] == "PASS"
    ]


def test_importing_again_gives_stored_variants_without_one_their_dbsnp_id(project):
    """As variants imported before the IDs were stored get them."""
    path = shared_path("genomics_vcf_somatic", "test_muse.vcf")
    import_muse(path, project)
    before = stored_ids()
    VariantResult.objects.update(dbsnp_id="")

    again = import_muse(path, project)

    assert again.rows_imported == 0
    assert stored_ids() == before


@pytest.mark.parametrize(
    ("cell", "stored"),
    [("rs80357262", "rs80357262"), ("novel", ""), ("", ""), ("RS12", "rs12")],
)
def test_a_maf_dbsnp_rs_cell_is_read_as_one_id_or_none(project, tmp_path, cell, stored):
    source = shared_path("genomics_vcf_somatic", "test.maf")
    lines = source.read_text().splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("Hugo"))
    column = lines[header_at].split("\t").index("dbSNP_RS")
    first = lines[header_at + 1].split("\t")
    first[column] = cell
    path = write(
        tmp_path, "one.maf", "\n".join([*lines[: header_at + 1], "\t".join(first)])
    )
    register(project, "TUMOR")

    import_maf(path, project, drawn_on=DRAWN_ON)

    assert list(VariantResult.objects.values_list("dbsnp_id", flat=True)) == [stored]


def test_a_row_repeated_with_its_dbsnp_id_the_second_time_stores_one_with_it(
    project, tmp_path
):
    """A file that lists a variant twice, the ID in the later copy only (merged calls)."""
    source = shared_path("genomics_vcf_somatic", "test.maf")
    lines = source.read_text().splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("Hugo"))
    column = lines[header_at].split("\t").index("dbSNP_RS")
    without, given = (lines[header_at + 1].split("\t") for _copy in range(2))
    without[column], given[column] = "", "rs80357262"
    path = write(
        tmp_path,
        "twice.maf",
        "\n".join([*lines[: header_at + 1], "\t".join(without), "\t".join(given)]),
    )
    register(project, "TUMOR")

    report = import_maf(path, project, drawn_on=DRAWN_ON)

    assert report.rows_imported == 1
    assert list(VariantResult.objects.values_list("dbsnp_id", flat=True)) == [
        "rs80357262"
    ]
