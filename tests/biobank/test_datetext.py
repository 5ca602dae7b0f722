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
        # Versions and numbered IDs (a dotted year with a one-digit month or day, a
        # two-digit year joined to letters or further numbers, or underscores):
        "iDose 4 2015.1.1",
        "Run 2020.5.1 build",
        "v10.12.20",
        "PT_12_05_01",
        "S-12.05.01",
        "ROI_10_11_12",
        "12.05.01.3",
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
    ],
)
def test_a_date_beside_versions_is_still_found(text, shown):
    assert replace_dates(text, moved) == shown


def test_has_dates_tells_what_replace_dates_rewrites():
    assert has_dates("GTV_2020-01-22")
    assert has_dates("C1D1 22/01/20")
    assert not has_dates("GTV_primary v10.12.20")
    assert not has_dates("31.02.2024")
