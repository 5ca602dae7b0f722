"""Curation admin of blood draws and their CTC, cfDNA and circulating RNA results."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from biobank.core.history_admin import HistoryAdmin
from biobank.core.scoped_admin import ProjectScopedAdmin
from biobank.core.validation import InvalidValue
from liquidbiopsy.hgvs import HGVSError, parse_protein_change
from liquidbiopsy.models import (
    CTC_PLATFORM_TAKEN,
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    GenomeBuild,
    VariantResult,
    sample_id_taken_message,
)
from liquidbiopsy.validation import (
    ACCEPTED_BUILDS,
    DERIVED_VARIANT_FIELDS,
    check_platform,
)
from patients.admin import PatientRecordsFormSet, add_patient_inline

CTC_PLATFORM_HELD = (
    "Another count of this draw has this platform until it is saved, and the counts "
    "are saved one after the other: rename one of them first, then save again."
)


class ImportedVariantsMixin:
    """Variants come from the importers, which derive `variant_key` from the change."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class BloodSampleFormSet(PatientRecordsFormSet):
    """A patient's draws, no two of which carry one lab sample ID.

    Each draw is checked against the stored ones (BloodSample.clean); two draws of
    one save giving the same new ID are not stored yet, so they are checked here.
    NB: IDs swapped between two stored draws in one save are refused too, as each
    is checked against the other's stored ID; change them in two saves.
    """

    def clean(self) -> None:
        super().clean()
        seen: set[str] = set()
        for form in self.live_forms():
            sample_id = form.cleaned_data.get("external_sample_id") or ""
            if sample_id in seen:
                form.add_error(
                    "external_sample_id",
                    f"Lab sample ID {sample_id} is given to another draw of this "
                    "patient on this page: a lab sample ID names one tube.",
                )
            if sample_id:
                seen.add(sample_id)
        if self.instance.pk is None:
            self.check_stored_sample_ids()

    def check_stored_sample_ids(self) -> None:
        """A new patient's draws against the project's stored ones, which the API's
        rules check for a stored patient only (PatientRecordsFormSet)."""
        for form in self.live_forms():
            other = form.instance.same_sample_id_draw()
            if other is not None:
                label = form.fields["external_sample_id"].label
                form.add_error(
                    "external_sample_id", f"{label} {sample_id_taken_message(other)}"
                )


class BloodSampleInline(ProjectScopedAdmin, admin.TabularInline):
    model = BloodSample
    formset = BloodSampleFormSet
    extra = 0
    fields = ("drawn_at", "drawn_on", "timepoint", "tube_type", "external_sample_id")
    readonly_fields = ("drawn_on",)
    show_change_link = True


add_patient_inline(BloodSampleInline)


class CTCCountForm(forms.ModelForm):
    """A CTC count whose platform is read as the importers and the API read it.

    "Cell Search" or "CELLSEARCH" is stored as CellSearch, so the formset's and the
    database's one-count-per-platform rules see one platform.
    """

    class Meta:
        model = CTCCount
        fields = ("sample", "platform", "enrichment", "blood_volume_ml", "count")
        fields += ("clusters",)

    def clean_platform(self) -> str:
        platform = self.cleaned_data["platform"]
        try:
            return check_platform(platform)
        except InvalidValue as exc:
            raise forms.ValidationError(f'"{platform}" {exc}') from None


class CTCCountFormSet(BaseInlineFormSet):
    """A draw's CTC counts: one per platform, in capitals or not.

    The database's rule (ctc_count_per_platform) is on the draw and the lower-cased
    platform; an inline form leaves its draw out of the model's own check of it, so a
    second count of a platform reached the database and failed there (a 500). The
    check follows the order in which the formset saves: the changed and deleted
    counts one after the other, then the new ones, each against the platforms the
    draw holds at that moment, so that swapping two counts' platforms in one save is
    refused too (its first UPDATE would meet the other count's old platform).
    """

    def clean(self) -> None:
        super().clean()
        # As stored: the forms' instances already carry the platforms posted.
        stored = CTCCount.objects.filter(sample=self.instance.pk)
        holding = {
            pk: platform.casefold()
            for pk, platform in stored.values_list("pk", "platform")
        }
        # The platform each count will have once the whole form is saved:
        planned = {
            form.instance.pk: (form.cleaned_data.get("platform") or "").casefold()
            for form in self.initial_forms
            if getattr(form, "cleaned_data", None)
            and not (self.can_delete and self._should_delete_form(form))
        }
        for form in [*self.initial_forms, *self.extra_forms]:
            data = getattr(form, "cleaned_data", None)
            if not data:
                continue
            pk = form.instance.pk
            if self.can_delete and self._should_delete_form(form):
                holding.pop(pk, None)
                continue
            if pk is not None and not form.has_changed():
                continue
            platform = (data.get("platform") or "").casefold()
            holders = [
                other
                for other, held in holding.items()
                if other != pk and held == platform
            ]
            if holders:
                moving = all(
                    planned.get(other, platform) != platform for other in holders
                )
                form.add_error(
                    "platform", CTC_PLATFORM_HELD if moving else CTC_PLATFORM_TAKEN
                )
            holding[pk if pk is not None else object()] = platform


class CTCCountInline(ProjectScopedAdmin, admin.TabularInline):
    model = CTCCount
    form = CTCCountForm
    formset = CTCCountFormSet
    extra = 0
    fields = (
        "platform",
        "enrichment",
        "blood_volume_ml",
        "count",
        "count_per_7_5ml",
        "clusters",
    )
    readonly_fields = ("count_per_7_5ml",)


class CfDNAAssayInline(ProjectScopedAdmin, admin.TabularInline):
    model = CfDNAAssay
    extra = 0
    fields = (
        "method",
        "panel",
        "cfdna_ng_per_ml",
        "tumour_fraction",
        "limit_of_detection_vaf",
    )
    show_change_link = True


class CirculatingRNAResultInline(ProjectScopedAdmin, admin.TabularInline):
    model = CirculatingRNAResult
    extra = 0
    fields = ("transcript", "source", "method", "call", "value", "unit")


class VariantResultInline(
    ImportedVariantsMixin, ProjectScopedAdmin, admin.TabularInline
):
    model = VariantResult
    extra = 0
    fields = ("gene", "protein_change", "variant_type", "call", "vaf", "variant_key")
    readonly_fields = ("variant_key",)
    show_change_link = True


@admin.register(BloodSample)
class BloodSampleAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "__str__",
        "patient",
        "drawn_on",
        "timepoint",
        "tube_type",
        "external_sample_id",
    )
    list_filter = ("tube_type", "is_time_known", "patient__project")
    list_select_related = ("patient",)
    search_fields = ("patient__pseudonym", "external_sample_id", "timepoint")
    date_hierarchy = "drawn_at"
    raw_id_fields = ("patient",)
    readonly_fields = ("drawn_on", "created_at")
    inlines = [CTCCountInline, CfDNAAssayInline, CirculatingRNAResultInline]


@admin.register(CTCCount)
class CTCCountAdmin(ProjectScopedAdmin, HistoryAdmin):
    form = CTCCountForm
    list_display = (
        "sample",
        "platform",
        "count",
        "blood_volume_ml",
        "count_per_7_5ml",
        "clusters",
    )
    list_filter = ("platform", "enrichment")
    list_select_related = ("sample__patient",)
    search_fields = ("sample__patient__pseudonym", "sample__external_sample_id")
    date_hierarchy = "sample__drawn_at"
    raw_id_fields = ("sample",)
    readonly_fields = ("count_per_7_5ml",)


@admin.register(CfDNAAssay)
class CfDNAAssayAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = (
        "__str__",
        "sample",
        "method",
        "panel",
        "cfdna_ng_per_ml",
        "tumour_fraction",
    )
    list_filter = ("method", "panel")
    list_select_related = ("sample__patient",)
    search_fields = (
        "sample__patient__pseudonym",
        "sample__external_sample_id",
        "panel",
    )
    date_hierarchy = "sample__drawn_at"
    raw_id_fields = ("sample",)
    inlines = [VariantResultInline]


@admin.register(VariantResult)
class VariantResultAdmin(ImportedVariantsMixin, ProjectScopedAdmin, HistoryAdmin):
    list_display = ("gene", "protein_change", "variant_type", "call", "vaf", "sample")
    list_filter = (
        "call",
        "variant_type",
        "is_clonal_haematopoiesis",
        "is_germline",
        "assay__sample__patient__project",
    )
    list_select_related = ("assay__sample__patient",)
    search_fields = (
        "gene",
        "gene_hgnc",
        "protein_change",
        "cdna_change",
        "fusion_5prime",
        "fusion_3prime",
        "genomic_change",
        "dbsnp_id",
        "assay__sample__external_sample_id",
        "assay__sample__patient__pseudonym",
    )
    date_hierarchy = "assay__sample__drawn_at"
    raw_id_fields = ("assay",)
    # As in the API, what the gene and alteration give is stored with them on a save:
    readonly_fields = ("variant_key", *DERIVED_VARIANT_FIELDS)

    @admin.display(description="blood sample", ordering="assay__sample__drawn_at")
    def sample(self, variant: VariantResult) -> BloodSample:
        return variant.assay.sample

    def formfield_for_dbfield(self, db_field, request: HttpRequest, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "genome_build" and field is not None:
            # A build outside the list (a revert to a version stored as hg19, a
            # posted form) is refused naming the builds, as the API refuses it:
            field.error_messages["invalid_choice"] = (
                f"Genome build %(value)s is not one the biobank stores; choose "
                f"{' or '.join(GenomeBuild.values)} ({ACCEPTED_BUILDS} in files)."
            )
        return field

    def get_search_results(self, request, queryset, search_term: str):
        """Also find a protein change written in any HGVS spelling (p.Gly12Asp, G12D)."""
        results, may_have_duplicates = super().get_search_results(
            request, queryset, search_term
        )
        words = search_term.split()
        try:
            canonical = parse_protein_change(words[-1]).canonical if words else ""
        except HGVSError:
            canonical = ""
        if canonical:
            same_change = queryset.filter(protein_change=canonical)
            if len(words) > 1:  # "KRAS p.Gly12Asp": the gene narrows it
                same_change = same_change.filter(gene__iexact=words[0])
            results |= same_change
        return results, may_have_duplicates


@admin.register(CirculatingRNAResult)
class CirculatingRNAResultAdmin(ProjectScopedAdmin, HistoryAdmin):
    list_display = ("transcript", "source", "method", "call", "value", "unit", "sample")
    list_filter = ("source", "call", "transcript")
    list_select_related = ("sample__patient",)
    search_fields = ("transcript", "method", "sample__patient__pseudonym")
    date_hierarchy = "sample__drawn_at"
    raw_id_fields = ("sample",)
