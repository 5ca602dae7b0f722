"""Fixtures of the liquid-biopsy tests: files written to tmp_path, known patients, stored state."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection, models

from biobank.core.importing import ImportRejected, Problem
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import Patient
from patients.services import find_patient, pseudonymise


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def register(project, *source_ids: str) -> None:
    for source_id in source_ids:
        pseudonymise(project, source_id)


def patient(project, source_id: str) -> Patient:
    found = find_patient(project, source_id)
    assert found is not None, f"{source_id} is not a patient of {project}"
    return found


def rejection(call) -> list[Problem]:
    with pytest.raises(ImportRejected) as caught:
        call()
    return caught.value.problems


@contextmanager
def constraint_dropped(model: type[models.Model], name: str) -> Iterator[None]:
    """Drop a model's constraint, as before the migration adding it, then bring it back.

    Rows stored meanwhile that break it, which a migration must name, are deleted
    first; needs transactional_db, as a schema change commits.
    """
    constraints = model._meta.constraints
    (constraint,) = [c for c in constraints if c.name == name]
    # NB: SQLite rebuilds the table from the model's constraints, so they lack it too:
    model._meta.constraints = [c for c in constraints if c is not constraint]
    try:
        with connection.schema_editor() as editor:
            editor.remove_constraint(model, constraint)
    finally:
        model._meta.constraints = constraints
    try:
        yield
    finally:
        model.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(model, constraint)


def stored_state() -> list:
    """Every stored lab record, to show that a rejected file changed nothing."""
    # Ordered by key: PostgreSQL returns unordered rows in storage order, which an
    # UPDATE of identical values may change.
    return [
        list(BloodSample.objects.order_by("pk").values_list()),
        list(CTCCount.objects.order_by("pk").values_list()),
        list(CfDNAAssay.objects.order_by("pk").values_list()),
        list(VariantResult.objects.order_by("pk").values_list()),
        Patient.objects.count(),
    ]


@pytest.fixture
def patients_of_case(project):
    """Register the source patient IDs of a file before its lab results are imported."""

    def register_from(path: Path, column: str = "patient_id") -> None:
        import csv

        with open(path, encoding="utf-8") as handle:
            register(project, *{row[column] for row in csv.DictReader(handle)})

    return register_from
