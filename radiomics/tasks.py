"""Background jobs of the radiomics app: feature extraction per segmentation."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial
from uuid import uuid4

from celery import Task, shared_task
from django.db import transaction

from radiomics.models import FeatureExtraction

logger = logging.getLogger(__name__)

Status = FeatureExtraction.Status


@shared_task(bind=True, name="radiomics.extract_segmentation")
def extract_segmentation(self: Task, extraction_id: int) -> str:
    """Run one planned extraction, reporting progress on its record; return its status.

    Safe to deliver twice: a job whose extraction is done does nothing, and one found
    "running" (its worker was lost, so the broker delivered it again) runs again;
    run_extraction then replaces the values of the lost run.
    """
    # Looked up at call time, so the engine loads only in processes that extract:
    from radiomics.extraction import run_extraction

    status, task_id = (
        FeatureExtraction.objects.filter(pk=extraction_id)
        .values_list("status", "task_id")
        .first()
    ) or (None, "")
    if status is None:
        logger.warning(
            "Extraction %s is gone; job %s dropped", extraction_id, self.request.id
        )
        return "missing"
    # Queued again meanwhile: the newest job does the work, so that one extraction is
    # never computed twice at once by jobs queued one after the other.
    if task_id and self.request.id and task_id != self.request.id:
        logger.info(
            "Extraction %s was queued again as job %s; job %s skipped",
            extraction_id,
            task_id,
            self.request.id,
        )
        return "superseded"
    if status == Status.DONE:
        logger.info(
            "Extraction %s is already done; job %s skipped",
            extraction_id,
            self.request.id,
        )
        return status

    def report(percent: int, message: str) -> None:
        FeatureExtraction.objects.filter(pk=extraction_id).update(progress=percent)
        self.update_state(
            state="PROGRESS", meta={"percent": percent, "message": message}
        )

    try:
        extraction = run_extraction(extraction_id, progress=report)
    except Exception as exc:
        # run_extraction records its own failures; this covers faults outside it,
        # so that no record stays "running" after its job has ended:
        FeatureExtraction.objects.filter(pk=extraction_id).exclude(
            status=Status.FAILED
        ).update(status=Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        logger.exception(
            "Extraction %s failed in job %s", extraction_id, self.request.id
        )
        raise

    logger.info(
        "Extraction %s ended %s in job %s",
        extraction_id,
        extraction.status,
        self.request.id,
    )
    return extraction.status


def queue_extractions(
    extractions: Iterable[FeatureExtraction], queue: str | None = None
) -> list[str]:
    """Queue one job per extraction and return their task ids, in the same order.

    Each record is marked pending with its task id first (a done one is computed
    again); the jobs are sent when the current transaction commits, so a worker
    never looks for a record it cannot see yet. With no broker configured, each job
    runs right there, before this returns.
    """
    options = {"queue": queue} if queue else {}
    task_ids = []
    for extraction in extractions:
        extraction.task_id = str(uuid4())
        extraction.status = Status.PENDING
        extraction.progress = 0
        extraction.save(update_fields=["task_id", "status", "progress"])
        transaction.on_commit(
            partial(
                extract_segmentation.apply_async,
                args=(extraction.pk,),
                task_id=extraction.task_id,
                **options,
            )
        )
        task_ids.append(extraction.task_id)
    return task_ids
