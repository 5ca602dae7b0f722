"""Create the PostgreSQL database DATABASE_URL names when its server lacks it."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connections


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
        try:
            with connection._nodb_cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                if cursor.fetchone() is not None:
                    return
                cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        except OperationalError as error:
            raise CommandError(
                f"Cannot reach the PostgreSQL server of database {name!r} at {where}: "
                f"{str(error).strip()}"
            ) from None
        except DatabaseError as error:  # a role that may not create databases, say
            raise CommandError(
                f"PostgreSQL at {where} has no database {name!r}, and creating it "
                f"failed: {str(error).strip()}. Create it (createdb {name}) or point "
                "DATABASE_URL at one that exists."
            ) from None
        self.stdout.write(f"Created the PostgreSQL database {name!r} at {where}.")
