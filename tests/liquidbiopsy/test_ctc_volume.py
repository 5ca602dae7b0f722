"""The plausible blood volume of a CTC count: the model's rule and migration 0013."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from liquidbiopsy.models import MAX_BLOOD_VOLUME_ML, BloodSample, CTCCount
from tests.biobank.conftest import Records
from tests.liquidbiopsy.conftest import constraint_dropped

MIGRATION = importlib.import_module("liquidbiopsy.migrations.0013_ctc_volume_plausible")
TOO_MUCH = "Blood volume must not exceed 100 mL, more than any draw holds; give the volume counted in mL."


@pytest.fixture
def draw(project) -> BloodSample:
    records = Records(project)
    return records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))


def test_the_limit_is_100_ml():
    assert MAX_BLOOD_VOLUME_ML == 100


@pytest.mark.parametrize("ml", [100.01, 7500, float("inf")])
def test_model_validation_refuses_a_volume_above_100_ml(draw, ml):
    count = CTCCount(sample=draw, count=3, blood_volume_ml=ml)

    with pytest.raises(ValidationError) as refused:
        count.full_clean()

    assert TOO_MUCH in refused.value.messages


def test_model_validation_accepts_100_ml(draw):
    CTCCount(sample=draw, count=3, blood_volume_ml=100).full_clean()


def test_the_database_refuses_a_volume_above_100_ml(draw):
    with pytest.raises(IntegrityError), transaction.atomic():
        CTCCount.objects.create(sample=draw, count=3, blood_volume_ml=7500)

    assert not CTCCount.objects.exists()


@pytest.fixture
def stored_before(transactional_db):
    """Drop the constraint, as before migration 0013, and bring it back afterwards."""
    with constraint_dropped(CTCCount, "ctc_volume_plausible"):
        yield


def test_the_migration_names_stored_counts_above_100_ml(project, stored_before):
    """Stored before the constraint, they stop the migration: a curator corrects them."""
    records = Records(project)
    patient = records.patient("PT-2")
    draws = [records.draw(patient, dt.date(2024, 3, day)) for day in (1, 2, 3)]
    records.ctc(draws[0], 3, volume_ml=100)
    first = records.ctc(draws[1], 3, volume_ml=7500)
    second = records.ctc(draws[2], 3, volume_ml=100.5)

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_volumes(apps, None)

    assert str(refused.value) == (
        "CTC counts hold a blood volume above 100 mL, more than any draw holds (ids "
        f"{first.pk}: 7500 mL; {second.pk}: 100.5 mL); correct the volume of each in "
        "the admin, then migrate again."
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores NaN as NULL"
)
def test_the_migration_names_a_volume_stored_as_nan_too(project, stored_before):
    # PostgreSQL orders NaN above every number: the positive-volume rule let it in.
    records = Records(project)
    draw = records.draw(records.patient("PT-4"), dt.date(2024, 3, 1))
    stored = records.ctc(draw, 3, volume_ml=float("nan"))

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_volumes(apps, None)

    assert f"(ids {stored.pk}: nan mL)" in str(refused.value)


@pytest.mark.django_db(transaction=True)
def test_the_constraint_is_back_after_the_migration_tests(project):
    records = Records(project)
    draw = records.draw(records.patient("PT-5"), dt.date(2024, 3, 1))

    with pytest.raises(IntegrityError):
        records.ctc(draw, 3, volume_ml=7500)


@pytest.mark.django_db(transaction=True)
def test_the_migration_passes_counts_of_at_most_100_ml(project):
    records = Records(project)
    draw = records.draw(records.patient("PT-3"), dt.date(2024, 3, 1))
    records.ctc(draw, 3, volume_ml=100)

    MIGRATION.refuse_implausible_volumes(apps, None)

    assert CTCCount.objects.get().blood_volume_ml == 100
