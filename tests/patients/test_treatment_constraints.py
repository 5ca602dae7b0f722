"""The database's own rule for treatments: one per patient, kind, agent and start day."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from patients.models import Patient, Treatment

STARTED = dt.date(2021, 5, 1)


@pytest.fixture
def patient(project) -> Patient:
    return Patient.objects.create(project=project, pseudonym="PT-1", source_key="k1")


def treatment(patient: Patient, agent: str, **values) -> Treatment:
    return Treatment.objects.create(
        patient=patient,
        **{"kind": "chemotherapy", "agent": agent, "started_on": STARTED} | values,
    )


@pytest.mark.parametrize("agent", ["Doxorubicin", "DOXORUBICIN", "doxorubicin"])
def test_the_database_refuses_a_treatment_repeated_in_any_capitals(patient, agent):
    treatment(patient, "doxorubicin")

    with pytest.raises(IntegrityError), transaction.atomic():
        treatment(patient, agent)

    assert list(patient.treatments.values_list("agent", flat=True)) == ["doxorubicin"]


def test_the_same_agent_of_another_kind_or_day_is_another_treatment(patient):
    treatment(patient, "doxorubicin")

    treatment(patient, "Doxorubicin", kind="chemoradiotherapy")
    treatment(patient, "DOXORUBICIN", started_on=STARTED + dt.timedelta(days=21))

    assert patient.treatments.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_migration_names_treatments_stored_before_that_differ_in_capitals(
    project,
):
    """Stored before the constraint, they stop the migration: a curator chooses."""
    migration = importlib.import_module(
        "patients.migrations.0006_treatment_agent_any_case"
    )
    (constraint,) = [
        c for c in Treatment._meta.constraints if c.name == "treatment_natural_key"
    ]
    patient = Patient.objects.create(project=project, pseudonym="PT-2", source_key="k2")
    with connection.schema_editor() as editor:
        editor.remove_constraint(Treatment, constraint)
    try:
        first = treatment(patient, "doxorubicin")
        second = treatment(patient, "Doxorubicin")
        treatment(patient, "cisplatin")

        with pytest.raises(RuntimeError) as refused:
            migration.refuse_case_duplicates(apps, None)
    finally:
        Treatment.objects.all().delete()
        with connection.schema_editor() as editor:
            editor.add_constraint(Treatment, constraint)

    assert f"(ids {first.pk} and {second.pk});" in str(refused.value)
