"""Extractions planned from stored segmentations, run, stored whole, refused with the checks' message."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import numpy as np
import pydicom
import pytest
from django.core.management import CommandError, call_command

from radiomics.engines import PRESETS, get_preset
from radiomics.engines.checks import ExtractionRefused, select_roi
from radiomics.engines.presets import ALL_3D
from radiomics.engines.pyradiomics_engine import feature_conformance
from radiomics.extraction import plan_extraction, run_extraction
from radiomics.importers.dicom import ingest_dicom
from radiomics.masks import load_mask, register_mask
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
    SignatureTerm,
)
from radiomics.series import read_grid
from tests.radiomics.conftest import build_ct, build_rtstruct, two_boxes, write_part10
from tests.radiomics.test_masks import (
    contour_points,
    shoelace_area,
    source_slices,
    sts,
    write_mask,
)

pytestmark = pytest.mark.django_db

Status = FeatureExtraction.Status
# No interpolation: the statistics are those of the stored voxels within [-500, 400]
# HU, which the tests compute from the source files. Three families keep it quick.
RAW = get_preset("ibsi1_config_a").with_changes(
    name="raw_3d",
    dimensions="3D",
    aggregations=ALL_3D,
    families=("morph", "stat", "cm"),
)
HU_RANGE = (-500, 400)


def source_hu() -> np.ndarray:
    """The STS CT as HU [z, y, x], read with pydicom alone."""
    return np.array(
        [
            ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            for ds in source_slices(sts("CT", "image"))
        ]
    )


def stored_values(extraction: FeatureExtraction) -> dict[str, float]:
    return dict(extraction.values.values_list("feature__feature_name", "value"))


# A mask file with a label choice


@pytest.mark.parametrize("label", [None, 1])
def test_extracts_the_label_of_a_registered_mask_or_the_label_asked_for(
    two_label_mask, label
):
    roi = two_boxes() == (label or 2)
    hu = source_hu()[roi]
    inside = hu[(hu >= HU_RANGE[0]) & (hu <= HU_RANGE[1])]
    voxel_mm3 = 0.976562**2 * 3.27  # PixelSpacing and slice gap of the STS CT

    extraction = run_extraction(
        plan_extraction(two_label_mask, preset=RAW, label=label).pk
    )

    values = stored_values(extraction)
    assert extraction.status == Status.DONE, extraction.error
    assert extraction.label == (label or 2)
    assert extraction.diagnostics["voxel_count"] == roi.sum()
    assert len(inside) > 0.8 * roi.sum()
    assert values["stat_mean"] == pytest.approx(inside.mean())
    assert values["stat_max"] == inside.max()
    # IBSI approximate volume (YEKZ): voxel count times voxel volume.
    assert values["morph_vol_approx"] == pytest.approx(roi.sum() * voxel_mm3, rel=1e-4)


def test_stores_each_value_with_its_feature_ibsi_code_engine_and_parameters(
    two_label_mask,
):
    extraction = run_extraction(plan_extraction(two_label_mask, preset=RAW).pk)

    definitions = FeatureDefinition.objects.filter(values__extraction=extraction)
    by_tag = {d.feature_name: d for d in definitions}
    # Codes of the IBSI reference manual (Zwanenburg et al. 2020), chapter 3:
    assert by_tag["morph_volume"].ibsi_code == "RNU0"
    assert by_tag["stat_mean"].ibsi_code == "Q4LE"
    assert by_tag["cm_joint_max_3D_avg"].ibsi_code == "GYBY"
    assert by_tag["cm_joint_max_3D_avg"].family == FeatureDefinition.Family.GLCM
    # MIRP passed every IBSI-1 reference value (docs/ibsi_conformance.md):
    assert {d.ibsi_conformant for d in definitions if d.ibsi_code} == {True}
    assert {d.ibsi_conformant for d in definitions if not d.ibsi_code} <= {None}
    assert extraction.software == "mirp" and extraction.software_version
    assert extraction.preset == "raw_3d"
    assert extraction.parameters["preset"]["notes"][-1].startswith("changed:")
    assert extraction.finished_at >= extraction.started_at
    assert (extraction.progress, extraction.attempts) == (100, 1)


def test_pyradiomics_definitions_carry_the_engines_conformance_marks(two_label_mask):
    extraction = run_extraction(
        plan_extraction(two_label_mask, engine="pyradiomics", preset=RAW).pk
    )

    definitions = FeatureDefinition.objects.filter(values__extraction=extraction)
    marks = {d.name: (d.ibsi_conformant, d.conformance_note) for d in definitions}
    assert extraction.status == Status.DONE, extraction.error
    assert marks == {name: feature_conformance(name) for name in marks}
    assert True in {mark for mark, _note in marks.values()}


# The same request, again


def test_the_same_request_twice_is_one_record_and_other_settings_another(
    two_label_mask,
):
    first = plan_extraction(two_label_mask, preset=RAW)

    again = plan_extraction(two_label_mask, preset=RAW)
    other_label = plan_extraction(two_label_mask, preset=RAW, label=1)
    other_preset = plan_extraction(two_label_mask, preset="ibsi1_config_d")

    assert again.pk == first.pk
    assert len({first.pk, other_label.pk, other_preset.pk}) == 3
    assert first.status == Status.PENDING


def test_running_again_replaces_the_values_and_never_duplicates_them(
    two_label_mask,
):
    extraction = plan_extraction(two_label_mask, preset=RAW)
    run_extraction(extraction.pk)
    first = stored_values(extraction)

    extraction = run_extraction(extraction.pk)

    assert stored_values(extraction) == first
    assert FeatureValue.objects.count() == len(first) > 50
    assert extraction.attempts == 2


def test_a_failure_while_storing_leaves_no_value_of_the_run(
    two_label_mask, monkeypatch
):
    extraction = plan_extraction(two_label_mask, preset=RAW)
    run_extraction(extraction.pk)
    bulk_create = FeatureValue.objects.bulk_create

    def half_then_fail(values, **options):
        bulk_create(values[: len(values) // 2], **options)
        raise OSError("disk full")

    monkeypatch.setattr(FeatureValue.objects, "bulk_create", half_then_fail)

    with pytest.raises(OSError, match="disk full"):
        run_extraction(extraction.pk)

    extraction.refresh_from_db()
    assert extraction.status == Status.FAILED
    assert extraction.error == "Storing the values failed: OSError: disk full"
    assert not FeatureValue.objects.exists()


# Refusals, stored with the checks' own message


def test_a_label_absent_from_the_mask_fails_with_the_checks_message(two_label_mask):
    with pytest.raises(ExtractionRefused) as refused:
        select_roi(load_mask(two_label_mask), 7.0)

    extraction = run_extraction(plan_extraction(two_label_mask, label=7).pk)

    assert extraction.status == Status.FAILED
    assert extraction.error == str(refused.value)
    assert extraction.error.startswith("Label 7 is not present in mask segmentation")
    assert "1 → 60 voxels, 2 → 36 voxels" in extraction.error
    assert not extraction.values.exists()


@pytest.fixture
def one_slice_roi(project, inbox: Path):
    """An 8 x 8 CT slice of 0.8 mm pixels with a contour round no voxel centre."""
    ct = build_ct()
    structure_set = build_rtstruct((1, "GTV", ct))
    contour = structure_set.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = ["0.1", "0.1", "0", "0.3", "0.1", "0", "0.1", "0.3", "0"]
    write_part10(ct, inbox / "ct.dcm")
    write_part10(structure_set, inbox / "rs.dcm")
    ingest_dicom(inbox, project)
    return Segmentation.objects.get(source_kind=Segmentation.SourceKind.RTSTRUCT)


@pytest.mark.parametrize(
    ("preset", "message"),
    [
        (
            "ibsi1_config_a",
            "Mask segmentation {pk} (GTV) is an empty segmentation (0 voxels); "
            "no features were computed.",
        ),
        (
            "ibsi1_config_c",
            "Image series {uid} is 2D (8 x 8 x 1 voxels) but preset 'ibsi1_config_c' "
            "computes 3D features; choose a 2D preset (ibsi1_config_a, "
            "ibsi1_config_b, slice_2d_relative).",
        ),
    ],
)
def test_an_empty_roi_or_a_2d_image_fails_with_the_checks_message(
    one_slice_roi, preset, message
):
    extraction = run_extraction(plan_extraction(one_slice_roi, preset=preset).pk)

    assert extraction.status == Status.FAILED
    assert extraction.error == message.format(
        pk=one_slice_roi.pk, uid=one_slice_roi.series.series_instance_uid
    )
    assert extraction.finished_at is not None
    assert not extraction.values.exists()


def test_a_contour_on_no_slice_of_the_series_fails_with_its_position(
    project, inbox: Path
):
    ct = build_ct()
    structure_set = build_rtstruct((1, "GTV", ct))
    contour = structure_set.ROIContourSequence[0].ContourSequence[0]
    contour.ContourData = ["0", "0", "2", "4", "0", "2", "0", "4", "2"]
    write_part10(ct, inbox / "ct.dcm")
    write_part10(structure_set, inbox / "rs.dcm")
    ingest_dicom(inbox, project)

    extraction = run_extraction(
        plan_extraction(Segmentation.objects.get(), preset="ibsi1_config_a").pk
    )

    assert extraction.status == Status.FAILED
    assert extraction.error.startswith(
        "A contour of ROI 1 lies 2.00 mm from the first slice of series "
    )
    assert "tolerance 0.50 mm" in extraction.error


# The command


def test_command_prints_a_line_per_extraction_and_fails_if_one_failed(
    two_label_mask, one_slice_roi, monkeypatch
):
    monkeypatch.setitem(PRESETS, RAW.name, RAW)
    out = StringIO()

    with pytest.raises(
        CommandError, match="1 of the 2 extractions computed now failed"
    ):
        call_command(
            "extract_features",
            segmentation=[two_label_mask.pk, one_slice_roi.pk],
            preset=RAW.name,
            stdout=out,
        )

    done, failed = out.getvalue().splitlines()
    count = FeatureValue.objects.count()
    first = FeatureExtraction.objects.get(segmentation=two_label_mask)
    assert done.startswith(
        f"extraction {first.pk} segmentation {two_label_mask.pk} mirp"
    )
    assert f"done, {count} features" in done
    assert "failed, 0 features" in failed and "is 2D" in failed


def test_command_does_not_compute_a_done_extraction_again(two_label_mask, monkeypatch):
    monkeypatch.setitem(PRESETS, RAW.name, RAW)
    call_command("extract_features", all=True, preset=RAW.name, stdout=StringIO())
    out = StringIO()

    call_command("extract_features", all=True, preset=RAW.name, stdout=out)

    assert "already done" in out.getvalue()
    assert FeatureExtraction.objects.get().attempts == 1


# Real data: the STS_001 PET GTV (about 15 s)


def test_extracts_the_sts_pet_gtv_with_the_volume_its_contours_enclose(project):
    ingest_dicom(sts(), project)
    segmentation = Segmentation.objects.get(series__modality="PT")
    slice_mm = 3.27
    polygon_volume = (
        sum(map(shoelace_area, contour_points(sts("PET", "mask", "RS.dcm")))) * slice_mm
    )
    out = StringIO()

    call_command(
        "extract_features",
        patient=segmentation.series.study.patient.pseudonym,
        series=segmentation.series.series_instance_uid,
        preset="ibsi1_config_d",
        stdout=out,
    )

    extraction = FeatureExtraction.objects.get()
    values = stored_values(extraction)
    assert extraction.status == Status.DONE, extraction.error
    assert "done" in out.getvalue()
    # Mesh volume after 2 mm resampling against the contour polygons: within 2 %.
    assert values["morph_volume"] == pytest.approx(polygon_volume, rel=0.02)
    source = pydicom.dcmread(sorted(sts("PET", "image").glob("*.dcm"))[0])
    assert source.Units == "GML"  # SUV: the stored statistics are SUVs
    assert 0 < values["stat_mean"] < values["stat_max"]


def test_a_finished_extraction_is_scored_by_the_signatures_using_its_features(
    two_label_mask, django_capture_on_commit_callbacks
):
    # Each block stands for one committed transaction of a real deployment:
    with django_capture_on_commit_callbacks(execute=True):
        extraction = run_extraction(plan_extraction(two_label_mask, preset=RAW).pk)
    mean = FeatureValue.objects.get(
        extraction=extraction, feature__feature_name="stat_mean"
    )
    with django_capture_on_commit_callbacks(execute=True):
        signature = RadiomicSignature.objects.create(name="mean", intercept=1.0)
        SignatureTerm.objects.create(
            signature=signature, feature=mean.feature, weight=2.0
        )
    SignatureScore.objects.all().delete()

    with django_capture_on_commit_callbacks(execute=True):
        run_extraction(extraction.pk)

    score = SignatureScore.objects.get(signature=signature, extraction=extraction)
    assert score.score == pytest.approx(1.0 + 2.0 * mean.value)


def test_label_1_on_an_rtstruct_roi_is_the_same_request_as_no_label(sts_ct):
    segmentation = Segmentation.objects.create(
        series=sts_ct,
        roi_name="GTV",
        source_kind=Segmentation.SourceKind.RTSTRUCT,
        content_sha256="a" * 64,
    )

    plain = plan_extraction(segmentation, preset=RAW)
    labelled = plan_extraction(segmentation, preset=RAW, label=1)
    other = plan_extraction(segmentation, preset=RAW, label=2)

    assert labelled.pk == plain.pk and labelled.label is None
    assert other.pk != plain.pk


def test_the_same_mask_file_from_two_readers_is_two_segmentations(sts_ct, tmp_path):
    path = write_mask(tmp_path / "mask.nii.gz", two_boxes(), read_grid(sts_ct))

    first, created_first = register_mask(path, sts_ct, "Boxes", label=2, reader="A")
    second, created_second = register_mask(path, sts_ct, "Boxes", label=2, reader="B")
    again, created_again = register_mask(path, sts_ct, "Boxes", label=2, reader="B")

    assert (created_first, created_second, created_again) == (True, True, False)
    assert again.pk == second.pk != first.pk
    assert (first.reader, second.reader) == ("A", "B")


def test_an_empty_mask_file_is_kept_and_its_extraction_fails_saying_so(
    sts_ct, tmp_path
):
    empty = np.zeros((59, 202, 198), dtype=np.uint8)
    path = write_mask(tmp_path / "empty.nii.gz", empty, read_grid(sts_ct))
    output = StringIO()

    call_command(
        "add_mask", str(path), "--series", sts_ct.series_instance_uid,
        "--roi-name", "no lesion", stdout=output,
    )  # fmt: skip
    segmentation = Segmentation.objects.get(roi_name="no lesion")
    extraction = run_extraction(plan_extraction(segmentation, preset=RAW).pk)

    assert "empty segmentation (0 voxels)" in output.getvalue()
    assert extraction.status == Status.FAILED
    assert "empty segmentation (0 voxels)" in extraction.error
    assert not extraction.values.exists()


def test_a_pyradiomics_parameter_file_runs_natively_with_pyradiomics_names(
    two_label_mask, tmp_path
):
    params = tmp_path / "params.yaml"
    params.write_text(
        "setting:\n  label: 2\n  binWidth: 25\nimageType:\n  Original: {}\n"
        "featureClass:\n  firstorder: [Mean, Maximum]\n",
        encoding="utf-8",
    )
    hu = source_hu()[two_boxes() == 2]
    output = StringIO()

    call_command(
        "extract_features", "--segmentation", str(two_label_mask.pk),
        "--engine", "pyradiomics", "--params", str(params), stdout=output,
    )  # fmt: skip

    extraction = FeatureExtraction.objects.get(software="pyradiomics")
    values = dict(extraction.values.values_list("feature__name", "value"))
    assert extraction.parameters["mode"] == "native"
    assert values["original_firstorder_Mean"] == pytest.approx(hu.mean())
    assert values["original_firstorder_Maximum"] == hu.max()
    with pytest.raises(CommandError, match="not both"):
        call_command(
            "extract_features", "--segmentation", str(two_label_mask.pk),
            "--engine", "pyradiomics", "--params", str(params), "--preset", "ibsi1_config_c",
        )  # fmt: skip


def test_an_unreadable_parameter_file_is_refused_by_name(two_label_mask, tmp_path):
    params = tmp_path / "broken.yaml"
    params.write_text("setting: [unclosed\n", encoding="utf-8")

    with pytest.raises(CommandError, match="broken.yaml is no readable PyRadiomics"):
        call_command(
            "extract_features", "--segmentation", str(two_label_mask.pk),
            "--engine", "pyradiomics", "--params", str(params),
        )  # fmt: skip

    assert not FeatureExtraction.objects.exists()
