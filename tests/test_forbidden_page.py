"""The project's 403 page: the role is missing, with ways back and no internals."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory
from django.urls import reverse

from biobank.errors import permission_denied
from patients.models import Role
from tests.conftest import grant

SAYS = "does not hold the role this page needs"


@pytest.fixture
def member(django_user_model, project):
    def with_role(role: str, **flags):
        user = django_user_model.objects.create_user(f"user-{role}", **flags)
        return grant(user, project, role)

    return with_role


def assert_refusal_page(response, username: str) -> str:
    assert response.status_code == 403
    assert [t.name for t in response.templates][:2] == ["403.html", "base.html"]
    page = response.content.decode()
    assert "<h1>Not allowed</h1>" in page
    assert f"Your account, {username}, {SAYS}" in page
    assert f'href="{reverse("browse:dashboard")}"' in page
    assert f'action="{reverse("logout")}"' in page
    assert "csrfmiddlewaretoken" in page
    for internal in ("Traceback", "PermissionDenied", "403 Forbidden"):
        assert internal not in page
    return page


def test_a_curator_refused_an_admin_page_gets_the_projects_403_page(client, member):
    curator = member(Role.CURATOR)  # no staff flag: admitted by the role
    client.force_login(curator)

    response = client.get("/admin/auth/user/")

    page = assert_refusal_page(response, curator.username)
    assert 'href="/admin/">Back to curation (admin)</a>' in page


def test_a_viewer_refused_the_upload_page_gets_the_projects_403_page(client, member):
    viewer = member(Role.VIEWER, is_staff=True)
    client.force_login(viewer)

    response = client.get(reverse("imports-upload"))

    page = assert_refusal_page(response, viewer.username)
    # Staff enter the admin; the refusal's own text ("You curate no project.") is
    # not shown, as no exception's text is:
    assert 'href="/admin/">Back to curation (admin)</a>' in page
    assert "You curate no project" not in page


def test_a_viewer_outside_the_admin_is_offered_no_way_into_it(member):
    request = RequestFactory().get("/somewhere/")
    request.user = member(Role.VIEWER)

    response = permission_denied(request, PermissionDenied("internal detail"))

    page = response.content.decode()
    assert response.status_code == 403
    assert SAYS in page
    assert "/admin/" not in page
    assert "internal detail" not in page
