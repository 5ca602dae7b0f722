"""The plausible time a blood draw waits for processing: the rule and migration 0025."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from liquidbiopsy.models import MAX_HOURS_TO_PROCESSING, BloodSample
from tests.biobank.conftest import Records
from tests.liquidbiopsy.conftest import constraint_dropped

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0025_processing_time_plausible"
)
OUT_OF_RANGE = (
    "Hours to processing must lie between 0 and 336 (14 days), longer than any cfDNA "
    "tube keeps a draw; give the hours from the draw to the separation of plasma."
)
CONSTRAINT = "blood_sample_processing_time_not_negative"


def processed_after(draw: BloodSample, hours: float | None) -> BloodSample:
    BloodSample.objects.filter(pk=draw.pk).update(hours_to_processing=hours)
    draw.refresh_from_db()
    return draw


@pytest.fixture
def records(project) -> Records:
    return Records(project)


def test_the_limit_is_14_days():
    assert MAX_HOURS_TO_PROCESSING == 14 * 24


@pytest.mark.parametrize("hours", [336.5, 1440, float("inf"), -1])
def test_model_validation_refuses_hours_out_of_range(records, hours):
    draw = records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))
    draw.hours_to_processing = hours

    with pytest.raises(ValidationError) as refused:
        draw.full_clean()

    assert OUT_OF_RANGE in refused.value.messages


@pytest.mark.parametrize("hours", [None, 0, 2.5, 72, 336])
def test_model_validation_accepts_a_draws_processing_time(records, hours):
    draw = records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))
    draw.hours_to_processing = hours

    draw.full_clean()


def test_the_database_refuses_more_than_336_hours(records):
    draw = records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))

    with pytest.raises(IntegrityError), transaction.atomic():
        processed_after(draw, 1440)


@pytest.fixture
def stored_before(transactional_db):
    """Drop the rule, as before migration 0025, and bring it back afterwards."""
    with constraint_dropped(BloodSample, CONSTRAINT):
        yield


def test_the_migration_names_draws_stored_beyond_336_hours(project, stored_before):
    """Stored before the bound, they stop the migration: a curator corrects them."""
    records = Records(project)
    patient = records.patient("PT-2")
    draws = [records.draw(patient, dt.date(2024, 3, day)) for day in (1, 2, 3, 4)]
    processed_after(draws[0], 336)
    first = processed_after(draws[1], 1440)
    second = processed_after(draws[2], 336.5)
    # draws[3] has no processing time: no matter.

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_processing_times(apps, None)

    message = str(refused.value)
    assert message.startswith(
        "Blood samples waited more than 336 hours (14 days) for processing, longer "
        f"than any cfDNA tube keeps a draw (ids {first.pk}: 1440 h; {second.pk}: "
        "336.5 h). Correct the hours to processing of each"
    )
    assert message.endswith("then migrate again.")
    # The command it gives, which needs no running server, empties just those:
    command = message.split('shell -c "')[1].split('"')[0]
    exec(command, {})  # noqa: S102 -- the migration's own message
    MIGRATION.refuse_implausible_processing_times(apps, None)
    kept = [BloodSample.objects.get(pk=d.pk).hours_to_processing for d in draws]
    assert kept == [336, None, None, None]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite stores NaN as NULL"
)
def test_the_migration_names_a_time_stored_as_nan_too(project, stored_before):
    # PostgreSQL orders NaN above every number: the not-negative rule let it in.
    records = Records(project)
    draw = records.draw(records.patient("PT-3"), dt.date(2024, 3, 1))
    processed_after(draw, float("nan"))

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_implausible_processing_times(apps, None)

    assert f"(ids {draw.pk}: nan h)" in str(refused.value)


def test_the_migration_passes_draws_processed_within_336_hours_or_unknown(records):
    patient = records.patient("PT-4")
    processed_after(records.draw(patient, dt.date(2024, 3, 1)), 336)
    records.draw(patient, dt.date(2024, 3, 2))

    MIGRATION.refuse_implausible_processing_times(apps, None)
