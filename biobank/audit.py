"""Every change one user made, across all record types: the audit trail per user.

Each record's own history page shows its versions; this page shows, for one account,
every create, change and delete it made through the admin, the API or an import, newest
first, with each changed field's value before and after. Site administrators see every
project; project managers see the changes made in the projects they manage.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from heapq import merge
from itertools import groupby

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime

from biobank.api.access import MANAGE, PROJECT_PATHS, is_site_admin, may, visible_to

PAGE_SIZE = 100
ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@dataclass
class Change:
    when: dt.datetime
    action: str
    model: str
    record_id: int
    record: str
    history_url: str | None
    fields: list[tuple[str, object, object]] = field(default_factory=list)


def history_models() -> list[tuple[type[Model], str | None]]:
    """The historical model of every record type that keeps one, with its project path."""
    found = []
    for label, path in PROJECT_PATHS.items():
        model = apps.get_model(label)
        history = getattr(model, "history", None)
        if history is not None and hasattr(history, "model"):
            found.append((history.model, path))
    return found


def changes_by(
    viewer, author, before: dt.datetime | None, limit: int = PAGE_SIZE
) -> list[Change]:
    """The newest `limit` changes `author` made that `viewer` may audit, before `before`.

    A fixed number of queries: two per record type, whatever the number of changes.
    """
    per_model = []
    for historical, path in history_models():
        rows = historical.objects.filter(history_user=author)
        if before is not None:
            rows = rows.filter(history_date__lt=before)
        if path is None:
            if not is_site_admin(viewer):
                continue
        else:
            rows = visible_to(viewer, rows, path, MANAGE)
        newest = list(rows.order_by("-history_date", "-history_id")[:limit])
        if newest:
            per_model.append(_with_changes(historical, newest))
    merged = merge(*per_model, key=lambda change: change.when, reverse=True)
    return [change for _, change in zip(range(limit), merged, strict=False)]


def _with_changes(historical: type[Model], rows: list) -> list[Change]:
    """Describe `rows`, each with the fields it changed against the version before it."""
    ids = {row.id for row in rows}
    earlier: QuerySet = historical.objects.filter(
        id__in=ids, history_date__lte=rows[0].history_date
    ).order_by("id", "history_date", "history_id")
    previous = {}
    for _, versions in groupby(earlier, key=lambda version: version.id):
        last = None
        for version in versions:
            previous[version.history_id] = last
            last = version
    model = historical.instance_type
    described = []
    for row in rows:
        before = previous.get(row.history_id)
        fields = []
        if row.history_type == "~" and before is not None:
            delta = row.diff_against(before)
            fields = [(c.field, c.old, c.new) for c in delta.changes]
        elif row.history_type == "-":
            fields = _deleted_values(model, row)
        described.append(
            Change(
                when=row.history_date,
                action=ACTIONS.get(row.history_type, row.history_type),
                model=model._meta.verbose_name,
                record_id=row.id,
                record=_named(row),
                history_url=_history_url(model, row.id),
                fields=fields,
            )
        )
    return described


def _named(row) -> str:
    """The record a version is of, as it names itself; its id if that needs a record
    deleted since (a draw names its patient, deleted with it)."""
    try:
        return str(row.instance)
    except ObjectDoesNotExist:
        return f"#{row.id}"


def _deleted_values(model: type[Model], row) -> list[tuple[str, object, object]]:
    """Each stored value a deleted record held, as a change to nothing, so that the
    audit tells what was lost (a curator deleting a patient), not only its id.

    Keyed hashes (a patient's source key, DICOM UIDs' hashes) are left out: they
    are no use to read and can be tested against source IDs by whoever knows the key.
    """
    return [
        (field.name, value, None)
        for field in model._meta.concrete_fields
        if not field.primary_key
        and field.name != "source_key"
        and not field.name.endswith("_hash")
        and (value := getattr(row, field.attname, None)) not in (None, "")
    ]


def _history_url(model: type[Model], pk: int) -> str | None:
    try:
        return reverse(
            f"admin:{model._meta.app_label}_{model._meta.model_name}_history", args=[pk]
        )
    except NoReverseMatch:
        return None


def changes_view(request: HttpRequest, admin_site) -> TemplateResponse:
    """/admin/audit/changes/?user=<username>[&before=<ISO time>]."""
    if not (is_site_admin(request.user) or may(request.user, MANAGE, None)):
        raise PermissionDenied(
            "Site administrators and project managers audit changes."
        )
    username = request.GET.get("user", "").strip()
    author = get_user_model().objects.filter(username=username).first()
    before = parse_datetime(request.GET.get("before", "") or "") or None
    changes = changes_by(request.user, author, before) if author else []
    context = {
        **admin_site.each_context(request),
        "title": f"Changes by {username}" if username else "Changes by user",
        "username": username,
        "author": author,
        "changes": changes,
        "next_before": changes[-1].when.isoformat()
        if len(changes) == PAGE_SIZE
        else "",
    }
    return TemplateResponse(request, "admin/audit/changes.html", context)
