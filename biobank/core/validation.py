"""Checks of single values that importers and the API share, each failing with one message."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone


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
    """Return `day`; raise InvalidValue when it lies after today (local time)."""
    today = timezone.localdate()
    if day is not None and day > today:
        raise InvalidValue(f"is in the future (today is {today}).", "future-date")
    return day


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
