"""Migration cohorts 0002: frozen members stored before they kept their project's id."""

from __future__ import annotations

import datetime as dt
import importlib

from django.apps import apps
from django.db import connection

from biobank.cohorts.models import CohortMember
from biobank.cohorts.saved import save_cohort, validate_definition
from patients.models import Project

MIGRATION = importlib.import_module("biobank.cohorts.migrations.0002_member_project")


def migrate() -> None:
    MIGRATION.fill_member_projects(apps, connection.schema_editor())


def stored_before(pseudonym: str, **values) -> None:
    """Store the member of `pseudonym` as it was before: no project id."""
    CohortMember.objects.filter(patient_pseudonym=pseudonym).update(
        project=None, **values
    )


def project_of(pseudonym: str) -> int | None:
    return CohortMember.objects.get(patient_pseudonym=pseudonym).project_id


def test_each_member_takes_its_patients_project_else_the_project_of_its_code(
    reader, project, records
):
    for pseudonym in ("PT-1", "PT-2", "PT-3", "PT-4"):
        patient = records.patient(pseudonym)
        records.study(patient, dt.date(2024, 3, 1))
        records.draw(patient, dt.date(2024, 3, 2))
    definition = validate_definition({"query": {"window_days": 7}, "matrix": {}})
    save_cohort(name="paper", definition=definition, author=reader)
    other = Project.objects.create(code="other", name="Other collection")
    # PT-1's patient is still stored; PT-2's and PT-3's were deleted since, PT-3's
    # under a code another project has now; PT-4's code is no project's any more:
    stored_before("PT-1", project_code="renamed-since")
    stored_before("PT-2", patient=None)
    stored_before("PT-3", patient=None, project_code="other")
    stored_before("PT-4", patient=None, project_code="gone")

    migrate()

    assert project_of("PT-1") == project.pk
    assert project_of("PT-2") == project.pk
    assert project_of("PT-3") == other.pk
    assert project_of("PT-4") is None
