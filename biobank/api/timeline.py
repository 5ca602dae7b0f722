"""A patient's dated records in one list, oldest first, each with its kind."""

from __future__ import annotations

import datetime as dt

from django.db.models import Prefetch
from rest_framework import serializers

from biobank.api.serializers import (
    BloodSampleSerializer,
    ClinicalEventSerializer,
    ConsentSerializer,
    ImagingStudySerializer,
    TreatmentSerializer,
)
from liquidbiopsy.models import (
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import Patient

# Records of one day appear in this order (treatment before the scan that follows it
# would be a guess; this is only a stable order):
KIND_ORDER = [
    "diagnosis",
    "consent",
    "treatment",
    "clinical-event",
    "imaging-study",
    "blood-sample",
    "consent-withdrawal",
]


class _CTCSerializer(serializers.ModelSerializer):
    class Meta:
        model = CTCCount
        fields = ["id", "platform", "enrichment", "count", "count_per_7_5ml"]


class _VariantSerializer(serializers.ModelSerializer):
    class Meta:
        model = VariantResult
        fields = [
            "id",
            "gene",
            "variant_type",
            "protein_change",
            "fusion_5prime",
            "fusion_3prime",
            "vaf",
            "call",
        ]


class _AssaySerializer(serializers.ModelSerializer):
    variants = _VariantSerializer(many=True, read_only=True)

    class Meta:
        model = CfDNAAssay
        fields = ["id", "method", "panel", "cfdna_ng_per_ml", "variants"]


class _RNASerializer(serializers.ModelSerializer):
    class Meta:
        model = CirculatingRNAResult
        fields = ["id", "transcript", "source", "call", "value", "unit"]


def _entry(
    kind: str,
    on: dt.date | None,
    record_id: int | None,
    summary: str,
    record: dict,
    at: dt.datetime | None = None,
) -> dict:
    return {
        "kind": kind,
        "on": on,
        "at": at,
        "id": record_id,
        "summary": summary,
        "record": record,
    }


def patient_timeline(patient: Patient) -> dict:
    """Return the patient and every dated record of theirs, in date order.

    Studies without a usable date are listed apart under "undated". The number of
    database queries does not depend on the number of records.
    """
    entries = []
    if patient.diagnosis_on:
        entries.append(
            _entry(
                "diagnosis",
                patient.diagnosis_on,
                None,
                f"Diagnosis {patient.cancer_type} {patient.stage}".strip(),
                {
                    "cancer_type": patient.cancer_type,
                    "histology": patient.histology,
                    "stage": patient.stage,
                },
            )
        )

    for consent in patient.consents.all():
        record = ConsentSerializer(consent).data
        entries.append(
            _entry("consent", consent.given_on, consent.pk, str(consent), record)
        )
        if consent.withdrawn_on:
            summary = f"Consent withdrawn on {consent.withdrawn_on}"
            entries.append(
                _entry(
                    "consent-withdrawal",
                    consent.withdrawn_on,
                    consent.pk,
                    summary,
                    record,
                )
            )

    for treatment in patient.treatments.all():
        record = TreatmentSerializer(treatment).data
        entries.append(
            _entry(
                "treatment", treatment.started_on, treatment.pk, str(treatment), record
            )
        )

    for event in patient.events.all():
        record = ClinicalEventSerializer(event).data
        entries.append(
            _entry("clinical-event", event.occurred_on, event.pk, str(event), record)
        )

    undated = []
    for study in patient.imaging_studies.all():
        entry = _entry(
            "imaging-study",
            study.study_date,
            study.pk,
            str(study),
            ImagingStudySerializer(study).data,
        )
        (entries if study.study_date else undated).append(entry)

    samples = patient.blood_samples.prefetch_related(
        "ctc_counts",
        Prefetch(
            "cfdna_assays",
            queryset=CfDNAAssay.objects.prefetch_related("variants"),
        ),
        "rna_results",
    )
    for sample in samples:
        record = {
            **BloodSampleSerializer(sample).data,
            "ctc_counts": _CTCSerializer(sample.ctc_counts.all(), many=True).data,
            "cfdna_assays": _AssaySerializer(sample.cfdna_assays.all(), many=True).data,
            "rna_results": _RNASerializer(sample.rna_results.all(), many=True).data,
        }
        entries.append(
            _entry(
                "blood-sample",
                sample.drawn_on,
                sample.pk,
                str(sample),
                record,
                at=sample.drawn_at,
            )
        )

    entries.sort(key=_order)
    return {"patient": patient, "entries": entries, "undated": undated}


def _order(entry: dict) -> tuple:
    at = entry["at"].timestamp() if entry["at"] else 0.0
    return (entry["on"], KIND_ORDER.index(entry["kind"]), at, entry["id"] or 0)
