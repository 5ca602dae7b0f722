"""Who may write through the API: reading needs a sign-in, writing a project role."""

from __future__ import annotations

from django.db.models import Model
from rest_framework.permissions import SAFE_METHODS, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from biobank.api.access import may, visible_to


class ProjectRoleWrites(IsAuthenticated):
    """Let signed-in users read what visible_to shows them; let curators write.

    A write needs the view's `write_action` (curate, or manage for consent) in the
    project of the record written: in some project to be tried at all, in the record's
    own project to change or delete it, and in the project of every record it links to
    (the serializer's related fields offer only those). Anything else is a 403 (401
    for an anonymous request). Records a user may not read are 404s, as if absent.
    """

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        if request.method in SAFE_METHODS:
            return True
        return may(request.user, view.write_action, None)

    def has_object_permission(
        self, request: Request, view: APIView, obj: Model
    ) -> bool:
        if request.method in SAFE_METHODS:
            return True
        same = type(obj)._default_manager.filter(pk=obj.pk)
        return visible_to(
            request.user, same, view.project_path, view.write_action
        ).exists()
