"""Checks of single values that importers and the API share, each failing with one message."""

from __future__ import annotations

import datetime as dt
import re

from django.core.exceptions import ValidationError
from django.db import models
from django.db.backends.base.operations import BaseDatabaseOperations
from django.utils import timezone

# The earliest date any record may carry: no patient of the biobank was born before
# it (patients.validation.MIN_BIRTH_YEAR), so an earlier date is a typo or a filler.
EARLIEST_YEAR = 1880
EARLIEST_DATE = dt.date(EARLIEST_YEAR, 1, 1)

# NB: the ranges of PostgreSQL's columns, checked on every database: SQLite would
# store larger numbers, and the same file must import the same way everywhere.
_INTEGER_RANGES = BaseDatabaseOperations.integer_field_ranges

# An ISO date followed by something, which then must be a time of day:
_DATE_AND_MORE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}[T ]")
# Unicode's control characters (category Cc: U+0000 to U+001F and U+007F to U+009F)
# but tab; one search instead of a category look-up per character, which took most
# of a 1,500-column PyRadiomics import:
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


class InvalidValue(ValueError):
    """A value breaks a rule; the message says what to change, for the field it names.

    Messages start with a verb ("is in the future ..."): an importer puts them after
    the file, row and column, the API under the JSON field's name. `code` is the
    machine-readable kind an importer gives its DataIssue, e.g. future-date.
    """

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


def check_not_future(day: dt.date | None) -> dt.date | None:
    """Return `day`; raise InvalidValue when it lies after today (local time).

    A day before EARLIEST_DATE is refused too: no record of a living biobank's
    patients is that old, so 0001-01-01 or 1850-01-01 is a filler or a typo.
    """
    today = timezone.localdate()
    if day is not None and day > today:
        raise InvalidValue(f"is in the future (today is {today}).", "future-date")
    if day is not None and day < EARLIEST_DATE:
        raise InvalidValue(
            f"lies before {EARLIEST_DATE}, the earliest date the biobank accepts.",
            "implausible-date",
        )
    return day


def clean_dates(record: models.Model, labels: dict[str, str]) -> None:
    """Raise ValidationError for each date field of `record` that check_not_future refuses.

    `labels` maps a field to the words its message starts with ("Draw date"); a
    moment is checked by its local day. Models' clean() calls this, so the admin
    refuses the dates the importers and the API refuse, with their message.
    """
    errors = {}
    for name, label in labels.items():
        day = getattr(record, name)
        if isinstance(day, dt.datetime):
            try:
                day = timezone.localdate(day)
            except OverflowError:  # 0001-01-01 00:00 UTC west of Greenwich
                day = day.date()
        try:
            check_not_future(day)
        except InvalidValue as error:
            errors[name] = f"{label} {error}"
    if errors:
        raise ValidationError(errors)


def check_date_text(text: str) -> str:
    """Return `text`; raise InvalidValue when an ISO date is followed by no valid time.

    2024-08-06T25:00:00Z or "2024-08-06 garbage" is no date without a time: only a
    date given alone means the time of day is unknown.
    """
    text = text.strip()
    if _DATE_AND_MORE.match(text) is None:
        return text
    try:
        dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidValue(
            "is not a valid date and time (YYYY-MM-DDTHH:MM:SS, optionally with Z or "
            "an offset); give the date alone when the time of day is unknown.",
            "invalid-time",
        ) from None
    return text


def check_fits(number: int, field: models.Field) -> int:
    """Return `number`; raise InvalidValue when the integer column of `field` cannot hold it.

    The range is the column's (PositiveIntegerField: 0 to 2147483647), so a huge
    count is a row's error rather than an overflow of the database.
    """
    low, high = integer_range(field)
    what = field.verbose_name
    if high is not None and number > high:
        raise InvalidValue(
            f"is beyond the largest {what} this field stores ({high}).",
            "number-out-of-range",
        )
    if low is not None and number < low:
        raise InvalidValue(
            f"is below the smallest {what} this field stores ({low}).",
            "number-out-of-range",
        )
    return number


def integer_range(field: models.Field) -> tuple[int | None, int | None]:
    """Return the least and greatest number the PostgreSQL column of `field` stores."""
    return _INTEGER_RANGES.get(field.get_internal_type(), (None, None))


def check_text(text: str) -> str:
    """Return `text`; raise InvalidValue when it holds a control character other than tab.

    A NUL cannot be stored by PostgreSQL at all, and the other control characters
    are left by binary files or broken exports, never typed on purpose.
    """
    found = _CONTROL_CHARACTER.search(text)
    if found is not None:
        raise InvalidValue(
            control_character_message(found.group()), "control-character"
        )
    return text


def control_character_message(character: str) -> str:
    if character == "\0":
        return "holds a NUL character (U+0000), which no text field stores; remove it."
    return (
        f"holds the control character U+{ord(character):04X}, which no text field "
        "stores; remove it."
    )


def check_between(number: int, low: int, high: int) -> int:
    if not low <= number <= high:
        raise InvalidValue(f"must lie between {low} and {high}.")
    return number


def check_choice(text: str, choices: dict[str, str]) -> str:
    """Return the choice that `text` names, any case; `choices` maps lower-case words."""
    choice = choices.get(text.strip().lower())
    if choice is None:
        raise InvalidValue(choice_message(choices), "unknown-choice")
    return choice


def choice_message(choices: dict[str, str]) -> str:
    allowed = ", ".join(sorted({str(value) for value in choices.values()}))
    return f"is not one of {allowed}."


def longer_than_message(max_length: int) -> str:
    return f"is longer than {max_length} characters."
