"""The admin's own sign-in page admits whoever the admin admits (biobank.admin_site)."""

from __future__ import annotations

import pytest

from biobank.admin_login import NOT_FOR_THIS_ACCOUNT
from patients.models import Role
from tests.conftest import grant

PASSWORD = "sign-in-pass-123"  # noqa: S105 (a test account)
STAFF_ONLY = (
    "Please enter the correct username and password for a staff account. Note that "
    "both fields may be case-sensitive."
)


@pytest.fixture
def member(django_user_model, project):
    """Return a user without a staff flag given `role` in the project."""

    def with_role(role: str | None):
        user = django_user_model.objects.create_user(f"user-{role}", password=PASSWORD)
        return user if role is None else grant(user, project, role)

    return with_role


def sign_in(client, user):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": user.username, "password": PASSWORD, "next": "/admin/"},
    )


def test_a_curator_without_a_staff_flag_signs_in_at_the_admins_own_page(client, member):
    curator = member(Role.CURATOR)

    response = sign_in(client, curator)

    assert response.status_code == 302, response.context["form"].errors
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.parametrize("role", [None, Role.VIEWER])
def test_an_outsider_or_a_viewer_is_told_the_admin_is_not_for_them(
    client, member, role
):
    user = member(role)

    response = sign_in(client, user)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [NOT_FOR_THIS_ACCOUNT]
    assert "_auth_user_id" not in client.session


def test_an_inactive_account_gets_djangos_message(client, member):
    user = member(Role.CURATOR)
    user.is_active = False
    user.save()

    response = sign_in(client, user)

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [STAFF_ONLY]
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_of_a_curator_gets_the_same_message(client, member):
    curator = member(Role.CURATOR)

    response = client.post(
        "/admin/login/", {"username": curator.username, "password": "wrong"}
    )

    assert response.context["form"].non_field_errors() == [STAFF_ONLY]


@pytest.mark.parametrize(
    "query, posted, lands_on",
    [
        ("", {}, "/admin/"),  # no next at all: the admin, not the dashboard at /
        ("", {"next": ""}, "/admin/"),
        ("", {"next": "https://elsewhere.example/"}, "/admin/"),  # unsafe: dropped
        ("?next=/admin/patients/patient/", {}, "/admin/patients/patient/"),
        ("", {"next": "/admin/patients/patient/"}, "/admin/patients/patient/"),
        ("", {"next": "/"}, "/"),  # a safe next is kept, wherever it leads
    ],
)
def test_signing_in_at_the_admins_page_lands_on_a_safe_next_else_the_admin(
    client, member, query, posted, lands_on
):
    curator = member(Role.CURATOR)

    response = client.post(
        f"/admin/login/{query}",
        {"username": curator.username, "password": PASSWORD, **posted},
    )

    assert response.status_code == 302
    assert response["Location"] == lands_on


def test_the_admins_sign_in_page_itself_posts_the_admin_as_next(client, member):
    page = client.get("/admin/login/").content.decode()

    assert '<input type="hidden" name="next" value="/admin/">' in page


def test_signing_in_at_the_sites_page_still_lands_on_the_dashboard(client, member):
    viewer = member(Role.VIEWER)

    response = client.post(
        "/accounts/login/", {"username": viewer.username, "password": PASSWORD}
    )

    assert response["Location"] == "/"
