"""The cohort page lists the saved cohorts the API lists, re-run offered where allowed."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from biobank.cohorts.models import SavedCohort
from biobank.cohorts.saved import save_cohort, validate_definition
from liquidbiopsy.models import BloodSample
from patients.models import Project, ProjectMembership
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


def test_open_shows_the_frozen_version_and_today_s_data_is_offered_apart(
    logged_in, reader, project, records
):
    """docs/saved_cohorts.md: a version freezes its pairs; new draws do not change it."""
    grant(reader, project, "curator")  # calendar dates
    patient = records.patient("PT-1")
    records.study(patient, dt.date(2024, 3, 1))
    records.draw(patient, dt.date(2024, 3, 3))
    cohort = _save(reader, "frozen", "demo")
    # A draw added after saving: today's query finds it, version 1 does not hold it.
    late = records.draw(patient, dt.date(2024, 3, 5))

    row = _saved_rows(logged_in)["frozen"]
    opened = re.search(r'<a href="([^"]+)"[^>]*>Open version 1</a>', row)
    today = re.search(r'<a href="([^"]+)"[^>]*>Query today\'s data</a>', row)
    assert opened and today, row
    assert "Analyse today's data</a>" in row
    version = logged_in.get(opened.group(1))
    live = logged_in.get(today.group(1).replace("&amp;", "&"))

    assert opened.group(1) == f"/cohorts/saved/{cohort.pk}/versions/1/"
    assert version.status_code == 200
    frozen = version.content.decode()
    assert "frozen: version 1 as saved</h1>" in frozen
    assert "1 pair</h2>" in frozen
    assert "2024-03-03 09:00" in frozen
    assert "2024-03-05" not in frozen
    assert [row.sample_id for row in live.context["rows"]][-1] == late.pk
    assert len(live.context["rows"]) == 2


def test_a_version_names_each_draw_as_the_cohort_page_does_deleted_or_not(
    logged_in, reader, project, records
):
    grant(reader, project, "curator")  # calendar dates
    patient = records.patient("PT-1")
    records.study(patient, dt.date(2024, 3, 1))
    kept = records.draw(patient, dt.date(2024, 3, 3), external_sample_id="PL-7")
    deleted = records.draw(patient, dt.date(2024, 3, 4), external_sample_id="PL-8")
    cohort = _save(reader, "frozen", "demo")
    deleted.delete()

    page = logged_in.get(f"/cohorts/saved/{cohort.pk}/versions/1/").content.decode()

    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    samples = [
        re.sub(r"<[^>]+>", "", cells[5])
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
        )
    ]
    assert samples == [
        "PL-7, drawn 2024-03-03",
        "Drawn 2024-03-04 (draw deleted since)",
    ]
    assert f'href="/patients/{patient.pk}/#sample-{kept.pk}"' in body


def _sample_cells(page: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S).group(1)
    return [
        re.sub(r"<[^>]+>", "", re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[5])
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_a_version_shows_records_of_a_project_left_since_only_as_frozen(
    logged_in, reader, project, records
):
    """saved.visible_cohorts: the author still opens a version frozen in a project
    they left; its draws and studies are no longer theirs to read."""
    patient = records.patient("PT-1")
    study = records.study(patient, dt.date(2024, 3, 1))
    draw = records.draw(patient, dt.date(2024, 3, 3), external_sample_id="PL-7")
    BloodSample.objects.filter(pk=draw.pk).update(timepoint="C2D1")
    cohort = _save(reader, "unscoped")  # every project of its author: theirs alone
    url = f"/cohorts/saved/{cohort.pk}/versions/1/"
    before = logged_in.get(url).content.decode()
    ProjectMembership.objects.filter(user=reader, project=project).delete()

    response = logged_in.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    [shown] = _sample_cells(page)
    assert re.fullmatch(r"Drawn \S+ \(in a project you no longer read\)", shown)
    assert "PL-7" in before and "C2D1" in before
    assert "PL-7" not in page and "C2D1" not in page
    # No link to the timeline or the study, which answer 404 now:
    assert f"/patients/{patient.pk}/" in before and f"/studies/{study.pk}/" in before
    assert f"/patients/{patient.pk}/" not in page
    assert f"/studies/{study.pk}/" not in page
    assert logged_in.get(f"/patients/{patient.pk}/").status_code == 404


def test_a_version_page_is_only_for_those_who_see_the_cohort(
    logged_in, cohorts, reader
):
    foreign = SavedCohort.objects.get(name="foreign")
    mine = SavedCohort.objects.get(name="mine")

    assert logged_in.get(f"/cohorts/saved/{foreign.pk}/versions/1/").status_code == 404
    assert logged_in.get(f"/cohorts/saved/{mine.pk}/versions/2/").status_code == 404
    assert logged_in.get(f"/cohorts/saved/{mine.pk}/versions/1/").status_code == 200
    unknown = logged_in.get(f"/cohorts/saved/{mine.pk}/versions/1/?windows=3")
    assert unknown.status_code == 400
    assert "windows: " in unknown.content.decode()
