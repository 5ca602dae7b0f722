"""Read DICOM date, time and age strings (DA, TM, DT, AS) as scanners really write them."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from biobank.core.importing import Message
from biobank.core.validation import InvalidValue, check_not_future

OK, EMPTY, LEGACY, PLACEHOLDER, INVALID = (
    "ok",
    "empty",
    "legacy",
    "placeholder",
    "invalid",
)

_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# PS3.5 6.2 asks readers to accept the ACR-NEMA form yyyy.mm.dd; dashes and slashes
# with the year first are just as unambiguous:
_DA_LEGACY = re.compile(r"^(\d{4})[.\-/](\d{2})[.\-/](\d{2})$")
_TM = re.compile(r"^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?$")
_TM_LEGACY = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$")
_DT = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$"
)
_DT_LEGACY = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?)?$"
)
# PS3.5 6.2: an Integer String is an optionally signed whole number of -2^31 to
# 2^31 - 1, a Decimal String a fixed or floating point number; spaces may pad both.
_NUMBER_STRINGS = {
    "IS": re.compile(r" *[+-]?[0-9]+ *"),
    "DS": re.compile(r" *[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)? *"),
}
# The day of a standard DA or DT value, whose month and day a DT may leave out:
_DAY = re.compile(r"(\d{4})(\d{2})?(\d{2})?")
# Several values, separated by backslashes; an empty one among them is absent:
_DECIMAL = _NUMBER_STRINGS["DS"].pattern
_DS_LIST = re.compile(rf"(?:{_DECIMAL})?(?:\\(?:{_DECIMAL})?)*")
# What in a decimal string matching _NUMBER_STRINGS may still overflow a float:
_HUGE_DECIMAL = re.compile(r"[eE]|[0-9.]{300}")
_IS_RANGE = range(-(2**31), 2**31)
NUMBER_VRS = frozenset(_NUMBER_STRINGS)
NUMBER_KINDS = {"IS": "a whole number", "DS": "a decimal number"}
_AS = re.compile(r"^(\d{3})([DWMY])$")
_AS_LOOSE = re.compile(r"^(\d{1,3})\s*(D|W|M|Y)[A-Z]*$")
_DIGITS = re.compile(r"^\d{1,3}$")

YEARS_PER_UNIT = {
    "D": Decimal(1) / Decimal("365.25"),
    "W": Decimal(7) / Decimal("365.25"),
    "M": Decimal(1) / Decimal(12),
    "Y": Decimal(1),
}
# HIPAA Safe Harbor groups ages above 89; PS3.15 E.3.4 leaves the rule to the site.
OLDEST_AGE_YEARS = 90


def element(ds: Dataset, keyword: str) -> DataElement | None:
    """Return the data element of a keyword, or None when the data set lacks it."""
    tag = tag_for_keyword(keyword)
    return ds[tag] if tag is not None and tag in ds else None


@dataclass(frozen=True)
class Checked:
    """A DA, TM or DT value checked: what to store ('' when absent) and why."""

    status: str
    value: str = ""


def _is_placeholder(digits: str) -> bool:
    return bool(digits) and set(digits) <= {"0"}


def check_da(text: str) -> Checked:
    """Check one DA value; legacy forms are normalised to YYYYMMDD."""
    text = text.strip()
    if not text:
        return Checked(EMPTY)
    if _is_placeholder(re.sub(r"\D", "", text)):
        return Checked(PLACEHOLDER)

    match = _DA.match(text)
    status = OK
    if match is None:
        match = _DA_LEGACY.match(text)
        status = LEGACY
    if match is None:
        return Checked(INVALID)
    year, month, day = match.groups()
    if year == "0000" or month == "00" or day == "00":
        return Checked(PLACEHOLDER)
    try:
        dt.date(int(year), int(month), int(day))
    except ValueError:
        return Checked(INVALID)
    return Checked(status, f"{year}{month}{day}")


def parse_da(text: str) -> dt.date | None:
    """Return the date of a DA value in any accepted form; None if absent or invalid."""
    checked = check_da(text)
    if checked.status not in (OK, LEGACY):
        return None
    value = checked.value
    return dt.date(int(value[:4]), int(value[4:6]), int(value[6:]))


def check_tm(text: str) -> Checked:
    """Check one TM value; the ACR-NEMA form hh:mm:ss is normalised to hhmmss."""
    text = text.strip()
    if not text:
        return Checked(EMPTY)
    match, status = _TM.match(text), OK
    if match is None:
        match, status = _TM_LEGACY.match(text), LEGACY
    if match is None:
        return Checked(INVALID)
    hours, minutes, seconds, fraction = match.groups()
    # NB: 60 seconds is a valid TM value, for leap seconds.
    if int(hours) > 23 or int(minutes or 0) > 59 or int(seconds or 0) > 60:
        return Checked(INVALID)
    value = (
        hours + (minutes or "") + (seconds or "") + (f".{fraction}" if fraction else "")
    )
    return Checked(status, value)


def parse_tm(text: str) -> dt.time | None:
    checked = check_tm(text)
    if checked.status not in (OK, LEGACY):
        return None
    value = checked.value
    seconds, _, fraction = value[4:].partition(".")
    return dt.time(
        int(value[:2]),
        int(value[2:4] or 0),
        min(int(seconds or 0), 59),
        int(fraction.ljust(6, "0")) if fraction else 0,
    )


def check_dt(text: str) -> Checked:
    """Check one DT value; ISO 8601 with dashes and colons is normalised."""
    text = text.strip()
    if not text:
        return Checked(EMPTY)
    date_part = re.sub(r"\D", "", text[:10])
    if _is_placeholder(date_part):
        return Checked(PLACEHOLDER)

    match = _DT.match(text)
    if match is not None:
        parts, status = [g or "" for g in match.groups()], OK
    else:
        legacy = _DT_LEGACY.match(text)
        if legacy is None:
            return Checked(INVALID)
        parts, status = [g or "" for g in legacy.groups()] + [""], LEGACY
    year, month, day, hours, minutes, seconds, fraction, offset = parts
    if month == "00" or day == "00":
        return Checked(PLACEHOLDER)
    try:
        dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hours or 0),
            int(minutes or 0),
        )
    except ValueError:
        return Checked(INVALID)
    if seconds and int(seconds) > 60:
        return Checked(INVALID)
    return Checked(status, "".join(parts))


CHECKS = {"DA": check_da, "TM": check_tm, "DT": check_dt}


def refused_date(vr: str, value: str) -> InvalidValue | None:
    """Return why the biobank refuses the day of a DA or DT value; None if it does not.

    `value` is one checked as standard (Checked.value). A DT without month or day
    counts from its first day.
    """
    found = _DAY.match(value) if vr in ("DA", "DT") else None
    if found is None:
        return None
    year, month, day = found.groups()
    return refused_day(dt.date(int(year), int(month or 1), int(day or 1)))


def refused_day(day: dt.date) -> InvalidValue | None:
    """Return why no record may carry this day (before 1880, after today); None if it may.

    Every import and the API refuse such a day (biobank.core.validation).
    """
    try:
        check_not_future(day)
    except InvalidValue as refused:
        return refused
    return None


def invalid_numbers(vr: str, text: str) -> list[str]:
    """Return the values of an IS or DS element (backslash-separated) that are no number.

    A value is a number as PS3.5 6.2 writes it: an IS a whole number of 32 bits, a
    DS a finite decimal. Trailing NULs, which some writers pad with, are ignored.
    """
    text = text.rstrip("\x00")
    # Most decimal strings, such as thousands of contour points, pass in one match:
    if (
        vr == "DS"
        and _DS_LIST.fullmatch(text) is not None
        and _HUGE_DECIMAL.search(text) is None
    ):
        return []
    return [
        value.strip(" ")
        for value in text.split("\\")
        if value.strip(" ") and not is_number_string(vr, value)
    ]


def is_number_string(vr: str, text: str) -> bool:
    """Tell whether one IS or DS value is a number as PS3.5 6.2 writes it."""
    if _NUMBER_STRINGS[vr].fullmatch(text) is None:
        return False
    if vr == "IS":
        return int(text) in _IS_RANGE
    return math.isfinite(float(text))


@dataclass(frozen=True)
class Age:
    """PatientAge (0010,1010) read: the raw string and, when it can be read, its value."""

    raw: str
    value: int | None = None
    unit: str = ""
    years: Decimal | None = None
    is_unit_assumed: bool = False
    problem: Message = Message("")


def parse_age(raw: str) -> Age:
    """Read an Age String (AS): nnnD, nnnW, nnnM or nnnY.

    A bare number (as in "42") is read as years with `is_unit_assumed`, since no
    scanner writes days, weeks or months without a unit; a loose form such as "42Y"
    or "42 years" keeps its unit. Anything else keeps only the raw string.
    """
    text = raw.strip().upper()
    if not text:
        return Age(raw)

    match = _AS.match(text)
    if match is not None:
        return _age(raw, int(match.group(1)), match.group(2))

    problem = "is not a valid AS value (nnnD, nnnW, nnnM or nnnY)"
    loose = _AS_LOOSE.match(text)
    if loose is not None:
        age = _age(raw, int(loose.group(1)), loose.group(2))
        read_as = Message(
            problem + "; read as {value}{unit}.", value=age.value, unit=age.unit
        )
        return Age(**{**age.__dict__, "problem": read_as})
    if _DIGITS.match(text):
        age = _age(raw, int(text), "Y")
        return Age(
            **{
                **age.__dict__,
                "is_unit_assumed": True,
                "problem": Message(
                    problem + "; it has no unit, so years were assumed."
                ),
            }
        )
    return Age(raw, problem=Message(problem + "; the age was left empty."))


def _age(raw: str, value: int, unit: str) -> Age:
    years = (value * YEARS_PER_UNIT[unit]).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
    return Age(raw, value, unit, years)


def cap_age(age: Age) -> Age:
    """Return the age with anything above 89 years recorded as 90 years (090Y)."""
    if age.years is None or age.years < OLDEST_AGE_YEARS:
        return age
    return Age(
        f"{OLDEST_AGE_YEARS:03d}Y",
        OLDEST_AGE_YEARS,
        "Y",
        Decimal(OLDEST_AGE_YEARS),
        age.is_unit_assumed,
        age.problem,
    )
