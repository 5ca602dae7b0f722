"""The de-identified files of deleted records leave storage once the deletion commits.

A patient, study, series, image or segmentation deleted by any path that goes through
Django's deletion (the admin's page and action, the API, a command, a cascade from a
patient) sends post_delete for each image and segmentation; their files are removed
after the transaction commits, so a rolled-back deletion keeps them, and only when no
other record still names the same file. Folders left empty are removed up to the
storage root. NB: raw SQL deletions (biobank.synthetic) send no signals; their files
stay.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from biobank.core.storage import StoragePathRefused, check_storage_path, storage_root
from radiomics.models import ImageInstance, Segmentation

logger = logging.getLogger(__name__)

FILE_RECORDS = (ImageInstance, Segmentation)


@receiver(post_delete, sender=ImageInstance, dispatch_uid="image-file-gone")
@receiver(post_delete, sender=Segmentation, dispatch_uid="segmentation-file-gone")
def remove_file_after_commit(sender, instance, using: str, **kwargs) -> None:
    relative = instance.storage_path
    if relative:
        transaction.on_commit(lambda: remove_unreferenced(relative), using=using)


def is_referenced(relative: str) -> bool:
    """Return whether a stored record still names the file `relative`."""
    return any(
        model.objects.filter(storage_path=relative).exists() for model in FILE_RECORDS
    )


def remove_unreferenced(relative: str) -> None:
    """Remove the stored file `relative` unless a record names it, and empty folders."""
    if is_referenced(relative):
        return
    try:
        check_storage_path(relative)
    except StoragePathRefused as refused:
        logger.warning("Stored file of a deleted record left in place: %s", refused)
        return

    root = storage_root().resolve()
    path = root / relative
    path.unlink(missing_ok=True)
    for folder in path.parents:
        if folder == root or not folder.is_relative_to(root):
            break
        if not _remove_if_empty(folder):
            break


def _remove_if_empty(folder: Path) -> bool:
    try:
        folder.rmdir()
    except OSError:  # not empty (or already gone with another file's removal)
        return folder.exists() is False
    return True


def files_of(records_by_model: dict) -> int:
    """Return how many stored files deleting these records removes (at most)."""
    return len(
        {
            record.storage_path
            for model in FILE_RECORDS
            for record in records_by_model.get(model, ())
            if record.storage_path
        }
    )
