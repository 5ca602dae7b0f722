"""How an account is made, as README ("Projects and roles") and docs/access.md say."""

from __future__ import annotations

from patients.models import ProjectMembership, Role

PASSWORD = "account-pass-123"  # noqa: S105 (a test account)


def test_a_site_administrator_adds_an_account_and_its_role_in_the_admin(
    client, django_user_model, project
):
    client.force_login(django_user_model.objects.create_superuser("site-admin"))

    added = client.post(
        "/admin/auth/user/add/",
        {
            "username": "alice",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    granted = client.post(
        "/admin/patients/projectmembership/add/",
        {"user": "alice", "project": project.pk, "role": Role.CURATOR},
    )

    assert (added.status_code, granted.status_code) == (302, 302)
    alice = django_user_model.objects.get(username="alice")
    assert not alice.is_staff  # no staff flag: the role lets a curator in
    assert ProjectMembership.objects.get(user=alice).role == Role.CURATOR
    client.logout()
    signed_in = client.post(
        "/admin/login/", {"username": "alice", "password": PASSWORD}
    )
    assert signed_in["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
