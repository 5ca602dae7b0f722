"""Source patient IDs in the free-text cells of lab tables (common.screen_cells)."""

from __future__ import annotations

from pathlib import Path

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import BloodSample, VariantResult
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import register, rejection, stored_state, write

MRN = "MRN0048213"
CTC_HEADER = "patient_id,draw_date,count,sample_id,timepoint\n"
CFDNA_HEADER = "patient_id,draw_date,gene,protein_change,vaf,sample_id\n"


def ctc_file(tmp_path: Path, *rows: str) -> Path:
    """Write a CTC table of these rows (patient_id, draw_date, count, sample_id, timepoint)."""
    return write(tmp_path, "c.csv", CTC_HEADER + "".join(f"{row}\n" for row in rows))


def test_a_sample_id_holding_the_rows_patient_id_rejects_the_ctc_file(
    project, tmp_path
):
    register(project, MRN)
    before = stored_state()
    path = ctc_file(tmp_path, f"{MRN},2020-01-22,3,{MRN}-T1,C1D1")

    (problem,) = rejection(lambda: import_ctc(path, project))

    assert (problem.source, problem.row, problem.field, problem.code) == (
        "c.csv",
        2,
        "sample_id",
        "identifier-in-text",
    )
    assert MRN not in str(problem)
    assert stored_state() == before


def test_a_timepoint_holding_an_id_is_stored_redacted_and_found_again(
    project, tmp_path
):
    register(project, MRN, "MRN0099177")
    path = ctc_file(
        tmp_path,
        f"{MRN},2020-01-22,3,L-1,C1D1 {MRN}",
        "MRN0099177,2020-01-23,4,L-2,C1D1 (0099177)",
    )

    first = import_ctc(path, project)
    again = import_ctc(path, project)

    assert sorted(BloodSample.objects.values_list("timepoint", flat=True)) == [
        "C1D1 ([redacted])",
        "C1D1 [redacted]",
    ]
    warnings = [w for w in first.warnings if w.code == "identifier-in-text"]
    assert [(w.row, w.field) for w in warnings] == [(2, "timepoint"), (3, "timepoint")]
    assert (again.rows_imported, again.duplicates) == (0, 2)


def test_a_short_numeric_id_leaves_the_timepoints_numbers_alone(project, tmp_path):
    register(project, "12")
    path = ctc_file(tmp_path, "12,2020-01-22,3,S12-1,week 12")

    report = import_ctc(path, project)

    assert list(BloodSample.objects.values_list("external_sample_id", "timepoint")) == [
        ("S12-1", "week 12")
    ]
    assert not [w for w in report.warnings if w.code == "identifier-in-text"]


def test_a_sample_accession_whose_number_holds_an_ids_digits_is_no_id(
    project, tmp_path
):
    register(project, MRN)
    path = ctc_file(tmp_path, f"{MRN},2020-01-22,3,L-10048213,C1D1")

    import_ctc(path, project)

    assert list(BloodSample.objects.values_list("external_sample_id", flat=True)) == [
        "L-10048213"
    ]


def test_another_patients_digits_alone_in_a_sample_accession_are_no_id(
    project, tmp_path
):
    register(project, MRN, "MRN0099177")
    path = ctc_file(
        tmp_path,
        f"{MRN},2020-01-22,3,L-1,C1D1",
        "MRN0099177,2020-01-23,4,L-0048213,C1D1",
    )

    import_ctc(path, project)

    assert sorted(BloodSample.objects.values_list("external_sample_id", flat=True)) == [
        "L-0048213",
        "L-1",
    ]


def test_a_cfdna_sample_id_holding_another_patients_id_rejects_its_row_only(
    project, tmp_path
):
    register(project, MRN, "MRN0099177")
    path = write(
        tmp_path,
        "v.csv",
        CFDNA_HEADER
        + f"{MRN},2020-01-22,EGFR,p.L858R,0.1,S-1\n"
        + f"MRN0099177,2020-01-22,KRAS,p.G12D,0.1,{MRN}_T\n",
    )

    report = import_cfdna(path, project)

    (problem,) = report.rejected
    assert (problem.row, problem.field, problem.code) == (
        3,
        "sample_id",
        "identifier-in-text",
    )
    assert list(VariantResult.objects.values_list("gene", flat=True)) == ["EGFR"]
    assert list(BloodSample.objects.values_list("external_sample_id", flat=True)) == [
        "S-1"
    ]


def test_a_sample_map_whose_sample_id_holds_the_patients_id_rejects_the_maf(
    project, tmp_path
):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    register(project, "SYN-4001")
    sample_map = write(
        tmp_path,
        "map.csv",
        "Tumor_Sample_Barcode,patient_id,draw_date,sample_id\n"
        "TUMOR,SYN-4001,2021-03-04,PL-SYN-4001\n",
    )

    (problem,) = rejection(lambda: import_maf(path, project, sample_map=sample_map))

    assert (problem.source, problem.row, problem.field, problem.code) == (
        "map.csv",
        2,
        "sample_id",
        "identifier-in-text",
    )
    assert not BloodSample.objects.exists()


def test_a_vcf_filter_holding_the_files_patient_id_rejects_its_record(
    project, tmp_path
):
    register(project, MRN)
    path = write(
        tmp_path,
        "x.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        "12\t25398284\t.\tC\tT\t.\tPASS\t.\tAD:DP\t30,10:40\n"
        f"7\t55249071\t.\tC\tT\t.\tlow_{MRN}\t.\tAD:DP\t30,10:40\n",
    )

    report = import_vcf(
        path,
        project,
        patient_id=MRN,
        drawn_on="2020-01-22",
        keep_filtered=True,
    )

    (problem,) = report.rejected
    assert (problem.row, problem.field, problem.code) == (
        4,
        "FILTER",
        "identifier-in-text",
    )
    assert VariantResult.objects.count() == 1


def test_a_protein_change_whose_position_reads_as_a_patients_id_is_no_id(
    project, tmp_path
):
    # Barcodes such as 221D (APL_primary.maf) are IDs of the file and, once stored,
    # of the project; p.Y221D is a position and an amino acid (review rv5):
    register(project, "221D", "MRN0099177")
    path = write(
        tmp_path,
        "v.csv",
        CFDNA_HEADER
        + "221D,2020-01-22,KRAS,p.G12D,0.1,S-1\n"
        + "MRN0099177,2020-01-22,EGFR,p.Y221D,0.1,S-2\n",
    )

    first = import_cfdna(path, project)
    again = import_cfdna(path, project)

    assert (first.rejected, again.rejected) == ([], [])
    assert sorted(VariantResult.objects.values_list("protein_change", flat=True)) == [
        "p.G12D",
        "p.Y221D",
    ]


def test_a_protein_change_that_is_no_notation_is_screened(project, tmp_path):
    register(project, MRN)
    path = write(
        tmp_path,
        "v.csv",
        CFDNA_HEADER + f"{MRN},2020-01-22,EGFR,see {MRN},0.1,S-1\n",
    )

    report = import_cfdna(path, project)

    found = {(p.row, p.field, p.code) for p in report.rejected}
    assert (2, "protein_change", "identifier-in-text") in found
    assert not VariantResult.objects.exists()
