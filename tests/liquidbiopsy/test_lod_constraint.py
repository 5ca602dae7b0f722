"""The database's bounds of a limit of detection (cfdna_lod_fraction) and migration 0017."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from liquidbiopsy.models import LOD_OUT_OF_RANGE, CfDNAAssay
from tests.biobank.conftest import Records
from tests.liquidbiopsy.conftest import constraint_dropped

MIGRATION = importlib.import_module("liquidbiopsy.migrations.0017_lod_above_0_under_1")
CONSTRAINT = "cfdna_lod_fraction"


def assays(project, *panels: str) -> list[CfDNAAssay]:
    records = Records(project)
    draw = records.draw(records.patient("PT-1"), dt.date(2024, 3, 1))
    return [
        CfDNAAssay.objects.create(sample=draw, method="targeted-NGS", panel=panel)
        for panel in panels
    ]


def with_limit(assay: CfDNAAssay, limit: float | None) -> CfDNAAssay:
    CfDNAAssay.objects.filter(pk=assay.pk).update(limit_of_detection_vaf=limit)
    assay.refresh_from_db()
    return assay


@pytest.mark.parametrize("limit", [0, 1])
def test_the_database_refuses_a_limit_of_0_or_1(project, limit):
    (assay,) = assays(project, "Oncomine")

    with pytest.raises(IntegrityError), transaction.atomic():
        with_limit(assay, limit)

    assert CfDNAAssay.objects.get().limit_of_detection_vaf is None


@pytest.mark.parametrize("limit", [0, 1])
def test_model_validation_names_the_bounds(project, limit):
    (assay,) = assays(project, "Oncomine")
    assay.limit_of_detection_vaf = limit

    with pytest.raises(ValidationError) as refused:
        assay.full_clean()

    assert refused.value.messages == [f"Limit of detection (VAF) {LOD_OUT_OF_RANGE}"]


@pytest.fixture
def stored_before(transactional_db):
    """Drop the rule, as before migration 0017, and bring it back afterwards."""
    with constraint_dropped(CfDNAAssay, CONSTRAINT):
        yield


def test_the_migration_names_stored_limits_of_0_and_1_and_changes_nothing(
    project, stored_before
):
    """A curator decides: 1 may be 1 % written as a fraction, with calls made against it."""
    kept, zero, one, empty = assays(project, "A", "B", "C", "")
    with_limit(kept, 0.005)
    with_limit(zero, 0)
    with_limit(one, 1)
    before = list(CfDNAAssay.objects.order_by("pk").values_list())

    with pytest.raises(RuntimeError) as refused:
        MIGRATION.refuse_limits_of_0_or_1(apps, None)

    draw = kept.sample_id
    assert str(refused.value) == (
        "cfDNA assays hold a limit of detection of 0 or 1, which calls nothing or "
        f"every variant below LOD (ids {zero.pk}: draw {draw}, targeted-NGS B, limit "
        f"0; {one.pk}: draw {draw}, targeted-NGS C, limit 1); give each its limit "
        "(0.01 if 1 meant 1 %) or clear it in the admin, then migrate again."
    )
    assert list(CfDNAAssay.objects.order_by("pk").values_list()) == before


@pytest.mark.django_db(transaction=True)
def test_the_constraint_is_back_after_the_migration_tests(project):
    (assay,) = assays(project, "Oncomine")

    with pytest.raises(IntegrityError):
        with_limit(assay, 1)


def test_the_migration_passes_limits_inside_the_bounds_or_none(project):
    low, high, empty = assays(project, "A", "B", "C")
    with_limit(low, 1e-6)
    with_limit(high, 0.999)

    MIGRATION.refuse_limits_of_0_or_1(apps, None)

    limits = CfDNAAssay.objects.order_by("pk").values_list(
        "limit_of_detection_vaf", flat=True
    )
    assert list(limits) == [1e-6, 0.999, None]
