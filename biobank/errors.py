"""The project's page of a refusal (handler403)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from biobank.admin_site import admits


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler403: say that the account lacks the role for this page; offer ways back.

    Django's own handler renders 403.html as well, but cannot tell whether the user may
    enter the admin, which curators without a staff flag may (admits). The exception's
    text is not shown: a refusal says no more than that the role is missing.
    """
    user = getattr(request, "user", None)
    may_curate = bool(user and user.is_authenticated and admits(user))
    return render(request, "403.html", {"may_curate": may_curate}, status=403)
