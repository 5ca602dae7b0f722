"""Request guards that every view shares."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest


class RejectNulCharactersMiddleware:
    """Answer 400 to a path or query string holding a NUL character.

    PostgreSQL text cannot hold NUL, so such a value reaching a query is a database
    error (a 500), and no pseudonym, UID or filter value contains one. Forms refuse it
    field by field; this covers path parameters and every view at once.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        query = request.GET
        if "\x00" in request.path or any(
            "\x00" in key or any("\x00" in value for value in query.getlist(key))
            for key in query
        ):
            return HttpResponseBadRequest(
                "NUL characters are not allowed in a path or query string.",
                content_type="text/plain; charset=utf-8",
            )
        return self.get_response(request)
