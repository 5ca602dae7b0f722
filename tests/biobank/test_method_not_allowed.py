"""A request with a method an address does not take gets a page saying which it takes.

Django's require_GET, require_POST and class-based views answer 405 with an empty
body, which a browser showed as a blank page.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.biobank.test_unknown_parameters import POST_ONLY, _named_patterns
from tests.biobank.test_unknown_parameters import _alert as _alert_html


def _alert(response) -> str:
    return " ".join(_alert_html(response).split())


# The JSON addresses of the pages answer in JSON (below):
PAGES = [name for name in _named_patterns() if not name.endswith("-json")]


def _address(name: str) -> str:
    """The address of a named pattern with 1 for each path parameter.

    The method is refused before any record is looked up, so none need exist.
    """
    from biobank.browse import urls as browse_urls
    from biobank.cohorts import urls as cohorts_urls

    app, short = name.split(":")
    module = {"browse": browse_urls, "cohorts": cohorts_urls}[app]
    (pattern,) = [each for each in module.urlpatterns if each.name == short]
    return reverse(name, kwargs=dict.fromkeys(pattern.pattern.converters, 1))


@pytest.mark.parametrize("name", PAGES)
def test_every_page_names_the_methods_it_takes(logged_in, name):
    url = _address(name)
    wrong, right = ("GET", "POST") if name in POST_ONLY else ("POST", "GET")

    response = logged_in.generic(wrong, url)

    assert response.status_code == 405, name
    assert response["Content-Type"].startswith("text/html")
    assert right in response["Allow"]
    assert f"This address does not take a {wrong} request; it takes " in _alert(
        response
    )
    assert right in _alert(response)
    body = response.content.decode()
    assert "<h1>Method not allowed</h1>" in body
    assert 'aria-label="Main"' in body  # the site's header and navigation


def test_a_post_only_address_says_where_its_form_is(logged_in):
    response = logged_in.get("/cohorts/save/")

    assert _alert(response) == (
        "This address does not take a GET request; it takes POST."
    )
    assert "use the button on the page that holds the form" in response.content.decode()


def test_a_page_links_to_itself_for_a_get(logged_in):
    response = logged_in.post("/patients/")

    assert response["Allow"] == "GET"
    assert '<a href="/patients/">Open this address as a page</a>' in (
        response.content.decode()
    )


def test_the_sign_out_address_answers_a_get_with_the_page_too(client, db):
    response = client.get("/accounts/logout/")

    assert response.status_code == 405
    assert "it takes POST" in _alert(response)


@pytest.mark.parametrize("url", ["/cohorts/count.json", "/cohorts/query.json"])
def test_a_json_address_of_the_pages_answers_in_json(logged_in, url):
    response = logged_in.post(url)

    assert response.status_code == 405
    assert response.json() == {
        "detail": "This address does not take a POST request; it takes GET."
    }


def test_the_api_keeps_its_own_json(logged_in):
    response = logged_in.post("/api/cohort-pairs/")

    assert response.status_code == 405
    assert response.json() == {"detail": 'Method "POST" not allowed.'}


def test_several_methods_are_listed_in_words(logged_in):
    # The sign-out view takes POST and OPTIONS; the cohort page GET only:
    response = logged_in.generic("OPTIONS", "/cohorts/")
    signed_out = logged_in.generic("PUT", "/accounts/logout/")

    assert _alert(response) == (
        "This address does not take an OPTIONS request; it takes GET."
    )
    assert _alert(signed_out) == (
        "This address does not take a PUT request; it takes POST or OPTIONS."
    )
