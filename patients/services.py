"""Writes that give a source patient identifier its project pseudonym."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from patients.models import Patient, Project


def source_key(project: Project, source_id: str) -> str:
    """Return the keyed hash that stands for `source_id` within `project`."""
    message = f"{project.code}\x00{source_id.strip()}".encode()
    return hmac.new(
        settings.BIOBANK_PSEUDONYM_KEY.encode(), message, hashlib.sha256
    ).hexdigest()


def find_patient(project: Project, source_id: str) -> Patient | None:
    return Patient.objects.filter(
        project=project, source_key=source_key(project, source_id)
    ).first()


def pseudonymise(project: Project, source_id: str, **defaults) -> tuple[Patient, bool]:
    """Return the patient for `source_id`, creating it under the next free pseudonym.

    The source identifier itself is never stored; only its keyed hash is.
    """
    key = source_key(project, source_id)
    existing = Patient.objects.filter(project=project, source_key=key).first()
    if existing is not None:
        return existing, False

    for _attempt in range(50):
        number = Patient.objects.filter(project=project).count() + 1 + _attempt
        try:
            with transaction.atomic():
                patient = Patient.objects.create(
                    project=project,
                    source_key=key,
                    pseudonym=f"{project.code.upper()}-{number:05d}",
                    **defaults,
                )
            return patient, True
        except IntegrityError:
            # Another import took that number (or this patient) meanwhile:
            existing = Patient.objects.filter(project=project, source_key=key).first()
            if existing is not None:
                return existing, False
    raise RuntimeError(f"Could not allocate a pseudonym in project {project.code}.")


class BadProjectCode(ValueError):
    pass


def get_project(code: str, create: bool = True) -> Project:
    """Return the project with this code, creating it when `create` and it is new.

    The code is checked as the admin checks it (letters, digits, - and _), because it
    names the project's storage folder and starts every pseudonym and exported cell.
    """
    try:
        validate_slug(code)
    except ValidationError:
        raise BadProjectCode(
            f"Project code {code!r} is not valid: use letters, digits, hyphens or "
            "underscores only (for example LUNG1)."
        ) from None
    if len(code) > Project._meta.get_field("code").max_length:
        raise BadProjectCode(f"Project code {code!r} is longer than 40 characters.")
    # Codes differ by more than case: "--project lung1" is the LUNG1 project, since
    # pseudonyms are upper-cased and two such projects would hold look-alike patients.
    existing = Project.objects.filter(code__iexact=code).order_by("pk").first()
    if existing is not None:
        return existing
    if create:
        project, _ = Project.objects.get_or_create(code=code, defaults={"name": code})
        return project
    raise Project.DoesNotExist(f"No project has the code {code!r}.")
