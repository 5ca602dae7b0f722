from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import (
    LOD_OUT_OF_RANGE,
    BloodSample,
    CfDNAAssay,
    VariantResult,
)
from patients.models import DataIssue, ImportRun
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import register, rejection, stored_state, write

DRAWN_ON = "2021-06-01"


def records(path, sample: str = "TUMOR") -> list[dict[str, object]]:
    """Read a VCF independently of the importer: each record with its sample's FORMAT values."""
    rows = []
    samples: list[str] = []
    for number, line in enumerate(
        path.read_text(encoding="utf-8").splitlines(), start=1
    ):
        if line.startswith("#CHROM"):
            samples = line.split("\t")[9:]
            continue
        if line.startswith("#") or not line:
            continue
        cells = line.split("\t")
        values = dict(
            zip(
                cells[8].split(":"),
                cells[9 + samples.index(sample)].split(":"),
                strict=True,
            )
        )
        rows.append(
            {
                "line": number,
                "info": cells[7],
                "chrom": cells[0],
                "pos": cells[1],
                "ref": cells[3],
                "alt": cells[4],
                "filter": cells[6],
                "values": values,
            }
        )
    return rows


def variant_at(row: dict) -> VariantResult:
    return VariantResult.objects.get(
        genomic_change__startswith=f"{row['chrom']}:{row['pos']} {row['ref']}>"
    )


def run(path, project, **options):
    register(project, "SYN-V1")
    return import_vcf(path, project, patient_id="SYN-V1", drawn_on=DRAWN_ON, **options)


# MuTect: FA allele fraction, AD ref,alt, REJECT-filtered calls.


def test_mutect_stores_the_pass_records_with_fa_as_vaf_and_skips_the_rejected(project):
    path = shared_path("genomics_vcf_somatic", "test_mutect.vcf")
    rows = records(path)
    passed = [row for row in rows if row["filter"] == "PASS"]

    report = run(path, project)

    assert report.rows_imported == len(passed)
    for row in passed:
        variant = variant_at(row)
        ref_reads, alt_reads = (int(n) for n in row["values"]["AD"].split(","))
        assert (variant.alt_reads, variant.depth) == (alt_reads, ref_reads + alt_reads)
        fa = float(row["values"]["FA"])
        assert variant.vaf == (pytest.approx(fa) if fa else None)
        # Two PASS records swap the samples: TUMOR has 0 alt reads, genotype 0, SS 0.
        assert variant.call == ("detected" if alt_reads else "not-detected")
    skipped = [w for w in report.warnings if w.code == "filtered-records-skipped"]
    assert [(w.value, w.message.split(" ")[0]) for w in skipped] == [
        ("REJECT", str(len(rows) - len(passed)))
    ]


def test_mutect_with_keep_filtered_stores_rejected_records_as_failed_calls(project):
    path = shared_path("genomics_vcf_somatic", "test_mutect.vcf")
    rows = records(path)
    rejected = [row for row in rows if row["filter"] != "PASS"]

    report = run(path, project, keep_filtered=True)

    assert report.rows_imported == len(rows)
    failed = VariantResult.objects.filter(call="failed")
    assert failed.count() == len(rejected)
    assert set(failed.values_list("note", flat=True)) == {"FILTER REJECT"}
    assert not failed.exclude(vaf=None).exists()


def test_the_sample_column_is_found_by_its_header_name(project):
    path = shared_path("genomics_vcf_somatic", "test_mutect.vcf")
    rows = records(path, sample="NORMAL")
    first = next(row for row in rows if row["filter"] == "PASS")

    run(path, project, sample="NORMAL")

    ref_reads, alt_reads = (int(n) for n in first["values"]["AD"].split(","))
    assert variant_at(first).alt_reads == alt_reads


# VarScan: FREQ as a percent string, RD/AD as ref/alt depths.


def somatic_status(row: dict) -> str:
    return next(i[3:] for i in row["info"].split(";") if i.startswith("SS="))


def test_varscan_freq_percent_string_becomes_a_fraction(project):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    rows = records(path)

    report = run(path, project, keep_germline=True)

    assert report.rows_imported == len(rows)
    for row in rows:
        variant = variant_at(row)
        freq = float(row["values"]["FREQ"].rstrip("%")) / 100
        assert variant.vaf == (pytest.approx(freq) if freq else None)
        assert variant.call == ("detected" if freq else "not-detected")
        assert variant.alt_reads == int(row["values"]["AD"])
        assert variant.depth == int(row["values"]["RD"]) + int(row["values"]["AD"])


def test_varscan_germline_and_loh_records_are_skipped_and_counted(project):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    rows = records(path)
    status = [somatic_status(row) for row in rows]

    report = run(path, project)

    kept = [row for row, code in zip(rows, status, strict=True) if code in ("2", "5")]
    assert report.rows_imported == len(kept) == status.count("2") + status.count("5")
    assert not VariantResult.objects.filter(is_germline=True).exists()
    skipped = [w for w in report.warnings if w.code == "germline-records-skipped"]
    assert [(w.field, w.value, w.message.split(" ")[0]) for w in skipped] == [
        ("INFO/SS", "1", str(status.count("1"))),
        ("INFO/SS", "3", str(status.count("3"))),
    ]
    assert "--keep-germline" in skipped[0].message


def test_varscan_germline_records_kept_on_request_are_flagged(project):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    rows = records(path)
    germline = {row["line"] for row in rows if somatic_status(row) in ("1", "3")}

    run(path, project, keep_germline=True)

    flagged = VariantResult.objects.filter(is_germline=True)
    assert flagged.count() == len(germline)
    loh = next(row for row in rows if somatic_status(row) == "3")
    assert variant_at(loh).is_germline
    assert variant_at(loh).note == "LOH (INFO/SS=3)"
    somatic = next(row for row in rows if somatic_status(row) == "2")
    assert not variant_at(somatic).is_germline


def test_a_tumour_without_alt_reads_is_not_detected_with_its_reads(project):
    # Row 194: 5:168874289 G>A, LOH; the TUMOR column is 0/0 with 11 reads, 0 alt.
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    row = next(r for r in records(path) if (r["chrom"], r["pos"]) == ("5", "168874289"))

    report = run(path, project, keep_germline=True)

    variant = variant_at(row)
    assert (variant.call, variant.vaf, variant.alt_reads, variant.depth) == (
        "not-detected",
        None,
        0,
        11,
    )
    (warning,) = [
        w
        for w in report.warnings
        if w.code == "zero-vaf-of-called-variant" and w.row == row["line"]
    ]
    assert (warning.field, warning.value) == ("FORMAT/FREQ", "0")
    assert "stored as not detected" in warning.message


# Strelka: tier-1 base counts AU/CU/GU/TU.


def test_strelka_vaf_comes_from_the_tier_one_base_counts(project):
    path = shared_path("genomics_vcf_somatic", "test_strelka.vcf")
    rows = records(path)

    run(path, project)

    assert VariantResult.objects.count() == len(rows)
    for row in rows:
        values = row["values"]
        if "TIR" in values:  # an indel: tier-1 indel and reference reads
            alt_reads = int(values["TIR"].split(",")[0])
            depth = alt_reads + int(values["TAR"].split(",")[0])
        else:
            tier1 = {base: int(values[f"{base}U"].split(",")[0]) for base in "ACGT"}
            alt_reads, depth = tier1[row["alt"]], sum(tier1.values())
        variant = variant_at(row)
        assert (variant.alt_reads, variant.depth) == (alt_reads, depth)
        assert variant.vaf == (pytest.approx(alt_reads / depth) if alt_reads else None)
        assert variant.call == ("detected" if alt_reads else "not-detected")


# SomaticSniper: DP4 strand counts (and BCOUNT base counts for a second ALT).


def test_sniper_counts_come_from_dp4(project):
    path = shared_path("genomics_vcf_somatic", "test_sniper.vcf")
    rows = [
        row
        for row in records(path)
        if row["filter"] == "PASS" and "," not in row["alt"]
    ]

    run(path, project)

    for row in rows:
        dp4 = [int(n) for n in row["values"]["DP4"].split(",")]
        variant = variant_at(row)
        assert (variant.alt_reads, variant.depth) == (dp4[2] + dp4[3], sum(dp4))


# test.vcf: TUMOR before NORMAL, AD and DP, a repeated site.


def test_test_vcf_reads_ad_of_the_tumour_column(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    rows = [row for row in records(path) if "," not in row["alt"]]

    run(path, project)

    for row in rows:
        ref_reads, alt_reads = (int(n) for n in row["values"]["AD"].split(","))
        variant = variant_at(row)
        assert (variant.alt_reads, variant.depth) == (alt_reads, ref_reads + alt_reads)
        assert variant.vaf == pytest.approx(alt_reads / (ref_reads + alt_reads))


def test_a_site_repeated_with_other_counts_is_rejected_and_an_identical_one_skipped(
    project,
):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    repeated = [row for row in records(path) if "," in row["alt"]]
    lines = [row["line"] for row in repeated]

    report = run(path, project)

    # The third record's G allele (AD 8) contradicts the second's (AD 12); the fourth repeats the first:
    assert {p.row for p in report.rejected} == {lines[2]}
    assert {p.code for p in report.rejected} == {"conflicting-value"}
    assert report.duplicates == 1
    assert DataIssue.objects.filter(severity="error", row=lines[2]).exists()


def test_a_vcf_re_import_changes_nothing(project):
    path = shared_path("genomics_vcf_somatic", "test_strelka.vcf")
    run(path, project)
    before = stored_state()

    again = run(path, project)

    assert (again.rows_imported, again.duplicates) == (0, len(records(path)))
    assert stored_state() == before


def test_the_draw_date_and_patient_apply_to_every_record(project):
    path = shared_path("genomics_vcf_somatic", "test_b38.vcf")

    run(path, project)

    sample = BloodSample.objects.get()
    assert sample.drawn_on == dt.date.fromisoformat(DRAWN_ON)
    assert sample.patient.pseudonym.startswith("DEMO-")


# Bad input.


def test_an_unknown_patient_rejects_the_vcf(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")

    problems = rejection(
        lambda: import_vcf(path, project, patient_id="NOBODY", drawn_on=DRAWN_ON)
    )

    assert [(p.source, p.field, p.code) for p in problems] == [
        (path.name, "patient_id", "unknown-patient")
    ]
    assert ImportRun.objects.get().status == "failed"
    assert stored_state()[:4] == [[], [], [], []]


def test_a_vcf_without_a_draw_date_is_rejected(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    register(project, "SYN-V1")

    problems = rejection(
        lambda: import_vcf(path, project, patient_id="SYN-V1", drawn_on=None)
    )

    assert (problems[0].field, problems[0].code) == ("drawn_on", "no-draw-date")


def test_an_unknown_sample_name_is_rejected_without_quoting_sample_names(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")

    problems = rejection(lambda: run(path, project, sample="PLASMA"))

    assert problems[0].field == "sample"
    assert "--sample" in problems[0].message
    assert "PLASMA" not in str(problems[0]) and "TUMOR" not in str(problems[0])


def test_a_vcf_of_several_samples_without_tumor_needs_the_sample_option(
    project, tmp_path
):
    text = shared_path("genomics_vcf_somatic", "test.vcf").read_text(encoding="utf-8")
    path = write(tmp_path, "x.vcf", text.replace("\tTUMOR\tNORMAL", "\tS1\tS2"))

    problems = rejection(lambda: run(path, project))

    assert problems[0].field == "sample"


def test_a_file_without_a_chrom_line_is_no_vcf(project, tmp_path):
    path = write(
        tmp_path, "x.vcf", "##fileformat=VCFv4.2\n1\t100\t.\tA\tG\t.\tPASS\t.\n"
    )

    problems = rejection(lambda: run(path, project))

    assert "#CHROM" in problems[0].message


@pytest.mark.parametrize("keep_germline", [False, True])
def test_the_vcf_command_imports_the_tumour_sample(project, capsys, keep_germline):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    register(project, "SYN-V9")

    call_command(
        "import_vcf",
        str(path),
        project=project.code,
        patient="SYN-V9",
        drawn_on=DRAWN_ON,
        keep_germline=keep_germline,
    )

    germline = [row for row in records(path) if somatic_status(row) in ("1", "3")]
    stored = len(records(path)) - (0 if keep_germline else len(germline))
    out = capsys.readouterr().out
    assert f"{stored} rows imported and 0 rejected" in out
    assert ("were skipped" in out) is not keep_germline
    assert VariantResult.objects.filter(is_germline=True).count() == (
        len(germline) if keep_germline else 0
    )


def test_the_vcf_command_rejects_a_future_draw_date(project):
    path = shared_path("genomics_vcf_somatic", "test.vcf")
    register(project, "SYN-V9")

    with pytest.raises(CommandError, match="future"):
        call_command(
            "import_vcf",
            str(path),
            project=project.code,
            patient="SYN-V9",
            drawn_on="2999-01-01",
        )


@pytest.mark.parametrize(
    ("keys", "values", "field"),
    [
        ("GT:AF:AD", "0/1:0:95,0", "FORMAT/AF"),
        ("GT:FREQ", "0/1:0%", "FORMAT/FREQ"),
        ("GT:AD", "0/1:95,0", "FORMAT/AD"),
        ("GT:DP4", "0/1:50,45,0,0", "FORMAT/DP4"),
    ],
)
def test_a_zero_vaf_warning_names_the_format_field_it_was_read_from(
    project, tmp_path, keys, values, field
):
    path = write(
        tmp_path,
        "zero.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        f"12\t25398284\t.\tC\tT\t.\tPASS\t.\t{keys}\t{values}\n",
    )

    report = run(path, project)

    (warning,) = [w for w in report.warnings if w.code == "zero-vaf-of-called-variant"]
    assert (warning.row, warning.field) == (3, field)
    assert f"field {field}: is 0 for a variant the caller called" in str(warning)
    assert VariantResult.objects.get().call == "not-detected"


@pytest.mark.parametrize(
    ("keys", "values", "call", "vaf"),
    [
        # Pindel's 0/0 for a subclonal variant its reads show stays detected:
        ("GT:AD", "0/0:43,4", "detected", 4 / 47),
        ("GT", "0/0", "not-detected", None),
        ("GT:DP", "0|0:30", "not-detected", None),
        ("GT:AD", "0/1:0,0", "failed", None),
        # An allele fraction rounded to 0 where reads show the allele:
        ("GT:FA:AD", "0/1:0.00:2999,1", "detected", 1 / 3000),
        ("GT:FREQ", "0/1:5%", "detected", 0.05),
    ],
)
def test_the_call_of_a_pass_record_follows_what_the_sample_measured(
    project, tmp_path, keys, values, call, vaf
):
    path = write(
        tmp_path,
        "calls.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        f"12\t25398284\t.\tC\tT\t.\tPASS\t.\t{keys}\t{values}\n",
    )

    run(path, project)

    variant = VariantResult.objects.get()
    assert variant.call == call
    assert variant.vaf == (None if vaf is None else pytest.approx(vaf))


@pytest.mark.parametrize(
    ("info", "sample", "germline"),
    [
        ("SOMATIC;SS=2", "0/1:90,10", False),
        ("SS=1", "0/1:90,10", True),
        (".", "0/1:90,10:1", True),  # FORMAT SS of the sample (SomaticSniper, MuSE)
        (".", "0/1:90,10:2", False),
        ("SOMATIC", "0/1:90,10", False),
        ("SS=5", "0/1:90,10", False),  # unknown: kept, as somatic
    ],
)
def test_the_somatic_status_of_each_caller_decides_germline(
    project, tmp_path, info, sample, germline
):
    keys, normal = (
        ("GT:AD:SS", "0/0:99,0:0") if sample.count(":") == 2 else ("GT:AD", "0/0:99,0")
    )
    path = write(
        tmp_path,
        "status.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tNORMAL\tTUMOR\n"
        f"12\t25398284\t.\tC\tT\t.\tPASS\t{info}\t{keys}\t{normal}\t{sample}\n",
    )

    report = run(path, project)

    assert VariantResult.objects.count() == (0 if germline else 1)
    skipped = [w for w in report.warnings if w.code == "germline-records-skipped"]
    assert len(skipped) == int(germline)


def test_vep_symbols_are_checked_as_maf_genes(project, tmp_path):
    path = write(
        tmp_path,
        "vep.vcf",
        "##fileformat=VCFv4.2\n"
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="Format: '
        'Allele|SYMBOL|HGVSc|HGVSp">\n'
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Depths">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        "12\t25398284\t.\tC\tT\t.\tPASS\tCSQ=T|kras||\tAD\t90,10\n"
        "16\t1000\t.\tG\tA\t.\tPASS\tCSQ=A|AC004943.1||\tAD\t90,10\n"
        "17\t7577120\t.\tC\tT\t.\tPASS\tCSQ=T|TP53 R273H||\tAD\t90,10\n",
    )

    report = run(path, project)

    stored = VariantResult.objects.order_by("gene").values_list("gene", "gene_hgnc")
    assert list(stored) == [("AC004943.1", "AC004943.1"), ("kras", "KRAS")]
    assert [(w.row, w.field, w.code) for w in report.warnings] == [
        (5, "INFO", "gene-symbol-case"),
        (6, "INFO", "gene-not-hgnc"),
    ]
    assert [(p.row, p.field, p.value) for p in report.rejected] == [
        (7, "INFO", "TP53 R273H")
    ]


# The assay's limit of detection (--lod): a VCF states none.

LOD_VCF = (
    "##fileformat=VCFv4.2\n"
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
    "12\t25398284\t.\tC\tT\t.\tPASS\t.\tGT:AD\t0/1:997,3\n"
    "17\t7577120\t.\tC\tT\t.\tPASS\t.\tGT:AD\t0/1:950,50\n"
    "7\t55259515\t.\tT\tG\t.\tPASS\t.\tGT:AF\t0/1:0.005\n"
)


def calls_by_chromosome() -> dict[str, tuple]:
    return {
        v.genomic_change.split(":")[0]: (v.call, v.vaf, v.alt_reads, v.depth)
        for v in VariantResult.objects.all()
    }


def test_a_vaf_under_the_lod_given_is_below_lod_with_its_reads(project, tmp_path):
    path = write(tmp_path, "lod.vcf", LOD_VCF)

    report = run(path, project, lod="0.005")

    assert calls_by_chromosome() == {
        "12": ("below-lod", None, 3, 1000),
        "17": ("detected", 0.05, 50, 1000),
        "7": ("detected", 0.005, None, None),  # at the limit is not under it
    }
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005
    assert report.rows_imported == 3


def test_without_a_lod_no_vcf_record_is_below_lod(project, tmp_path):
    path = write(tmp_path, "lod.vcf", LOD_VCF)

    run(path, project)

    assert calls_by_chromosome()["12"] == ("detected", 0.003, 3, 1000)
    assert CfDNAAssay.objects.get().limit_of_detection_vaf is None


@pytest.mark.parametrize(
    ("lod", "message"),
    [
        # The limit's own bounds, not a VAF's 0 to 1, which 0 and 1 would pass:
        ("1.5", LOD_OUT_OF_RANGE),
        ("-0.001", LOD_OUT_OF_RANGE),
        ("150%", LOD_OUT_OF_RANGE),
        (
            "half a percent",
            "is not a number; give the limit of detection as a VAF fraction (0.005 "
            "for 0.5 %).",
        ),
    ],
)
def test_a_lod_that_is_no_fraction_rejects_the_vcf(project, tmp_path, lod, message):
    path = write(tmp_path, "lod.vcf", LOD_VCF)

    problems = rejection(lambda: run(path, project, lod=lod))

    assert [(p.source, p.field, p.value, p.message) for p in problems] == [
        ("lod.vcf", "limit_of_detection", lod, message)
    ]
    assert not VariantResult.objects.exists()


def test_a_lod_given_as_a_percent_is_a_fraction(project, tmp_path):
    path = write(tmp_path, "lod.vcf", LOD_VCF)

    run(path, project, lod="0.5%")

    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005
    assert calls_by_chromosome()["12"][0] == "below-lod"


def test_another_lod_than_the_stored_assays_rejects_the_file_once(project, tmp_path):
    path = write(tmp_path, "lod.vcf", LOD_VCF)
    run(path, project, lod="0.005")

    problems = rejection(lambda: run(path, project, lod="0.01"))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (None, "limit_of_detection", "conflicting-value")
    ]
    assert CfDNAAssay.objects.get().limit_of_detection_vaf == 0.005


def test_the_vcf_command_takes_the_lod(project, tmp_path):
    path = write(tmp_path, "lod.vcf", LOD_VCF)
    register(project, "SYN-V9")

    call_command(
        "import_vcf",
        str(path),
        project=project.code,
        patient="SYN-V9",
        drawn_on=DRAWN_ON,
        lod="0.005",
    )

    assert calls_by_chromosome()["12"][0] == "below-lod"


# Chromosomes are stored as the cohort filter asks for them (X, MT), whatever the case.


def test_lettered_chromosomes_are_stored_in_upper_case_other_contigs_as_written(
    project, tmp_path
):
    path = write(
        tmp_path,
        "case.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        "chrx\t100\t.\ta\tg\t.\tPASS\t.\tGT:AF\t0/1:0.2\n"
        "chrM\t10\t.\tA\tG\t.\tPASS\t.\tGT:AF\t0/1:0.2\n"
        "y\t50\t.\tC\tT\t.\tPASS\t.\tGT:AF\t0/1:0.2\n"
        "chrUn_gl000220\t5\t.\tA\tG\t.\tPASS\t.\tGT:AF\t0/1:0.2\n",
    )

    run(path, project)

    assert sorted(VariantResult.objects.values_list("genomic_change", flat=True)) == [
        "MT:10 A>G",
        "Un_gl000220:5 A>G",
        "X:100 A>G",
        "Y:50 C>T",
    ]
