"""Template filters and tags of the researcher pages."""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from biobank.core.importing import counted as counted_text
from biobank.exports.dates import DATES_PARAMETER

register = template.Library()

MINUTES_PER_DAY = 24 * 60


@register.filter
def significant(value: float | None, digits: int = 6) -> str:
    """Format a measurement with `digits` significant digits (12.5, 0.000123, 1.5e+06)."""
    if value is None:
        return "–"
    return f"{float(value):.{int(digits)}g}"


@register.filter
def counted(n: int, kind: str) -> str:
    """Write a count with its plural noun in the right number: 1 attribute, 2 attributes."""
    return counted_text(n, kind)


@register.filter
def percent(fraction: float | None) -> str:
    """Show a fraction (VAF 0.0207) as the per cent the charts use (2.07 %)."""
    if fraction is None:
        return "–"
    return f"{float(fraction) * 100:.3g} %"


@register.filter
def shown_date(value: dt.date | None, dates) -> str:
    """Show a date or moment of a patient in the page's date mode (a PatientDates).

    Calendar and shifted dates read 2024-03-01 (a moment 2024-03-01 09:30, local
    time); relative ones read "day 12" (a moment "day 12 09:30"). Empty for none.
    """
    if value is None or value == "":
        return ""
    return day_text(dates.value(value))


@register.filter
def shown_text(value: str, dates) -> str:
    """Show free text of a patient (a note, a lab's sample ID) as the page's date mode
    shows it: each date in it, however written, as "[date]" outside calendar mode
    (a PatientDates; see Dater.text)."""
    return dates.text(value) if value else ""


def day_text(shown: object) -> str:
    """Write a date, a moment or relative days (a Dater's value) as the pages show it."""
    if shown is None:
        return ""
    if isinstance(shown, dt.datetime):
        return timezone.localtime(shown).strftime("%Y-%m-%d %H:%M")
    if isinstance(shown, dt.date):
        return shown.isoformat()
    if isinstance(shown, int):
        return f"day {shown}"
    # Relative days of a moment: the fraction is its time of day.
    day = math.floor(shown)
    minutes = min(round((shown - day) * MINUTES_PER_DAY), MINUTES_PER_DAY - 1)
    return f"day {day} {minutes // 60:02d}:{minutes % 60:02d}"


@register.simple_tag(takes_context=True)
def dated_url(context, name: str, *args, **query) -> str:
    """Return the address of page `name` (with `query`), in the date mode this page was asked.

    A mode the page took by default is left out, so that the next page takes its own
    (a role's default is the same on every page of a project).
    """
    dates = context.get("dates")
    if dates is not None and dates.asked:
        query[DATES_PARAMETER] = dates.asked
    url = reverse(name, args=args)
    return f"{url}?{urlencode(query)}" if query else url
