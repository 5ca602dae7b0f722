"""The dates of a saved cohort's frozen versions once its reader or its project changed.

The projects the pairs were frozen in decide, whether the reader still reads them or
not and whatever their code is now; none known allows no calendar dates. The
contrasting pair of tests/api/conftest.py (A and B, both in project "demo").
"""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from biobank.cohorts.models import CohortMember
from patients.models import Project, ProjectMembership
from tests.api.conftest import A_VALUES, add_side
from tests.api.test_export_dates import body, iso_dates, real_dates
from tests.conftest import grant

pytestmark = pytest.mark.usefixtures("renewed_consent")

URL = "/api/saved-cohorts/"
VERSION_PATHS = [
    "members/",
    "matrix/?format=parquet",
    "matrix/?format=csv",
    "matrix/?format=jsonl",
]


def save(api, query: dict) -> int:
    response = api.post(URL, {"name": "paper", "query": query}, format="json")
    assert response.status_code == 201, response.content[:500]
    return response.json()["id"]


def leave(user, project: Project) -> None:
    """The project's manager takes `user`'s role away."""
    ProjectMembership.objects.filter(user=user, project=project).delete()


def as_text(path: str, content: bytes) -> bytes:
    """The bytes of an answer, a Parquet file read back as CSV."""
    if "parquet" in path:
        return pd.read_parquet(io.BytesIO(content)).to_csv(index=False).encode()
    return content


def birth_years(path: str, content: bytes) -> set:
    if "parquet" not in path:
        return set()
    frame = pd.read_parquet(io.BytesIO(content))
    return set(frame["birth_year"].dropna())


def with_dates(path: str, mode: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}dates={mode}"


@pytest.mark.parametrize("path", VERSION_PATHS)
def test_an_author_who_lost_the_role_reads_the_version_in_shifted_dates(
    path, api, analyst, project, biobank
):
    cohort = save(api, {"window_days": 60})  # no project: the author's alone
    leave(analyst, project)

    response = api.get(f"{URL}{cohort}/versions/1/{path}")
    refused = api.get(f"{URL}{cohort}/versions/1/{with_dates(path, 'calendar')}")

    content = body(response)
    assert iso_dates(as_text(path, content))
    assert not iso_dates(as_text(path, content)) & real_dates()
    assert not birth_years(path, content)
    assert refused.status_code == 403 and "dates" in refused.json()


def test_an_author_who_lost_the_role_gets_the_diff_and_rerun_without_calendar_dates(
    api, analyst, project, biobank
):
    cohort = save(api, {"window_days": 60})
    leave(analyst, project)

    # Nothing is readable any more: version 2 removes every pair, with its dates.
    rerun = api.post(f"{URL}{cohort}/rerun/")
    diff = body(api.get(f"{URL}{cohort}/diff/?from=1&to=2"))

    assert rerun.status_code == 201, rerun.content[:500]
    assert len(rerun.json()["diff"]["pairs_removed"]) == 2
    assert len(json.loads(diff)["pairs_removed"]) == 2
    assert not iso_dates(rerun.content) & real_dates()
    assert not iso_dates(diff) & real_dates()


def test_a_curator_of_another_project_gets_no_calendar_dates_of_the_one_left(
    api, analyst, project, biobank
):
    """The rows of the project left still count, though the author reads it no more."""
    other = Project.objects.create(code="other", name="Other collection")
    add_side(other, "PT-C", biobank.mean, biobank.signature, **A_VALUES)
    grant(analyst, other, "curator")
    cohort = save(api, {"window_days": 60})
    leave(analyst, project)

    content = body(api.get(f"{URL}{cohort}/versions/1/matrix/?format=parquet"))

    frame = pd.read_parquet(io.BytesIO(content))
    assert sorted(frame["patient_pseudonym"]) == ["PT-A", "PT-B", "PT-C"]
    assert not iso_dates(as_text("parquet", content)) & real_dates()
    assert frame["birth_year"].isna().all()


@pytest.mark.parametrize("path", VERSION_PATHS)
def test_a_renamed_project_keeps_its_viewers_versions_in_shifted_dates(
    path, api, project, biobank
):
    cohort = save(api, {"window_days": 60, "project": "demo"})
    # A site administrator changes the project's code in the admin:
    project.code = "demo-2"
    project.save()

    content = body(api.get(f"{URL}{cohort}/versions/1/{path}"))
    diff = body(api.get(f"{URL}{cohort}/diff/"))

    assert not iso_dates(as_text(path, content)) & real_dates()
    assert not birth_years(path, content)
    assert not iso_dates(diff) & real_dates()


def test_a_curator_keeps_the_calendar_dates_of_a_renamed_projects_version(
    calendar_api, project, biobank
):
    cohort = save(calendar_api, {"window_days": 60, "project": "demo"})
    project.code = "demo-2"
    project.save()

    content = body(calendar_api.get(f"{URL}{cohort}/versions/1/matrix/"))

    frame = pd.read_parquet(io.BytesIO(content))
    assert set(frame["study_date"]) == {
        biobank.a.study.study_date,
        biobank.b.study.study_date,
    }
    assert set(frame["birth_year"]) == {1950, 1970}


def test_pairs_of_no_known_project_show_calendar_dates_to_site_administrators_only(
    calendar_api, analyst, biobank
):
    """A pair frozen before members kept their project's id, unmatched since."""
    cohort = save(calendar_api, {"window_days": 60})
    CohortMember.objects.update(project=None)
    members = f"{URL}{cohort}/versions/1/members/"

    as_curator = body(calendar_api.get(members))
    analyst.is_superuser = True
    analyst.save()
    as_admin = body(calendar_api.get(members))

    assert not iso_dates(as_curator) & real_dates()
    assert str(biobank.a.study.study_date).encode() in as_admin


def test_freezing_keeps_each_pairs_project_by_its_id(api, analyst, project, biobank):
    other = Project.objects.create(code="other", name="Other collection")
    add_side(other, "PT-C", biobank.mean, biobank.signature, **A_VALUES)
    grant(analyst, other)

    save(api, {"window_days": 60})

    stored = CohortMember.objects.values_list("patient_pseudonym", "project")
    assert sorted(stored) == [
        ("PT-A", project.pk),
        ("PT-B", project.pk),
        ("PT-C", other.pk),
    ]
