"""The status of import runs recorded before rows rejected one by one had their own."""

from __future__ import annotations

import importlib

from django.apps import apps

from patients.models import ImportRun

migration = importlib.import_module("patients.migrations.0005_import_run_partly_stored")


def test_runs_recorded_done_with_rejected_rows_get_the_status_they_earned(project):
    def run(**summary):
        return ImportRun.objects.create(
            project=project, importer="cfdna", status="done", summary=summary
        )

    clean = run(created={"variant results": 2}, rejected=[])
    partial = run(created={"variant results": 1}, rejected=["t.csv, row 3: bad"])
    present = run(created={}, duplicates=2, rejected=["t.csv, row 3: bad"])
    nothing = run(created={"patients": 0}, rejected=["t.csv, row 2: bad"])

    migration.restate_runs_that_rejected(apps, None)

    statuses = [
        ImportRun.objects.get(pk=r.pk).status
        for r in (clean, partial, present, nothing)
    ]
    assert statuses == ["done", "partial", "partial", "failed"]
