"""`dev.sh prod` serves with gunicorn: with LOG_FORMAT=json every line it writes is JSON."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import run_in_repo

REPO = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
pytestmark = pytest.mark.skipif(not GUNICORN.exists(), reason="gunicorn not installed")


class Lines:
    """The lines a process writes to a pipe, read as they come."""

    def __init__(self, pipe) -> None:
        self.fd = pipe.fileno()
        self.seen: list[str] = []
        self._partial = b""

    def until(self, pattern: str, timeout: float = 60) -> re.Match:
        """Read lines until one matches `pattern`; fail after `timeout` s of silence."""
        for line in self.seen:
            if found := re.search(pattern, line):
                return found
        while select.select([self.fd], [], [], timeout)[0]:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                break
            *complete, self._partial = (self._partial + chunk).split(b"\n")
            new = [line.decode() for line in complete]
            self.seen += new
            for line in new:
                if found := re.search(pattern, line):
                    return found
        raise AssertionError(f"Never written: {pattern!r}:\n" + "\n".join(self.seen))

    @property
    def rest(self) -> str:
        return self._partial.decode()


def get(url: str, request_id: str) -> int:
    # The loopback server this test started, over http:
    request = urllib.request.Request(url, headers={"X-Request-ID": request_id})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_gunicorns_own_lines_and_djangos_are_json_with_the_request_id(tmp_path):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "BIOBANK_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "LOG_FORMAT": "json",
        "ACCESS_LOG_LEVEL": "INFO",
    }
    server = subprocess.Popen(  # noqa: S603 -- our own gunicorn, fixed arguments
        [GUNICORN, "biobank.wsgi", "--bind", "127.0.0.1:0", "--workers", "1"]
        + ["--config", "deploy/gunicorn.conf.py"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr = Lines(server.stderr)
    try:
        port = stderr.until(r"Listening at: http://127\.0\.0\.1:(\d+)")[1]
        statuses = [
            get(f"http://127.0.0.1:{port}/health/", "test-health-0001"),
            get(f"http://127.0.0.1:{port}/no-such-page/", "test-missing-0002"),
        ]
        stderr.until(r"django\.request.*test-missing-0002")
    finally:
        server.send_signal(signal.SIGTERM)
        out, err = server.communicate(timeout=60)
    written = [*stderr.seen, *(stderr.rest + err).splitlines(), *out.splitlines()]
    lines = [line for line in written if line.strip()]

    entries = [json.loads(line) for line in lines]

    assert statuses == [200, 404]
    by_logger = {(e["logger"], e["request_id"]) for e in entries}
    assert ("biobank.requests", "test-health-0001") in by_logger
    assert ("django.request", "test-missing-0002") in by_logger
    assert any(e["logger"] == "gunicorn.error" for e in entries)


def print_config(tmp_path: Path, **environ: str) -> dict[str, str]:
    done = run_in_repo(
        [
            GUNICORN,
            "biobank.wsgi",
            "--print-config",
            "--config",
            "deploy/gunicorn.conf.py",
        ],
        tmp_path,
        **environ,
    )
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def test_no_instance_opens_the_control_socket_every_gunicorn_of_the_user_shares(
    tmp_path,
):
    # gunicorn's default, ~/.gunicorn/gunicorn.ctl, would be taken over by the next
    # instance on the host and deleted when either stops.
    config = print_config(tmp_path)

    assert config["control_socket_disable"] == "True"


def test_a_control_socket_is_opened_where_gunicorn_control_socket_says(tmp_path):
    socket_path = str(tmp_path / "web-8000.ctl")

    config = print_config(tmp_path, GUNICORN_CONTROL_SOCKET=socket_path)

    assert (config["control_socket"], config["control_socket_disable"]) == (
        socket_path,
        "False",
    )
