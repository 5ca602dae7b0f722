"""An import run's admin page reads its issues in a number of queries that does not
grow with them (117 issues took 9 to 13 s, a handful 0.4 s)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from patients.models import DataIssue, ImportRun
from tests.biobank.conftest import Records
from tests.conftest import grant
from tests.test_admin import admin_url


@pytest.fixture
def project_curator(client, django_user_model, project):
    user = django_user_model.objects.create_user("project-curator", is_staff=True)
    grant(user, project, "curator")
    client.force_login(user)
    return client


def add_issues(run: ImportRun, patients: list, count: int) -> None:
    DataIssue.objects.bulk_create(
        DataIssue(
            import_run=run,
            project=run.project,
            patient=patients[number % len(patients)],
            severity=DataIssue.Severity.WARNING,
            code="no-usable-date",
            row=number + 2,
            field="study_date",
            message="No usable date; stored undated.",
            record_type="patients.patient",
            record_id=patients[number % len(patients)].pk,
        )
        for number in range(count)
    )


def test_the_run_page_reads_its_issues_in_queries_that_do_not_grow(
    project, project_curator
):
    records = Records(project)
    patients = [records.patient(f"DEMO-{number:05d}") for number in range(1, 6)]
    small = ImportRun.objects.create(project=project, importer="clinical-patients")
    add_issues(small, patients, 3)
    large = ImportRun.objects.create(project=project, importer="clinical-patients")
    add_issues(large, patients, 117)

    project_curator.get(admin_url(ImportRun, "change", small.pk))  # caches filled
    with CaptureQueriesContext(connection) as on_small:
        small_page = project_curator.get(admin_url(ImportRun, "change", small.pk))
    with CaptureQueriesContext(connection) as on_large:
        large_page = project_curator.get(admin_url(ImportRun, "change", large.pk))

    assert (small_page.status_code, large_page.status_code) == (200, 200)
    assert len(on_large) == len(on_small), [
        query["sql"] for query in on_large.captured_queries
    ]
