"""Consent decides who enters cohorts, matrices, analyses and follow-up lists."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from biobank.cohorts.matrix import MatrixSpec, build_matrix
from biobank.cohorts.query import CohortCriteria, find_pairs, pair_queryset
from patients.models import Consent, Patient
from tests.biobank.conftest import Records

TODAY = timezone.localdate()
DAY = TODAY - dt.timedelta(days=400)


def paired(records: Records, name: str) -> Patient:
    patient = records.patient(name)
    records.study(patient, DAY)
    records.ctc(records.draw(patient, DAY + dt.timedelta(days=2)), 3)
    return patient


def consent(patient: Patient, **fields) -> Consent:
    fields.setdefault("given_on", DAY - dt.timedelta(days=30))
    return Consent.objects.create(patient=patient, **fields)


def cohort() -> list[str]:
    return [row.patient_pseudonym for row in find_pairs(CohortCriteria(window_days=7))]


def test_withdrawn_consent_leaves_the_cohort_from_the_withdrawal_date(records):
    patient = paired(records, "P-WITHDRAWN")
    given = consent(patient)
    assert cohort() == ["P-WITHDRAWN"]

    given.withdrawn_on = TODAY
    given.save()

    assert cohort() == []
    later = TODAY + dt.timedelta(days=1)
    assert Consent.objects.filter(withdrawn_on__lt=later).count() == 1


def test_a_withdrawal_dated_in_the_future_leaves_the_patient_in_until_then(records):
    patient = paired(records, "P-LATER")
    consent(patient, withdrawn_on=TODAY + dt.timedelta(days=10))

    assert cohort() == ["P-LATER"]


def test_consent_without_genomics_or_imaging_scope_leaves_the_cohort(records):
    consent(paired(records, "P-NO-DNA"), allows_genomics=False)
    consent(paired(records, "P-NO-IMG"), allows_imaging=False)
    consent(paired(records, "P-BOTH"))

    assert cohort() == ["P-BOTH"]


def test_a_later_consent_restores_a_withdrawn_patient(records):
    patient = paired(records, "P-AGAIN")
    consent(patient, withdrawn_on=DAY)
    consent(patient, given_on=DAY + dt.timedelta(days=5))

    assert cohort() == ["P-AGAIN"]


def test_patients_without_a_consent_record_count_only_when_consent_is_not_required(
    records, settings
):
    paired(records, "P-UNRECORDED")
    consent(paired(records, "P-RECORDED"))

    assert cohort() == ["P-RECORDED", "P-UNRECORDED"]
    settings.BIOBANK_CONSENT_REQUIRED = True
    assert cohort() == ["P-RECORDED"]


def test_the_matrix_follows_the_cohort(records):
    consent(paired(records, "P-KEEP"))
    consent(paired(records, "P-GONE"), withdrawn_on=TODAY - dt.timedelta(days=1))

    pairs = list(pair_queryset(CohortCriteria(window_days=7)))
    matrix = build_matrix(pairs, MatrixSpec())

    assert list(matrix["patient_pseudonym"]) == ["P-KEEP"]


@pytest.mark.parametrize(
    "url", ["/cohorts/query.json?window_days=7", "/api/cohort-pairs/?window_days=7"]
)
def test_pages_and_api_leave_out_withdrawn_patients(logged_in, records, url):
    consent(paired(records, "P-KEEP"))
    consent(paired(records, "P-GONE"), withdrawn_on=TODAY)

    body = logged_in.get(url).content.decode()

    assert "P-KEEP" in body
    assert "P-GONE" not in body


def test_follow_up_flags_skip_withdrawn_patients(records):
    from biobank.cohorts.stratification import FollowUpRule, flag_patients
    from patients.models import CancerType
    from radiomics.models import FeatureExtraction, RadiomicSignature, SignatureScore

    signature = RadiomicSignature.objects.create(name="Risk", cutoff=0.5)
    for name in ("BR-IN", "BR-OUT"):
        patient = records.patient(name, CancerType.BRCA)
        patient.stage = "IV"
        patient.save()
        study = records.study(patient, DAY)
        value = records.feature(study, "original_firstorder_Mean", 1.0)
        extraction = FeatureExtraction.objects.get(pk=value.extraction_id)
        SignatureScore.objects.create(
            signature=signature, extraction=extraction, score=0.9
        )
        records.ctc(records.draw(patient, DAY), 9)
        consent(patient, withdrawn_on=TODAY if name == "BR-OUT" else None)

    flags = flag_patients(Patient.objects.all(), FollowUpRule())

    assert [flag.patient.pseudonym for flag in flags] == ["BR-IN"]
