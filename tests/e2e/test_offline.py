"""Every page works offline: the browser never asks another host for anything."""

from __future__ import annotations

from tests.e2e.conftest import sign_in
from tests.e2e.test_researcher_journey import biobank  # noqa: F401 -- fixture

PAGES = [
    "/",
    "/patients/",
    "/cohorts/",
    "/follow-up/",
    "/api/docs/",
    "/api/redoc/",
    "/admin/",
]


def test_no_page_requests_another_host(page, researcher, biobank, live_server):  # noqa: F811
    researcher.is_staff = researcher.is_superuser = True
    researcher.save()
    elsewhere: list[str] = []
    blocked: list[str] = []

    def note(request) -> None:
        if not request.url.startswith((live_server.url, "data:", "blob:")):
            elsewhere.append(request.url)

    def note_blocked(request) -> None:
        # Refused by our Content-Security-Policy inside the browser ("csp", or
        # net::ERR_BLOCKED_BY_CSP): the request never left the machine.
        if "csp" in (request.failure or "").lower():
            blocked.append(request.url)

    page.on("request", note)
    page.on("requestfailed", note_blocked)
    sign_in(page)
    patient = biobank.project.patients.order_by("pk").first()
    study = patient.imaging_studies.get()
    for path in [*PAGES, f"/patients/{patient.pk}/", f"/studies/{study.pk}/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")

    assert [url for url in elsewhere if url not in blocked] == []
