"""Small factories for cohort and admin tests: patients, studies, draws and results."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from django.utils import timezone

from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import CancerType, Consent, Patient, Project, Treatment
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)

_serial = itertools.count(1)


class Records:
    """Create linked records of one project with the fewest fields each model needs."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def patient(self, pseudonym: str, cancer_type: str = CancerType.LUAD) -> Patient:
        return Patient.objects.create(
            project=self.project,
            pseudonym=pseudonym,
            source_key=f"key-{pseudonym}-{next(_serial)}",
            cancer_type=cancer_type,
        )

    def study(
        self, patient: Patient, on: dt.date | None, modalities: str = "CT"
    ) -> ImagingStudy:
        """Create a study with one series per modality (e.g. "CT,PT")."""
        serial = next(_serial)
        study = ImagingStudy.objects.create(
            patient=patient,
            study_instance_uid=f"2.25.1{serial}",
            source_uid_hash=f"study-{serial}",
            study_date=on,
            modalities=modalities,
        )
        for number, modality in enumerate(modalities.split(","), start=1):
            ImageSeries.objects.create(
                study=study,
                series_instance_uid=f"2.25.2{serial}{number}",
                source_uid_hash=f"series-{serial}-{number}",
                modality=modality,
                series_number=number,
            )
        return study

    def draw(
        self,
        patient: Patient,
        on: dt.date,
        at: dt.time | None = dt.time(9, 0),
        external_sample_id: str = "",
    ) -> BloodSample:
        """Create a draw at local time `at` of day `on` (the current time zone).

        `at` None: a draw given with its date only, stored as the importers store it
        (local midnight, `is_time_known` False).
        """
        return BloodSample.objects.create(
            patient=patient,
            drawn_at=timezone.make_aware(dt.datetime.combine(on, at or dt.time())),
            is_time_known=at is not None,
            external_sample_id=external_sample_id,
        )

    def ctc(self, sample: BloodSample, count: int, volume_ml: float = 7.5) -> CTCCount:
        return CTCCount.objects.create(
            sample=sample, count=count, blood_volume_ml=volume_ml
        )

    def variant(
        self,
        sample: BloodSample,
        gene: str,
        protein_change: str,
        call: str = VariantResult.Call.DETECTED,
    ) -> VariantResult:
        assay, _ = CfDNAAssay.objects.get_or_create(
            sample=sample, method=CfDNAAssay.Method.DDPCR, panel="hotspots"
        )
        return VariantResult.objects.create(
            assay=assay,
            gene=gene,
            gene_hgnc=gene,
            variant_key=f"{gene}:{protein_change}",
            variant_type=VariantResult.Type.SNV,
            protein_change=protein_change,
            call=call,
        )

    def rna(
        self, sample: BloodSample, transcript: str = "AR-V7"
    ) -> CirculatingRNAResult:
        return CirculatingRNAResult.objects.create(
            sample=sample,
            transcript=transcript,
            source=CirculatingRNAResult.Source.CTC,
            call=VariantResult.Call.DETECTED,
        )

    def feature(
        self,
        study: ImagingStudy,
        name: str,
        value: float,
        ibsi_code: str = "",
        image_filter: str = "original",
    ) -> FeatureValue:
        """Store one feature value on a new GTV segmentation of the study's first series."""
        serial = next(_serial)
        series = study.series.order_by("pk").first()
        segmentation = Segmentation.objects.create(
            series=series,
            roi_name="GTV-1",
            source_kind=Segmentation.SourceKind.RTSTRUCT,
            source_uid_hash=f"roi-{serial}",
        )
        extraction = FeatureExtraction.objects.create(
            patient=study.patient,
            segmentation=segmentation,
            software="pyradiomics",
            fingerprint=f"extraction-{serial}",
            status=FeatureExtraction.Status.DONE,
        )
        family, _, feature_name = name.removeprefix(f"{image_filter}_").partition("_")
        definition, _ = FeatureDefinition.objects.get_or_create(
            name=name,
            defaults={
                "family": family,
                "feature_name": feature_name,
                "image_filter": image_filter,
                "ibsi_code": ibsi_code,
            },
        )
        return FeatureValue.objects.create(
            extraction=extraction, feature=definition, value=value
        )

    def treatment(self, patient: Patient, started_on: dt.date) -> Treatment:
        return Treatment.objects.create(
            patient=patient, kind=Treatment.Kind.CHEMOTHERAPY, started_on=started_on
        )

    def consent(self, patient: Patient, given_on: dt.date) -> Consent:
        return Consent.objects.create(patient=patient, given_on=given_on)


@pytest.fixture
def records(project) -> Records:
    return Records(project)


@pytest.fixture
def paired(records: Records) -> Patient:
    """Patient P-1: a study with the ACUI feature and an EGFR T790M draw the same day."""
    day = dt.date(2024, 3, 1)
    patient = records.patient("P-1")
    study = records.study(patient, day)
    records.feature(study, "original_glcm_Contrast", 2.5, "ACUI")
    records.variant(records.draw(patient, day), "EGFR", "p.T790M")
    return patient
