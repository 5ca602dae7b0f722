"""The Celery worker's lines under LOG_FORMAT=json, the process pool's included."""

from __future__ import annotations

import json
import sys

from tests.conftest import run_in_repo

# The worker's logging set up as `celery -A biobank worker` does it (Django first, by
# Celery's Django fix-up), then the line billiard's pool writes when one of its
# processes is killed (billiard/pool.py):
POOL_WORKER_KILLED = """
import django
django.setup()
from biobank.celery import app
app.log.setup(loglevel="INFO")
from billiard import util
util.error("Process %r pid:%r exited with %r", "ForkPoolWorker-1", 4242, "signal 9 (SIGKILL)")
"""


def test_a_killed_pool_process_is_a_json_line(tmp_path):
    result = run_in_repo(
        [sys.executable, "-c", POOL_WORKER_KILLED],
        tmp_path,
        LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="biobank.settings",
        CELERY_BROKER_URL="memory://",
    )

    lines = [line for line in result.stderr.splitlines() if "ForkPoolWorker" in line]
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "ERROR"
    assert "exited with 'signal 9 (SIGKILL)'" in entry["message"]
