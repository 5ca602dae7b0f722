"""Saved cohorts in the admin: curators look at definitions and frozen versions, read-only."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from biobank.cohorts.models import CohortMember, CohortVersion, SavedCohort
from biobank.core.importing import counted
from biobank.core.scoped_admin import ProjectScopedAdmin
from patients.admin import ReadOnlyAdminMixin


class CohortVersionInline(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.TabularInline):
    model = CohortVersion
    extra = 0
    fields = ("number", "created_at", "created_by", "pair_count", "changes")
    readonly_fields = fields
    show_change_link = True


# Versions are evidence for papers: the API makes them, nobody edits them here.
@admin.register(SavedCohort)
class SavedCohortAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = ("name", "author", "project", "created_at", "checked_at")
    list_select_related = ("author", "project")
    list_filter = ("project",)
    search_fields = ("name", "description", "author__username")
    fields = (
        "name",
        "description",
        "author",
        "project",
        "definition",
        "created_at",
        "checked_at",
    )
    readonly_fields = fields
    inlines = [CohortVersionInline]


@admin.register(CohortVersion)
class CohortVersionAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = ("__str__", "created_at", "created_by", "pair_count")
    list_select_related = ("cohort", "created_by")
    search_fields = ("cohort__name", "matrix_sha256")
    fields = (
        "cohort",
        "number",
        "created_at",
        "created_by",
        "definition",
        "pair_count",
        "patient_count",
        "study_count",
        "sample_count",
        "member_list",
        "matrix_path",
        "matrix_sha256",
        "matrix_bytes",
        "matrix_columns",
        "software",
        "changes",
    )
    readonly_fields = fields

    @admin.display(description="Members")
    def member_list(self, version: CohortVersion) -> str:
        # A link, not an inline: a version may hold many thousands of pairs.
        url = reverse("admin:cohorts_cohortmember_changelist")
        return format_html(
            '<a href="{}?version__id__exact={}">{}</a>',
            url,
            version.pk,
            counted(version.pair_count, "pairs"),
        )


@admin.register(CohortMember)
class CohortMemberAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = (
        "version",
        "position",
        "patient_pseudonym",
        "study_instance_uid",
        "study_date",
        "sample_pk",
        "drawn_at",
        "days_apart",
    )
    list_select_related = ("version__cohort",)
    list_filter = ("version",)
    search_fields = ("patient_pseudonym", "study_instance_uid")
    fields = (
        "version",
        "position",
        "project_code",
        "patient_pseudonym",
        "study_pk",
        "study_instance_uid",
        "study_date",
        "modalities",
        "sample_pk",
        "drawn_at",
        "drawn_on",
        "days_apart",
        "evidence",
        "patient",
        "study",
        "sample",
    )
    readonly_fields = fields
