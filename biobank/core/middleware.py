"""Request guards that every view shares."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import render

from biobank.core.connections import is_connection_failure
from biobank.core.logs import new_request_id, request_id

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("biobank.requests")


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


class RequestIdMiddleware:
    """Tag the request, its log records and its response with one request ID.

    The ID comes from the X-Request-ID header when a proxy set a sane one, so that
    a request can be followed from the load balancer through every web node.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        current = new_request_id(request.headers.get("X-Request-ID"))
        # Kept on the request too, for records logged after the response has left
        # this middleware (biobank.core.logs.RequestIdFilter):
        request.request_id = current
        token = request_id.set(current)
        started = time.monotonic()
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response["X-Request-ID"] = current
        access_logger.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "request_id": current,
                "method": request.method,
                "path": request.path,
                "status_code": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return response


class DatabaseUnavailableMiddleware:
    """Answer 503 while the database cannot be reached, instead of a 500.

    A connection is opened per request, or kept (DATABASE_CONN_MAX_AGE) and checked
    before each request uses it again, so the first request after the database is
    back succeeds without restarting the server.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponse | None:
        if not is_connection_failure(exception):
            return None
        logger.error("Database unavailable: %s", exception)
        return unavailable_response(request)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    message = "The database is unavailable; try again in a moment."
    if request.path.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        response: HttpResponse = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(
            message, status=503, content_type="text/plain; charset=utf-8"
        )
    response["Retry-After"] = "5"
    return response


class MethodNotAllowedPageMiddleware:
    """Give a 405 without a body a page that says which methods the address takes.

    Django's require_GET, require_POST and class-based views answer a wrong method
    with an empty 405, which a browser shows as a blank page. The API's 405s are
    DRF's JSON and stay as they are; a JSON endpoint of the pages (/cohorts/count.json)
    or a client asking for JSON gets JSON in the same shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or response.streaming
            or response.content
            or request.path.startswith("/api/")
        ):
            return response
        allowed = [
            method.strip()
            for method in response.get("Allow", "").split(",")
            if method.strip()
        ]
        takes = " or ".join(
            [", ".join(allowed[:-1]), *allowed[-1:]] if allowed[1:] else allowed
        )
        article = "an" if request.method[:1] in "AEIOU" else "a"
        message = (
            f"This address does not take {article} {request.method} request; it "
            f"takes {takes or 'no request'}."
        )
        if request.path.endswith(".json") or "json" in request.headers.get(
            "Accept", ""
        ):
            page: HttpResponse = JsonResponse({"detail": message}, status=405)
        else:
            context = {"method": request.method, "allowed": allowed, "message": message}
            page = render(request, "405.html", context, status=405)
        page["Allow"] = response.get("Allow", "")
        return page
