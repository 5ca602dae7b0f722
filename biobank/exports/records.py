"""Dates of the REST API's patient records in the caller's date mode."""

from __future__ import annotations

from django.db.models import Model
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from biobank.api.access import project_ids_for, projects_for
from biobank.exports.dates import (
    DATES_PARAMETER,
    DateMode,
    Dater,
    DatesInvalid,
    DatesRefused,
    choose_date_mode,
    may_see_calendar,
)
from patients.models import Patient


class DatedRecordsMixin:
    """Viewset mixin: the dates of the records read (list or one) follow `dates`.

    The records' own projects decide the mode as for every export (a viewer's are
    shifted by default, never calendar); records of no patient (projects, feature
    definitions, signatures) keep their dates. Nested records' dates move with their
    patient's. It costs two queries per page (the records' patients, the caller's
    role), whatever the number of records.
    """

    project_path: str | None
    extra_query_parameters = (DATES_PARAMETER,)

    def list(self, request: Request, *args, **kwargs) -> Response:
        return self.dated(request, super().list(request, *args, **kwargs))  # type: ignore[misc]

    def retrieve(self, request: Request, *args, **kwargs) -> Response:
        return self.dated(request, super().retrieve(request, *args, **kwargs))  # type: ignore[misc]

    def dated(self, request: Request, response: Response) -> Response:
        if not honours_dates(self):
            return response
        data = response.data
        paged = isinstance(data, dict) and isinstance(data.get("results"), list)
        rows = data["results"] if paged else data if isinstance(data, list) else [data]

        ids = [row["id"] for row in rows if "id" in row]
        patients = self.patients_of(ids, self.project_path)
        projects = {project for project, _ in patients.values()}
        if not rows:
            projects = set(project_ids_for(request.user))
        dater = Dater(read_dates(request, projects))
        if dater.is_calendar:
            return response
        dated = [dater.row(patients[row["id"]][1], row) for row in rows]
        if paged:
            data["results"] = dated
        else:
            response.data = dated if isinstance(data, list) else dated[0]
        return response

    def dated_patient_data(
        self, request: Request, patient: Patient, data: dict
    ) -> dict:
        """Return data about one patient (a timeline) with its dates in the caller's mode."""
        dater = Dater(read_dates(request, {patient.project_id}))
        return dater.row((patient.project.code, patient.pseudonym), data)

    def patients_of(
        self, ids: list[int], project_path: str
    ) -> dict[int, tuple[int, tuple[str, str]]]:
        """Return per record id its project and patient key (project code, pseudonym)."""
        patient = project_path.removesuffix("project")
        # The class's queryset: get_queryset would read the reader's projects again.
        model: type[Model] = self.queryset.model  # type: ignore[attr-defined]
        found = model._default_manager.filter(pk__in=ids).values_list(
            "pk",
            project_path,
            f"{project_path}__code",
            f"{patient}pseudonym",
        )
        return {
            pk: (project, (code, pseudonym)) for pk, project, code, pseudonym in found
        }


def honours_dates(view: object) -> bool:
    """Whether the reads of `view` give their dates in the caller's mode (`dates`):
    those of a DatedRecordsMixin whose records belong to a patient. The schema
    documents the parameter from here (biobank.api.schema)."""
    project_path = getattr(view, "project_path", None)
    return (
        isinstance(view, DatedRecordsMixin)
        and bool(project_path)
        and project_path.endswith("project")
    )


def read_dates(request: Request, projects: set[int | None]) -> DateMode:
    """Return the caller's date mode for records or rows of `projects`.

    Raises
    ------
    ValidationError
        When `dates` names no mode.
    PermissionDenied
        When a viewer of one of the projects asks for calendar dates.
    """
    try:
        return choose_date_mode(
            request.user, request.query_params.get(DATES_PARAMETER), projects
        )
    except DatesInvalid as error:
        raise ValidationError({DATES_PARAMETER: [str(error)]}) from error
    except DatesRefused as error:
        raise PermissionDenied({DATES_PARAMETER: [str(error)]}) from error


def stored_dates_refusal(
    request: Request, project_code: str | None, what: str
) -> str | None:
    """Return why the caller may not filter or order a list by stored dates, or None.

    The stored dates are the calendar ones (and the birth year, hidden beside
    shifted and relative dates); `what` says what was asked, e.g. "ordering by
    drawn_at". A viewer shown another mode could bisect each patient's real
    dates, and so its secret shift, with such filters and orders. As on the web
    pages' lists, the project the list names (`project`), else every project the
    caller reads, decides, before any row is read.

    Raises ValidationError or PermissionDenied naming `dates` (read_dates).
    """
    listed = projects_for(request.user)
    if project_code:
        listed = listed.filter(code__iexact=project_code)
    projects = set(listed.values_list("pk", flat=True))
    mode = read_dates(request, projects)
    if mode == DateMode.CALENDAR:
        return None

    if may_see_calendar(request.user, projects):
        return (
            f"dates={mode} shows {mode} dates and no birth year, so {what} is "
            "refused; leave dates out for calendar dates."
        )
    return (
        f"Viewers see {mode} dates (each patient's own) and no birth year, so {what} "
        "needs a curator or manager role in every project listed; name one you "
        "curate with project=<code>."
    )
