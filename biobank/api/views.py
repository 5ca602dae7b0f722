"""Viewsets of every record type, a patient's timeline and a study in full.

Curators create and change the records kept by hand (patients, their clinical facts,
blood draws and what was measured in them); imaging and radiomics records come from
DICOM ingest and feature extraction only, so their viewsets stay read-only.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import Model, Prefetch, QuerySet
from django.http import Http404
from django.template import engines
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularRedocView
from rest_framework import mixins, viewsets
from rest_framework import serializers as drf_serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.renderers import TemplateHTMLRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from biobank.api import filters, serializers
from biobank.api.access import CURATE, MANAGE, visible_to
from biobank.api.pagination import CursorPagination
from biobank.api.permissions import ProjectRoleWrites
from biobank.api.timeline import patient_timeline
from biobank.exports.records import DatedRecordsMixin
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import ClinicalEvent, Consent, Patient, Project, Treatment
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
    SignatureTerm,
)


class RecordViewSet(DatedRecordsMixin, viewsets.ReadOnlyModelViewSet):
    """List and read one kind of record; every queryset passes through `visible_to`.

    `project_path` leads from the model to its Project, None for shared records.
    """

    project_path: str | None = None

    def get_queryset(self) -> QuerySet:
        return visible_to(self.request.user, super().get_queryset(), self.project_path)


class CuratedRecordViewSet(
    mixins.CreateModelMixin, mixins.UpdateModelMixin, RecordViewSet
):
    """Records curators also create (POST) and change (PUT, PATCH) by hand.

    Writing needs `write_action` in the record's project (ProjectRoleWrites); a
    database refusal becomes a 400 naming the field, and simple-history records who
    wrote.
    """

    permission_classes = [ProjectRoleWrites]
    write_action = CURATE

    def perform_create(self, serializer: drf_serializers.BaseSerializer) -> None:
        self.save_or_explain(serializer)

    def perform_update(self, serializer: drf_serializers.BaseSerializer) -> None:
        self.save_or_explain(serializer)

    def save_or_explain(self, serializer: drf_serializers.BaseSerializer) -> None:
        model = serializer.Meta.model
        try:
            with transaction.atomic():
                serializer.save()
        except IntegrityError as exc:
            raise ValidationError(serializers.integrity_errors(exc, model)) from None


class DeletableRecordViewSet(mixins.DestroyModelMixin, CuratedRecordViewSet):
    """Records that hold no others, so that a curator may delete one entered by mistake.

    Deleting needs the same role as changing; the history keeps the record and who
    deleted it.
    """

    def perform_destroy(self, instance: Model) -> None:
        instance._change_reason = "API"
        instance.delete()


class ProjectViewSet(RecordViewSet):
    queryset = Project.objects.all()
    serializer_class = serializers.ProjectSerializer
    filterset_class = filters.ProjectFilter
    ordering_fields = ["code", "created_at"]
    project_path = ""


@extend_schema_view(
    retrieve=extend_schema(
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="Patient id or pseudonym.",
            ),
            OpenApiParameter(
                "project",
                OpenApiTypes.STR,
                description="Project code, when a pseudonym exists in several.",
            ),
        ]
    )
)
class PatientViewSet(CuratedRecordViewSet):
    """Patients, found by id or by pseudonym (with ?project=code if it is ambiguous)."""

    queryset = Patient.objects.select_related("project")
    serializer_class = serializers.PatientSerializer
    filterset_class = filters.PatientFilter
    ordering_fields = ["pseudonym", "diagnosis_on", "birth_year", "created_at", "id"]
    lookup_value_regex = "[^/]+"
    project_path = "project"

    def get_object(self) -> Patient:
        lookup = self.kwargs["pk"]
        patients = self.get_queryset()
        if lookup.isdigit():
            patient = patients.filter(pk=int(lookup)).first()
            if patient is not None:
                self.check_object_permissions(self.request, patient)
                return patient

        matches = patients.filter(pseudonym=lookup)
        project = self.request.query_params.get("project")
        if project:
            matches = matches.filter(project__code=project)
        found = list(matches[:2])
        if not found:
            raise Http404("No patient has this id or pseudonym.")
        if len(found) > 1:
            raise ValidationError(
                {
                    "project": f"Pseudonym {lookup} exists in several projects; "
                    "add ?project=<code>."
                }
            )
        self.check_object_permissions(self.request, found[0])
        return found[0]

    @extend_schema(
        responses=serializers.TimelineSerializer,
        parameters=[
            OpenApiParameter(
                "id",
                OpenApiTypes.STR,
                OpenApiParameter.PATH,
                description="Patient id or pseudonym.",
            ),
            OpenApiParameter(
                "project",
                OpenApiTypes.STR,
                description="Project code, when a pseudonym exists in several.",
            ),
        ],
        filters=False,
    )
    @action(detail=True, filterset_class=None, pagination_class=None)
    def timeline(
        self, request: Request, pk: str | None = None, format: str | None = None
    ) -> Response:
        """Every dated record of the patient in date order, each with its kind."""
        patient = self.get_object()
        data = serializers.TimelineSerializer(patient_timeline(patient)).data
        return Response(self.dated_patient_data(request, patient, data))


class ConsentViewSet(DeletableRecordViewSet):
    queryset = Consent.objects.select_related("patient__project")
    serializer_class = serializers.ConsentSerializer
    filterset_class = filters.ConsentFilter
    ordering_fields = ["given_on", "withdrawn_on", "id"]
    project_path = "patient__project"
    write_action = MANAGE  # consent is the project manager's


class TreatmentViewSet(DeletableRecordViewSet):
    queryset = Treatment.objects.select_related("patient__project")
    serializer_class = serializers.TreatmentSerializer
    filterset_class = filters.TreatmentFilter
    ordering_fields = ["started_on", "ended_on", "line", "id"]
    project_path = "patient__project"


class ClinicalEventViewSet(DeletableRecordViewSet):
    queryset = ClinicalEvent.objects.select_related("patient__project")
    serializer_class = serializers.ClinicalEventSerializer
    filterset_class = filters.ClinicalEventFilter
    ordering_fields = ["occurred_on", "kind", "id"]
    project_path = "patient__project"


class ImagingStudyViewSet(RecordViewSet):
    """Studies; one study's page holds its series, segmentations and feature values."""

    queryset = ImagingStudy.objects.select_related("patient__project")
    serializer_class = serializers.ImagingStudySerializer
    filterset_class = filters.ImagingStudyFilter
    ordering_fields = ["study_date", "created_at", "id"]
    project_path = "patient__project"

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        if self.action != "retrieve":
            return queryset
        values = FeatureValue.objects.select_related("feature").order_by(
            "feature__name"
        )
        return queryset.prefetch_related(
            "series__segmentations__extractions",
            Prefetch("series__segmentations__extractions__values", queryset=values),
        )

    def get_serializer_class(self) -> type[drf_serializers.BaseSerializer]:
        if self.action == "retrieve":
            return serializers.ImagingStudyDetailSerializer
        return serializers.ImagingStudySerializer


class ImageSeriesViewSet(RecordViewSet):
    queryset = ImageSeries.objects.select_related("study__patient__project")
    serializer_class = serializers.ImageSeriesSerializer
    filterset_class = filters.ImageSeriesFilter
    ordering_fields = ["series_date", "series_number", "slice_thickness_mm", "id"]
    project_path = "study__patient__project"


class SegmentationViewSet(RecordViewSet):
    queryset = Segmentation.objects.select_related("series__study__patient__project")
    serializer_class = serializers.SegmentationSerializer
    filterset_class = filters.SegmentationFilter
    ordering_fields = ["roi_name", "created_at", "id"]
    project_path = "series__study__patient__project"


class FeatureExtractionViewSet(RecordViewSet):
    queryset = FeatureExtraction.objects.select_related("patient__project")
    serializer_class = serializers.FeatureExtractionSerializer
    filterset_class = filters.FeatureExtractionFilter
    ordering_fields = ["created_at", "finished_at", "id"]
    project_path = "patient__project"


class FeatureDefinitionViewSet(RecordViewSet):
    queryset = FeatureDefinition.objects.all()
    serializer_class = serializers.FeatureDefinitionSerializer
    filterset_class = filters.FeatureDefinitionFilter
    ordering_fields = ["name", "family", "ibsi_code", "id"]


class FeatureRobustnessViewSet(RecordViewSet):
    queryset = FeatureRobustness.objects.select_related("feature")
    serializer_class = serializers.FeatureRobustnessSerializer
    filterset_class = filters.FeatureRobustnessFilter
    ordering_fields = ["icc", "ci_low", "id"]


class FeatureValueViewSet(RecordViewSet):
    """Feature values, one per row, in cursor pages (see docs/api.md)."""

    queryset = FeatureValue.objects.select_related(
        "feature", "extraction__patient__project"
    )
    serializer_class = serializers.FeatureValueSerializer
    filterset_class = filters.FeatureValueFilter
    pagination_class = CursorPagination
    # NB: cursor pages need one fixed, unique order; id follows insertion.
    ordering_fields = ["id"]
    project_path = "extraction__patient__project"


class RadiomicSignatureViewSet(RecordViewSet):
    queryset = RadiomicSignature.objects.prefetch_related(
        Prefetch("terms", queryset=SignatureTerm.objects.select_related("feature"))
    ).order_by("name")
    serializer_class = serializers.RadiomicSignatureSerializer
    filterset_class = filters.RadiomicSignatureFilter
    ordering_fields = ["name", "id"]


class SignatureScoreViewSet(RecordViewSet):
    queryset = SignatureScore.objects.select_related(
        "signature", "extraction__patient__project"
    ).order_by("id")
    serializer_class = serializers.SignatureScoreSerializer
    filterset_class = filters.SignatureScoreFilter
    ordering_fields = ["score", "computed_at", "id"]
    project_path = "extraction__patient__project"


class BloodSampleViewSet(CuratedRecordViewSet):
    queryset = BloodSample.objects.select_related("patient__project")
    serializer_class = serializers.BloodSampleSerializer
    filterset_class = filters.BloodSampleFilter
    ordering_fields = ["drawn_at", "created_at", "id"]
    project_path = "patient__project"


class CTCCountViewSet(DeletableRecordViewSet):
    queryset = CTCCount.objects.select_related("sample__patient__project").order_by(
        "id"
    )
    serializer_class = serializers.CTCCountSerializer
    filterset_class = filters.CTCCountFilter
    ordering_fields = ["count", "count_per_7_5ml", "sample__drawn_at", "id"]
    project_path = "sample__patient__project"


class CfDNAAssayViewSet(CuratedRecordViewSet):
    queryset = CfDNAAssay.objects.select_related("sample__patient__project").order_by(
        "id"
    )
    serializer_class = serializers.CfDNAAssaySerializer
    filterset_class = filters.CfDNAAssayFilter
    ordering_fields = ["cfdna_ng_per_ml", "tumour_fraction", "sample__drawn_at", "id"]
    project_path = "sample__patient__project"


class CirculatingRNAResultViewSet(DeletableRecordViewSet):
    queryset = CirculatingRNAResult.objects.select_related(
        "sample__patient__project"
    ).order_by("id")
    serializer_class = serializers.CirculatingRNAResultSerializer
    filterset_class = filters.CirculatingRNAResultFilter
    ordering_fields = ["value", "sample__drawn_at", "id"]
    project_path = "sample__patient__project"


class VariantResultViewSet(DeletableRecordViewSet):
    """Variant results in cursor pages (see docs/api.md)."""

    queryset = VariantResult.objects.select_related("assay__sample__patient__project")
    serializer_class = serializers.VariantResultSerializer
    filterset_class = filters.VariantResultFilter
    pagination_class = CursorPagination
    ordering_fields = ["id"]
    project_path = "assay__sample__patient__project"


# Redoc's page, less the web fonts drf-spectacular's template fetches from Google, so
# that it works offline (the scripts come from drf-spectacular-sidecar):
OFFLINE_REDOC_PAGE = engines["django"].from_string(
    """{% extends "drf_spectacular/redoc.html" %}
{% block head %}
<title>{{ title|default:"Redoc" }}</title>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; padding: 0; }</style>
{% endblock head %}"""
)


class OfflineRedocRenderer(TemplateHTMLRenderer):
    def resolve_template(self, template_names):
        return OFFLINE_REDOC_PAGE


# NB: Redoc's standalone script loads its logo from cdn.redoc.ly and has no option to
# stop it (Redocly/redoc#2108); this policy keeps the browser on our own host.
OFFLINE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; "
    "connect-src 'self'; font-src 'self' data:"
)


class OfflineRedocView(SpectacularRedocView):
    renderer_classes = [OfflineRedocRenderer]

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Content-Security-Policy"] = OFFLINE_POLICY
        return response


class SignInThrottle(AnonRateThrottle):
    """Few token requests per client address: guessing passwords takes forever.

    NB: the counts live in the process's cache (Django's local-memory default), so
    each web process counts alone; with several nodes, give CACHES a shared Redis.
    """

    scope = "sign-in"


class ThrottledObtainAuthToken(ObtainAuthToken):
    throttle_classes = [SignInThrottle]
