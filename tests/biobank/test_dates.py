from __future__ import annotations

import datetime as dt

import pytest

from biobank.core.dates import DAY_FIRST, MONTH_FIRST, parse_date_column


def test_a_day_above_twelve_fixes_the_order_of_the_whole_column():
    cells = {2: "31/12/2019", 3: "10/03/2020", 4: "05/01/2021"}

    column = parse_date_column("f.csv", "diagnosis_date", cells)

    assert column.order == DAY_FIRST
    assert column.values == {
        2: dt.date(2019, 12, 31),
        3: dt.date(2020, 3, 10),
        4: dt.date(2021, 1, 5),
    }


def test_an_ambiguous_column_without_declared_order_is_an_error_naming_the_field():
    column = parse_date_column(
        "f.csv", "diagnosis_date", {2: "03/04/2021", 3: "05/06/2021"}
    )

    assert column.values == {}
    assert column.errors and column.errors[0].field == "diagnosis_date"
    assert "03/04/2021" in column.errors[0].message


@pytest.mark.parametrize(
    ("order", "expected"),
    [(DAY_FIRST, dt.date(2021, 4, 3)), (MONTH_FIRST, dt.date(2021, 3, 4))],
)
def test_a_declared_order_resolves_ambiguous_dates(order, expected):
    column = parse_date_column("f.csv", "d", {2: "03/04/2021"}, declared_order=order)

    assert column.values[2] == expected


def test_a_spreadsheet_serial_number_becomes_empty_with_a_warning():
    column = parse_date_column("f.csv", "d", {2: "31/12/2019", 6: "44291"})

    assert column.values[6] is None
    assert column.warnings[0].row == 6 and column.warnings[0].value == "44291"


def test_a_column_proving_both_orders_is_rejected_naming_a_row_of_each():
    column = parse_date_column(
        "f.csv", "d", {2: "01/02/2019", 3: "31/12/2019", 4: "12/31/2019", 5: "30/1/20"}
    )

    (error,) = column.errors
    assert column.values == {}
    assert error.message == (
        "the column holds both day-first dates (row 3: 31/12/2019) and month-first "
        "dates (row 4: 12/31/2019); write the column in one order, or as YYYY-MM-DD."
    )
    assert (error.row, error.field, error.value) == (4, "d", "12/31/2019")


def test_a_draw_time_without_offset_is_read_on_the_project_clock(settings):
    from django.utils import timezone

    from biobank.core.dates import parse_datetime_cell

    settings.TIME_ZONE = "Europe/Amsterdam"
    with timezone.override("Europe/Amsterdam"):
        local, has_time = parse_datetime_cell("2023-07-01T10:00:00")
        given, _ = parse_datetime_cell("2023-07-01T10:00:00Z")

    assert has_time
    assert local == dt.datetime(2023, 7, 1, 8, 0, tzinfo=dt.UTC)
    assert given == dt.datetime(2023, 7, 1, 10, 0, tzinfo=dt.UTC)
