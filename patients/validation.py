"""Rules for clinical values, shared by the clinical importer and the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal

from django.utils import timezone

from biobank.core.validation import EARLIEST_YEAR, InvalidValue, check_between
from patients.models import CancerType, ClinicalEvent, Sex, Treatment

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


# The dated records of a patient that may not lie in a year before the birth year, kept
# by the apps above patients (liquidbiopsy's draws: liquidbiopsy.apps). Each returns the
# patient's earliest such record before a year, its day and its words, or None.
EarliestBefore = Callable[[int, int], tuple[dt.date, str] | None]
RECORDS_AFTER_BIRTH: list[EarliestBefore] = []


def check_records_after_birth(patient_id: int | None, birth_year: int | None) -> None:
    """Raise for the birth year when a stored record of the patient lies before it.

    The rule that refuses a draw dated before the patient's birth year, from the
    patient's side: a birth year may not move past the records already stored.
    """
    if patient_id is None or birth_year is None:
        return
    earliest = [find(patient_id, birth_year) for find in RECORDS_AFTER_BIRTH]
    found = [record for record in earliest if record is not None]
    if found:
        raise InvalidValue(
            f"lies after the patient's {min(found)[1]}; a patient's records "
            "cannot lie before the birth year: correct that record first, or give an "
            "earlier birth year.",
            "birth-after-record",
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
