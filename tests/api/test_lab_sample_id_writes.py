"""A lab sample ID names one tube: the API and the admin refuse it on a second draw."""

from __future__ import annotations

from django.utils import timezone

from liquidbiopsy.models import BloodSample
from patients.models import Project
from patients.services import pseudonymise
from tests import test_admin
from tests.api import test_writes
from tests.api.test_writes import changed, created, errors_of
from tests.test_admin import admin_url, edit_in_admin, post_data

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client


def carrying(sample: BloodSample, lab_id: str) -> BloodSample:
    sample.external_sample_id = lab_id
    sample.save()
    return sample


def test_a_draw_posted_with_another_draws_lab_id_is_refused_naming_it(
    curator_api, biobank
):
    other = carrying(biobank.b.sample, "LB-1")

    response = curator_api.post(
        "/api/blood-samples/",
        {
            "patient": biobank.a.patient.pk,
            "drawn_at": "2020-06-01T10:30:00+02:00",
            "external_sample_id": "LB-1",
        },
        format="json",
    )

    (message,) = errors_of(response)["external_sample_id"]
    assert message.startswith("is the lab sample ID of another draw of this project")
    assert biobank.b.patient.pseudonym in message
    assert f"{timezone.localtime(other.drawn_at):%Y-%m-%d %H:%M}" in message
    assert biobank.b.patient.source_key not in message
    assert BloodSample.objects.filter(external_sample_id="LB-1").count() == 1


def test_a_draw_patched_to_another_draws_lab_id_is_refused(curator_api, biobank):
    carrying(biobank.b.sample, "LB-1")
    sample = biobank.a.sample

    response = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/",
        {"external_sample_id": "LB-1"},
        format="json",
    )

    assert "external_sample_id" in errors_of(response)
    assert BloodSample.objects.get(pk=sample.pk).external_sample_id == ""


def test_a_draw_keeps_its_own_lab_id_on_another_change(curator_api, biobank):
    sample = carrying(biobank.a.sample, "LB-1")

    changed(
        curator_api.patch(
            f"/api/blood-samples/{sample.pk}/",
            {"external_sample_id": "LB-1", "timepoint": "C1D1"},
            format="json",
        )
    )

    assert BloodSample.objects.get(pk=sample.pk).timepoint == "C1D1"


def test_a_draw_stored_with_a_taken_lab_id_may_change_otherwise(curator_api, biobank):
    # As stored before the rule: two draws of the project with one lab ID.
    carrying(biobank.b.sample, "LB-1")
    sample = carrying(biobank.a.sample, "LB-1")

    changed(
        curator_api.patch(
            f"/api/blood-samples/{sample.pk}/", {"timepoint": "C1D1"}, format="json"
        )
    )

    assert BloodSample.objects.get(pk=sample.pk).timepoint == "C1D1"


def test_the_same_lab_id_in_another_project_is_accepted(curator_api, biobank, curator):
    other = Project.objects.create(code="other", name="Other")
    test_writes.grant(curator, other, "curator")
    patient, _ = pseudonymise(other, "SRC-9")
    carrying(biobank.a.sample, "LB-1")

    data = created(
        curator_api.post(
            "/api/blood-samples/",
            {
                "patient": patient.pk,
                "drawn_at": "2020-06-01T10:30:00+02:00",
                "external_sample_id": "LB-1",
            },
            format="json",
        )
    )

    assert data["external_sample_id"] == "LB-1"


def test_the_admin_refuses_another_draws_lab_id_on_a_draws_page(
    curator_client, biobank
):
    carrying(biobank.b.sample, "LB-1")
    sample = biobank.a.sample

    page = edit_in_admin(curator_client, sample, external_sample_id="LB-1")

    assert page.status_code == 200
    (message,) = page.context["adminform"].form.errors["external_sample_id"]
    assert "is the lab sample ID of another draw of this project" in message
    assert biobank.b.patient.pseudonym in message
    assert BloodSample.objects.get(pk=sample.pk).external_sample_id == ""


def test_the_admin_refuses_two_new_draws_with_one_lab_id_on_a_patients_page(
    curator_client, biobank
):
    patient = biobank.a.patient
    url = admin_url(type(patient), "change", patient.pk)
    data = post_data(curator_client.get(url))
    prefix = "blood_samples"
    shown = int(data[f"{prefix}-TOTAL_FORMS"])
    for number in (shown, shown + 1):
        data |= {
            f"{prefix}-{number}-patient": str(patient.pk),
            f"{prefix}-{number}-drawn_at_0": f"2020-0{number + 2}-01",
            f"{prefix}-{number}-drawn_at_1": "09:00:00",
            f"{prefix}-{number}-external_sample_id": "LB-9",
        }
    data[f"{prefix}-TOTAL_FORMS"] = str(shown + 2)
    before = BloodSample.objects.count()

    page = curator_client.post(url, data)

    assert page.status_code == 200
    formset = next(
        inline.formset
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.prefix == prefix
    )
    errors = [form.errors.get("external_sample_id") for form in formset.forms]
    assert any(errors), errors
    assert BloodSample.objects.count() == before
