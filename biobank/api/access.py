"""The one place where every API queryset is narrowed to what the requesting user may read."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet


def visible_to(
    user: AbstractBaseUser | AnonymousUser,
    queryset: QuerySet,
    project_path: str | None,
) -> QuerySet:
    """Return the records of `queryset` that `user` may read.

    `project_path` leads from the queryset's model to its Project (for example
    "sample__patient__project"), "" when the records are projects; None marks records
    shared by every project, such as feature definitions and signatures. Views, nested views and filters all call
    this, so project roles need adding here only.
    """
    if not user.is_authenticated:
        return queryset.none()

    # TODO: every signed-in user reads every project's records; project roles
    # (viewer, curator, manager) do not exist yet, so `project_path` is unused until
    # they do and the API must not serve outsiders before then.
    return queryset
