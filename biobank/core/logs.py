"""Request IDs on every log record, and one JSON object per line when asked for."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid

from django.core.exceptions import ImproperlyConfigured, PermissionDenied

request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default="-"
)

# A caller's ID is kept when it looks like one (a load balancer's, a UUID); anything
# else is replaced, so that log lines cannot be forged through the header.
ACCEPTED_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def new_request_id(given: str | None) -> str:
    if given and ACCEPTED_ID.match(given):
        return given
    return uuid.uuid4().hex


class RequestIdFilter(logging.Filter):
    """Give each record the ID of the request being served ("-" outside requests).

    Django logs a 4xx or 5xx response (django.request) after the middleware has
    returned it, when the ID is no longer current; such a record carries its request,
    which holds the ID (RequestIdMiddleware).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or request_id.get()
        return True


class RefusalWithoutTraceback(logging.Filter):
    """Keep Django's line of a refused permission (403) without its traceback.

    Django hands django.request the PermissionDenied of every 403, so each page a
    curator or viewer may not open wrote a whole traceback: a refusal is an answer,
    not a fault. Its line, "Forbidden (Permission denied): /admin/...", stays.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], PermissionDenied):
            record.exc_info = None
            record.exc_text = None
        return True


class RequestLineWithoutQuery(logging.Filter):
    """Drop the query string from the development server's request lines.

    `dev.sh run` logs each request as "GET /path?query HTTP/1.1" (django.server);
    a query may hold what a curator typed, such as a patient's source ID searched for
    in the admin (?q=...). The application's own request log writes the path only.
    """

    QUERY = re.compile(r"\?[^\s\"]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            line, *rest = record.args
            if isinstance(line, str):
                record.args = (self.QUERY.sub("", line), *rest)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request ID, message, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for name in ("status_code", "method", "path", "duration_ms"):
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


LOG_FORMATS = ("text", "json")


def console_logging(log_format: str) -> dict:
    """Return the dictConfig filters, formatters and handler that write to stderr.

    The settings and gunicorn's configuration (deploy/gunicorn.conf.py) both use it, so
    that the server's own lines take the application's format.
    """
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(
            f"LOG_FORMAT must be text or json, not {log_format!r}."
        )
    return {
        "filters": {
            "request_id": {"()": "biobank.core.logs.RequestIdFilter"},
            "refusal_without_traceback": {
                "()": "biobank.core.logs.RefusalWithoutTraceback"
            },
            "request_line_without_query": {
                "()": "biobank.core.logs.RequestLineWithoutQuery"
            },
        },
        "formatters": {
            "text": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"},
            "json": {"()": "biobank.core.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "filters": ["request_id"],
                "formatter": log_format,
            }
        },
    }
