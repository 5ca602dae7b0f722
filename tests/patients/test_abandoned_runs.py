"""An import run whose process was killed is found and marked failed without a
database lock (SQLite), and a failed run's status says what it stored before."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from biobank.core import processes
from biobank.core.processes import ProcessMark, has_ended, process_mark
from patients.importers.runs import end_run_hold, fail_abandoned_runs, start_run
from patients.models import DataIssue, ImportRun
from tests.biobank.test_faults import three_series
from tests.conftest import grant

needs_proc = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="reads processes from /proc"
)
sqlite_only = pytest.mark.usefixtures("without_session_locks")


@pytest.fixture
def without_session_locks(db):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL finds such a run by its free lock (test_faults.py)")


@pytest.fixture
def child():
    """A real process of this host, until the test kills it."""
    process = subprocess.Popen(  # noqa: S603 -- this interpreter, fixed arguments
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield process
    process.kill()
    process.wait(timeout=30)


def killed(process: subprocess.Popen) -> None:
    process.kill()  # SIGKILL: it records nothing
    process.wait(timeout=30)


def run_of(project, mark: ProcessMark, **fields) -> ImportRun:
    return ImportRun.objects.create(
        project=project,
        importer="ctc",
        source_name="counts.csv",
        host=mark.host,
        pid=mark.pid,
        process_key=mark.key,
        **fields,
    )


@pytest.fixture
def page(client, django_user_model, project):
    user = django_user_model.objects.create_user("run-curator", is_staff=True)
    grant(user, project, "curator")
    client.force_login(user)
    return lambda url: client.get(url).content.decode()


def test_a_run_records_the_process_that_runs_it(project):
    run = start_run(project=project, importer="ctc", source_name="counts.csv")
    end_run_hold(run)

    assert (run.host, run.pid, run.process_key) == (
        process_mark().host,
        os.getpid(),
        process_mark().key,
    )


@needs_proc
@sqlite_only
def test_a_run_whose_process_was_killed_is_marked_failed_by_the_next_check(
    project, child
):
    run = run_of(project, process_mark(child.pid))
    assert fail_abandoned_runs() == []  # its process runs: still importing

    killed(child)

    assert fail_abandoned_runs() == [run.pk]
    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED and run.finished_at is not None
    issue = DataIssue.objects.get(import_run=run)
    assert issue.code == "import-cut-off"
    assert issue.message.startswith(
        "the import stopped before its end: the process running it ended"
    )


@needs_proc
@sqlite_only
def test_the_page_of_a_run_whose_process_was_killed_marks_it_failed(
    project, child, page
):
    run = run_of(project, process_mark(child.pid))
    killed(child)

    shown = page(f"/admin/imports/runs/{run.pk}/")

    assert "still running" not in shown
    assert "the process running it ended without recording it" in shown
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.FAILED


@needs_proc
def test_a_process_given_the_pid_of_the_recorded_one_is_not_it():
    here = process_mark()
    boot, namespace, started = here.key.split("/")

    reused = ProcessMark(here.host, here.pid, f"{boot}/{namespace}/{int(started) - 1}")
    rebooted = ProcessMark(here.host, here.pid, f"another-boot/{namespace}/{started}")

    assert has_ended(reused) and has_ended(rebooted)
    assert not has_ended(here)


@needs_proc
def test_a_checker_that_cannot_read_its_own_boot_or_namespace_finds_none_ended(
    child, monkeypatch
):
    # /proc mounted with subset=pid (systemd's ProcSubset=pid) hides /proc/sys: the
    # checker cannot tell a reboot, so it marks no run failed, not every one.
    mark = process_mark(child.pid)
    killed(child)
    for unreadable in ("_boot_id", "_pid_namespace"):
        with monkeypatch.context() as patched:
            patched.setattr(processes, unreadable, lambda: "")
            assert not has_ended(mark)
    assert has_ended(mark)


@needs_proc
def test_a_process_hidden_from_the_checker_is_asked_whether_it_runs(child, monkeypatch):
    # /proc mounted with hidepid=invisible shows another user's process to no one
    # else: a live one hidden so is not ended, a killed one is.
    mark = process_mark(child.pid)
    monkeypatch.setattr(processes, "_stat", lambda pid: None)
    assert not has_ended(mark)
    killed(child)
    assert has_ended(mark)


@needs_proc
def test_a_killed_process_its_parent_has_not_reaped_has_ended(child):
    mark = process_mark(child.pid)
    child.kill()
    # Until its exit, without reaping it: a zombie, as under a PID 1 that reaps none.
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)

    assert has_ended(mark)


@needs_proc
def test_a_process_of_another_host_or_container_is_never_found_ended(child):
    mark = process_mark(child.pid)
    boot, _, started = mark.key.split("/")
    killed(child)

    elsewhere = ProcessMark(f"not-{mark.host}", mark.pid, mark.key)
    container = ProcessMark(mark.host, mark.pid, f"{boot}/pid:[1]/{started}")

    assert has_ended(mark)
    assert not has_ended(elsewhere) and not has_ended(container)


@needs_proc
@sqlite_only
def test_a_run_of_another_host_stays_running(project, child):
    mark = process_mark(child.pid)
    run = run_of(project, ProcessMark("another-host", mark.pid, mark.key))
    killed(child)

    assert fail_abandoned_runs() == []
    assert ImportRun.objects.get(pk=run.pk).status == ImportRun.Status.RUNNING


def test_a_failed_run_says_what_it_stored(project):
    def label(**summary) -> str:
        return ImportRun(
            project=project, status="failed", summary=summary
        ).status_label()

    assert label() == "Failed (nothing stored)"
    assert label(created={"patients": 0}) == "Failed (nothing stored)"
    assert label(created={"series": 2}) == "Failed (partly stored)"
    assert (
        label(stored_units={"image series": 3, "segmentation objects": 1})
        == "Failed after storing 3 image series and 1 segmentation object"
    )


class Killed(BaseException):
    """Stands for SIGKILL inside the import: nothing after it runs."""


@needs_proc
def test_a_dicom_run_killed_after_a_series_says_it_stored_it_everywhere(
    tmp_path, monkeypatch, project, child, page
):
    """Each series' commit records the run's progress; a process killed later
    leaves that behind, and the run page and admin list say what it stored."""
    from radiomics.importers import dicom

    folder = three_series(tmp_path / "scans")
    original = dicom._Ingest.store_series
    calls = {"n": 0}

    def store_then_die(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Killed
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dicom._Ingest, "store_series", store_then_die)
    monkeypatch.setattr(dicom._Ingest, "finish", lambda self, status: None)
    with pytest.raises(Killed):
        call_command("ingest_dicom", str(folder), project=project.code)
    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.RUNNING
    assert run.summary["stored_units"] == {"image series": 1}

    # Its process ended, and with it (PostgreSQL) its session's lock:
    mark = process_mark(child.pid)
    killed(child)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
    ImportRun.objects.filter(pk=run.pk).update(
        host=mark.host, pid=mark.pid, process_key=mark.key
    )
    shown = page(f"/admin/imports/runs/{run.pk}/")
    listed = page("/admin/patients/importrun/")

    assert "<td>Failed after storing 1 image series</td>" in shown
    assert "stopped before its end after storing 1 image series" in shown
    assert "nothing was stored" not in shown
    assert "Failed after storing 1 image series" in listed


def test_a_dicom_run_cut_off_says_the_same_in_its_one_line_and_its_status(
    tmp_path, monkeypatch, project
):
    if connection.vendor == "postgresql":
        # The run is then recorded over a new connection, which this test's
        # transaction does not see; test_faults.py cuts a real one there:
        pytest.skip("checked on PostgreSQL by tests/biobank/test_faults.py")
    from radiomics.importers import dicom

    folder = three_series(tmp_path / "scans")
    original = dicom._Ingest.store_series
    calls = {"n": 0}

    def store_then_lose_the_database(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise dicom._ConnectionLost("s2.dcm")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(dicom._Ingest, "store_series", store_then_lose_the_database)
    with pytest.raises(CommandError) as cut:
        call_command("ingest_dicom", str(folder), project=project.code)

    run = ImportRun.objects.get()
    assert "): it stored 2 image series, the last that of s1.dcm; that of s2.dcm" in (
        str(cut.value)
    )
    assert run.status_label() == "Failed after storing 2 image series"
