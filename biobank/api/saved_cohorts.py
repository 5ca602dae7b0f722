"""Saved cohorts in the API: definitions, their frozen versions, matrices and diffs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pandas as pd
import pyarrow.parquet as pq
from django.db.models import Prefetch, QuerySet
from django.http import FileResponse, Http404, StreamingHttpResponse
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from biobank.api.cohorts import COHORT_PARAMETERS, DATES_PARAMETERS, dated_rows
from biobank.api.serializers import RefusesUnknownFields
from biobank.cohorts import saved
from biobank.cohorts.matrix import CONTENT_TYPES, JSON_LINES, stream_matrix
from biobank.cohorts.models import CohortMember, CohortVersion, SavedCohort
from biobank.core.validation import InvalidValue
from biobank.exports.audit import (
    AuditedStream,
    RowCounter,
    record_export,
    start_export,
)
from biobank.exports.dates import VIEWER_DEFAULT, DateMode, Dater, may_see_calendar
from biobank.exports.models import ExportRecord
from biobank.exports.records import read_dates

MATRIX_FORMATS = ("parquet", "csv", *JSON_LINES)
# Rows read from the frozen Parquet file at a time when it is served as CSV or JSON:
BATCH_ROWS = 10_000


class MatrixDamaged(APIException):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    default_code = "frozen_matrix_damaged"


# The filters, typed as /api/cohort-pairs/ documents them (for the schema only: the
# cohort form validates them, with the same messages as the query endpoint):
def _query_field(parameter: OpenApiParameter) -> serializers.Field:
    schema = parameter.type
    if not isinstance(schema, dict):
        schema = build_basic_type(schema)
    field = {
        "integer": serializers.IntegerField,
        "number": serializers.FloatField,
        "boolean": serializers.BooleanField,
    }.get(schema["type"], serializers.CharField)
    bounds = {
        name: schema[key]
        for name, key in (("min_value", "minimum"), ("max_value", "maximum"))
        if key in schema
    }
    return field(required=False, help_text=parameter.description, **bounds)


CohortQuerySchema = inline_serializer(
    "CohortQuery",
    {parameter.name: _query_field(parameter) for parameter in COHORT_PARAMETERS},
)


@extend_schema_field(CohortQuerySchema)
class CohortQueryField(serializers.JSONField):
    """The cohort filters as an object, validated by the cohort form."""


@extend_schema_field(OpenApiTypes.OBJECT)
class MatrixSpecField(serializers.JSONField):
    """Which columns the frozen matrix holds (see docs/saved_cohorts.md)."""


class SavedCohortCreateSerializer(RefusesUnknownFields, serializers.Serializer):
    field_hints: ClassVar[dict[str, str]] = {
        "project": "Leave project out here: a cohort's project is one of its "
        'filters, given in its query, e.g. {"query": {"project": "demo"}}.',
    }

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(
        max_length=10_000, allow_blank=True, required=False, default=""
    )
    query = CohortQueryField(
        required=False,
        default=dict,
        help_text='Filters of /api/cohort-pairs/, e.g. {"gene": "EGFR", "window_days": 14}.',
    )
    matrix = MatrixSpecField(required=False, default=dict)

    def validate_name(self, name: str) -> str:
        try:
            saved.check_cohort_name(name)
        except InvalidValue as exc:
            raise serializers.ValidationError(str(exc)) from None
        author = self.context["request"].user
        if SavedCohort.objects.filter(author=author, name=name).exists():
            raise serializers.ValidationError(
                "You have a saved cohort of this name already; choose another name."
            )
        return name

    def validate_description(self, text: str) -> str:
        try:
            return saved.check_cohort_description(text)
        except InvalidValue as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, data: dict) -> dict:
        try:
            data["definition"] = saved.validate_definition(
                {"query": data["query"], "matrix": data["matrix"]},
                user=self.context["request"].user,
            )
        except saved.DefinitionInvalid as invalid:
            raise ValidationError(invalid.errors) from invalid
        return data


class VersionSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.get_username")

    class Meta:
        model = CohortVersion
        fields = [
            "number",
            "created_at",
            "created_by",
            "pair_count",
            "patient_count",
            "study_count",
            "sample_count",
            "matrix_sha256",
            "matrix_bytes",
            "changes",
        ]


class VersionDetailSerializer(VersionSerializer):
    cohort = serializers.IntegerField(source="cohort_id")

    class Meta(VersionSerializer.Meta):
        fields = [
            "cohort",
            *VersionSerializer.Meta.fields,
            "definition",
            "matrix_columns",
            "software",
        ]


class SavedCohortSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.get_username")
    project = serializers.CharField(source="project.code", allow_null=True)
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = SavedCohort
        fields = [
            "id",
            "name",
            "description",
            "author",
            "project",
            "definition",
            "created_at",
            "checked_at",
            "latest_version",
        ]

    @extend_schema_field(VersionSerializer)
    def get_latest_version(self, cohort: SavedCohort) -> dict:
        # The prefetched versions, in number order; every saved cohort has one:
        versions = list(cohort.versions.all())
        return VersionSerializer(versions[-1]).data


class SavedCohortDetailSerializer(SavedCohortSerializer):
    versions = VersionSerializer(many=True)

    class Meta(SavedCohortSerializer.Meta):
        fields = [*SavedCohortSerializer.Meta.fields, "versions"]


class MemberSerializer(serializers.ModelSerializer):
    study_id = serializers.IntegerField(source="study_pk")
    sample_id = serializers.IntegerField(source="sample_pk")
    is_study_deleted = serializers.SerializerMethodField()
    is_sample_deleted = serializers.SerializerMethodField()

    class Meta:
        model = CohortMember
        fields = [
            "position",
            "project_code",
            "patient_pseudonym",
            "study_id",
            "study_instance_uid",
            "study_date",
            "modalities",
            "sample_id",
            "drawn_at",
            "drawn_on",
            "days_apart",
            "evidence",
            "is_study_deleted",
            "is_sample_deleted",
        ]

    def get_is_study_deleted(self, member: CohortMember) -> bool:
        return member.study_id is None

    def get_is_sample_deleted(self, member: CohortMember) -> bool:
        return member.sample_id is None


class DiffPairSerializer(serializers.Serializer):
    patient_pseudonym = serializers.CharField()
    study_id = serializers.IntegerField()
    study_instance_uid = serializers.CharField()
    study_date = serializers.DateField()
    sample_id = serializers.IntegerField()
    drawn_at = serializers.DateTimeField()


class ChangedValueSerializer(DiffPairSerializer):
    column = serializers.CharField()
    old = serializers.JSONField(allow_null=True)
    new = serializers.JSONField(allow_null=True)


class DiffSerializer(serializers.Serializer):
    """What changed from one version to another (schema of a computed answer)."""

    from_version = serializers.IntegerField()
    to_version = serializers.IntegerField()
    pairs_added = DiffPairSerializer(many=True)
    pairs_removed = DiffPairSerializer(many=True)
    values_changed = ChangedValueSerializer(many=True)
    columns_added = serializers.ListField(child=serializers.CharField())
    columns_removed = serializers.ListField(child=serializers.CharField())
    counts = serializers.DictField(child=serializers.IntegerField())


class RerunSerializer(serializers.Serializer):
    is_new = serializers.BooleanField()
    version = VersionDetailSerializer()
    diff = DiffSerializer()


VERSION_NUMBER = r"(?P<number>[0-9]{1,9})"
VERSION_PARAMETER = OpenApiParameter(
    "number",
    OpenApiTypes.INT,
    OpenApiParameter.PATH,
    description="Version number, from 1.",
)
ID_PARAMETER = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Saved cohort id."
)


@extend_schema_view(
    retrieve=extend_schema(parameters=[ID_PARAMETER]),
    rerun=extend_schema(parameters=[ID_PARAMETER]),
    versions=extend_schema(parameters=[ID_PARAMETER]),
    version=extend_schema(parameters=[ID_PARAMETER, VERSION_PARAMETER]),
    members=extend_schema(parameters=[ID_PARAMETER, VERSION_PARAMETER]),
    matrix=extend_schema(parameters=[ID_PARAMETER, VERSION_PARAMETER]),
    diff=extend_schema(parameters=[ID_PARAMETER]),
)
@extend_schema(tags=["saved-cohorts"])
class SavedCohortViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Cohort definitions with their author, and the frozen versions of their result.

    Saving freezes version 1 at once: its pairs with their evidence, and its matrix
    as a Parquet file whose SHA-256 is checked whenever it is served. Versions never
    change; re-running the definition adds the next one if anything changed.
    """

    filter_backends: list = []
    lookup_value_regex = "[0-9]{1,18}"

    def get_queryset(self) -> QuerySet:
        versions = CohortVersion.objects.select_related("created_by").order_by("number")
        cohorts = SavedCohort.objects.select_related(
            "author", "project"
        ).prefetch_related(Prefetch("versions", queryset=versions))
        return saved.visible_cohorts(self.request.user, cohorts)

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.action == "create":
            return SavedCohortCreateSerializer
        if self.action == "list":
            return SavedCohortSerializer
        return SavedCohortDetailSerializer

    def perform_content_negotiation(self, request: Request, force: bool = False):
        # NB: ?format= picks the matrix format here, not a DRF renderer; errors are JSON.
        if self.action == "matrix":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @extend_schema(
        request=SavedCohortCreateSerializer,
        responses={201: SavedCohortDetailSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data

        cohort = saved.save_cohort(
            name=data["name"],
            description=data["description"],
            definition=data["definition"],
            author=request.user,
        )
        cohort = self.get_queryset().get(pk=cohort.pk)
        return Response(
            SavedCohortDetailSerializer(cohort).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=None,
        responses={201: RerunSerializer, 200: RerunSerializer},
        description="Run the definition again: 201 with the new version and what changed, or 200 with the latest version when nothing changed.",
    )
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str) -> Response:
        cohort = self.get_object()
        if not saved.may_rerun(request.user, cohort):
            raise PermissionDenied(
                "Only the author or a curator re-runs a saved cohort."
            )

        # The dates of the diff, decided before anything is stored:
        mode, _ = self.date_mode(cohort.versions.latest("number"))
        try:
            result = saved.rerun_cohort(cohort, request.user)
        except saved.DefinitionInvalid as invalid:
            raise ValidationError(
                {
                    "definition": invalid.errors,
                    "detail": "The saved definition no longer validates; save a corrected cohort.",
                }
            ) from invalid
        except saved.FrozenMatrixDamaged as damaged:
            raise MatrixDamaged(str(damaged)) from damaged

        diff = result.diff
        older = cohort.versions.get(number=diff["from_version"])
        if result.is_new and not may_see_calendar(
            request.user, saved.frozen_projects(older, result.version)
        ):
            # The new pairs may be of a project the caller only views:
            mode = VIEWER_DEFAULT if mode == DateMode.CALENDAR else mode
        if result.is_new and mode != DateMode.CALENDAR:
            # Compared again in the caller's dates, as the diff endpoint answers:
            try:
                diff = saved.diff_versions(older, result.version, Dater(mode))
            except saved.FrozenMatrixDamaged as damaged:
                raise MatrixDamaged(str(damaged)) from damaged
        return Response(
            {
                "is_new": result.is_new,
                "version": VersionDetailSerializer(result.version).data,
                "diff": diff,
            },
            status=status.HTTP_201_CREATED if result.is_new else status.HTTP_200_OK,
        )

    @extend_schema(responses=VersionSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def versions(self, request: Request, pk: str) -> Response:
        cohort = self.get_object()
        return Response(VersionSerializer(cohort.versions.all(), many=True).data)

    @extend_schema(responses=VersionDetailSerializer)
    @action(detail=True, methods=["get"], url_path=f"versions/{VERSION_NUMBER}")
    def version(self, request: Request, pk: str, number: str) -> Response:
        return Response(VersionDetailSerializer(self.get_version(number)).data)

    @extend_schema(parameters=DATES_PARAMETERS, responses=MemberSerializer(many=True))
    @action(detail=True, methods=["get"], url_path=f"versions/{VERSION_NUMBER}/members")
    def members(self, request: Request, pk: str, number: str) -> Response:
        version = self.get_version(number)
        mode, projects = self.date_mode(version)

        page = self.paginate_queryset(version.members.order_by("position"))
        data = dated_rows(Dater(mode), MemberSerializer(page, many=True).data)
        record_export(
            request,
            ExportRecord.Kind.SAVED_MEMBERS,
            rows=len(page),
            definition=self.version_definition(version),
            fmt="json",
            date_mode=mode,
            projects=projects,
        )
        return self.get_paginated_response(data)

    def date_mode(self, *versions: CohortVersion) -> tuple[DateMode, set[int | None]]:
        """Return the date mode of rows of `versions`, and the projects they froze.

        The projects the rows were frozen in decide, whether the caller still reads
        them or not (saved.frozen_projects): an author who lost the role gets the
        dates of a viewer. Raises ValidationError or PermissionDenied naming `dates`.
        """
        projects = saved.frozen_projects(*versions)
        return read_dates(self.request, projects), projects

    @staticmethod
    def version_definition(version: CohortVersion) -> dict:
        return {
            "saved_cohort": version.cohort_id,
            "version": version.number,
            **version.definition,
        }

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=MATRIX_FORMATS,
                description="parquet (default; the frozen file itself), csv, or jsonl or json (both JSON Lines).",
            ),
            *DATES_PARAMETERS,
        ],
        responses={
            (200, "application/vnd.apache.parquet"): OpenApiResponse(
                OpenApiTypes.BINARY
            ),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR),
            (200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR),
        },
    )
    @action(detail=True, methods=["get"], url_path=f"versions/{VERSION_NUMBER}/matrix")
    def matrix(self, request: Request, pk: str, number: str):
        chosen = request.query_params.get("format", "parquet")
        if chosen not in MATRIX_FORMATS:
            raise ValidationError(
                {"format": [f"Format must be one of {', '.join(MATRIX_FORMATS)}."]}
            )
        version = self.get_version(number)
        try:
            path = saved.frozen_matrix_path(version)
        except saved.FrozenMatrixDamaged as damaged:
            raise MatrixDamaged(str(damaged)) from damaged

        mode, projects = self.date_mode(version)
        record = start_export(
            request,
            ExportRecord.Kind.SAVED_MATRIX,
            definition=self.version_definition(version),
            fmt=chosen,
            date_mode=mode,
            projects=projects,
        )
        counter = RowCounter()

        name = f"cohort-{version.cohort_id}-v{version.number}"
        if chosen == "parquet" and mode == DateMode.CALENDAR:
            response = FileResponse(
                path.open("rb"),
                as_attachment=True,
                filename=f"{name}.parquet",
                content_type=CONTENT_TYPES["parquet"],
            )
            # The file's rows count once its last byte is handed out:
            blocks = counter.whole(response.streaming_content, version.pair_count)
            response.streaming_content = AuditedStream(blocks, record, counter)
            return response
        dater = Dater(mode)
        frames = counter.frames(dater.frame(frame) for frame in _frames(path))
        response = StreamingHttpResponse(
            AuditedStream(stream_matrix(frames, chosen), record, counter),
            content_type=CONTENT_TYPES[chosen],
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.{chosen}"'
        return response

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "from",
                OpenApiTypes.INT,
                description="Older version (default: the one before `to`).",
            ),
            OpenApiParameter(
                "to",
                OpenApiTypes.INT,
                description="Newer version (default: the latest).",
            ),
            *DATES_PARAMETERS,
        ],
        responses=DiffSerializer,
    )
    @action(detail=True, methods=["get"])
    def diff(self, request: Request, pk: str) -> Response:
        cohort = self.get_object()
        numbers = [version.number for version in cohort.versions.all()]
        newer = self.version_number(request, "to", default=numbers[-1], numbers=numbers)
        older = self.version_number(
            request, "from", default=max(newer - 1, 1), numbers=numbers
        )

        versions = {v.number: v for v in cohort.versions.all()}
        # The rows of both versions decide: a removed pair shows its dates too.
        mode, _ = self.date_mode(versions[older], versions[newer])
        try:
            diff = saved.diff_versions(versions[older], versions[newer], Dater(mode))
        except saved.FrozenMatrixDamaged as damaged:
            raise MatrixDamaged(str(damaged)) from damaged
        return Response(diff)

    def get_version(self, number: str) -> CohortVersion:
        cohort = self.get_object()
        for version in cohort.versions.all():
            if version.number == int(number):
                return version
        raise Http404(f"Saved cohort {cohort.pk} has no version {number}.")

    @staticmethod
    def version_number(
        request: Request, name: str, default: int, numbers: list[int]
    ) -> int:
        text = request.query_params.get(name)
        if text is None:
            return default
        if not text.isdigit() or int(text) not in numbers:
            raise ValidationError(
                {name: [f"Give a version number of this cohort, 1 to {numbers[-1]}."]}
            )
        return int(text)


def _frames(path: Path) -> Iterator[pd.DataFrame]:
    # Batches of the frozen file, with the dtypes it was written with:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS):
        yield batch.to_pandas()
