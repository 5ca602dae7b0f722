"""The researcher pages offer a viewer no filter or order by the dates it is not shown.

As the API (tests/api/test_viewer_dates.py): with a filter or an order on stored
dates, a viewer shown shifted dates could bisect each patient's real ones. The pages
hold no date filter (the cohort window counts days between a study and a draw), and
the patient list refuses its date sorts; both are walked, so that a date field or
sort added later without the rule fails here.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest
from django import forms
from django.db import models
from django_filters.utils import get_model_field

import biobank.browse
import biobank.cohorts
from biobank.browse.forms import SORTS
from biobank.exports.dates import BIRTH_YEAR
from patients.models import Patient
from tests.api.test_viewer_dates import is_dated_field
from tests.conftest import grant

# The researcher pages' packages; their admin modules serve curators only:
PAGE_PACKAGES = (biobank.browse, biobank.cohorts)


def page_forms() -> list[type[forms.BaseForm]]:
    """Every form class the researcher pages' modules define."""
    found = []
    for package in PAGE_PACKAGES:
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            if module.name.endswith(".admin"):
                continue
            loaded = importlib.import_module(module.name)
            found += [
                value
                for value in vars(loaded).values()
                if isinstance(value, type)
                and issubclass(value, forms.BaseForm)
                and value.__module__ == module.name
            ]
    return found


DATED_SORTS = [
    key
    for key, (field, _) in SORTS.items()
    if isinstance(get_model_field(Patient, field), models.DateField)
    or field == BIRTH_YEAR
]


def test_no_page_form_takes_a_date_or_the_birth_year():
    walked = page_forms()
    dated = [
        f"{form.__module__}.{form.__name__}.{name}"
        for form in walked
        for name, field in form.base_fields.items()
        if is_dated_field(field) or name.startswith(BIRTH_YEAR)
    ]

    assert {"CohortForm", "PatientBrowserForm", "FollowUpForm"} <= {
        form.__name__ for form in walked
    }
    assert dated == []


def test_the_walk_finds_the_date_sort_of_the_patient_list():
    assert "diagnosis_on" in DATED_SORTS


@pytest.mark.parametrize("sort", DATED_SORTS)
@pytest.mark.parametrize("descending", ["", "on"])
def test_a_viewer_may_not_sort_the_patient_list_by_a_date(
    sort, descending, logged_in, reader, project
):
    query = {"sort": sort, "descending": descending, "project": "demo"}

    refused = logged_in.get("/patients/", query)
    grant(reader, project, "curator")
    allowed = logged_in.get("/patients/", query)

    assert refused.status_code == 400
    assert "needs calendar dates" in refused.content.decode()
    assert allowed.status_code == 200
