"""The export log in the admin: read-only, for site administrators and project managers."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest

from biobank.api.access import MANAGE, is_site_admin, may, projects_for
from biobank.exports.models import ExportRecord
from patients.admin import ReadOnlyAdminMixin


@admin.register(ExportRecord)
class ExportRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Every export, per user and per project; a manager sees those of their projects."""

    list_display = (
        "started_at",
        "username",
        "kind",
        "format",
        "date_mode",
        "row_count",
        "status",
        "project_codes",
    )
    # Only the projects of visible records, never a list of every project or account:
    list_filter = (
        "kind",
        "status",
        "date_mode",
        ("projects", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("username", "path", "request_id")
    date_hierarchy = "started_at"
    fields = (
        "user",
        "username",
        "started_at",
        "finished_at",
        "kind",
        "path",
        "request_id",
        "definition",
        "format",
        "date_mode",
        "row_count",
        "status",
        "projects",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportRecord]:
        records = super().get_queryset(request)
        if is_site_admin(request.user):
            return records.prefetch_related("projects")
        managed = projects_for(request.user, MANAGE)
        # A manager reads the codes of their own projects only, even for an export
        # that also spanned others:
        return (
            records.filter(projects__in=managed)
            .distinct()
            .prefetch_related(Prefetch("projects", queryset=managed))
        )

    # Project managers read the log of their projects without a model permission:
    def has_module_permission(self, request: HttpRequest) -> bool:
        return may(request.user, MANAGE, None)

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        if obj is None:
            return may(request.user, MANAGE, None)
        return self.get_queryset(request).filter(pk=obj.pk).exists()

    @admin.display(description="projects")
    def project_codes(self, record: ExportRecord) -> str:
        return ", ".join(project.code for project in record.projects.all())
