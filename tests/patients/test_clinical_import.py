from __future__ import annotations

import csv
import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from biobank.core.dates import DAY_FIRST, MONTH_FIRST
from biobank.core.importing import ImportRejected
from biobank.exports.models import ExportRecord
from patients.importers.clinical import EVENTS, TREATMENTS, import_clinical
from patients.importers.runs import removed_if_unused
from patients.models import (
    ClinicalEvent,
    DataIssue,
    ImportRun,
    Patient,
    Project,
    Treatment,
)
from patients.services import find_patient
from tests.conftest import case_path, grant, shared_path

PATIENT_HEADER = (
    "patient_id,sex,birth_year,cancer_type,histology,stage,diagnosis_date\n"
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def patient(project, source_id: str) -> Patient:
    found = find_patient(project, source_id)
    assert found is not None, f"{source_id} was not imported"
    return found


def rejection(call) -> list:
    with pytest.raises(ImportRejected) as caught:
        call()
    return caught.value.problems


def stored_state() -> list[tuple]:
    patients = list(
        Patient.objects.values_list(*[f.attname for f in Patient._meta.concrete_fields])
    )
    treatments = list(
        Treatment.objects.values_list("patient_id", "kind", "started_on", "ended_on")
    )
    events = list(
        ClinicalEvent.objects.values_list("patient_id", "kind", "occurred_on", "recist")
    )
    return [patients, treatments, events, Patient.history.count()]


# Case 15: day/month order of a whole column, and spreadsheet serial numbers.


def test_a_day_above_twelve_makes_the_whole_diagnosis_column_day_first(project):
    path = case_path("15-clinical-ambiguous-dates", "a_clinical_dayfirst_provable.csv")

    import_clinical(path, project)

    assert patient(project, "SYN-0151").diagnosis_on == dt.date(2019, 12, 31)
    assert patient(project, "SYN-0152").diagnosis_on == dt.date(2020, 3, 10)
    assert patient(project, "SYN-0153").diagnosis_on == dt.date(2021, 1, 5)
    assert patient(project, "SYN-0154").diagnosis_on == dt.date(2020, 7, 13)


def test_a_spreadsheet_serial_leaves_the_diagnosis_date_empty_with_a_warning(project):
    path = case_path("15-clinical-ambiguous-dates", "a_clinical_dayfirst_provable.csv")

    report = import_clinical(path, project)

    syn_0155 = patient(project, "SYN-0155")
    assert syn_0155.diagnosis_on is None
    warning = DataIssue.objects.get(code="excel-serial-date")
    assert (warning.row, warning.field, warning.value) == (6, "diagnosis_date", "44291")
    assert warning.severity == DataIssue.Severity.WARNING
    assert warning.patient == syn_0155
    assert [(w.row, w.field, w.value) for w in report.warnings] == [
        (6, "diagnosis_date", "44291")
    ]


@pytest.mark.parametrize(
    ("name", "date_order"),
    [
        ("a_clinical_dayfirst_provable.csv", None),
        ("b_clinical_all_ambiguous.csv", DAY_FIRST),
    ],
)
def test_other_fields_import_unchanged(project, name, date_order):
    path = case_path("15-clinical-ambiguous-dates", name)
    with open(path, newline="", encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))

    import_clinical(path, project, date_order=date_order)

    assert Patient.objects.filter(project=project).count() == len(expected)
    for row in expected:
        stored = patient(project, row["patient_id"])
        assert stored.birth_year == int(row["birth_year"])
        assert stored.sex == row["sex"]
        assert stored.histology == row["histology"]
        assert stored.stage == row["stage"]
        assert stored.cancer_type == ""


def test_an_ambiguous_date_column_without_declared_order_rejects_the_file(project):
    path = case_path("15-clinical-ambiguous-dates", "b_clinical_all_ambiguous.csv")

    problems = rejection(lambda: import_clinical(path, project))

    assert [p.field for p in problems] == ["diagnosis_date"]
    for value in ("03/04/2021", "05/06/2021", "11/12/2021"):
        assert value in problems[0].message
    assert not Patient.objects.exists()
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    issue = run.issues.get()
    assert (issue.severity, issue.field, issue.code) == (
        "error",
        "diagnosis_date",
        "ambiguous-date-order",
    )


def test_runs_and_issues_never_hold_a_source_patient_identifier(project):
    folder = case_path("15-clinical-ambiguous-dates")
    import_clinical(folder / "a_clinical_dayfirst_provable.csv", project)
    with pytest.raises(ImportRejected):
        import_clinical(folder / "b_clinical_all_ambiguous.csv", project)

    stored = [str(run.summary) for run in ImportRun.objects.all()]
    stored += [f"{i.message} {i.value} {i.field}" for i in DataIssue.objects.all()]

    assert len(stored) == 4
    assert not [text for text in stored if "SYN-" in text]


def test_the_command_names_diagnosis_date_when_it_rejects_an_ambiguous_file(project):
    path = case_path("15-clinical-ambiguous-dates", "b_clinical_all_ambiguous.csv")

    with pytest.raises(CommandError) as caught:
        call_command("import_clinical", str(path), "--project", project.code)

    assert "diagnosis_date" in str(caught.value)
    assert "03/04/2021" in str(caught.value)


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (DAY_FIRST, [dt.date(2021, 4, 3), dt.date(2021, 6, 5), dt.date(2021, 12, 11)]),
        (
            MONTH_FIRST,
            [dt.date(2021, 3, 4), dt.date(2021, 5, 6), dt.date(2021, 11, 12)],
        ),
    ],
)
def test_a_declared_date_order_resolves_the_ambiguous_file(
    project, order, expected, capsys
):
    path = case_path("15-clinical-ambiguous-dates", "b_clinical_all_ambiguous.csv")

    call_command(
        "import_clinical", str(path), "--project", project.code, "--date-order", order
    )

    dates = [patient(project, f"SYN-015{n}").diagnosis_on for n in (6, 7, 8)]
    assert dates == expected
    assert "created 3 patients" in capsys.readouterr().out


# The real NSCLC-Radiomics Lung1 clinical table.


def lung1_rows() -> list[dict[str, str]]:
    path = shared_path("clinical_nsclc_radiomics_lung1", "Lung1.clinical.csv")
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def lung1(project):
    path = shared_path("clinical_nsclc_radiomics_lung1", "Lung1.clinical.csv")
    report = import_clinical(path, project)
    return path, report


def test_the_lung1_table_is_recognised_and_every_patient_imported(project, lung1):
    _, report = lung1

    assert report.created == {"patients": len(lung1_rows())} == {"patients": 422}
    assert Patient.objects.filter(project=project).count() == 422


def test_lung1_counts_per_overall_stage_match_the_file(project, lung1):
    expected = Counter(
        "" if r["Overall.Stage"] == "NA" else r["Overall.Stage"] for r in lung1_rows()
    )

    stored = Counter(
        Patient.objects.filter(project=project).values_list("stage", flat=True)
    )

    assert stored == expected


def test_lung1_histology_is_kept_and_mapped_to_an_oncotree_cancer_type(project, lung1):
    rows = lung1_rows()
    histology = Counter("" if r["Histology"] == "NA" else r["Histology"] for r in rows)
    mapping = {
        "adenocarcinoma": "LUAD",
        "squamous cell carcinoma": "LUSC",
        "large cell": "LCLC",
        "nos": "NSCLC",
        "": "NSCLC",
    }
    cancer_types = Counter()
    for text, n in histology.items():
        cancer_types[mapping[text]] += n

    patients = Patient.objects.filter(project=project)

    assert Counter(patients.values_list("histology", flat=True)) == histology
    assert Counter(patients.values_list("cancer_type", flat=True)) == cancer_types


def test_lung1_values_of_single_patients(project, lung1):
    first = patient(project, "LUNG1-001")
    no_age = patient(project, "LUNG1-056")

    assert (first.t_stage, first.n_stage, first.m_stage, first.stage) == (
        "2",
        "3",
        "0",
        "IIIb",
    )
    assert (first.histology, first.cancer_type, first.sex) == (
        "large cell",
        "LCLC",
        "M",
    )
    assert first.age_at_diagnosis_years == Decimal("78.752")
    assert (first.overall_survival_days, first.is_deceased) == (2165, True)
    assert no_age.age_at_diagnosis_years is None
    assert (no_age.histology, no_age.cancer_type, no_age.sex) == ("", "NSCLC", "F")
    assert (no_age.overall_survival_days, no_age.is_deceased) == (1962, False)


def test_reimporting_lung1_reports_every_row_unchanged_and_duplicates_nothing(
    project, lung1
):
    path, _ = lung1
    history = Patient.history.count()

    report = import_clinical(path, project)

    assert report.created == {}
    assert (report.duplicates, report.updated) == (422, 0)
    assert Patient.objects.filter(project=project).count() == 422
    assert Patient.history.count() == history


def test_a_lung1_table_with_updated_follow_up_is_a_conflict_naming_the_lung1_column(
    project, lung1, tmp_path
):
    path, _ = lung1
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[1]
    updated = first.replace(",2165,1", ",2400,1")
    changed = write(tmp_path, "Lung1.v3.csv", text.replace(first, updated))

    problems = rejection(lambda: import_clinical(changed, project))

    assert [(p.row, p.field, p.value) for p in problems] == [
        (2, "Survival.time", "2400")
    ]
    assert patient(project, "LUNG1-001").overall_survival_days == 2165


def test_a_lung1_table_with_an_unknown_histology_is_rejected(project, tmp_path):
    path = write(
        tmp_path,
        "lung1.csv",
        '"PatientID","age","Overall.Stage","Histology","gender"\n"LUNG1-900",60.1,"I","small cell","male"\n',
    )

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field, p.value) for p in problems] == [
        (2, "Histology", "small cell")
    ]


# Bad input, re-import and conflicts.


def test_an_unknown_cancer_type_rejects_the_file(project, tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        PATIENT_HEADER
        + "P1,F,1950,LUAD,,IV,2020-01-02\nP2,M,1951,LUNGX,,IV,2020-01-02\n",
    )

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("p.csv", 3, "cancer_type", "LUNGX")
    ]
    assert not Patient.objects.exists()


def test_a_birth_year_in_the_future_rejects_the_file(project, tmp_path):
    next_year = timezone.localdate().year + 1
    path = write(tmp_path, "p.csv", PATIENT_HEADER + f"P1,F,{next_year},LUAD,,IV,\n")

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "birth_year", "future-date")
    ]


def test_a_diagnosis_date_in_the_future_rejects_the_file(project, tmp_path):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    path = write(
        tmp_path,
        "p.csv",
        PATIENT_HEADER + f"P1,F,1950,LUAD,,IV,{tomorrow.isoformat()}\n",
    )

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "diagnosis_date", "future-date")
    ]


def test_a_file_without_a_patient_id_column_is_rejected(project, tmp_path):
    path = write(tmp_path, "p.csv", "sex,birth_year\nF,1950\n")

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.source, p.row, p.field) for p in problems] == [
        ("p.csv", 1, "patient_id")
    ]


def test_an_empty_patient_id_is_rejected_without_repeating_any_identifier(
    project, tmp_path
):
    path = write(
        tmp_path,
        "p.csv",
        PATIENT_HEADER
        + "P1,F,1950,LUAD,,IV,\n,M,1950,LUAD,,IV,\nP1,F,1950,LUAD,,IV,\n",
    )

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field) for p in problems] == [
        (3, "patient_id"),
        (4, "patient_id"),
    ]
    assert all("P1" not in str(p) for p in problems)


def test_reimporting_a_patients_file_duplicates_nothing(project, tmp_path):
    path = write(
        tmp_path,
        "p.csv",
        PATIENT_HEADER
        + "P1,F,1950,LUAD,,IV,2020-01-02\nP2,M,1951,LUSC,,IIIA,2020-02-03\n",
    )
    import_clinical(path, project)

    report = import_clinical(path, project)

    assert Patient.objects.count() == 2
    assert (report.created, report.duplicates, report.updated) == ({}, 2, 0)


def test_a_rejected_file_changes_nothing_already_stored(project, tmp_path):
    good = write(
        tmp_path, "good.csv", PATIENT_HEADER + "P1,F,1950,LUAD,,IV,2020-01-02\n"
    )
    import_clinical(good, project)
    before = stored_state()
    bad = write(
        tmp_path,
        "bad.csv",
        PATIENT_HEADER
        + "P1,F,1950,LUAD,adenocarcinoma,IV,2020-01-02\nP3,M,1950,LUAD,,IV,2020-01-02\nP4,X,1950,LUAD,,IV,\n",
    )

    problems = rejection(lambda: import_clinical(bad, project, update=True))

    assert [(p.row, p.field) for p in problems] == [(4, "sex")]
    assert stored_state() == before
    assert ImportRun.objects.filter(status=ImportRun.Status.FAILED).count() == 1


def test_a_value_that_differs_from_the_stored_one_is_a_conflict(project, tmp_path):
    import_clinical(
        write(tmp_path, "a.csv", PATIENT_HEADER + "P1,F,1950,LUAD,,IIIA,2020-01-02\n"),
        project,
    )
    before = stored_state()
    changed = write(
        tmp_path, "b.csv", PATIENT_HEADER + "P1,F,1950,LUAD,,IIIB,2020-01-02\n"
    )

    problems = rejection(lambda: import_clinical(changed, project))

    assert [(p.source, p.row, p.field, p.value, p.code) for p in problems] == [
        ("b.csv", 2, "stage", "IIIB", "conflicting-value")
    ]
    assert stored_state() == before


def test_update_replaces_a_differing_value_and_history_keeps_the_old_one(
    project, tmp_path
):
    import_clinical(
        write(tmp_path, "a.csv", PATIENT_HEADER + "P1,F,1950,LUAD,,IIIA,2020-01-02\n"),
        project,
    )
    changed = write(
        tmp_path, "b.csv", PATIENT_HEADER + "P1,F,1950,LUAD,,IIIB,2020-01-02\n"
    )

    report = import_clinical(changed, project, update=True)

    stored = patient(project, "P1")
    assert (stored.stage, report.updated) == ("IIIB", 1)
    latest, previous = stored.history.all()[:2]
    assert (previous.stage, latest.stage) == ("IIIA", "IIIB")
    assert latest.history_change_reason == "import_clinical b.csv row 2"


def test_an_empty_cell_never_clears_and_a_new_value_fills_a_blank(project, tmp_path):
    import_clinical(
        write(tmp_path, "a.csv", "patient_id,sex,stage,histology\nP1,U,IV,\n"), project
    )

    report = import_clinical(
        write(
            tmp_path, "b.csv", "patient_id,sex,stage,histology\nP1,F,,adenocarcinoma\n"
        ),
        project,
    )

    stored = patient(project, "P1")
    assert (stored.sex, stored.stage, stored.histology) == ("F", "IV", "adenocarcinoma")
    assert report.updated == 1


# Treatments and events.


@pytest.fixture
def two_patients(project, tmp_path):
    import_clinical(
        write(
            tmp_path,
            "p.csv",
            PATIENT_HEADER
            + "P1,F,1950,LUAD,,IV,2020-01-02\nP2,M,1951,LUSC,,IIIA,2020-02-03\n",
        ),
        project,
    )


TREATMENT_HEADER = "patient_id,kind,agent,line,start_date,end_date\n"


def test_treatments_are_imported_for_known_patients(project, tmp_path, two_patients):
    path = write(
        tmp_path,
        "t.csv",
        TREATMENT_HEADER
        + "P1,targeted,osimertinib,1,2020-02-01,2021-03-31\nP2,chemoradiotherapy,,1,2020-03-01,\n",
    )

    report = import_clinical(path, project, kind=TREATMENTS)

    assert report.created == {"treatments": 2}
    first = Treatment.objects.get(patient=patient(project, "P1"))
    assert (first.kind, first.agent, first.line) == ("targeted", "osimertinib", 1)
    assert (first.started_on, first.ended_on) == (
        dt.date(2020, 2, 1),
        dt.date(2021, 3, 31),
    )


def test_an_agent_differing_only_in_capitals_is_the_stored_treatment(
    project, tmp_path, two_patients
):
    first = TREATMENT_HEADER + "P1,chemotherapy,doxorubicin,1,2020-02-01,\n"
    again = TREATMENT_HEADER + "P1,chemotherapy,Doxorubicin,1,2020-02-01,\n"
    import_clinical(write(tmp_path, "t1.csv", first), project, kind=TREATMENTS)

    report = import_clinical(write(tmp_path, "t2.csv", again), project, kind=TREATMENTS)

    assert (report.created, report.duplicates) == ({}, 1)
    stored = Treatment.objects.get(patient=patient(project, "P1"))
    assert stored.agent == "doxorubicin"
    # Not silently: the row's warning names the spelling stored and its treatment.
    assert [(w.source, w.row, w.field, w.value, w.code) for w in report.warnings] == [
        ("t2.csv", 2, "agent", "Doxorubicin", "agent-case")
    ]
    assert report.warnings[0].message == (
        f'differs only in capitals from the agent "doxorubicin" of stored treatment '
        f"{stored.pk} (same patient, kind and start_date), which this row is: kept "
        "as stored, not added again."
    )
    assert "1 already present; 0 rejected; 1 warning." in report.summary()
    issue = DataIssue.objects.get(code="agent-case")
    assert (issue.row, issue.field, issue.value) == (2, "agent", "Doxorubicin")
    assert (issue.record_type, issue.record_id) == ("Treatment", stored.pk)


@pytest.mark.parametrize(
    "again, field, message",
    [
        # An identical row: the columns identifying the treatment, besides the patient.
        (
            "P1,chemotherapy,doxorubicin,1,2020-02-01,",
            "kind, agent, start_date",
            "repeats row 2 of this file; give each treatment once.",
        ),
        (
            "P1,chemotherapy,Doxorubicin,1,2020-02-01,",
            "agent",
            "names the treatment of row 2 of this file (the same patient_id, kind, "
            "agent in any capitals and start_date) with other values (agent "
            '"Doxorubicin", not "doxorubicin"); give each treatment once.',
        ),
        # Never "already present": the earlier row is of this file, not stored before.
        (
            "P1,chemotherapy,Doxorubicin,2,2020-02-01,",
            "agent, line",
            "names the treatment of row 2 of this file (the same patient_id, kind, "
            "agent in any capitals and start_date) with other values (agent "
            '"Doxorubicin", not "doxorubicin"; line "2", not "1"); give each '
            "treatment once.",
        ),
        (
            "P1,chemotherapy,doxorubicin,1,2020-02-01,2020-06-30",
            "end_date",
            "names the treatment of row 2 of this file (the same patient_id, kind, "
            "agent in any capitals and start_date) with other values (end_date "
            '"2020-06-30", not empty); give each treatment once.',
        ),
    ],
)
def test_a_row_naming_the_treatment_of_an_earlier_row_of_the_file_says_so(
    project, tmp_path, two_patients, again, field, message
):
    first = "P1,chemotherapy,doxorubicin,1,2020-02-01,"
    path = write(tmp_path, "t.csv", f"{TREATMENT_HEADER}{first}\n{again}\n")

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.source, p.row, p.field, p.message, p.code) for p in problems] == [
        ("t.csv", 3, field, message, "repeated-record")
    ]
    assert not Treatment.objects.exists()


def test_a_repeated_treatment_is_recorded_under_its_agent_without_the_patient(
    project, tmp_path, two_patients
):
    rows = "P1,chemotherapy,doxorubicin,1,2020-02-01,\nP1,chemotherapy,Doxorubicin,1,2020-02-01,\n"
    path = write(tmp_path, "t.csv", TREATMENT_HEADER + rows)

    with pytest.raises(ImportRejected) as caught:
        import_clinical(path, project, kind=TREATMENTS)

    issue = DataIssue.objects.get(code="repeated-record")
    assert (issue.row, issue.field) == (3, "agent")
    said = [str(caught.value), issue.message, issue.value, issue.field]
    assert not [text for text in said if "P1" in text]


@pytest.mark.parametrize(
    "again, field",
    [
        ("P1,response,PR,2020-05-01", "kind, date"),
        ("P1,response,SD,2020-05-01", "recist"),
    ],
)
def test_a_row_naming_the_event_of_an_earlier_row_names_what_repeats_or_differs(
    project, tmp_path, two_patients, again, field
):
    header = "patient_id,kind,recist,date\n"
    path = write(tmp_path, "e.csv", f"{header}P1,response,PR,2020-05-01\n{again}\n")

    problems = rejection(lambda: import_clinical(path, project, kind=EVENTS))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (3, field, "repeated-record")
    ]
    assert not ClinicalEvent.objects.exists()


def test_a_repeated_patient_row_names_the_patient_id_column_but_not_the_patient(
    project, tmp_path
):
    row = "P1,F,1950,LUAD,,IV,2020-01-02\n"
    path = write(tmp_path, "p.csv", PATIENT_HEADER + row + row)

    problems = rejection(lambda: import_clinical(path, project))

    assert [(p.row, p.field, p.message, p.value) for p in problems] == [
        (3, "patient_id", "repeats row 2 of this file; give each patient once.", "")
    ]


def test_a_treatment_ending_before_it_starts_rejects_the_file(
    project, tmp_path, two_patients
):
    path = write(
        tmp_path,
        "t.csv",
        TREATMENT_HEADER
        + "P1,surgery,,,2020-02-01,\nP2,chemotherapy,cisplatin,1,2020-05-01,2020-04-30\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.source, p.row, p.field, p.code) for p in problems] == [
        ("t.csv", 3, "end_date", "end-before-start")
    ]
    assert not Treatment.objects.exists()


def test_a_treatment_of_an_unknown_patient_rejects_the_file(
    project, tmp_path, two_patients
):
    path = write(
        tmp_path,
        "t.csv",
        TREATMENT_HEADER + "P1,surgery,,,2020-02-01,\nP9,surgery,,,2020-02-01,\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.row, p.field, p.code) for p in problems] == [
        (3, "patient_id", "unknown-patient")
    ]
    assert not Treatment.objects.exists()


def test_a_spreadsheet_serial_as_start_date_rejects_the_treatment_file(
    project, tmp_path, two_patients
):
    path = write(tmp_path, "t.csv", TREATMENT_HEADER + "P1,surgery,,,44291,\n")

    problems = rejection(lambda: import_clinical(path, project, kind=TREATMENTS))

    assert [(p.row, p.field) for p in problems] == [(2, "start_date")]


def test_events_import_once_and_reimport_reports_them_unchanged(
    project, tmp_path, two_patients
):
    path = write(
        tmp_path,
        "e.csv",
        "patient_id,kind,recist,date\nP1,response,PR,2020-05-01\nP1,progression,PD,2021-04-01\n",
    )
    import_clinical(path, project, kind=EVENTS)

    report = import_clinical(path, project, kind=EVENTS)

    assert ClinicalEvent.objects.count() == 2
    assert (report.created, report.duplicates) == ({}, 2)
    assert ClinicalEvent.objects.get(kind="response").recist == "PR"


def test_an_event_dated_in_the_future_rejects_the_file(project, tmp_path, two_patients):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    path = write(
        tmp_path,
        "e.csv",
        f"patient_id,kind,recist,date\nP1,response,PR,{tomorrow.isoformat()}\n",
    )

    problems = rejection(lambda: import_clinical(path, project, kind=EVENTS))

    assert [(p.row, p.field, p.code) for p in problems] == [(2, "date", "future-date")]


def test_a_file_with_hundreds_of_errors_lists_the_first_200_and_counts_the_rest(
    project, tmp_path
):
    rows = "".join(f"P{n},F,1950,LUNGX,,IV,\n" for n in range(300))
    path = write(tmp_path, "p.csv", PATIENT_HEADER + rows)

    problems = rejection(lambda: import_clinical(path, project))

    assert len(problems) == 201
    assert problems[-1].message.startswith("100 more problems")
    assert DataIssue.objects.filter(severity="error").count() == 201


def test_the_command_refuses_a_path_that_is_no_file(project, tmp_path):
    with pytest.raises(CommandError, match="is not a file"):
        call_command(
            "import_clinical", str(tmp_path / "absent.csv"), "--project", "demo"
        )

    assert not ImportRun.objects.exists()


def test_a_patients_table_for_a_new_project_code_says_it_created_the_project(
    project, tmp_path, capsys
):
    path = tmp_path / "pat_good.csv"
    path.write_text("patient_id,sex,birth_year\nP-1,F,1960\nP-2,M,1955\n")

    call_command("import_clinical", str(path), "--project", "dmeo")

    out = capsys.readouterr().out
    assert out.startswith("Created new project 'dmeo'.\n")
    assert Patient.objects.filter(project__code="dmeo").count() == 2


def test_a_rejected_table_for_a_new_project_code_leaves_no_project(
    project, tmp_path, capsys
):
    path = tmp_path / "pat_bad.csv"
    path.write_text("patient_id,sex,birth_year\nP-1,F,1961\nP-2,M,abc\n")

    with pytest.raises(CommandError) as raised:
        call_command("import_clinical", str(path), "--project", "lung1b")

    message = str(raised.value)
    assert message.startswith(
        "File rejected; nothing was stored. Project 'lung1b', created for it, was "
        "removed again.\n"
    )
    assert "row 3, field birth_year" in message
    assert not Project.objects.filter(code__iexact="lung1b").exists()
    assert not ImportRun.objects.filter(project__isnull=True).exists()


def failed_run(project: Project) -> ImportRun:
    return ImportRun.objects.create(
        project=project, importer="clinical-patients", status=ImportRun.Status.FAILED
    )


def test_a_new_project_with_only_its_failed_run_is_removed(db):
    new = Project.objects.create(code="fresh", name="fresh")
    failed_run(new)

    said = removed_if_unused(new, created=True)

    assert said == " Project 'fresh', created for it, was removed again."
    assert not Project.objects.filter(code="fresh").exists()
    assert not ImportRun.objects.exists()


@pytest.mark.parametrize(
    "held_by", ["another failed run", "an export record", "a role", "a patient"]
)
def test_a_new_project_that_something_else_refers_to_stays(
    db, django_user_model, held_by
):
    new = Project.objects.create(code="fresh", name="fresh")
    failed_run(new)
    if held_by == "another failed run":  # another command's, into the same new code
        failed_run(new)
    elif held_by == "an export record":  # an export linked to every project
        record = ExportRecord.objects.create(
            username="admin", kind=ExportRecord.Kind.PAIRS_API, definition={}
        )
        record.projects.add(new)
    elif held_by == "a role":
        grant(django_user_model.objects.create_user("newviewer"), new)
    else:
        Patient.objects.create(project=new, pseudonym="FRESH-1", source_key="k")

    assert removed_if_unused(new, created=True) == ""
    assert Project.objects.filter(code="fresh").exists()
    assert ImportRun.objects.filter(project=new).exists()


def test_a_project_the_command_did_not_create_stays(db):
    existing = Project.objects.create(code="kept", name="kept")
    failed_run(existing)

    assert removed_if_unused(existing, created=False) == ""
    assert Project.objects.filter(code="kept").exists()


def test_a_rejected_table_for_an_existing_project_keeps_it_and_its_failed_run(
    project, tmp_path
):
    path = tmp_path / "pat_bad.csv"
    path.write_text("patient_id,sex,birth_year\nP-1,F,1961\nP-2,M,abc\n")

    with pytest.raises(CommandError) as raised:
        call_command("import_clinical", str(path), "--project", project.code)

    assert "removed" not in str(raised.value)
    assert ImportRun.objects.get(project=project).status == ImportRun.Status.FAILED


def test_a_treatments_table_refuses_an_unknown_project_code(project, tmp_path):
    path = tmp_path / "treatments.csv"
    path.write_text("patient_id,regimen,start_date\nP-1,FOLFOX,2020-01-02\n")

    with pytest.raises(CommandError, match="No project has the code 'dmeo'"):
        call_command(
            "import_clinical", str(path), "--project", "dmeo", "--kind", TREATMENTS
        )

    assert not Project.objects.filter(code="dmeo").exists()
