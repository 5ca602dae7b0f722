"""Form fields that read dates by the import commands' rule: ISO 8601, never guessed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms

from biobank.core.dates import parse_one

ISO_DATE_MESSAGE = (
    "is not a date (YYYY-MM-DD); a slashed date such as 12/03/2020 could be "
    "either day or month first, so it is not guessed."
)


class IsoDateField(forms.DateField):
    """A day written YYYY-MM-DD, read by the same parser as the import commands.

    Django's DateField also takes the en-us formats (12/03/2020 as 3 December), which
    the commands refuse as ambiguous; a form must not accept what a command refuses.
    """

    default_error_messages = {"invalid": f"The date {ISO_DATE_MESSAGE}"}

    def to_python(self, value: Any) -> dt.date | None:
        if value in self.empty_values:
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        day = parse_one(str(value).strip())
        if day is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return day


class IsoSplitDateTimeField(forms.SplitDateTimeField):
    """The admin's date-and-time pair, with its date read as IsoDateField reads it."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        day = IsoDateField(required=False)
        self.fields = (day, self.fields[1])
