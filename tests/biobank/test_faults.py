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


@pytest.fixture
def admin():
    """A connection of its own to the test database, to end the importer's with."""
    with admin_connection() as own:
        yield own


def admin_connection():
    import psycopg

    settings_dict = connection.settings_dict
    return psycopg.connect(
        host=settings_dict["HOST"] or "127.0.0.1", port=settings_dict["PORT"] or 5432,
        user=settings_dict["USER"] or "postgres", dbname=settings_dict["NAME"], autocommit=True,
    )  # fmt: skip


def lose_the_connection(admin) -> None:
    """End this process's connection from the server's side, as a restart does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_an_import_cut_off_by_the_database_is_rolled_back_and_can_run_again(
    transactional_db, tmp_path, monkeypatch, admin
):
    """The server ends the importer's connection mid-file; nothing of the file stays,
    the run is marked failed, and the command says so in one line."""
    from liquidbiopsy.models import BloodSample, CTCCount
    from patients.models import DataIssue, ImportRun, Patient, Project

    # A lab import creates patients but no project (only a clinical table does):
    Project.objects.create(code="faults", name="Fault test")
    rows = ["patient_id,drawn_at,count,blood_volume_ml"]
    rows += [
        f"P{n:03},2024-05-{n % 28 + 1:02}T09:00:00Z,{n % 7},7.5" for n in range(40)
    ]
    path = tmp_path / "ctc.csv"
    path.write_text("\n".join(rows) + "\n")

    original_save = CTCCount.save
    saved = {"n": 0}

    def save_then_lose_the_server(self, *args, **kwargs):
        saved["n"] += 1
        if saved["n"] == 20:
            lose_the_connection(admin)
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(CTCCount, "save", save_then_lose_the_server)
    with pytest.raises(CommandError) as cut:
        call_command("import_ctc", str(path), project="faults", create_patients=True)

    assert saved["n"] >= 20, "the importer stored rows one by one before the cut"
    assert BloodSample.objects.count() == CTCCount.objects.count() == 0
    assert not Patient.objects.filter(project__code="faults").exists()
    run = ImportRun.objects.get()
    assert str(cut.value) == (
        f"The database connection was lost during the import of ctc.csv (import run "
        f"{run.pk}); nothing of the file was stored (it is stored whole or not at "
        "all). The run is marked failed. Run the same command again once the "
        "database answers."
    )
    assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
    assert DataIssue.objects.get(import_run=run).code == "import-cut-off"

    monkeypatch.setattr(CTCCount, "save", original_save)
    call_command("import_ctc", str(path), project="faults", create_patients=True)
    call_command("import_ctc", str(path), project="faults", create_patients=True)
    assert CTCCount.objects.count() == 40


def three_series(folder: Path) -> Path:
    """A folder of three CT image series of one patient, a file each, in UID order."""
    from tests.radiomics.conftest import build_ct, write_part10

    folder.mkdir()
    for n in range(3):
        write_part10(
            build_ct(
                StudyInstanceUID="1.2.826.0.1.3680043.8.498.10",
                SeriesInstanceUID=f"1.2.826.0.1.3680043.8.498.{n + 1}",
            ),
            folder / f"s{n}.dcm",
        )
    return folder


@pytest.mark.parametrize(("cut_before", "project"), [(2, "faults"), (1, "newfaults")])
def test_a_dicom_import_cut_off_keeps_its_committed_series_and_says_so(
    transactional_db, tmp_path, monkeypatch, caplog, admin, cut_before, project
):
    """The series committed before the cut stay; the run is failed; one line says
    what was stored and to run it again, which stores the rest once. A project the
    command made for it goes when nothing was stored."""
    from patients.models import DataIssue, ImportRun, Project
    from radiomics.importers import dicom
    from radiomics.models import ImageInstance, ImageSeries

    Project.objects.create(code="faults", name="Fault test")
    folder = three_series(tmp_path / "scans")
    original = dicom._Ingest.store_series
    calls = {"n": 0}

    def store_then_lose_the_server(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == cut_before:
            lose_the_connection(admin)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dicom._Ingest, "store_series", store_then_lose_the_server)
    with pytest.raises(CommandError) as cut:
        call_command("ingest_dicom", str(folder), project=project, progress_every=0)

    said = str(cut.value)
    assert "\n" not in said
    assert not any(record.exc_info for record in caplog.records)
    if cut_before == 1:
        # The run went with the project, as after any import that stored nothing:
        assert said.endswith(
            "): nothing of it was stored; that of s0.dcm and the rest were not. The "
            "run is marked failed. Run the same command again once the database "
            "answers: what is stored is found, not stored twice. Project 'newfaults', "
            "created for it, was removed again."
        )
        assert not Project.objects.filter(code=project).exists()
        assert not ImportRun.objects.exists()
        return
    run = ImportRun.objects.get()
    assert said == (
        f"The database connection was lost during the import of scans (import run "
        f"{run.pk}): it stored 1 image series, the last that of s0.dcm; that of "
        "s1.dcm and the rest were not. The run is marked failed. Run the same "
        "command again once the database answers: what is stored is found, not "
        "stored twice."
    )
    assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
    assert run.status_label() == "Failed after storing 1 image series"
    assert DataIssue.objects.filter(import_run=run, code="import-cut-off").exists()
    assert ImageSeries.objects.count() == ImageInstance.objects.count() == 1

    monkeypatch.setattr(dicom._Ingest, "store_series", original)
    call_command("ingest_dicom", str(folder), project=project, progress_every=0)
    call_command("ingest_dicom", str(folder), project=project, progress_every=0)
    assert ImageSeries.objects.count() == ImageInstance.objects.count() == 3


def test_a_run_whose_importing_session_is_gone_is_marked_failed_by_its_page(
    transactional_db, client, django_user_model
):
    """A run left "running" by a process that could not write its end (the database
    still away after its waits, the process killed) is found by its free lock."""
    from patients.importers.runs import RUN_LOCK_SPACE, fail_abandoned_runs
    from patients.models import ImportRun, Project
    from tests.conftest import grant

    project = Project.objects.create(code="faults", name="Fault test")
    run = ImportRun.objects.create(project=project, importer="ctc", source_name="x.csv")
    importer = admin_connection()  # stands for the importing process's session
    importer.execute("SELECT pg_advisory_lock(%s)", [(RUN_LOCK_SPACE << 32) | run.pk])

    assert fail_abandoned_runs() == []  # its session holds it: still importing
    importer.close()  # the session ends (restart, process killed)
    curator = grant(
        django_user_model.objects.create_user("cur", is_staff=True), project, "curator"
    )
    client.force_login(curator)
    page = client.get(f"/admin/imports/runs/{run.pk}/").content.decode()

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
    assert "still running" not in page
    assert "the import stopped before its end" in page
