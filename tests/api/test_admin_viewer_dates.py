"""The admin shows a project's records only to those who may see its calendar dates.

A curator of one project who is a viewer of another enters the admin; there the
other project's records would show their calendar dates, moments of record keeping
and history, which that viewer gets shifted (or not at all) everywhere else
(docs/access.md#dates). The biobank of tests/api/conftest.py, in project "demo".
"""

from __future__ import annotations

import pytest

from patients.models import Project
from tests.conftest import grant

CALENDAR_DAYS = ("2020-01-10", "2020-01-20", "2020-01-22", "Jan. 10, 2020")


def admin_urls(biobank) -> list[str]:
    a = biobank.a
    return [
        "/admin/patients/patient/",
        f"/admin/patients/patient/{a.patient.pk}/change/",
        f"/admin/patients/patient/{a.patient.pk}/history/",
        "/admin/patients/treatment/",
        "/admin/radiomics/imagingstudy/",
        f"/admin/radiomics/imagingstudy/{a.study.pk}/change/",
        "/admin/radiomics/featureextraction/",
        "/admin/liquidbiopsy/bloodsample/",
        f"/admin/liquidbiopsy/bloodsample/{a.sample.pk}/change/",
    ]


@pytest.fixture
def viewer_elsewhere(client, django_user_model, project):
    """A curator of project "other", viewer of "demo", signed in."""
    other = Project.objects.create(code="other", name="Other collection")
    user = grant(django_user_model.objects.create_user("mixed"), other, "curator")
    grant(user, project, "viewer")
    client.force_login(user)
    return client


def test_a_viewer_of_the_project_reads_none_of_its_records_in_the_admin(
    viewer_elsewhere, biobank
):
    for url in admin_urls(biobank):
        response = viewer_elsewhere.get(url)
        text = response.content.decode()

        # A list without them; a record as if absent (404, or back to the index):
        assert response.status_code in (200, 302, 404), url
        assert "PT-A" not in text, url
        assert [day for day in CALENDAR_DAYS if day in text] == [], url


def test_a_curator_of_the_project_still_reads_its_records(
    client, django_user_model, project, biobank
):
    curator = grant(django_user_model.objects.create_user("cur"), project, "curator")
    client.force_login(curator)

    for url in admin_urls(biobank):
        response = client.get(url)

        assert response.status_code == 200, url
    listed = client.get("/admin/patients/patient/").content.decode()
    assert "PT-A" in listed


def test_shared_records_stay_open_to_a_curator_of_any_project(
    viewer_elsewhere, biobank
):
    response = viewer_elsewhere.get("/admin/radiomics/featuredefinition/")

    assert response.status_code == 200
    assert "original_firstorder_Mean" in response.content.decode()
