"""Static files with DEBUG off: hashed names, gzip copies and a long cache once collected.

And the site's icon, linked from the pages and answered at /favicon.ico.
"""

from __future__ import annotations

import sys

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.management import call_command
from django.test import Client

from tests.conftest import run_in_repo

COLLECTED = "biobank.core.staticfiles.CollectedStaticFilesStorage"


@pytest.fixture
def collected_storage(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATIC_ROOT.mkdir()
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": COLLECTED},
    }
    return settings.STATIC_ROOT


def test_collected_files_are_served_compressed_and_cached_for_good(
    collected_storage, db
):
    call_command("collectstatic", interactive=False, verbosity=0)
    url = staticfiles_storage.url("cohorts/live_count.js")

    response = Client().get(url, HTTP_ACCEPT_ENCODING="gzip")

    assert url != "/static/cohorts/live_count.js"
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "immutable" in response["Cache-Control"]


def test_before_collectstatic_pages_link_the_files_by_their_own_names(
    collected_storage, db
):
    url = staticfiles_storage.url("cohorts/live_count.js")

    response = Client().get(url)

    assert url == "/static/cohorts/live_count.js"
    assert response.status_code == 200


def test_a_file_collected_after_the_manifest_is_linked_by_its_own_name(
    collected_storage, db
):
    call_command("collectstatic", interactive=False, verbosity=0)
    # An upgrade brought this file after the last collectstatic:
    del staticfiles_storage.hashed_files["cohorts/live_count.js"]
    for copy in (collected_storage / "cohorts").glob("live_count*"):
        copy.unlink()

    url = staticfiles_storage.url("cohorts/live_count.js")

    assert url == "/static/cohorts/live_count.js"
    assert Client().get(url).status_code == 200


def test_pages_link_the_sites_icon(client, db):
    page = client.get("/accounts/login/").content.decode()

    assert (
        '<link rel="icon" href="/static/biobank/favicon.svg" type="image/svg+xml">'
        in page
    )


def test_favicon_ico_answers_with_the_icon(client, db):
    response = client.get("/favicon.ico", follow=True)

    assert response.redirect_chain == [("/static/biobank/favicon.svg", 302)]
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert b"".join(response.streaming_content).startswith(b"<svg")


def test_favicon_ico_answers_with_the_collected_icon(collected_storage, db):
    call_command("collectstatic", interactive=False, verbosity=0)

    response = Client().get("/favicon.ico", follow=True)

    ((url, status),) = response.redirect_chain
    assert url.startswith("/static/biobank/favicon.") and url.endswith(".svg")
    assert url != "/static/biobank/favicon.svg"
    assert status == 302
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("debug", "backend"),
    [
        ("false", COLLECTED),
        ("true", "django.contrib.staticfiles.storage.StaticFilesStorage"),
    ],
)
def test_settings_collect_static_files_only_with_debug_off(tmp_path, debug, backend):
    done = run_in_repo(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; "
            "print(settings.STORAGES['staticfiles']['BACKEND'])",
        ],
        tmp_path,
        DJANGO_SETTINGS_MODULE="biobank.settings",
        DEBUG=debug,
        SECRET_KEY="a-test-key-" + "x" * 50,
    )

    assert done.stdout.strip() == backend
