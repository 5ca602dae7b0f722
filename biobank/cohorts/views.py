"""The cohort builder (filters, live count, pairs, downloads, saved cohorts) and its analysis."""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

import pandas as pd
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from biobank.api.access import CURATE, project_codes_for, visible_to
from biobank.api.pagination import MAX_OFFSET, PAGE_NUMBER_MESSAGE, read_page_number
from biobank.browse.dating import PageDates, answers_bad_dates, page_dates
from biobank.cohorts import analysis, charts, saved
from biobank.cohorts.forms import (
    CohortForm,
    form_messages,
    name_unknown_parameters,
    unknown_parameter_message,
)
from biobank.cohorts.matrix import (
    ALL_FEATURES,
    MatrixSpec,
    MatrixSpecError,
    check_genes,
    features_named,
    gene_columns,
    guard_formula,
    iter_matrix_frames,
    resolve_layout,
)
from biobank.cohorts.models import CohortVersion, SavedCohort
from biobank.cohorts.query import (
    CohortCount,
    CohortRow,
    count_pairs,
    rows_of,
)
from biobank.core.dates import moment_text
from biobank.core.importing import counted as counted_text
from biobank.core.validation import InvalidValue
from biobank.exports.audit import (
    AuditedStream,
    RowCounter,
    export_projects,
    projects_named,
    record_export,
    start_export,
)
from biobank.exports.dates import (
    DATED_FIELDS,
    DATES_PARAMETER,
    Dater,
    DatesInvalid,
    DatesRefused,
    choose_date_mode,
)
from biobank.exports.models import ExportRecord
from liquidbiopsy.models import BloodSample
from radiomics.models import ImagingStudy

PAGE_ROWS = 100
CSV_CHUNK_ROWS = 2000
# The analysis holds the whole matrix in memory, read in one chunk (a fixed number
# of queries); a larger cohort is better analysed from its downloaded matrix.
MAX_ANALYSIS_PAIRS = 20_000
MAX_ANALYSIS_FEATURES = 30
SAVED_COHORTS_SHOWN = 50
# What the cohort page reads besides the filters and matrix columns:
COHORT_PAGE_PARAMETERS = ("format", "page", DATES_PARAMETER)
FORMAT_REFUSAL = "Format must be csv, or left out for this page."


class PageForm(forms.Form):
    """Which slice of the pairs the JSON endpoint returns."""

    limit = forms.IntegerField(min_value=1, max_value=10_000, required=False)
    # Bounded so that offset + limit fits every database's 64-bit integer:
    offset = forms.IntegerField(min_value=0, max_value=2_000_000_000, required=False)

    def clean_limit(self) -> int:
        return self.cleaned_data["limit"] or 1000

    def clean_offset(self) -> int:
        return self.cleaned_data["offset"] or 0


class MatrixColumnsForm(forms.Form):
    """Which features and genes the matrix downloads and saved cohorts hold."""

    features = forms.CharField(
        label="Matrix features",
        max_length=4000,
        required=False,
        help_text="Comma-separated feature names or IBSI codes; * for every feature.",
    )
    # NB: no "gene" in the label, which would make the Gene filter's label ambiguous.
    genes = forms.CharField(
        label="Matrix variant columns",
        max_length=4000,
        required=False,
        help_text="Comma-separated gene symbols (VAF and call of each); empty for every gene tested.",
    )

    def __init__(self, *args, user: AbstractBaseUser, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Whose variants the genes are checked against:
        self.user = user

    def clean(self) -> dict:
        cleaned = super().clean()
        try:
            self.spec = MatrixSpec.from_params(
                {name: cleaned.get(name, "") for name in ("features", "genes")}
            )
            # Unknown features and genes are named now, not as a 400 of the download:
            resolve_layout(self.spec, [])
            check_genes(self.spec, self.user)
        except MatrixSpecError as error:
            self.add_error(
                error.field if error.field in self.fields else None, error.message
            )
        return cleaned

    def params(self) -> dict[str, str]:
        """Return the non-empty matrix parameters, as /api/cohort-matrix/ reads them."""
        return {name: value for name, value in self.cleaned_data.items() if value}


def json_login_required(
    view: Callable[..., JsonResponse],
) -> Callable[..., JsonResponse]:
    """Answer anonymous callers of a JSON view with a 403 naming the fix, whatever the method."""

    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> JsonResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {
                    "detail": "Log in first; cohort queries need an authenticated session."
                },
                status=403,
            )
        return view(request, *args, **kwargs)

    return checked


def _filter_params(form: CohortForm) -> dict[str, str]:
    """Return the filters given to a bound form, as query parameters."""
    return {
        name: form.data[name]
        for name in CohortForm.base_fields
        if form.data.get(name, "") not in ("", None)
    }


@login_required
@require_GET
@answers_bad_dates
def cohort_page(request: HttpRequest) -> HttpResponse:
    """Show the filters and, once asked, the first pairs; ?format=csv downloads them all."""
    wants_csv = request.GET.get("format") == "csv"
    form = CohortForm(request.GET if request.GET else None, user=request.user)
    columns = MatrixColumnsForm(request.GET if request.GET else None, user=request.user)
    if form.is_bound:
        known = [*form.fields, *columns.fields, *COHORT_PAGE_PARAMETERS]
        name_unknown_parameters(form, request.GET, known)
        if request.GET.get("format", "") not in ("", "csv"):
            form.add_error(None, f"format: {FORMAT_REFUSAL}")
        if read_page_number(request.GET.get("page", "")) is None:
            form.add_error(None, f"page: {PAGE_NUMBER_MESSAGE}")
    context = {"form": form, "columns": columns}
    if not form.is_bound or not form.is_valid():
        status = 400 if form.is_bound else 200
        context["saved_cohorts"] = _saved_cohorts_of(request.user)
        return render(request, "cohorts/cohort_page.html", context, status=status)

    pairs = form.pairs()
    if wants_csv:
        return _csv_response(request, form, pairs)

    # One query: one row more than shown tells whether another page follows.
    number = read_page_number(request.GET.get("page", ""))
    offset = (number - 1) * PAGE_ROWS
    rows = []
    if offset + PAGE_ROWS < MAX_OFFSET:
        rows = list(rows_of(pairs[offset : offset + PAGE_ROWS + 1]))
    shown = rows[:PAGE_ROWS]
    keys = [(row.project_code, row.patient_pseudonym) for row in shown]
    # The projects of the rows shown decide their dates, as for a page of the API:
    # asking those of every pair of the cohort paired it whole (0.4 to 3.7 s over
    # 100,000 patients, where the page read its rows in 0.1).
    dates = page_dates(
        request,
        projects_named(
            request.user, {code for code, _ in keys}, form.criteria().project
        ),
    )
    draws = _draws_as_shown(
        [(r.sample_id, r.drawn_at, r.drawn_on) for r in shown], request.user
    )
    csv_query = request.GET.copy()
    csv_query["format"] = "csv"
    csv_query.pop("page", None)  # the download holds every pair
    context |= {
        "searched": True,
        "rows": shown,
        "dated_rows": list(zip(shown, dates.of_each(keys), draws, strict=True)),
        "dates": dates,
        # The admin shows calendar dates: it opens a project's records to its
        # curators and managers only (docs/access.md), so only they get its links.
        "admin_projects": set(project_codes_for(request.user, CURATE).values()),
        "is_truncated": len(rows) > PAGE_ROWS,
        "page_rows": PAGE_ROWS,
        "page_number": number,
        "first_row": offset + 1,
        "last_row": offset + len(shown),
        "previous_url": _page_url(request, number - 1) if number > 1 else "",
        "next_url": _page_url(request, number + 1) if len(rows) > PAGE_ROWS else "",
        "first_page_url": _page_url(request, 1),
        "csv_url": f"?{csv_query.urlencode()}",
        "notes": form.notes,
        "filters": _filter_params(form),
        "saved_cohorts": _saved_cohorts_of(request.user),
    }
    if columns.is_valid():
        # The downloads and the analysis keep the dates asked for here:
        query = _filter_params(form) | columns.params() | _dates_param(dates)
        matrix_url = reverse("api-cohort-matrix")
        context |= {
            "matrix_csv_url": f"{matrix_url}?{urlencode(query | {'format': 'csv'})}",
            "matrix_parquet_url": f"{matrix_url}?{urlencode(query | {'format': 'parquet'})}",
            "analysis_url": _analysis_url(query),
        }
    # A page past the last pair is not found, as in the API (with a link to page 1):
    status = 404 if not shown and number > 1 else 200
    return render(request, "cohorts/cohort_page.html", context, status=status)


def _page_url(request: HttpRequest, number: int) -> str:
    """The link to page `number` of the pairs, with every other parameter kept."""
    query = request.GET.copy()
    if number > 1:
        query["page"] = str(number)
    else:
        query.pop("page", None)
    return f"?{query.urlencode()}"


@dataclass(frozen=True)
class ShownDraw:
    """The draw of a pair as the pages name it: the lab's sample ID, timepoint and day.

    `patient_id` is None for a draw deleted since a saved version froze it. The
    lab's sample ID and timepoint are shown as the page's date mode shows free text
    (CAIRO5_2024-03-08 is CAIRO5_[date] outside calendar mode), as the API gives
    these fields (cohorts/draw_name.html, Dater.text).
    """

    pk: int
    drawn: dt.datetime | dt.date
    drawn_on: dt.date
    external_sample_id: str = ""
    timepoint: str = ""
    patient_id: int | None = None


def _draws_as_shown(
    draws: list[tuple[int, dt.datetime, dt.date]], user: AbstractBaseUser
) -> list[ShownDraw]:
    """Return each (sample id, drawn_at, drawn_on) as a page shows and names the draw.

    A draw given with a date only shows its day, not the midnight it is stored at
    (BloodSample.drawn); the pairs and their downloads keep the stored moment. One
    query. A draw deleted since it was frozen in a saved version, or that `user` may
    no longer read (an author who lost the project's role), shows its frozen moment.
    """
    readable = visible_to(user, BloodSample.objects.all(), "patient__project")
    stored = {
        row["pk"]: row
        for row in readable.filter(pk__in={sample for sample, _, _ in draws}).values(
            "pk", "patient_id", "is_time_known", "external_sample_id", "timepoint"
        )
    }
    shown = []
    for sample, at, on in draws:
        row = stored.get(sample)
        if row is None:
            shown.append(ShownDraw(sample, at, on))
            continue
        drawn = at if row["is_time_known"] else on
        shown.append(
            ShownDraw(
                sample,
                drawn,
                on,
                row["external_sample_id"],
                row["timepoint"],
                row["patient_id"],
            )
        )
    return shown


def _dates_param(dates: PageDates) -> dict[str, str]:
    """The date mode asked for, as a parameter of the links to the pages and downloads."""
    return {DATES_PARAMETER: dates.asked} if dates.asked else {}


def _saved_cohorts_of(user) -> list[SavedCohort]:
    """The saved cohorts `user` may open, as the API lists them, newest first.

    Two queries, and one more per project whose cohorts by others the user may
    re-run or not.
    """
    versions = CohortVersion.objects.order_by("number")
    cohorts = list(
        saved.visible_cohorts(user)
        .select_related("author", "project")
        .prefetch_related(Prefetch("versions", queryset=versions))[:SAVED_COHORTS_SHOWN]
    )
    # may_rerun reads only the authorship and the project, so it is asked once each:
    rerun: dict[tuple[bool, int | None], bool] = {}
    for cohort in cohorts:
        key = (cohort.author_id == user.pk, cohort.project_id)
        if key not in rerun:
            rerun[key] = saved.may_rerun(user, cohort)
        cohort.may_rerun = rerun[key]
        cohort.latest_number = max(v.number for v in cohort.versions.all())
        # The stored definition as the builder's query string, to open it again:
        params = _definition_params(cohort.definition)
        cohort.page_query = urlencode(params)
        cohort.analysis_url = _analysis_url(params)
        for version in cohort.versions.all():
            version.analysis_url = _version_analysis_url(version, {})
    return cohorts


@login_required
@require_GET
@answers_bad_dates
def saved_version_page(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Show one frozen version of a saved cohort: its pairs as they were saved.

    docs/saved_cohorts.md: a version freezes the pairs with their evidence and the
    matrix, so that the cohort behind a paper is shown again as it was after draws
    are added or values corrected. The pairs come from the version's members, never
    from the query run again; the page links the query with today's data apart.
    """
    cohort, version = _visible_version(request, pk, number)
    # The page reads only the date mode; anything else is named, as on every page:
    form = forms.Form(request.GET)
    form.is_valid()
    name_unknown_parameters(form, request.GET, [DATES_PARAMETER])
    members = version.members.order_by("position")
    # The projects the pairs were frozen in, read or not by the user now:
    dates = page_dates(request, saved.frozen_projects(version))
    shown = list(members[:PAGE_ROWS])
    keys = [(member.project_code, member.patient_pseudonym) for member in shown]
    draws = _draws_as_shown(
        [(m.sample_pk, m.drawn_at, m.drawn_on) for m in shown], request.user
    )
    # An author who lost the project's role still opens the version (saved.py), but
    # gets no link to a study they may no longer read:
    studies = ImagingStudy.objects.filter(pk__in={m.study_id for m in shown})
    params = _definition_params(version.definition)
    context = {
        "cohort": cohort,
        "version": version,
        "dates": dates,
        "dated_members": list(zip(shown, dates.of_each(keys), draws, strict=True)),
        "readable_studies": set(
            visible_to(request.user, studies, "patient__project").values_list(
                "pk", flat=True
            )
        ),
        "is_truncated": version.pair_count > PAGE_ROWS,
        "page_rows": PAGE_ROWS,
        "today_url": f"{reverse('cohorts:page')}?{urlencode(params)}",
        "today_analysis_url": _analysis_url(params),
        "version_analysis_url": _version_analysis_url(version, _dates_param(dates)),
        "latest_number": cohort.versions.order_by("-number")[0].number,
        "form": form,
    }
    status = 400 if form.errors else 200
    return render(request, "cohorts/saved_version.html", context, status=status)


def _visible_version(
    request: HttpRequest, pk: int, number: int
) -> tuple[SavedCohort, CohortVersion]:
    """Return a saved cohort the user may open and its version `number`, or 404."""
    cohort = get_object_or_404(
        saved.visible_cohorts(request.user).select_related("author", "project"), pk=pk
    )
    version = get_object_or_404(
        cohort.versions.select_related("created_by"), number=number
    )
    return cohort, version


def _definition_params(definition: dict) -> dict[str, str]:
    params = {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in definition.get("query", {}).items()
    }
    for name in ("features", "genes"):
        items = definition.get("matrix", {}).get(name) or []
        if items:
            params[name] = ",".join(items)
    return params


@json_login_required
@require_GET
def cohort_count(request: HttpRequest) -> JsonResponse:
    """Return how many pairs and patients the filters match, for the live count."""
    # The builder sends its whole form; the matrix fields do not change the count,
    # but a misspelt filter must not count the unfiltered pairs:
    form, errors = CohortForm.read_query(
        request.GET, {*MatrixColumnsForm.base_fields, DATES_PARAMETER}, request.user
    )
    if errors:
        return JsonResponse({"errors": errors}, status=400)

    counted = count_pairs(
        form.pairs(),
        settings.BIOBANK_API_COUNT_LIMIT,
        in_order=bool(form.criteria().project),
    )
    return JsonResponse(asdict(counted) | {"text": _count_text(counted)})


def _count_text(counted: CohortCount) -> str:
    """Say the live count as the builder shows it ("3 pairs of 2 patients match ...")."""
    if not counted.exact:
        return (
            f"More than {counted.pairs} pairs match these filters "
            "(the count stops there)."
        )
    pairs = counted_text(counted.pairs, "pairs")
    patients = counted_text(counted.patients, "patients")
    verb = "matches" if counted.pairs == 1 else "match"
    return f"{pairs} of {patients} {verb} these filters."


class SaveCohortForm(forms.Form):
    name = forms.CharField(label="Name of the saved cohort", max_length=200)
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    # The API's rules: no control or bidirectional characters that disguise a name.
    def clean_name(self) -> str:
        return _by_rule(saved.check_cohort_name, self.cleaned_data["name"])

    def clean_description(self) -> str:
        return _by_rule(
            saved.check_cohort_description, self.cleaned_data["description"]
        )


def _by_rule(rule, value: str) -> str:
    try:
        return rule(value)
    except InvalidValue as exc:
        raise forms.ValidationError(str(exc)) from None


@login_required
@require_POST
def save_cohort(request: HttpRequest) -> HttpResponseRedirect:
    """Save the filters and matrix columns posted with a name; version 1 is frozen at once."""
    filters = {
        name: value
        for name in CohortForm.base_fields
        if (value := request.POST.get(name, ""))
    }
    matrix_names = MatrixColumnsForm.base_fields
    matrix = {
        name: value for name in matrix_names if (value := request.POST.get(name, ""))
    }
    back = f"{reverse('cohorts:page')}?{urlencode(filters | matrix)}"

    form = SaveCohortForm(request.POST)
    errors = _flat_errors(form.errors.get_json_data()) if not form.is_valid() else []
    # A misspelt filter would save a wider cohort than the one asked for:
    known = {*SaveCohortForm.base_fields, *matrix_names, "csrfmiddlewaretoken"}
    errors += [
        f"{name}: {unknown_parameter_message(name)}"
        for name in CohortForm.unknown_parameters(request.POST, known)
    ]
    name = form.cleaned_data.get("name", "")
    if name and SavedCohort.objects.filter(author=request.user, name=name).exists():
        errors.append(
            f"You have a saved cohort named {name} already; choose another name."
        )
    try:
        definition = saved.validate_definition(
            {"query": filters, "matrix": matrix}, user=request.user
        )
    except saved.DefinitionInvalid as invalid:
        errors += _flat_errors(invalid.errors)
    if errors:
        for error in errors:
            messages.error(request, f"Not saved: {error}")
        return HttpResponseRedirect(f"{back}#save-heading")

    cohort = saved.save_cohort(
        name=name,
        definition=definition,
        author=request.user,
        description=form.cleaned_data["description"],
    )
    version = cohort.versions.get()
    messages.success(
        request,
        f"Saved {cohort.name}: version 1 holds {version.pair_count} "
        f"pair{pluralize(version.pair_count)}.",
    )
    return HttpResponseRedirect(f"{back}#saved-heading")


def _flat_errors(errors: dict, prefix: str = "") -> list[str]:
    """Return nested form or definition errors as sentences naming their field."""
    flat = []
    for field, value in errors.items():
        label = field if field != "__all__" else ""
        if isinstance(value, dict):
            flat += _flat_errors(value, f"{prefix}{label}: " if label else prefix)
            continue
        for message in value:
            text = message["message"] if isinstance(message, dict) else message
            flat.append(f"{prefix}{label}: {text}" if label else f"{prefix}{text}")
    return flat


@login_required
@require_POST
def rerun_cohort(request: HttpRequest, pk: int) -> HttpResponseRedirect:
    """Run a saved definition again; a new version is made only when something changed."""
    cohort = get_object_or_404(saved.visible_cohorts(request.user), pk=pk)
    if not saved.may_rerun(request.user, cohort):
        raise PermissionDenied("Only the author or a curator re-runs a saved cohort.")

    back = f"{reverse('cohorts:page')}#saved-heading"
    try:
        result = saved.rerun_cohort(cohort, request.user)
    except (saved.DefinitionInvalid, saved.FrozenMatrixDamaged) as error:
        detail = (
            "; ".join(_flat_errors(error.errors))
            if isinstance(error, saved.DefinitionInvalid)
            else str(error)
        )
        messages.error(request, f"{cohort.name} was not re-run: {detail}")
        return HttpResponseRedirect(back)

    counts = result.diff.get("counts", {})
    if result.is_new:
        messages.success(
            request,
            f"{cohort.name}: version {result.version.number} made; "
            f"{counts.get('pairs_added', 0)} pairs added, {counts.get('pairs_removed', 0)} removed, "
            f"{counts.get('values_changed', 0)} values changed.",
        )
    else:
        messages.info(
            request,
            f"{cohort.name}: nothing changed since version {result.version.number}; no version made.",
        )
    return HttpResponseRedirect(back)


class AnalysisForm(forms.Form):
    """The features to correlate, the genes to use, and the box plot's feature and gene."""

    features = forms.CharField(
        label="Radiomic features to correlate",
        max_length=4000,
        help_text=f"Comma-separated feature names or IBSI codes, at most {MAX_ANALYSIS_FEATURES}.",
    )
    genes = forms.CharField(
        label="Genes",
        max_length=4000,
        required=False,
        help_text="Comma-separated gene symbols for VAF and calls; empty for every gene tested.",
    )
    box_feature = forms.CharField(
        label="Feature of the box plot", max_length=200, required=False
    )
    box_gene = forms.CharField(
        label="Grouped by the call of gene", max_length=40, required=False
    )

    def __init__(self, *args, user: AbstractBaseUser, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean(self) -> dict:
        cleaned = super().clean()
        if "features" not in cleaned:
            return cleaned
        try:
            spec = MatrixSpec.from_params(
                {"features": cleaned["features"], "genes": cleaned.get("genes", "")}
            )
            check_genes(spec, self.user)
        except MatrixSpecError as error:
            self.add_error(error.field, error.message)
            return cleaned
        if ALL_FEATURES in spec.features:
            self.add_error(
                "features", "Name the features to correlate; * is for downloads."
            )
        self.spec = spec
        return cleaned


def _analysis_choice(query: QueryDict, user: AbstractBaseUser) -> AnalysisForm:
    """The analysis's own choices: bound once the form was submitted, else prefilled.

    The features to correlate are required, so a query without them (a link from the
    cohort page or a saved cohort, carrying the filters only) is a form to fill in,
    not an error.
    """
    if "features" in query:
        return AnalysisForm(query, user=user)
    given = {name: query[name] for name in AnalysisForm.base_fields if name in query}
    return AnalysisForm(initial=given, user=user)


def _analysis_url(params: dict[str, str], path: str = "") -> str:
    """Return the analysis page's address for cohort parameters; * is for downloads only.

    `path` is another analysis page's, such as a saved version's.
    """
    if ALL_FEATURES in params.get("features", "").split(","):
        params = {name: value for name, value in params.items() if name != "features"}
    path = path or reverse("cohorts:analysis")
    return f"{path}?{urlencode(params)}" if params else path


def _version_analysis_url(version: CohortVersion, dates: dict[str, str]) -> str:
    """Return the address of the analysis of a version's frozen matrix.

    It carries the features and genes of the version's definition, as the analysis
    of today's data does, but none of its filters: the frozen matrix is their result.
    """
    params = _definition_params(version.definition)
    columns = {name: params[name] for name in ("features", "genes") if name in params}
    path = reverse("cohorts:version-analysis", args=[version.cohort_id, version.number])
    return _analysis_url(columns | dates, path)


@login_required
@require_GET
@answers_bad_dates
def analysis_page(request: HttpRequest) -> HttpResponse:
    """Correlate chosen features with the markers of a cohort, and box-plot one feature by call."""
    form = CohortForm(request.GET if request.GET else None, user=request.user)
    choice = _analysis_choice(request.GET, request.user)
    if form.is_bound:
        known = [*form.fields, *choice.fields, DATES_PARAMETER]
        name_unknown_parameters(form, request.GET, known)
    context: dict = {"form": form, "choice": choice}
    if not (
        form.is_bound and form.is_valid() and choice.is_bound and choice.is_valid()
    ):
        # A link from the cohort page opens the form with its filters, or names
        # what is wrong with them. Its dates are checked as on any page, for the
        # projects the analysis could show (the chosen one, else every readable one):
        project = form.criteria().project if form.is_bound and form.is_valid() else ""
        projects = projects_named(request.user, (), project)
        context["dates"] = page_dates(request, projects)
        status = 400 if form.errors or choice.errors else 200
        return render(request, "cohorts/analysis.html", context, status=status)

    pairs = form.pairs()
    pair_count = pairs.count()
    projects = export_projects(request.user, pairs, form.criteria().project)
    # The box plot names each pair by its patient, study and draw dates:
    dates = page_dates(request, projects)
    context |= {
        "searched": True,
        "pair_count": pair_count,
        "notes": form.notes,
        "dates": dates,
    }
    columns = {name: choice.cleaned_data[name] for name in ("features", "genes")}
    builder_query = urlencode(_filter_params(form) | columns | _dates_param(dates))
    context["builder_url"] = f"{reverse('cohorts:page')}?{builder_query}"
    if pair_count > MAX_ANALYSIS_PAIRS:
        context["too_many"] = MAX_ANALYSIS_PAIRS
        return render(request, "cohorts/analysis.html", context)

    # The features of the series of the modality filtered on (docs/matrix.md):
    spec = choice.spec.for_cohort(form.criteria())
    try:
        layout = resolve_layout(spec, pairs)
    except MatrixSpecError as error:
        choice.add_error(error.field, error.message)
        return render(
            request, "cohorts/analysis.html", context | {"searched": False}, status=400
        )
    if len(layout.features) > MAX_ANALYSIS_FEATURES:
        choice.add_error(
            "features",
            f"These name {len(layout.features)} features; correlate at most {MAX_ANALYSIS_FEATURES} at once.",
        )
        return render(
            request, "cohorts/analysis.html", context | {"searched": False}, status=400
        )
    if not _box_feature_correlated(choice, [name for _, name in layout.features]):
        return render(
            request, "cohorts/analysis.html", context | {"searched": False}, status=400
        )

    # One chunk for the whole cohort, so the queries do not grow with its size:
    frames = iter_matrix_frames(
        pairs, spec, chunk_size=MAX_ANALYSIS_PAIRS, layout=layout
    )
    frame = dates.dater.frame(pd.concat(list(frames), ignore_index=True))
    record_export(
        request,
        ExportRecord.Kind.ANALYSIS,
        rows=len(frame),
        definition={"query": form.stored_query(), "matrix": spec.as_dict()},
        fmt="html",
        date_mode=dates.mode,
        projects=projects,
    )
    context |= _analysis_context(frame, choice, request.GET)
    return render(request, "cohorts/analysis.html", context)


def _box_feature_correlated(choice: AnalysisForm, correlated: list[str]) -> bool:
    """Resolve the box plot's feature among those correlated, or name it as an error.

    The box plot's feature is named as the features are, by name or IBSI code.
    """
    box_feature = choice.cleaned_data["box_feature"]
    if not box_feature:
        return True
    named = features_named(box_feature, correlated)
    if not named:
        choice.add_error(
            None,
            f"box_feature: {box_feature} is not among the features correlated "
            f"({', '.join(correlated)}).",
        )
        return False
    choice.cleaned_data["box_feature"] = named[0]
    return True


@login_required
@require_GET
@answers_bad_dates
def version_analysis_page(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    """Correlate chosen features with the markers of a saved version's frozen matrix.

    docs/saved_cohorts.md: the analysis of a version reads the Parquet file the
    version froze, checked by its SHA-256, never the data stored today, so that it
    gives the same numbers after draws are added or values corrected. Its filters are
    the version's; only the analysis's own choices are asked.
    """
    cohort, version = _visible_version(request, pk, number)
    choice = _analysis_choice(request.GET, request.user)
    # The page reads only the analysis's choices and the date mode:
    form = forms.Form(request.GET)
    form.is_valid()
    name_unknown_parameters(form, request.GET, [*choice.fields, DATES_PARAMETER])
    projects = saved.frozen_projects(version)
    dates = page_dates(request, projects)
    context: dict = {
        "form": form,
        "choice": choice,
        "dates": dates,
        "cohort": cohort,
        "version": version,
        "today_analysis_url": _analysis_url(
            _definition_params(version.definition) | _dates_param(dates)
        ),
    }
    if form.errors or not (choice.is_bound and choice.is_valid()):
        status = 400 if form.errors or choice.errors else 200
        return render(request, "cohorts/analysis.html", context, status=status)

    context |= {"searched": True, "pair_count": version.pair_count}
    if version.pair_count > MAX_ANALYSIS_PAIRS:
        context["too_many"] = MAX_ANALYSIS_PAIRS
        return render(request, "cohorts/analysis.html", context)
    try:
        frozen = saved.read_frozen_matrix(version)
    except saved.FrozenMatrixDamaged as damaged:
        context |= {"searched": False, "damaged": str(damaged)}
        return render(request, "cohorts/analysis.html", context, status=500)
    frame = _frozen_columns(frozen, choice, version)
    if frame is None or not _box_feature_correlated(
        choice,
        [
            c.removeprefix(analysis.FEATURE_PREFIX)
            for c in analysis.feature_columns(frame)
        ],
    ):
        return render(
            request, "cohorts/analysis.html", context | {"searched": False}, status=400
        )

    frame = dates.dater.frame(frame)
    record_export(
        request,
        ExportRecord.Kind.ANALYSIS,
        rows=len(frame),
        definition={
            "saved_cohort": cohort.pk,
            "version": version.number,
            **version.definition,
        },
        fmt="html",
        date_mode=dates.mode,
        projects=projects,
    )
    context |= _analysis_context(frame, choice, request.GET)
    return render(request, "cohorts/analysis.html", context)


def _frozen_columns(
    frozen: pd.DataFrame, choice: AnalysisForm, version: CohortVersion
) -> pd.DataFrame | None:
    """Keep of a frozen matrix the chosen features and genes, or name what it lacks.

    Features are named as on the analysis of today's data (names or IBSI codes), but
    only the columns the version froze can be analysed.
    """
    frozen_features = [
        c.removeprefix(analysis.FEATURE_PREFIX)
        for c in analysis.feature_columns(frozen)
    ]
    chosen: list[str] = []
    for feature in choice.spec.features:
        named = features_named(feature, frozen_features)
        if not named:
            choice.add_error(
                "features",
                f"{feature} is not in the frozen matrix of version {version.number} "
                f"(its features: {', '.join(frozen_features) or 'none'}).",
            )
        chosen += [name for name in named if name not in chosen]
    if len(chosen) > MAX_ANALYSIS_FEATURES:
        choice.add_error(
            "features",
            f"These name {len(chosen)} features; correlate at most {MAX_ANALYSIS_FEATURES} at once.",
        )
    frozen_genes = [
        c.removeprefix(analysis.VAF_PREFIX)
        for c in frozen.columns
        if c.startswith(analysis.VAF_PREFIX)
    ]
    genes = [gene.upper() for gene in choice.spec.genes] or frozen_genes
    missing = [gene for gene in genes if gene not in frozen_genes]
    if missing:
        choice.add_error(
            "genes",
            f"{', '.join(missing)}: not in the frozen matrix of version "
            f"{version.number} (its genes: {', '.join(frozen_genes) or 'none'}).",
        )
    if choice.errors:
        return None

    # Every column but the other features and genes: identity, dates, CTCs, cfDNA:
    left_out = {f"{analysis.FEATURE_PREFIX}{name}" for name in frozen_features} - {
        f"{analysis.FEATURE_PREFIX}{name}" for name in chosen
    }
    for gene in set(frozen_genes) - set(genes):
        left_out |= set(gene_columns(gene))
    return frozen[[column for column in frozen.columns if column not in left_out]]


def _analysis_context(
    frame: pd.DataFrame, choice: AnalysisForm, query: QueryDict
) -> dict:
    features = analysis.feature_columns(frame)
    markers = analysis.markers_of(frame)
    genes = [
        marker.column.removeprefix(analysis.VAF_PREFIX)
        for marker in markers
        if marker.column.startswith(analysis.VAF_PREFIX)
    ]
    cells = analysis.correlate(frame, features, markers)
    context: dict = {
        "features": [charts.feature_label(f) for f in features],
        "genes": genes,
        "cells": [
            (charts.cell_anchor(index), cell) for index, cell in enumerate(cells)
        ],
        "tested_count": sum(cell.p is not None for cell in cells),
        "box_query": {
            name: value
            for name, value in query.items()
            if name not in ("box_feature", "box_gene")
        },
    }
    if frame.empty:
        return context
    if any(cell.rho is not None for cell in cells):
        context["heatmap"] = charts.heatmap_svg(cells, features, markers)

    box_feature = choice.cleaned_data["box_feature"] or context["features"][0]
    box_gene = (choice.cleaned_data["box_gene"] or (genes[0] if genes else "")).upper()
    context |= {"box_feature": box_feature, "box_gene": box_gene}
    if box_gene not in genes:
        context["box_message"] = (
            f"No draw of this cohort was tested for {box_gene}."
            if box_gene
            else "No draw of this cohort has a cfDNA variant result: there are no groups to compare."
        )
    else:
        groups = analysis.group_by_call(
            frame, f"{analysis.FEATURE_PREFIX}{box_feature}", box_gene
        )
        context["groups"] = groups
        if max(len(groups.detected), len(groups.not_detected)) >= 2:
            context["boxplot"] = charts.boxplot_svg(groups)
        else:
            total = len(groups.detected) + len(groups.not_detected)
            context["box_message"] = (
                f"Only {total} value{pluralize(total)} of {box_feature} with a tested {box_gene} "
                "call: too few for a box plot."
            )
    return context


@json_login_required
@require_GET
def cohort_json(request: HttpRequest) -> JsonResponse:
    """Return the pairs for the filters in the query string, `limit` rows from `offset`."""
    page = PageForm(request.GET)
    form, errors = CohortForm.read_query(
        request.GET, set(page.fields) | {DATES_PARAMETER}, request.user
    )
    if not page.is_valid():
        errors |= form_messages(page)
    if errors:
        return JsonResponse({"errors": errors}, status=400)

    limit, offset = page.cleaned_data["limit"], page.cleaned_data["offset"]
    criteria = form.criteria()
    pairs = form.pairs()
    chosen = _date_mode(request, form, pairs)
    if isinstance(chosen, JsonResponse):
        return chosen
    dater, projects = chosen

    rows = [
        dater.row((row.project_code, row.patient_pseudonym), row.as_dict())
        for row in rows_of(pairs[offset : offset + limit + 1])
    ]
    record_export(
        request,
        ExportRecord.Kind.PAIRS_JSON,
        rows=len(rows[:limit]),
        definition={"query": form.stored_query(), "offset": offset, "limit": limit},
        fmt="json",
        date_mode=dater.mode,
        projects=projects,
    )
    return JsonResponse(
        {
            "criteria": asdict(criteria),
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if len(rows) > limit else None,
            "notes": form.notes,
            "rows": rows[:limit],
        }
    )


class _Echo:
    """A file-like object whose write() hands the line back, for streaming CSV."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(pairs, dater: Dater, counter: RowCounter) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(dater.field_names(CohortRow.FIELDS, DATED_FIELDS))
    rows = rows_of(pairs.iterator(chunk_size=CSV_CHUNK_ROWS))
    for row in counter.rows(rows):
        values = dater.row((row.project_code, row.patient_pseudonym), row.as_dict())
        if isinstance(values.get("drawn_at"), dt.datetime):
            # The same ISO 8601 text as the JSON endpoint and the matrix:
            values["drawn_at"] = moment_text(values["drawn_at"])
        # A text cell such as =HYPERLINK(...) must not run in a spreadsheet:
        yield writer.writerow(guard_formula(value) for value in values.values())


def _csv_response(
    request: HttpRequest, form: CohortForm, pairs
) -> StreamingHttpResponse | JsonResponse:
    chosen = _date_mode(request, form, pairs)
    if isinstance(chosen, JsonResponse):
        return chosen
    dater, projects = chosen

    counter = RowCounter()
    record = start_export(
        request,
        ExportRecord.Kind.PAIRS_CSV,
        definition={"query": form.stored_query()},
        fmt="csv",
        date_mode=dater.mode,
        projects=projects,
    )
    response = StreamingHttpResponse(
        AuditedStream(_csv_lines(pairs, dater, counter), record, counter),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = 'attachment; filename="cohort.csv"'
    return response


def _date_mode(
    request: HttpRequest, form: CohortForm, pairs
) -> tuple[Dater, set[int | None]] | JsonResponse:
    """Return the dater of an export of `pairs` and its projects, or the error answer."""
    projects = export_projects(request.user, pairs, form.criteria().project)
    try:
        mode = choose_date_mode(
            request.user, request.GET.get(DATES_PARAMETER), projects
        )
    except (DatesInvalid, DatesRefused) as error:
        status = 403 if isinstance(error, DatesRefused) else 400
        return JsonResponse({"errors": {DATES_PARAMETER: [str(error)]}}, status=status)
    return Dater(mode), projects
