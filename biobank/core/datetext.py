"""Calendar dates in free text, however people write them, for showing text without them."""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Iterator

# What stands for a date whose day cannot be shown: its day and month cannot be told
# apart (3.2.2024), or it names a month and no day (March 2024):
UNCLEAR_DATE = "[date]"

# A month's name, its letters perhaps followed by combining accents (NFD, as macOS
# writes names: março, février):
_NAME = r"(?:[^\W\d_][\u0300-\u036f]{0,3}){3,10}"
# Words between the parts of a date in Spanish and Portuguese (8 de marzo de 2024):
_OF = r"(?:del?[ ]+)?"
_ORDINAL = r"(?:st|nd|rd|th|er|º|°)?"
# A month in Roman numerals, longest first so that XII is not read as XI:
_ROMAN = r"(?-i:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)"
# No letter before, nor a combining accent (a name starts no month inside a word):
_WORD_START = r"(?<![^\W\d_])(?<![\u0300-\u036f])"

# A date as people write it, in any case, with letters or underscores around it but
# no digit: ISO with any one separator (2024-03-08, 2024_3_8, 2024 03 08), compact
# (20240308, 08032024), numbers with the year last (8.3.2024, 03/08/24, 08 03 2024),
# the day and a month's name either way round (3 Feb 2024, 03-MAR-24, February 3rd,
# 2024, 3. März 2024, 8 de marzo de 2024, 2024-Mar-08), year, month and day marked
# as Chinese, Japanese (2024年3月8日) and Korean (2024년 3월 8일, 2024. 3. 8.) write
# them, with spaces wide or narrow, in any digits (\d: fullwidth ２０２４ too), or a month and its year without a day (2024-03,
# 03/2024, Mar 2024, marzo de 2024, 2024年3月).
# The screen of DICOM texts (radiomics.importers.deid._DATES) reads capitals and
# four-digit years only, to compare with birth dates; this one must find every date.
# Less common spellings are read where the text cannot mean a number or an ID by
# them: an ISO week (2020-W04, 2020W04, capital W; with its weekday 2020-W04-3, a
# day), a quarter (Q1 2020, 2020-Q1, capital Q: q3 is a dosing interval), a Roman
# month between a day and a four-digit year, parted by dots, dashes or slashes
# (22-I-2020, 22.XII.2020, capitals), and an ISO ordinal day with its time
# (2020-022T10:30). A week or quarter is a span, so it becomes UNCLEAR_DATE.
# NB: what stays unread, being numbers and IDs more often than dates: an ordinal day
# without a time (2020-022 is the 22nd case of 2020 to a lab or a pathologist's
# accession number), a Roman month parted by spaces or without its day (stage IV
# 2020), one with a two-digit year (3-IV-20), and a lower-case q or w.
# NB: six digits (240308, 080324) are not read as a date even where a name surrounds
# them (CAIRO5_240308_T1), so such a date is shown as written: one six-digit number in
# twelve reads as a day one way or another (YYMMDD, DDMMYY, MMDDYY; one in 27 as
# YYMMDD alone), and numbered IDs (PT_010203_CT, zero-padded counters such as
# S_000123) would lose their number, which a viewer needs to tell records apart.
# A year and month in six digits (202001) is not read either: lab sample IDs number
# by month so (LB-201903, LB-201911), and would read alike (review rv5).
_DATES = re.compile(
    r"(?<![0-9])(?:"
    r"(?P<iso_year>\d{4})(?P<iso_sep>[-./_ ])(?P<iso_month>\d{1,2})(?P=iso_sep)"
    r"(?P<iso_day>\d{1,2})"
    r"|(?P<compact>\d{8})"
    # Before the months' names, which XII and VIII would be read as:
    rf"|(?P<roman_day>\d{{1,2}})(?P<roman_sep>[-./])(?P<roman_month>{_ROMAN})"
    r"(?P=roman_sep)(?P<roman_year>\d{4})"
    r"|(?P<first>\d{1,2})(?P<sep>[-./_ ])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4}|\d{2})"
    rf"|(?P<day>\d{{1,2}}){_ORDINAL}[ ./_-]*{_OF}(?P<month>{_NAME})\.?[ ./,_-]*{_OF}"
    r"(?P<day_year>\d{4}|\d{2})"
    rf"|(?P<named_year_first>(?:19|20)\d{{2}})[ ./_-]*(?P<year_first_month>{_NAME})\.?"
    r"[ ./_-]*(?P<year_first_day>\d{1,2})"
    r"|(?P<cjk_year>\d{4})[ \u3000]*[年년][ \u3000]*(?P<cjk_month>\d{1,2})[ \u3000]*[月월]"
    r"(?:[ \u3000]*(?P<cjk_day>\d{1,2})(?:[ \u3000]*[日일])?)?"
    r"|(?P<dot_year>\d{4})\.[ \u3000]+(?P<dot_month>\d{1,2})\.[ \u3000]+(?P<dot_day>\d{1,2})"
    r"|(?P<ym_year>(?:19|20)\d{2})(?P<ym_sep>[-./_])(?P<ym_month>\d{2})"
    r"|(?P<week_year>(?:19|20)\d{2})-?(?-i:W)(?P<week>\d{2})(?:-?(?P<week_day>[1-7]))?"
    r"|(?P<ordinal_year>(?:19|20)\d{2})-?(?P<ordinal_day>\d{3})(?=(?-i:T)\d{2})"
    r"|(?P<year_quarter>(?:19|20)\d{2})[ ./_-]?(?-i:Q)(?P<year_q>[1-4])(?![^\W\d_])"
    r"|(?P<my_month>\d{1,2})(?P<my_sep>[-./_])(?P<my_year>(?:19|20)\d{2})"
    r")(?![0-9])"
    # A quarter with its year (Q1 2020, Q1-2020): no letter before the Q.
    rf"|{_WORD_START}(?-i:Q)(?P<quarter>[1-4])[ ./_-]?"
    r"(?P<quarter_year>(?:19|20)\d{2})(?![0-9])"
    rf"|{_WORD_START}(?P<month_first>{_NAME})\.?[ ./_-]*(?P<month_day>\d{{1,2}})"
    rf"{_ORDINAL}[ ./,_-]+{_OF}(?P<month_year>\d{{4}}|\d{{2}})(?![0-9])"
    rf"|{_WORD_START}(?P<named_month>{_NAME})\.?[ ./,_-]*{_OF}"
    r"(?P<named_year>(?:19|20)\d{2})(?![0-9])"
    # A day and a month's name without a year, either way round (8 Mar, 8th of
    # March, March 8): beside a shifted day it tells the shift within a year.
    rf"|(?<![0-9])(?P<dm_day>\d{{1,2}}){_ORDINAL}[ ./_-]*(?:of[ ]+)?{_OF}"
    rf"(?P<dm_month>{_NAME})(?![^\W\d_])"
    rf"|{_WORD_START}(?P<md_month>{_NAME})\.?[ ./_-]*(?P<md_day>\d{{1,2}}){_ORDINAL}"
    r"(?![0-9])(?![^\W\d_])",
    re.IGNORECASE,
)
_ROMAN_MONTHS = {
    numeral: number
    for number, numeral in enumerate("I II III IV V VI VII VIII IX X XI XII".split(), 1)
}

_DIGIT = re.compile(r"\d")
# What makes dotted numbers a version or a longer number rather than a date: a digit
# or dot before them, or a "v" starting the word (v10.12.20); more of them after:
_JOINED_BEFORE = re.compile(r"(?:[\d.]|\bv)\Z", re.IGNORECASE)
_JOINED_AFTER = re.compile(r"[./_-]\d")
# Names and abbreviations in English, German, French, Dutch, Spanish, Italian and
# Portuguese, as _month() reads them (without accents: marz, aout, fevrier, marco):
_MONTH_NAMES = (
    "jan january januar janner janvier janv januari enero ene gennaio gen janeiro",
    "feb february februar feber fevrier fevr februari febrero febbraio fevereiro fev",
    "mar march marz maerz mars maart mrt marzo marco",
    "apr april avril avr abril abr aprile",
    "may mai mei mayo maggio mag maio",
    "jun june juni juin junio giugno giu junho",
    "jul july juli juillet juil julio luglio lug julho",
    "aug august aout augustus agosto ago",
    "sep sept september septembre septiembre setiembre settembre set sett setembro",
    "oct october okt oktober octobre octubre ottobre ott outubro out",
    "nov november novembre noviembre novembro",
    "dec december dez dezember decembre diciembre dicembre dic dezembro",
)
_MONTHS = {
    name: number
    for number, names in enumerate(_MONTH_NAMES, 1)
    for name in names.split()
}
# Abbreviations that are words of their own in clinical text too (a training set,
# DIC, gen 2, mag x20, 3 ago, Mayo, Marco): with a two-digit year they name a month
# only when no space parts the date (08-SET-24, 08SET24), so that "set 1 20" or
# "GTV 2 dic 15" stay. NB: the English and German abbreviations (mar, may, mai) stay
# months with spaces too (8 Mar 24), as people write dates so.
_WORDLIKE_NAMES = frozenset(("set", "out", "ago", "mag", "gen", "dic", "mayo", "marco"))
# Month names that are words too (3 may progress, GTV 2 mar 5): beside a day but no
# year they name a month only written with a capital (8 Mar, 3 MAY), and those of
# _WORDLIKE_NAMES not at all.
_LOWER_CASE_WORDS = frozenset(("may", "mar", "mai", "mars", "jan", "juli"))


def replace_dates(text: str, shown: Callable[[dt.date], str]) -> str:
    """Return `text` with each calendar date in it as `shown` writes that day.

    A date whose day and month order cannot be told (3.2.2024 is 3 February or
    2 March; 08.03.24 may even be 2008-03-24) becomes UNCLEAR_DATE rather than
    stay. So does a month with its year but no day (March 2024, marzo de 2024,
    2024-03, 03/2024): shown as written beside a record's shifted day it narrows
    the shift to a month, and moved by the shift it would tell by where the
    month's edges fall (a shifted 1st to 31st is one exact offset), so no month
    is shown. A find that is no date (20241399, 31.02.2024, 5 Tims 2024) stays as
    written, as do numbers that cannot be a date (PL-12345678) and versions or
    numbered IDs marked as such (v2015.1.1, 2015.1.1.4, v10.12.20, PT_12_05_01,
    v2024.03). Numbers parted by spaces are a date only as 08 03 2024 or
    2024 03 08 (two digits each and a four-digit year), and 3.2024 is a number.
    Months are named in English, German, French, Dutch, Spanish, Italian and
    Portuguese (_MONTH_NAMES); see _WORDLIKE_NAMES for words such as "set".
    A day and month without a year (8 Mar, March 8; Mar-24 is read so too) become
    UNCLEAR_DATE, as do an ISO week (2020-W04) and a quarter (Q1 2020). NB:
    six-digit dates and months (240308, 202001), an ordinal
    day without its time (2020-022) and Roman months but between a day and a
    four-digit year (22-I-2020) are not read (see _DATES).
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
    # Every spelling has a digit; most texts of a record (SIEMENS, carboplatin) none,
    # and the search over them is the slow part of an export:
    if _DIGIT.search(text) is None:
        return
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
    """Return the existing days a find of _DATES may mean (the first and last of a
    month named without its day)."""
    group = match.group
    if group("week_year"):
        return _week_days(group("week_year"), group("week"), group("week_day"))
    if group("ordinal_year"):
        return _ordinal_day(group("ordinal_year"), group("ordinal_day"))
    if group("roman_month"):
        month = _ROMAN_MONTHS[group("roman_month")]
        return _days(((group("roman_year"), month, group("roman_day")),))
    if group("quarter") or group("year_quarter"):
        year = group("quarter_year") or group("year_quarter")
        return _quarter_days(year, int(group("quarter") or group("year_q")))
    if group("iso_year"):
        month, day = group("iso_month"), group("iso_day")
        if group("iso_sep") == " " and min(len(month), len(day)) < 2:
            return set()  # 2024 3 8 is three numbers
        # Dotted with a one-digit month or day, it is a version only when marked as
        # one (v2015.1.1, 2015.1.1.4): written so, 2020.1.5 is a date in much of the
        # world (Korea, China, Hungary, Poland), and a day shown would be a leak.
        if group("iso_sep") == "." and min(len(month), len(day)) < 2 and _joined(match):
            return set()
        return _days(((group("iso_year"), month, day),))
    if group("compact"):
        digits = group("compact")
        # Year first or last, and with it last day and month either way round; no
        # eight digits read both as year first and as year last (the month would
        # be 19 or 20):
        return _days(
            (
                (digits[:4], digits[4:6], digits[6:]),
                (digits[4:], digits[2:4], digits[:2]),
                (digits[4:], digits[:2], digits[2:4]),
            )
        )
    if group("year"):
        first, second, year = group("first"), group("second"), group("year")
        if group("sep") == " " and (len(year) < 4 or min(len(first), len(second)) < 2):
            return set()  # 3 10 24 and 3 4 2024 are numbers, 03 04 2024 a date
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
        month = _named_month(match, group("month"), group("day_year"))
        return _days(((group("day_year"), month, group("day")),)) if month else set()
    if group("named_year_first"):
        month = _named_month(match, group("year_first_month"), "")
        year, day = group("named_year_first"), group("year_first_day")
        return _days(((year, month, day),)) if month else set()
    if group("dot_year"):  # as Korea writes a date: 2024. 3. 8.
        return _days(((group("dot_year"), group("dot_month"), group("dot_day")),))
    if group("cjk_year"):
        year, month, day = group("cjk_year"), group("cjk_month"), group("cjk_day")
        return _days(((year, month, day),)) if day else _month_days(year, month)
    if group("ym_year") or group("my_year"):
        year = group("ym_year") or group("my_year")
        month = group("ym_month") or group("my_month")
        # Dotted, a month is two digits and no version (3.2024 and v2024.03 are
        # numbers, 03.2024 and 2024.03 months); nor is an underscored one-digit one:
        if (group("ym_sep") or group("my_sep")) in "._" and (
            len(month) < 2 or _joined(match)
        ):
            return set()
        return _month_days(year, month)
    if group("named_month"):
        month = _month(group("named_month"))
        return _month_days(group("named_year"), month) if month else set()
    if group("dm_month") or group("md_month"):
        name = group("dm_month") or group("md_month")
        bare = _bare(name)
        if bare in _WORDLIKE_NAMES or (bare in _LOWER_CASE_WORDS and name.islower()):
            return set()
        month, day = _month(name), group("dm_day") or group("md_day")
        # Of no year: two leap years' readings make it unclear ("[date]"):
        return _days((("2000", month, day), ("2004", month, day))) if month else set()
    month = _named_month(match, group("month_first"), group("month_year"))
    if not month:
        return set()
    return _days(((group("month_year"), month, group("month_day")),))


def _joined(match: re.Match[str]) -> bool:
    text, start = match.string, match.start()
    # The two characters before are enough, and a search from the text's start
    # would take time growing with the square of a long text's length:
    return bool(
        _JOINED_BEFORE.search(text, max(0, start - 2), start)
        or _JOINED_AFTER.match(text, match.end())
    )


def _month(name: str) -> int | None:
    return _MONTHS.get(_bare(name))


def _named_month(match: re.Match[str], name: str, year: str) -> int | None:
    """Return the month a name in a date with a day means, if it means one there."""
    bare = _bare(name)
    # The year written first is no year to the rule ("In 2024 set 10 records"):
    if len(year) != 4 and " " in match.group() and bare in _WORDLIKE_NAMES:
        return None
    return _MONTHS.get(bare)


def _bare(name: str) -> str:
    # Compatibility forms and case folded as a database's upper() may fold them
    # (Auguſt, Aprıl), so that a spelling no reader uses still counts as its month,
    # and accents dropped (março, août, März, written composed or not):
    folded = unicodedata.normalize("NFKC", name).casefold().replace("ı", "i")
    return "".join(
        letter
        for letter in unicodedata.normalize("NFKD", folded)
        if not unicodedata.combining(letter)
    )


def _month_days(year: str, month: str | int) -> set[dt.date]:
    """Return the first and last day of a month named without its day (none if it
    is no month)."""
    first = _days(((year, month, 1),))
    if not first:
        return set()
    day = first.pop()
    return {day, day.replace(day=calendar.monthrange(day.year, day.month)[1])}


def _week_days(year: str, week: str, weekday: str | None) -> set[dt.date]:
    """Return the day of an ISO week's weekday, or its Monday and Sunday without one
    (none if the year has no such week)."""
    days = set()
    for day in (int(weekday),) if weekday else (1, 7):
        try:
            days.add(dt.date.fromisocalendar(int(year), int(week), day))
        except ValueError:
            return set()
    return days


def _ordinal_day(year: str, day: str) -> set[dt.date]:
    """Return the day numbered `day` of `year` (ISO ordinal, 2020-022), if any."""
    first = dt.date(int(year), 1, 1)
    last = dt.date(int(year), 12, 31)
    if not 1 <= int(day) <= last.timetuple().tm_yday:
        return set()
    return {first + dt.timedelta(days=int(day) - 1)}


def _quarter_days(year: str, quarter: int) -> set[dt.date]:
    """Return the first and last day of a quarter of `year`."""
    first = _month_days(year, 3 * quarter - 2)
    last = _month_days(year, 3 * quarter)
    return {min(first), max(last)}


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
