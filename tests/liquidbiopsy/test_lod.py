"""The assay's one limit of detection: given (--lod, a cfDNA column) or stored on the assay."""

from __future__ import annotations

from pathlib import Path

import pytest

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.models import CfDNAAssay, VariantResult
from patients.models import ImportRun
from tests.liquidbiopsy.conftest import register, rejection, stored_state, write
from tests.liquidbiopsy.test_maf_import import LOD_MAF, ZERO_COUNTS_MAF, maf_calls
from tests.liquidbiopsy.test_vcf_import import (
    DRAWN_ON,
    LOD_VCF,
    calls_by_chromosome,
    run,
)

HEADER, KRAS_AT_3, TP53_AT_50, EGFR_AT_5 = LOD_VCF.splitlines(keepends=True)[1:]
META = LOD_VCF.splitlines(keepends=True)[0]


def vcf(tmp_path, name: str, *records: str):
    return write(tmp_path, name, META + HEADER + "".join(records))


def stored_limit() -> float | None:
    return CfDNAAssay.objects.get().limit_of_detection_vaf


def refusal(given: str, assay: CfDNAAssay) -> str:
    """Return how the one problem of an assay refusing a limit begins."""
    return (
        f"gives the limit of detection {given} for cfDNA assay {assay.pk} "
        f"(targeted-NGS, no panel) of blood sample {assay.sample.pk} "
        f"({assay.sample}), "
    )


# A --lod for an assay stored without a limit.


def test_a_lod_contradicted_by_the_assays_stored_calls_rejects_the_file_once(
    project, tmp_path
):
    """KRAS was stored detected at 0.3 % without a limit; 0.5 % would make it below LOD."""
    path = vcf(tmp_path, "lod.vcf", KRAS_AT_3, TP53_AT_50)
    run(path, project)
    before = stored_state()

    problems = rejection(lambda: run(path, project, lod="0.005"))

    assay = CfDNAAssay.objects.get()
    assert [(p.source, p.row, p.field, p.value, p.code) for p in problems] == [
        ("lod.vcf", None, "limit_of_detection", "0.005", "conflicting-value")
    ]
    assert problems[0].message == (
        refusal("0.005", assay)
        + "stored without a limit of detection and with 1 calls of "
        "detected under 0.005 (12:25398284 C>T at 0.003). An assay's calls are made "
        "against one limit and stored results are never overwritten, so nothing of "
        "this file is imported: import it again without the limit, or correct the "
        "stored assay and its calls first."
    )
    assert stored_state() == before
    assert stored_limit() is None


def test_a_lod_the_stored_calls_agree_with_is_stored_on_the_assay(project, tmp_path):
    run(vcf(tmp_path, "a.vcf", TP53_AT_50), project)

    report = run(vcf(tmp_path, "b.vcf", KRAS_AT_3, TP53_AT_50), project, lod="0.005")

    assert stored_limit() == 0.005
    assert calls_by_chromosome() == {
        "12": ("below-lod", None, 3, 1000),
        "17": ("detected", 0.05, 50, 1000),
    }
    assert [(w.row, w.field, w.code) for w in report.warnings] == [
        (3, "limit_of_detection", "limit-of-detection-added")
    ]
    assert (report.rows_imported, report.duplicates, report.rejected) == (1, 1, [])


# A limit other than the one stored rejects the file, with one problem per assay.


def test_a_vcf_lod_other_than_the_stored_one_names_assay_and_limits_once(
    project, tmp_path
):
    """The reviewer's case: two limits in turn on an assay first stored without one."""
    run(vcf(tmp_path, "a.vcf", TP53_AT_50), project)
    run(vcf(tmp_path, "b.vcf", KRAS_AT_3), project, lod="0.005")
    before = stored_state()

    problems = rejection(
        lambda: run(vcf(tmp_path, "c.vcf", EGFR_AT_5, KRAS_AT_3), project, lod="0.01")
    )

    assay = CfDNAAssay.objects.get()
    assert [(p.source, p.row, p.field, p.value, p.code) for p in problems] == [
        ("c.vcf", None, "limit_of_detection", "0.01", "conflicting-value")
    ]
    assert problems[0].message == (
        refusal("0.01", assay)
        + "stored with the limit 0.005. An assay's calls are made "
        "against one limit and stored results are never overwritten, so nothing of "
        "this file is imported: import it again with the limit 0.005, or without "
        "one, or correct the stored assay and its calls first."
    )
    assert stored_state() == before
    run_of_file = ImportRun.objects.get(source_name="c.vcf")
    assert run_of_file.status == ImportRun.Status.FAILED
    assert run_of_file.issues.filter(severity="error").count() == 1


def two_draws_maf(tmp_path, name: str) -> Path:
    return write(
        tmp_path,
        name,
        LOD_MAF.splitlines(keepends=True)[0]
        + "KRAS\tS1\t12\t25398284\tC\tT\t3\t1000\n"
        + "TP53\tS1\t17\t7577120\tC\tT\t50\t1000\n"
        + "TP53\tS2\t17\t7577120\tC\tT\t8\t1000\n",
    )


def import_two_draws(path: Path, project, lod: str):
    return import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True, lod=lod)


def test_a_maf_lod_conflicting_with_one_draw_rejects_the_whole_file(project, tmp_path):
    one = write(
        tmp_path,
        "one.maf",
        LOD_MAF.splitlines(keepends=True)[0]
        + "KRAS\tS1\t12\t25398284\tC\tT\t3\t1000\n",
    )
    import_two_draws(one, project, lod="0.005")
    before = stored_state()

    problems = rejection(
        lambda: import_two_draws(two_draws_maf(tmp_path, "two.maf"), project, "0.01")
    )

    (assay,) = CfDNAAssay.objects.all()
    assert [(p.row, p.field, p.value, p.code) for p in problems] == [
        (None, "limit_of_detection", "0.01", "conflicting-value")
    ]
    assert problems[0].message.startswith(
        refusal("0.01", assay) + "stored with the limit 0.005."
    )
    # S2's draw, new, is not stored either: the file is imported whole or not at all.
    assert stored_state() == before


def test_a_maf_lod_conflicting_with_two_draws_names_each_assay_once(project, tmp_path):
    path = two_draws_maf(tmp_path, "two.maf")
    import_two_draws(path, project, lod="0.005")

    problems = rejection(lambda: import_two_draws(path, project, "0.01"))

    assays = CfDNAAssay.objects.order_by("pk")
    assert [(p.row, p.value) for p in problems] == [(None, "0.01"), (None, "0.01")]
    assert [p.message.split(" (")[0] for p in problems] == [
        f"gives the limit of detection 0.01 for cfDNA assay {assay.pk}"
        for assay in assays
    ]
    assert list(assays.values_list("limit_of_detection_vaf", flat=True)) == [
        0.005,
        0.005,
    ]


# Without --lod, the limit stored on the assay holds.


def test_a_vcf_without_lod_is_called_against_the_limit_stored_on_its_assay(
    project, tmp_path
):
    run(vcf(tmp_path, "a.vcf", TP53_AT_50), project, lod="0.005")

    report = run(vcf(tmp_path, "b.vcf", KRAS_AT_3), project)

    assert calls_by_chromosome()["12"] == ("below-lod", None, 3, 1000)
    assert (report.rows_imported, report.rejected) == (1, [])
    # The same file again, with or without the limit, is the same result:
    again = run(vcf(tmp_path, "b.vcf", KRAS_AT_3), project, lod="0.005")
    assert (again.duplicates, again.rejected) == (1, [])


def test_a_maf_without_lod_is_called_against_the_limit_stored_on_its_assay(
    project, tmp_path
):
    import_maf(
        write(tmp_path, "lod.maf", LOD_MAF),
        project,
        drawn_on=DRAWN_ON,
        create_patients=True,
        lod="0.005",
    )
    VariantResult.objects.all().delete()

    import_maf(
        write(tmp_path, "lod.maf", LOD_MAF),
        project,
        drawn_on=DRAWN_ON,
        create_patients=True,
    )

    assert maf_calls()["KRAS"] == ("below-lod", None, 3, 1000)


CFDNA = "patient_id,draw_date,gene,protein_change,vaf,limit_of_detection,call\n"


def test_a_cfdna_row_without_a_limit_takes_the_one_stored_on_its_assay(
    project, tmp_path
):
    register(project, "P1")
    import_cfdna(
        write(tmp_path, "a.csv", CFDNA + "P1,2022-01-03,EGFR,L858R,0.02,0.001,\n"),
        project,
    )

    report = import_cfdna(
        write(
            tmp_path,
            "b.csv",
            CFDNA
            + "P1,2022-01-03,PIK3CA,H1047R,0.0005,,\n"
            + "P1,2022-01-03,KRAS,G12C,0.0005,,detected\n",
        ),
        project,
    )

    calls = {v.gene: (v.call, v.vaf) for v in VariantResult.objects.all()}
    assert calls == {"EGFR": ("detected", 0.02), "PIK3CA": ("below-lod", None)}
    assert [(p.row, p.field, p.value, p.code) for p in report.rejected] == [
        (3, "vaf", "0.0005", "detected-below-lod")
    ]


def test_a_detected_call_under_the_rows_own_limit_quotes_its_vaf_cell(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path, "v.csv", CFDNA + "P1,2022-01-03,KRAS,G12C,0.05%,0.1%,detected\n"
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field, p.value, p.code) for p in report.rejected] == [
        (2, "vaf", "0.05%", "detected-below-lod")
    ]


def test_a_cfdna_row_without_a_limit_takes_the_one_a_later_row_gives(project, tmp_path):
    """Whatever the order of the rows, an assay's calls are made against one limit."""
    register(project, "P1")

    import_cfdna(
        write(
            tmp_path,
            "v.csv",
            CFDNA
            + "P1,2022-01-03,PIK3CA,H1047R,0.0005,,\n"
            + "P1,2022-01-03,EGFR,L858R,0.02,0.001,\n",
        ),
        project,
    )

    calls = {v.gene: v.call for v in VariantResult.objects.all()}
    assert calls == {"PIK3CA": "below-lod", "EGFR": "detected"}
    assert stored_limit() == 0.001


def test_a_cfdna_limit_other_than_the_stored_one_rejects_the_file_once(
    project, tmp_path
):
    """As a --lod: one problem for the assay, at its first row giving the limit."""
    register(project, "P1", "P2")
    import_cfdna(
        write(tmp_path, "a.csv", CFDNA + "P1,2022-01-03,EGFR,L858R,0.02,0.001,\n"),
        project,
    )
    before = stored_state()
    path = write(
        tmp_path,
        "b.csv",
        CFDNA
        + "P2,2022-01-03,EGFR,L858R,0.02,0.002,\n"
        + "P1,2022-01-03,KRAS,G12C,0.03,0.002,\n"
        + "P1,2022-01-03,TP53,R273H,0.04,0.002,\n",
    )

    problems = rejection(lambda: import_cfdna(path, project))

    assay = CfDNAAssay.objects.get()
    assert [(p.row, p.field, p.value, p.code) for p in problems] == [
        (3, "limit_of_detection", "0.002", "conflicting-value")
    ]
    assert problems[0].message.startswith(
        refusal("0.002", assay) + "stored with the limit 0.001."
    )
    assert stored_state() == before


def test_two_limits_for_one_new_assay_of_a_cfdna_table_reject_the_file(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        CFDNA
        + "P1,2022-01-03,EGFR,L858R,0.02,0.001,\n"
        + "P1,2022-01-03,KRAS,G12C,0.03,0.002,\n"
        + "P1,2022-01-03,TP53,R273H,0.04,0.002,\n",
    )

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.row, p.value) for p in problems] == [(3, "0.002")]
    assert ", given the limit 0.001 on row 2 of this file. " in problems[0].message
    assert not CfDNAAssay.objects.exists()


@pytest.mark.parametrize("limit", ["0", "1"])
def test_a_cfdna_limit_of_0_or_1_rejects_the_file(project, tmp_path, limit):
    register(project, "P1")
    path = write(tmp_path, "a.csv", CFDNA + f"P1,2022-01-03,EGFR,L858R,0.02,{limit},\n")

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.row, p.field, p.value, p.code) for p in problems] == [
        (2, "limit_of_detection", limit, "lod-out-of-range")
    ]
    assert not VariantResult.objects.exists()


# What --lod accepts.


@pytest.mark.parametrize("lod", ["0", "1", "0%", "100%", "", "  "])
def test_a_lod_of_0_1_or_nothing_rejects_the_file(project, tmp_path, lod):
    path = vcf(tmp_path, "lod.vcf", KRAS_AT_3)

    problems = rejection(lambda: run(path, project, lod=lod))

    assert [(p.field, p.value) for p in problems] == [("limit_of_detection", lod)]
    message = problems[0].message
    assert message.startswith("is empty" if not lod.strip() else "must lie above 0")
    assert not VariantResult.objects.exists()


@pytest.mark.parametrize(("lod", "limit"), [("0.005", 0.005), ("0.5%", 0.005)])
def test_a_plausible_lod_is_taken_without_a_warning(project, tmp_path, lod, limit):
    report = run(vcf(tmp_path, "lod.vcf", KRAS_AT_3), project, lod=lod)

    assert stored_limit() == limit
    assert report.warnings == []


def test_a_lod_above_5_percent_is_taken_with_a_warning(project, tmp_path):
    """--lod 0.5 meant as 0.5 % calls the 5 % TP53 below LOD: the warning says so."""
    report = run(vcf(tmp_path, "lod.vcf", TP53_AT_50), project, lod="0.5")

    assert stored_limit() == 0.5
    assert calls_by_chromosome()["17"][0] == "below-lod"
    assert [(w.field, w.value, w.code) for w in report.warnings] == [
        ("limit_of_detection", "0.5", "implausible-lod")
    ]
    assert "If you meant 0.5 %, write 0.005 or 0.5%" in report.warnings[0].message


# What a below-LOD call keeps of its measurement.


def test_a_below_lod_call_of_a_vaf_alone_keeps_it_in_the_note(project, tmp_path):
    """GT:AF gives no reads: the VAF is all the record measured."""
    run(vcf(tmp_path, "lod.vcf", KRAS_AT_3, EGFR_AT_5), project, lod="0.01")

    stored = {
        v.genomic_change.split(":")[0]: (v.call, v.vaf, v.alt_reads, v.note)
        for v in VariantResult.objects.all()
    }
    assert stored == {
        "12": (
            "below-lod",
            None,
            3,
            "VAF 0.003 measured, under the limit of detection 0.01",
        ),
        "7": (
            "below-lod",
            None,
            None,
            "VAF 0.005 measured, under the limit of detection 0.01",
        ),
    }


# MAF counts: a t_depth of 0 beside counts, and results stored before 0 was unknown.

DEPTH_0_MAF = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\tReference_Allele"
    "\tTumor_Seq_Allele2\tt_alt_count\tt_ref_count\tt_depth\n"
    "KRAS\tS1\t12\t25398284\tC\tT\t5\t100\t0\n"
    "TP53\tS1\t17\t7577120\tC\tT\t5\t\t0\n"
)


def test_a_t_depth_of_0_beside_read_counts_is_a_depth_not_computed(project, tmp_path):
    path = write(tmp_path, "d0.maf", DEPTH_0_MAF)

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert report.rejected == []
    assert maf_calls() == {
        "KRAS": ("detected", 5 / 105, 5, 105),
        "TP53": ("detected", None, 5, None),
    }
    assert [(w.row, w.field, w.code) for w in report.warnings] == [
        (2, "t_depth", "zero-reads-of-called-variant"),
        (3, "t_depth", "zero-reads-of-called-variant"),
    ]
    assert report.warnings[0].message.startswith(
        "is 0, but t_ref_count and t_alt_count count 105 reads"
    )


def test_a_maf_stored_before_its_0_counts_were_unknown_imports_again_as_duplicates(
    project, tmp_path
):
    """What the importer stored before: the 0s, and no VAF from 0 of 120 reads."""
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)
    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    VariantResult.objects.filter(gene="KRAS").update(alt_reads=0)
    VariantResult.objects.filter(gene="EGFR").update(depth=0)
    VariantResult.objects.filter(gene="BRAF").update(alt_reads=0, depth=0)
    before = stored_state()

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert (report.rows_imported, report.duplicates, report.rejected) == (0, 4, [])
    assert stored_state() == before


def test_a_count_given_empty_against_a_stored_one_names_no_value(project, tmp_path):
    path = write(tmp_path, "lod.maf", LOD_MAF)
    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    emptied = LOD_MAF.replace("\t3\t1000\n", "\t\t1000\n")

    report = import_maf(
        write(tmp_path, "emptied.maf", emptied),
        project,
        drawn_on=DRAWN_ON,
        create_patients=True,
    )

    conflicts = {(p.field, p.value, p.message) for p in report.rejected if p.row == 2}
    assert (
        "alt_reads",
        "",
        "is empty, unlike the stored variant result of this draw (alt_reads 3); "
        "stored results are never overwritten.",
    ) in conflicts
    assert all("None" not in str(p) for p in report.rejected)
