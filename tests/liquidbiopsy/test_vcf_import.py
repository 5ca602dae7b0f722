from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command

from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import BloodSample, VariantResult
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
        assert variant.call == "detected"
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


def test_varscan_freq_percent_string_becomes_a_fraction(project):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    rows = records(path)

    report = run(path, project)

    assert report.rows_imported == len(rows)
    for row in rows:
        variant = variant_at(row)
        freq = float(row["values"]["FREQ"].rstrip("%")) / 100
        assert variant.vaf == (pytest.approx(freq) if freq else None)
        assert variant.alt_reads == int(row["values"]["AD"])
        assert variant.depth == int(row["values"]["RD"]) + int(row["values"]["AD"])


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


def test_the_vcf_command_imports_the_tumour_sample(project, capsys):
    path = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    register(project, "SYN-V9")

    call_command(
        "import_vcf",
        str(path),
        project=project.code,
        patient="SYN-V9",
        drawn_on=DRAWN_ON,
    )

    assert (
        f"{len(records(path))} rows imported and 0 rejected" in capsys.readouterr().out
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
        ("GT:AF:AD", "0/1:0:95,5", "FORMAT/AF"),
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
