from __future__ import annotations

import csv
import datetime as dt
import gzip
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.models import BloodSample, CfDNAAssay, VariantResult
from liquidbiopsy.validation import resolve_call
from patients.models import DataIssue, ImportRun
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import (
    patient,
    register,
    rejection,
    stored_state,
    write,
)

DRAWN_ON = "2020-01-15"


def maf_rows(path) -> list[dict[str, str]]:
    """Read a MAF independently of the importer: gzip, CR endings, # comments."""
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    return list(csv.DictReader(io.StringIO("\n".join(lines)), delimiter="\t"))


def maf_change(row: dict[str, str]) -> str:
    """Return the genomic change of a MAF row as stored, read apart from the importer."""
    ref, alt = (
        row[name].replace("-", "") or "-"
        for name in ("Reference_Allele", "Tumor_Seq_Allele2")
    )
    return f"{row['Chromosome']}:{row['Start_Position']} {ref}>{alt}"


def stored_by_row(project, rows, barcode: str = "Tumor_Sample_Barcode") -> list[tuple]:
    return sorted(
        (
            patient(project, row[barcode]).pk,
            row["Chromosome"].removeprefix("chr"),
            int(row["Start_Position"]),
        )
        for row in rows
    )


# tcga_laml.maf.gz: VAF in percent (i_TumorVAF_WU).


@pytest.fixture
def laml(project):
    path = shared_path("genomics_maf_maftools", "tcga_laml.maf.gz")
    return path, import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)


ZERO_OR_NA = {"NA", "0", "0.0", "0.00"}


def test_laml_imports_every_variant_with_its_percent_vaf_as_a_fraction(project, laml):
    path, report = laml
    rows = maf_rows(path)
    patients = {
        barcode: patient(project, barcode).pk
        for barcode in {r["Tumor_Sample_Barcode"] for r in rows}
    }
    expected = sorted(
        (
            patients[row["Tumor_Sample_Barcode"]],
            f"{row['Chromosome']}:{row['Start_Position']}",
            None
            if row["i_TumorVAF_WU"] in ZERO_OR_NA
            else round(float(row["i_TumorVAF_WU"]) / 100, 9),
        )
        for row in rows
    )

    stored = sorted(
        (
            v.assay.sample.patient_id,
            v.genomic_change.split(" ")[0],
            None if v.vaf is None else round(v.vaf, 9),
        )
        for v in VariantResult.objects.select_related("assay__sample")
    )

    assert (report.rows_imported, report.rejected) == (len(rows), [])
    assert BloodSample.objects.count() == len(patients)
    assert stored == expected
    assert set(VariantResult.objects.values_list("call", flat=True)) == {"detected"}
    zeros = [row for row in rows if row["i_TumorVAF_WU"] in ZERO_OR_NA - {"NA"}]
    assert len(
        [w for w in report.warnings if w.code == "zero-vaf-of-called-variant"]
    ) == len(zeros)
    assert VariantResult.objects.get(
        assay__sample__patient=patient(project, "TCGA-AB-2988"), gene="ABCA10"
    ).vaf == pytest.approx(0.4566)


def test_laml_keeps_the_protein_change_raw_and_canonical_where_readable(project, laml):
    path, report = laml
    rows = maf_rows(path)
    abca10 = VariantResult.objects.get(
        assay__sample__patient=patient(project, "TCGA-AB-2988"), gene="ABCA10"
    )

    assert (abca10.protein_change_raw, abca10.protein_change) == ("p.K960R", "p.K960R")
    assert (abca10.genome_build, abca10.variant_type) == ("GRCh37", "SNV")
    assert sorted(
        VariantResult.objects.values_list("protein_change_raw", flat=True)
    ) == sorted(row["Protein_Change"] for row in rows)
    # Legacy forms such as p.-169fs are kept raw, with a warning, never invented:
    unreadable = {
        w.value for w in report.warnings if w.code == "unreadable-protein-change"
    }
    assert "p.-169fs" in unreadable
    assert (
        not VariantResult.objects.filter(protein_change_raw="p.-169fs")
        .exclude(protein_change="")
        .exists()
    )


def test_laml_re_import_skips_every_row_and_changes_nothing(project, laml):
    path, _report = laml
    before = stored_state()

    again = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert (again.rows_imported, again.duplicates) == (0, len(maf_rows(path)))
    assert stored_state() == before


def test_laml_again_with_another_draw_date_says_it_stored_the_file_again(project, laml):
    path, _report = laml
    first = ImportRun.objects.get()

    again = import_maf(path, project, drawn_on="2020-02-15", create_patients=True)

    (warning,) = [w for w in again.warnings if w.code == "same-file-again"]
    assert f"is the file import run {first.pk} stored whole on" in str(warning.message)
    assert again.rows_imported == len(maf_rows(path))
    assert DataIssue.objects.filter(code="same-file-again").count() == 1


def test_laml_again_with_its_draw_date_warns_of_nothing(project, laml):
    path, _report = laml

    again = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert not [w for w in again.warnings if w.code == "same-file-again"]


# APL_primary.maf.gz: old Mac CR-only line endings, no "p." prefix.


def test_apl_with_cr_line_endings_imports_its_rows(project):
    path = shared_path("genomics_maf_maftools", "APL_primary.maf.gz")
    rows = maf_rows(path)
    unplaced = [row for row in rows if row["Start_Position"] == "NA"]

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert b"\r" in gzip.decompress(path.read_bytes()) and b"\n" not in gzip.decompress(
        path.read_bytes()
    )
    assert report.rows_imported == len(rows) - len(unplaced)
    assert len(report.rejected) == len(unplaced)
    assert {p.field for p in report.rejected} == {"Start_Position"}
    placed = [row for row in rows if row["Start_Position"] != "NA"]
    assert sorted(
        (
            v.assay.sample.patient_id,
            v.genomic_change.split(":")[0],
            int(v.genomic_change.split(":")[1].split(" ")[0]),
        )
        for v in VariantResult.objects.select_related("assay__sample")
    ) == stored_by_row(project, placed)


def test_apl_protein_changes_without_prefix_are_canonical(project):
    path = shared_path("genomics_maf_maftools", "APL_primary.maf.gz")
    first = maf_rows(path)[0]

    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    variant = VariantResult.objects.get(
        assay__sample__patient=patient(project, first["Tumor_Sample_Barcode"]),
        gene=first["Hugo_Symbol"],
    )
    assert variant.protein_change_raw == first["amino_acid_change"]
    assert variant.protein_change == "p." + first["amino_acid_change"]


# test.maf (vcf2maf): counts give the VAF.


def test_maf_read_counts_give_the_vaf(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    rows = maf_rows(path)
    register(project, "TUMOR")

    import_maf(path, project, drawn_on=DRAWN_ON)

    for row in rows:
        variant = VariantResult.objects.get(genomic_change=maf_change(row))
        assert (variant.alt_reads, variant.depth) == (
            int(row["t_alt_count"]),
            int(row["t_depth"]),
        )
        assert variant.vaf == pytest.approx(
            int(row["t_alt_count"]) / int(row["t_depth"])
        )


def test_a_sample_map_links_barcodes_to_patients_and_draw_dates(project, tmp_path):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    register(project, "SYN-4001")
    sample_map = write(
        tmp_path,
        "map.csv",
        "Tumor_Sample_Barcode,patient_id,draw_date,sample_id\nTUMOR,SYN-4001,2021-03-04,PL-7\n",
    )

    import_maf(path, project, sample_map=sample_map)

    sample = BloodSample.objects.get()
    assert sample.patient == patient(project, "SYN-4001")
    assert (sample.drawn_on, sample.external_sample_id) == (dt.date(2021, 3, 4), "PL-7")


def test_a_barcode_missing_from_the_sample_map_rejects_its_rows(project, tmp_path):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    sample_map = write(
        tmp_path, "map.csv", "Tumor_Sample_Barcode,patient_id\nOTHER,SYN-4001\n"
    )

    report = import_maf(
        path, project, drawn_on=DRAWN_ON, sample_map=sample_map, create_patients=True
    )

    assert report.rows_imported == 0
    assert {p.field for p in report.rejected} == {"Tumor_Sample_Barcode"}


# Bad input.


def test_a_maf_without_a_draw_date_is_rejected_clearly(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")

    problems = rejection(lambda: import_maf(path, project, create_patients=True))

    assert (problems[0].field, problems[0].code) == ("drawn_on", "no-draw-date")
    assert "--drawn-on" in problems[0].message
    assert VariantResult.objects.count() == 0


def test_a_future_draw_date_rejects_the_maf(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    tomorrow = str(timezone.localdate() + dt.timedelta(days=1))

    problems = rejection(
        lambda: import_maf(path, project, drawn_on=tomorrow, create_patients=True)
    )

    assert (problems[0].field, problems[0].code) == ("drawn_on", "future-date")


@pytest.mark.attack
def test_malformed_utf8_in_a_maf_rejects_the_file_naming_its_line(project):
    path = shared_path(
        "genomics_maf_cbioportal",
        "validator_fixtures",
        "data_mutations_invalid_utf8.maf",
    )
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = data[: exc.start].count(b"\n") + 1

    problems = rejection(
        lambda: import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    )

    assert [(p.source, p.row) for p in problems] == [(path.name, bad_line)]
    assert "UTF-8" in problems[0].message
    assert ImportRun.objects.get().status == "failed"
    assert stored_state()[:4] == [[], [], [], []]


def test_an_unknown_patient_rejects_each_of_its_maf_rows(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    rows = maf_rows(path)

    report = import_maf(path, project, drawn_on=DRAWN_ON)

    assert report.rows_imported == 0
    assert {(p.field, p.code) for p in report.rejected} == {
        ("Tumor_Sample_Barcode", "unknown-patient")
    }
    assert len(report.rejected) == len(rows)
    assert DataIssue.objects.filter(code="unknown-patient").count() == len(rows)
    assert not DataIssue.objects.filter(value="TUMOR").exists()


def test_a_maf_missing_a_required_column_is_rejected(project, tmp_path):
    path = write(
        tmp_path,
        "m.maf",
        "Hugo_Symbol\tChromosome\tStart_Position\tReference_Allele\tTumor_Seq_Allele2\nEGFR\t7\t1\tC\tT\n",
    )

    problems = rejection(
        lambda: import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    )

    assert [(p.row, p.field) for p in problems] == [(1, "Tumor_Sample_Barcode")]


def test_maf_genes_an_annotator_named_are_kept_with_a_warning(project, tmp_path):
    path = write(
        tmp_path,
        "m.maf",
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
        "\tReference_Allele\tTumor_Seq_Allele2\n"
        "kras\tS1\t12\t25398284\tC\tT\n"
        # A clone-based name, as VEP gives a gene HGNC has no symbol for (brca.maf):
        "AC004943.1\tS1\t16\t1000\tG\tA\n"
        "TP53 R273H\tS1\t17\t7577120\tC\tT\n",
    )

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    stored = VariantResult.objects.order_by("gene").values_list("gene", "gene_hgnc")
    assert list(stored) == [("AC004943.1", "AC004943.1"), ("kras", "KRAS")]
    assert [(w.row, w.field, w.value, w.code) for w in report.warnings] == [
        (2, "Hugo_Symbol", "kras", "gene-symbol-case"),
        (3, "Hugo_Symbol", "AC004943.1", "gene-not-hgnc"),
    ]
    assert [(p.source, p.row, p.field, p.value) for p in report.rejected] == [
        ("m.maf", 4, "Hugo_Symbol", "TP53 R273H")
    ]


def test_maf_fusion_partners_take_hgnc_case_an_annotators_name_kept(project, tmp_path):
    path = write(
        tmp_path,
        "m.maf",
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
        "\tReference_Allele\tTumor_Seq_Allele2\tHGVSp_Short\n"
        "ALK\tS1\t2\t29443695\tG\tT\teml4::alk\n"
        "ALK\tS1\t2\t29443700\tG\tT\tAC004943.1::ALK\n"
        "ALK\tS1\t2\t29443705\tG\tT\tKRAS G12D::ALK\n",
    )

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    stored = VariantResult.objects.order_by("pk").values_list(
        "fusion_5prime", "fusion_3prime", "protein_change_raw"
    )
    assert list(stored) == [
        ("EML4", "ALK", "eml4::alk"),
        ("AC004943.1", "ALK", "AC004943.1::ALK"),
    ]
    assert [(w.row, w.field, w.value, w.code) for w in report.warnings] == [
        (2, "HGVSp_Short", "eml4::alk", "fusion-partner-case"),
        (3, "HGVSp_Short", "AC004943.1", "gene-not-hgnc"),
    ]
    assert [(p.source, p.row, p.field, p.value) for p in report.rejected] == [
        ("m.maf", 4, "HGVSp_Short", "KRAS G12D::ALK")
    ]


def test_the_maf_command_needs_a_draw_date(project):
    path = shared_path("genomics_vcf_somatic", "test.maf")

    with pytest.raises(CommandError, match="drawn_on"):
        call_command(
            "import_maf", str(path), project=project.code, create_patients=True
        )


# Re-imports whose protein change differs at the same genomic change.


def test_another_protein_change_of_a_stored_variant_is_a_warning_naming_both(
    project,
):
    # The same seven variants; the second file's Amino_Acid_Change gives protein
    # changes of other transcripts where the first file gave none:
    first = shared_path(
        "genomics_maf_cbioportal",
        "validator_fixtures",
        "data_mutations_missing_aa_change_column.maf",
    )
    second = first.with_name("data_mutations_wrong_aa_change.maf")
    given = {
        number: row["Amino_Acid_Change"]
        for number, row in enumerate(maf_rows(second), start=2)
        if row["Amino_Acid_Change"] not in ("", "NULL")
    }
    import_maf(first, project, drawn_on=DRAWN_ON, create_patients=True)
    before = stored_state()

    report = import_maf(second, project, drawn_on=DRAWN_ON)

    assert (report.rows_imported, report.duplicates, report.rejected) == (0, 7, [])
    assert stored_state() == before
    differs = [w for w in report.warnings if w.code == "protein-change-differs"]
    assert {(w.row, w.field, w.value) for w in differs} == {
        (number, "Amino_Acid_Change", text) for number, text in given.items()
    }
    assert all("stored for this variant (none)" in w.message for w in differs)
    assert "7 duplicates skipped" in report.summary()
    assert DataIssue.objects.filter(
        severity="warning", code="protein-change-differs", field="Amino_Acid_Change"
    ).count() == len(given)


def test_a_re_import_names_the_stored_protein_change_it_differs_from(project, tmp_path):
    register(project, "SYN-M1")
    header = (
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\t"
        "Reference_Allele\tTumor_Seq_Allele2\tHGVSp_Short\n"
    )
    row = "KRAS\tSYN-M1\t12\t25398285\tC\tA\t{}\n"
    import_maf(
        write(tmp_path, "a.maf", header + row.format("p.G12C")),
        project,
        drawn_on=DRAWN_ON,
    )

    spelt = import_maf(
        write(tmp_path, "b.maf", header + row.format("p.Gly12Cys")),
        project,
        drawn_on=DRAWN_ON,
    )
    other = import_maf(
        write(tmp_path, "c.maf", header + row.format("p.G13C")),
        project,
        drawn_on=DRAWN_ON,
    )

    assert [w.code for w in spelt.warnings] == []
    (warning,) = other.warnings
    assert (warning.source, warning.row, warning.field, warning.value) == (
        "c.maf",
        2,
        "HGVSp_Short",
        "p.G13C",
    )
    assert "(p.G12C)" in warning.message
    assert (other.duplicates, other.rows_imported) == (1, 0)
    assert VariantResult.objects.get().protein_change == "p.G12C"


# Mutation_Status: germline and LOH rows.


def test_germline_and_loh_maf_rows_are_skipped_and_counted(project):
    path = shared_path(
        "genomics_maf_cbioportal", "validator_fixtures", "data_mutations_ms.maf"
    )
    rows = maf_rows(path)
    inherited = [r for r in rows if r["Mutation_Status"].lower() in ("germline", "loh")]

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert len(inherited) == 2
    assert (report.rows_imported, report.rejected) == (len(rows) - 2, [])
    assert not VariantResult.objects.filter(
        gene__in=[r["Hugo_Symbol"] for r in inherited]
    ).exists()
    skipped = [w for w in report.warnings if w.code == "germline-records-skipped"]
    assert sorted((w.field, w.value, w.message.split(" ")[0]) for w in skipped) == [
        ("Mutation_Status", "Germline", "1"),
        ("Mutation_Status", "LOH", "1"),
    ]


def test_germline_maf_rows_kept_on_request_are_flagged(project):
    path = shared_path(
        "genomics_maf_cbioportal", "validator_fixtures", "data_mutations_ms.maf"
    )

    report = import_maf(
        path, project, drawn_on=DRAWN_ON, create_patients=True, keep_germline=True
    )

    assert report.rows_imported == len(maf_rows(path))
    # Each note ends with the flag, after what it says of counts of 0 (t_depth 0 here):
    notes = VariantResult.objects.filter(is_germline=True).values_list("gene", "note")
    assert sorted((gene, note.split("; ")[-1]) for gene, note in notes) == [
        ("ABLIM1", "germline (Mutation_Status=Germline)"),
        ("CADM2", "LOH (Mutation_Status=LOH)"),
    ]


# The assay's limit of detection (--lod): a MAF states none.

LOD_MAF = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
    "\tReference_Allele\tTumor_Seq_Allele2\tt_alt_count\tt_depth\n"
    "KRAS\tS1\t12\t25398284\tC\tT\t3\t1000\n"
    "TP53\tS1\t17\t7577120\tC\tT\t50\t1000\n"
)


def maf_calls() -> dict[str, tuple]:
    return {
        v.gene: (v.call, v.vaf, v.alt_reads, v.depth)
        for v in VariantResult.objects.all()
    }


@pytest.mark.parametrize(
    ("lod", "kras", "stored"),
    [
        ("0.005", ("below-lod", None, 3, 1000), 0.005),
        (None, ("detected", 0.003, 3, 1000), None),
    ],
)
def test_a_maf_vaf_under_the_lod_given_is_below_lod(
    project, tmp_path, lod, kras, stored
):
    path = write(tmp_path, "lod.maf", LOD_MAF)

    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True, lod=lod)

    assert maf_calls() == {"KRAS": kras, "TP53": ("detected", 0.05, 50, 1000)}
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == stored


def test_a_lod_that_is_no_fraction_rejects_the_maf(project, tmp_path):
    path = write(tmp_path, "lod.maf", LOD_MAF)

    problems = rejection(
        lambda: import_maf(
            path, project, drawn_on=DRAWN_ON, lod="5", create_patients=True
        )
    )

    assert [(p.source, p.field, p.value) for p in problems] == [
        ("lod.maf", "limit_of_detection", "5")
    ]
    assert stored_state() == [[], [], [], [], 0]


def test_the_maf_command_takes_the_lod(project, tmp_path):
    path = write(tmp_path, "lod.maf", LOD_MAF)

    call_command(
        "import_maf",
        str(path),
        project=project.code,
        drawn_on=DRAWN_ON,
        create_patients=True,
        lod="0.5%",
    )

    assert maf_calls()["KRAS"][0] == "below-lod"
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005


# Counts of 0 for a called variant: a MAF row is a call, so they are not its reads.

ZERO_COUNTS_MAF = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
    "\tReference_Allele\tTumor_Seq_Allele2\tt_ref_count\tt_alt_count\tt_depth\n"
    "KRAS\tS1\t12\t25398284\tC\tT\t120\t0\t120\n"
    "TP53\tS1\t17\t7577120\tC\tT\t70\t30\t100\n"
    "EGFR\tS1\t7\t55259515\tT\tG\t\t\t0\n"
    "BRAF\tS1\t7\t140453136\tA\tT\t0\t0\t\n"
)


def test_maf_counts_of_0_of_a_called_variant_are_unknown_and_it_stays_detected(
    project, tmp_path
):
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert maf_calls() == {
        "KRAS": ("detected", None, None, 120),
        "TP53": ("detected", 0.3, 30, 100),
        "EGFR": ("detected", None, None, None),
        "BRAF": ("detected", None, None, None),
    }
    assert [(w.row, w.field, w.value, w.code) for w in report.warnings] == [
        (2, "t_alt_count", "0", "zero-reads-of-called-variant"),
        (4, "t_depth", "0", "zero-reads-of-called-variant"),
        (5, "t_alt_count", "0", "zero-reads-of-called-variant"),
    ]
    # A warning names a column of the file, and the other one that is 0 too:
    assert report.warnings[2].message.startswith("is 0, as is t_ref_count, for a")
    assert report.warnings[0].message.startswith(
        "is 0 for a variant the caller called in this sample, and no call is made "
        "without reads of its allele"
    )


def test_a_call_with_counts_of_0_says_so_in_its_note(project, tmp_path):
    """The import's warning is gone once the report is; the stored call keeps it."""
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)

    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    notes = dict(VariantResult.objects.values_list("gene", "note"))
    assert notes["KRAS"].startswith("t_alt_count 0 in the MAF, read as unknown")
    assert notes["EGFR"].startswith("t_depth 0 in the MAF")
    assert notes["BRAF"].startswith("t_alt_count 0 in the MAF")
    assert notes["TP53"] == ""


def test_a_later_change_of_the_call_keeps_the_vaf_of_no_reads_unknown(
    project, tmp_path
):
    """What the API's rule gives a stored variant: 0 of 120 reads would be a VAF of 0."""
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)
    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    kras = VariantResult.objects.get(gene="KRAS")

    assert resolve_call(kras.call, kras.vaf, kras.alt_reads, kras.depth) == (
        "detected",
        None,
    )


def test_a_maf_with_counts_of_0_imported_again_changes_nothing(project, tmp_path):
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)
    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    before = stored_state()

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert (report.rows_imported, report.duplicates, report.rejected) == (0, 4, [])
    assert stored_state() == before


def test_cbioportal_maf_counts_of_0_are_no_reads_of_its_calls(project):
    """study_es_0 writes t_depth 0, or nothing, beside empty alt counts."""
    path = shared_path(
        "genomics_maf_cbioportal", "study_es_0", "data_mutations_extended.maf"
    )
    rows = maf_rows(path)
    zeros = [row for row in rows if row["t_depth"] == "0"]

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert (report.rows_imported, report.rejected) == (len(rows), [])
    assert zeros, "study_es_0 no longer writes a t_depth of 0"
    stored = VariantResult.objects.values_list("call", "vaf", "alt_reads", "depth")
    assert set(stored) == {("detected", None, None, None)}
    assert len(
        [w for w in report.warnings if w.code == "zero-reads-of-called-variant"]
    ) == len(zeros)
