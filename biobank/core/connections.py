"""The database connection lost under a request or an import, and coming back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)

# Seconds to wait before each try to write what an import cut off by the database
# must record (its run failed): about 15 s in all, as long as a restart often takes.
RECONNECT_WAITS = (0, 1, 2, 4, 8)


class ImportCutOff(OperationalError):
    """The database connection was lost under an import; the message says, in one
    line, what was stored and what to do. An OperationalError, so that a page
    answers 503 and a background job is retried, as for any lost connection."""


def is_connection_failure(exception: BaseException | None) -> bool:
    """Whether the error says the server is gone, not that a query was wrong."""
    if isinstance(exception, (InterfaceError, ImportCutOff)):
        return True
    if not isinstance(exception, OperationalError):
        return False
    # SQLite raises OperationalError for a locked file or a missing table too; only a
    # lost or refused connection is the database being away.
    text = str(exception).lower()
    return any(
        phrase in text
        for phrase in (
            "connection refused",
            "could not connect",
            "server closed the connection",
            "terminating connection",
            "connection is closed",
            "the database system is starting up",
            "the database system is shutting down",
            "connection failed",
            "consuming input failed",
            "unable to open database file",
        )
    )


def written_once_back(
    write: Callable[[], object],
    using: str = DEFAULT_DB_ALIAS,
    waits: tuple[float, ...] = RECONNECT_WAITS,
) -> bool:
    """Call `write` on a new connection, again while the database is away; say if done.

    The connection the loss broke is closed first (Django opens another on the next
    query). Returns False when the database is still away after the last wait; an
    error that is not a lost connection is raised.
    """
    for seconds in waits:
        time.sleep(seconds)
        connections[using].close()
        try:
            write()
        except (OperationalError, InterfaceError) as error:
            if not is_connection_failure(error):
                raise
            logger.info("Database still away: %s", " ".join(str(error).split()))
        else:
            return True
    return False
