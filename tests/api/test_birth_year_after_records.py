"""A birth year may not move past the patient's stored draws, from any write path.

A draw dated in a year before the patient's birth year is refused (admin, API, lab
importers); the same rule holds from the patient's side: a birth year given after
the draws are stored is refused in the admin, the API and a clinical re-import,
naming the birth year and the earliest draw before it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from biobank.core.importing import ImportRejected
from liquidbiopsy.models import BloodSample
from patients.importers.clinical import import_clinical
from patients.services import pseudonymise
from tests import test_admin
from tests.api import test_writes
from tests.test_admin import edit_in_admin

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client


def draw(patient, day: dt.date) -> BloodSample:
    moment = timezone.make_aware(dt.datetime.combine(day, dt.time(9, 0)))
    return BloodSample.objects.create(patient=patient, drawn_at=moment)


def test_the_api_refuses_a_birth_year_after_the_earliest_draw(biobank, curator_api):
    patient = biobank.a.patient  # born 1950, drawn in 2020
    earliest = draw(patient, dt.date(2015, 3, 2))
    draw(patient, dt.date(2016, 5, 1))

    refused = curator_api.patch(
        f"/api/patients/{patient.pk}/", {"birth_year": 2020}, format="json"
    )
    same_year = curator_api.patch(
        f"/api/patients/{patient.pk}/", {"birth_year": 2015}, format="json"
    )

    assert refused.status_code == 400, refused.content[:300]
    (message,) = refused.json()["birth_year"]
    assert f"blood draw {earliest.pk} (drawn_at 2015-03-02)" in message
    assert same_year.status_code == 200, same_year.content[:300]
    patient.refresh_from_db()
    assert patient.birth_year == 2015


def test_the_admin_refuses_a_birth_year_after_a_draw(biobank, curator_client):
    patient = biobank.a.patient
    sample = biobank.a.sample  # drawn on 2020-01-22

    page = edit_in_admin(curator_client, patient, birth_year="2021")

    assert page.status_code == 200, "the admin stored birth year 2021"
    (message,) = page.context["adminform"].form.errors["birth_year"]
    assert message.startswith("Birth year lies after the patient's blood draw")
    assert f"blood draw {sample.pk} (drawn_at 2020-01-22)" in message
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
