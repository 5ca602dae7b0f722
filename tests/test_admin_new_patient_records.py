"""A patient added in the admin with its records: the records pass the rules that a
stored patient's records pass through the API's (biobank.api.admin_forms), which
need the stored patient (review rv7)."""

from __future__ import annotations

import datetime as dt

import pytest

from liquidbiopsy.models import BloodSample
from patients.models import Patient, Treatment
from tests import test_admin
from tests.biobank.conftest import Records
from tests.test_admin import admin_url, post_data

curator_client = test_admin.curator_client


@pytest.fixture
def add_patient(curator_client, project):
    """Post the page adding a patient born in 1990, with the given inline fields."""
    url = admin_url(Patient, "add")

    def post(**inline: str):
        data = post_data(curator_client.get(url)) | {
            "project": str(project.pk),
            "pseudonym": "demo-7KQ3MX6",
            "source_key": "new-patient-key",
            "sex": "F",
            "birth_year": "1990",
            "cancer_type": "LUAD",
        }
        response = curator_client.post(url, data | inline)
        assert response.status_code == 200, "stored: the page was not shown again"
        return {
            inline.formset.prefix: inline.formset.errors
            for inline in response.context["inline_admin_formsets"]
            if any(inline.formset.errors)
        }

    return post


def draw(day: str, sample_id: str) -> dict[str, str]:
    return {
        "blood_samples-0-drawn_at_0": day,
        "blood_samples-0-drawn_at_1": "09:00:00",
        "blood_samples-0-external_sample_id": sample_id,
        "blood_samples-TOTAL_FORMS": "1",
    }


def test_a_new_patients_draw_may_not_carry_a_lab_id_of_the_project(
    add_patient, project
):
    records = Records(project)
    other = records.draw(
        records.patient("demo-OTHER01"), dt.date(2020, 5, 1), external_sample_id="LB-1"
    )

    errors = add_patient(**draw("2021-03-01", "LB-1"))

    (message,) = errors["blood_samples"][0]["external_sample_id"]
    assert "is the lab sample ID of another draw of this project" in message
    assert other.patient.pseudonym in message
    assert not Patient.objects.filter(pseudonym="demo-7KQ3MX6").exists()


def test_a_new_patients_draw_may_not_lie_before_its_birth_year(add_patient):
    errors = add_patient(**draw("1985-03-01", "LB-X"))

    (message,) = errors["blood_samples"][0]["drawn_at"]
    assert message.endswith("lies before the patient's birth year.")
    assert not BloodSample.objects.filter(external_sample_id="LB-X").exists()


def test_a_new_patients_treatment_may_not_start_before_its_birth_year(add_patient):
    errors = add_patient(
        **{
            "treatments-0-kind": "chemotherapy",
            "treatments-0-agent": "newdrug",
            "treatments-0-started_on": "1985-03-01",
            "treatments-0-line": "1",
            "treatments-TOTAL_FORMS": "1",
        }
    )

    (message,) = errors["treatments"][0]["started_on"]
    assert message.endswith("lies before the patient's birth year.")
    assert not Treatment.objects.filter(agent="newdrug").exists()
