"""Background job of the upload page: ingest an uploaded ZIP archive of DICOM files."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from celery import shared_task
from django.contrib.auth import get_user_model

from biobank.core.importing import ImportRejected
from biobank.imports.runs import last_run_id, new_run_of
from patients.importers.runs import acting_as
from patients.models import Project
from radiomics.importers.dicom import IMPORTER, ingest_dicom

logger = logging.getLogger(__name__)


@shared_task(name="biobank.ingest_dicom_upload")
def ingest_dicom_upload(path: str, project_id: int, user_id: int | None) -> int | None:
    """Ingest the uploaded archive at `path`, then delete its folder; return the run id.

    The upload page saved the archive in a folder of its own under BIOBANK_UPLOAD_ROOT
    and checked it already (biobank/core/safefiles.py); ingest_dicom checks it again, as
    a worker may take the job long after. Re-running an archive stores nothing twice.
    """
    archive = Path(path)
    project = Project.objects.get(pk=project_id)
    user = get_user_model().objects.filter(pk=user_id).first()
    before = last_run_id()
    try:
        # The history of every record it writes names the uploader, as on the page:
        with acting_as(user):
            ingest_dicom(archive, project, user=user)
    except ImportRejected:
        logger.info("Uploaded archive for project %s was refused", project.code)
    finally:
        shutil.rmtree(archive.parent, ignore_errors=True)
    return new_run_of(before, IMPORTER, project, user)
