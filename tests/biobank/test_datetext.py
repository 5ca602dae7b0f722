"""Calendar dates in free text, however written, are found and rewritten (replace_dates)."""

from __future__ import annotations

import datetime as dt

import pytest

from biobank.core.datetext import UNCLEAR_DATE, has_dates, replace_dates


def moved(day: dt.date) -> str:
    return f"<{(day + dt.timedelta(days=10)).isoformat()}>"


MARCH_8 = moved(dt.date(2024, 3, 8))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # ISO with any neighbours, and any one separator:
        ("CAIRO5_2024-03-08_T1", f"CAIRO5_{MARCH_8}_T1"),
        ("S2024-03-08", f"S{MARCH_8}"),
        ("T1_2024_03_08", f"T1_{MARCH_8}"),
        ("2024/3/8 pre-op", f"{MARCH_8} pre-op"),
        # Compact:
        ("PL-20240308", f"PL-{MARCH_8}"),
        ("x20240308y", f"x{MARCH_8}y"),
        # Numbers with the year last, when only one order makes a day:
        ("C1D1 13.03.2024", f"C1D1 {moved(dt.date(2024, 3, 13))}"),
        ("03/13/2024", moved(dt.date(2024, 3, 13))),
        ("08.08.2024", moved(dt.date(2024, 8, 8))),
        # Month names either way round, in any case, with a two-digit year too:
        ("3 Feb 2024", moved(dt.date(2024, 2, 3))),
        ("Feb 3, 2024", moved(dt.date(2024, 2, 3))),
        ("February 3rd, 2024", moved(dt.date(2024, 2, 3))),
        ("08-MAR-24", MARCH_8),
        ("3. März 2024", moved(dt.date(2024, 3, 3))),
        ("2024-03-08 and 8 Mar 2024", f"{MARCH_8} and {MARCH_8}"),
        # Year, month and day marked, as in Chinese, Japanese and Korean:
        ("検査日 2024年3月8日", f"検査日 {MARCH_8}"),
        ("2024年03月08日", MARCH_8),
        ("２０２４年３月８日", MARCH_8),
        ("2024년 3월 8일 CT", f"{MARCH_8} CT"),
    ],
)
def test_a_date_is_shown_as_the_mode_writes_it(text, shown):
    assert replace_dates(text, moved) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("C1D1 08.03.2024", f"C1D1 {UNCLEAR_DATE}"),
        ("08/03/2024", UNCLEAR_DATE),
        ("drawn 08.03.24", f"drawn {UNCLEAR_DATE}"),
        ("X_8-3-2024_Y", f"X_{UNCLEAR_DATE}_Y"),
    ],
)
def test_a_date_of_unclear_day_and_month_is_blanked(text, shown):
    assert replace_dates(text, moved) == shown


@pytest.mark.parametrize(
    "text",
    [
        "PL-12345678",
        "20241399",
        "31.02.2024",
        "v3.10.12",
        "C2D15",
        "Baseline",
        "Lesion 3 of 2024",
        "5 mg 2024",
        "1234-05-06",
        # Versions and numbered IDs (dotted numbers after a "v", a digit or a dot or
        # before more of them; a two-digit year joined by underscores):
        "v2015.1.1",
        "iDose 4 v2015.1.1",
        "2015.1.1.4",
        "v10.12.20",
        "PT_12_05_01",
        "ROI_10_11_12",
        "12.05.01.3",
        "2024年13月8日",  # no such month
        "",
    ],
)
def test_text_without_a_date_stays(text):
    assert replace_dates(text, moved) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # A four-digit year with two-digit month and day is a date among numbers too:
        ("v2020.01.22", f"v{moved(dt.date(2020, 1, 22))}"),
        ("2020.01.22.1", f"{moved(dt.date(2020, 1, 22))}.1"),
        ("Sample 12.05.2019.1", f"Sample {UNCLEAR_DATE}.1"),
        # So is a two-digit-year one standing alone (22.01.20 may be 2022-01-20):
        ("(22.01.20)", f"({UNCLEAR_DATE})"),
        ("seen 22/01/20-late", f"seen {UNCLEAR_DATE}-late"),
        # And a one-digit month or day written with dashes or slashes:
        ("2015-1-1", moved(dt.date(2015, 1, 1))),
        # Dotted with one digit and not marked as a version, as Korea and Hungary
        # write dates (a reviewer found these shown as stored):
        ("GTV 2020.3.8", f"GTV {moved(dt.date(2020, 3, 8))}"),
        ("Scan_2021.3.4_T1", f"Scan_{moved(dt.date(2021, 3, 4))}_T1"),
        ("Run 2020.5.1 build", f"Run {moved(dt.date(2020, 5, 1))} build"),
        # A two-digit-year date joined to a name, or with dashes:
        ("GTV_12.05.21", f"GTV_{UNCLEAR_DATE}"),
        ("S-12.05.01", f"S-{UNCLEAR_DATE}"),
        ("03-08-24", UNCLEAR_DATE),
        # A month's name in compatibility letters or a dotless i:
        ("22 Auguſt 2020", moved(dt.date(2020, 8, 22))),
        ("22 Aprıl 2020", moved(dt.date(2020, 4, 22))),
    ],
)
def test_a_date_beside_versions_is_still_found(text, shown):
    assert replace_dates(text, moved) == shown


def test_has_dates_tells_what_replace_dates_rewrites():
    assert has_dates("GTV_2020-01-22")
    assert has_dates("C1D1 22/01/20")
    assert not has_dates("GTV_primary v10.12.20")
    # As PostgreSQL's UPPER() reads it, for an iexact filter (ſ is S, ı is I):
    assert has_dates("GTV 22 AUGUſT 2020")
    assert has_dates("GTV 22 APRıL 2020")
    assert not has_dates("31.02.2024")
