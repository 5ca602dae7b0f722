"""No dated record of a patient may lie in a year before its birth year, from any write path.

A draw, consent, treatment, clinical event or imaging study dated in a year before
the patient's birth year is refused (admin, API, importers; DICOM ingest warns and
leaves the date out); the same rule holds from the patient's side: a birth year
given after the records are stored is refused in the admin, the API and a clinical
re-import, naming the earliest record before it by kind, id and date.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from biobank.core.importing import ImportRejected
from liquidbiopsy.models import BloodSample
from patients.importers.clinical import EVENTS, TREATMENTS, import_clinical
from patients.models import Patient
from patients.services import pseudonymise
from patients.validation import check_records_after_birth, earliest_records_before
from tests import test_admin
from tests.api import test_writes
from tests.test_admin import edit_in_admin

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client


def draw(patient, day: dt.date) -> BloodSample:
    moment = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
    return BloodSample.objects.create(patient=patient, drawn_at=moment)


def patch_birth_year(api, patient: Patient, year: int):
    return api.patch(
        f"/api/patients/{patient.pk}/", {"birth_year": year}, format="json"
    )


def test_the_api_refuses_a_birth_year_after_the_earliest_draw(biobank, curator_api):
    patient = biobank.a.patient  # born 1950, drawn in 2020
    earliest = draw(patient, dt.date(2015, 3, 2))
    draw(patient, dt.date(2016, 5, 1))

    refused = patch_birth_year(curator_api, patient, 2020)
    same_year = patch_birth_year(curator_api, patient, 2015)

    assert refused.status_code == 400, refused.content[:300]
    (message,) = refused.json()["birth_year"]
    assert f"blood draw {earliest.pk} (drawn_at 2015-03-02)" in message
    assert same_year.status_code == 200, same_year.content[:300]
    patient.refresh_from_db()
    assert patient.birth_year == 2015


def test_the_admin_refuses_a_birth_year_after_a_record(biobank, curator_client):
    patient = biobank.a.patient
    consent = biobank.a.consent  # given on 2020-01-15, the earliest of A's records

    page = edit_in_admin(curator_client, patient, birth_year="2021")

    assert page.status_code == 200, "the admin stored birth year 2021"
    (message,) = page.context["adminform"].form.errors["birth_year"]
    assert message.startswith("Birth year lies after the patient's consent")
    assert f"consent {consent.pk} (given_on 2020-01-15)" in message
    patient.refresh_from_db()
    assert patient.birth_year == 1950


def test_a_clinical_reimport_refuses_a_birth_year_after_a_draw(project, tmp_path):
    header = "patient_id,sex,birth_year,cancer_type,histology,stage,diagnosis_date\n"
    first = tmp_path / "a.csv"
    first.write_text(header + "P1,F,1950,LUAD,,IIIA,\n", encoding="utf-8")
    import_clinical(first, project)
    patient, _ = pseudonymise(project, "P1")
    sample = draw(patient, dt.date(2015, 3, 2))
    changed = tmp_path / "b.csv"
    changed.write_text(header + "P1,F,2020,LUAD,,IIIA,\n", encoding="utf-8")

    with pytest.raises(ImportRejected) as rejected:
        import_clinical(changed, project, update=True)

    problems = rejected.value.problems
    assert [(p.row, p.field, p.value) for p in problems] == [(2, "birth_year", "2020")]
    assert f"blood draw {sample.pk} (drawn_at 2015-03-02)" in problems[0].message
    patient.refresh_from_db()
    assert patient.birth_year == 1950


def test_a_clinical_import_fills_a_blank_birth_year_only_before_the_draws(
    project, tmp_path
):
    patient, _ = pseudonymise(project, "P1")
    draw(patient, dt.date(2015, 3, 2))
    header = "patient_id,sex,birth_year,cancer_type,histology,stage,diagnosis_date\n"
    late = tmp_path / "late.csv"
    late.write_text(header + "P1,F,2016,LUAD,,IIIA,\n", encoding="utf-8")
    early = tmp_path / "early.csv"
    early.write_text(header + "P1,F,1960,LUAD,,IIIA,\n", encoding="utf-8")

    with pytest.raises(ImportRejected):
        import_clinical(late, project)
    import_clinical(early, project)

    patient.refresh_from_db()
    assert patient.birth_year == 1960


# Every dated record of a patient, by the Side attribute holding it in the API's
# biobank fixture, its date field, and its words in the birth year's refusal:
DATED = [
    ("consent", "given_on", "consent {pk} (given_on 2010-06-01)"),
    ("treatment", "started_on", "treatment {pk} (started_on 2010-06-01)"),
    ("event", "occurred_on", "clinical event {pk} (occurred_on 2010-06-01)"),
    ("study", "study_date", "imaging study {pk} (study_date 2010-06-01)"),
    ("series", "series_date", "image series {pk} (series_date 2010-06-01)"),
    ("sample", "drawn_on", "blood draw {pk} (drawn_at 2010-06-01)"),
]


def move_to_2010(record, field: str) -> None:
    """Date the record 2010-06-01, as stored before the rule (no check runs)."""
    changes = {field: dt.date(2010, 6, 1)}
    if field == "drawn_on":
        changes["drawn_at"] = timezone.make_aware(dt.datetime(2010, 6, 1, 9))
    type(record).objects.filter(pk=record.pk).update(**changes)


@pytest.mark.parametrize(("side", "field", "words"), DATED, ids=[d[0] for d in DATED])
def test_a_birth_year_after_any_dated_record_is_refused_naming_it(
    biobank, curator_api, side, field, words
):
    patient = biobank.a.patient  # born 1950, all other records in 2020
    record = getattr(biobank.a, side)
    move_to_2010(record, field)

    refused = patch_birth_year(curator_api, patient, 2011)
    same_year = patch_birth_year(curator_api, patient, 2010)

    assert refused.status_code == 400, refused.content[:300]
    (message,) = refused.json()["birth_year"]
    assert f"lies after the patient's {words.format(pk=record.pk)};" in message
    assert same_year.status_code == 200, same_year.content[:300]


def test_the_earliest_record_of_any_kind_is_named(biobank):
    patient = biobank.a.patient
    move_to_2010(biobank.a.event, "occurred_on")
    type(biobank.a.study).objects.filter(pk=biobank.a.study.pk).update(
        study_date=dt.date(2009, 12, 31)
    )

    found = earliest_records_before({patient.pk: 2011, biobank.b.patient.pk: 2011})

    assert found == {
        patient.pk: f"imaging study {biobank.a.study.pk} (study_date 2009-12-31)"
    }


def test_a_birth_year_is_checked_against_every_kind_of_record_in_one_query(biobank):
    patients = [biobank.a.patient.pk, biobank.b.patient.pk]

    with CaptureQueriesContext(connection) as one:
        check_records_after_birth(patients[0], 1950)
    with CaptureQueriesContext(connection) as both:
        found = earliest_records_before({patients[0]: 2026, patients[1]: 1990})

    assert len(one.captured_queries) == 1
    assert len(both.captured_queries) == 1
    assert set(found) == {patients[0]}


@pytest.mark.parametrize(
    ("endpoint", "field", "data"),
    [
        ("consents", "given_on", {}),
        ("treatments", "started_on", {"kind": "surgery"}),
        ("clinical-events", "occurred_on", {"kind": "progression"}),
    ],
)
def test_the_api_refuses_a_record_dated_before_the_birth_year(
    biobank, curator_api, endpoint, field, data
):
    patient = biobank.a.patient  # born 1950

    refused = curator_api.post(
        f"/api/{endpoint}/",
        {"patient": patient.pk, field: "1949-12-31", **data},
        format="json",
    )
    same_year = curator_api.post(
        f"/api/{endpoint}/",
        {"patient": patient.pk, field: "1950-01-01", **data},
        format="json",
    )

    assert refused.status_code == 400, refused.content[:300]
    assert refused.json()[field] == ["lies before the patient's birth year."]
    assert same_year.status_code == 201, same_year.content[:300]


def test_the_api_refuses_a_record_moved_before_the_birth_year(biobank, curator_api):
    treatment = biobank.a.treatment

    response = curator_api.patch(
        f"/api/treatments/{treatment.pk}/", {"started_on": "1949-06-01"}, format="json"
    )

    assert response.status_code == 400, response.content[:300]
    assert response.json()["started_on"] == ["lies before the patient's birth year."]


@pytest.mark.parametrize(
    ("side", "field", "message"),
    [
        ("event", "occurred_on", "Occurred on lies before the patient's birth year."),
        ("study", "study_date", "Study date lies before the patient's birth year."),
    ],
)
def test_the_admin_refuses_a_record_dated_before_the_birth_year(
    biobank, curator_client, side, field, message
):
    record = getattr(biobank.a, side)

    page = edit_in_admin(curator_client, record, **{field: "1949-06-01"})

    assert page.status_code == 200, f"the admin stored {field} 1949-06-01"
    assert page.context["adminform"].form.errors[field] == [message]
    record.refresh_from_db()
    assert getattr(record, field).year == 2020


CLINICAL = "patient_id,sex,birth_year,cancer_type,histology,stage,diagnosis_date\n"


@pytest.mark.parametrize(
    ("kind", "header", "row", "column"),
    [
        (TREATMENTS, "patient_id,kind,start_date", "P1,surgery,{day}", "start_date"),
        (EVENTS, "patient_id,kind,date", "P1,progression,{day}", "date"),
    ],
)
def test_a_clinical_import_refuses_a_record_before_the_birth_year(
    project, tmp_path, kind, header, row, column
):
    patients = tmp_path / "patients.csv"
    patients.write_text(CLINICAL + "P1,F,1950,LUAD,,IIIA,\n", encoding="utf-8")
    import_clinical(patients, project)
    early = tmp_path / "early.csv"
    early.write_text(f"{header}\n{row.format(day='1949-12-31')}\n", encoding="utf-8")
    same_year = tmp_path / "same_year.csv"
    same_year.write_text(
        f"{header}\n{row.format(day='1950-01-01')}\n", encoding="utf-8"
    )

    with pytest.raises(ImportRejected) as rejected:
        import_clinical(early, project, kind=kind)
    report = import_clinical(same_year, project, kind=kind)

    assert [(p.row, p.field, p.value, p.code) for p in rejected.value.problems] == [
        (2, column, "1949-12-31", "before-birth")
    ]
    assert report.created == {kind: 1}


def test_a_clinical_reimport_names_each_patient_born_after_a_record(project, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(
        CLINICAL
        + "P1,F,1950,LUAD,,IIIA,\nP2,M,1950,LUAD,,IIIA,\nP3,M,1950,LUAD,,IIIA,\n",
        encoding="utf-8",
    )
    import_clinical(first, project)
    one, _ = pseudonymise(project, "P1")
    two, _ = pseudonymise(project, "P2")
    treatment = one.treatments.create(kind="surgery", started_on=dt.date(2015, 3, 2))
    two.events.create(kind="progression", occurred_on=dt.date(2019, 1, 1))
    changed = tmp_path / "b.csv"
    changed.write_text(
        CLINICAL
        + "P1,F,2016,LUAD,,IIIA,\nP2,M,2019,LUAD,,IIIA,\nP3,M,2020,LUAD,,IIIA,\n",
        encoding="utf-8",
    )

    with pytest.raises(ImportRejected) as rejected:
        import_clinical(changed, project, update=True)

    (problem,) = rejected.value.problems
    assert (problem.row, problem.field, problem.value) == (2, "birth_year", "2016")
    assert f"treatment {treatment.pk} (started_on 2015-03-02)" in problem.message
    assert sorted(Patient.objects.values_list("birth_year", flat=True)) == [1950] * 3


def test_the_birth_years_of_many_patients_are_checked_in_batches(biobank):
    # Ids of no patient, more than one query of SQLite takes (each kind of record
    # repeats them), and A last:
    births = dict.fromkeys(range(10**6, 10**6 + 50_000), 1950)
    births[biobank.a.patient.pk] = 2021

    found = earliest_records_before(births)

    consent = biobank.a.consent
    assert found == {
        biobank.a.patient.pk: f"consent {consent.pk} (given_on 2020-01-15)"
    }


def test_no_query_of_a_batch_sends_more_parameters_than_the_database_takes(biobank):
    # Distinct birth years, the most parameters a patient can bring; each query's
    # count against the limit Django declares (999 on SQLite; review rv7):
    births = {10**6 + n: 1900 + n % 100 for n in range(2_000)}
    sent: list[int] = []

    def counted(execute, sql, params, many, context):
        sent.append(len(params or ()))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(counted):
        earliest_records_before(births)

    limit = connection.features.max_query_params or 2**16
    assert sent and max(sent) <= limit
