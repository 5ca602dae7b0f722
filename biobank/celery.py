"""Celery application of the biobank: background feature extraction and DICOM uploads."""

from __future__ import annotations

import os

from celery import Celery
from celery.signals import after_setup_logger, worker_init
from celery.utils.log import get_multiprocessing_logger

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")

app = Celery("biobank")

# Every CELERY_* Django setting configures the app (CELERY_BROKER_URL -> broker_url):
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# The upload page's job lives in a package of the project, not in an app's tasks.py:
app.autodiscover_tasks(["biobank.imports"])


@worker_init.connect
def refuse_worker_without_broker(sender: object = None, **kwargs: object) -> None:
    """Stop a worker that would wait on a private in-memory queue nobody sends to."""
    # NB: SystemExit, because Celery logs and ignores an Exception raised here.
    if app.conf.task_always_eager:
        raise SystemExit(
            "Set CELERY_BROKER_URL to start a worker; without a broker, jobs run "
            "in the process that queues them."
        )


@after_setup_logger.connect
def pool_lines_in_log_format(**kwargs: object) -> None:
    """Send the process pool's lines through the root's handler, in LOG_FORMAT.

    Celery gives billiard's logger ("multiprocessing": a pool process that died,
    "Process 'ForkPoolWorker-1' ... exited with 'signal 9 (SIGKILL)'") a plain-text
    handler of its own and keeps it from the root's, so that line alone was plain
    text among JSON ones.
    """
    pool_logger = get_multiprocessing_logger()
    if pool_logger is None:
        return
    pool_logger.handlers = []
    pool_logger.propagate = True
