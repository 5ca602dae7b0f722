"""Which patients a use of the data may include, by their consent on a given day."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from patients.models import Consent

# The scopes a consent can grant, by the field that grants each:
SCOPES = {
    "imaging": "allows_imaging",
    "genomics": "allows_genomics",
    "sharing": "allows_sharing",
}
# A synchronous cohort reads images and blood-derived DNA/RNA results:
COHORT_SCOPES = ("imaging", "genomics")


def consent_allows(
    scopes: Iterable[str], patient_ref: str = "pk", on: dt.date | None = None
) -> Q:
    """Return a condition true for the patients whose consent covers every scope on `on`.

    A consent covers a day from `given_on` until the day before `withdrawn_on`; a
    withdrawal therefore takes effect on its own date, for every later query. Patients
    without any consent record are included unless BIOBANK_CONSENT_REQUIRED is set:
    collections whose consent is tracked elsewhere import none (docs/consent.md).
    `patient_ref` is the path from the queried model to the patient's id.
    """
    day = on or timezone.localdate()
    grants = {SCOPES[scope]: True for scope in scopes}
    covering = Consent.objects.filter(
        Q(withdrawn_on__isnull=True) | Q(withdrawn_on__gt=day),
        patient=OuterRef(patient_ref),
        given_on__lte=day,
        **grants,
    )
    allowed = Q(Exists(covering))
    if not settings.BIOBANK_CONSENT_REQUIRED:
        recorded = Consent.objects.filter(patient=OuterRef(patient_ref))
        allowed |= ~Q(Exists(recorded))
    return allowed
