"""Date parsing with one day/month order per column, never per value."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.utils import timezone

from biobank.core.importing import Problem
from biobank.core.wording import give

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_SLASHED = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_EXCEL_SERIAL = re.compile(r"^\d{4,6}(\.\d+)?$")


def local_day(value: dt.date | dt.datetime) -> dt.date:
    """Return the day of a date, or of a moment in TIME_ZONE, as drawn_on stores it.

    An aware moment's own offset may put it on another day: 2024-03-02T00:30+01:00
    is 1 March in UTC. A naive moment is read as written.
    """
    if isinstance(value, dt.datetime):
        return timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return value


def moment_text(moment: dt.datetime) -> str:
    """Return an aware moment as ISO 8601 text with UTC written Z: 2024-03-10T09:00:00Z.

    The form of the API's JSON (DRF writes UTC as Z), which every export shares: the
    cohort pairs CSV and the matrix's CSV and JSON Lines (a pandas Timestamp is a
    datetime too). Another offset stays as it is; microseconds are kept.
    """
    text = moment.isoformat()
    if text.endswith("+00:00"):
        return text.removesuffix("+00:00") + "Z"
    return text


DAY_FIRST = "day-first"
MONTH_FIRST = "month-first"
ORDERS = (DAY_FIRST, MONTH_FIRST)


@dataclass
class DateColumn:
    """Parsed values of one column, by row, with what was assumed or rejected."""

    values: dict[int, dt.date | None] = field(default_factory=dict)
    order: str | None = None
    warnings: list[Problem] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)


def _slashed_parts(text: str) -> tuple[int, int, int] | None:
    match = _SLASHED.match(text)
    if not match:
        return None
    a, b, year = (int(g) for g in match.groups())
    return a, b, year


def infer_order(texts: list[str]) -> str | None:
    """Return the order that a value above 12 proves, or None if none proves one.

    Raises ValueError when the column proves both orders (a value > 12 in each place).
    """
    first_big = second_big = False
    for text in texts:
        parts = _slashed_parts(text)
        if parts is None:
            continue
        first_big |= parts[0] > 12
        second_big |= parts[1] > 12
    if first_big and second_big:
        raise ValueError("the column holds both day-first and month-first dates")
    if first_big:
        return DAY_FIRST
    if second_big:
        return MONTH_FIRST
    return None


def _proves(text: str, place: int) -> bool:
    """Whether a slashed date has a number above 12 in this place (0: first, 1: second)."""
    parts = _slashed_parts(text)
    return parts is not None and parts[place] > 12


def parse_date_column(
    source: str,
    field_name: str,
    cells: dict[int, str],
    declared_order: str | None = None,
) -> DateColumn:
    """Parse one date column of a table, given as {line number: cell text}.

    ISO dates (YYYY-MM-DD, optionally with a time) always parse. Slashed or dotted
    dates (31/12/2019) take one order for the whole column: the declared one, else
    the one a day above 12 proves; a column with no proof is an error, since
    03/04/2021 could be either. A bare number such as 44291 is an Excel serial left
    by a formatting loss: it becomes empty with a warning, never a guessed date.
    """
    column = DateColumn()
    present = {
        row: text.strip() for row, text in cells.items() if text and text.strip()
    }
    slashed = [text for text in present.values() if _slashed_parts(text)]

    if declared_order is not None and declared_order not in ORDERS:
        raise ValueError(f"date order must be one of {ORDERS}, not {declared_order!r}")
    order = declared_order
    if order is None and slashed:
        try:
            order = infer_order(slashed)
        except ValueError:
            day_first, month_first = (
                min(row for row, text in present.items() if _proves(text, place))
                for place in (0, 1)
            )
            day, month = present[day_first], present[month_first]
            column.errors.append(
                Problem(
                    source,
                    f"the column holds both day-first dates (row {day_first}: {day}) "
                    f"and month-first dates (row {month_first}: {month}); write the "
                    "column in one order, or as YYYY-MM-DD.",
                    row=month_first,
                    field=field_name,
                    value=present[month_first],
                    code="mixed-date-order",
                )
            )
            return column
        if order is None:
            ambiguous = ", ".join(sorted(set(slashed))[:5])
            column.errors.append(
                Problem(
                    source,
                    "the day/month order of this column is ambiguous (no day above 12); "
                    f"declare the date format ({give('date_order')}). Values: "
                    f"{ambiguous}.",
                    field=field_name,
                    code="ambiguous-date-order",
                )
            )
            return column
    column.order = order

    for row, text in cells.items():
        text = text.strip()
        if not text or text.upper() in {"NA", "N/A", "NULL", "NONE", "-"}:
            column.values[row] = None
            continue
        parsed = parse_one(text, order)
        if parsed is not None:
            column.values[row] = parsed
        elif _EXCEL_SERIAL.match(text):
            column.values[row] = None
            column.warnings.append(
                Problem(
                    source,
                    "looks like a spreadsheet serial number, not a date; left empty "
                    "rather than guessing the 1900 or 1904 date system.",
                    row=row,
                    field=field_name,
                    value=text,
                    code="excel-serial-date",
                )
            )
        else:
            column.errors.append(
                Problem(source, "is not a date.", row=row, field=field_name, value=text)
            )
    return column


def parse_one(text: str, order: str | None = None) -> dt.date | None:
    """Parse one ISO or slashed date; None when the text is no valid date."""
    match = _ISO.match(text)
    try:
        if match:
            year, month, day = (int(g) for g in match.groups())
            return dt.date(year, month, day)
        parts = _slashed_parts(text)
        if parts and order is not None:
            a, b, year = parts
            day, month = (a, b) if order == DAY_FIRST else (b, a)
            return dt.date(year, month, day)
    except ValueError:
        return None
    return None


def parse_datetime_cell(
    text: str, order: str | None = None
) -> tuple[dt.datetime, bool] | None:
    """Parse a draw moment; return (aware datetime, whether the time of day was given).

    A bare date becomes midnight in the project time zone, flagged as time unknown.
    """
    text = text.strip()
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is not None:
        has_time = "T" in text or " " in text
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment, has_time
    day = parse_one(text, order)
    if day is None:
        return None
    return timezone.make_aware(dt.datetime.combine(day, dt.time())), False


def check_not_future(day: dt.date | None) -> bool:
    return day is None or day <= timezone.localdate()
