"""The audit of one user's changes tells what a deletion lost, not only the record's id."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from liquidbiopsy.models import BloodSample
from patients.models import Patient


@pytest.fixture
def site_admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("boss"))
    return client


def test_a_deleted_patient_and_its_draw_are_named_with_their_values(
    site_admin_client, project
):
    patient = Patient.objects.create(
        project=project,
        pseudonym="PT-GONE7",
        source_key="beefcafe" * 8,
        birth_year=1957,
        histology="adenocarcinoma",
    )
    BloodSample.objects.create(
        patient=patient,
        drawn_at=timezone.make_aware(dt.datetime(2021, 3, 4, 9, 30)),
        external_sample_id="LAB-77-X",
    )

    deleted = site_admin_client.post(
        f"/admin/patients/patient/{patient.pk}/delete/", {"post": "yes"}
    )
    page = site_admin_client.get("/admin/audit/changes/", {"user": "boss"})
    body = page.content.decode()

    assert deleted.status_code == 302
    assert not Patient.objects.filter(pk=patient.pk).exists()
    assert page.status_code == 200
    assert "PT-GONE7" in body
    assert "1957" in body and "adenocarcinoma" in body
    assert "LAB-77-X" in body
    assert "beefcafe" not in body
