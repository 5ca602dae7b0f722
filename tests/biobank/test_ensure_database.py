"""manage.py ensure_database, which dev.sh run calls before migrating."""

from __future__ import annotations

import subprocess
import sys
import uuid

import psycopg
import pytest
from django.db import connection

from tests.conftest import REPO, run_in_repo

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the command creates PostgreSQL databases"
)


def server_url(name: str, port: str | None = None) -> str:
    settings = connection.settings_dict
    user = settings["USER"] or "postgres"
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{user}@{host}:{port or settings['PORT'] or 5432}/{name}"


def maintenance_connection() -> psycopg.Connection:
    settings = connection.settings_dict
    return psycopg.connect(
        host=settings["HOST"] or "127.0.0.1",
        port=settings["PORT"] or 5432,
        user=settings["USER"] or "postgres",
        dbname="postgres",
        autocommit=True,
    )


def database_exists(name: str) -> bool:
    with maintenance_connection() as server:
        found = server.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return found.fetchone() is not None


@postgresql_only
@pytest.mark.parametrize("quotes", ["", '"'])
def test_a_missing_database_is_created_once(tmp_path, quotes):
    # A name in quotes is that name, quotes and all (review rev3a: the quotes were
    # dropped in CREATE DATABASE, and the second run failed on the name taken):
    name = f"{quotes}biobank_ensure_{uuid.uuid4().hex[:12]}{quotes}"
    url = server_url(name.replace('"', "%22"))
    command = [sys.executable, "manage.py", "ensure_database"]
    try:
        first = run_in_repo(command, tmp_path, DATABASE_URL=url)
        again = run_in_repo(command, tmp_path, DATABASE_URL=url)

        assert f"Created the PostgreSQL database '{name}'" in first.stdout
        assert database_exists(name)
        assert again.stdout == ""  # there already: nothing to say
    finally:
        with maintenance_connection() as server:
            server.execute(
                f'DROP DATABASE IF EXISTS "{name.replace(chr(34), 2 * chr(34))}"'
            )


def test_a_server_that_does_not_answer_is_one_line_not_a_traceback(tmp_path):
    # Port 9 (discard) on loopback: nothing of ours listens there.
    url = "postgres://postgres@127.0.0.1:9/biobank_absent"

    result = subprocess.run(  # noqa: S603 - our own program
        [sys.executable, "manage.py", "ensure_database"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert (
        "Cannot connect to PostgreSQL at 127.0.0.1:9 to look for database "
        "'biobank_absent'" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert "RuntimeWarning" not in result.stderr  # Django's, about "postgres"


def test_sqlite_needs_nothing(tmp_path):
    result = run_in_repo(
        [sys.executable, "manage.py", "ensure_database"],
        tmp_path,
        DATABASE_URL=f"sqlite:///{tmp_path / 'first.sqlite3'}",
    )

    assert result.stdout == ""
