"""Feature values' extraction gets a larger statistics sample (biobank.core.statistics)."""

from __future__ import annotations

import pytest
from django.db import connection

from biobank.core.statistics import LARGE_TARGET
from radiomics.models import FeatureValue

pytestmark = pytest.mark.django_db


def _target(model, field_name: str) -> int:
    column = model._meta.get_field(field_name).column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT attstattarget FROM pg_attribute "
            "WHERE attrelid = %s::regclass AND attname = %s",
            [model._meta.db_table, column],
        )
        return cursor.fetchone()[0]


def test_the_migrations_raise_the_statistics_target_of_feature_values():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: statistics targets are the PostgreSQL planner's")
    assert _target(FeatureValue, "extraction") == LARGE_TARGET
