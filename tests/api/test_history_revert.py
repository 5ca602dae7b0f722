"""A revert from a record's history page passes the rules its change page applies.

simple-history's revert form shows the old version as its initial values, so Django
took a revert for an unchanged form: the API's rules (a draw before the patient's
birth, a VAF on a call that was not detected...) were skipped and the old values
stored whatever they broke.
"""

from __future__ import annotations

import pytest
from django.db.models import Model

from liquidbiopsy.models import BloodSample
from tests import test_admin
from tests.api.test_admin_rules import CASES, Case
from tests.test_admin import admin_url, form_data

curator_client = test_admin.curator_client


def storable(case: Case) -> bool:
    """Whether a history table's columns hold the case's values (no negative number
    in a positive field, none beyond PostgreSQL's integer); the form's own fields
    refuse those that do not."""
    numbers = [value for value in case.api.values() if isinstance(value, int | float)]
    return all(0 <= number < 2**31 for number in numbers)


REVERT_CASES = {
    name: case for name, case in CASES.items() if not case.parent and storable(case)
}


def revert_url(record: Model, version: Model) -> str:
    return admin_url(type(record), "simple_history", record.pk, version.history_id)


def revert_data(response) -> dict[str, str]:
    """Return what the Revert button posts: the old version's values, unchanged."""
    return form_data(response.context["adminform"].form)


def old_version_with(record: Model, values: dict) -> Model:
    """Return a version in the record's history holding `values`, as if stored
    before today's rules; the record itself keeps its own values."""
    version = record.history.order_by("-history_date").first()
    model = type(record)
    old = {
        model._meta.get_field(name).attname: model._meta.get_field(name).to_python(
            value
        )
        for name, value in values.items()
    }
    type(version).objects.filter(history_id=version.history_id).update(**old)
    record.save()  # the current version, after the old one
    return version


@pytest.mark.parametrize("case", REVERT_CASES.values(), ids=REVERT_CASES.keys())
def test_a_revert_to_a_version_the_rules_refuse_is_refused(
    biobank, curator_client, case: Case
):
    record = getattr(biobank.a, case.side)
    version = old_version_with(record, case.api)
    before = type(record).objects.filter(pk=record.pk).values().get()
    url = revert_url(record, version)

    page = curator_client.post(url, revert_data(curator_client.get(url)))

    assert page.status_code == 200, f"the revert stored {case.api}"
    errors = page.context["adminform"].form.errors
    assert errors.get(case.field), errors
    assert type(record).objects.filter(pk=record.pk).values().get() == before


def test_the_draw_before_birth_is_named_on_the_revert_page(biobank, curator_client):
    sample = biobank.a.sample
    version = old_version_with(sample, {"drawn_at": "1900-01-01T09:00:00Z"})
    url = revert_url(sample, version)

    page = curator_client.post(url, revert_data(curator_client.get(url)))

    assert (
        "Drawn at lies before the patient&#x27;s birth year." in page.content.decode()
    )
    assert BloodSample.objects.get(pk=sample.pk).drawn_at.year != 1900


def test_a_revert_to_a_valid_version_is_stored(biobank, curator_client):
    sample = biobank.a.sample
    version = old_version_with(sample, {"timepoint": "C1D1"})
    sample.timepoint = "C3D1"
    sample.save()
    url = revert_url(sample, version)

    page = curator_client.post(url, revert_data(curator_client.get(url)))

    assert page.status_code == 302, page.context["adminform"].form.errors
    assert BloodSample.objects.get(pk=sample.pk).timepoint == "C1D1"
