"""How each record reads in the API: its own fields, its patient's pseudonym and project.

Identifier hashes (source_key, source_uid_hash) and storage paths never leave the server.
"""

from __future__ import annotations

from rest_framework import serializers

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


def _pseudonym(source: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.pseudonym", read_only=True)


def _project(source: str) -> serializers.CharField:
    return serializers.CharField(source=f"{source}.project.code", read_only=True)


class ProjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "code", "name", "description", "created_at"]


class PatientSerializer(serializers.ModelSerializer):
    project = serializers.CharField(source="project.code", read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "project",
            "pseudonym",
            "sex",
            "birth_year",
            "cancer_type",
            "histology",
            "stage",
            "t_stage",
            "n_stage",
            "m_stage",
            "diagnosis_on",
            "age_at_diagnosis_years",
            "overall_survival_days",
            "is_deceased",
            "created_at",
        ]


class _PatientRecordSerializer(serializers.ModelSerializer):
    """A record of one patient, with the patient's pseudonym and project."""

    project = _project("patient")
    patient_pseudonym = _pseudonym("patient")

    PATIENT_PREFIX = ["id", "project", "patient", "patient_pseudonym"]


class ConsentSerializer(_PatientRecordSerializer):
    class Meta:
        model = Consent
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "allows_imaging",
            "allows_genomics",
            "allows_sharing",
            "given_on",
            "withdrawn_on",
        ]


class TreatmentSerializer(_PatientRecordSerializer):
    class Meta:
        model = Treatment
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "kind",
            "agent",
            "line",
            "started_on",
            "ended_on",
        ]


class ClinicalEventSerializer(_PatientRecordSerializer):
    class Meta:
        model = ClinicalEvent
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "kind",
            "recist",
            "occurred_on",
            "note",
        ]


class ImagingStudySerializer(_PatientRecordSerializer):
    class Meta:
        model = ImagingStudy
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "study_instance_uid",
            "study_date",
            "study_time",
            "date_source",
            "modalities",
            "body_part",
            "description",
            "patient_age_raw",
            "patient_age_value",
            "patient_age_unit",
            "patient_age_years",
            "is_age_unit_assumed",
            "created_at",
        ]


ACQUISITION_FIELDS = [
    "series_instance_uid",
    "frame_of_reference_uid",
    "modality",
    "sop_class_uid",
    "series_number",
    "description",
    "series_date",
    "manufacturer",
    "manufacturer_model_name",
    "convolution_kernel",
    "slice_thickness_mm",
    "spacing_between_slices_mm",
    "pixel_spacing_row_mm",
    "pixel_spacing_column_mm",
    "rows",
    "columns",
    "kvp",
    "exposure_mas",
    "tube_current_ma",
    "contrast_agent",
    "mr_sequence",
    "magnetic_field_strength_t",
    "echo_time_ms",
    "repetition_time_ms",
    "pet_units",
    "radiopharmaceutical",
    "instance_count",
]


class ImageSeriesSerializer(serializers.ModelSerializer):
    project = _project("study.patient")
    patient = serializers.IntegerField(source="study.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("study.patient")

    class Meta:
        model = ImageSeries
        fields = ["id", "project", "patient", "patient_pseudonym", "study"]
        fields += ACQUISITION_FIELDS


SEGMENTATION_FIELDS = [
    "roi_name",
    "roi_number",
    "method",
    "reader",
    "roi_type",
    "source_kind",
    "source_sop_instance_uid",
    "linkage",
    "created_at",
]


class SegmentationSerializer(serializers.ModelSerializer):
    project = _project("series.study.patient")
    patient = serializers.IntegerField(source="series.study.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("series.study.patient")
    study = serializers.IntegerField(source="series.study_id", read_only=True)

    class Meta:
        model = Segmentation
        fields = ["id", "project", "patient", "patient_pseudonym", "study", "series"]
        fields += SEGMENTATION_FIELDS


# NB: source_name, image_reference and mask_reference stay out: an imported engine
# CSV gives them as the lab's file paths, which often hold source patient IDs.
EXTRACTION_FIELDS = [
    "software",
    "software_version",
    "parameters",
    "diagnostics",
    "fingerprint",
    "preset",
    "label",
    "status",
    "progress",
    "attempts",
    "error",
    "created_at",
    "started_at",
    "finished_at",
]


class FeatureExtractionSerializer(_PatientRecordSerializer):
    class Meta:
        model = FeatureExtraction
        fields = _PatientRecordSerializer.PATIENT_PREFIX + ["segmentation"]
        fields += EXTRACTION_FIELDS


class FeatureDefinitionSerializer(serializers.ModelSerializer):
    class Meta:
        model = FeatureDefinition
        fields = [
            "id",
            "name",
            "family",
            "feature_name",
            "image_filter",
            "ibsi_code",
            "description",
            "ibsi_conformant",
            "conformance_note",
        ]


class FeatureRobustnessSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)

    class Meta:
        model = FeatureRobustness
        fields = [
            "id",
            "feature",
            "feature_name",
            "design",
            "selection",
            "form",
            "icc",
            "ci_low",
            "ci_high",
            "n_subjects",
            "n_raters",
            "threshold",
            "is_robust",
            "computed_at",
        ]


class FeatureValueSerializer(serializers.ModelSerializer):
    project = _project("extraction.patient")
    patient = serializers.IntegerField(source="extraction.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("extraction.patient")
    segmentation = serializers.IntegerField(
        source="extraction.segmentation_id", read_only=True, allow_null=True
    )
    feature_name = serializers.CharField(source="feature.name", read_only=True)
    ibsi_code = serializers.CharField(source="feature.ibsi_code", read_only=True)

    class Meta:
        model = FeatureValue
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "extraction",
            "segmentation",
            "feature",
            "feature_name",
            "ibsi_code",
            "value",
        ]


class SignatureTermSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)

    class Meta:
        model = SignatureTerm
        fields = ["feature", "feature_name", "weight"]


class RadiomicSignatureSerializer(serializers.ModelSerializer):
    terms = SignatureTermSerializer(many=True, read_only=True)

    class Meta:
        model = RadiomicSignature
        fields = [
            "id",
            "name",
            "description",
            "reference",
            "intercept",
            "cutoff",
            "label_below",
            "label_above",
            "terms",
        ]


class SignatureScoreSerializer(serializers.ModelSerializer):
    project = _project("extraction.patient")
    patient = serializers.IntegerField(source="extraction.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("extraction.patient")
    signature_name = serializers.CharField(source="signature.name", read_only=True)

    class Meta:
        model = SignatureScore
        fields = _PatientRecordSerializer.PATIENT_PREFIX + [
            "signature",
            "signature_name",
            "extraction",
            "score",
            "label",
            "computed_at",
        ]


SAMPLE_FIELDS = [
    "drawn_at",
    "drawn_on",
    "is_time_known",
    "timepoint",
    "tube_type",
    "plasma_volume_ml",
    "hours_to_processing",
    "external_sample_id",
    "created_at",
]


class BloodSampleSerializer(_PatientRecordSerializer):
    class Meta:
        model = BloodSample
        fields = _PatientRecordSerializer.PATIENT_PREFIX + SAMPLE_FIELDS


class _SampleRecordSerializer(serializers.ModelSerializer):
    """A measurement in a blood draw, with the draw's patient and day."""

    project = _project("sample.patient")
    patient = serializers.IntegerField(source="sample.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("sample.patient")
    drawn_on = serializers.DateField(source="sample.drawn_on", read_only=True)

    SAMPLE_PREFIX = _PatientRecordSerializer.PATIENT_PREFIX + ["sample"]


class CTCCountSerializer(_SampleRecordSerializer):
    class Meta:
        model = CTCCount
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "platform",
            "enrichment",
            "blood_volume_ml",
            "count",
            "count_per_7_5ml",
            "clusters",
        ]


class CfDNAAssaySerializer(_SampleRecordSerializer):
    class Meta:
        model = CfDNAAssay
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "method",
            "panel",
            "cfdna_ng_per_ml",
            "tumour_fraction",
            "limit_of_detection_vaf",
        ]


class CirculatingRNAResultSerializer(_SampleRecordSerializer):
    class Meta:
        model = CirculatingRNAResult
        fields = _SampleRecordSerializer.SAMPLE_PREFIX + [
            "drawn_on",
            "transcript",
            "source",
            "method",
            "call",
            "value",
            "unit",
        ]


VARIANT_FIELDS = [
    "gene",
    "gene_hgnc",
    "variant_type",
    "protein_change",
    "protein_change_raw",
    "is_protein_change_predicted",
    "protein_accession",
    "cdna_change",
    "genomic_change",
    "genome_build",
    "fusion_5prime",
    "fusion_3prime",
    "fusion_note",
    "vaf",
    "alt_reads",
    "depth",
    "supporting_reads",
    "call",
    "is_clonal_haematopoiesis",
    "is_germline",
    "is_seen_in_ctc",
    "note",
]


class VariantResultSerializer(serializers.ModelSerializer):
    project = _project("assay.sample.patient")
    patient = serializers.IntegerField(source="assay.sample.patient_id", read_only=True)
    patient_pseudonym = _pseudonym("assay.sample.patient")
    sample = serializers.IntegerField(source="assay.sample_id", read_only=True)
    drawn_on = serializers.DateField(source="assay.sample.drawn_on", read_only=True)

    class Meta:
        model = VariantResult
        fields = (
            _PatientRecordSerializer.PATIENT_PREFIX
            + [
                "sample",
                "drawn_on",
                "assay",
            ]
            + VARIANT_FIELDS
        )


# A study with everything measured on it:


class StudyFeatureValueSerializer(serializers.ModelSerializer):
    feature_name = serializers.CharField(source="feature.name", read_only=True)
    ibsi_code = serializers.CharField(source="feature.ibsi_code", read_only=True)

    class Meta:
        model = FeatureValue
        fields = ["feature", "feature_name", "ibsi_code", "value"]


class StudyExtractionSerializer(serializers.ModelSerializer):
    values = StudyFeatureValueSerializer(many=True, read_only=True)

    class Meta:
        model = FeatureExtraction
        fields = ["id"] + EXTRACTION_FIELDS + ["values"]


class StudySegmentationSerializer(serializers.ModelSerializer):
    extractions = StudyExtractionSerializer(many=True, read_only=True)

    class Meta:
        model = Segmentation
        fields = ["id"] + SEGMENTATION_FIELDS + ["extractions"]


class StudySeriesSerializer(serializers.ModelSerializer):
    segmentations = StudySegmentationSerializer(many=True, read_only=True)

    class Meta:
        model = ImageSeries
        fields = ["id"] + ACQUISITION_FIELDS + ["segmentations"]


class ImagingStudyDetailSerializer(ImagingStudySerializer):
    series = StudySeriesSerializer(many=True, read_only=True)

    class Meta(ImagingStudySerializer.Meta):
        fields = ImagingStudySerializer.Meta.fields + ["series"]


# A patient's timeline:


class TimelineEntrySerializer(serializers.Serializer):
    """One dated record of a patient; `at` is set where the moment is known."""

    kind = serializers.ChoiceField(
        choices=[
            "diagnosis",
            "consent",
            "consent-withdrawal",
            "treatment",
            "clinical-event",
            "imaging-study",
            "blood-sample",
        ]
    )
    on = serializers.DateField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)
    id = serializers.IntegerField(allow_null=True)
    summary = serializers.CharField()
    record = serializers.DictField()


class TimelineSerializer(serializers.Serializer):
    patient = PatientSerializer()
    entries = TimelineEntrySerializer(many=True)
    undated = TimelineEntrySerializer(many=True)
