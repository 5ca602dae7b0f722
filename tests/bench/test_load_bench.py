"""bench/load.py in a tiny size: gunicorn under wrk for a second per path, on loopback."""

from __future__ import annotations

import argparse
import os
import shutil

import pytest
from django.db import connection

from bench.load import parse_wrk, render, run, targets
from patients.models import Project

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:1/health/
  1 threads and 2 connections
  Latency Distribution
     50%  850.00us
     75%    1.20ms
     90%    2.00ms
     99%    1.05s
  1234 requests in 1.00s, 300.00KB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:   1234.00
"""


def test_wrk_output_is_read_with_units_and_errors():
    result = parse_wrk("health", "/health/", WRK_OUTPUT)

    assert (result.requests, result.seconds, result.requests_per_second) == (
        1234,
        1.0,
        1234.0,
    )
    assert (result.p50_ms, result.p99_ms) == (0.85, 1050.0)
    assert result.errors == 6


@pytest.mark.django_db(transaction=True)
def test_a_tiny_load_run_serves_every_path_without_errors(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server's processes share the test database")
    if shutil.which("wrk") is None:
        if os.environ.get("CI"):
            pytest.fail("wrk is missing; .ci/run installs Debian's wrk package")
        pytest.skip("wrk is not installed (apt-get install wrk)")
    Project.objects.create(code="load", name="Load test")
    options = argparse.Namespace(
        project="load",
        duration=1,
        connections=2,
        threads=1,
        workers=1,
        var_dir=str(tmp_path),
    )

    results = run(options)
    report = render(results, options, "bench/load.py --duration 1")

    assert [r.path for r in results] == list(targets("load").values())
    assert all(r.requests > 0 and r.errors == 0 for r in results), results
    assert "| health check (floor) |" in report
