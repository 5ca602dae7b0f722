"""The site's icon, at the address browsers ask for it on every page."""

from __future__ import annotations

from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

ICON = "biobank/favicon.svg"


def favicon(request: HttpRequest) -> HttpResponse:
    """Send /favicon.ico to the icon among the static files, wherever they are served.

    Pages link the icon themselves (base.html); the admin's and the API's pages do
    not, so browsers ask for /favicon.ico there, which answered 404. The redirect is
    temporary, for a day: with DEBUG off the icon's name holds its content hash, which
    a new icon changes, and a permanent redirect would keep browsers on the old name.
    """
    response = HttpResponseRedirect(staticfiles_storage.url(ICON))
    response["Cache-Control"] = "max-age=86400"
    return response
