"""deploy/services.sh, which `dev.sh prod` and CI source: each helper acts only for the
server its URL names (host and port), never for another.

The programs the helpers call (pg_isready, pg_lsclusters, pg_ctlcluster, psql, ...) are
stand-ins on the PATH that note their arguments, so no server is started or stopped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# A stand-in notes its name and arguments; pg_isready answers for READY_PORT, or
# any port once pg_ctlcluster ran; pg_lsclusters lists CLUSTERS; no server starts:
STAND_IN = """#!/bin/bash
echo "$(basename "$0") $*" >> "$CALLS"
case "$(basename "$0")" in
    pg_isready) [[ " $* " == *" -p $READY_PORT "* ]] && exit 0
        [ -e "$CALLS.up" ] && exit 0; exit 2 ;;
    pg_ctlcluster) touch "$CALLS.up" ;;
    pg_lsclusters) printf '%b' "$CLUSTERS" ;;
    apt-get|rabbitmq-server|redis-server|psql|createdb) exit 1 ;;
esac
"""
STAND_INS = [
    "pg_isready",
    "pg_lsclusters",
    "pg_ctlcluster",
    "apt-get",
    "psql",
    "createdb",
    "rabbitmq-server",
    "redis-server",
]


def run_helper(tmp_path: Path, script: str, **environ: str):
    """Run `script` after sourcing deploy/services.sh; return it and the calls made."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in STAND_INS:
        (bin_dir / name).write_text(STAND_IN)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    calls.write_text("")
    result = subprocess.run(  # noqa: S603 -- our own script
        ["/bin/bash", "-c", f"set -euo pipefail; . deploy/services.sh; {script}"],
        cwd=REPO,
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "BIOBANK_VAR_DIR": str(tmp_path),
            "VENV": str(Path(sys.executable).parents[1]),
            "CALLS": str(calls),
            "READY_PORT": "none",
            "CLUSTERS": "15 main 5432 online postgres /var/lib/postgresql/15/main log\\n",
            **environ,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return result, calls.read_text().splitlines()


def started(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith(("pg_ctlcluster", "apt-get"))]


@pytest.mark.skipif(
    not Path("/etc/postgresql").is_dir(), reason="needs a Debian PostgreSQL installed"
)
def test_a_server_down_on_another_port_never_starts_the_5432_cluster(tmp_path):
    # Trial T26: the machine's own cluster (5432) was started and given the database.
    url = "postgres://postgres@127.0.0.1:55432/x"

    result, calls = run_helper(tmp_path, f"start_postgres {url}")

    assert result.returncode == 1
    assert "No PostgreSQL answers on 127.0.0.1:55432" in result.stderr
    assert calls[0] == "pg_isready -h 127.0.0.1 -p 55432"
    assert started(calls) == []


@pytest.mark.skipif(
    not Path("/etc/postgresql").is_dir(), reason="needs a Debian PostgreSQL installed"
)
def test_the_cluster_set_to_the_urls_port_is_the_one_started(tmp_path):
    clusters = "15 main 5432 online p d l\\n16 other 55432 down p d l\\n"

    result, calls = run_helper(
        tmp_path,
        "start_postgres postgres://postgres@localhost:55432/x",
        CLUSTERS=clusters,
        READY_PORT="none",
    )

    assert result.returncode == 0
    assert started(calls) == ["pg_ctlcluster --skip-systemctl-redirect 16 other start"]
    assert calls[-1] == "pg_isready -h localhost -p 55432"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://postgres@db.example.org:5432/x",
        "postgres://postgres@10.0.0.5/x",
        "sqlite:///var/x.sqlite3",
    ],
)
def test_a_server_elsewhere_is_left_alone(tmp_path, url):
    result, calls = run_helper(tmp_path, f"start_postgres {url}")

    assert (result.returncode, calls) == (0, [])


def test_a_server_up_on_the_urls_port_needs_nothing(tmp_path):
    result, calls = run_helper(
        tmp_path,
        "start_postgres postgres://u:p%40ss@127.0.0.1:55432/x",
        READY_PORT="55432",
    )

    assert (result.returncode, calls) == (0, ["pg_isready -h 127.0.0.1 -p 55432"])


def test_the_database_is_made_on_the_urls_port_or_the_error_names_it(tmp_path):
    # psql and createdb with -h alone asked the cluster on 5432 (trial T26); the
    # command asks the URL's server, here nothing (port 9, discard).
    url = "postgres://postgres@127.0.0.1:9/ops_absent"

    result, calls = run_helper(tmp_path, f"ensure_database {url}", DATABASE_URL=url)

    assert result.returncode == 1
    assert "Cannot connect to PostgreSQL at 127.0.0.1:9" in result.stderr
    assert calls == []


def test_a_broker_on_another_port_is_not_mistaken_for_the_local_rabbitmq(tmp_path):
    result, calls = run_helper(tmp_path, "start_broker amqp://u:p@127.0.0.1:9/vhost")

    assert result.returncode == 1
    assert "No broker answers on 127.0.0.1:9" in result.stderr
    assert calls == []


def test_a_redis_url_starts_redis_on_its_port_not_rabbitmq(tmp_path):
    result, calls = run_helper(tmp_path, "start_broker redis://:secret@127.0.0.1:9/0")

    assert result.returncode == 1  # the stand-in starts nothing
    assert [call.split()[0] for call in calls] == ["redis-server"]
    assert "--port 9" in calls[0] and "--requirepass secret" in calls[0]


def test_a_broker_refusing_the_urls_account_is_one_line(tmp_path):
    # Nothing listens on port 9: the check says so in one line, password masked.
    result, calls = run_helper(
        tmp_path, "check_broker amqp://someone:hidden@127.0.0.1:9/their_vhost"
    )

    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert (
        "The broker of CELERY_BROKER_URL (amqp://someone:**@127.0.0.1:9/their_vhost)"
        in result.stderr
    )
    assert "hidden" not in result.stderr
