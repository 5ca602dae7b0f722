"""Curation admin of projects, patients, their clinical facts and the import record."""

from __future__ import annotations

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Count, QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from biobank.api.access import MANAGE, is_site_admin
from biobank.core.dates import local_day
from biobank.core.history_admin import HistoryAdmin
from biobank.core.importing import counted
from biobank.core.scoped_admin import ProjectScopedAdmin
from biobank.core.validation import InvalidValue
from patients.models import (
    ClinicalEvent,
    Consent,
    DataIssue,
    ImportRun,
    Patient,
    Project,
    ProjectMembership,
    Treatment,
)
from patients.validation import DATED_RECORDS, check_after_birth

# Apps whose records a DataIssue may point to, lowest layer first:
RECORD_APPS = ("patients", "radiomics", "liquidbiopsy")


class ReadOnlyAdminMixin:
    """Let curators look, never add, change or delete: importers own these records."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class PatientRecordsFormSet(BaseInlineFormSet):
    """The records of a patient page, checked against the patient's birth year when
    the patient is new.

    Each form goes through the API's rules (biobank.api.admin_forms), which need the
    stored patient: on the page adding a patient, with its records, they are
    passed over, so the birth-year rule of its dated records (DATED_RECORDS) is
    applied here, against the year given on the page.
    """

    def clean(self) -> None:
        super().clean()
        patient = self.instance
        if patient.pk is not None:
            return
        dated = next((d for d in DATED_RECORDS if d.model is self.model), None)
        if dated is None:
            return
        for form in self.live_forms():
            value = form.cleaned_data.get(dated.shown)
            try:
                check_after_birth(patient.birth_year, value and local_day(value))
            except InvalidValue as exc:
                label = form.fields[dated.shown].label
                form.add_error(dated.shown, f"{label} {exc}")

    def live_forms(self) -> list[forms.Form]:
        """The forms of records this save stores: valid, and not marked for deletion."""
        return [
            form
            for form in self.forms
            if getattr(form, "cleaned_data", None)
            and not (self.can_delete and self._should_delete_form(form))
        ]


class ConsentInline(ProjectScopedAdmin, admin.TabularInline):
    model = Consent
    formset = PatientRecordsFormSet
    extra = 0
    write_action = MANAGE
    fields = (
        "given_on",
        "withdrawn_on",
        "allows_imaging",
        "allows_genomics",
        "allows_sharing",
    )


class TreatmentFormSet(PatientRecordsFormSet):
    """A patient's treatments; two whose agents differ only in capitals are one.

    Each form is checked against the stored treatments (find_same_treatment, through
    the API's rules); this checks the forms of one page against each other.
    """

    def clean(self) -> None:
        super().clean()
        agents: dict[tuple, str] = {}
        for form in self.live_forms():
            data = form.cleaned_data
            agent = data.get("agent") or ""
            key = (data.get("kind"), agent.casefold(), data.get("started_on"))
            other = agents.setdefault(key, agent)
            if other != agent:
                form.add_error(
                    "agent",
                    f'Agent "{agent}" repeats "{other}" of this page for a treatment '
                    "of the same kind and start; agents differing only in capitals "
                    "are one drug.",
                )


class TreatmentInline(ProjectScopedAdmin, admin.TabularInline):
    model = Treatment
    formset = TreatmentFormSet
    extra = 0
    fields = ("kind", "agent", "line", "started_on", "ended_on")


class ClinicalEventInline(ProjectScopedAdmin, admin.TabularInline):
    model = ClinicalEvent
    formset = PatientRecordsFormSet
    extra = 0
    fields = ("kind", "recist", "occurred_on", "note")


# NB: radiomics and liquidbiopsy sit above patients and add their own inlines
# (imaging studies, blood samples) through add_patient_inline, so patients imports neither.
_added_patient_inlines: list[type[admin.options.InlineModelAdmin]] = []


def add_patient_inline(inline: type[admin.options.InlineModelAdmin]) -> None:
    """Show `inline` on the patient page, before treatments, events and consents."""
    if inline not in _added_patient_inlines:
        _added_patient_inlines.append(inline)


@admin.register(Project)
class ProjectAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = ("code", "name", "created_at")
    search_fields = ("code", "name")
    date_hierarchy = "created_at"
    readonly_fields = ("created_at",)
    write_action = MANAGE

    def get_readonly_fields(self, request: HttpRequest, obj: Project | None = None):
        """A stored project's code is read-only: the keys of its patients' source IDs
        and their date shifts are made with it, so a new code would make a later
        import of the same patients new patients, and move every viewer's shifted
        dates by another secret offset (comparing both would narrow each; review
        sav)."""
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else ("code", *fields)

    def save_model(
        self, request: HttpRequest, obj: Project, form, change: bool
    ) -> None:
        # A history revert saves an old version whole, its code included; the
        # stored code stays whatever the version held:
        if change and obj.pk is not None:
            obj.code = Project.objects.values_list("code", flat=True).get(pk=obj.pk)
        super().save_model(request, obj, form, change)

    # Only site administrators open and close projects:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_site_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_site_admin(request.user)


class MembershipForm(forms.ModelForm):
    # The user by exact username: a select would list every account of the site,
    # members of other projects included, to any project manager.
    user = forms.ModelChoiceField(
        queryset=get_user_model().objects.filter(is_active=True),
        to_field_name="username",
        widget=forms.TextInput,
        help_text="The exact username of an active account.",
        error_messages={"invalid_choice": "No active account has this username."},
    )

    class Meta:
        model = ProjectMembership
        fields = ("user", "project", "role")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["user"] = self.instance.user.username


@admin.register(ProjectMembership)
class ProjectMembershipAdmin(ProjectScopedAdmin, HistoryAdmin):
    """Project managers give and take their project's roles; site admins everyone's."""

    form = MembershipForm
    list_display = ("user", "project", "role", "created_at")
    list_filter = ("project", "role")
    list_select_related = ("user", "project")
    search_fields = ("user__username", "project__code")
    readonly_fields = ("created_at",)
    write_action = MANAGE


@admin.register(Patient)
class PatientAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "pseudonym",
        "project",
        "cancer_type",
        "stage",
        "sex",
        "birth_year",
        "diagnosis_on",
        "is_deceased",
    )
    list_filter = ("project", "cancer_type", "sex", "is_deceased")
    list_select_related = ("project",)
    search_fields = ("pseudonym", "histology", "stage")
    date_hierarchy = "diagnosis_on"
    # The source key is not shown: a keyed hash of the source ID, which anyone who
    # knows the key (the public development default on a first run) can test IDs
    # against, and of no use to a curator, who finds a patient by source ID through
    # the search (trial tcu):
    exclude = ("source_key",)
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None):
        """A stored patient's pseudonym and project are read-only.

        The pseudonym is assigned (docs/access.md), names the patient's DICOM folder
        and is written into its de-identified files; typed by hand it could even hold
        a real identifier that every export then shows. The API ignores both too.
        """
        fields = super().get_readonly_fields(request, obj)
        return fields if obj is None else ("pseudonym", "project", *fields)

    def get_inlines(self, request: HttpRequest, obj: Patient | None):
        return [
            *_added_patient_inlines,
            TreatmentInline,
            ClinicalEventInline,
            ConsentInline,
        ]


@admin.register(Consent)
class ConsentAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "patient",
        "given_on",
        "withdrawn_on",
        "allows_imaging",
        "allows_genomics",
        "allows_sharing",
    )
    list_filter = (
        "allows_imaging",
        "allows_genomics",
        "allows_sharing",
        "patient__project",
    )
    list_select_related = ("patient",)
    search_fields = ("patient__pseudonym",)
    date_hierarchy = "given_on"
    raw_id_fields = ("patient",)
    write_action = MANAGE  # consent is the project manager's


@admin.register(Treatment)
class TreatmentAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = ("patient", "kind", "agent", "line", "started_on", "ended_on")
    list_filter = ("kind", "line", "patient__project")
    list_select_related = ("patient",)
    search_fields = ("patient__pseudonym", "agent", "kind")
    date_hierarchy = "started_on"
    raw_id_fields = ("patient",)


@admin.register(ClinicalEvent)
class ClinicalEventAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = ("patient", "kind", "recist", "occurred_on")
    list_filter = ("kind", "recist", "patient__project")
    list_select_related = ("patient",)
    search_fields = ("patient__pseudonym", "note")
    date_hierarchy = "occurred_on"
    raw_id_fields = ("patient",)


# Issues the import run page lists: a file with thousands of them made a page of
# megabytes. All of them are in the run's CSV download.
SHOWN_ISSUES = 200


class FirstIssuesFormSet(BaseInlineFormSet):
    def get_queryset(self) -> QuerySet[DataIssue]:
        # Sliced once and kept: the formset asks again for every form it builds, and
        # a new slice is a new query (117 issues made 600 queries, 9 to 13 s).
        if not hasattr(self, "_first_issues"):
            issues = super().get_queryset().order_by("severity", "row", "pk")
            self._first_issues = issues[:SHOWN_ISSUES]
        return self._first_issues


class DataIssueInline(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.TabularInline):
    model = DataIssue
    formset = FirstIssuesFormSet
    fields = ("severity", "code", "row", "field", "value", "message")
    readonly_fields = fields
    show_change_link = True


@admin.register(ImportRun)
class ImportRunAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = (
        "started_at",
        "importer",
        "source_name",
        "status_shown",
        "project",
        "user",
        "issue_count",
    )
    list_filter = ("status", "importer", "project")
    list_select_related = ("project", "user")
    search_fields = ("source_name", "source_sha256", "importer")
    date_hierarchy = "started_at"
    readonly_fields = (
        "run_by",
        "status_shown",
        "issues_download",
        "deidentification_report",
    )
    inlines = [DataIssueInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportRun]:
        return super().get_queryset(request).annotate(issue_count=Count("issues"))

    def get_fields(self, request: HttpRequest, obj: ImportRun | None = None) -> list:
        # The user as text, and the status saying what a failed run stored:
        shown = {"user": "run_by", "status": "status_shown"}
        fields = super().get_fields(request, obj)
        return [shown.get(name, name) for name in fields if name not in shown.values()]

    @admin.display(description="user")
    def run_by(self, run: ImportRun) -> str:
        # The username as text: Django would link it to the account's page, which only
        # site administrators may open (a curator got a 403 there).
        return run.user.get_username() if run.user else "-"

    @admin.display(description="status", ordering="status")
    def status_shown(self, run: ImportRun) -> str:
        return run.status_label()

    @admin.display(description="issues", ordering="issue_count")
    def issue_count(self, run: ImportRun) -> int:
        return run.issue_count

    @admin.display(description="issues")
    def issues_download(self, run: ImportRun) -> str:
        count = run.issues.count()
        shown = (
            f"the first {SHOWN_ISSUES} are listed below; "
            if count > SHOWN_ISSUES
            else ""
        )
        return format_html(
            '{}: {}<a href="{}">download all as CSV</a>',
            counted(count, "issues"),
            shown,
            reverse("imports-run-issues", args=[run.pk]),
        )

    @admin.display(description="de-identification report")
    def deidentification_report(self, run: ImportRun) -> str:
        """Link a DICOM run to what it removed, replaced and kept (radiomics' admin)."""
        if run.importer != "dicom":
            return "-"
        try:
            url = reverse("admin:radiomics_deidentifiedattribute_report", args=[run.pk])
        except NoReverseMatch:
            return "-"
        return format_html('<a href="{}">Attribute by attribute</a>', url)


@admin.register(DataIssue)
class DataIssueAdmin(ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "severity",
        "code",
        "source_name",
        "row",
        "field",
        "message",
        "patient",
        "project",
    )
    list_filter = ("severity", "code", "record_type", "project")
    list_select_related = ("patient", "project")
    search_fields = ("message", "code", "source_name", "field", "patient__pseudonym")
    date_hierarchy = "created_at"
    readonly_fields = ("record_link",)

    @admin.display(description="record")
    def record_link(self, issue: DataIssue) -> str:
        """Link to the admin page of the record the issue is about, if it has one."""
        if not issue.record_type or issue.record_id is None:
            return "-"
        for label in RECORD_APPS:
            try:
                model = apps.get_model(label, issue.record_type)
            except LookupError:
                continue
            try:
                url = reverse(
                    f"admin:{label}_{model._meta.model_name}_change",
                    args=[issue.record_id],
                )
            except NoReverseMatch:
                break
            return format_html(
                '<a href="{}">{} {}</a>', url, issue.record_type, issue.record_id
            )
        return f"{issue.record_type} {issue.record_id}"
