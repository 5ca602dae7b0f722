"""Writes that give a source patient identifier its project pseudonym."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction

from biobank.core.importing import chunks
from patients.models import Patient, Project

# Crockford's base 32: no I, L, O or U, so a pseudonym read aloud or typed stays one.
PSEUDONYM_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PSEUDONYM_TOKEN_LENGTH = 6


def source_key(project: Project, source_id: str) -> str:
    """Return the keyed hash that stands for `source_id` within `project`."""
    return project_source_key(project.code, source_id)


def project_source_key(project_code: str, source_id: str) -> str:
    """source_key() by the project's code (DICOM worker processes hold no Project)."""
    message = f"{project_code}\x00{source_id.strip()}".encode()
    return hmac.new(
        settings.BIOBANK_PSEUDONYM_KEY.encode(), message, hashlib.sha256
    ).hexdigest()


def find_patient(project: Project, source_id: str) -> Patient | None:
    return Patient.objects.filter(
        project=project, source_key=source_key(project, source_id)
    ).first()


def pseudonymise(project: Project, source_id: str, **defaults) -> tuple[Patient, bool]:
    """Return the patient for `source_id`, creating it under a new random pseudonym.

    The source identifier itself is never stored; only its keyed hash is. Pseudonyms
    are drawn at random (new_pseudonym), not numbered, so that neither their order
    nor their values tell in which order the source listed its patients; pseudonyms
    given before (numbered, CODE-00001) are kept as they are.
    """
    key = source_key(project, source_id)
    existing = Patient.objects.filter(project=project, source_key=key).first()
    if existing is not None:
        return existing, False
    return add_patient(project, source_id, **defaults)


def find_patients(project: Project, source_ids: Collection[str]) -> dict[str, Patient]:
    """Return the stored patients of these source identifiers, by identifier, in one query."""
    keys = {source_key(project, source_id): source_id for source_id in source_ids}
    found = {}
    for chunk in chunks(sorted(keys)):
        for patient in Patient.objects.filter(project=project, source_key__in=chunk):
            found[keys[patient.source_key]] = patient
    return found


def add_patient(project: Project, source_id: str, **defaults) -> tuple[Patient, bool]:
    """Create the patient for `source_id`, found absent, as pseudonymise() does.

    (patient, False) when another import created it since it was found absent.
    """
    key = source_key(project, source_id)
    for _attempt in range(50):
        try:
            with transaction.atomic():
                patient = Patient.objects.create(
                    project=project,
                    source_key=key,
                    pseudonym=new_pseudonym(project),
                    **defaults,
                )
            return patient, True
        except IntegrityError:
            # The token was taken (one in a billion), or another import created this
            # patient meanwhile:
            existing = Patient.objects.filter(project=project, source_key=key).first()
            if existing is not None:
                return existing, False
    raise RuntimeError(f"Could not allocate a pseudonym in project {project.code}.")


def new_pseudonym(project: Project) -> str:
    """Return the project code, a random token and its check character: LUNG1-7KQ3MX6.

    The token is PSEUDONYM_TOKEN_LENGTH characters of Crockford's base 32 (about a
    billion values) from the operating system's random source, so it carries nothing
    of the patient or of the source; the check character catches a mistyped character
    and most swapped pairs. Uniqueness within the project is the database's constraint.
    """
    token = "".join(
        secrets.choice(PSEUDONYM_ALPHABET) for _ in range(PSEUDONYM_TOKEN_LENGTH)
    )
    # FIXME: a project code above 32 characters makes a pseudonym longer than the
    # 40 characters Patient.pseudonym holds; PostgreSQL then refuses the patient.
    return f"{project.code.upper()}-{token}{check_character(token)}"


def check_character(token: str) -> str:
    """Return the Luhn mod 32 check character of a token of PSEUDONYM_ALPHABET."""
    base = len(PSEUDONYM_ALPHABET)
    total = 0
    for position, character in enumerate(reversed(token)):
        value = PSEUDONYM_ALPHABET.index(character) * (2 if position % 2 == 0 else 1)
        total += value // base + value % base
    return PSEUDONYM_ALPHABET[-total % base]


def is_checked_pseudonym(pseudonym: str) -> bool:
    """Tell whether a random pseudonym's last character checks (False for numbered ones)."""
    token = pseudonym.rpartition("-")[2]
    if len(token) != PSEUDONYM_TOKEN_LENGTH + 1 or not set(token) <= set(
        PSEUDONYM_ALPHABET
    ):
        return False
    return check_character(token[:-1]) == token[-1]


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
