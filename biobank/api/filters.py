"""Filters of the API lists: the questions analysts ask, as query parameters.

Ranges take `<name>_after` / `<name>_before` for dates and moments and `<name>_min` /
`<name>_max` for numbers; both bounds count.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django import forms
from django.db import models
from django.db.models import Exists, OuterRef, Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField, RangeField
from django_filters.utils import get_model_field
from django_filters.widgets import DateRangeWidget

from biobank.cohorts.query import IBSI_CODE_IMAGE_FILTER
from liquidbiopsy.hgvs import (
    FusionError,
    HGVSError,
    looks_like_fusion,
    parse_fusion,
    parse_protein_change,
)
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import (
    CancerType,
    ClinicalEvent,
    Consent,
    Patient,
    Project,
    Treatment,
)
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
)


class MomentField(IsoDateTimeField):
    """An ISO 8601 moment, turned into UTC before it reaches the database.

    PostgreSQL refuses offsets beyond about +-16 hours ("-17:51" is valid ISO 8601 but
    no real zone), so the moment is compared as UTC; one that UTC cannot hold (before
    year 1) is a 400, not a server error.
    """

    def to_python(self, value):
        moment = super().to_python(value)
        if moment is None or moment.tzinfo is None:
            return moment
        try:
            return moment.astimezone(dt.UTC)
        except OverflowError:
            raise forms.ValidationError(
                "This moment is out of range once converted to UTC.", code="invalid"
            ) from None


class MomentRangeField(RangeField):
    widget = DateRangeWidget

    def __init__(self, *args, **kwargs):
        super().__init__((MomentField(), MomentField()), *args, **kwargs)


class MomentRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    """`<name>_after` / `<name>_before` moments, compared in UTC."""

    field_class = MomentRangeField


def feature_condition(feature: str, path: str = "") -> Q:
    """Match a feature by its name, or by IBSI code as computed on the original image."""
    return Q(**{f"{path}name": feature}) | Q(
        **{
            f"{path}ibsi_code": feature.upper(),
            f"{path}image_filter": IBSI_CODE_IMAGE_FILTER,
        }
    )


class VariantChangeField(forms.CharField):
    """A protein change in any HGVS spelling, or a fusion; refused when it is neither."""

    def clean(self, value: str | None) -> str:
        value = super().clean(value)
        if not value:
            return value
        try:
            if looks_like_fusion(value):
                parse_fusion(value)
            else:
                parse_protein_change(value)
        except (HGVSError, FusionError) as error:
            raise forms.ValidationError(f"{value} {error}") from error
        return value


class VariantChangeFilter(filters.CharFilter):
    field_class = VariantChangeField


# The largest id a 64-bit primary key holds:
MAX_ID = 2**63 - 1


LARGEST_INTEGER = 2**63 - 1


class BoundedFilterSet(filters.FilterSet):
    """A FilterSet that refuses integers no database column can hold, with a 400.

    A bound such as birth_year_min=4634484785228805046272 is a valid number, but
    SQLite and PostgreSQL fail on it (an OverflowError or DataError, a 500).
    """

    def is_valid(self) -> bool:
        if not super().is_valid():
            return False
        for name, value in list(self.form.cleaned_data.items()):
            target = self.filters.get(name)
            if target is None or not _is_integer_field(self._meta.model, target):
                continue
            bounds = [value.start, value.stop] if isinstance(value, slice) else [value]
            if any(
                isinstance(bound, int | Decimal) and abs(bound) > LARGEST_INTEGER
                for bound in bounds
            ):
                self.form.add_error(name, "This number is out of range.")
        return not self.form.errors


def _is_integer_field(model, target) -> bool:
    field = get_model_field(model, target.field_name) if target.field_name else None
    return isinstance(field, models.IntegerField)


class IdFilter(filters.NumberFilter):
    """A record id: a whole number within a primary key's range, else a 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


def patient_filters(path: str) -> type[filters.FilterSet]:
    """Return a FilterSet base with the patient filters of records reached by `path`."""

    class PatientFilters(BoundedFilterSet):
        project = filters.CharFilter(
            field_name=f"{path}__project__code", help_text="Project code."
        )
        patient = filters.CharFilter(
            field_name=f"{path}__pseudonym", help_text="Patient pseudonym."
        )
        cancer_type = filters.MultipleChoiceFilter(
            field_name=f"{path}__cancer_type",
            choices=CancerType.choices,
            help_text="OncoTree code; repeat the parameter for any of several.",
        )

    return PatientFilters


class ProjectFilter(BoundedFilterSet):
    class Meta:
        model = Project
        fields = ["code"]


class PatientFilter(BoundedFilterSet):
    project = filters.CharFilter(field_name="project__code", help_text="Project code.")
    pseudonym = filters.CharFilter()
    cancer_type = filters.MultipleChoiceFilter(choices=CancerType.choices)
    diagnosis_on = filters.DateFromToRangeFilter()
    birth_year = filters.RangeFilter()

    class Meta:
        model = Patient
        fields = ["sex", "stage", "is_deceased"]


class ConsentFilter(patient_filters("patient")):
    given_on = filters.DateFromToRangeFilter()
    is_withdrawn = filters.BooleanFilter(
        field_name="withdrawn_on", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = Consent
        fields = ["allows_imaging", "allows_genomics", "allows_sharing"]


class TreatmentFilter(patient_filters("patient")):
    started_on = filters.DateFromToRangeFilter()
    agent = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Treatment
        fields = ["kind", "line"]


class ClinicalEventFilter(patient_filters("patient")):
    occurred_on = filters.DateFromToRangeFilter()

    class Meta:
        model = ClinicalEvent
        fields = ["kind", "recist"]


def acquisition_filters(path: str) -> type[filters.FilterSet]:
    """Return a FilterSet base with the acquisition parameters of series at `path`.

    Text matches ignore case; `path` is "" on series and "series__" on studies.
    """

    class AcquisitionFilters(BoundedFilterSet):
        modality = filters.CharFilter(
            field_name=f"{path}modality", lookup_expr="iexact"
        )
        manufacturer = filters.CharFilter(
            field_name=f"{path}manufacturer", lookup_expr="iexact"
        )
        manufacturer_model_name = filters.CharFilter(
            field_name=f"{path}manufacturer_model_name", lookup_expr="iexact"
        )
        convolution_kernel = filters.CharFilter(
            field_name=f"{path}convolution_kernel", lookup_expr="iexact"
        )
        slice_thickness_mm = filters.RangeFilter(field_name=f"{path}slice_thickness_mm")
        kvp = filters.RangeFilter(field_name=f"{path}kvp")
        magnetic_field_strength_t = filters.RangeFilter(
            field_name=f"{path}magnetic_field_strength_t"
        )

    return AcquisitionFilters


class ImageSeriesFilter(acquisition_filters(""), patient_filters("study__patient")):
    series_date = filters.DateFromToRangeFilter()
    study_date = filters.DateFromToRangeFilter(field_name="study__study_date")

    class Meta:
        model = ImageSeries
        fields = ["study", "contrast_agent", "mr_sequence"]


SERIES_FILTERS = list(acquisition_filters("").base_filters)


class ImagingStudyFilter(acquisition_filters("series__"), patient_filters("patient")):
    """Study filters; the acquisition filters ask for one series that meets them all."""

    study_date = filters.DateFromToRangeFilter()
    feature = filters.CharFilter(
        method="filter_feature",
        help_text="A feature name or IBSI code with a value on one of the study's "
        "segmentations; feature_min and feature_max bound that value.",
    )
    feature_min = filters.NumberFilter(method="filter_nothing")
    feature_max = filters.NumberFilter(method="filter_nothing")

    class Meta:
        model = ImagingStudy
        fields = ["date_source", "body_part"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # Series conditions go into one EXISTS, so that "CT by Siemens" means one
        # series that is both, not a CT series and some other Siemens series:
        series_condition = Q()
        for name in SERIES_FILTERS:
            value = self.form.cleaned_data.get(name)
            if value in (None, ""):
                continue
            series_filter = self.filters[name]
            series_condition &= _condition(series_filter, value)
        if series_condition:
            series = ImageSeries.objects.filter(series_condition, study=OuterRef("pk"))
            queryset = queryset.filter(Exists(series))

        for name, value in list(self.form.cleaned_data.items()):
            if name not in SERIES_FILTERS:
                queryset = self.filters[name].filter(queryset, value)
        return queryset

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        values = FeatureValue.objects.filter(
            feature_condition(value, "feature__"),
            extraction__segmentation__series__study=OuterRef("pk"),
        )
        lowest = self.form.cleaned_data.get("feature_min")
        highest = self.form.cleaned_data.get("feature_max")
        if lowest is not None:
            values = values.filter(value__gte=lowest)
        if highest is not None:
            values = values.filter(value__lte=highest)
        return queryset.filter(Exists(values))

    def filter_nothing(self, queryset: QuerySet, name: str, value: object) -> QuerySet:
        # The bound is applied by filter_feature, to the same value.
        return queryset


def _condition(series_filter: filters.Filter, value: object) -> Q:
    """Return the Q object a plain or range filter of a study applies to one series."""
    field = series_filter.field_name.removeprefix("series__")
    if isinstance(series_filter, filters.RangeFilter):
        condition = Q()
        if value.start is not None:
            condition &= Q(**{f"{field}__gte": value.start})
        if value.stop is not None:
            condition &= Q(**{f"{field}__lte": value.stop})
        return condition
    return Q(**{f"{field}__{series_filter.lookup_expr}": value})


class SegmentationFilter(patient_filters("series__study__patient")):
    study = IdFilter(field_name="series__study")
    roi_name = filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = Segmentation
        fields = ["series", "roi_type", "source_kind", "method", "reader"]


class FeatureExtractionFilter(patient_filters("patient")):
    study = IdFilter(field_name="segmentation__series__study")
    series = IdFilter(field_name="segmentation__series")
    created_at = MomentRangeFilter()
    finished_at = MomentRangeFilter()

    class Meta:
        model = FeatureExtraction
        fields = ["segmentation", "software", "software_version", "preset", "status"]


class FeatureDefinitionFilter(BoundedFilterSet):
    class Meta:
        model = FeatureDefinition
        fields = [
            "name",
            "family",
            "feature_name",
            "image_filter",
            "ibsi_code",
            "ibsi_conformant",
        ]


class FeatureRobustnessFilter(BoundedFilterSet):
    feature = filters.CharFilter(method="filter_feature")

    class Meta:
        model = FeatureRobustness
        fields = ["design", "form", "selection", "is_robust"]

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(feature_condition(value, "feature__"))


class FeatureValueFilter(patient_filters("extraction__patient")):
    feature = filters.CharFilter(
        method="filter_feature", help_text="Feature name or IBSI code."
    )
    value = filters.RangeFilter()
    family = filters.CharFilter(field_name="feature__family")
    software = filters.CharFilter(field_name="extraction__software")
    study = IdFilter(field_name="extraction__segmentation__series__study")
    segmentation = IdFilter(field_name="extraction__segmentation")
    robust = filters.ChoiceFilter(
        choices=FeatureRobustness.Design.choices,
        method="filter_robust",
        help_text="Keep only features marked robust by a stored result of this design "
        "(feature_robustness; any ICC form and extraction selection).",
    )

    class Meta:
        model = FeatureValue
        fields = ["extraction"]

    def filter_feature(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        # Resolved to ids first, so the database ranges over the (feature, value) index:
        features = FeatureDefinition.objects.filter(feature_condition(value))
        return queryset.filter(feature__in=features)

    def filter_robust(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        robust = FeatureRobustness.objects.filter(design=value, is_robust=True)
        return queryset.filter(feature__in=robust.values("feature"))


class RadiomicSignatureFilter(BoundedFilterSet):
    class Meta:
        model = RadiomicSignature
        fields = ["name"]


class SignatureScoreFilter(patient_filters("extraction__patient")):
    signature = filters.CharFilter(
        field_name="signature__name", help_text="Signature name."
    )
    label = filters.CharFilter(help_text="Signature label, e.g. high risk.")
    score = filters.RangeFilter()
    study = IdFilter(field_name="extraction__segmentation__series__study")
    computed_at = MomentRangeFilter()

    class Meta:
        model = SignatureScore
        fields = ["extraction"]


class BloodSampleFilter(patient_filters("patient")):
    drawn_at = MomentRangeFilter()
    drawn_on = filters.DateFromToRangeFilter()

    class Meta:
        model = BloodSample
        fields = ["timepoint", "tube_type", "is_time_known"]


class _SampleRecordFilters(patient_filters("sample__patient")):
    drawn_on = filters.DateFromToRangeFilter(field_name="sample__drawn_on")
    drawn_at = MomentRangeFilter(field_name="sample__drawn_at")


class CTCCountFilter(_SampleRecordFilters):
    count = filters.RangeFilter()
    count_per_7_5ml = filters.RangeFilter()

    class Meta:
        model = CTCCount
        fields = ["sample", "platform", "enrichment"]


class CfDNAAssayFilter(_SampleRecordFilters):
    cfdna_ng_per_ml = filters.RangeFilter()
    tumour_fraction = filters.RangeFilter()

    class Meta:
        model = CfDNAAssay
        fields = ["sample", "method", "panel"]


class CirculatingRNAResultFilter(_SampleRecordFilters):
    transcript = filters.CharFilter(lookup_expr="iexact")
    value = filters.RangeFilter()

    class Meta:
        model = CirculatingRNAResult
        fields = ["sample", "source", "method", "call"]


class VariantResultFilter(patient_filters("assay__sample__patient")):
    gene = filters.CharFilter(
        method="filter_gene",
        help_text="Gene symbol as stored or its current HGNC symbol (SEPT9 = SEPTIN9).",
    )
    variant = VariantChangeFilter(
        method="filter_variant",
        help_text="Protein change in any HGVS spelling (T790M, p.Thr790Met, "
        "p.(T790M)) of `gene` (of any gene without it), or a fusion "
        "(EML4::ALK, partner order kept).",
    )
    call = filters.MultipleChoiceFilter(
        choices=VariantResult.Call.choices, help_text="Repeat for any of several."
    )
    vaf = filters.RangeFilter(help_text="Variant allele fraction, 0..1.")
    drawn_on = filters.DateFromToRangeFilter(field_name="assay__sample__drawn_on")
    drawn_at = MomentRangeFilter(field_name="assay__sample__drawn_at")
    sample = IdFilter(field_name="assay__sample")

    class Meta:
        model = VariantResult
        fields = [
            "assay",
            "variant_type",
            "is_clonal_haematopoiesis",
            "is_germline",
            "is_seen_in_ctc",
        ]

    def filter_gene(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        return queryset.of_gene(value)

    def filter_variant(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        gene = self.form.cleaned_data.get("gene") or ""
        if gene or looks_like_fusion(value):
            return queryset.matching(gene, value)
        return queryset.filter(protein_change=parse_protein_change(value).canonical)
