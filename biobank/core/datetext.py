"""Calendar dates in free text, however people write them, for showing text without them."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator

# What stands for a date whose day and month cannot be told apart (3.2.2024):
UNCLEAR_DATE = "[date]"

# A date as people write it, in any case, with letters or underscores around it but
# no digit: ISO with any one separator (2024-03-08, 2024_3_8), compact (20240308),
# numbers with the year last (8.3.2024, 03/08/24), the day and a month's name
# either way round (3 Feb 2024, 03-MAR-24, February 3rd, 2024, 3. März 2024), or
# year, month and day marked as Chinese, Japanese (2024年3月8日) and Korean (2024년
# 3월 8일) write them, in any digits (\d: fullwidth ２０２４ too).
# The screen of DICOM texts (radiomics.importers.deid._DATES) reads capitals and
# four-digit years only, to compare with birth dates; this one must find every date.
_DATES = re.compile(
    r"(?<![0-9])(?:"
    r"(?P<iso_year>\d{4})(?P<iso_sep>[-./_])(?P<iso_month>\d{1,2})(?P=iso_sep)"
    r"(?P<iso_day>\d{1,2})"
    r"|(?P<cjk_year>\d{4}) *[年년] *(?P<cjk_month>\d{1,2}) *[月월] *(?P<cjk_day>\d{1,2})"
    r"(?: *[日일])?"
    r"|(?P<compact_year>(?:19|20)\d{2})(?P<compact_month>\d{2})(?P<compact_day>\d{2})"
    r"|(?P<first>\d{1,2})(?P<sep>[-./_])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    r"|(?P<day>\d{1,2})(?:st|nd|rd|th)?[ ./_-]*(?P<month>[^\W\d_]{3,9})\.?[ ./,_-]*"
    r"(?P<day_year>\d{4}|\d{2})"
    r")(?![0-9])"
    r"|(?<![^\W\d_])(?P<month_first>[^\W\d_]{3,9})\.?[ ./_-]*(?P<month_day>\d{1,2})"
    r"(?:st|nd|rd|th)?[ ./,_-]+(?P<month_year>\d{4}|\d{2})(?![0-9])",
    re.IGNORECASE,
)
# What makes dotted numbers a version or a longer number rather than a date: a digit
# or dot before them, or a "v" starting the word (v10.12.20); more of them after:
_JOINED_BEFORE = re.compile(r"(?:[\d.]|\bv)\Z", re.IGNORECASE)
_JOINED_AFTER = re.compile(r"[./_-]\d")
_MONTH_NAMES = (
    ("jan", "januar", "january", "janvier"),
    ("feb", "februar", "february", "fevrier"),
    ("mar", "march", "märz", "maerz", "mars"),
    ("apr", "april", "avril"),
    ("may", "mai"),
    ("jun", "june", "juni", "juin"),
    ("jul", "july", "juli", "juillet"),
    ("aug", "august"),
    ("sep", "sept", "september"),
    ("oct", "okt", "october", "oktober"),
    ("nov", "november"),
    ("dec", "dez", "december", "dezember"),
)
_MONTHS = {
    name: number for number, names in enumerate(_MONTH_NAMES, 1) for name in names
}


def replace_dates(text: str, shown: Callable[[dt.date], str]) -> str:
    """Return `text` with each calendar date in it as `shown` writes that day.

    A date whose day and month order cannot be told (3.2.2024 is 3 February or
    2 March; 08.03.24 may even be 2008-03-24) becomes UNCLEAR_DATE rather than
    stay. A find that is no date (20241399, 31.02.2024, 5 Tims 2024) stays as
    written, as do numbers that cannot be a date (PL-12345678) and versions or
    numbered IDs marked as such (v2015.1.1, 2015.1.1.4, v10.12.20, PT_12_05_01).
    NB: a month with its year but no day (March 2024) is not a date here.
    """

    parts = []
    done = 0
    for match, days in _finds(text):
        parts.append(text[done : match.start()])
        parts.append(UNCLEAR_DATE if len(days) > 1 else shown(days.pop()))
        done = match.end()
    parts.append(text[done:])
    return "".join(parts)


def has_dates(text: str) -> bool:
    """Whether replace_dates() would rewrite a date in `text`, or in it as a database
    compares text without case (PostgreSQL's UPPER() makes ſ an S and ı an I)."""
    forms = {text, text.upper(), text.casefold(), unicodedata.normalize("NFKC", text)}
    return any(next(_finds(form), None) is not None for form in forms)


def _finds(text: str) -> Iterator[tuple[re.Match[str], set[dt.date]]]:
    """Yield each date found in `text` with the days it may mean, left to right."""
    match = _DATES.search(text)
    while match is not None:
        days = _readings(match)
        # A find that is no date may hide one it overlaps (CAIRO5_2024-03-08 reads
        # as the month CAI), so the search goes on from its next character:
        if not days:
            match = _DATES.search(text, match.start() + 1)
            continue

        yield match, days
        match = _DATES.search(text, match.end())


def _readings(match: re.Match[str]) -> set[dt.date]:
    """Return the existing days a find of _DATES may mean."""
    group = match.group
    if group("iso_year"):
        month, day = group("iso_month"), group("iso_day")
        # Dotted with a one-digit month or day, it is a version only when marked as
        # one (v2015.1.1, 2015.1.1.4): written so, 2020.1.5 is a date in much of the
        # world (Korea, China, Hungary, Poland), and a day shown would be a leak.
        if group("iso_sep") == "." and min(len(month), len(day)) < 2 and _joined(match):
            return set()
        return _days(((group("iso_year"), month, day),))
    if group("cjk_year"):
        return _days(((group("cjk_year"), group("cjk_month"), group("cjk_day")),))
    if group("compact_year"):
        return _days(
            ((group("compact_year"), group("compact_month"), group("compact_day")),)
        )
    if group("year"):
        first, second, year = group("first"), group("second"), group("year")
        readings = [(year, second, first), (year, first, second)]
        if len(year) == 2:
            # Two digits each, not joined by underscores, and not part of a version
            # or longer number: 3.10.12, v10.12.20, PT_12_05_01 and 12.05.01.3 are
            # versions or numbered IDs. NB: a numbered ID such as S-12.05.01 reads
            # as a date ("[date]"), as GTV_12.05.21 must (a leak is worse).
            if len(first) < 2 or len(second) < 2 or group("sep") == "_":
                return set()
            if _joined(match):
                return set()
            # Read as a two-digit year first too (24.03.08 is 2024-03-08 to some):
            readings.append((first, second, year))
        return _days(readings)
    if group("day"):
        month = _month(group("month"))
        return _days(((group("day_year"), month, group("day")),)) if month else set()
    month = _month(group("month_first"))
    if not month:
        return set()
    return _days(((group("month_year"), month, group("month_day")),))


def _joined(match: re.Match[str]) -> bool:
    text = match.string
    return bool(
        _JOINED_BEFORE.search(text, 0, match.start())
        or _JOINED_AFTER.match(text, match.end())
    )


def _month(name: str) -> int | None:
    # Compatibility forms and case folded as a database's upper() may fold them
    # (Auguſt, Aprıl), so that a spelling no reader uses still counts as its month:
    folded = unicodedata.normalize("NFKC", name).casefold().replace("ı", "i")
    return _MONTHS.get(folded)


def _days(readings) -> set[dt.date]:
    days = set()
    for year, month, day in readings:
        year = int(year)
        if year < 100:
            # A two-digit year is of this century unless that is in the future:
            this_year = dt.date.today().year
            year += this_year // 100 * 100
            if year > this_year:
                year -= 100
        if not 1900 <= year <= 2099:
            continue  # 1234.5.6 is no patient's date
        try:
            days.add(dt.date(year, int(month), int(day)))
        except ValueError:
            continue
    return days
