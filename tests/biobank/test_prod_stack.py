"""`dev.sh prod`'s servers (deploy/serve.sh): a signal to the script stops all of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.biobank.test_gunicorn_logs import GUNICORN, Lines
from tests.conftest import REPO

pytestmark = pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn not installed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def start_stack(
    tmp_path: Path, port: int, venv: Path | None = None, **more: str
) -> subprocess.Popen:
    """Run the servers as `dev.sh prod` does, on SQLite and an in-memory broker.

    `venv`: another folder whose bin/ holds the celery and gunicorn to run.
    """
    env = more | {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "VENV": str(venv or Path(sys.executable).parents[1]),
        "BIOBANK_ADDR": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
        "WORKER_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "CELERY_BROKER_URL": "memory://",
        "BIOBANK_VAR_DIR": str(tmp_path),
    }
    return subprocess.Popen(  # noqa: S603 -- our own script, fixed arguments
        ["/bin/bash", "-c", "set -euo pipefail; . deploy/serve.sh; run_servers"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        # Its own process group, so that whatever it leaves behind can be stopped:
        start_new_session=True,
    )


@pytest.fixture
def stack(tmp_path):
    """The running stack, its stderr, and the pids of gunicorn and the Celery worker."""
    port = free_port()
    process = start_stack(tmp_path, port)
    stderr = Lines(process.stderr)
    try:
        stderr.until(r"Listening at: http://127\.0\.0\.1:\d+")
        stderr.until(r"celery@\S+ ready")
        worker, web = children(process.pid)
        yield process, stderr, {"web": web, "worker": worker, "port": port}
    finally:
        if process.poll() is None:
            process.kill()
        # What a broken script left running, gunicorn above all:
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate(timeout=60)


def gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_to_the_script_stops_gunicorn_its_workers_and_celery(stack, signum):
    # As systemd (KillMode=process), supervisord or `kill $!` stop it: the script only.
    process, stderr, pids = stack
    web_workers = children(pids["web"])

    process.send_signal(signum)
    status = process.wait(timeout=90)

    assert status == 128 + signum
    assert [gone(pid) for pid in [pids["web"], *web_workers, pids["worker"]]] == [
        True
    ] * (2 + len(web_workers))
    assert refused(pids["port"])


def test_gunicorn_stopping_on_its_own_stops_celery_and_fails_the_script(stack):
    process, stderr, pids = stack

    os.kill(pids["web"], signal.SIGTERM)
    status = process.wait(timeout=90)

    assert status != 0
    assert gone(pids["worker"])
    stderr.until(r"dev\.sh prod: gunicorn stopped .*stopping the Celery worker")


def test_an_address_in_use_fails_at_once_and_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start_stack(tmp_path, port)
        out, err = process.communicate(timeout=60)

    assert process.returncode == 1
    assert err.decode().splitlines() == [
        f"dev.sh prod: 127.0.0.1:{port} is in use (another dev.sh prod, or another "
        "server); stop it or set BIOBANK_ADDR."
    ]


# Stand-ins for the servers: gunicorn serves until stopped; the Celery worker stops
# with status 3 on its first STUB_FAILURES runs (counted in STUB_RUNS), then stays.
STUB_GUNICORN = """#!/bin/bash
echo "stub gunicorn serving" >&2
exec -a stub-gunicorn sleep infinity
"""
STUB_CELERY = """#!/bin/bash
echo run >> "$STUB_RUNS"
runs=$(wc -l < "$STUB_RUNS")
if [ "$runs" -le "$STUB_FAILURES" ]; then
    echo "stub celery run $runs stops" >&2
    exit 3
fi
echo "stub celery run $runs ready" >&2
exec -a stub-celery sleep infinity
"""


def start_stubbed_stack(tmp_path: Path, failures: int, **more: str):
    """The stack's script over stand-in servers, and its stderr."""
    bin_ = tmp_path / "stubs" / "bin"
    bin_.mkdir(parents=True)
    for name, text in [("gunicorn", STUB_GUNICORN), ("celery", STUB_CELERY)]:
        (bin_ / name).write_text(text)
        (bin_ / name).chmod(0o755)
    process = start_stack(
        tmp_path,
        free_port(),
        venv=bin_.parent,
        STUB_RUNS=str(tmp_path / "runs"),
        STUB_FAILURES=str(failures),
        **more,
    )
    return process, Lines(process.stderr)


def stop_stubbed(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # nothing of it left running
    process.communicate(timeout=60)


def test_a_celery_worker_that_stops_is_started_again_while_gunicorn_serves(tmp_path):
    process, stderr = start_stubbed_stack(tmp_path, failures=2)
    try:
        stderr.until(r"stub celery run 3 ready")
        stderr.until(r"stub gunicorn serving")
        web = [pid for pid in children(process.pid) if "gunicorn" in cmdline(pid)]
        said = [line for line in stderr.seen if line.startswith("dev.sh prod:")]

        assert said == [
            "dev.sh prod: the Celery worker stopped (exit status 3); gunicorn goes on "
            f"serving, and the worker is started again ({n} of 5 in a row)."
            for n in (1, 2)
        ]
        # Started once, and serving all along:
        assert len(web) == 1 and process.poll() is None
        assert stderr.seen.count("stub gunicorn serving") == 1

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 128 + signal.SIGTERM
        assert gone(web[0])
    finally:
        stop_stubbed(process)


def test_a_celery_worker_that_keeps_stopping_stops_the_stack_saying_why(tmp_path):
    process, stderr = start_stubbed_stack(tmp_path, failures=100, WORKER_RESTARTS="2")
    try:
        status = process.wait(timeout=60)
        stderr.until(r"Stopping gunicorn\.$")

        assert status == 3
        assert (tmp_path / "runs").read_text().count("run") == 3
        assert stderr.seen[-1] == (
            "dev.sh prod: the Celery worker stopped (exit status 3) after 2 restarts "
            "in a row (WORKER_RESTARTS=2; a row ends once it runs 60 s); not starting "
            "it again: its lines above say why. Stopping gunicorn."
        )
    finally:
        stop_stubbed(process)


def test_a_worker_restarts_value_that_is_no_number_stops_at_once(tmp_path):
    process, stderr = start_stubbed_stack(tmp_path, failures=0, WORKER_RESTARTS="x")
    out, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert not (tmp_path / "runs").exists()
    assert "WORKER_RESTARTS must be a whole number" in err.decode()


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
