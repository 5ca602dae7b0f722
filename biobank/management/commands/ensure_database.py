"""Create the PostgreSQL database DATABASE_URL names when its server lacks it."""

from __future__ import annotations

import warnings

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections

# Seconds to wait for the server to answer, unless DATABASE_URL sets connect_timeout:
# a server that accepts connections and never answers would hang dev.sh run. Django
# tries twice ("postgres", then the database itself), so about 10 s in all.
CONNECT_TIMEOUT = 5


def quoted(name: str) -> str:
    """The database name as an SQL identifier, whatever it holds (a ", a space)."""
    return '"' + name.replace('"', '""') + '"'


class Command(BaseCommand):
    help = (
        "Create the PostgreSQL database of DATABASE_URL if its server has none of "
        "that name (dev.sh run does, before migrating); nothing on SQLite."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, database: str, **options) -> None:
        connection = connections[database]
        if connection.vendor != "postgresql":
            return  # SQLite makes its file on first use
        name = connection.settings_dict["NAME"]
        where = f"{connection.settings_dict['HOST'] or 'the local socket'}"
        if connection.settings_dict["PORT"]:
            where += f":{connection.settings_dict['PORT']}"
        # Asked on the server's maintenance database ("postgres"), as Django's test
        # runner does to create its test database: a connection to the database
        # itself fails alike whether it is missing or the server is down.
        connection.settings_dict.setdefault("OPTIONS", {}).setdefault(
            "connect_timeout", CONNECT_TIMEOUT
        )
        try:
            # Django warns in many lines before trying the database itself when
            # "postgres" cannot be reached; the error below says it in one:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                with connection._nodb_cursor() as cursor:
                    cursor.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", [name]
                    )
                    if cursor.fetchone() is not None:
                        return
                    cursor.execute(f"CREATE DATABASE {quoted(name)}")
        except OperationalError as error:
            raise CommandError(
                f"Cannot connect to PostgreSQL at {where} to look for database "
                f"{name!r}: {' '.join(str(error).split())}"
            ) from None
        except DatabaseError as error:  # a role that may not create databases, say
            raise CommandError(
                f"PostgreSQL at {where} has no database {name!r}, and creating it "
                f"failed: {str(error).strip()}. Create it (createdb {name}) or point "
                "DATABASE_URL at one that exists."
            ) from None
        self.stdout.write(f"Created the PostgreSQL database {name!r} at {where}.")
