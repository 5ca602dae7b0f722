"""The browsable API (the HTML a browser gets from /api/) tells a viewer no more than JSON.

Its filter form is built from the lists' filters: a filter by a related record (a
CTC count's draw, a series' study) must be a number box, not a choice among every
stored row named as the record names itself (a draw by its calendar moment, a study
by its date, both with the patient's pseudonym, of every project).
"""

from __future__ import annotations

import pytest
from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse

from biobank.api import filters as api_filters
from biobank.api.urls import router
from patients.models import Patient, Project
from tests.api.conftest import A_VALUES, B_VALUES, add_side

# Every calendar day the biobank fixture stores, as ISO text:
STORED_DAYS = {
    value.isoformat()[:10]
    for side in (A_VALUES, B_VALUES)
    for record in side.values()
    if isinstance(record, dict)
    for value in record.values()
    if hasattr(value, "isoformat")
}
ABSENT_ID = 987654321


@pytest.fixture
def viewer_browser(client, analyst):
    client.force_login(analyst)
    return client


@pytest.fixture
def foreign_side(biobank):
    """A patient of another project, with one record of every kind."""
    other = Project.objects.create(code="other", name="Other trial")
    return add_side(other, "OTHER-9X", biobank.mean, biobank.signature, **A_VALUES)


def list_urls() -> list[str]:
    return [
        reverse(f"{basename}-list")
        for _prefix, _viewset, basename in router.registry
        if basename != "api-cohort-pair"
    ]


def related_filters() -> list[tuple[str, str, str]]:
    """(list URL, parameter, model label) of each filter naming a related record."""
    found = []
    for _prefix, viewset, basename in router.registry:
        filterset = getattr(viewset, "filterset_class", None)
        if filterset is None:
            continue
        for name, one in filterset.base_filters.items():
            options = filterset._meta.model._meta
            try:
                for part in one.field_name.split("__"):
                    target = options.get_field(part)
                    if target.is_relation:
                        options = target.related_model._meta
            except FieldDoesNotExist:
                continue  # a filter of its own method (gene, feature)
            if target.is_relation and one.lookup_expr == "exact":
                found.append((reverse(f"{basename}-list"), name, options.label_lower))
    return found


def test_the_stored_days_are_known():
    assert {"2020-01-20", "2020-01-22", "2021-06-10", "2021-06-12"} <= STORED_DAYS


def test_no_filter_chooses_among_stored_records():
    choosers = [
        (filterset.__name__, name)
        for filterset in vars(api_filters).values()
        if isinstance(filterset, type)
        and issubclass(filterset, api_filters.BoundedFilterSet)
        and filterset._meta.model is not None
        for name, one in filterset.base_filters.items()
        if "queryset" in one.extra
    ]

    assert choosers == []


@pytest.mark.parametrize("url", list_urls())
def test_the_html_of_every_list_shows_a_viewer_no_calendar_day(
    url, viewer_browser, biobank, foreign_side
):
    response = viewer_browser.get(url, HTTP_ACCEPT="text/html")
    body = response.content.decode()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert sorted(day for day in STORED_DAYS if day in body) == []
    assert "OTHER-9X" not in body


def test_a_related_filter_answers_another_projects_id_as_an_absent_one(
    api, biobank, foreign_side
):
    by_label = {
        "liquidbiopsy.bloodsample": foreign_side.sample,
        "liquidbiopsy.cfdnaassay": foreign_side.assay,
        "radiomics.imagingstudy": foreign_side.study,
        "radiomics.imageseries": foreign_side.series,
        "radiomics.segmentation": foreign_side.segmentation,
        "radiomics.featureextraction": foreign_side.extraction,
        "patients.patient": foreign_side.patient,
    }
    told = []
    checked = 0
    for url, parameter, label in related_filters():
        record = by_label.get(label)
        if record is None:
            continue
        foreign = api.get(url, {parameter: record.pk})
        absent = api.get(url, {parameter: ABSENT_ID})
        checked += 1
        if (foreign.status_code, foreign.json()) != (absent.status_code, absent.json()):
            told.append((url, parameter, foreign.status_code, absent.status_code))

    assert checked >= 8
    assert told == []
    assert Patient.objects.filter(pseudonym="OTHER-9X").exists()
