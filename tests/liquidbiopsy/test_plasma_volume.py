"""The plausible plasma volume of a blood draw: the model's rule and migration 0014."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from liquidbiopsy.models import MAX_PLASMA_VOLUME_ML, BloodSample
from tests.biobank.conftest import Records
from tests.liquidbiopsy.conftest import constraint_dropped

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0014_plasma_volume_plausible"
)
OUT_OF_RANGE = (
    "Plasma volume must be above 0 mL and at most 100 mL, more than any draw gives; "
    "give the volume of plasma in mL."
)
CONSTRAINT = "blood_sample_plasma_volume_positive"


@pytest.fixture
def draw(project) -> BloodSample:
    records = Records(project)
    return records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))


def with_plasma(draw: BloodSample, ml: float | None) -> BloodSample:
    BloodSample.objects.filter(pk=draw.pk).update(plasma_volume_ml=ml)
    draw.refresh_from_db()
    return draw


def test_the_limit_is_100_ml():
    assert MAX_PLASMA_VOLUME_ML == 100


@pytest.mark.parametrize("ml", [100.01, 4000, float("inf"), 0, -1])
def test_model_validation_refuses_a_volume_out_of_range(draw, ml):
    draw.plasma_volume_ml = ml

    with pytest.raises(ValidationError) as refused:
        draw.full_clean()

    assert OUT_OF_RANGE in refused.value.messages


@pytest.mark.parametrize("ml", [None, 0.5, 4.2, 100])
def test_model_validation_accepts_a_draws_plasma(draw, ml):
    draw.plasma_volume_ml = ml

    draw.full_clean()


def test_the_database_refuses_a_volume_above_100_ml(draw):
    with pytest.raises(IntegrityError), transaction.atomic():
        with_plasma(draw, 4000)

    draw.refresh_from_db()
    assert draw.plasma_volume_ml is None


@pytest.fixture
def stored_before(transactional_db):
    """Drop the plasma rule, as before migration 0014, and bring it back afterwards."""
    with constraint_dropped(BloodSample, CONSTRAINT):
        yield


def test_the_migration_names_stored_draws_above_100_ml(project, stored_before):
    """Stored before the bound, they stop the migration: a curator corrects them."""
    records = Records(project)
    patient = records.patient("PT-2")
    draws = [records.draw(patient, dt.date(2024, 3, day)) for day in (1, 2, 3, 4)]
    with_plasma(draws[0], 100)
    first = with_plasma(draws[1], 4000)
    second = with_plasma(draws[2], 100.5)
    # draws[3] has no plasma volume: no matter.

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_plasma(apps, None)

    assert str(refused.value) == (
        "Blood samples hold a plasma volume above 100 mL, more than any draw gives "
        f"(ids {first.pk}: 4000 mL; {second.pk}: 100.5 mL); correct the volume of "
        "each in the admin, then migrate again."
    )


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores NaN as NULL"
)
def test_the_migration_names_a_volume_stored_as_nan_too(project, stored_before):
    # PostgreSQL orders NaN above every number: the positive-volume rule let it in.
    records = Records(project)
    draw = with_plasma(
        records.draw(records.patient("PT-4"), dt.date(2024, 3, 1)), float("nan")
    )

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_plasma(apps, None)

    assert f"(ids {draw.pk}: nan mL)" in str(refused.value)


@pytest.mark.django_db(transaction=True)
def test_the_constraint_is_back_after_the_migration_tests(project):
    records = Records(project)
    draw = records.draw(records.patient("PT-5"), dt.date(2024, 3, 1))

    with pytest.raises(IntegrityError):
        with_plasma(draw, 4000)


@pytest.mark.django_db(transaction=True)
def test_the_migration_passes_draws_of_at_most_100_ml_or_none(project):
    records = Records(project)
    patient = records.patient("PT-3")
    with_plasma(records.draw(patient, dt.date(2024, 3, 1)), 100)
    records.draw(patient, dt.date(2024, 3, 2))

    MIGRATION.refuse_implausible_plasma(apps, None)

    assert sorted(
        BloodSample.objects.values_list("plasma_volume_ml", flat=True),
        key=lambda ml: ml or 0,
    ) == [None, 100]
