from __future__ import annotations

import csv
import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.models import BloodSample, CTCCount
from patients.models import DataIssue, ImportRun, Patient, Project
from tests.conftest import case_path
from tests.liquidbiopsy.conftest import (
    patient,
    register,
    rejection,
    stored_state,
    write,
)

HEADER = "patient_id,draw_date,count\n"


# Case 07: the same CTC batch imported twice.


def test_the_ctc_batch_imported_twice_holds_three_counts_and_skips_three_duplicates(
    project, patients_of_case
):
    path = case_path("07-dicom-duplicate-uid-reimport", "d_ctc_batch.csv")
    patients_of_case(path)

    first = import_ctc(path, project)
    second = import_ctc(path, project)

    assert CTCCount.objects.count() == 3
    assert first.rows_imported == 3
    assert second.rows_imported == 0
    assert second.duplicates == 3
    assert "3 duplicates skipped" in second.summary()


def test_the_ctc_batch_stores_the_counts_of_its_rows(project, patients_of_case):
    path = case_path("07-dicom-duplicate-uid-reimport", "d_ctc_batch.csv")
    patients_of_case(path)
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))

    import_ctc(path, project)

    for row in rows:
        count = CTCCount.objects.get(
            sample__patient=patient(project, row["patient_id"])
        )
        assert count.count == int(row["ctc_count_per_7_5ml"])
        assert count.count_per_7_5ml == float(row["ctc_count_per_7_5ml"])
        assert count.platform == row["assay"]
        assert count.sample.drawn_on == dt.date.fromisoformat(row["draw_date"])
        assert count.sample.is_time_known is False


def test_the_second_import_of_the_batch_is_recorded_as_a_run_without_issues(
    project, patients_of_case
):
    path = case_path("07-dicom-duplicate-uid-reimport", "d_ctc_batch.csv")
    patients_of_case(path)

    import_ctc(path, project)
    import_ctc(path, project)

    runs = ImportRun.objects.filter(importer="ctc").order_by("pk")
    assert [run.status for run in runs] == ["done", "done"]
    assert runs[1].summary["duplicates"] == 3
    assert DataIssue.objects.filter(severity="error").count() == 0


def test_a_different_count_for_a_stored_draw_is_a_conflict_never_an_overwrite(
    project, tmp_path
):
    register(project, "P1")
    import_ctc(write(tmp_path, "a.csv", HEADER + "P1,2023-05-22,3\n"), project)
    before = stored_state()

    problems = rejection(
        lambda: import_ctc(
            write(tmp_path, "b.csv", HEADER + "P1,2023-05-22,5\n"), project
        )
    )

    assert (problems[0].source, problems[0].row, problems[0].field) == (
        "b.csv",
        2,
        "count",
    )
    assert "never overwritten" in problems[0].message
    assert stored_state() == before
    assert CTCCount.objects.get().count == 3


@pytest.mark.parametrize("second", [" CELLSEARCH ", "Cell Search", "cell-search"])
def test_a_known_platform_is_stored_in_one_spelling_whatever_its_case(
    project, tmp_path, second
):
    register(project, "P1")
    text = "patient_id,draw_date,count,platform\n"
    import_ctc(write(tmp_path, "a.csv", text + "P1,2023-05-22,3,cellsearch\n"), project)

    again = import_ctc(
        write(tmp_path, "b.csv", text + f"P1,2023-05-22,3,{second}\n"), project
    )

    assert CTCCount.objects.get().platform == "CellSearch"
    assert again.duplicates == 1


def test_a_platform_close_to_a_known_one_rejects_the_file_naming_it(project, tmp_path):
    register(project, "P1")
    text = "patient_id,draw_date,count,platform\n"
    path = write(tmp_path, "ctc.csv", text + "P1,2023-05-22,3,CelSearch\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.value) for p in problems] == [
        (2, "platform", "CelSearch")
    ]
    assert "did you mean CellSearch?" in problems[0].message
    assert CTCCount.objects.count() == 0


@pytest.mark.parametrize("platform", ["cellsearch", "acme CHIP"])
def test_a_count_on_a_stored_platform_in_another_case_is_a_conflict(
    project, tmp_path, platform
):
    register(project, "P1")
    text = "patient_id,draw_date,count,platform\n"
    first = platform.upper() if platform == "acme CHIP" else "CellSearch"
    import_ctc(write(tmp_path, "a.csv", text + f"P1,2023-05-22,7,{first}\n"), project)

    problems = rejection(
        lambda: import_ctc(
            write(tmp_path, "b.csv", text + f"P1,2023-05-22,3,{platform}\n"), project
        )
    )

    assert [(p.row, p.field) for p in problems] == [(2, "count")]
    assert "never overwritten" in problems[0].message
    assert CTCCount.objects.get().count == 7


def test_a_ctc_file_is_imported_whole_or_not_at_all(project, tmp_path):
    register(project, "P1", "P2")
    path = write(tmp_path, "ctc.csv", HEADER + "P1,2023-05-22,3\nP2,2023-05-23,many\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.value) for p in problems] == [(3, "count", "many")]
    assert BloodSample.objects.count() == 0
    assert ImportRun.objects.get().status == "failed"
    assert DataIssue.objects.get().field == "count"


def test_an_unknown_patient_rejects_the_ctc_file_naming_row_and_field(
    project, tmp_path
):
    path = write(tmp_path, "ctc.csv", HEADER + "NOBODY,2023-05-22,3\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.source, p.row, p.field) for p in problems] == [
        ("ctc.csv", 2, "patient_id")
    ]
    assert "NOBODY" not in str(problems[0])
    assert Patient.objects.count() == 0


@pytest.mark.parametrize(
    "header, cells",
    [
        ("count,blood_volume_ml", "3,7500"),
        # A count per 7.5 mL is not scaled to the refused volume: one problem only.
        ("ctc_count_per_7_5ml,blood_volume_ml", "3,7500"),
        ("count,volume_ml", "3,7500"),
        ("count,blood_volume_ml", "3,100.5"),
    ],
)
def test_a_blood_volume_above_100_ml_rejects_the_ctc_file_naming_row_and_field(
    project, tmp_path, header, cells
):
    register(project, "P1", "P2")
    rows = f"P1,2023-05-22,3,7.5\nP2,2023-05-23,{cells}\n"
    path = write(tmp_path, "ctc.csv", f"patient_id,draw_date,{header}\n{rows}")

    problems = rejection(lambda: import_ctc(path, project))

    volume = cells.split(",")[1]
    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("ctc.csv", 3, "blood_volume_ml", volume)
    ]
    assert problems[0].message == (
        "must not exceed 100 mL, more than any draw holds; give the volume counted "
        "in mL."
    )
    assert BloodSample.objects.count() == 0
    assert DataIssue.objects.get().field == "blood_volume_ml"


def test_a_blood_volume_of_100_ml_is_stored(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        "patient_id,draw_date,count,blood_volume_ml\nP1,2023-05-22,40,100\n",
    )

    import_ctc(path, project)

    assert CTCCount.objects.values_list("blood_volume_ml", "count_per_7_5ml").get() == (
        100,
        3,
    )


def test_create_patients_imports_rows_of_unknown_patients(project, tmp_path):
    path = write(tmp_path, "ctc.csv", HEADER + "NEW-1,2023-05-22,3\n")

    import_ctc(path, project, create_patients=True)

    assert CTCCount.objects.get().sample.patient == patient(project, "NEW-1")


def test_a_future_draw_date_rejects_the_ctc_file_naming_row_and_field(
    project, tmp_path
):
    register(project, "P1")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    path = write(tmp_path, "ctc.csv", HEADER + f"P1,{tomorrow},3\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "draw_date", "future-date")
    ]


def test_a_missing_count_column_rejects_the_ctc_file(project, tmp_path):
    path = write(tmp_path, "ctc.csv", "patient_id,draw_date\nP1,2023-05-22\n")

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field) for p in problems] == [(1, "count")]


def test_optional_ctc_columns_are_stored_with_the_count(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "ctc.csv",
        "patient_id,drawn_at,count,platform,enrichment,blood_volume_ml,clusters,timepoint,tube_type,sample_id\n"
        "P1,2023-05-22T09:30:00,6,Parsortix,size-filtration,10,2,C2D1,Streck,S-9\n",
    )

    import_ctc(path, project)

    count = CTCCount.objects.get()
    assert (count.platform, count.enrichment, count.blood_volume_ml) == (
        "Parsortix",
        "size-filtration",
        10,
    )
    assert (count.count, count.count_per_7_5ml, count.clusters) == (6, 4.5, 2)
    sample = count.sample
    assert (sample.timepoint, sample.tube_type, sample.external_sample_id) == (
        "C2D1",
        "Streck",
        "S-9",
    )
    assert sample.is_time_known is True
    assert sample.drawn_at.hour == 9


def test_the_ctc_command_prints_duplicates_skipped(project, patients_of_case, capsys):
    path = case_path("07-dicom-duplicate-uid-reimport", "d_ctc_batch.csv")
    patients_of_case(path)

    call_command("import_ctc", str(path), project=project.code)
    call_command("import_ctc", str(path), project=project.code)

    assert "3 duplicates skipped" in capsys.readouterr().out


def test_the_ctc_command_reports_a_rejected_file_as_an_error(project, tmp_path):
    path = write(tmp_path, "ctc.csv", HEADER + "NOBODY,2023-05-22,3\n")

    with pytest.raises(CommandError, match="row 2, field patient_id"):
        call_command("import_ctc", str(path), project=project.code)


@pytest.mark.parametrize("options", [[], ["--create-patients"]])
def test_a_lab_import_into_an_unknown_project_names_the_project_once(
    project, tmp_path, options
):
    path = write(tmp_path, "ctc.csv", HEADER + "P-1,2023-05-22,3\nP-2,2023-05-23,4\n")

    with pytest.raises(CommandError) as refused:
        call_command("import_ctc", str(path), "--project", "nosuchproj", *options)

    assert str(refused.value).startswith(
        "No project has the code 'nosuchproj'; nothing was imported."
    )
    assert "names no patient" not in str(refused.value)
    # Also with --create-patients, which creates patients but no project:
    assert "(import_clinical) or a DICOM ingest" in str(refused.value)
    assert not ImportRun.objects.exists()
    assert not Project.objects.filter(code="nosuchproj").exists()


def test_a_rejected_file_prints_its_first_problems_and_counts_the_rest(
    project, tmp_path
):
    rows = "".join(f"P-{n},2023-05-22,many\n" for n in range(60))
    path = write(tmp_path, "ctc.csv", HEADER + rows)

    with pytest.raises(CommandError) as refused:
        call_command(
            "import_ctc", str(path), "--project", project.code, "--create-patients"
        )

    printed = str(refused.value).splitlines()
    assert printed[0] == "File rejected; nothing was stored."
    assert len([line for line in printed if "field count" in line]) == 50
    assert printed[-1] == (
        "  ... 10 more rejected, not printed; the import run's issues in the admin "
        "list them."
    )
