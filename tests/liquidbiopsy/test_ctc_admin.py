"""A second CTC count of a platform on one draw is a form error, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import inlineformset_factory

from liquidbiopsy.admin import CTCCountFormSet, CTCCountInline
from liquidbiopsy.models import CTC_PLATFORM_TAKEN, BloodSample, CTCCount
from tests.biobank.conftest import Records

pytestmark = pytest.mark.django_db

FIELDS = ("platform", "enrichment", "blood_volume_ml", "count")


@pytest.fixture
def draw(project) -> BloodSample:
    records = Records(project)
    draw = records.draw(records.patient("P-1"), dt.date(2024, 3, 1))
    records.ctc(draw, 3)  # CellSearch, the default platform
    return draw


def _formset(draw: BloodSample, *rows: dict):
    """The draw's CTC counts as the admin's inline posts them, plus new `rows`."""
    prefix = "ctc_counts"
    stored = list(draw.ctc_counts.order_by("pk"))
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(stored) + len(rows)),
        f"{prefix}-INITIAL_FORMS": str(len(stored)),
    }
    forms = [
        {"id": count.pk, **{f: getattr(count, f) for f in FIELDS}} for count in stored
    ]
    for number, row in enumerate([*forms, *rows]):
        defaults = {"enrichment": "epcam-immunomagnetic", "blood_volume_ml": "7.5"}
        for name, value in (defaults | row).items():
            data[f"{prefix}-{number}-{name}"] = str(value)
        data[f"{prefix}-{number}-sample"] = str(draw.pk)
    formset_class = inlineformset_factory(
        BloodSample, CTCCount, formset=CTCCountFormSet, fields=FIELDS, extra=0
    )
    return formset_class(data, instance=draw)


@pytest.mark.parametrize("platform", ["CellSearch", "cellsearch", "CELLSEARCH"])
def test_a_second_count_of_a_platform_is_refused_by_the_inline(draw, platform):
    formset = _formset(draw, {"platform": platform, "count": 5})

    assert not formset.is_valid()
    assert formset.errors[1] == {"platform": [CTC_PLATFORM_TAKEN]}
    assert CTCCountInline.formset is CTCCountFormSet  # the draw's admin page uses it


def test_another_platform_and_a_renamed_one_are_kept(draw):
    stored = draw.ctc_counts.get()
    formset = _formset(draw, {"platform": "Parsortix", "count": 5})
    assert formset.is_valid(), formset.errors
    formset.save()

    assert sorted(draw.ctc_counts.values_list("platform", flat=True)) == [
        "CellSearch",
        "Parsortix",
    ]
    assert draw.ctc_counts.get(platform="CellSearch").pk == stored.pk


def test_the_models_own_check_words_the_rule(draw):
    duplicate = CTCCount(sample=draw, platform="cellSEARCH", count=1)

    with pytest.raises(ValidationError) as refused:
        duplicate.validate_constraints()

    assert refused.value.messages == [CTC_PLATFORM_TAKEN]
