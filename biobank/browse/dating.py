"""The dates of the researcher pages: the export rule (Dater), shown and switchable."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from biobank.exports.dates import (
    DATES_PARAMETER,
    DateMode,
    Dater,
    DatesInvalid,
    DatesRefused,
    PatientKey,
    ReferenceKind,
    decide_date_mode,
    may_see_calendar,
)
from patients.models import Patient

# In the order the pages offer them, the default of each role first:
MODES_OFFERED = (DateMode.CALENDAR, DateMode.SHIFTED, DateMode.RELATIVE)


@dataclass(frozen=True)
class PatientDates:
    """One patient's dates as the page shows them (see the `shown_date` filter)."""

    dater: Dater
    key: PatientKey

    def value(self, value: object) -> object:
        """Return a date or moment of this patient in the page's mode."""
        return self.dater.value(self.key, value)

    def text(self, text: str) -> str:
        """Return free text of this patient (a note) as the page's mode shows it."""
        return self.dater.text(text)

    @property
    def reference_label(self) -> str:
        """What day 0 of this patient is in relative mode (never the date itself)."""
        reference = self.dater.reference(self.key)
        if reference is None:
            return "no dated record, so there is no day 0"
        return ReferenceKind(reference.kind).label.lower()


@dataclass(frozen=True)
class ModeLink:
    """A date mode the user may switch the page to, and its address."""

    mode: DateMode
    url: str
    is_current: bool


@dataclass(frozen=True)
class PageDates:
    """The date mode of one page, and the modes its user may switch to."""

    dater: Dater
    # The mode named by ?dates=, which the page's forms carry on; "" for the default:
    asked: str
    links: list[ModeLink]
    calendar_allowed: bool

    @property
    def mode(self) -> DateMode:
        return self.dater.mode

    @property
    def is_calendar(self) -> bool:
        return self.dater.is_calendar

    @property
    def is_relative(self) -> bool:
        return self.dater.mode == DateMode.RELATIVE

    @property
    def shows_birth_year(self) -> bool:
        """Whether the birth year is shown: with an age it would tell a patient's offset."""
        return self.dater.is_calendar

    def of(self, patient: Patient) -> PatientDates:
        """Return the dates of `patient`, whose project must be loaded with it."""
        return PatientDates(self.dater, (patient.project.code, patient.pseudonym))

    def of_each(self, keys: Iterable[PatientKey]) -> list[PatientDates]:
        """Return the dates of several patients, their references read at once."""
        keys = list(keys)
        self.dater.prepare(keys)
        return [PatientDates(self.dater, key) for key in keys]


def page_dates(
    request: HttpRequest, projects: Iterable[int | None], calendar_sort: str = ""
) -> PageDates:
    """Return the date mode of a page showing records of patients of `projects`.

    The rule of exports and the API (`decide_date_mode`): viewers get shifted dates
    by default and may ask for relative ones; curators, managers and site
    administrators get calendar dates by default and may ask for any mode. A bad
    `dates` raises DatesInvalid or DatesRefused, which `answers_bad_dates` answers.

    `calendar_sort` is a `sort` the page allows with calendar dates only: the links
    to the other modes leave it out, with its direction, rather than lead to a 400.
    """
    asked = request.GET.get(DATES_PARAMETER, "")
    calendar_allowed = may_see_calendar(request.user, projects)
    mode = decide_date_mode(asked, calendar_allowed, shown_by="page")

    links = []
    for choice in MODES_OFFERED:
        if choice == DateMode.CALENDAR and not calendar_allowed:
            continue
        query = request.GET.copy()
        query[DATES_PARAMETER] = choice.value
        if (
            calendar_sort
            and choice != DateMode.CALENDAR
            and query.get("sort") == calendar_sort
        ):
            query.pop("sort")
            query.pop("descending", None)
        links.append(ModeLink(choice, f"?{query.urlencode()}", choice == mode))
    return PageDates(Dater(mode), asked, links, calendar_allowed)


def answers_bad_dates(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Answer a page whose `dates` names no mode with 400, and a viewer's calendar dates with 403.

    The answer names the parameter and links to the page with its default dates, as
    the API names it in its 400 and 403 answers.
    """

    @functools.wraps(view)
    def checked(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except (DatesInvalid, DatesRefused) as error:
            query = request.GET.copy()
            query.pop(DATES_PARAMETER, None)
            context = {
                "parameter": DATES_PARAMETER,
                "message": str(error),
                "default_url": f"{request.path}?{query.urlencode()}",
            }
            status = 403 if isinstance(error, DatesRefused) else 400
            return render(request, "browse/dates_refused.html", context, status=status)

    return checked
