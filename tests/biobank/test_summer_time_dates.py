"""Shifted and relative moments in a project time zone with summer time.

A moment shown to a viewer must tell nothing of its real day: not the UTC offset of
that day, nor a local hour moved by a clock change between the real and the shifted
day. Each test runs in Europe/Amsterdam, with a patient whose shift moves its draws
into the other season (winter time +01:00, summer time +02:00).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zoneinfo

import pandas as pd
import pytest

from biobank.exports.dates import relative_days, shift_days, shifted
from patients.models import Patient
from tests.biobank.conftest import Records

AMSTERDAM = zoneinfo.ZoneInfo("Europe/Amsterdam")
SANTIAGO = zoneinfo.ZoneInfo("America/Santiago")
DRAWN = dt.time(9, 30)
MIDNIGHT = dt.time(0, 0)
FIRST_DAY = dt.date(2022, 1, 1)


def utc_offset(day: dt.date) -> dt.timedelta | None:
    return dt.datetime.combine(day, dt.time(12), tzinfo=AMSTERDAM).utcoffset()


def day_in_the_other_season(days: int) -> dt.date | None:
    """Return a day of 2022 whose UTC offset differs from that of `days` later."""
    for n in range(366):
        day = FIRST_DAY + dt.timedelta(days=n)
        if utc_offset(day) != utc_offset(day + dt.timedelta(days=days)):
            return day
    # A shift of 364 days keeps the week day, and so the season, of every day:
    return None


class Crossing:
    """A patient with a study and two draws (09:30 and date only) on one real day,
    whose shift moves that day into the other season."""

    def __init__(self, records: Records) -> None:
        for n in range(1, 20):
            pseudonym = f"ST-{n}"
            self.days = shift_days((records.project.code, pseudonym))
            found = day_in_the_other_season(self.days)
            if found is not None:
                break
        assert found is not None, "no pseudonym shifts a day into the other season"
        self.real_day = found
        self.shifted_day = found + dt.timedelta(days=self.days)

        self.patient: Patient = records.patient(pseudonym)
        records.study(self.patient, found)
        self.timed = records.draw(self.patient, found, DRAWN)
        self.day_only = records.draw(self.patient, found, None)

    def expected(self, draw_pk: int) -> dt.time:
        return DRAWN if draw_pk == self.timed.pk else MIDNIGHT


@pytest.fixture
def summer_time(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"


@pytest.fixture
def crossing(summer_time, records: Records) -> Crossing:
    return Crossing(records)


def reading(text: str) -> tuple[dt.date, dt.time, bool]:
    """Return the local day and time of an ISO 8601 moment, and whether the offset
    written is the zone's at that moment."""
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    local = moment.astimezone(AMSTERDAM)
    return local.date(), local.time(), moment.utcoffset() == local.utcoffset()


def json_of(client, url: str):
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.json()


def test_the_api_shows_shifted_draws_at_their_local_time_with_the_shifted_days_offset(
    crossing, logged_in
):
    rows = json_of(logged_in, "/api/blood-samples/?dates=shifted")["results"]

    assert {row["id"]: reading(row["drawn_at"]) for row in rows} == {
        draw.pk: (crossing.shifted_day, crossing.expected(draw.pk), True)
        for draw in (crossing.timed, crossing.day_only)
    }
    assert {row["drawn_on"] for row in rows} == {crossing.shifted_day.isoformat()}


def test_the_timeline_shows_shifted_draws_at_their_local_time(crossing, logged_in):
    url = f"/api/patients/{crossing.patient.pk}/timeline/?dates=shifted"

    entries = json_of(logged_in, url)["entries"]

    draws = [entry for entry in entries if entry["kind"] == "blood-sample"]
    assert {entry["id"]: reading(entry["at"]) for entry in draws} == {
        draw.pk: (crossing.shifted_day, crossing.expected(draw.pk), True)
        for draw in (crossing.timed, crossing.day_only)
    }
    assert all(
        reading(entry["record"]["drawn_at"]) == reading(entry["at"]) for entry in draws
    )


def test_cohort_pairs_show_shifted_draws_at_their_local_time(crossing, logged_in):
    api_rows = json_of(logged_in, "/api/cohort-pairs/?window_days=0&dates=shifted")
    response = logged_in.get("/cohorts/?window_days=0&dates=shifted&format=csv")
    csv_rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))

    for rows in (api_rows["results"], csv_rows):
        assert {int(row["sample_id"]): reading(row["drawn_at"]) for row in rows} == {
            draw.pk: (crossing.shifted_day, crossing.expected(draw.pk), True)
            for draw in (crossing.timed, crossing.day_only)
        }


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_matrix_holds_shifted_draws_at_their_local_time(fmt, crossing, logged_in):
    response = logged_in.get(
        f"/api/cohort-matrix/?window_days=0&dates=shifted&format={fmt}"
    )
    body = io.BytesIO(b"".join(response.streaming_content))
    frame = pd.read_parquet(body) if fmt == "parquet" else pd.read_csv(body)

    local = pd.to_datetime(frame["drawn_at"], utc=True).dt.tz_convert(AMSTERDAM)
    assert dict(zip(frame["sample_id"], local.dt.date, strict=True)) == {
        crossing.timed.pk: crossing.shifted_day,
        crossing.day_only.pk: crossing.shifted_day,
    }
    assert dict(zip(frame["sample_id"], local.dt.time, strict=True)) == {
        crossing.timed.pk: DRAWN,
        crossing.day_only.pk: MIDNIGHT,
    }


def test_shifted_and_relative_pages_show_a_draw_at_the_same_time_of_day(
    crossing, logged_in
):
    url = f"/patients/{crossing.patient.pk}/?dates="

    shifted_page = logged_in.get(f"{url}shifted").content.decode()
    relative_page = logged_in.get(f"{url}relative").content.decode()

    # Day 0 is the patient's first dated record, the study on the draws' day:
    assert f"{crossing.shifted_day.isoformat()} {DRAWN:%H:%M}" in shifted_page
    assert f"day 0 {DRAWN:%H:%M}" in relative_page


def test_relative_days_of_a_draw_count_its_local_time_of_day(crossing, logged_in):
    rows = json_of(logged_in, "/api/blood-samples/?dates=relative")["results"]

    # Day 0 is the patient's first dated record, the study on the draws' day:
    assert {row["id"]: row["drawn_at_days"] for row in rows} == {
        crossing.timed.pk: (DRAWN.hour + DRAWN.minute / 60) / 24,
        crossing.day_only.pk: 0,
    }


@pytest.mark.parametrize(
    ("real", "days", "shown"),
    [
        # Onto the day the clocks go forward, 02:00 -> 03:00: 02:30 is skipped.
        (dt.datetime(2022, 3, 20, 2, 30), 7, dt.datetime(2022, 3, 27, 3, 30)),
        # Onto the day they go back, 03:00 -> 02:00: 02:30 comes twice.
        (dt.datetime(2022, 10, 23, 2, 30), 7, dt.datetime(2022, 10, 30, 2, 30)),
        (dt.datetime(2022, 3, 27, 3, 30), -7, dt.datetime(2022, 3, 20, 3, 30)),
    ],
)
def test_a_shift_onto_a_clock_change_gives_one_moment_whatever_the_real_day(
    summer_time, real, days, shown
):
    moment = real.replace(tzinfo=AMSTERDAM)

    moved = shifted(moment, days)

    assert moved.replace(tzinfo=None) == shown
    assert moved.utcoffset() == shown.replace(tzinfo=AMSTERDAM).utcoffset()


def test_both_passes_of_a_repeated_hour_move_to_one_moment(summer_time):
    summer = dt.datetime(2022, 10, 30, 2, 30, tzinfo=AMSTERDAM)
    winter = summer.replace(fold=1)
    assert summer.utcoffset() != winter.utcoffset()

    moved = {shifted(moment, 7).isoformat() for moment in (summer, winter)}

    assert moved == {"2022-11-06T02:30:00+01:00"}


def test_where_the_clocks_skip_midnight_a_day_starts_at_its_first_moment(settings):
    settings.TIME_ZONE = "America/Santiago"
    # On 2022-09-11 the clocks went from 00:00 to 01:00: a date-only draw of that
    # day is stored at its first moment, 01:00.
    skipped = dt.datetime(2022, 9, 11, tzinfo=SANTIAGO)
    first = skipped.astimezone(dt.UTC).astimezone(SANTIAGO)
    assert first.time() == dt.time(1, 0)

    assert shifted(first, 7).isoformat() == "2022-09-18T00:00:00-03:00"
    assert shifted(dt.datetime(2022, 9, 4, tzinfo=SANTIAGO), 7) == first
    assert relative_days(first, dt.date(2022, 9, 1)) == 10
    assert relative_days(first + dt.timedelta(hours=1), dt.date(2022, 9, 1)) == (
        10 + 2 / 24
    )


def test_a_filler_moment_off_the_local_calendar_moves_as_written(settings):
    settings.TIME_ZONE = "America/New_York"
    # 0001-01-01T00:00Z is 0000-12-31 in New York, a year no datetime holds.
    filler = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

    assert shifted(filler, 5) == filler + dt.timedelta(days=5)
    assert shifted(filler, -5) == filler
