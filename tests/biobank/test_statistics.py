"""Planner statistics and settings for PostgreSQL (biobank.core.statistics, settings)."""

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


def test_the_migrations_give_the_gene_filter_statistics_of_its_columns_together():
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: extended statistics are the PostgreSQL planner's"
        )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT stxname, stxkind, stxstattarget, pg_get_statisticsobjdef_expressions(oid)"
            " FROM pg_statistic_ext WHERE stxrelid = 'liquidbiopsy_variantresult'::regclass"
        )
        found = {
            name: (kinds, target, expressions)
            for name, kinds, target, expressions in cursor.fetchall()
        }

    assert set(found) == {
        "variant_gene_call_change_stats",
        "variant_hgnc_call_change_stats",
    }
    for kinds, target, expressions in found.values():
        assert "m" in kinds  # the most common combinations
        assert target == 1000
        assert len(expressions) == 1 and expressions[0].startswith("upper((gene")


def test_connections_price_index_reads_as_the_settings_say(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: planner settings of its connections")
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        (cost,) = cursor.fetchone()
        cursor.execute("SHOW jit")
        (jit,) = cursor.fetchone()

    assert float(cost) == settings.BIOBANK_PG_RANDOM_PAGE_COST == 1.1
    assert jit == "off"


def test_a_price_that_is_no_number_is_refused(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from biobank.core.env import env_float

    monkeypatch.setenv("BIOBANK_PG_RANDOM_PAGE_COST", "fast")

    with pytest.raises(
        ImproperlyConfigured,
        match="BIOBANK_PG_RANDOM_PAGE_COST must be a number, not 'fast'",
    ):
        env_float("BIOBANK_PG_RANDOM_PAGE_COST", 1.1)
    monkeypatch.setenv("BIOBANK_PG_RANDOM_PAGE_COST", "2")
    assert env_float("BIOBANK_PG_RANDOM_PAGE_COST", 1.1) == 2.0
