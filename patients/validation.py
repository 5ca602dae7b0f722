"""Rules for clinical values, shared by the clinical importer and the API."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from django.db import connection, models
from django.db.models import Q, Value
from django.utils import timezone

from biobank.core.validation import EARLIEST_YEAR, InvalidValue, check_between
from patients.models import CancerType, ClinicalEvent, Consent, Sex, Treatment

MIN_BIRTH_YEAR = EARLIEST_YEAR
MAX_SURVIVAL_DAYS = 100 * 366
MAX_LINE = 99

SEXES = {
    "f": Sex.FEMALE,
    "female": Sex.FEMALE,
    "m": Sex.MALE,
    "male": Sex.MALE,
    "o": Sex.OTHER,
    "other": Sex.OTHER,
    "u": Sex.UNKNOWN,
    "unknown": Sex.UNKNOWN,
}
CANCER_TYPES = {code.lower(): code for code in CancerType.values}
TREATMENT_KINDS = {kind.lower(): kind for kind in Treatment.Kind.values}
EVENT_KINDS = {kind.lower(): kind for kind in ClinicalEvent.Kind.values}
RECIST = {code.lower(): code for code in ClinicalEvent.Recist.values}

DATE_REQUIRED = "is required; give a date."
EMPTY_SOURCE_ID = "is empty; every row needs the source patient identifier."


def check_source_id(text: str, missing: set[str] | frozenset[str] = frozenset()) -> str:
    """Return the source patient identifier; raise when it is empty or a missing marker."""
    if not text.strip() or text.upper() in missing:
        raise InvalidValue(EMPTY_SOURCE_ID)
    return text


def check_birth_year(year: int) -> int:
    """Return `year`; raise InvalidValue unless it lies from MIN_BIRTH_YEAR to this year.

    One message for both ends, naming the bounds enforced (a year in the future
    keeps its own code, future-date).
    """
    this_year = timezone.localdate().year
    if not MIN_BIRTH_YEAR <= year <= this_year:
        raise InvalidValue(
            f"must lie between {MIN_BIRTH_YEAR} and {this_year} (this year).",
            "future-date" if year > this_year else "",
        )
    return year


def check_age_at_diagnosis(years: Decimal) -> Decimal:
    """Return the age in years rounded to the model's three decimals (under a day)."""
    if not years.is_finite() or not 0 <= years <= 130:
        raise InvalidValue("must lie between 0 and 130 years.")
    return years.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN)


def check_overall_survival_days(days: int) -> int:
    return check_between(days, 0, MAX_SURVIVAL_DAYS)


def check_treatment_line(line: int) -> int:
    return check_between(line, 1, MAX_LINE)


def check_diagnosis_after_birth(
    birth_year: int | None, diagnosed: dt.date | None
) -> None:
    """Raise for the diagnosis date when it lies in a year before the birth year."""
    if birth_year is not None and diagnosed is not None and diagnosed.year < birth_year:
        raise InvalidValue("lies before the birth year.")


def check_after_birth(
    birth_year: int | None, day: dt.date | None, code: str = "before-birth"
) -> None:
    """Raise, for a record's date, when it lies in a year before the patient's birth.

    A birth year tells no day: every day of the birth year itself may be the
    patient's, so only a year before it is refused (1 January is the bound).
    """
    if birth_year is not None and day is not None and day.year < birth_year:
        raise InvalidValue("lies before the patient's birth year.", code)


@dataclass(frozen=True)
class DatedRecords:
    """The dated records of patients in one model, as the birth-year rule reads them.

    `patient` is the lookup of the patient's id from the model, `day` the date
    field; a record is named by `noun`, its id and `shown` (the field as the API
    and admin call it: a draw's drawn_at, stored by day in drawn_on).
    """

    model: type[models.Model]
    patient: str
    day: str
    noun: str
    shown: str


# Every dated record of a patient, which may not lie in a year before its birth
# year; the apps above patients add theirs (liquidbiopsy.apps, radiomics.apps). The
# diagnosis is the patient's own field (check_diagnosis_after_birth). NB: a
# treatment's end and a consent's withdrawal are left out: constraints keep them
# on or after its start, which is checked.
DATED_RECORDS: list[DatedRecords] = [
    DatedRecords(Consent, "patient_id", "given_on", "consent", "given_on"),
    DatedRecords(Treatment, "patient_id", "started_on", "treatment", "started_on"),
    DatedRecords(
        ClinicalEvent, "patient_id", "occurred_on", "clinical event", "occurred_on"
    ),
]


def earliest_records_before(births: dict[int, int]) -> dict[int, str]:
    """Return, per patient, the words of its earliest record before its birth year.

    `births` maps patient ids to the birth year each would have. One query
    whatever the kinds of records (a UNION ALL of the records in DATED_RECORDS
    lying before their patient's year), which finds no row unless a record is
    refused. The patients are grouped by year, so the query grows with the
    patients and distinct years; each kind of record repeats them, so a query
    asks for as many patients as the database takes parameters (82 on SQLite,
    whose limit Django puts at 999: two a patient and one, the kind's index, a
    kind).
    """
    limit = connection.features.max_query_params or 2**16
    kinds = max(1, len(DATED_RECORDS))
    per_query = max(1, (limit - kinds) // (2 * kinds))
    items = list(births.items())
    earliest: dict[int, tuple[dt.date, int, int]] = {}
    for start in range(0, len(items), per_query):
        for patient_id, day, index, pk in _records_before(
            items[start : start + per_query]
        ):
            if patient_id not in earliest or (day, index, pk) < earliest[patient_id]:
                earliest[patient_id] = (day, index, pk)
    return {
        patient_id: record_words(DATED_RECORDS[index], pk, day)
        for patient_id, (day, index, pk) in earliest.items()
    }


def _records_before(births: list[tuple[int, int]]) -> models.QuerySet:
    """Return the rows (patient id, day, kind's index, id) of the records before
    their patient's birth year, of every kind in one UNION ALL."""
    by_year: dict[int, list[int]] = defaultdict(list)
    for patient_id, year in births:
        by_year[year].append(patient_id)

    parts = []
    for index, source in enumerate(DATED_RECORDS):
        before = Q()
        for year, patient_ids in by_year.items():
            before |= Q(
                **{
                    f"{source.patient}__in": patient_ids,
                    f"{source.day}__lt": dt.date(year, 1, 1),
                }
            )
        records = source.model.objects.filter(before).order_by()
        kind = Value(index, output_field=models.IntegerField())
        parts.append(records.values_list(source.patient, source.day, kind, "pk"))
    first, *others = parts
    return first.union(*others, all=True) if others else first


def record_words(source: DatedRecords, pk: int, day: dt.date) -> str:
    """Name a record by kind, id and date: "blood draw 14 (drawn_at 2015-03-02)".

    The calendar date, as only curators, managers and site administrators write
    a birth year or a record, and they are shown calendar dates
    (biobank.exports.dates.may_see_calendar).
    """
    return f"{source.noun} {pk} ({source.shown} {day.isoformat()})"


def birth_after_record_message(words: str) -> str:
    return (
        f"lies after the patient's {words}; a patient's records cannot lie before "
        "the birth year: correct that record first, or give an earlier birth year."
    )


def check_records_after_birth(patient_id: int | None, birth_year: int | None) -> None:
    """Raise for the birth year when a stored record of the patient lies before it.

    The rule that refuses a record dated before the patient's birth year, from the
    patient's side: a birth year may not move past the records already stored.
    """
    if patient_id is None or birth_year is None:
        return
    found = earliest_records_before({patient_id: birth_year})
    if patient_id in found:
        raise InvalidValue(
            birth_after_record_message(found[patient_id]), "birth-after-record"
        )


def check_end_after_start(started: dt.date | None, ended: dt.date | None) -> None:
    """Raise for the end date of a treatment (or consent) that lies before its start."""
    if started is not None and ended is not None and ended < started:
        raise InvalidValue(f"lies before start_date {started}.")


def find_same_treatment(record: Treatment) -> Treatment | None:
    """Return the stored treatment `record` repeats, its agent in any case, if any.

    A treatment is its patient, kind, agent and start day (treatment_natural_key);
    agents differing only in capitals (doxorubicin, Doxorubicin) name one drug.
    """
    stored = Treatment.objects.filter(
        patient_id=record.patient_id,
        kind=record.kind,
        agent__iexact=record.agent,
        started_on=record.started_on,
    )
    return stored.exclude(pk=record.pk).order_by("pk").first()


def same_agent_message(stored: Treatment) -> str:
    return (
        f'is already stored as "{stored.agent}" for this {stored.kind} started on '
        f"{stored.started_on} (treatment {stored.pk}); agents differing only in "
        "capitals are one drug: change that treatment instead."
    )
