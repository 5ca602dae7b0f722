"""A second CTC count of a platform on one draw is a form error, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.forms.models import inlineformset_factory

from liquidbiopsy.admin import (
    CTC_PLATFORM_HELD,
    CTCCountAdmin,
    CTCCountForm,
    CTCCountFormSet,
    CTCCountInline,
)
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
    return _formset_of(draw, [*_rows(draw, {}), *rows])


def _formset_of(draw: BloodSample, rows: list[dict]):
    """The inline formset of the draw bound to `rows` (stored ones carry their id)."""
    prefix = "ctc_counts"
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(sum("id" in row for row in rows)),
    }
    for number, row in enumerate(rows):
        defaults = {"enrichment": "epcam-immunomagnetic", "blood_volume_ml": "7.5"}
        for name, value in (defaults | row).items():
            data[f"{prefix}-{number}-{name}"] = str(value)
        data[f"{prefix}-{number}-sample"] = str(draw.pk)
    formset_class = inlineformset_factory(
        BloodSample,
        CTCCount,
        form=CTCCountForm,
        formset=CTCCountFormSet,
        fields=FIELDS,
        extra=0,
    )
    return formset_class(data, instance=draw)


@pytest.mark.parametrize(
    "platform", ["CellSearch", "cellsearch", "CELLSEARCH", "Cell Search", "cell-search"]
)
def test_a_second_count_of_a_platform_is_refused_by_the_inline(draw, platform):
    formset = _formset(draw, {"platform": platform, "count": 5})

    assert not formset.is_valid()
    assert formset.errors[1] == {"platform": [CTC_PLATFORM_TAKEN]}
    # The draw's admin page uses them:
    assert (CTCCountInline.form, CTCCountInline.formset) == (
        CTCCountForm,
        CTCCountFormSet,
    )


def test_the_admin_stores_a_known_platform_in_its_spelling_and_names_a_close_one(
    draw,
):
    """Typing "Cell Search" in the admin stored a platform of its own."""
    other = Records(draw.patient.project).draw(draw.patient, dt.date(2024, 3, 2))
    values = {"sample": other.pk, "count": 4, "blood_volume_ml": "7.5"}
    values["enrichment"] = "epcam-immunomagnetic"

    spaced = CTCCountAdmin.form(values | {"platform": "Cell Search"})
    close = CTCCountAdmin.form(values | {"platform": "CelSearch"})

    assert spaced.is_valid(), spaced.errors
    assert spaced.save().platform == "CellSearch"
    assert "did you mean CellSearch?" in close.errors["platform"][0]
    assert CTCCountAdmin.form is CTCCountForm


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


def _rows(draw: BloodSample, platforms: dict[int, str]) -> list[dict]:
    """The draw's stored counts as posted, with the platforms of `platforms` by pk."""
    return [
        {"id": count.pk, **{f: getattr(count, f) for f in FIELDS}}
        | {"platform": platforms.get(count.pk, count.platform)}
        for count in draw.ctc_counts.order_by("pk")
    ]


def test_swapping_two_counts_platforms_is_refused_before_the_database(draw):
    """The formset saves one count after the other; the first would meet the second."""
    cellsearch = draw.ctc_counts.get()
    parsortix = CTCCount.objects.create(sample=draw, platform="Parsortix", count=2)
    formset = _formset_of(
        draw, _rows(draw, {cellsearch.pk: "Parsortix", parsortix.pk: "CellSearch"})
    )

    assert not formset.is_valid()
    assert formset.errors[0] == {"platform": [CTC_PLATFORM_HELD]}


def test_a_platform_freed_earlier_in_the_same_save_may_be_taken(draw):
    cellsearch = draw.ctc_counts.get()
    formset = _formset_of(
        draw,
        _rows(draw, {cellsearch.pk: "Parsortix"})
        + [{"platform": "CellSearch", "count": 4}],
    )

    assert formset.is_valid(), formset.errors
    formset.save()
    assert sorted(draw.ctc_counts.values_list("platform", flat=True)) == [
        "CellSearch",
        "Parsortix",
    ]


def test_the_models_own_check_words_the_rule(draw):
    duplicate = CTCCount(sample=draw, platform="cellSEARCH", count=1)

    with pytest.raises(ValidationError) as refused:
        duplicate.validate_constraints()

    assert refused.value.messages == [CTC_PLATFORM_TAKEN]
