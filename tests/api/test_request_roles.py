"""Project roles read once per request, and read again after a membership changes."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from biobank.api.access import (
    CURATE,
    VIEW,
    RolesOncePerRequestMiddleware,
    may,
    project_ids_for,
    role_in,
)
from patients.models import Project, ProjectMembership
from tests.api.test_queries import count_queries
from tests.conftest import grant


def in_request(check) -> None:
    """Run `check` as a view behind RolesOncePerRequestMiddleware."""

    def view(request) -> HttpResponse:
        check()
        return HttpResponse()

    RolesOncePerRequestMiddleware(view)(RequestFactory().get("/"))


def reads_of_roles(queries: list[str]) -> list[str]:
    return [sql for sql in queries if "patients_projectmembership" in sql]


@pytest.mark.usefixtures("renewed_consent")
@pytest.mark.parametrize(
    ("url", "reads"),
    [
        # The form's project choice, then the roles (the rows the reader may read,
        # the modality and gene checked, the date mode, the export's projects):
        ("/api/cohort-pairs/?project=demo&gene=EGFR&modality=CT&window_days=30", 2),
        # The roles (the rows, the gene checked, the date mode):
        ("/api/variants/?project=demo&gene=EGFR&call=detected", 1),
        ("/api/patients/?project=demo", 1),
    ],
)
def test_a_request_reads_the_roles_once(url, reads, api, biobank):
    queries = count_queries(api, url)

    assert len(reads_of_roles(queries)) == reads, "\n".join(reads_of_roles(queries))


def test_a_membership_written_in_the_request_is_read_again(analyst, project):
    other = Project.objects.create(code="other", name="Other collection")
    seen = []

    def check() -> None:
        seen.append(may(analyst, VIEW, other))
        grant(analyst, other, "curator")
        seen.append((may(analyst, CURATE, other), role_in(analyst, other)))
        ProjectMembership.objects.filter(user=analyst, project=other).delete()
        seen.append(project_ids_for(analyst))

    in_request(check)

    assert seen == [False, (True, "curator"), [project.pk]]


def test_a_role_rolled_back_is_not_kept(analyst, project):
    other = Project.objects.create(code="other", name="Other collection")
    seen = []

    def check() -> None:
        seen.append(project_ids_for(analyst))
        with pytest.raises(RuntimeError), transaction.atomic():
            grant(analyst, other)
            seen.append(project_ids_for(analyst))
            raise RuntimeError("rolled back")
        seen.append(project_ids_for(analyst))

    in_request(check)

    assert seen == [[project.pk], [project.pk, other.pk], [project.pk]]


def test_outside_a_request_every_check_reads_the_roles(
    analyst, project, django_assert_num_queries
):
    with django_assert_num_queries(2):
        assert may(analyst, VIEW, project)
        assert not may(analyst, CURATE, project)


@pytest.mark.parametrize("code", ["demo", "DEMO"])
def test_a_project_code_is_checked_against_the_roles_read(code, api, biobank):
    everything = count_queries(api, "/api/patients/")
    named = count_queries(api, f"/api/patients/?project={code}")

    # Only the filter's look-up of the project's id; its check that the reader may
    # read a project of that code asks no query of its own:
    assert len(named) == len(everything) + 1, "\n".join(named)
