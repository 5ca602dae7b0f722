"""The database going away under a running server and under an import, on loopback.

PostgreSQL only: a TCP relay between the web server and the database stands for the
database restarting; killing a backend with pg_terminate_backend stands for it under
an import.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from bench.load import free_port, start_server

pytestmark = pytest.mark.postgres_only


@pytest.fixture(autouse=True)
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the faults are a database server's")


class Relay:
    """Forward 127.0.0.1:<port> to the database; stop() drops every connection."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def start(self) -> None:
        # create_server sets SO_REUSEADDR, so the same port can be taken again:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would not:
            try:
                self.listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.listener.close()
            self.listener = None
        for sock in self.sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(
                    target=self._pipe, args=(source, sink), daemon=True
                ).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _get(url: str, token: str = "") -> tuple[int, str, dict]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(  # noqa: S310 -- loopback http only
        url, headers={"Authorization": f"Token {token}"} if token else {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 -- loopback
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


@pytest.fixture
def relay() -> Relay:
    settings_dict = connection.settings_dict
    relay = Relay(
        (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    )
    relay.start()
    yield relay
    relay.stop()


@pytest.fixture
def server(relay, transactional_db, tmp_path: Path):
    """gunicorn with DEBUG off, as bench/load.py runs it, reaching the test database
    through the relay."""
    settings_dict = connection.settings_dict
    user = settings_dict["USER"] or "postgres"
    url = f"postgres://{user}@127.0.0.1:{relay.port}/{settings_dict['NAME']}"
    port = free_port()
    process = start_server(url, workers=1, port=port, var_dir=tmp_path / "var")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_requests_get_503_while_the_database_is_away_and_recover_without_restart(
    server, relay, django_user_model
):
    from rest_framework.authtoken.models import Token

    from patients.models import Project
    from tests.conftest import grant

    faults = Project.objects.create(code="faults", name="Fault test")
    token = Token.objects.create(
        user=grant(django_user_model.objects.create_user("analyst"), faults)
    ).key

    before = _get(f"{server}/api/projects/", token)
    relay.stop()
    during = _get(f"{server}/api/projects/", token)
    ready_during = _get(f"{server}/ready/")
    page_during = _get(f"{server}/accounts/login/")
    relay.start()
    after = _get(f"{server}/api/projects/", token)

    assert before[0] == 200 and "faults" in before[1]
    assert during[0] == 503 and "database is unavailable" in during[1]
    assert during[2].get("Retry-After") == "5"
    assert ready_during[0] == 503
    assert page_during[0] in (200, 503)
    assert after[0] == 200 and "faults" in after[1]


def test_an_import_cut_off_by_the_database_is_rolled_back_and_can_run_again(
    transactional_db, tmp_path, monkeypatch
):
    """The server ends the importer's connection mid-file; nothing of the file stays."""
    import psycopg

    from liquidbiopsy.models import BloodSample, CTCCount
    from patients.models import Patient, Project

    # A lab import creates patients but no project (only a clinical table does):
    Project.objects.create(code="faults", name="Fault test")
    rows = ["patient_id,drawn_at,count,blood_volume_ml"]
    rows += [
        f"P{n:03},2024-05-{n % 28 + 1:02}T09:00:00Z,{n % 7},7.5" for n in range(40)
    ]
    path = tmp_path / "ctc.csv"
    path.write_text("\n".join(rows) + "\n")

    settings_dict = connection.settings_dict
    admin = psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or "postgres", dbname=settings_dict["NAME"], autocommit=True,
    )  # fmt: skip
    original_save = CTCCount.save
    saved = {"n": 0}

    def save_then_lose_the_server(self, *args, **kwargs):
        saved["n"] += 1
        if saved["n"] == 20:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pid = cursor.fetchone()[0]
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(CTCCount, "save", save_then_lose_the_server)
    with pytest.raises((CommandError, Exception)):
        call_command("import_ctc", str(path), project="faults", create_patients=True)
    connection.close()

    assert saved["n"] >= 20, "the importer stored rows one by one before the cut"
    assert BloodSample.objects.count() == CTCCount.objects.count() == 0
    assert not Patient.objects.filter(project__code="faults").exists()

    monkeypatch.setattr(CTCCount, "save", original_save)
    call_command("import_ctc", str(path), project="faults", create_patients=True)
    call_command("import_ctc", str(path), project="faults", create_patients=True)
    assert CTCCount.objects.count() == 40
    admin.close()
