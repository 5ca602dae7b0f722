"""API clients and a small biobank of two contrasting patients for the API tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import ClinicalEvent, Consent, Patient, Project, Treatment
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
    SignatureTerm,
)
from tests.conftest import grant


@pytest.fixture
def analyst(db, django_user_model, project):
    """A viewer of the `project` fixture."""
    # No password: hashing one is slow, and force_login and tokens need none.
    return grant(django_user_model.objects.create_user("analyst"), project)


@pytest.fixture
def token(analyst) -> Token:
    return Token.objects.create(user=analyst)


@pytest.fixture
def api(token) -> APIClient:
    """A client that signs every request with the analyst's token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def calendar_api(analyst, project, api) -> APIClient:
    """The analyst as a curator of the project: shown calendar dates, so it may
    filter and order the lists by them (a viewer may not: test_viewer_dates.py)."""
    grant(analyst, project, "curator")
    return api


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content[:500]
    return response.json()["results"]


@dataclass
class Side:
    """The records of one patient of the contrasting pair."""

    patient: Patient
    consent: Consent
    treatment: Treatment
    event: ClinicalEvent
    study: ImagingStudy
    series: ImageSeries
    segmentation: Segmentation
    extraction: FeatureExtraction
    value: FeatureValue
    score: SignatureScore
    sample: BloodSample
    ctc: CTCCount
    assay: CfDNAAssay
    variant: VariantResult
    rna: CirculatingRNAResult


@dataclass
class Biobank:
    """Patient A and patient B differ in every attribute the API filters on."""

    a: Side
    b: Side
    mean: FeatureDefinition
    wavelet_mean: FeatureDefinition
    signature: RadiomicSignature
    fusion: VariantResult


_serial = iter(range(1, 1_000_000))


def _aware(day: dt.date, hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


def add_side(
    project: Project,
    pseudonym: str,
    feature: FeatureDefinition,
    signature: RadiomicSignature,
    **values,
) -> Side:
    """Store one patient with one record of every kind, shaped by `values`."""
    serial = next(_serial)
    patient = Patient.objects.create(
        project=project,
        pseudonym=pseudonym,
        source_key=f"key-{pseudonym}-{serial}",
        **values["patient"],
    )
    consent = Consent.objects.create(patient=patient, **values["consent"])
    treatment = Treatment.objects.create(patient=patient, **values["treatment"])
    event = ClinicalEvent.objects.create(patient=patient, **values["event"])

    study = ImagingStudy.objects.create(
        patient=patient,
        study_instance_uid=f"2.25.1{serial}",
        source_uid_hash=f"study-{serial}",
        **values["study"],
    )
    series = ImageSeries.objects.create(
        study=study,
        series_instance_uid=f"2.25.2{serial}",
        source_uid_hash=f"series-{serial}",
        series_number=1,
        **values["series"],
    )
    segmentation = Segmentation.objects.create(
        series=series, source_uid_hash=f"roi-{serial}", **values["segmentation"]
    )
    extraction = FeatureExtraction.objects.create(
        patient=patient,
        segmentation=segmentation,
        fingerprint=f"extraction-{serial}",
        **values["extraction"],
    )
    value = FeatureValue.objects.create(
        extraction=extraction, feature=feature, value=values["feature_value"]
    )
    score, _ = SignatureScore.objects.update_or_create(
        signature=signature, extraction=extraction, defaults=values["score"]
    )

    sample = BloodSample.objects.create(patient=patient, **values["sample"])
    ctc = CTCCount.objects.create(sample=sample, **values["ctc"])
    assay = CfDNAAssay.objects.create(sample=sample, **values["assay"])
    variant = VariantResult.objects.create(assay=assay, **values["variant"])
    rna = CirculatingRNAResult.objects.create(sample=sample, **values["rna"])
    return Side(
        patient,
        consent,
        treatment,
        event,
        study,
        series,
        segmentation,
        extraction,
        value,
        score,
        sample,
        ctc,
        assay,
        variant,
        rna,
    )


def _snv(gene: str, change: str, call: str, vaf: float | None) -> dict:
    return {
        "gene": gene,
        "gene_hgnc": gene,
        "variant_key": f"{gene}:{change}",
        "variant_type": VariantResult.Type.SNV,
        "protein_change": change,
        "call": call,
        "vaf": vaf,
    }


A_VALUES = {
    "patient": {
        "sex": "F",
        "birth_year": 1950,
        "cancer_type": "LUAD",
        "stage": "IIIA",
        "diagnosis_on": dt.date(2020, 1, 10),
        "is_deceased": False,
    },
    "consent": {"given_on": dt.date(2020, 1, 15), "allows_sharing": True},
    "treatment": {
        "kind": "chemotherapy",
        "agent": "carboplatin",
        "line": 1,
        "started_on": dt.date(2020, 2, 1),
    },
    "event": {"kind": "response", "recist": "PR", "occurred_on": dt.date(2020, 5, 1)},
    "study": {
        "study_date": dt.date(2020, 1, 20),
        "modalities": "CT",
        "date_source": "StudyDate",
        "body_part": "CHEST",
    },
    "series": {
        "modality": "CT",
        "manufacturer": "SIEMENS",
        "manufacturer_model_name": "SOMATOM Definition",
        "convolution_kernel": "B31f",
        "slice_thickness_mm": 1.0,
        "kvp": 120.0,
        "ctdi_vol_mgy": 8.5,
        # The CT of a PET/CT may keep the injection too:
        "injected_activity_mbq": 370.0,
        "uptake_time_min": 62.0,
        "contrast_agent": "Omnipaque",
        "series_date": dt.date(2020, 1, 20),
    },
    "segmentation": {
        "roi_name": "GTV-1",
        "roi_type": "GTV",
        "reader": "reader-1",
        "method": "manual",
        "source_kind": "RTSTRUCT",
    },
    "extraction": {
        "software": "pyradiomics",
        "software_version": "3.1.0",
        "status": "done",
        "preset": "ct-default",
        "finished_at": _aware(dt.date(2020, 2, 1), 12),
    },
    "feature_value": 42.0,
    "score": {"score": 42.0, "label": "high risk"},
    "sample": {
        "drawn_at": _aware(dt.date(2020, 1, 22), 9),
        "timepoint": "Baseline",
        "tube_type": "CellSave",
    },
    "ctc": {"count": 12, "platform": "CellSearch"},
    "assay": {
        "method": "ddPCR",
        "panel": "hotspots",
        "cfdna_ng_per_ml": 15.0,
        "tumour_fraction": 0.2,
    },
    "variant": {**_snv("EGFR", "p.T790M", "detected", 0.12), "is_seen_in_ctc": True},
    "rna": {
        "transcript": "AR-V7",
        "source": "CTC",
        "call": "detected",
        "value": 5.0,
        "method": "AdnaTest",
    },
}

B_VALUES = {
    "patient": {
        "sex": "M",
        "birth_year": 1970,
        "cancer_type": "PRAD",
        "stage": "IV",
        "diagnosis_on": dt.date(2021, 6, 1),
        "is_deceased": True,
    },
    "consent": {
        "given_on": dt.date(2021, 6, 5),
        "withdrawn_on": dt.date(2021, 12, 1),
        "allows_sharing": False,
    },
    "treatment": {
        "kind": "hormonal",
        "agent": "enzalutamide",
        "line": 2,
        "started_on": dt.date(2021, 7, 1),
    },
    "event": {
        "kind": "progression",
        "recist": "PD",
        "occurred_on": dt.date(2022, 1, 1),
    },
    "study": {
        "study_date": dt.date(2021, 6, 10),
        "modalities": "MR",
        "date_source": "SeriesDate",
        "body_part": "PROSTATE",
    },
    "series": {
        "modality": "MR",
        "manufacturer": "GE MEDICAL SYSTEMS",
        "manufacturer_model_name": "DISCOVERY MR750",
        "slice_thickness_mm": 5.0,
        "magnetic_field_strength_t": 3.0,
        "mr_sequence": "SE",
        "series_date": dt.date(2021, 6, 10),
    },
    "segmentation": {
        "roi_name": "Prostate",
        "roi_type": "ORGAN",
        "method": "automatic",
        "source_kind": "SEG",
    },
    "extraction": {"software": "mirp", "software_version": "2.7.0", "status": "failed"},
    # Above A's value, so that only the image filter tells the two apart:
    "feature_value": 50.0,
    "score": {"score": -10.0, "label": "low risk"},
    "sample": {
        "drawn_at": _aware(dt.date(2021, 6, 12), 14),
        "timepoint": "C2D1",
        "tube_type": "Streck",
    },
    "ctc": {"count": 1, "platform": "Parsortix", "enrichment": "size-filtration"},
    "assay": {
        "method": "targeted-NGS",
        "panel": "lung-50",
        "cfdna_ng_per_ml": 3.0,
        "tumour_fraction": 0.01,
    },
    "variant": {
        **_snv("KRAS", "p.G12D", "below-lod", 0.002),
        "is_clonal_haematopoiesis": True,
    },
    "rna": {
        "transcript": "AR-FL",
        "source": "plasma",
        "call": "not-detected",
        "value": 0.5,
        "method": "RT-qPCR",
    },
}


def feature_definitions() -> tuple[FeatureDefinition, FeatureDefinition]:
    mean = FeatureDefinition.objects.create(
        name="original_firstorder_Mean",
        family="firstorder",
        feature_name="Mean",
        ibsi_code="Q4LE",
        ibsi_conformant=True,
    )
    # The same IBSI code on a filtered image is another feature (cohort rule):
    wavelet_mean = FeatureDefinition.objects.create(
        name="wavelet-LLH_firstorder_Mean",
        family="firstorder",
        feature_name="Mean",
        image_filter="wavelet-LLH",
        ibsi_code="Q4LE",
        ibsi_conformant=False,
    )
    return mean, wavelet_mean


@pytest.fixture
def biobank(project) -> Biobank:
    mean, wavelet_mean = feature_definitions()
    signature = RadiomicSignature.objects.create(name="mean score", cutoff=0.0)
    SignatureTerm.objects.create(signature=signature, feature=mean, weight=1.0)

    a = add_side(project, "PT-A", mean, signature, **A_VALUES)
    b = add_side(project, "PT-B", wavelet_mean, signature, **B_VALUES)
    FeatureRobustness.objects.create(
        feature=mean,
        design="readers",
        form="ICC(2,1)",
        selection="pyradiomics ct-default",
        icc=0.95,
        ci_low=0.9,
        ci_high=0.98,
        threshold=0.75,
        is_robust=True,
    )
    FeatureRobustness.objects.create(
        feature=wavelet_mean,
        design="test-retest",
        form="ICC(3,1)",
        icc=0.4,
        ci_low=0.2,
        ci_high=0.6,
        threshold=0.75,
        is_robust=False,
    )
    fusion = VariantResult.objects.create(
        assay=a.assay,
        gene="ALK",
        gene_hgnc="ALK",
        variant_key="EML4::ALK",
        variant_type=VariantResult.Type.FUSION,
        fusion_5prime="EML4",
        fusion_3prime="ALK",
        call="detected",
    )
    return Biobank(a, b, mean, wavelet_mean, signature, fusion)


@pytest.fixture
def renewed_consent(biobank: Biobank) -> Consent:
    """B withdrew consent in 2021 and consented again in 2022, so B is in cohorts again.

    Cohort, matrix and saved-cohort tests use it (docs/consent.md): without it, B's
    withdrawal would leave B out of every cohort.
    """
    return Consent.objects.create(
        patient=biobank.b.patient, given_on=dt.date(2022, 1, 10), allows_sharing=False
    )
