"""How a message names an import option: the command's flag or the upload page's control."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

COMMAND = "command"
PAGE = "page"

# What the user does to give an option, as a command line and as the upload page say it:
_GIVE = {
    "create_patients": {
        COMMAND: "re-run with --create-patients",
        PAGE: "tick 'Create patients' and upload it again",
    },
    "date_order": {
        COMMAND: "the import commands' --date-order option, day-first or month-first",
        PAGE: "choose a 'Date order', day-first or month-first, and upload it again",
    },
    "drawn_on": {
        COMMAND: "give --drawn-on YYYY-MM-DD",
        PAGE: "fill in 'Drawn on' (YYYY-MM-DD)",
    },
    "kind_patients": {
        COMMAND: "use --kind patients",
        PAGE: "choose 'Clinical CSV: patients' as the kind of file",
    },
}
_audience: ContextVar[str] = ContextVar("import_audience", default=COMMAND)


@contextmanager
def speaking_to(audience: str) -> Iterator[None]:
    """Word the import messages of the block for `audience` (COMMAND or PAGE)."""
    token = _audience.set(audience)
    try:
        yield
    finally:
        _audience.reset(token)


def give(option: str) -> str:
    """Return how the current audience gives `option` ("re-run with --create-patients")."""
    return _GIVE[option][_audience.get()]
