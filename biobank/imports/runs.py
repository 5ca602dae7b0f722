"""Find the ImportRun an importer recorded for an upload (importers return no run)."""

from __future__ import annotations

from django.db.models import Max

from patients.models import ImportRun, Project


def last_run_id() -> int:
    return ImportRun.objects.aggregate(last=Max("pk"))["last"] or 0


def new_run_of(before: int, importer: str, project: Project, user) -> int | None:
    """Return the id of the first run of `importer` by `user` recorded after `before`.

    NB: two uploads of one kind that the same user sends to the same project at the
    same moment could each find the other's run; both runs stay listed in the admin.
    """
    return (
        ImportRun.objects.filter(
            pk__gt=before, importer=importer, project=project, user=user
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
