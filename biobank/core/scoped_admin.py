"""The Django admin, narrowed to the projects of the signed-in curator.

Every ModelAdmin and inline of the project's apps takes ProjectScopedAdmin right before
its Django base class (tests/test_authorization.py checks that none is missing). It
replaces Django's model permissions by project roles (biobank.api.access):

- lists, search, autocomplete, history and change pages show only records of projects
  the user curates (a foreign record is a 404, as if absent): they show calendar
  dates, which a viewer of the project may not see;
- adding, changing and deleting need `write_action` (curate; manage for consent and
  members) in the record's project; records shared by all projects only site admins;
- related-record pickers (selects, raw-id and autocomplete fields) accept only records
  of projects where the user has `write_action`;
- list filters on a related record offer only the values present in visible rows,
  so the names of other projects never appear.

Mixins that forbid more (ReadOnlyAdminMixin, IngestedOnlyMixin) come before it in the
bases and still win, since it does not defer to Django's model permissions.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import chain
from typing import Any

from django.contrib import admin
from django.contrib.admin.utils import (
    NestedObjects,
    NotRelationField,
    get_fields_from_path,
    quote,
    unquote,
)
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import router
from django.db.models import (
    DateField,
    DateTimeField,
    Field,
    ForeignKey,
    IntegerField,
    Model,
    QuerySet,
    prefetch_related_objects,
)
from django.forms import Field as FormField
from django.forms import ModelChoiceField
from django.http import Http404, HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import capfirst

from biobank.api.access import (
    CURATE,
    PROJECT_PATHS,
    VIEW,
    is_site_admin,
    may,
    project_id_of,
    project_path,
    projects_for,
    visible_to,
)
from biobank.core.forms import IsoDateField, IsoSplitDateTimeField
from biobank.core.validation import integer_range
from patients.models import Patient
from patients.services import source_key


class ProjectScopedAdmin:
    """Roles instead of model permissions, for a ModelAdmin or an inline."""

    write_action = CURATE

    @property
    def project_path(self) -> str | None:
        return project_path(self.model)

    @property
    def read_action(self) -> str:
        """The role that reads a project's records here: curate (shared records: view).

        The admin shows calendar dates, moments of record keeping and the history;
        a viewer of a project, even one who curates another, reads its records on the
        web pages and the API, in shifted dates (docs/access.md#dates).
        """
        return VIEW if self.project_path is None else CURATE

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return visible_to(
            request.user,
            super().get_queryset(request),
            self.project_path,
            self.read_action,
        )

    def _may(self, request: HttpRequest, action: str, obj: Model | None) -> bool:
        if self.project_path is None:
            # Records of every project: all may read, site administrators change.
            return request.user.is_active and (
                action == VIEW or is_site_admin(request.user)
            )
        if obj is None or not isinstance(obj, self.model):
            # The list, an add page, or an inline asked about its parent record:
            project = None if obj is None else project_id_of(obj, _parent_path(obj))
            return may(request.user, action, project)
        project = project_id_of(obj, self.project_path)
        if project is None:
            return is_site_admin(request.user)
        return may(request.user, action, project)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._may(request, VIEW, None)

    def has_view_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return self._may(request, self.read_action, obj) or self._may(
            request, self.write_action, obj
        )

    def has_add_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return self._may(request, self.write_action, obj)

    def has_change_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return self._may(request, self.write_action, obj)

    def has_delete_permission(
        self, request: HttpRequest, obj: Model | None = None
    ) -> bool:
        return self._may(request, self.write_action, obj)

    def get_deleted_objects(self, objs, request: HttpRequest) -> tuple:
        return deleted_objects(objs, request, self.admin_site)

    def history_view(self, request: HttpRequest, object_id: str, extra_context=None):
        self._seen_or_404(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(
        self, request: HttpRequest, object_id: str, version_id: str, extra_context=None
    ):
        self._seen_or_404(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)

    def _seen_or_404(self, request: HttpRequest, object_id: str) -> None:
        """Answer 404 for a record the user may not read, as for one never stored.

        simple-history looks a record up in its history table when the (scoped)
        queryset lacks it, for deleted records, and then refuses with 403: that told
        which ids exist in other projects. A deleted record's history stays open to
        those who may read its project here.
        """
        try:
            pk = self.model._meta.pk.to_python(unquote(object_id))
            if self.get_queryset(request).filter(pk=pk).exists():
                return
            history = getattr(self.model, "history", None)
            latest = (
                history.filter(**{self.model._meta.pk.attname: pk})
                .order_by("-history_date")
                .first()
                if history is not None
                else None
            )
        except (ValueError, ValidationError):
            latest = None
        if latest is None or not self._may(request, self.read_action, latest.instance):
            raise Http404(f"No {self.model._meta.verbose_name} has this id.")

    def get_form(self, request: HttpRequest, obj: Model | None = None, **kwargs):
        from biobank.api.admin_forms import with_api_rules  # needs every app's models

        return with_api_rules(super().get_form(request, obj, **kwargs))

    def get_formset(self, request: HttpRequest, obj: Model | None = None, **kwargs):
        from biobank.api.admin_forms import with_api_rules

        formset = super().get_formset(request, obj, **kwargs)
        formset.form = with_api_rules(formset.form)
        return formset

    def save_model(self, request: HttpRequest, obj: Model, form, change: bool) -> None:
        from biobank.api.admin_forms import show_api_warnings

        super().save_model(request, obj, form, change)
        show_api_warnings(request, form)

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        from biobank.api.admin_forms import show_api_warnings

        super().save_formset(request, form, formset, change)
        for inline_form in formset.forms:
            if inline_form not in formset.deleted_forms:
                show_api_warnings(request, inline_form)

    def formfield_for_dbfield(
        self, db_field: Field, request: HttpRequest, **kwargs: Any
    ) -> FormField | None:
        # Dates as the import commands read them (Django's en-us formats would take
        # 12/03/2020 as 3 December):
        if isinstance(db_field, DateTimeField):
            kwargs.setdefault("form_class", IsoSplitDateTimeField)
        elif isinstance(db_field, DateField):
            kwargs.setdefault("form_class", IsoDateField)
        # Numbers PostgreSQL's column stores, on SQLite too (which stores any):
        elif isinstance(db_field, IntegerField) and not db_field.is_relation:
            low, high = integer_range(db_field)
            kwargs.setdefault("min_value", low)
            kwargs.setdefault("max_value", high)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        path = PROJECT_PATHS.get(db_field.related_model._meta.label_lower)
        if field is not None and path is not None:
            field.queryset = visible_to(
                request.user, field.queryset, path, self.write_action
            )
        return field

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Also find the patient whose source identifier is the whole search term.

        Only a keyed hash of a source identifier is stored (patients.services), so
        the term is hashed for each project whose records the list shows the user
        (`read_action`) and matched exactly; the term itself is kept and logged
        nowhere.
        """
        found, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        patient = _patient_path(self.model, self.get_search_fields(request))
        term = search_term.strip()
        if patient is None or not term:
            return found, may_have_duplicates

        keys = [
            source_key(project, term)
            for project in projects_for(request.user, self.read_action)
        ]
        by_source = queryset.filter(**{f"{patient}source_key__in": keys})
        return found | by_source, may_have_duplicates

    def get_list_filter(self, request: HttpRequest) -> list:
        # A plain filter on a related record lists every record of that model (every
        # project's name); RelatedOnlyFieldListFilter lists those of visible rows.
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and _is_relation(self.model, entry):
                entry = (entry, admin.RelatedOnlyFieldListFilter)
            filters.append(entry)
        return filters


def _is_relation(model: type[Model], name: str) -> bool:
    try:
        return get_fields_from_path(model, name)[-1].is_relation
    except (FieldDoesNotExist, NotRelationField):
        return False


def _patient_path(model: type[Model], search_fields) -> str | None:
    """Return the path to the patient ("" or "...patient__") of a list that searches
    pseudonyms, else None."""
    for field in search_fields:
        prefix, _, name = field.rpartition("__")
        if name != "pseudonym":
            continue
        if not prefix and model is Patient:
            return ""
        if prefix and get_fields_from_path(model, prefix)[-1].related_model is Patient:
            return f"{prefix}__"
    return None


def _parent_path(obj: Model) -> str | None:
    try:
        return project_path(type(obj))
    except KeyError:
        return None


# Functions that count the stored files a deletion removes, from the records it takes
# along by model; the apps that store files add theirs (radiomics.apps).
STORED_FILE_COUNTS: list = []
STORED_FILES_REMOVED = "de-identified files removed from storage once deleted"


def deleted_objects(objs, request: HttpRequest, admin_site: admin.AdminSite) -> tuple:
    """Return what Django's admin.utils.get_deleted_objects returns, in fewer queries.

    Django names every record a delete takes along (a feature extraction's thousands
    of values) and checks its delete permission, one record at a time. The records
    each name needs (the model's `str_related`) and the way to each project (the
    project path) are read first, one query per relation and model.
    """
    if not objs:
        return [], {}, set(), []

    collector = NestedObjects(
        using=router.db_for_write(objs[0]._meta.model), origin=objs
    )
    collector.collect(objs)
    by_model: dict[type[Model], list[Model]] = defaultdict(list)
    for record in chain(*collector.model_objs.values(), collector.protected):
        by_model[type(record)].append(record)
    for model, records in by_model.items():
        registered = admin_site.is_registered(model)
        model_admin = admin_site.get_model_admin(model) if registered else None
        _read_related_at_once(records, getattr(model_admin, "project_path", None))
    perms_needed: set[str] = set()

    def format_callback(obj: Model) -> str:
        opts = obj._meta
        if not admin_site.is_registered(type(obj)):
            return f"{capfirst(opts.verbose_name)}: {obj}"
        if not admin_site.get_model_admin(type(obj)).has_delete_permission(
            request, obj
        ):
            perms_needed.add(opts.verbose_name)
        try:
            url = reverse(
                f"{admin_site.name}:{opts.app_label}_{opts.model_name}_change",
                args=(quote(obj.pk),),
            )
        except NoReverseMatch:
            return f"{capfirst(opts.verbose_name)}: {obj}"
        return format_html(
            '{}: <a href="{}">{}</a>', capfirst(opts.verbose_name), url, obj
        )

    to_delete = collector.nested(format_callback)
    protected = [format_callback(obj) for obj in collector.protected]
    model_count = {
        model._meta.verbose_name_plural: len(records)
        for model, records in collector.model_objs.items()
    }
    # The summary says what leaves storage with the records (radiomics.stored_files):
    files = sum(count(collector.model_objs) for count in STORED_FILE_COUNTS)
    if files:
        model_count[STORED_FILES_REMOVED] = files
    return to_delete, model_count, perms_needed, protected


def _read_related_at_once(records: list[Model], path: str | None) -> None:
    """Read for all `records` of a model what their names and project path need."""
    lookups = list(getattr(records[0], "str_related", ()))
    if path and "__" in path:
        lookups.append(path.rpartition("__")[0])
    if lookups:
        prefetch_related_objects(records, *lookups)
