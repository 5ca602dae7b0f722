"""CTC platform names: one spelling per known platform, a close misspelling named."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from django.apps import apps

from biobank.core.validation import InvalidValue
from liquidbiopsy.models import CTCCount
from liquidbiopsy.validation import check_platform
from tests.biobank.conftest import Records

respelling = importlib.import_module(
    "liquidbiopsy.migrations.0007_ctc_platform_known_spelling"
)


@pytest.mark.parametrize(
    "written", ["CellSearch", "Cell Search", "cellsearch", "CELLSEARCH", "cell-search"]
)
def test_a_known_platform_is_read_whatever_its_capitals_spaces_and_hyphens(written):
    assert check_platform(written) == "CellSearch"


@pytest.mark.parametrize(
    ("written", "known"),
    [
        ("CelSearch", "CellSearch"),
        ("Parsortics", "Parsortix"),
        ("Rarecite", "RareCyte"),
    ],
)
def test_a_platform_close_to_a_known_one_is_refused_naming_it(written, known):
    with pytest.raises(InvalidValue) as refused:
        check_platform(written)

    assert f"did you mean {known}?" in str(refused.value)
    assert refused.value.code == "unknown-platform"


@pytest.mark.parametrize("written", ["ACME chip", "CellSearch XT", "Epic"])
def test_another_platform_is_kept_as_written(written):
    assert check_platform(written) == written


@pytest.mark.django_db
def test_the_migration_respells_stored_known_platforms_but_never_merges_two(project):
    records = Records(project)
    patient = records.patient("P-1")
    alone, both = (records.draw(patient, dt.date(2024, 3, day)) for day in (1, 2))
    CTCCount.objects.create(sample=alone, platform="Cell Search", count=1)
    CTCCount.objects.create(sample=alone, platform="ACME chip", count=2)
    CTCCount.objects.create(sample=both, platform="CellSearch", count=3)
    CTCCount.objects.create(sample=both, platform="CELL-SEARCH", count=4)

    respelling.respell_known_platforms(apps, None)

    stored = sorted(CTCCount.objects.values_list("count", "platform"))
    assert stored == [
        (1, "CellSearch"),
        (2, "ACME chip"),
        # Two counts of one platform on a draw: a curator chooses between them.
        (3, "CellSearch"),
        (4, "CELL-SEARCH"),
    ]
