"""Load test: the production server (gunicorn, DEBUG off) under concurrent requests.

Run from the repository root against a PostgreSQL database that holds data (the demo,
or `manage.py generate_biobank`); wrk (Debian's package) drives the load on loopback:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_scale \\
    .venv/bin/python bench/load.py --project synthetic --write BENCHMARKS.md

Each request path is loaded for `--duration` seconds with `--connections` open
connections; the health check is the floor of the stack (routing, middleware, no
database), so the other rows read as multiples of it. The script adds only a user
"bench-load" with a token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH_USER = "bench-load"
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    name: str
    path: str
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def targets(project: str) -> dict[str, str]:
    return {
        "health check (floor)": "/health/",
        "patients, page of 100": f"/api/patients/?project={project}&page_size=100",
        "imaging studies, page of 100": f"/api/imaging-studies/?project={project}&page_size=100",
        "CTC counts >= 5, page of 100": f"/api/ctc-counts/?project={project}&count_min=5&page_size=100",
        "cohort pairs, 30 days, page of 100": f"/api/cohort-pairs/?project={project}&window_days=30&page_size=100",
    }  # fmt: skip


def parse_wrk(name: str, path: str, output: str) -> LoadResult:
    """Read requests, duration, rate, p50, p99 and errors from `wrk --latency` output."""

    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
        if match is None:
            raise ValueError(f"wrk printed no {percent}% latency:\n{output}")
        return float(match.group(1)) * UNITS_MS[match.group(2)]

    done = re.search(r"(\d+) requests in ([\d.]+)(s|m)", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if done is None or rate is None:
        raise ValueError(f"wrk printed no request count:\n{output}")
    seconds = float(done.group(2)) * (60 if done.group(3) == "m" else 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in sockets.groups()) if sockets else 0
    return LoadResult(
        name=name,
        path=path,
        requests=int(done.group(1)),
        seconds=seconds,
        requests_per_second=float(rate.group(1)),
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        errors=errors,
    )


def bench_token() -> str:
    from rest_framework.authtoken.models import Token

    from bench.report import bench_user

    user = bench_user(BENCH_USER)
    return Token.objects.get_or_create(user=user)[0].key


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(
    database_url: str, workers: int, port: int, var_dir: Path
) -> subprocess.Popen:
    """Start gunicorn as production runs it, on loopback, and wait until it is ready."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "BIOBANK_PSEUDONYM_KEY": os.environ.get("BIOBANK_PSEUDONYM_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback (production sits behind a TLS proxy):
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "BIOBANK_VAR_DIR": str(var_dir),
        "LOG_LEVEL": "WARNING",
        "SIGN_IN_RATE": "1000/minute",
        # Connections kept for the next requests, as dev.sh prod keeps them:
        "DATABASE_CONN_MAX_AGE": os.environ.get("DATABASE_CONN_MAX_AGE", "60"),
    }  # fmt: skip
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    server = subprocess.Popen(  # noqa: S603 -- fixed arguments, our own server
        [sys.executable, "-m", "gunicorn", "biobank.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--timeout", "60"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(
                f"gunicorn exited: {server.stderr.read().decode()[-2000:]}"
            )
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/ready/", timeout=5
            ) as answer:  # noqa: S310 -- loopback
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.3)
    server.terminate()
    raise RuntimeError("gunicorn was not ready within 90 s")


def run_wrk(url: str, token: str, duration: int, connections: int, threads: int) -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed (apt-get install wrk)")
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "60s",
               "-H", f"Authorization: Token {token}", url]  # fmt: skip
    done = subprocess.run(  # noqa: S603 -- fixed arguments
        command, capture_output=True, text=True, timeout=duration + 60, check=True
    )
    return done.stdout


def run(options: argparse.Namespace) -> list[LoadResult]:
    from django.conf import settings

    token = bench_token()
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit(
            "The load test needs PostgreSQL: gunicorn's workers share the database."
        )
    url = f"postgres://{database['USER'] or 'postgres'}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}/{database['NAME']}"
    port = free_port()
    server = start_server(url, options.workers, port, Path(options.var_dir))
    try:
        results = []
        for name, path in targets(options.project).items():
            print(f"loading {path} ...", flush=True)  # noqa: T201
            output = run_wrk(f"http://127.0.0.1:{port}{path}", token, options.duration,
                             options.connections, options.threads)  # fmt: skip
            results.append(parse_wrk(name, path, output))
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def render(results: list[LoadResult], options: argparse.Namespace, command: str) -> str:
    from bench.extraction import load_average

    floor = results[0].requests_per_second or 1.0
    lines = [
        "## REST API under load (issue 7)",
        "",
        f"Command: `{command}`",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores (load average "
        f"{load_average()}): gunicorn with {options.workers} workers, DEBUG off, WhiteNoise, "
        f"PostgreSQL on the same machine; wrk with {options.threads} threads and "
        f"{options.connections} connections for {options.duration} s per path, on loopback, "
        f"token authentication; project `{options.project}`.",
        "",
        "| request | requests | req/s | p50 ms | p99 ms | errors | req/s vs floor |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.requests:,} | {r.requests_per_second:,.1f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.errors} | {r.requests_per_second / floor:.3f} |"
        )
    return "\n".join(lines) + "\n"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default="demo")
    parser.add_argument("--duration", type=int, default=20, help="Seconds per path.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--var-dir", default=str(REPO / "var" / "bench-load"))
    parser.add_argument("--write", help="Markdown file to update.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()
    options = parse(argv)
    command = shlex.join([".venv/bin/python", "bench/load.py", *argv])
    section = render(run(options), options, command)
    print(section)  # noqa: T201
    if options.write:
        from bench.report import write_marked

        write_marked(Path(options.write), section, "bench/load.py")


if __name__ == "__main__":
    main(sys.argv[1:])
