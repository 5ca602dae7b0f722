"""Every URL the project exposes, walked from the resolver: anonymous visitors get nothing.

A new URL is in this walk without anyone adding it, so it cannot be forgotten. Project
roles (issue 6) extend the same walk to viewers, curators, managers and outsiders.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from tests.biobank.conftest import Records

pytestmark = pytest.mark.attack

# What an anonymous visitor may open: signing in and out, and the health checks of the
# load balancer. Everything else answers 302 to a login page, 401 or 403, whatever the
# method (so login_required wraps require_GET, not the reverse).
PUBLIC = {
    "/health/",
    "/ready/",
    "/accounts/login/",
    "/admin/login/",
    "/api/auth/login/",
    "/api/auth/token/",
    # Signing out reveals nothing, signed in or not:
    "/accounts/logout/",
    # The site's icon, which a browser asks for on the sign-in page too:
    "/favicon.ico",
    "/admin/logout/",
    "/api/auth/logout/",
}
DENIED = {401, 403}
SECRET = "ANON-LEAK-0042"  # noqa: S105 -- a pseudonym, not a password


def walk(patterns, prefix: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def concrete(template: str) -> str:
    """Fill a route or regex template with plausible values: ids 1, format json."""
    path = template.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<format>[^)]*\)", "json", path)
    path = re.sub(r"\(\?P<[a-z_]+>[^)]*\)", "1", path)
    path = re.sub(r"<drf_format_suffix:format>", ".json", path)
    path = re.sub(r"<(?:[a-z_]+:)?[a-z_]+>", "1", path)
    path = path.replace("\\.", ".").replace("/?", "/").replace("\\", "")
    return "/" + path


def every_url() -> list[str]:
    return sorted({concrete(t) for t in walk(get_resolver().url_patterns)})


def test_the_walk_finds_the_pages_the_api_and_the_admin():
    urls = every_url()

    assert len(urls) > 150
    for expected in (
        "/",
        "/patients/1/",
        "/api/patients/1/",
        "/admin/patients/patient/1/change/",
    ):
        assert expected in urls


@pytest.fixture
def secret_record(project):
    patient = Records(project).patient(SECRET)
    return patient


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_visitors_get_only_the_sign_in_page_and_health(
    client, secret_record, method
):
    problems = []
    for url in every_url():
        response = getattr(client, method)(url)
        body = (
            b"".join(response.streaming_content)
            if response.streaming
            else response.content
        )
        if SECRET.encode() in body:
            problems.append(f"{method.upper()} {url}: the body shows a patient")
        if url in PUBLIC:
            continue
        redirected_to_login = (
            response.status_code == 302 and "login" in response["Location"]
        )
        if not (redirected_to_login or response.status_code in DENIED):
            problems.append(f"{method.upper()} {url}: {response.status_code}")

    assert problems == [], "\n".join(problems)
