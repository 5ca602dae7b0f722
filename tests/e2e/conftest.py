"""Headless Chromium against a live server: sign in and use the pages as a researcher.

Screenshots land in artifacts/screenshots/ (git-ignored), which CI keeps.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"
PASSWORD = "browser-pass-123"  # noqa: S105 -- a throwaway test account


def chromium_path() -> str:
    """Return Debian's Chromium, or skip (fail on CI, whose .ci/run installs it)."""
    path = os.environ.get("BIOBANK_CHROMIUM") or shutil.which("chromium")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("Chromium is missing; .ci/run installs Debian's chromium package")
    pytest.skip(
        "Chromium is not installed (apt-get install chromium); .ci/run installs it"
    )


@pytest.fixture(scope="module")
def browser() -> Iterator:
    playwright_api = pytest.importorskip("playwright.sync_api")
    executable = chromium_path()
    # Playwright's sync API keeps an event loop running in this thread; the tests' own
    # ORM calls (fixtures creating records) are still plain synchronous code, so Django
    # may allow them while the browser runs, and only then:
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        yield from _launch(playwright_api, executable)
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


def _launch(playwright_api, executable: str) -> Iterator:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            # Root in a container has no user namespace for Chromium's sandbox:
            args=["--no-sandbox"],
        )
        yield browser
        browser.close()


@pytest.fixture
def researcher(transactional_db, django_user_model):
    return django_user_model.objects.create_user("researcher", password=PASSWORD)


@pytest.fixture
def page(browser, live_server, request) -> Iterator:
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1366, "height": 768}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name}.png", full_page=True)
    context.close()


def sign_in(page, username: str = "researcher", password: str = PASSWORD) -> None:
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    # Wait for the answer to the form (the dashboard, or the form again with an error)
    # so that a test's next goto() cannot cut the sign-in short:
    with page.expect_navigation():
        page.get_by_role("button", name="Log in").click()


def expect(target):
    """Playwright's assertions, which retry until the page shows what they ask for.

    A click that follows a link returns once the navigation has started, not once the
    next page has loaded, so a one-shot check such as ``is_visible()`` right after it
    can read the old page (or none) and fail at random. Every check that follows a
    navigation goes through here instead.
    """
    playwright_api = pytest.importorskip("playwright.sync_api")
    return playwright_api.expect(target)


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path
