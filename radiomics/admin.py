"""Curation admin of imaging studies, series, segmentations, features and signatures."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from biobank.core.history_admin import HistoryAdmin
from biobank.core.scoped_admin import ProjectScopedAdmin
from biobank.core.validation import InvalidValue
from patients.admin import ReadOnlyAdminMixin, add_patient_inline
from patients.models import ImportRun
from patients.validation import check_after_birth
from radiomics.models import (
    DeidentifiedAttribute,
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageInstance,
    ImageSeries,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
    SignatureTerm,
)
from radiomics.signatures import rescore_extractions

STUDY_UIDS = ("study_instance_uid", "source_uid_hash")
SERIES_UIDS = (
    "series_instance_uid",
    "source_uid_hash",
    "frame_of_reference_uid",
    "sop_class_uid",
)
INSTANCE_UIDS = (
    "sop_instance_uid",
    "source_uid_hash",
    "content_sha256",
    "sop_class_uid",
)
SEGMENTATION_UIDS = ("source_sop_instance_uid", "source_uid_hash", "content_sha256")
# Which stored file holds the ROI, and where in it: set by the importers that copied
# the file under BIOBANK_STORAGE_ROOT (ingest_dicom, add_mask), read by extraction.
SEGMENTATION_SOURCE = ("storage_path", "source_kind", "roi_number", "linkage")


class IngestedOnlyMixin:
    """Studies, series and instances come from DICOM ingest, which sets their UIDs."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class FromTheFilesMixin(IngestedOnlyMixin):
    """Series and instances are what their DICOM files say, shown but never edited.

    A series moved to another study, or an instance to another series, would carry
    its files and features to another patient (the files staying in the first
    patient's folder, with the first patient's pseudonym inside); a modality or slice
    thickness typed by hand would no longer be the acquisition the features come
    from. A wrong series is deleted and its files ingested again.
    """

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class StoredOnlyMixin:
    """Segmentations come from ingest_dicom (RTSTRUCT, SEG), add_mask (mask files) and
    import_pyradiomics (ROIs named in a table): one made by hand would name no file,
    or a file nobody copied under the storage root and hashed."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ImagingStudyInline(IngestedOnlyMixin, ProjectScopedAdmin, admin.TabularInline):
    model = ImagingStudy
    extra = 0
    fields = ("study_date", "modalities", "description", "study_instance_uid")
    readonly_fields = fields
    can_delete = False
    show_change_link = True


add_patient_inline(ImagingStudyInline)


class ImageSeriesInline(FromTheFilesMixin, ProjectScopedAdmin, admin.TabularInline):
    model = ImageSeries
    extra = 0
    fields = (
        "series_number",
        "modality",
        "description",
        "slice_thickness_mm",
        "instance_count",
        "series_instance_uid",
    )
    readonly_fields = fields
    show_change_link = True


class SegmentationInline(StoredOnlyMixin, ProjectScopedAdmin, admin.TabularInline):
    model = Segmentation
    extra = 0
    fields = ("roi_number", "roi_name", "roi_type", "method", "reader", "source_kind")
    readonly_fields = ("roi_number", "source_kind")
    show_change_link = True


class ImagingStudyForm(forms.ModelForm):
    def clean_study_date(self) -> dt.date | None:
        """Refuse a study date in a year before the patient's birth year, as the API
        refuses any other record so dated (DICOM ingest warns and leaves it out)."""
        day = self.cleaned_data["study_date"]
        try:
            check_after_birth(self.instance.patient.birth_year, day)
        except InvalidValue as error:
            raise forms.ValidationError(f"Study date {error}") from None
        return day


@admin.register(ImagingStudy)
class ImagingStudyAdmin(IngestedOnlyMixin, ProjectScopedAdmin, HistoryAdmin):
    form = ImagingStudyForm
    list_display = (
        "__str__",
        "patient",
        "study_date",
        "modalities",
        "date_source",
        "body_part",
    )
    list_filter = ("date_source", "modalities", "patient__project")
    list_select_related = ("patient",)
    search_fields = ("study_instance_uid", "patient__pseudonym", "description")
    date_hierarchy = "study_date"
    # The study's files and their PatientID are the patient's: moving it would not
    # move them (FromTheFilesMixin).
    readonly_fields = ("patient", *STUDY_UIDS, "created_at")
    inlines = [ImageSeriesInline]


@admin.register(ImageSeries)
class ImageSeriesAdmin(FromTheFilesMixin, ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "__str__",
        "study",
        "series_number",
        "modality",
        "manufacturer",
        "slice_thickness_mm",
        "ctdi_vol_mgy",
        "injected_activity_mbq",
        "uptake_time_min",
        "instance_count",
    )
    list_filter = ("modality", "manufacturer", "study__patient__project")
    list_select_related = ("study__patient",)
    search_fields = (
        "series_instance_uid",
        "modality",
        "manufacturer",
        "description",
        "study__study_instance_uid",
        "study__patient__pseudonym",
    )
    date_hierarchy = "series_date"
    raw_id_fields = ("study",)
    readonly_fields = (*SERIES_UIDS, "storage_path", "instance_count")
    inlines = [SegmentationInline]


@admin.register(ImageInstance)
class ImageInstanceAdmin(FromTheFilesMixin, ProjectScopedAdmin, admin.ModelAdmin):
    list_display = ("sop_instance_uid", "instance_number", "series")
    list_select_related = ("series",)
    search_fields = ("sop_instance_uid", "series__series_instance_uid")
    raw_id_fields = ("series",)
    readonly_fields = (*INSTANCE_UIDS, "storage_path")
    show_full_result_count = False


@admin.register(Segmentation)
class SegmentationAdmin(StoredOnlyMixin, ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "roi_name",
        "roi_number",
        "roi_type",
        "source_kind",
        "method",
        "series",
    )
    list_filter = ("source_kind", "method", "roi_type", "linkage")
    list_select_related = ("series",)
    search_fields = (
        "roi_name",
        "reader",
        "series__series_instance_uid",
        "series__study__patient__pseudonym",
    )
    date_hierarchy = "created_at"
    # Its series is the one its file delineates; its extractions' values were
    # computed on that series' images (FromTheFilesMixin):
    readonly_fields = (
        "series",
        *SEGMENTATION_UIDS,
        *SEGMENTATION_SOURCE,
        "created_at",
    )


@admin.register(FeatureDefinition)
class FeatureDefinitionAdmin(ProjectScopedAdmin, admin.ModelAdmin):
    list_display = (
        "name",
        "family",
        "feature_name",
        "image_filter",
        "ibsi_code",
        "ibsi_conformant",
    )
    list_filter = ("family", "image_filter", "ibsi_conformant")
    search_fields = ("name", "feature_name", "ibsi_code", "description")


@admin.register(FeatureExtraction)
class FeatureExtractionAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "__str__",
        "patient",
        "software",
        "software_version",
        "preset",
        "status",
        "progress",
        "created_at",
    )
    list_filter = ("status", "software", "patient__project")
    list_select_related = ("patient",)
    search_fields = (
        "patient__pseudonym",
        "fingerprint",
        "source_name",
        "image_reference",
    )
    date_hierarchy = "created_at"
    raw_id_fields = ("patient", "segmentation")
    # What the engine or the import computed, and the worker's record of the job,
    # are provenance: curators read them. The patient and the segmentation stay
    # editable, within the rules of the model's clean:
    readonly_fields = (
        "software",
        "software_version",
        "preset",
        "parameters",
        "diagnostics",
        "fingerprint",
        "source_name",
        "image_reference",
        "mask_reference",
        "label",
        "created_at",
        "status",
        "progress",
        "task_id",
        "attempts",
        "error",
        "started_at",
        "finished_at",
    )

    # Extractions are made by extract_features and import_pyradiomics, with values:
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(FeatureValue)
class FeatureValueAdmin(ProjectScopedAdmin, admin.ModelAdmin):
    list_display = ("feature", "value", "extraction")
    list_filter = ("feature__family", "feature__image_filter")
    list_select_related = ("feature", "extraction__patient")
    search_fields = (
        "feature__name",
        "feature__ibsi_code",
        "extraction__patient__pseudonym",
    )
    raw_id_fields = ("extraction", "feature")
    # NB: tens of millions of rows; counting them all on every page is too slow.
    show_full_result_count = False

    # A value's name is its feature's (the delete confirmation and its log entries).
    # NB: the list applies list_select_related only to a queryset without any:
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related(*self.list_select_related)

    # Computed by an engine or imported with its extraction: a value changed by hand
    # would no longer be what the extraction's software and parameters gave. A wrong
    # value is deleted (docs/signatures_and_robustness.md) or its extraction re-run.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    # A saved value rescores its extraction through a post_save receiver; deletes
    # have none (it would slow every cascade delete), so the admin rescores here:
    def delete_model(self, request: HttpRequest, obj: FeatureValue) -> None:
        super().delete_model(request, obj)
        rescore_extractions([obj.extraction_id])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        extraction_ids = set(queryset.values_list("extraction_id", flat=True))
        super().delete_queryset(request, queryset)
        rescore_extractions(extraction_ids)


class SignatureTermInline(ProjectScopedAdmin, admin.TabularInline):
    model = SignatureTerm
    extra = 0
    raw_id_fields = ("feature",)


@admin.register(RadiomicSignature)
class RadiomicSignatureAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = ("name", "intercept", "cutoff", "label_below", "label_above")
    search_fields = ("name", "description", "reference")
    inlines = [SignatureTermInline]


@admin.register(SignatureTerm)
class SignatureTermAdmin(ProjectScopedAdmin, admin.ModelAdmin):
    list_display = ("signature", "feature", "weight")
    list_filter = ("signature",)
    list_select_related = ("signature", "feature")
    search_fields = ("signature__name", "feature__name")
    raw_id_fields = ("feature",)


@admin.register(SignatureScore)
class SignatureScoreAdmin(ProjectScopedAdmin, admin.ModelAdmin):
    """Computed from the signature and the feature values; read-only here."""

    list_display = ("signature", "extraction", "score", "label", "computed_at")
    list_filter = ("signature", "label")
    list_select_related = ("signature", "extraction__patient")
    search_fields = ("signature__name", "extraction__patient__pseudonym")
    date_hierarchy = "computed_at"
    raw_id_fields = ("extraction",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(FeatureRobustness)
class FeatureRobustnessAdmin(ProjectScopedAdmin, admin.ModelAdmin):
    """Computed by the feature_robustness command; read-only here."""

    list_display = (
        "feature",
        "design",
        "selection",
        "form",
        "icc",
        "ci_low",
        "ci_high",
        "n_subjects",
        "is_robust",
    )
    list_filter = ("design", "form", "is_robust", "feature__family")
    list_select_related = ("feature",)
    search_fields = ("feature__name", "feature__ibsi_code", "selection")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DeidentifiedAttribute)
class DeidentifiedAttributeAdmin(
    ReadOnlyAdminMixin, ProjectScopedAdmin, admin.ModelAdmin
):
    """The per-attribute de-identification report of DICOM import runs, read-only."""

    list_display = (
        "path",
        "tag",
        "decision",
        "profile_action",
        "rule",
        "file_count",
        "element_count",
        "import_run",
    )
    list_filter = ("decision", "rule", "import_run__project")
    list_select_related = ("import_run",)
    search_fields = ("path", "tag")
    raw_id_fields = ("import_run",)

    def get_urls(self) -> list[URLPattern]:
        report = path(
            "report/<int:run_id>/",
            self.admin_site.admin_view(self.report_view),
            name="radiomics_deidentifiedattribute_report",
        )
        return [report, *super().get_urls()]

    def report_view(self, request: HttpRequest, run_id: int) -> TemplateResponse:
        """List what one run did to each attribute, by decision, then by reason."""
        runs = self.admin_site.get_model_admin(ImportRun).get_queryset(request)
        if not self.has_view_permission(request):
            raise PermissionDenied
        run = get_object_or_404(runs, pk=run_id)
        rows = self.get_queryset(request).filter(import_run=run)
        context = {
            **self.admin_site.each_context(request),
            "title": f"De-identification report of import run {run.pk}",
            "run": run,
            "decisions": deidentification_report(rows),
            "opts": self.model._meta,
        }
        return TemplateResponse(
            request, "admin/radiomics/deidentification_report.html", context
        )


def deidentification_report(
    rows: QuerySet[DeidentifiedAttribute],
) -> list[dict[str, object]]:
    """Group a run's rows by decision, then by the rule that explains them."""
    Decision = DeidentifiedAttribute.Decision
    rules = dict(DeidentifiedAttribute.Rule.choices)
    groups = []
    for decision, label in Decision.choices:
        chosen = sorted(
            (row for row in rows if row.decision == decision),
            key=lambda row: (row.rule, row.path),
        )
        if not chosen:
            continue
        by_rule: dict[str, list[DeidentifiedAttribute]] = {}
        for row in chosen:
            by_rule.setdefault(row.rule, []).append(row)
        groups.append(
            {
                "decision": decision,
                "label": label,
                "attributes": len(chosen),
                "elements": sum(row.element_count for row in chosen),
                "rules": [
                    {"reason": rules.get(rule, rule), "rows": group}
                    for rule, group in by_rule.items()
                ],
            }
        )
    return groups
