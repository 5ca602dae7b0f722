"""The admin never shows a patient's source key, a keyed hash of its source ID."""

from __future__ import annotations

import pytest

from patients.models import Patient
from tests.conftest import grant


@pytest.fixture
def curator_client(client, django_user_model, project):
    curator = grant(django_user_model.objects.create_user("cur"), project, "curator")
    client.force_login(curator)
    return client


def test_no_page_of_a_patient_in_the_admin_shows_its_source_key(
    curator_client, project
):
    patient = Patient.objects.create(
        project=project, pseudonym="PT-KEY1", source_key="f00dfeed" * 8
    )
    patient.birth_year = 1960
    patient.save()
    version = patient.history.order_by("history_id").first()
    pages = [
        "/admin/patients/patient/",
        f"/admin/patients/patient/{patient.pk}/change/",
        f"/admin/patients/patient/{patient.pk}/history/",
        f"/admin/patients/patient/{patient.pk}/history/{version.history_id}/",
        "/admin/patients/patient/add/",
    ]

    shown = {url: curator_client.get(url) for url in pages}

    assert {
        url: response.status_code for url, response in shown.items()
    } == dict.fromkeys(pages, 200)
    assert [
        url for url, response in shown.items() if b"f00dfeed" in response.content
    ] == []
