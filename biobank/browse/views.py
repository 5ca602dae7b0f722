"""Researcher pages: the project dashboard and the patient browser."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import EmptyPage, Paginator
from django.db.models import (
    Count,
    IntegerField,
    OuterRef,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from biobank.api.access import project_ids_for, visible_to
from biobank.api.pagination import (
    PAGE_NUMBER_MESSAGE,
    CappedPaginator,
    past_the_end_message,
    read_page_number,
)
from biobank.browse.counts import GAPS, TOTALS, counts_of
from biobank.browse.dating import answers_bad_dates, page_dates
from biobank.browse.forms import (
    DashboardForm,
    FollowUpForm,
    PatientBrowserForm,
    StudyPageForm,
    TimelineForm,
)
from biobank.browse.plots import timeline_svg
from biobank.browse.study import load_study
from biobank.browse.timeline import load_timeline
from biobank.cohorts.forms import name_unknown_parameters
from biobank.cohorts.stratification import flag_patients
from biobank.exports.dates import DATES_PARAMETER
from liquidbiopsy.models import (
    BloodSample,
)
from patients.models import Patient, Project
from radiomics.models import ImagingStudy

PATIENTS_PER_PAGE = 50


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Count what the biobank holds, per project or in all, and what is missing."""
    form = DashboardForm(request.GET, user=request.user)
    name_unknown_parameters(form, request.GET, form.fields)
    if not form.is_valid():
        # Counts of a project misnamed would be those of every project: none shown.
        context = {"form": form, "projects": form.fields["project"].queryset}
        return render(request, "browse/dashboard.html", context, status=400)
    chosen = form.cleaned_data["project"]
    projects = visible_to(request.user, Project.objects.all(), "")
    if chosen is not None:
        projects = projects.filter(pk=chosen.pk)
    counted = counts_of(list(projects))
    counts = [(label, counted[key]) for key, label in TOTALS]
    gaps = [(label, counted[key]) for key, label in GAPS]
    context = {
        "form": form,
        "projects": form.fields["project"].queryset,
        "chosen": chosen,
        "counts": counts,
        "gaps": gaps,
    }
    return render(request, "browse/dashboard.html", context)


@login_required
@require_GET
@answers_bad_dates
def patient_list(request: HttpRequest) -> HttpResponse:
    """List patients by the filters of the form, sorted and one page at a time."""
    form = PatientBrowserForm(request.GET, user=request.user)
    name_unknown_parameters(form, request.GET, [*form.fields, "page", DATES_PARAMETER])
    # A page that is no whole number from 1 is named like a bad filter (the API's
    # 400 says the same), not shown as the first page:
    number = read_page_number(request.GET.get("page", ""))
    if number is None:
        form.add_error(None, f"page: {PAGE_NUMBER_MESSAGE}")
    dates = page_dates(
        request, _projects_listed(request, form), calendar_sort="diagnosis_on"
    )
    if not dates.is_calendar:
        form.refuse_date_sort()
    # Counted in subqueries, so that the page stays one query whatever it holds:
    patients = (
        visible_to(request.user, Patient.objects.all(), "project")
        .select_related("project")
        .annotate(
            study_count=_count_of(ImagingStudy.objects.filter(patient=OuterRef("pk"))),
            draw_count=_count_of(BloodSample.objects.filter(patient=OuterRef("pk"))),
        )
    )
    if form.is_valid():
        patients = patients.filter(form.condition()).order_by(*form.ordering())
    else:
        patients = patients.none()
    paginator = Paginator(patients, PATIENTS_PER_PAGE)
    if form.is_valid() and form.reads_records():
        # Counting every patient with a gene's variant read all 13 million variants
        # of a 100,000-patient project (7 s, issue 7); the count stops past the limit.
        paginator = CappedPaginator(
            patients, PATIENTS_PER_PAGE, settings.BIOBANK_API_COUNT_LIMIT
        )
    try:
        page = paginator.page(number if form.is_valid() else 1)
    except EmptyPage:
        # Past the last page, which get_page would show instead: the page says so
        # with the number of pages, and lists no patient.
        form.add_error(None, f"page: {past_the_end_message(paginator, number)}")
        page = Paginator(patients.none(), PATIENTS_PER_PAGE).page(1)
    listed = list(page)
    keys = [(patient.project.code, patient.pseudonym) for patient in listed]

    query = request.GET.copy()
    query.pop("page", None)
    sort_query = query.copy()
    for name in ("sort", "descending"):
        sort_query.pop(name, None)
    context = {
        "form": form,
        "page": page,
        # Counted first: a CappedPaginator knows whether it is exact once it counted.
        "count": paginator.count,
        "count_exact": getattr(paginator, "count_exact", True),
        "patients": list(zip(listed, dates.of_each(keys), strict=True)),
        "dates": dates,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sort": (form.cleaned_data.get("sort") if form.is_valid() else "")
        or "pseudonym",
        "descending": form.cleaned_data.get("descending") if form.is_valid() else False,
    }
    status = 200 if form.is_valid() else 400
    return render(request, "browse/patient_list.html", context, status=status)


@login_required
@require_GET
@answers_bad_dates
def patient_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one patient's imaging, blood draws, treatments and events on one time axis."""
    patients = visible_to(
        request.user, Patient.objects.select_related("project"), "project"
    )
    patient = get_object_or_404(patients, pk=pk)
    dates = page_dates(request, {patient.project_id})
    patient_dates = dates.of(patient)
    # The form shows the settings in use, the defaults included:
    query = TimelineForm.renamed(request.GET)
    settings = query.copy()
    settings.setdefault("window_days", str(TimelineForm.DEFAULT_WINDOW))
    settings.setdefault("vaf_scale", "linear")
    form = TimelineForm(settings)
    name_unknown_parameters(
        form, query, [*form.fields, DATES_PARAMETER], reads_old_names=True
    )
    if form.is_valid():
        window, scale, status = (
            form.cleaned_data["window_days"],
            form.cleaned_data["vaf_scale"],
            200,
        )
    else:
        # The page still shows, with the defaults, beside the form's messages:
        window, scale, status = TimelineForm.DEFAULT_WINDOW, "linear", 400

    timeline = load_timeline(patient, window)
    chart = None if timeline.is_empty else timeline_svg(timeline, patient_dates, scale)
    context = {
        "patient": patient,
        "form": form,
        "timeline": timeline,
        "chart": chart,
        "dates": dates,
        "patient_dates": patient_dates,
    }
    return render(request, "browse/patient_timeline.html", context, status=status)


@login_required
@require_GET
@answers_bad_dates
def study_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a study's acquisition, segmentations, features and texture report."""
    studies = visible_to(
        request.user,
        ImagingStudy.objects.select_related("patient__project"),
        "patient__project",
    )
    study = get_object_or_404(studies, pk=pk)
    dates = page_dates(request, {study.patient.project_id})
    form = StudyPageForm(request.GET)
    name_unknown_parameters(form, request.GET, [*form.fields, DATES_PARAMETER])
    # A valid extraction is shown beside a message about another parameter:
    status = 200 if form.is_valid() else 400
    chosen = form.cleaned_data.get("extraction")
    view = load_study(study, chosen)
    if chosen is not None and (view.chosen is None or view.chosen.pk != chosen):
        raise Http404("This study has no such feature extraction.")

    context = {
        "view": view,
        "study": study,
        "form": form,
        "dates": dates,
        "patient_dates": dates.of(study.patient),
    }
    return render(request, "browse/study.html", context, status=status)


@login_required
@require_GET
@answers_bad_dates
def follow_up(request: HttpRequest) -> HttpResponse:
    """List the patients flagged for closer follow-up by the rule the form sets."""
    form = FollowUpForm(request.GET, user=request.user)
    known = [*form.fields, FollowUpForm.SUBMITTED, DATES_PARAMETER]
    name_unknown_parameters(form, request.GET, known)
    dates = page_dates(request, _projects_listed(request, form))
    flags = []
    if form.is_valid():
        patients = visible_to(
            request.user, Patient.objects.select_related("project"), "project"
        )
        if form.cleaned_data["project"]:
            patients = patients.filter(project=form.cleaned_data["project"])
        flags = flag_patients(patients, form.rule())
    keys = [(flag.patient.project.code, flag.patient.pseudonym) for flag in flags]

    context = {
        "form": form,
        "flags": flags,
        "dated_flags": list(zip(flags, dates.of_each(keys), strict=True)),
        "dates": dates,
    }
    status = 200 if form.is_valid() else 400
    return render(request, "browse/follow_up.html", context, status=status)


@login_required
@require_GET
@answers_bad_dates
def structured_report(request: HttpRequest, pk: int, study_pk: int) -> HttpResponse:
    """A printable report of one patient at one imaging time point, every number referenced."""
    patients = visible_to(
        request.user, Patient.objects.select_related("project"), "project"
    )
    patient = get_object_or_404(patients, pk=pk)
    study = get_object_or_404(
        patient.imaging_studies.select_related("patient__project"), pk=study_pk
    )
    dates = page_dates(request, {patient.project_id})
    query = TimelineForm.renamed(request.GET)
    form = TimelineForm(
        {"window_days": query.get("window_days", TimelineForm.DEFAULT_WINDOW)}
    )
    # Only the window is read here, so vaf_scale, a timeline setting, is unknown too:
    name_unknown_parameters(
        form, query, ["window_days", DATES_PARAMETER], reads_old_names=True
    )
    window = (
        form.cleaned_data["window_days"]
        if form.is_valid()
        else TimelineForm.DEFAULT_WINDOW
    )

    timeline = load_timeline(patient, window)
    pairs = [pair for pair in timeline.pairs if pair["study_id"] == study.pk]
    paired = {pair["sample_id"]: pair for pair in pairs}
    draws = [
        {"sample": sample, "pair": paired[sample.pk]}
        for sample in timeline.samples
        if sample.pk in paired
    ]
    context = {
        "patient": patient,
        "study": study,
        "view": load_study(study, None),
        "timeline": timeline,
        "draws": draws,
        "form": form,
        "dates": dates,
        "patient_dates": dates.of(patient),
    }
    status = 200 if form.is_valid() else 400
    return render(request, "browse/report.html", context, status=status)


def _projects_listed(request: HttpRequest, form: forms.Form) -> set[int]:
    """Return the projects a list page may show: the form's project, else every readable one.

    Their strictest role sets the page's date mode, as for an export of them, and
    does not change with the other filters.
    """
    chosen = form.cleaned_data.get("project") if form.is_valid() else None
    if chosen is not None:
        return {chosen.pk}
    return set(project_ids_for(request.user))


def _count_of(queryset: QuerySet) -> Coalesce:
    counted = queryset.order_by().values("patient").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)
