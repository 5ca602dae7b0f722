"""File names of table imports are screened for the patients' identifiers they hold.

An export names its files after the patient (MRN0048213_tumor.vcf); the name, and the
messages quoting it, must not carry the identifier into the command's output, the log,
ImportRun.source_name, DataIssue.source_name or a record's history (docs/clinical_imports.md).
"""

from __future__ import annotations

import html
import json
import logging
import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from biobank.core.importing import ImportRejected, Problem, SourceScreen
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.maf import import_maf
from patients.importers.clinical import import_clinical
from patients.models import DataIssue, ImportRun, Patient
from radiomics.importers.pyradiomics_csv import import_pyradiomics
from tests.conftest import grant, shared_path
from tests.liquidbiopsy.conftest import register, write
from tests.radiomics.test_pyradiomics_csv import row, write_table

DRAWN_ON = "2021-06-01"


def stored_texts() -> str:
    """Every text an import run left: its runs, their summaries and issues."""
    runs = ImportRun.objects.values_list("source_name", "summary")
    issues = DataIssue.objects.values_list("source_name", "message", "value")
    return json.dumps([list(runs), list(issues)])


def assert_screened(*texts: str, identifiers: tuple[str, ...]) -> None:
    for text in (*texts, stored_texts()):
        for identifier in identifiers:
            assert identifier.casefold() not in text.casefold(), text


def refusal(command: str, path, project, **options) -> str:
    """Run an import command that must reject its file; return what it says."""
    with pytest.raises(CommandError) as error:
        call_command(command, str(path), project=project.code, **options)
    return str(error.value)


def test_the_screen_replaces_whole_tokens_and_long_digit_runs():
    screen = SourceScreen(["MRN0048213", "SYN-0071", "7", "MRN0048213_T"])

    assert screen.redact("MRN0048213_tumor.vcf") == "[redacted]_tumor.vcf"
    assert screen.redact("ctc_syn-0071_x.csv") == "ctc_[redacted]_x.csv"
    assert screen.redact("MRN0048213_T.vcf") == "[redacted].vcf"
    # The digits of an ID, alone, from five on:
    assert screen.redact("0048213.csv") == "[redacted].csv"
    # A short ID only where it stands alone:
    assert screen.redact("ct7_7.csv") == "ct7_[redacted].csv"
    assert SourceScreen().redact("MRN0048213.vcf") == "MRN0048213.vcf"


def test_a_short_numeric_id_is_screened_in_file_names_not_in_messages():
    screen = SourceScreen(["12", "SYN-0071"])
    problem = Problem(
        "ctc_12.csv", "is in the future (today is 2026-12-05).", row=12, value="12"
    )

    screened = screen.redact_problem(problem)

    assert screened.source == "ctc_[redacted].csv"
    assert screened.message == "is in the future (today is 2026-12-05)."
    assert screened.value == "12"
    assert screen.redact_problem(Problem("x.csv", "SYN-0071 again")).message == (
        "[redacted] again"
    )


def test_vcf_named_after_its_patient_and_sample(project, tmp_path, capsys, caplog):
    source = shared_path("genomics_vcf_somatic", "test_varscan.vcf")
    text = source.read_text(encoding="utf-8").replace(
        "\tNORMAL\tTUMOR\n", "\tMRN0048213_N\tMRN0048213_T\n"
    )
    path = write(tmp_path, "MRN0048213_tumor.vcf", text)
    register(project, "MRN0048213")

    with caplog.at_level(logging.INFO):
        call_command(
            "import_vcf",
            str(path),
            project=project.code,
            patient="MRN0048213",
            sample="MRN0048213_T",
            drawn_on=DRAWN_ON,
        )

    output = capsys.readouterr().out
    assert "[redacted]_tumor.vcf:" in output
    assert ImportRun.objects.get().source_name == "[redacted]_tumor.vcf"
    assert_screened(output, caplog.text, identifiers=("MRN0048213", "0048213"))


def test_a_rejected_vcf_is_screened_in_its_error_and_issues(project, tmp_path):
    path = shutil.copy(
        shared_path("genomics_vcf_somatic", "test.vcf"), tmp_path / "MRN0048213.vcf"
    )

    # The patient is unknown, so the file is rejected:
    said = refusal("import_vcf", path, project, patient="MRN0048213", drawn_on=DRAWN_ON)

    assert "[redacted].vcf" in said
    assert DataIssue.objects.get().source_name == "[redacted].vcf"
    assert_screened(said, identifiers=("MRN0048213",))


def test_ctc_named_after_the_patients_of_its_rows(project, tmp_path, capsys, caplog):
    path = write(
        tmp_path,
        "ctc_SYN-0071_SYN-0072.csv",
        "patient_id,draw_date,count\nSYN-0071,2023-05-22,3\nSYN-0072,2023-05-22,4\n",
    )
    register(project, "SYN-0071", "SYN-0072")

    with caplog.at_level(logging.INFO):
        call_command("import_ctc", str(path), project=project.code)

    output = capsys.readouterr().out
    assert ImportRun.objects.get().source_name == "ctc_[redacted]_[redacted].csv"
    assert "ctc_[redacted]_[redacted].csv: 2 rows imported" in output
    assert_screened(output, caplog.text, identifiers=("SYN-0071", "SYN-0072"))


def test_a_rejected_ctc_table_is_screened_in_its_error_and_issues(project, tmp_path):
    # A bad count rejects the file before SYN-0072 is looked up:
    path = write(
        tmp_path,
        "ctc_SYN-0071_SYN-0072.csv",
        "patient_id,draw_date,count\nSYN-0071,2023-05-22,many\nSYN-0072,2023-05-22,4\n",
    )

    said = refusal("import_ctc", path, project)

    assert "ctc_[redacted]_[redacted].csv, row 2" in said
    assert {issue.source_name for issue in DataIssue.objects.all()} == {
        "ctc_[redacted]_[redacted].csv"
    }
    assert_screened(said, identifiers=("SYN-0071", "SYN-0072"))


def test_cfdna_named_after_its_patient(project, tmp_path):
    path = write(
        tmp_path,
        "SYN-0081 cfdna.csv",
        "patient_id,draw_date,gene,protein_change,vaf\n"
        "SYN-0081,2022-01-03,EGFR,p.T790M,0.5\n"
        "SYN-0081,2022-01-03,EGFR,p.L858R,2.5\n",
    )
    register(project, "SYN-0081")

    # A VAF above 1 without a unit rejects the file:
    with pytest.raises(ImportRejected) as error:
        import_cfdna(path, project)

    assert ImportRun.objects.get().source_name == "[redacted] cfdna.csv"
    assert DataIssue.objects.get().source_name == "[redacted] cfdna.csv"
    assert_screened(str(error.value), identifiers=("SYN-0081",))


def test_maf_named_after_the_barcodes_it_holds(project, tmp_path):
    path = write(
        tmp_path,
        "TCGA-AB-2802.maf",
        "Hugo_Symbol\tChromosome\tStart_Position\tReference_Allele\t"
        "Tumor_Seq_Allele2\tTumor_Sample_Barcode\n"
        "EGFR\t7\t55249071\tC\tT\tTCGA-AB-2802\n",
    )

    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)

    assert report.rows_imported == 1
    assert ImportRun.objects.get().source_name == "[redacted].maf"
    assert_screened(report.summary(), identifiers=("TCGA-AB-2802",))


def test_clinical_table_named_after_its_patient(project, tmp_path, caplog):
    header = "patient_id,sex,birth_year,histology\n"
    first = write(tmp_path, "SYN-0101.csv", header + "SYN-0101,F,1960,\n")
    path = write(
        tmp_path, "patients_SYN-0101.csv", header + "SYN-0101,F,1960,adenocarcinoma\n"
    )
    import_clinical(first, project)

    with caplog.at_level(logging.INFO):
        report = import_clinical(path, project, update=True)

    # The history of the record the file filled in names the file screened:
    reason = Patient.objects.get().history.first().history_change_reason
    assert reason == "import_clinical patients_[redacted].csv row 2"
    assert ImportRun.objects.order_by("pk").last().source_name == (
        "patients_[redacted].csv"
    )
    assert_screened(report.summary(), caplog.text, reason, identifiers=("SYN-0101",))


def test_a_rejected_clinical_table_is_screened_in_its_issues(project, tmp_path):
    path = write(
        tmp_path,
        "SYN-0102.csv",
        "patient_id,sex,birth_year,histology\nSYN-0102,F,nineteen,adenocarcinoma\n",
    )

    said = refusal("import_clinical", path, project)

    assert DataIssue.objects.get().source_name == "[redacted].csv"
    assert_screened(said, identifiers=("SYN-0102",))


def test_pyradiomics_table_named_after_its_case(project, tmp_path):
    path = write_table(
        tmp_path,
        [row("SYN-0131", 1.5)],
        ["original_firstorder_Mean"],
        name="SYN-0131_features.csv",
    )

    report = import_pyradiomics(path, project, create_patients=True)

    assert ImportRun.objects.get().source_name == "[redacted]_features.csv"
    assert_screened(report.summary(), identifiers=("SYN-0131",))


def test_an_upload_named_after_its_patients_is_screened(
    client, django_user_model, project
):
    staff = django_user_model.objects.create_user("staffer", is_staff=True)
    grant(staff, project, "curator")
    client.force_login(staff)
    content = b"patient_id,draw_date,count\nSYN-0201,2023-05-22,3\n"

    response = client.post(
        "/admin/imports/upload/",
        {
            "project": project.pk,
            "kind": "ctc",
            "create_patients": "on",
            "file": SimpleUploadedFile("ctc_SYN-0201.csv", content),
        },
    )
    page = html.unescape(client.get(response.url).content.decode())

    assert ImportRun.objects.get().source_name == "ctc_[redacted].csv"
    assert "ctc_[redacted].csv" in page
    assert_screened(page, identifiers=("SYN-0201",))
