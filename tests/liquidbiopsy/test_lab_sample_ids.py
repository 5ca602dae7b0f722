"""A lab sample ID names one tube: two draws of a project carrying it are refused."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from biobank.core.importing import Problem
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.models import BloodSample, CTCCount, VariantResult
from liquidbiopsy.services import SampleIdTaken, find_or_create_sample
from patients.models import DataIssue, ImportRun, Project
from patients.services import pseudonymise
from tests.conftest import shared_path
from tests.liquidbiopsy.conftest import (
    patient,
    register,
    rejection,
    stored_state,
    write,
)

CTC = "patient_id,draw_date,sample_id,count\n"
CFDNA = "patient_id,draw_date,sample_id,gene,protein_change,vaf\n"


def assert_names_the_other_draw(problem: Problem, other: BloodSample) -> None:
    """The problem names the other draw by pseudonym and day, never a source ID."""
    assert other.patient.pseudonym in problem.message
    assert other.drawn_on.isoformat() in problem.message
    assert "names one tube" in problem.message
    assert "P1" not in problem.message and "P2" not in problem.message


def test_a_ctc_file_giving_a_stored_draws_lab_id_to_another_draw_is_rejected_whole(
    project, tmp_path
):
    register(project, "P1", "P2")
    import_ctc(write(tmp_path, "a.csv", CTC + "P1,2023-05-22,LB-1,3\n"), project)
    before = stored_state()
    path = write(
        tmp_path, "b.csv", CTC + "P1,2023-05-23,LB-2,4\nP2,2023-06-01,LB-1,5\n"
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("b.csv", 3, "sample_id", "LB-1")
    ]
    assert_names_the_other_draw(problems[0], BloodSample.objects.get())
    assert stored_state() == before
    assert DataIssue.objects.get(import_run__status="failed").field == "sample_id"


def test_two_draws_of_one_ctc_file_with_one_lab_id_reject_it(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path, "a.csv", CTC + "P1,2023-05-22,LB-1,3\nP1,2023-07-01,LB-1,4\n"
    )

    problems = rejection(lambda: import_ctc(path, project))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (3, "sample_id", "sample-id-taken")
    ]
    assert BloodSample.objects.count() == 0
    # Named by its row: the draw of row 2 was not kept, nor its id and pseudonym.
    assert problems[0].message.startswith(
        "is the lab sample ID of the draw of row 2 of this file, of another patient"
    )
    assert "blood sample" not in problems[0].message


def test_a_ctc_file_imported_again_is_a_duplicate_not_a_taken_lab_id(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, "a.csv", CTC + "P1,2023-05-22,LB-1,3\n")
    import_ctc(path, project)

    again = import_ctc(path, project)

    assert (again.duplicates, again.rejected) == (1, [])
    assert CTCCount.objects.count() == 1


def test_the_same_lab_id_in_another_project_is_no_conflict(project, tmp_path):
    other = Project.objects.create(code="other", name="Other")
    register(project, "P1")
    register(other, "P1")
    path = write(tmp_path, "a.csv", CTC + "P1,2023-05-22,LB-1,3\n")
    import_ctc(path, project)

    report = import_ctc(write(tmp_path, "b.csv", CTC + "P1,2023-06-22,LB-1,3\n"), other)

    assert report.rows_imported == 1
    assert BloodSample.objects.filter(external_sample_id="LB-1").count() == 2


def test_a_cfdna_row_giving_another_draws_lab_id_is_rejected_alone(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        CFDNA
        + "P1,2022-01-03,LB-7,EGFR,p.T790M,0.1\n"
        + "P2,2022-02-03,LB-7,KRAS,p.G12C,0.2\n"
        + "P2,2022-02-03,LB-8,KRAS,p.G12D,0.2\n",
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field, p.value) for p in report.rejected] == [
        (3, "sample_id", "LB-7")
    ]
    # The other draw is this file's own, named by its row (sample_id_taken):
    assert "of the draw of row 2 of this file" in report.rejected[0].message
    assert report.rows_imported == 2
    assert set(VariantResult.objects.values_list("protein_change", flat=True)) == {
        "p.T790M",
        "p.G12D",
    }
    run = ImportRun.objects.get()
    assert run.issues.get(severity="error").field == "sample_id"


def test_a_cfdna_file_imported_again_is_all_duplicates(project, tmp_path):
    register(project, "P1")
    path = write(tmp_path, "v.csv", CFDNA + "P1,2022-01-03,LB-7,EGFR,p.T790M,0.1\n")
    import_cfdna(path, project)

    again = import_cfdna(path, project)

    assert (again.duplicates, again.rejected) == (1, [])


def test_a_maf_whose_sample_map_gives_a_taken_lab_id_rejects_its_rows(
    project, tmp_path
):
    path = shared_path("genomics_vcf_somatic", "test.maf")
    register(project, "SYN-4001", "SYN-4002")
    taken = BloodSample.objects.create(
        patient=patient(project, "SYN-4002"),
        drawn_at=timezone.make_aware(dt.datetime(2021, 1, 5, 9, 0)),
        external_sample_id="PL-7",
    )
    sample_map = write(
        tmp_path,
        "map.csv",
        "Tumor_Sample_Barcode,patient_id,draw_date,sample_id\nTUMOR,SYN-4001,2021-03-04,PL-7\n",
    )

    report = import_maf(path, project, sample_map=sample_map)

    taken_id = [p for p in report.rejected if p.field == "sample_id"]
    assert report.rows_imported == 0
    assert taken_id
    assert {(p.source, p.value, p.code) for p in taken_id} == {
        ("test.maf", "PL-7", "sample-id-taken")
    }
    assert_names_the_other_draw(taken_id[0], taken)
    assert BloodSample.objects.get() == taken


def test_the_service_refuses_a_new_draw_with_a_taken_lab_id_and_finds_the_same_draw(
    project,
):
    first, _ = pseudonymise(project, "P1")
    second, _ = pseudonymise(project, "P2")
    moment = timezone.make_aware(dt.datetime(2023, 5, 22, 9, 30))
    stored, _ = find_or_create_sample(first, moment, True, "LB-1")

    again, created = find_or_create_sample(first, moment, True, "LB-1")
    with pytest.raises(SampleIdTaken) as taken:
        find_or_create_sample(second, moment, True, "LB-1")

    assert (again, created) == (stored, False)
    assert taken.value.other == stored
    assert f"at {timezone.localtime(moment):%Y-%m-%d %H:%M}" in str(taken.value)
    assert BloodSample.objects.count() == 1


def test_a_draw_given_with_another_offset_is_found_on_its_local_day(project, settings):
    # 00:30 at UTC+1 on 2 March is 1 March in UTC: the draw stored for 1 March
    # without a time, not a new draw (refused now for its lab sample ID; review rv7).
    settings.TIME_ZONE = "UTC"
    patient, _ = pseudonymise(project, "P1")
    day_only = timezone.make_aware(dt.datetime(2024, 3, 1))
    stored, _ = find_or_create_sample(patient, day_only, False, "LB-1")
    moment = dt.datetime(2024, 3, 2, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    found, created = find_or_create_sample(patient, moment, True, "LB-1")

    assert (found, created) == (stored, False)
