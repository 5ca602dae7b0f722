"""Every page with a project choice refuses a code the same way, whether the project exists."""

from __future__ import annotations

import json

import pytest

from patients.models import Project

PAGES = [
    "/",
    "/patients/",
    "/follow-up/",
    "/cohorts/",
    "/cohorts/analysis/",
    "/cohorts/count.json",
    "/cohorts/query.json",
]


@pytest.fixture
def hidden(db) -> Project:
    """A project the signed-in researcher holds no role in."""
    return Project.objects.create(code="secret", name="Someone else's trial")


@pytest.mark.parametrize("page", PAGES)
def test_a_code_nobody_has_is_named_plainly(logged_in, page):
    response = logged_in.get(f"{page}?project=zz")
    content = response.content.decode()

    assert response.status_code == 400
    assert "No project you may read has the code zz. Known: demo." in content
    assert "Select a valid choice" not in content


@pytest.mark.parametrize("page", PAGES)
def test_a_misspelt_code_is_named_with_the_closest_one(logged_in, page):
    response = logged_in.get(f"{page}?project=dmeo")

    assert response.status_code == 400
    assert (
        "No project you may read has the code dmeo. Did you mean demo?"
        in response.content.decode()
    )


@pytest.mark.parametrize("page", PAGES)
def test_a_project_the_user_may_not_read_looks_like_none(logged_in, hidden, page):
    response = logged_in.get(f"{page}?project={hidden.code}")
    missing = logged_in.get(f"{page}?project=zz")

    assert response.status_code == missing.status_code == 400
    # Named as given, and never offered as a choice:
    assert (
        f"No project you may read has the code {hidden.code}. Known: demo."
        in response.content.decode()
    )
    assert hidden.name not in response.content.decode()
    if page.endswith(".json"):
        assert response.json() == json.loads(
            missing.content.decode().replace("zz", hidden.code)
        )
