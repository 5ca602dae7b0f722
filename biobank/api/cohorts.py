"""The synchronous cohort query as an API list, each pair with the records that admit it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from functools import cached_property

from django.db.models import F, Min, QuerySet
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from biobank.api.filters import feature_condition
from biobank.cohorts.forms import CohortForm
from biobank.cohorts.query import (
    CohortCriteria,
    PairMode,
    detected_variants,
    with_lab_sample_ids,
)
from biobank.exports.audit import export_projects, projects_named, record_export
from biobank.exports.dates import (
    DATES_PARAMETER,
    DateMode,
    Dater,
)
from biobank.exports.models import ExportRecord
from biobank.exports.records import read_dates
from liquidbiopsy.models import CTCCount
from liquidbiopsy.validation import looks_like_dbsnp_id, looks_like_genomic_change
from patients.models import CANCER_SUBTYPES_HELP, CancerType, Treatment
from radiomics.models import FeatureValue, ImageSeries

# Query parameters that are not filters of the cohort:
PAGE_PARAMETERS = {"page", "page_size", "format", DATES_PARAMETER}


class CohortEvidenceSerializer(serializers.Serializer):
    """Per filter given, the records of the pair that meet it."""

    series = serializers.ListField(child=serializers.DictField(), required=False)
    variants = serializers.ListField(child=serializers.DictField(), required=False)
    ctc_counts = serializers.ListField(child=serializers.DictField(), required=False)
    feature_values = serializers.ListField(
        child=serializers.DictField(), required=False
    )
    first_treatment_on = serializers.DateField(allow_null=True, required=False)


@extend_schema_field(CohortEvidenceSerializer)
class EvidenceField(serializers.DictField):
    """Evidence as built, so that a filter not given has no key (not a null)."""


class CohortPairSerializer(serializers.Serializer):
    """One imaging study paired with one blood draw; `days_apart` is draw minus study."""

    project_code = serializers.CharField()
    patient_pseudonym = serializers.CharField()
    study_id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    study_date = serializers.DateField()
    modalities = serializers.CharField()
    sample_id = serializers.IntegerField(
        help_text="The blood draw's database id (/api/blood-samples/<id>/)."
    )
    lab_sample_id = serializers.CharField(
        help_text="The draw's own identifier, given by the lab (the blood sample's "
        "external_sample_id, e.g. LB45707-01); empty when it has none. With shifted "
        "or relative dates, each date written in it reads [date] "
        "(CAIRO5_2021-03-04_T1 is CAIRO5_[date]_T1)."
    )
    drawn_at = serializers.DateTimeField()
    drawn_on = serializers.DateField()
    days_apart = serializers.IntegerField()
    abs_days_apart = serializers.IntegerField()
    evidence = EvidenceField()

    def to_representation(self, instance: dict) -> dict:
        # What Serializer.to_representation gives for a row of these keys, without its
        # look-up of each field through get_attribute (half the time of a page of 100):
        return {
            name: None if (value := instance[name]) is None else represent(value)
            for name, represent in self._representers
        }

    @cached_property
    def _representers(self) -> list[tuple[str, Callable]]:
        fields = list(self._readable_fields)
        for field in fields:
            if field.source_attrs != [field.field_name]:
                raise TypeError(f"{field.field_name} must read the key of its name.")
        return [(field.field_name, field.to_representation) for field in fields]


def _parameter(name: str, kind: OpenApiTypes, description: str, **extra):
    # A cohort filter's bounds are its form field's, which the server enforces:
    field = CohortForm.base_fields.get(name)
    bounds = {
        key: value
        for key, value in (
            ("minimum", getattr(field, "min_value", None)),
            ("maximum", getattr(field, "max_value", None)),
        )
        if value is not None
    }
    schema = {**build_basic_type(kind), **bounds} if bounds else kind
    return OpenApiParameter(name, schema, description=description, **extra)


COHORT_PARAMETERS = [
    _parameter("window_days", OpenApiTypes.INT, "Most days between study and draw, either way (default 30)."),
    _parameter("mode", OpenApiTypes.STR, "all: every draw in the window; nearest: the nearest per study among the draws that pass the filters.", enum=PairMode.values),
    _parameter("project", OpenApiTypes.STR, "Project code."),
    _parameter("cancer_type", OpenApiTypes.STR, f"OncoTree code. {CANCER_SUBTYPES_HELP}", enum=CancerType.values),
    _parameter("modality", OpenApiTypes.STR, "Modality of one of the study's series, e.g. CT."),
    _parameter("gene", OpenApiTypes.STR, "A detected cfDNA variant of this gene in the draw."),
    _parameter("variant", OpenApiTypes.STR, "Protein change of `gene` in any HGVS spelling, a fusion, or a genomic change as the pages show it (17:7578263 G>A) or gnomAD writes it (17-7578263-G-A), or HGVS on a chromosome (chr17:g.7578263G>A), which needs no gene; after it, its genome build (17:7578263 G>A hg19) when several are stored. An HGVS substitution on a RefSeq chromosome accession names its build itself: NC_000017.10 is GRCh37 (NC_000017.10:g.7578263G>A), NC_000017.11 GRCh38; an accession of another build or of no chromosome is a 400 naming the accepted ones. HGVS insertions and deletions are a 400 saying what to give instead. A dbSNP ID (rs121434569) finds the variants whose MAF (dbSNP_RS) or VCF (ID) gave it, of any gene. A change in a build no variant is stored in (positions are not lifted over), and a dbSNP ID that no variant you may read carries, are a 400 saying what is stored."),
    _parameter("min_ctc", OpenApiTypes.FLOAT, "CTCs per 7.5 mL in the draw, at least."),
    _parameter("feature", OpenApiTypes.STR, "Radiomic feature name or IBSI code with a value on the study."),
    _parameter("feature_min", OpenApiTypes.FLOAT, "Lowest value of the feature."),
    _parameter("feature_max", OpenApiTypes.FLOAT, "Highest value of the feature."),
    _parameter("before_treatment", OpenApiTypes.BOOL, "Only draws before the patient's first treatment."),
]  # fmt: skip
DATES_PARAMETERS = [
    _parameter(DATES_PARAMETER, OpenApiTypes.STR, "calendar dates, days from each patient's reference date, or dates shifted per patient; viewers get shifted by default and never calendar (docs/matrix.md).", enum=DateMode.values),
]  # fmt: skip


def read_date_mode(
    request: Request, pairs: QuerySet | list[dict], project_code: str
) -> tuple[DateMode, set[int | None]]:
    """Return the date mode of an export of `pairs`, and the projects of its rows.

    `pairs` is a query or the rows of one page, which then decide alone: a page
    exports only its rows, and asking the projects of every pair of the cohort
    would read them all.

    Raises ValidationError or PermissionDenied naming `dates` (read_dates).
    """
    if isinstance(pairs, list):
        codes = {row["project_code"] for row in pairs}
        projects = projects_named(request.user, codes, project_code)
    else:
        projects = export_projects(request.user, pairs, project_code)
    return read_dates(request, projects), projects


@extend_schema(parameters=COHORT_PARAMETERS + DATES_PARAMETERS)
class CohortPairViewSet(viewsets.GenericViewSet):
    """Imaging studies paired with blood draws of the same patient within a window.

    The filters are those of the cohort page (/cohorts/); every pair says which
    records met each filter, so a reviewer can see why a patient is in.
    """

    serializer_class = CohortPairSerializer
    filter_backends: list = []

    def cohort_form(self) -> CohortForm:
        form, errors = CohortForm.read_query(
            self.request.query_params, PAGE_PARAMETERS, self.request.user
        )
        if errors:
            raise ValidationError(errors)
        return form

    def criteria(self) -> CohortCriteria:
        return self.cohort_form().criteria()

    def get_queryset(self) -> QuerySet:
        return with_lab_sample_ids(self.cohort_form().pairs())

    def list(self, request: Request, format: str | None = None) -> Response:
        # NB: its statements cost what hand-written SQL's page and count cost (0.99x
        # to 1.13x at 100,000 patients), but the rest, Django and DRF building,
        # compiling and serialising (21 to 34 ms of CPU, spread over the ORM with no
        # single large part), puts a page whose SQL takes 40 to 80 ms at 1.5x to
        # 1.7x of it (BENCHMARKS.md, REST API).
        form = self.cohort_form()
        criteria = form.criteria()
        pairs = with_lab_sample_ids(form.pairs())
        page = self.paginate_queryset(pairs)
        mode, projects = read_date_mode(request, page, criteria.project)

        evidence = collect_evidence(criteria, page)
        for row in page:
            row["evidence"] = evidence(row)
        data = dated_rows(Dater(mode), self.get_serializer(page, many=True).data)
        record_export(
            request,
            ExportRecord.Kind.PAIRS_API,
            rows=len(page),
            definition={"query": form.stored_query()},
            fmt="json",
            date_mode=mode,
            projects=projects,
        )
        return self.get_paginated_response(data)


def dated_rows(dater: Dater, rows: list[dict]) -> list[dict]:
    """Return serialized rows, each naming its patient, with their dates in `dater`'s mode."""
    return [
        dater.row((row["project_code"], row["patient_pseudonym"]), row) for row in rows
    ]


def collect_evidence(criteria: CohortCriteria, rows: list[dict]):
    """Return a function giving each row the records that met each filter.

    One query per filter given, whatever the number of rows.
    """
    study_ids = {row["study_id"] for row in rows}
    sample_ids = {row["sample_id"] for row in rows}
    found: dict[str, dict] = {}

    if criteria.modality:
        series = ImageSeries.objects.filter(
            study__in=study_ids, modality=criteria.modality
        ).values("id", "study_id", "modality", "series_instance_uid")
        found["series"] = _group(series, "study_id")
    if criteria.gene or criteria.variant:
        names = ["gene", "protein_change", "fusion_5prime", "fusion_3prime"]
        if looks_like_genomic_change(criteria.variant):
            # Only then, so that the evidence frozen by saved cohorts before it
            # reads the same when they are run again:
            names += ["genomic_change", "genome_build"]
        elif looks_like_dbsnp_id(criteria.variant):
            names += ["dbsnp_id", "genomic_change", "genome_build"]
        variants = (
            detected_variants(criteria.gene, criteria.variant)
            .filter(assay__sample__in=sample_ids)
            .values("id", *names, "vaf", "call", sample_id=F("assay__sample_id"))
        )
        found["variants"] = _group(variants, "sample_id")
    if criteria.min_ctc_per_7_5ml is not None:
        counts = CTCCount.objects.filter(
            sample__in=sample_ids, count_per_7_5ml__gte=criteria.min_ctc_per_7_5ml
        ).values("id", "sample_id", "platform", "count", "count_per_7_5ml")
        found["ctc_counts"] = _group(counts, "sample_id")
    if criteria.feature:
        values = FeatureValue.objects.filter(
            feature_condition(criteria.feature, "feature__"),
            extraction__segmentation__series__study__in=study_ids,
        )
        if criteria.modality:
            # As the filter: only values of series of the modality asked for.
            values = values.filter(
                extraction__segmentation__series__modality=criteria.modality
            )
        if criteria.feature_min is not None:
            values = values.filter(value__gte=criteria.feature_min)
        if criteria.feature_max is not None:
            values = values.filter(value__lte=criteria.feature_max)
        values = values.values(
            "id",
            "value",
            "extraction_id",
            feature_name=F("feature__name"),
            segmentation_id=F("extraction__segmentation_id"),
            study_id=F("extraction__segmentation__series__study_id"),
        )
        found["feature_values"] = _group(values, "study_id")
    if criteria.before_first_treatment:
        first = (
            Treatment.objects.filter(patient__imaging_studies__in=study_ids)
            .values(study_id=F("patient__imaging_studies"))
            .annotate(first_on=Min("started_on"))
        )
        found["first_treatment_on"] = {
            row["study_id"]: row["first_on"] for row in first
        }

    def evidence(row: dict) -> dict:
        key_of = {
            "series": row["study_id"],
            "variants": row["sample_id"],
            "ctc_counts": row["sample_id"],
            "feature_values": row["study_id"],
            "first_treatment_on": row["study_id"],
        }
        return {
            name: records.get(
                key_of[name], None if name == "first_treatment_on" else []
            )
            for name, records in found.items()
        }

    return evidence


def _group(rows, key: str) -> dict[int, list[dict]]:
    grouped: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row.pop(key)].append(row)
    return grouped
