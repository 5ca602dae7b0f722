"""The multi-omic matrix of a cohort as a streamed CSV, JSON Lines or Parquet download."""

from __future__ import annotations

from types import SimpleNamespace

from django.contrib.auth.base_user import AbstractBaseUser
from django.http import QueryDict, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics
from rest_framework.exceptions import NotAcceptable, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request

from biobank.api.cohorts import COHORT_PARAMETERS, DATES_PARAMETERS, read_date_mode
from biobank.api.vocabulary import SCHEMA_NOTE
from biobank.cohorts.forms import CohortForm
from biobank.cohorts.matrix import (
    CONTENT_TYPES,
    FORMATS,
    LIST_FIELDS,
    ROBUST_DESIGNS,
    MatrixSpec,
    MatrixSpecError,
    check_spec,
    iter_matrix_frames,
    matrix_filename,
    resolve_layout,
    stream_matrix,
)
from biobank.exports.audit import AuditedStream, RowCounter, start_export
from biobank.exports.dates import DATES_PARAMETER, Dater
from biobank.exports.models import ExportRecord

# Query parameters of the matrix itself, beside the cohort filters:
SPEC_PARAMETERS = set(MatrixSpec.__dataclass_fields__)
FORMAT_PARAMETER = "format"
# A longer list is a mistake, and would make one very long SQL condition:
MOST_LIST_ITEMS = 2000


class MatrixNegotiation(DefaultContentNegotiation):
    """Negotiation that leaves ?format= to the matrix, where it names the file format.

    Errors are rendered as JSON even when the client accepts only the file's type.
    """

    settings = SimpleNamespace(URL_FORMAT_OVERRIDE=None)

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type


def _parameter(name: str, kind: OpenApiTypes, description: str, **extra):
    return OpenApiParameter(name, kind, description=description, **extra)


MATRIX_PARAMETERS = [
    _parameter("features", OpenApiTypes.STR, "Comma-separated feature names or IBSI codes, or * for every feature; none by default."),
    _parameter("robust", OpenApiTypes.STR, "Keep only the features marked robust by a stored result of this design.", enum=[design for design in ROBUST_DESIGNS if design]),
    _parameter("genes", OpenApiTypes.STR, f"Comma-separated gene symbols; by default every gene with a result in the cohort's draws. {SCHEMA_NOTE}"),
    _parameter("signatures", OpenApiTypes.STR, "Comma-separated signature names; by default every signature."),
    _parameter("software", OpenApiTypes.STR, "Use only extractions of this engine, e.g. pyradiomics."),
    _parameter("preset", OpenApiTypes.STR, "Use only extractions of this parameter preset."),
    _parameter("extraction_modality", OpenApiTypes.STR, "Use only extractions of series of this modality, e.g. CT; by default the modality filter's, else any."),
    _parameter("ctc_platform", OpenApiTypes.STR, "Use the CTC count of this platform; by default the first recorded."),
    _parameter(FORMAT_PARAMETER, OpenApiTypes.STR, "File format (default csv); jsonl and json both give JSON Lines.", enum=list(FORMATS)),
]  # fmt: skip


def read_request(
    query: QueryDict, user: AbstractBaseUser | None
) -> tuple[CohortForm, MatrixSpec, str]:
    """Return the valid cohort form, matrix spec and file format of a query string.

    Raises
    ------
    ValidationError
        Naming every bad or unknown parameter.
    """
    form, errors = CohortForm.read_query(
        query, SPEC_PARAMETERS | {FORMAT_PARAMETER, DATES_PARAMETER}, user
    )

    fmt = query.get(FORMAT_PARAMETER, "csv") or "csv"
    if fmt not in FORMATS:
        errors[FORMAT_PARAMETER] = [f"Format must be one of {', '.join(FORMATS)}."]

    spec = None
    try:
        spec = MatrixSpec.from_params(_spec_parameters(query))
        check_spec(spec, user)
    except MatrixSpecError as error:
        errors[error.field] = [error.message]

    if errors or spec is None:
        raise ValidationError(errors)
    return form, spec, fmt


def _spec_parameters(query: QueryDict) -> dict[str, str]:
    """Return the matrix parameters; a repeated list parameter adds to the list."""
    given = {}
    for name in SPEC_PARAMETERS & set(query):
        values = query.getlist(name)
        if name not in LIST_FIELDS:
            given[name] = values[-1]
            continue
        joined = ",".join(values)
        if joined.count(",") >= MOST_LIST_ITEMS:
            raise MatrixSpecError(
                name, f"Give at most {MOST_LIST_ITEMS} items in {name}."
            )
        given[name] = joined
    return given


@extend_schema(
    parameters=COHORT_PARAMETERS + MATRIX_PARAMETERS + DATES_PARAMETERS,
    responses={
        (200, "text/csv"): OpenApiResponse(
            OpenApiTypes.STR, description="One header line, then a line per pair."
        ),
        (200, "application/x-ndjson"): OpenApiResponse(
            OpenApiTypes.STR, description="JSON Lines: one object per pair."
        ),
        (200, "application/vnd.apache.parquet"): OpenApiResponse(
            OpenApiTypes.BINARY, description="Parquet, one row group per chunk."
        ),
        400: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Bad parameters: each name with its messages.",
        ),
        403: OpenApiResponse(
            OpenApiTypes.OBJECT,
            description="Calendar dates asked for by a viewer, under `dates`.",
        ),
    },
)
class CohortMatrixView(generics.GenericAPIView):
    """The multi-omic matrix of a cohort: one row per study-draw pair (docs/matrix.md).

    The cohort filters are those of /api/cohort-pairs/; the columns are fixed
    identifiers, clinical attributes, acquisition parameters, the chosen features,
    signature scores, CTCs, cfDNA concentration and per-gene VAF and call. The file
    is streamed, so its size does not matter to the server. Dates follow `dates`;
    every download is logged with its row count when its stream ends.
    """

    content_negotiation_class = MatrixNegotiation
    filter_backends: list = []
    pagination_class = None

    def get(self, request: Request) -> StreamingHttpResponse:
        form, spec, fmt = read_request(request.query_params, request.user)
        criteria = form.criteria()
        spec = spec.for_cohort(criteria)
        pairs = form.pairs()
        mode, projects = read_date_mode(request, pairs, criteria.project)

        # Resolved before the first byte, so that an unknown feature is still a 400.
        # NB: visible_to scopes the pairs; every other record read belongs to a pair's
        # study or draw, so it is of the same project.
        try:
            layout = resolve_layout(spec, pairs)
        except MatrixSpecError as error:
            raise ValidationError({error.field: [error.message]}) from error

        dater, counter = Dater(mode), RowCounter()
        frames = counter.frames(
            dater.frame(frame)
            for frame in iter_matrix_frames(pairs, spec, layout=layout)
        )
        record = start_export(
            request,
            ExportRecord.Kind.MATRIX,
            definition={"query": form.stored_query(), "matrix": spec.as_dict()},
            fmt=fmt,
            date_mode=mode,
            projects=projects,
        )
        response = StreamingHttpResponse(
            AuditedStream(stream_matrix(frames, fmt), record, counter),
            content_type=CONTENT_TYPES[fmt],
        )
        response["Content-Disposition"] = (
            f'attachment; filename="{matrix_filename(fmt)}"'
        )
        return response
