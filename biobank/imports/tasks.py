"""Background job of the upload page: ingest an uploaded ZIP archive of DICOM files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError

from biobank.core.connections import is_connection_failure
from biobank.core.importing import ImportRejected
from biobank.imports.runs import last_run_id, new_run_of
from patients.importers.runs import acting_as
from patients.models import Project
from radiomics.importers.dicom import IMPORTER, ingest_dicom

logger = logging.getLogger(__name__)

# A job whose database went away (a restart) is tried again this many times, this
# many seconds apart: ten minutes in all. Its archive is kept until then.
UPLOAD_RETRIES = 10
RETRY_SECONDS = 60


@shared_task(bind=True, name="biobank.ingest_dicom_upload", max_retries=UPLOAD_RETRIES)
def ingest_dicom_upload(
    self, path: str, project_id: int, user_id: int | None
) -> int | None:
    """Ingest the uploaded archive at `path`, then delete its folder; return the run id.

    The upload page saved the archive in a folder of its own under BIOBANK_UPLOAD_ROOT
    and checked it already (biobank/core/safefiles.py); ingest_dicom checks it again, as
    a worker may take the job long after. Re-running an archive stores nothing twice,
    so a job cut off by the database is queued again, archive kept, and stores the
    series that were not committed. The folder goes once the job ends for good: done,
    refused, failed otherwise, or out of retries; a job run in the process that
    queued it (no broker) is not retried, as the page would wait for it.
    """
    archive = Path(path)
    ended = True
    try:
        project = Project.objects.get(pk=project_id)
        user = get_user_model().objects.filter(pk=user_id).first()
        before = last_run_id()
        try:
            # The history of every record it writes names the uploader, as on the page:
            with acting_as(user):
                ingest_dicom(archive, project, user=user)
        except ImportRejected:
            logger.info("Uploaded archive for project %s was refused", project.code)
        return new_run_of(before, IMPORTER, project, user)
    except (OperationalError, InterfaceError) as error:
        if (
            not is_connection_failure(error)
            or self.request.is_eager
            or self.request.retries >= self.max_retries
        ):
            raise
        logger.warning(
            "Upload job %s lost the database; trying again in %s s (retry %s of %s)",
            self.request.id,
            RETRY_SECONDS,
            self.request.retries + 1,
            self.max_retries,
        )
        # Sent before the archive is known to be needed still (a failure to send
        # ends the job, and the archive goes):
        retry = self.retry(exc=error, countdown=RETRY_SECONDS, throw=False)
        ended = False
        raise retry from None
    finally:
        if ended:
            shutil.rmtree(archive.parent, ignore_errors=True)
