"""The synthetic biobank generator: reproducible, within every constraint, realistic."""

from __future__ import annotations

import statistics

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count
from django.utils import timezone

from biobank.cohorts.query import CohortCriteria, find_pairs
from biobank.synthetic import (
    FEATURES_PER_EXTRACTION,
    SYNTHETIC_MARK,
    SyntheticProjectExists,
    generate_biobank,
)
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import ClinicalEvent, Consent, Patient, Project, Treatment
from radiomics.models import (
    FeatureExtraction,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)

pytestmark = pytest.mark.django_db


def snapshot(project: str) -> dict[str, list[tuple]]:
    """Return the project's records without ids, creation moments or parent ids."""
    patients = Patient.objects.filter(project__code=project)
    samples = BloodSample.objects.filter(patient__in=patients)
    studies = ImagingStudy.objects.filter(patient__in=patients)
    return {
        "patients": list(
            patients.order_by("pseudonym").values_list(
                "pseudonym", "source_key", "sex", "birth_year", "cancer_type",
                "stage", "diagnosis_on", "overall_survival_days",
            )
        ),
        "studies": list(
            studies.order_by("study_instance_uid").values_list(
                "patient__pseudonym", "study_instance_uid", "study_date", "modalities"
            )
        ),
        "series": list(
            ImageSeries.objects.filter(study__in=studies)
            .order_by("series_instance_uid")
            .values_list(
                "series_instance_uid", "manufacturer", "convolution_kernel",
                "slice_thickness_mm", "exposure_mas",
            )
        ),
        "samples": list(
            samples.order_by("external_sample_id").values_list(
                "external_sample_id", "drawn_at", "ctc_counts__count"
            )
        ),
        "variants": list(
            VariantResult.objects.filter(assay__sample__in=samples)
            .order_by("assay__sample__external_sample_id", "variant_key")
            .values_list("variant_key", "call", "vaf", "alt_reads", "depth")
        ),
        "values": list(
            FeatureValue.objects.filter(extraction__patient__in=patients)
            .order_by("extraction__fingerprint", "feature__name")
            .values_list("extraction__fingerprint", "feature__name", "value")
        ),
    }  # fmt: skip


def test_same_seed_gives_the_same_data_and_another_seed_other_data():
    generate_biobank(patients=6, seed=11, project_code="synth")
    first = snapshot("synth")

    generate_biobank(patients=6, seed=11, project_code="synth", replace=True)
    again = snapshot("synth")
    generate_biobank(patients=6, seed=12, project_code="synth", replace=True)
    other = snapshot("synth")

    assert first == again
    assert len(first["values"]) > 0
    assert other["patients"] != first["patients"]
    assert other["values"] != first["values"]


def test_every_record_passes_model_validation_and_derived_fields_agree():
    generate_biobank(patients=3, seed=5, project_code="synth")

    patients = Patient.objects.filter(project__code="synth")
    records = [
        *patients,
        *Consent.objects.filter(patient__in=patients),
        *Treatment.objects.filter(patient__in=patients),
        *ClinicalEvent.objects.filter(patient__in=patients),
        *ImagingStudy.objects.filter(patient__in=patients),
        *ImageSeries.objects.filter(study__patient__in=patients),
        *Segmentation.objects.filter(series__study__patient__in=patients),
        *FeatureExtraction.objects.filter(patient__in=patients),
        *BloodSample.objects.filter(patient__in=patients),
        *CTCCount.objects.filter(sample__patient__in=patients),
        *CfDNAAssay.objects.filter(sample__patient__in=patients),
        *VariantResult.objects.filter(assay__sample__patient__in=patients),
    ]
    for record in records:
        # Unique constraints are the database's own; COPY would have failed.
        record.full_clean(validate_unique=False)

    for sample in BloodSample.objects.filter(patient__in=patients):
        assert sample.drawn_on == timezone.localdate(sample.drawn_at)
    for count in CTCCount.objects.filter(sample__patient__in=patients):
        assert count.count_per_7_5ml == pytest.approx(
            count.count * 7.5 / count.blood_volume_ml
        )
    assert all(patient.pseudonym.startswith("SYNTH-") for patient in patients)
    assert Project.objects.get(code="synth").description == SYNTHETIC_MARK


def test_a_second_run_is_refused_without_replace_and_real_projects_never():
    generate_biobank(patients=2, seed=1, project_code="synth")
    Project.objects.create(code="real", name="Real collection")

    with pytest.raises(SyntheticProjectExists, match="--replace"):
        generate_biobank(patients=2, seed=1, project_code="synth")
    with pytest.raises(SyntheticProjectExists, match="not made by generate_biobank"):
        generate_biobank(patients=2, seed=1, project_code="real", replace=True)

    assert Patient.objects.filter(project__code="synth").count() == 2
    assert not Patient.objects.filter(project__code="real").exists()


def test_replace_deletes_the_old_records_first():
    generate_biobank(patients=4, seed=1, project_code="synth")

    generate_biobank(patients=2, seed=2, project_code="synth", replace=True)

    patients = Patient.objects.filter(project__code="synth")
    assert patients.count() == 2
    assert FeatureExtraction.objects.count() == ImagingStudy.objects.count()
    assert BloodSample.objects.filter(patient__in=patients).count() == (
        BloodSample.objects.count()
    )


def test_command_reports_counts_and_refuses_a_second_run(capsys):
    call_command("generate_biobank", "--patients", "2", "--project", "synth")
    output = capsys.readouterr().out

    with pytest.raises(CommandError, match="already holds 2 synthetic patients"):
        call_command("generate_biobank", "--patients", "2", "--project", "synth")
    assert "2 patients" in output
    assert "feature values" in output


@pytest.fixture
def biobank():
    return generate_biobank(patients=150, seed=3, project_code="synth")


def test_sizes_follow_the_issue(biobank):
    patients = biobank.counts["patients"]

    assert patients == 150
    assert 4 <= biobank.counts["imaging studies"] / patients <= 6
    assert biobank.counts["image series"] == 2 * biobank.counts["imaging studies"]
    assert biobank.counts["segmentations"] == biobank.counts["imaging studies"]
    assert biobank.counts["feature values"] == (
        FEATURES_PER_EXTRACTION * biobank.counts["feature extractions"]
    )
    assert 6 <= biobank.counts["blood samples"] / patients <= 10
    panels = VariantResult.objects.values("assay").annotate(genes=Count("id"))
    assert {row["genes"] for row in panels} <= set(range(10, 31))


def test_every_draw_of_the_project_has_a_lab_sample_id_of_its_own(biobank):
    # A lab sample ID names one tube (BloodSample.same_sample_id_draw):
    ids = BloodSample.objects.filter(patient__project__code="synth").values_list(
        "external_sample_id", flat=True
    )

    assert all(ids)
    assert len(set(ids)) == len(ids)


def test_ctc_counts_are_overdispersed_with_many_zeros(biobank):
    counts = list(CTCCount.objects.values_list("count", flat=True))

    zero_share = sum(count == 0 for count in counts) / len(counts)
    assert 0.3 <= zero_share <= 0.8
    assert statistics.variance(counts) > 5 * statistics.mean(counts)
    assert max(counts) >= 20


def test_vaf_is_mostly_below_one_per_cent_and_most_genes_are_not_detected(biobank):
    variants = VariantResult.objects.all()
    detected = list(
        variants.detected().values_list("vaf", "assay__limit_of_detection_vaf")
    )

    assert variants.filter(call="not-detected").count() > 0.8 * variants.count()
    assert variants.filter(call="below-lod", vaf__isnull=True).exists()
    assert all(lod <= vaf <= 1 for vaf, lod in detected)
    assert statistics.median(vaf for vaf, _lod in detected) < 0.01


def test_acquisition_parameters_vary_and_features_have_their_family_scale(biobank):
    ct = ImageSeries.objects.filter(modality="CT")

    assert ct.values("manufacturer").distinct().count() >= 4
    assert ct.values("convolution_kernel").distinct().count() >= 6
    assert ct.values("slice_thickness_mm").distinct().count() >= 6
    sphericity = FeatureValue.objects.filter(feature__name="original_shape_Sphericity")
    volume = FeatureValue.objects.filter(feature__name="original_shape_MeshVolume")
    assert all(0 < value < 1 for value in sphericity.values_list("value", flat=True))
    assert min(volume.values_list("value", flat=True)) > 100


def test_draws_within_days_of_a_study_exist_for_the_cohort_query(biobank):
    pairs = find_pairs(CohortCriteria(project="synth", window_days=7))
    nearest = find_pairs(CohortCriteria(project="synth", window_days=7, mode="nearest"))

    assert len({pair.patient_pseudonym for pair in pairs}) > 100
    assert all(pair.abs_days_apart <= 7 for pair in pairs)
    assert 0 < len(nearest) <= len(pairs)
