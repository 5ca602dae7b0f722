"""Paths of stored files: relative to BIOBANK_STORAGE_ROOT, and never leading out of it."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

from django.conf import settings
from django.core.exceptions import ValidationError


class StoragePathRefused(ValueError):
    """A stored path that is absolute or leads out of the storage root."""


class StoredFileMissing(FileNotFoundError):
    """A stored path under the root whose file is not there."""


def storage_root() -> Path:
    return Path(settings.BIOBANK_STORAGE_ROOT)


def check_storage_path(relative: str) -> str:
    """Return `relative` if it names a place under the storage root; raise StoragePathRefused.

    Refused: an absolute path, a `..` part, a NUL, and a path that a symbolic link
    under the root leads out of (resolved as it is now). The message quotes a
    relative path only, never an absolute one nor the root, so that it can be shown
    to a curator or kept in an extraction's error (which viewers read in the API).
    An empty path is returned as it is: it stores no file.
    """
    if not relative:
        return relative
    if "\x00" in relative:
        raise StoragePathRefused(
            "The path holds a NUL character; give a path under the storage root."
        )
    parts = PurePosixPath(relative.replace("\\", "/"))
    if parts.is_absolute() or PureWindowsPath(relative).anchor:
        raise StoragePathRefused(
            "The path is absolute; stored paths are relative to the storage root "
            "(BIOBANK_STORAGE_ROOT), as ingest_dicom and add_mask write them."
        )
    if ".." in parts.parts:
        raise StoragePathRefused(
            f"The path {relative!r} climbs out of its folder with '..'; give a path "
            "under the storage root (BIOBANK_STORAGE_ROOT)."
        )

    root = storage_root().resolve()
    try:
        resolved = (root / relative).resolve()
    except (OSError, RuntimeError):  # a loop of symbolic links
        resolved = None
    if resolved is None or not resolved.is_relative_to(root):
        raise StoragePathRefused(
            f"The path {relative!r} leads out of the storage root "
            "(BIOBANK_STORAGE_ROOT) through a symbolic link."
        )
    return relative


def stored_file(relative: str, what: str) -> Path:
    """Return the file that `relative` names under the storage root, checked first.

    `what` names the record in the messages ("segmentation 4 (GTV)").

    Raises
    ------
    StoragePathRefused
        When the path is empty, absolute or leads out of the root.
    StoredFileMissing
        When no file is there.
    """
    if not relative:
        raise StoragePathRefused(f"{what[:1].upper()}{what[1:]} has no stored file.")
    try:
        check_storage_path(relative)
    except StoragePathRefused as refused:
        raise StoragePathRefused(
            f"The stored path of {what} is refused. {refused} Store the file again "
            "with its importer (ingest_dicom, add_mask)."
        ) from None

    path = storage_root() / relative
    if not path.is_file():
        raise StoredFileMissing(
            f"The stored file of {what} is missing from storage ({relative}); restore "
            "it from backup or store it again."
        )
    return path


def clean_storage_path(record: object) -> None:
    """Refuse, in a model's clean, a `storage_path` that check_storage_path refuses."""
    try:
        check_storage_path(record.storage_path)
    except StoragePathRefused as refused:
        raise ValidationError({"storage_path": str(refused)}) from None
