"""Hostile values in every importer and the API: row and field errors, never tracebacks.

Each kind of value (a number beyond its column, a control character, a time that is
no time, a date before 1880 or before the patient's birth, a percent VAF) is tried in
the importers that read it and, where it writes the same field, the API.
"""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from liquidbiopsy.models import BloodSample, CTCCount, VariantResult
from liquidbiopsy.services import find_or_create_sample
from liquidbiopsy.validation import PERCENT, check_fraction
from patients.importers.clinical import PATIENTS, TREATMENTS, import_clinical
from patients.models import ImportRun
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import (
    patient,
    register,
    rejection,
    stored_state,
    write,
)
from tests.liquidbiopsy.test_maf_import import maf_rows

pytestmark = pytest.mark.attack

HUGE = "99999999999999999999"
LARGEST = "is beyond the largest count this field stores (2147483647)."
CFDNA = "patient_id,draw_date,gene,protein_change,alt_reads,depth,timepoint\n"


def only_run() -> ImportRun:
    (run,) = ImportRun.objects.all()
    return run


# Numbers beyond the column's range:


def test_a_huge_ctc_count_rejects_the_file_naming_row_and_field(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path, "ctc.csv", f"patient_id,draw_date,count\nP1,2020-01-01,{HUGE}\n"
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.message, p.value) for p in problems] == [
        (2, "count", LARGEST, HUGE)
    ]
    assert f"ctc.csv, row 2, field count: {LARGEST}" in str(problems[0])
    assert CTCCount.objects.count() == BloodSample.objects.count() == 0


@pytest.mark.parametrize(
    ("column", "cell"),
    [
        ("clusters", HUGE),
        ("count", "2147483648"),
        ("count", "9" * 5000),
        ("blood_volume_ml", "1e400"),
    ],
)
def test_other_numbers_no_column_stores_reject_the_ctc_file(
    project, tmp_path, column, cell
):
    register(project, "P1")
    cells = {"count": "3"} | {column: cell}
    header = ",".join(["patient_id", "draw_date", *cells])
    path = write(
        tmp_path, "ctc.csv", f"{header}\nP1,2020-01-01,{','.join(cells.values())}\n"
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field) for p in problems] == [(2, column)]
    assert CTCCount.objects.count() == 0


def test_a_count_per_7_5_ml_scaled_beyond_the_column_rejects_the_file(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        "patient_id,draw_date,ctc_count_per_7_5ml,blood_volume_ml\n"
        "P1,2020-01-01,2000000000,15\n",
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.field, p.message) for p in problems] == [
        ("ctc_count_per_7_5ml", LARGEST)
    ]


@pytest.mark.parametrize("column", ["alt_reads", "depth"])
def test_huge_reads_reject_the_cfdna_row_and_keep_the_others(project, tmp_path, column):
    register(project, "P1")
    reads = {"alt_reads": "5", "depth": "100"} | {column: HUGE}
    path = write(
        tmp_path,
        "cfdna.csv",
        CFDNA
        + f"P1,2020-01-01,EGFR,p.T790M,{reads['alt_reads']},{reads['depth']},\n"
        + "P1,2020-01-01,KRAS,p.G12D,5,100,\n",
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field, p.value) for p in report.rejected] == [(2, column, HUGE)]
    assert "this field stores (2147483647)" in report.rejected[0].message
    assert list(VariantResult.objects.values_list("gene", flat=True)) == ["KRAS"]


def test_huge_maf_read_counts_reject_their_row(project, tmp_path):
    path = write(
        tmp_path,
        "huge.maf",
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\t"
        "Reference_Allele\tTumor_Seq_Allele2\tt_alt_count\tt_depth\n"
        f"KRAS\tP1\t12\t25398284\tC\tT\t{HUGE}\t{HUGE}\n"
        "TP53\tP1\t17\t7578263\tG\tA\t5\t100\n",
    )

    report = import_maf(path, project, drawn_on="2020-01-15", create_patients=True)

    assert {(p.row, p.field) for p in report.rejected} == {
        (2, "t_alt_count"),
        (2, "t_depth"),
    }
    assert list(VariantResult.objects.values_list("gene", flat=True)) == ["TP53"]


def test_huge_vcf_allele_depths_reject_their_record(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "huge.vcf",
        "##fileformat=VCFv4.2\n"
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="depths">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        f"12\t25398284\t.\tC\tT\t.\tPASS\t.\tAD\t{HUGE},5\n"
        "17\t7578263\t.\tG\tA\t.\tPASS\t.\tAD\t95,5\n",
    )

    report = import_vcf(path, project, patient_id="P1", drawn_on="2020-01-15")

    assert [(p.row, p.field) for p in report.rejected] == [(4, "FORMAT/AD")]
    assert VariantResult.objects.count() == 1


def test_a_rejected_file_claims_no_record_its_transaction_rolled_back(
    project, tmp_path
):
    register(project, "P1", "P2")
    stored = write(
        tmp_path, "first.csv", "patient_id,draw_date,count\nP1,2020-01-01,3\n"
    )
    import_ctc(stored, project)
    # P2's row is stored before P1's conflicting count rejects the file:
    path = write(
        tmp_path,
        "second.csv",
        "patient_id,draw_date,count\nP2,2020-01-01,4\nP1,2020-01-01,5\n",
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field) for p in problems] == [(3, "count")]
    run = ImportRun.objects.get(source_name="second.csv")
    assert run.status == ImportRun.Status.FAILED
    assert run.summary["created"] == {}
    assert run.summary["rows_imported"] == 0
    assert CTCCount.objects.count() == 1


# Control characters in text cells:


@pytest.mark.parametrize(
    ("character", "words"), [("\x00", "NUL character"), ("\x07", "U+0007")]
)
def test_a_control_character_in_a_ctc_cell_rejects_the_file(
    project, tmp_path, character, words
):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        "patient_id,draw_date,count,timepoint\n"
        f"P1,2020-01-01,3,base{character}line\nP1,2020-02-01,3,C2D1\n",
    )
    before = stored_state()

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "timepoint", "control-character")
    ]
    assert words in problems[0].message
    assert stored_state() == before
    assert only_run().summary["created"] == {}


def test_a_tab_inside_a_quoted_cell_is_kept(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        'patient_id,draw_date,count,timepoint\nP1,2020-01-01,3,"C2\tD1"\n',
    )

    import_ctc(path, project)

    assert BloodSample.objects.get().timepoint == "C2\tD1"


def test_a_nul_in_a_cfdna_or_clinical_cell_rejects_the_file(project, tmp_path):
    register(project, "P1")
    cfdna = write(
        tmp_path, "cfdna.csv", CFDNA + "P1,2020-01-01,EGFR,p.T790M,5,100,base\x00\n"
    )
    clinical = write(
        tmp_path, "patients.csv", "patient_id,histology\nP9,adeno\x00carcinoma\n"
    )

    for call, field in [
        (lambda: import_cfdna(cfdna, project), "timepoint"),
        (lambda: import_clinical(clinical, project, kind=PATIENTS), "histology"),
    ]:
        problems = rejection(call)
        assert [(p.row, p.field) for p in problems] == [(2, field)]
    assert VariantResult.objects.count() == 0


def test_a_nul_in_a_maf_cell_rejects_the_file_naming_its_column(project, tmp_path):
    path = write(
        tmp_path,
        "nul.maf",
        "#version 2.4\n"
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\t"
        "Reference_Allele\tTumor_Seq_Allele2\tProtein_Change\n"
        "KRAS\tP1\t12\t25398284\tC\tT\tp.G12\x00D\n",
    )

    problems = rejection(
        lambda: import_maf(path, project, drawn_on="2020-01-15", create_patients=True)
    )

    assert [(p.row, p.field) for p in problems] == [(3, "Protein_Change")]


def test_a_text_longer_than_its_field_rejects_the_ctc_file(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        f"patient_id,draw_date,count,tube_type\nP1,2020-01-01,3,{'x' * 61}\n",
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.field, p.message) for p in problems] == [
        ("tube_type", "is longer than 60 characters.")
    ]


# Draw times that are no times:


@pytest.mark.parametrize(
    "moment", ["2024-08-06T25:00:00Z", "2024-08-06T99:99:99Z", "2024-08-06 garbage"]
)
def test_a_malformed_draw_time_rejects_the_row_naming_drawn_at(
    project, tmp_path, moment
):
    register(project, "P1")
    ctc = write(tmp_path, "ctc.csv", f"patient_id,drawn_at,count\nP1,{moment},3\n")
    cfdna = write(
        tmp_path,
        "cfdna.csv",
        f"patient_id,drawn_at,gene,protein_change\nP1,{moment},EGFR,p.T790M\n",
    )

    problems = rejection(lambda: import_ctc(ctc, project))
    report = import_cfdna(cfdna, project)

    for found in (problems, report.rejected):
        assert [(p.row, p.field, p.code) for p in found] == [
            (2, "drawn_at", "invalid-time")
        ]
    assert BloodSample.objects.count() == 0


def test_a_date_alone_is_a_draw_whose_time_is_unknown(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        "patient_id,drawn_at,count\nP1,2024-08-06,3\nP1,2024-08-07T09:30:00Z,4\n",
    )

    import_ctc(path, project)

    samples = BloodSample.objects.order_by("drawn_at")
    assert [(s.drawn_on, s.is_time_known) for s in samples] == [
        (dt.date(2024, 8, 6), False),
        (dt.date(2024, 8, 7), True),
    ]


def test_a_malformed_time_in_a_clinical_date_rejects_the_file(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "treatments.csv",
        "patient_id,kind,start_date\nP1,chemotherapy,2024-08-06 garbage\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.row, p.field) for p in problems] == [(2, "start_date")]


# Implausible dates:


@pytest.mark.parametrize("day", ["0001-01-01", "1850-01-01", "1879-12-31"])
def test_a_draw_before_1880_is_refused_by_every_lab_importer(project, tmp_path, day):
    register(project, "P1")
    ctc = write(tmp_path, "ctc.csv", f"patient_id,draw_date,count\nP1,{day},3\n")
    maf = write(
        tmp_path,
        "one.maf",
        "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\t"
        "Reference_Allele\tTumor_Seq_Allele2\nKRAS\tP1\t12\t25398284\tC\tT\n",
    )

    problems = rejection(lambda: import_ctc(ctc, project))
    option = rejection(lambda: import_maf(maf, project, drawn_on=day))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "draw_date", "implausible-date")
    ]
    assert "lies before 1880-01-01" in problems[0].message
    assert [(p.field, p.code) for p in option] == [("drawn_on", "implausible-date")]


def test_a_draw_in_1880_is_accepted(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, "ctc.csv", "patient_id,draw_date,count\nP1,1880-01-01,3\n")

    import_ctc(path, project)

    assert CTCCount.objects.count() == 1


def test_a_draw_before_the_patients_birth_year_is_refused(project, tmp_path):
    register(project, "P1")
    born = patient(project, "P1")
    born.birth_year = 1960
    born.save()
    ctc = write(
        tmp_path,
        "ctc.csv",
        "patient_id,draw_date,count\nP1,1901-05-01,3\nP1,1960-05-01,3\n",
    )
    cfdna = write(
        tmp_path,
        "cfdna.csv",
        CFDNA + "P1,1901-05-01,EGFR,p.T790M,,,\nP1,1960-05-01,EGFR,p.T790M,,,\n",
    )

    problems = rejection(lambda: import_ctc(ctc, project))
    report = import_cfdna(cfdna, project)

    for found in (problems, report.rejected):
        assert [(p.row, p.field, p.code) for p in found] == [
            (2, "draw_date", "draw-before-birth")
        ]
    assert BloodSample.objects.get().drawn_on == dt.date(1960, 5, 1)


def test_a_clinical_date_before_1880_is_refused(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "treatments.csv",
        "patient_id,kind,start_date\nP1,surgery,1850-01-01\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.field, p.code) for p in problems] == [("start_date", "implausible-date")]


# Percent VAFs, converted in decimal:


def test_a_percent_vaf_is_exactly_the_float_of_its_fraction(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "cfdna.csv",
        "patient_id,draw_date,gene,protein_change,vaf\n"
        "P1,2020-01-01,EGFR,p.T790M,5.2%\nP1,2020-01-01,KRAS,p.G12D,45.66%\n",
    )

    import_cfdna(path, project)

    assert sorted(VariantResult.objects.values_list("vaf", flat=True)) == [
        0.052,
        0.4566,
    ]
    assert VariantResult.objects.filter(vaf__lte=0.052).count() == 1


@pytest.mark.parametrize("text", ["5.2", "45.66", "0.1", "33.3", "100", "0"])
def test_check_fraction_of_a_percent_is_the_decimal_quotient(text):
    expected = float(Decimal(text) / 100)

    assert check_fraction(Decimal(text), PERCENT) == expected
    assert check_fraction(float(text), PERCENT) == expected


def test_every_laml_vaf_is_the_decimal_quotient_of_its_percent(project):
    path = shared_path("genomics_maf_maftools", "tcga_laml.maf.gz")
    rows = maf_rows(path)

    import_maf(path, project, drawn_on="2020-01-15", create_patients=True)

    expected = sorted(
        float(Decimal(row["i_TumorVAF_WU"]) / 100)
        for row in rows
        if row["i_TumorVAF_WU"] not in ("NA", "") and Decimal(row["i_TumorVAF_WU"])
    )
    stored = sorted(
        VariantResult.objects.exclude(vaf=None).values_list("vaf", flat=True)
    )
    assert len(expected) > 2000
    assert stored == expected


def test_a_percent_vcf_freq_is_the_decimal_quotient(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "freq.vcf",
        "##fileformat=VCFv4.2\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tTUMOR\n"
        "17\t7578263\t.\tG\tA\t.\tPASS\t.\tFREQ\t5.2%\n",
    )

    import_vcf(path, project, patient_id="P1", drawn_on="2020-01-15")

    assert VariantResult.objects.get().vaf == 0.052


# Headers and messages that help:


@pytest.mark.parametrize(
    ("header", "hint"),
    [
        (" Patient_ID ,draw_date,count", "'Patient_ID', which differs only in case"),
        ("Patient ID,draw_date,count", "'Patient ID', which differs only in case"),
        ("patient_id;draw_date;count", "separated by ';'"),
    ],
)
def test_a_near_miss_header_gets_a_hint(project, tmp_path, header, hint):
    path = write(tmp_path, "ctc.csv", f"{header}\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert problems[0].field == "patient_id"
    assert hint in problems[0].message


def test_a_capitalised_count_column_gets_a_hint(project, tmp_path):
    path = write(tmp_path, "ctc.csv", "patient_id,draw_date,Count\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [p.field for p in problems] == ["count"]
    assert "'Count'" in problems[0].message


def test_an_unknown_patient_is_listed_with_the_other_problems(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "treatments.csv",
        "patient_id,kind,start_date\nP1,magic,2020-01-01\nP404,surgery,2020-01-01\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.row, p.field) for p in problems] == [(2, "kind"), (3, "patient_id")]
    assert problems[1].code == "unknown-patient"


def test_a_serial_draw_date_explains_itself_on_the_console(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, "ctc.csv", "patient_id,draw_date,count\nP1,44291,3\n")

    with pytest.raises(CommandError) as caught:
        call_command("import_ctc", str(path), "--project", project.code)

    assert (
        "row 2, field draw_date: is required; this value looks like a spreadsheet"
        in str(caught.value)
    )
    assert "warning: ctc.csv, row 2, field draw_date" in str(caught.value)


def test_a_gzipped_maf_with_a_nul_is_rejected_too(project, tmp_path):
    path = tmp_path / "nul.maf.gz"
    path.write_bytes(
        gzip.compress(
            b"Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position\t"
            b"Reference_Allele\tTumor_Seq_Allele2\nKR\x00AS\tP1\t12\t1\tC\tT\n"
        )
    )

    problems = rejection(
        lambda: import_maf(path, project, drawn_on="2020-01-15", create_patients=True)
    )

    assert [(p.row, p.field) for p in problems] == [(2, "Hugo_Symbol")]


# The API applies the same rules:


@pytest.fixture
def curator_api(curator) -> APIClient:
    client = APIClient()
    client.force_authenticate(curator)
    return client


@pytest.fixture
def sample(project) -> BloodSample:
    register(project, "P1")
    drawn_at = dt.datetime(2020, 1, 1, 9, tzinfo=dt.UTC)
    return find_or_create_sample(patient(project, "P1"), drawn_at, True, "")[0]


def test_the_api_refuses_a_draw_before_1880_with_the_importers_message(
    curator_api, project, tmp_path
):
    register(project, "P1")
    path = write(tmp_path, "ctc.csv", "patient_id,draw_date,count\nP1,1850-01-01,3\n")
    (expected,) = rejection(lambda: import_ctc(path, project))

    response = curator_api.post(
        "/api/blood-samples/",
        {"patient": patient(project, "P1").pk, "drawn_at": "1850-01-01T09:00:00Z"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"drawn_at": [expected.message]}


def test_the_api_refuses_a_huge_count_as_a_400(curator_api, sample):
    response = curator_api.post(
        "/api/ctc-counts/",
        {"sample": sample.pk, "platform": "Other", "count": int(HUGE)},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["count"]


def test_the_api_refuses_a_nul_in_a_text_field_as_a_400(curator_api, sample):
    response = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/", {"timepoint": "base\x00"}, format="json"
    )

    assert response.status_code == 400
    assert list(response.json()) == ["timepoint"]
