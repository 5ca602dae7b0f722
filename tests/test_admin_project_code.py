"""A stored project's code cannot change in the admin, by its form or a history revert.

Its patients' source keys and date shifts are made with it.
"""

from __future__ import annotations

import pytest

from patients.models import Project


@pytest.fixture
def site_admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root"))
    return client


def test_the_change_form_keeps_the_code(site_admin_client, project):
    code = project.code

    response = site_admin_client.post(
        f"/admin/patients/project/{project.pk}/change/",
        {"code": "renamed", "name": "New name", "description": ""},
    )

    project.refresh_from_db()
    assert response.status_code == 302
    assert (project.code, project.name) == (code, "New name")


def test_a_history_revert_keeps_the_code(site_admin_client, project):
    project.name = "Second name"
    project.save()
    # A version with another code, as a rename before this rule would have left:
    Project.objects.filter(pk=project.pk).update(code="current")
    first = project.history.order_by("history_id").first()

    response = site_admin_client.post(
        f"/admin/patients/project/{project.pk}/history/{first.history_id}/",
        {"name": first.name, "description": first.description or ""},
    )

    project.refresh_from_db()
    assert response.status_code == 302
    assert project.code == "current"
    assert project.name == first.name
