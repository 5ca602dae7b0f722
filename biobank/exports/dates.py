"""Dates in exports: calendar, days from a per-patient reference, or shifted per patient.

A patient is known in every export by its project code and pseudonym; both modes
other than calendar are computed from that pair alone (the shift) or from it and the
patient's records (the reference), so that every export path gives the same numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pyarrow as pa
from django.conf import settings
from django.db.models import Min, TextChoices
from django.utils import timezone

from biobank.api.access import CURATE, is_site_admin, project_ids_for
from biobank.core.datetext import UNCLEAR_DATE, replace_dates
from liquidbiopsy.models import BloodSample
from patients.models import ClinicalEvent, Patient, Treatment
from radiomics.models import ImagingStudy

DATES_PARAMETER = "dates"
REFERENCE_COLUMN = "date_reference"
# A relative column is named after the calendar one: study_date -> study_date_days.
RELATIVE_SUFFIX = "_days"
# Blanked in shifted and relative modes: with an age it would tell the offset's year.
BIRTH_YEAR = "birth_year"
SECONDS_PER_DAY = 86_400
ARROW_DATES = (pa.date32(), pa.date64())

PatientKey = tuple[str, str]  # (project code, pseudonym)
DATED_SUFFIXES = ("_at", "_on", "_date")
PSEUDONYM_FIELDS = ("patient_pseudonym", "pseudonym")
# Fields of exported rows that hold a date or moment even when empty:
DATED_FIELDS = frozenset(
    (
        "study_date",
        "series_date",
        "drawn_at",
        "drawn_on",
        "diagnosis_on",
        "first_treatment_on",
        "given_on",
        "withdrawn_on",
        "started_on",
        "ended_on",
        "occurred_on",
        # A timeline entry's day and moment:
        "on",
        "at",
    )
)
# Every text of a patient's record (a string in an exported row, a matrix column or
# a page) is the patient's free text unless named below: a timeline entry's "Consent
# withdrawn on ...", a note, a lab's sample ID (CAIRO5_2024-03-08_T1), a histology, a
# treatment's agent, a DICOM attribute that de-identification keeps with its dates
# (ContrastBolusAgent), a lab's platform or unit. Each date in it, however written,
# reads "[date]" outside calendar mode (Dater.text); filters and orders on it are
# refused to those shown other dates (biobank.api.filters). A text field added to a
# record is so too, until it is named here with the reason it cannot tell a
# patient's day; tests/api/test_text_fields.py walks every model.
SHARED_TEXT_FIELDS: dict[str, str] = {
    # Keys that the biobank makes and every export joins on (rewritten, two
    # patients or records could read alike):
    "project_code": "a project's code, given by its manager",
    "pseudonym": "the patient's key in every export, made at registration",
    "patient_pseudonym": "the patient's key in every export, made at registration",
    "study_instance_uid": "replaced at import by a UID of random digits (2.25.)",
    "series_instance_uid": "replaced at import by a UID of random digits (2.25.)",
    "sop_instance_uid": "replaced at import by a UID of random digits (2.25.)",
    "source_sop_instance_uid": "replaced at import by a UID of random digits (2.25.)",
    "frame_of_reference_uid": "replaced at import by a UID of random digits (2.25.)",
    "sop_class_uid": "a storage class of the DICOM standard, the same for all",
    "source_uid_hash": "a keyed digest: any date read in it is chance",
    "content_sha256": "a digest: any date read in it is chance",
    "fingerprint": "a digest: any date read in it is chance",
    "task_id": "a job's random UUID",
    # Genomic notation that validation leaves no room for words in; its numbers are
    # positions, which would read as dates (g.20240308A>G, c.2020-12A>G, rs20200122):
    "gene": "an HGNC symbol, checked at import",
    "gene_hgnc": "an HGNC symbol, checked at import",
    "variant_key": "built from the HGVS or fusion notation checked at import",
    "protein_change": "HGVS, checked and normalised at import",
    "cdna_change": "HGVS, checked at import",
    "genomic_change": "HGVS, checked at import",
    "protein_accession": "an accession of a reference sequence, checked at import",
    "dbsnp_id": "an rs number, checked at import",
    "genome_build": "one of the builds the import knows",
    "fusion_5prime": "an HGNC symbol, checked at import",
    "fusion_3prime": "an HGNC symbol, checked at import",
    # The lab's and the engine's words shared by every patient (docs/api.md): a date
    # in them is the panel's or the version's, the same for all, and no patient's:
    "panel": "the lab's assay panel, shared by every patient",
    # (SEPT9, MARCH1 and DEC1 read as months beside their number; review rv5)
    "transcript": "the RNA marker's name (AR-V7, SEPT9), shared by every patient",
    "software": "the extraction engine's name, shared by every patient",
    "software_version": "the extraction engine's version, shared by every patient",
    "extraction_software": "the extraction engine's name, shared by every patient",
    "extraction_software_version": "the extraction engine's version, shared by every patient",
    "diagnostics": "the engine's report of its run; its paths and dates are its own",
}


def is_free_text(name: str) -> bool:
    """Whether a text field of a patient's record, by its name, is the patient's free
    text, shown with its dates as the mode shows them (Dater.text)."""
    return name not in SHARED_TEXT_FIELDS and not is_dated_name(name)


class DateMode(TextChoices):
    CALENDAR = "calendar", "Calendar dates"
    RELATIVE = "relative", "Days from the patient's reference date"
    SHIFTED = "shifted", "Dates moved by one offset per patient"


class ReferenceKind(TextChoices):
    DIAGNOSIS = "diagnosis", "Date of diagnosis"
    FIRST_RECORD = "first-record", "Date of the patient's first dated record"


@dataclass(frozen=True)
class Reference:
    """Day 0 of a patient in relative mode, and what it is."""

    on: dt.date
    kind: str


def shift_days(key: PatientKey) -> int:
    """Return the days every date of this patient moves in shifted mode.

    A keyed hash (HMAC-SHA256 with BIOBANK_DATE_SHIFT_KEY) of the project code and
    pseudonym, mapped onto 1..N days either way (N is BIOBANK_DATE_SHIFT_MAX_DAYS):
    stable across exports, different between patients, never 0, never stored.
    """
    most = settings.BIOBANK_DATE_SHIFT_MAX_DAYS
    message = "\x00".join(("date-shift", *key)).encode()
    digest = hmac.new(
        settings.BIOBANK_DATE_SHIFT_KEY.encode(), message, hashlib.sha256
    ).digest()
    value = int.from_bytes(digest[:8], "big") % (2 * most)
    return value - most if value < most else value - most + 1


def references_of(keys: Iterable[PatientKey]) -> dict[PatientKey, Reference]:
    """Return day 0 of each patient: its diagnosis, else its first dated record.

    The dated records are imaging studies, blood draws (their local day), treatments
    (their start) and clinical events. A patient without any (or no longer stored)
    has no reference. Five queries, whatever the number of patients.
    """
    keys = set(keys)
    if not keys:
        return {}
    patients = Patient.objects.filter(
        project__code__in={code for code, _ in keys},
        pseudonym__in={pseudonym for _, pseudonym in keys},
    ).values_list("pk", "project__code", "pseudonym", "diagnosis_on")
    key_of = {pk: (code, pseudonym) for pk, code, pseudonym, _ in patients}
    references = {
        key_of[pk]: Reference(diagnosis_on, ReferenceKind.DIAGNOSIS)
        for pk, _, _, diagnosis_on in patients
        if diagnosis_on is not None
    }

    undated = [pk for pk, key in key_of.items() if key not in references]
    first: dict[int, dt.date] = {}
    for model, field in FIRST_RECORD_FIELDS:
        found = (
            model.objects.filter(patient__in=undated)
            .values("patient")
            .annotate(first=Min(field))
            .values_list("patient", "first")
        )
        for pk, day in found:
            if day is not None and (pk not in first or day < first[pk]):
                first[pk] = day
    for pk, day in first.items():
        references[key_of[pk]] = Reference(day, ReferenceKind.FIRST_RECORD)
    return {key: reference for key, reference in references.items() if key in keys}


FIRST_RECORD_FIELDS = (
    (ImagingStudy, "study_date"),
    (BloodSample, "drawn_on"),
    (Treatment, "started_on"),
    (ClinicalEvent, "occurred_on"),
)


def relative_days(value: dt.date, reference: dt.date) -> int | float:
    """Return the days from `reference` to `value`: whole for a date, fractional for a moment.

    A moment counts from midnight of the reference day in the project time zone
    (TIME_ZONE), so that its whole part is the relative day of its local date and
    its fraction its local time of day (the wall clock's, as shifted mode keeps it).
    The first moment of a local day counts as its midnight, for the days whose
    midnight the clocks skip (see `_shifted_moment`).
    """
    if isinstance(value, dt.datetime):
        zone = timezone.get_default_timezone()
        local = timezone.localtime(value, zone)
        days = (local.date() - reference).days
        if local == _start_of_day(local.date(), zone):
            return float(days)
        since_midnight = (
            local - local.replace(hour=0, minute=0, second=0, microsecond=0)
        ).total_seconds()
        return days + since_midnight / SECONDS_PER_DAY
    return (value - reference).days


def shifted(value: dt.date, days: int) -> dt.date:
    """Return a date or moment moved by `days` calendar days.

    A moment moves on the wall clock of the project time zone (TIME_ZONE): its
    local time of day stays, and it comes back in that zone with the UTC offset of
    the day it lands on. Moved by 24-hour days instead, it kept the offset of its
    real day, which in a zone with summer time told the real day's season, and so
    narrowed the shift (a date-only draw at 01:00 or 23:00 rather than 00:00).
    """
    if isinstance(value, dt.datetime) and timezone.is_aware(value):
        try:
            return _shifted_moment(value, days)
        except OverflowError:
            # A filler whose local time is off the calendar (0001-01-01T00:00Z west
            # of UTC) moves as it is written, below: its offset tells nothing real.
            pass
    try:
        return value + dt.timedelta(days=days)
    except OverflowError:
        # Only a filler near 0001-01-01 or 9999-12-31 falls off the calendar. Every
        # write refuses it now (biobank.core.validation.check_not_future), but one
        # stored before stays at the calendar's end it fell off, not a 500:
        end = type(value).min if days < 0 else type(value).max
        if isinstance(end, dt.datetime):
            return end.replace(tzinfo=value.tzinfo)
        return end


def _shifted_moment(moment: dt.datetime, days: int) -> dt.datetime:
    """Return `moment` moved by `days` days on the wall clock of the project time zone.

    The first moment of a local day (a date-only draw's, stored at midnight) stays
    the first of the shifted day: where the clocks go forward at midnight
    (America/Santiago), the day they do starts at 01:00, which moved onto another
    day would tell which day it was.
    """
    zone = timezone.get_default_timezone()
    local = moment.astimezone(zone)
    day = local.date() + dt.timedelta(days=days)
    if local == _start_of_day(local.date(), zone):
        return _start_of_day(day, zone)
    return _on_wall_clock(dt.datetime.combine(day, local.time()), zone)


def _start_of_day(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return _on_wall_clock(dt.datetime.combine(day, dt.time()), zone)


def _on_wall_clock(wall: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """Return the moment at which the clocks of `zone` read the naive `wall`.

    NB: a shift may land on a time the clocks skip or repeat when they change. A
    skipped time (02:30 on the day they go forward in Europe/Amsterdam) is read with
    the offset before the change, so it lands as far past the change (03:30 summer
    time), as java.time does. A repeated one (02:30 on the day they go back) is its
    first pass (summer time), whichever pass the real moment was. Either way the
    result follows from the shifted wall clock alone, never from the real day. So a
    moment moved into the skipped hour (02:50, shown 03:50) may read later than one
    of the same day moved past it (03:20), and the two passes of a repeated hour
    moved off it read alike (02:30 summer and winter time both read 02:30).
    """
    moment = wall.replace(tzinfo=zone, fold=0)
    if moment.utcoffset() == moment.replace(fold=1).utcoffset():
        return moment  # neither skipped nor repeated: the clocks' usual times
    return moment.astimezone(dt.UTC).astimezone(zone)


class Dater:
    """Rewrite the dates of one export for its mode, patient by patient.

    Shifts and references are computed once per patient and kept for the export.
    """

    def __init__(self, mode: str) -> None:
        self.mode = DateMode(mode)
        self._shifts: dict[PatientKey, int] = {}
        self._references: dict[PatientKey, Reference | None] = {}
        self._texts: dict[str, str] = {}

    @property
    def is_calendar(self) -> bool:
        return self.mode == DateMode.CALENDAR

    def prepare(self, keys: Iterable[PatientKey]) -> None:
        """Look up the references of these patients at once (relative mode only)."""
        if self.mode != DateMode.RELATIVE:
            return
        missing = set(keys) - set(self._references)
        found = references_of(missing)
        for key in missing:
            self._references[key] = found.get(key)

    def reference(self, key: PatientKey) -> Reference | None:
        if key not in self._references:
            self.prepare([key])
        return self._references[key]

    def value(self, key: PatientKey, value: object) -> object:
        """Return one date or moment of patient `key` as this mode gives it."""
        if not isinstance(value, dt.date) or self.is_calendar:
            return value
        if self.mode == DateMode.SHIFTED:
            if key not in self._shifts:
                self._shifts[key] = shift_days(key)
            return shifted(value, self._shifts[key])
        reference = self.reference(key)
        return None if reference is None else relative_days(value, reference.on)

    def name(self, name: str) -> str:
        """Return the name a date column or field takes in this mode."""
        if self.mode == DateMode.RELATIVE:
            return f"{name}{RELATIVE_SUFFIX}"
        return name

    def field_names(self, names: Iterable[str], dated: set[str]) -> list[str]:
        """Return the header of a table whose `dated` fields hold dates or moments.

        In relative mode the dated fields are renamed and the reference kind follows
        the pseudonym.
        """
        header = []
        for name in names:
            header.append(self.name(name) if name in dated else name)
            if name == "patient_pseudonym" and self.mode == DateMode.RELATIVE:
                header.append(REFERENCE_COLUMN)
        return header

    def row(self, key: PatientKey, row: dict) -> dict:
        """Return a copy of `row` (nested dicts and lists too) with its dates rewritten."""
        if self.is_calendar:
            return row
        rewritten = self._data(key, row)
        # The reference kind follows the pseudonym (a patient record's own too):
        anchor = next((name for name in PSEUDONYM_FIELDS if name in row), None)
        if self.mode == DateMode.RELATIVE and anchor is not None:
            reference = self.reference(key)
            rewritten = _insert_after(
                rewritten,
                anchor,
                REFERENCE_COLUMN,
                None if reference is None else reference.kind,
            )
        return rewritten

    def _data(self, key: PatientKey, data: object, as_text: bool = True) -> object:
        # A string is the patient's free text unless a shared field holds it (a
        # pseudonym, a panel), down to the strings of its lists and dicts:
        if isinstance(data, dict):
            rewritten = {}
            for name, value in data.items():
                if name == BIRTH_YEAR or is_record_keeping(name):
                    rewritten[name] = None
                elif isinstance(value, dt.date) or is_dated_name(name):
                    rewritten[self.name(name)] = self.value(key, _parsed(value))
                else:
                    rewritten[name] = self._data(
                        key, value, as_text and is_free_text(name)
                    )
            return rewritten
        if isinstance(data, list | tuple):
            return [self._data(key, item, as_text) for item in data]
        if as_text and isinstance(data, str):
            return self.text(data)
        return self.value(key, data)

    def text(self, text: str) -> str:
        """Return a patient's free text as this mode shows it.

        In calendar mode as stored; in the others each date replace_dates() reads in
        it (2024-03-08, 20240308, 8 Mar 2024, ...) becomes "[date]". Not moved with
        the patient as the record's own dates are: a date in free text need not be
        the patient's (a software version, a protocol's date), and moved by the
        patient's shift it would give the shift away to whoever knows its real day.
        Every page, API answer and export of a patient's free text goes through here.
        """
        if self.is_calendar:
            return text
        # The rows of an export repeat their texts (a manufacturer, an agent):
        if text not in self._texts:
            self._texts[text] = replace_dates(text, lambda day: UNCLEAR_DATE)
        return self._texts[text]

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a matrix frame with its date and moment columns in this mode.

        The columns of pandas dates and UTC moments are the dated ones; their dtypes
        in each mode do not depend on the data: shifted keeps them, relative gives
        Int64 days for dates and Float64 days for moments, plus the string column
        date_reference. birth_year and moments of record keeping are null in both.
        """
        if self.is_calendar:
            return frame
        keys = list(zip(frame["project_code"], frame["patient_pseudonym"], strict=True))
        self.prepare(set(keys))

        columns: dict[str, pd.api.extensions.ExtensionArray] = {}
        for name, dtype in frame.dtypes.items():
            column = frame[name]
            if name == BIRTH_YEAR or (
                _is_dated(name, dtype) and is_record_keeping(name)
            ):
                columns[name] = pd.array([None] * len(frame), dtype=dtype)
            elif is_free_text(name) and _holds_text(dtype):
                columns[name] = pd.array(
                    [
                        self.text(value) if isinstance(value, str) else value
                        for value in column
                    ],
                    dtype=dtype,
                )
            elif _is_dated(name, dtype):
                is_moment = isinstance(dtype, pd.DatetimeTZDtype) or name.endswith(
                    "_at"
                )
                values = [
                    None if pd.isna(value) else self.value(key, _python(value))
                    for key, value in zip(keys, column, strict=True)
                ]
                if self.mode == DateMode.SHIFTED:
                    columns[name] = pd.array(values, dtype=dtype)
                else:
                    columns[self.name(name)] = pd.array(
                        values, dtype="Float64" if is_moment else "Int64"
                    )
            else:
                columns[name] = column.array
            if name == "patient_pseudonym" and self.mode == DateMode.RELATIVE:
                kinds = [self.reference(key) for key in keys]
                columns[REFERENCE_COLUMN] = pd.array(
                    [None if kind is None else str(kind.kind) for kind in kinds],
                    dtype="string",
                )
        return pd.DataFrame(columns)


def _holds_text(dtype: object) -> bool:
    return pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype)


def _is_dated(name: str, dtype: object) -> bool:
    # By name too: a frozen file read back may hold its dates as Python objects.
    if name in DATED_FIELDS or isinstance(dtype, pd.DatetimeTZDtype):
        return True
    return isinstance(dtype, pd.ArrowDtype) and dtype.pyarrow_dtype in ARROW_DATES


def is_dated_name(name: str) -> bool:
    """Whether a field of a patient's record holds a date or moment, by its name."""
    return name in DATED_FIELDS or name.endswith(DATED_SUFFIXES)


def is_record_keeping(name: str) -> bool:
    """Whether a dated field of a patient's record is a moment of record keeping.

    Every dated name but the clinical ones (DATED_FIELDS): when a record was stored
    or changed (created_at), an extraction ran (started_at, finished_at), a score
    was computed (computed_at). They are the wall clock of an import or a job, not
    the patient's, so in shifted and relative mode they are withheld (null): moved
    by the offset, they would tell it against the project's created_at or today's
    date; as stored, against the shifted clinical dates recorded with them. A dated
    field added later is withheld until it is named clinical here.
    """
    return name not in DATED_FIELDS and name.endswith(DATED_SUFFIXES)


def dated_value(dater: Dater, key: PatientKey, value: object) -> object:
    """Return one date or moment, as a date or as ISO 8601 text, in `dater`'s mode."""
    return dater.value(key, _parsed(value))


def _parsed(value: object) -> object:
    """Return an ISO 8601 text of a dated field (as serialized or frozen) as a date."""
    if not isinstance(value, str):
        return value
    try:
        if len(value) == len("2020-01-31"):
            return dt.date.fromisoformat(value)
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value


def _python(value: object) -> object:
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value


def _insert_after(data: dict, after: str, name: str, value: object) -> dict:
    inserted = {}
    for key, item in data.items():
        inserted[key] = item
        if key == after:
            inserted[name] = value
    return inserted


class DatesInvalid(ValueError):
    """`dates` names no mode."""


class DatesRefused(PermissionError):
    """The caller's role in a project of the export does not allow these dates."""


VIEWER_DEFAULT = DateMode.SHIFTED


def may_see_calendar(user, projects: Iterable[int | None]) -> bool:
    """Whether `user` may have the calendar dates of rows of every one of `projects`.

    Curators, managers (the roles that may curate) and site administrators may; a
    viewer of any of the projects, or a user without a role there, may not. The
    rule fails closed: with no project at all, or with None among them (rows whose
    project is not known, such as a frozen cohort member whose project could not be
    matched: saved.frozen_projects), only a site administrator may. One query
    whatever the number of projects (none for a site administrator, nor in a
    request that read the user's roles already).
    """
    projects = set(projects)
    if is_site_admin(user):
        return True
    if not projects or None in projects:
        return False
    return projects <= set(project_ids_for(user, CURATE))


def choose_date_mode(
    user, asked: str | None, projects: Iterable[int | None]
) -> DateMode:
    """Return the date mode of an export of rows of `projects` for `user`.

    The strictest role among the projects decides (see `may_see_calendar` and
    `decide_date_mode`).
    """
    return decide_date_mode(asked, may_see_calendar(user, projects))


def decide_date_mode(
    asked: str | None, calendar_allowed: bool, shown_by: str = "export"
) -> DateMode:
    """Return the date mode `asked` for, or the default, by whether calendar dates are allowed.

    Without calendar dates (a viewer) the default is shifted dates and relative ones
    may be asked for; with them (curators, managers and site administrators) the
    default is calendar dates and either other mode may be asked for. `shown_by`
    names what shows the dates in a refusal: the export, or the page.

    Raises
    ------
    DatesInvalid
        When `asked` is not a mode.
    DatesRefused
        When calendar dates are asked for but not allowed.
    """
    if asked and asked not in DateMode.values:
        raise DatesInvalid(f"Dates must be one of {', '.join(DateMode.values)}.")

    if not asked:
        return DateMode.CALENDAR if calendar_allowed else VIEWER_DEFAULT
    if asked == DateMode.CALENDAR and not calendar_allowed:
        raise DatesRefused(
            "Viewers get shifted or relative dates: calendar dates need a curator "
            f"or manager role in every project of the {shown_by}. Leave dates out, or "
            "give dates=shifted or dates=relative."
        )
    return DateMode(asked)
