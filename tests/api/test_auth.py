"""Sign-in to the API: by token, by session, and nothing for anonymous callers."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.api.test_endpoints import ENDPOINTS

ANONYMOUS_REFUSED = [f"/api/{endpoint}/" for endpoint, _ in ENDPOINTS] + [
    "/api/",
    "/api/patients/PT-A/timeline/",
    "/api/cohort-pairs/",
    "/api/schema/",
]


@pytest.mark.parametrize("url", ANONYMOUS_REFUSED)
@pytest.mark.attack
def test_anonymous_caller_is_refused(url, db):
    response = APIClient().get(url)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.attack
def test_anonymous_caller_sees_no_record_even_of_a_known_id(biobank):
    response = APIClient().get(f"/api/patients/{biobank.a.patient.pk}/")

    assert response.status_code == 401
    assert "PT-A" not in response.content.decode()


def test_token_signs_in(api, biobank):
    response = api.get("/api/patients/")

    assert response.status_code == 200
    assert response.json()["count"] == 2


@pytest.mark.attack
def test_wrong_token_is_refused(biobank):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567"
    )

    response = client.get("/api/patients/")

    assert response.status_code == 401


def test_session_signs_in(client, analyst, biobank):
    client.force_login(analyst)

    response = client.get("/api/patients/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json()["count"] == 2


def test_session_from_the_login_page_signs_in(client, django_user_model, biobank):
    django_user_model.objects.create_user("reader", password="reader-pass-123")
    client.post(reverse("login"), {"username": "reader", "password": "reader-pass-123"})

    response = client.get("/api/patients/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200


def test_token_endpoint_hands_out_the_users_token(django_user_model, db):
    user = django_user_model.objects.create_user("reader", password="reader-pass-123")

    response = APIClient().post(
        reverse("api-token"), {"username": "reader", "password": "reader-pass-123"}
    )

    assert response.status_code == 200
    assert response.json()["token"] == user.auth_token.key


@pytest.mark.attack
def test_token_endpoint_refuses_a_wrong_password(django_user_model, db):
    django_user_model.objects.create_user("reader", password="reader-pass-123")

    response = APIClient().post(
        reverse("api-token"), {"username": "reader", "password": "guess"}
    )

    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.attack
def test_session_caller_cannot_write(client, analyst, biobank):
    client.force_login(analyst)

    response = client.post("/api/patients/", {"pseudonym": "NEW"})

    # Writing needs curator rights (tests/api/test_writes.py); the analyst has none:
    assert response.status_code == 403


def test_browsable_api_renders_for_a_signed_in_user(client, analyst, biobank):
    client.force_login(analyst)

    response = client.get("/api/patients/", HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert b"PT-A" in response.content
    assert reverse("rest_framework:logout").encode() in response.content


@pytest.mark.attack
def test_token_requests_are_throttled_per_address(django_user_model, db):
    from rest_framework.test import APIClient

    from biobank.api.views import SignInThrottle

    django_user_model.objects.create_user("guesser", password="right-password-42")
    monkey_rates = {**SignInThrottle.THROTTLE_RATES, "sign-in": "3/minute"}
    SignInThrottle.THROTTLE_RATES = monkey_rates
    try:
        client = APIClient()
        answers = [
            client.post(
                "/api/auth/token/", {"username": "guesser", "password": f"guess-{n}"}
            ).status_code
            for n in range(4)
        ]
        right = client.post(
            "/api/auth/token/", {"username": "guesser", "password": "right-password-42"}
        )
    finally:
        del SignInThrottle.THROTTLE_RATES
    assert answers == [400, 400, 400, 429]
    assert right.status_code == 429
    assert "Retry-After" in right
