"""dbSNP IDs stored from a MAF's dbSNP_RS and a VCF's ID column."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


# A re-import filling in the IDs of variants stored without, and one giving others.

MAF_HEADER = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\tReference_Allele"
    "\tTumor_Seq_Allele2\tt_alt_count\tt_ref_count\tt_depth\tdbSNP_RS\n"
)


def generated_maf(tmp_path, rows: int, first_id: int = 1000):
    """Write a MAF of `rows` TP53 variants of sample P1, each with its dbSNP ID."""
    lines = [
        f"TP53\tP1\t17\t{7_500_000 + n}\tC\tT\t10\t90\t100\trs{first_id + n}\n"
        for n in range(rows)
    ]
    return write(tmp_path, "ids.maf", MAF_HEADER + "".join(lines))


def variant_writes(queries) -> list[str]:
    table = VariantResult._meta.db_table
    return [
        q["sql"].split(" ", 1)[0]
        for q in queries
        if q["sql"].startswith(("UPDATE", "INSERT")) and f'"{table}"' in q["sql"]
    ]


def test_a_re_import_fills_in_the_dbsnp_ids_in_bulk_and_says_how_many(
    project, tmp_path
):
    register(project, "P1")
    path = generated_maf(tmp_path, 30)
    import_maf(path, project, drawn_on=DRAWN_ON)
    before = stored_ids()
    VariantResult.objects.filter(
        pk__in=VariantResult.objects.order_by("pk")[:20]
    ).update(dbsnp_id="")

    with CaptureQueriesContext(connection) as queries:
        report = import_maf(path, project, drawn_on=DRAWN_ON)

    assert stored_ids() == before
    assert (report.rows_imported, report.duplicates) == (0, 30)
    assert report.dbsnp_ids_filled == 20
    assert report.as_dict()["dbsnp_ids_filled"] == 20
    assert "30 duplicates skipped; filled in the dbSNP ID of 20 stored variants;" in (
        report.summary()
    )
    # One UPDATE for all (not one a variant), and each change in the history:
    assert variant_writes(queries.captured_queries) == ["UPDATE"]
    filled = VariantResult.history.filter(history_type="~")
    assert sorted(h.dbsnp_id for h in filled) == sorted(
        VariantResult.objects.order_by("pk").values_list("dbsnp_id", flat=True)[:20]
    )


def test_a_re_import_with_nothing_to_fill_says_nothing_of_dbsnp_ids(project, tmp_path):
    register(project, "P1")
    path = generated_maf(tmp_path, 3)
    import_maf(path, project, drawn_on=DRAWN_ON)

    report = import_maf(path, project, drawn_on=DRAWN_ON)

    assert report.dbsnp_ids_filled == 0
    assert "dbSNP" not in report.summary()
    assert not VariantResult.history.filter(history_type="~").exists()


def test_a_maf_giving_another_dbsnp_id_keeps_the_stored_one_and_warns(
    project, tmp_path
):
    register(project, "P1")
    import_maf(generated_maf(tmp_path, 3), project, drawn_on=DRAWN_ON)
    before = stored_ids()
    other = write(
        tmp_path,
        "other.maf",
        generated_maf(tmp_path, 3).read_text().replace("\trs1001\n", "\trs99\n"),
    )

    report = import_maf(other, project, drawn_on=DRAWN_ON)

    assert stored_ids() == before
    assert (report.duplicates, report.dbsnp_ids_filled) == (3, 0)
    [warning] = report.warnings
    assert (warning.source, warning.row, warning.field, warning.value) == (
        "other.maf",
        3,
        "dbSNP_RS",
        "rs99",
    )
    assert warning.code == "dbsnp-id-differs"
    assert warning.message.startswith(
        "differs from the dbSNP ID stored for this variant (rs1001); the stored one "
        "is kept"
    )


def test_a_vcf_giving_another_dbsnp_id_keeps_the_stored_one_and_warns(
    project, tmp_path
):
    source = shared_path("genomics_vcf_somatic", "test_muse.vcf")
    import_muse(source, project)
    before = stored_ids()
    text = source.read_text()
    record_id = next(v for v in vcf_ids_of_text(text) if v.startswith("rs"))
    line = 1 + next(
        number
        for number, cells in enumerate(text.splitlines())
        if f"\t{record_id}\t" in cells
    )
    path = write(tmp_path, "other.vcf", text.replace(f"\t{record_id}\t", "\trs99\t", 1))

    report = import_muse(path, project)

    assert stored_ids() == before
    [warning] = [w for w in report.warnings if w.code == "dbsnp-id-differs"]
    assert (warning.source, warning.row, warning.field, warning.value) == (
        "other.vcf",
        line,
        "ID",
        "rs99",
    )
    assert f"({record_id})" in warning.message
