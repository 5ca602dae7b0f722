"""The cohort page lists the saved cohorts the API lists, re-run offered where allowed."""

from __future__ import annotations

import re

import pytest

from biobank.cohorts.saved import save_cohort, validate_definition
from patients.models import Project
from tests.conftest import grant


def _save(author, name: str, project: str = ""):
    query = {"window_days": 7} | ({"project": project} if project else {})
    definition = validate_definition({"query": query, "matrix": {}})
    return save_cohort(name=name, definition=definition, author=author)


def _saved_rows(client) -> dict[str, str]:
    """Each saved cohort's table row on the cohort page, by cohort name."""
    page = client.get("/cohorts/").content.decode()
    section = re.search(r'id="saved-heading".*?</section>', page, re.S).group(0)
    rows = re.findall(r'<th scope="row">([^<]+)(.*?)</tr>', section, re.S)
    return dict(rows)


@pytest.fixture
def cohorts(db, django_user_model, reader, project):
    """The reader's own cohort, a colleague's in the same project, and two hidden ones."""
    colleague = grant(django_user_model.objects.create_user("colleague"), project)
    elsewhere = Project.objects.create(code="other", name="Another trial")
    grant(colleague, elsewhere)
    _save(reader, "mine", "demo")
    _save(colleague, "shared", "demo")
    _save(colleague, "foreign", "other")
    _save(colleague, "unscoped")  # every project of its author: theirs alone
    return colleague


def test_the_page_lists_every_cohort_the_api_lists(logged_in, cohorts):
    rows = _saved_rows(logged_in)
    listed = logged_in.get("/api/saved-cohorts/").json()
    names = [cohort["name"] for cohort in listed.get("results", listed)]

    assert sorted(rows) == sorted(names) == ["mine", "shared"]


def test_each_row_names_its_author_and_project(logged_in, cohorts):
    rows = _saved_rows(logged_in)

    assert "colleague" in rows["shared"] and "demo" in rows["shared"]
    assert "you" in rows["mine"]


def test_only_the_author_or_a_curator_is_offered_a_rerun(
    logged_in, cohorts, reader, project
):
    rows = _saved_rows(logged_in)
    assert "Re-run" in rows["mine"]
    assert "Re-run" not in rows["shared"]

    grant(reader, project, "curator")

    assert "Re-run" in _saved_rows(logged_in)["shared"]
