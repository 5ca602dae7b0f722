"""The pages of a saved version keep the dates of the projects its pairs were frozen in."""

from __future__ import annotations

import datetime as dt

import pytest

from biobank.cohorts.saved import save_cohort, validate_definition
from patients.models import Patient, ProjectMembership
from tests.conftest import grant

CONTRAST = "original_glcm_Contrast"
DAYS = [dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)]
BIRTH_YEAR = 1948


def freeze(author, records, query: dict):
    """Save a cohort of three pairs of patients born in BIRTH_YEAR, with a feature."""
    for n, day in enumerate(DAYS):
        patient = records.patient(f"PT-{n}")
        Patient.objects.filter(pk=patient.pk).update(birth_year=BIRTH_YEAR)
        records.feature(records.study(patient, day), CONTRAST, 1.0 + n, "ACUI")
        records.ctc(records.draw(patient, day), 2 * n)
    definition = validate_definition(
        {"query": {"window_days": 7, **query}, "matrix": {"features": [CONTRAST]}}
    )
    return save_cohort(name="paper", definition=definition, author=author)


@pytest.fixture
def frozen(reader, records):
    """A version saved by the reader with no project: theirs alone."""
    return freeze(reader, records, {})


@pytest.fixture
def frozen_in_demo(reader, records):
    """A version of a cohort of project demo, open to its viewers."""
    return freeze(reader, records, {"project": "demo"})


def pages(cohort) -> list[str]:
    version = f"/cohorts/saved/{cohort.pk}/versions/1/"
    return [version, f"{version}analysis/?features={CONTRAST}"]


def calendar_text(day: dt.date) -> list[str]:
    return [day.isoformat(), f"{day:%d %b %Y}", f"{day:%b} {day.day}, {day.year}"]


def shown_days(page: str) -> list[dt.date]:
    return [day for day in DAYS if any(text in page for text in calendar_text(day))]


@pytest.mark.parametrize("which", [0, 1])
def test_an_author_who_lost_the_role_sees_a_version_in_shifted_dates(
    which, logged_in, reader, project, frozen
):
    url = pages(frozen)[which]
    ProjectMembership.objects.filter(user=reader, project=project).delete()

    response = logged_in.get(url)
    refused = logged_in.get(f"{url}{'&' if '?' in url else '?'}dates=calendar")

    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["dates"].mode == "shifted"
    assert not shown_days(page)
    assert str(BIRTH_YEAR) not in page
    assert refused.status_code == 403


@pytest.mark.parametrize("which", [0, 1])
def test_a_renamed_project_keeps_a_viewers_version_in_shifted_dates(
    which, logged_in, project, frozen_in_demo
):
    project.code = "demo-2"
    project.save()

    response = logged_in.get(pages(frozen_in_demo)[which])

    assert response.status_code == 200
    assert response.context["dates"].mode == "shifted"
    assert not shown_days(response.content.decode())


def test_a_curator_sees_a_version_of_a_renamed_project_in_calendar_dates(
    logged_in, reader, project, frozen_in_demo
):
    grant(reader, project, "curator")
    project.code = "demo-2"
    project.save()

    response = logged_in.get(pages(frozen_in_demo)[0])

    assert response.context["dates"].mode == "calendar"
    assert shown_days(response.content.decode()) == DAYS
