"""The study page: acquisition parameters, features by family, texture report."""

from __future__ import annotations

import datetime as dt
import math
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from radiomics.features import IBSI_CODES
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
)
from tests.biobank.conftest import Records

DAY = dt.date(2024, 3, 1)


def extraction_of(study: ImagingStudy, roi: str = "GTV-1") -> FeatureExtraction:
    series = study.series.order_by("pk").first()
    segmentation = Segmentation.objects.create(
        series=series,
        roi_name=roi,
        source_kind=Segmentation.SourceKind.RTSTRUCT,
        source_uid_hash=f"roi-{roi}-{study.pk}",
    )
    return FeatureExtraction.objects.create(
        patient=study.patient,
        segmentation=segmentation,
        software="pyradiomics",
        software_version="3.0.1",
        fingerprint=f"extraction-{roi}-{study.pk}",
        status=FeatureExtraction.Status.DONE,
    )


def store(extraction: FeatureExtraction, values: dict[str, float]) -> None:
    """Store PyRadiomics-named values with the IBSI codes the product maps them to."""
    for name, value in values.items():
        image_filter, family, feature_name = name.split("_", 2)
        code = IBSI_CODES.get((family, feature_name), ("", ""))[0]
        definition, _ = FeatureDefinition.objects.get_or_create(
            name=name,
            defaults={
                "family": family,
                "feature_name": feature_name,
                "image_filter": image_filter,
                "ibsi_code": code,
            },
        )
        FeatureValue.objects.create(
            extraction=extraction, feature=definition, value=value
        )


def _report_value(html: str, label: str) -> str:
    match = re.search(
        rf'<th scope="row">{re.escape(label)}</th><td>[^<]*</td>\s*<td class="number">(.*?)</td>',
        html,
        re.S,
    )
    assert match, f"no report line {label!r}"
    return re.sub(r"<[^>]+>", " ", match.group(1)).strip()


@pytest.fixture
def study(records: Records) -> ImagingStudy:
    study = records.study(records.patient("CT-1"), DAY)
    study.series.update(
        manufacturer="SIEMENS",
        convolution_kernel="B30f",
        # As STS_001's CT writes it; shown to six significant digits:
        slice_thickness_mm=3.26999999999998,
        kvp=120,
        exposure_mas=210,
        contrast_agent="Omnipaque",
    )
    extraction = extraction_of(study)
    store(
        extraction,
        {
            "original_glcm_Contrast": 12.5,
            "original_glcm_ClusterShade": -3.25,
            "original_glcm_Imc1": -0.21,
            "wavelet-LLH_glcm_Contrast": 99.0,
            "original_firstorder_Mean": 41.0,
            "original_firstorder_Variance": 16.0,
            "original_firstorder_Kurtosis": 4.5,
            "original_shape_Sphericity": 0.71,
        },
    )
    sphericity = FeatureDefinition.objects.get(name="original_shape_Sphericity")
    FeatureRobustness.objects.create(
        feature=sphericity,
        design=FeatureRobustness.Design.READERS,
        form="ICC(2,1)",
        icc=0.93,
        threshold=0.75,
        is_robust=True,
    )
    signature = RadiomicSignature.objects.create(name="Lung risk", cutoff=0.5)
    SignatureScore.objects.create(
        signature=signature, extraction=extraction, score=0.82, label="high risk"
    )
    return study


def test_study_page_shows_acquisition_parameters(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    for text in ("SIEMENS", "B30f", ">3.27<", ">120<", "210.0", "Omnipaque", "GTV-1"):
        assert text in html, text
    assert "3.2699" not in html


def test_texture_report_finds_haralick_features_by_ibsi_code(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    # The wavelet image's contrast (99) has the same code and must not be taken:
    assert _report_value(html, "Contrast") == "12.5"
    assert _report_value(html, "Cluster shade") == "-3.25"
    assert _report_value(html, "Information measure of correlation 1") == "-0.21"
    assert _report_value(html, "Sum entropy") == "not computed by this extraction"


def test_intensity_report_derives_deviation_and_excess_kurtosis(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    assert _report_value(html, "Mean") == "41"
    deviation = _report_value(html, "Standard deviation")
    assert deviation.startswith(f"{math.sqrt(16.0):g}")
    assert "square root of the variance (ECT3)" in deviation
    kurtosis = _report_value(html, "Kurtosis (excess)")
    assert kurtosis.startswith("1.5") and "minus 3" in kurtosis


def test_intensity_report_shows_the_quartiles_the_biobank_computed(logged_in, study):
    later = extraction_of(study, roi="GTV-2")
    store(
        later,
        {
            "original_firstorder_Median": 40.0,
            "original_firstorder_25Percentile": 31.5,
            "original_firstorder_75Percentile": 52.25,
        },
    )

    html = logged_in.get(f"/studies/{study.pk}/?extraction={later.pk}").content.decode()

    assert _report_value(html, "Median") == "40"
    for label, value in (("25th percentile", "31.5"), ("75th percentile", "52.25")):
        line = _report_value(html, label)
        assert line.startswith(value), line
        assert "computed by the biobank" in line


def test_intensity_report_names_quartiles_an_older_extraction_lacks(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    for label in ("25th percentile", "75th percentile"):
        assert _report_value(html, label) == "not computed for this extraction"


def test_features_are_grouped_by_family_with_codes_and_robustness(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    assert "<summary>GLCM, original image (3)</summary>" in html
    assert "<summary>GLCM, wavelet-LLH (1)</summary>" in html
    assert "<summary>Shape (3D), original image (1)</summary>" in html
    assert "Several readers, same series ICC(2,1) 0.930 robust" in html
    assert re.search(r"original_glcm_Contrast</td><td>original</td><td>ACUI</td>", html)


def test_features_of_each_image_are_a_group_of_their_own_closed_but_the_first(
    logged_in, study
):
    extraction = FeatureExtraction.objects.get(segmentation__roi_name="GTV-1")
    store(
        extraction,
        {
            f"{image}_firstorder_Maximum": 1.0
            for image in ("wavelet-HHH", "original", "log-sigma-1-0-mm-3D")
        },
    )

    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    summaries = re.findall(r"<details( open)?>\s*<summary>([^<]*)</summary>", html)
    assert summaries == [
        (" open", "First order, original image (4)"),
        ("", "First order, log-sigma-1-0-mm-3D (1)"),
        ("", "First order, wavelet-HHH (1)"),
        ("", "GLCM, original image (3)"),
        ("", "GLCM, wavelet-LLH (1)"),
        ("", "Shape (3D), original image (1)"),
    ]


def test_signature_scores_are_shown_with_their_label(logged_in, study):
    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    assert "Lung risk: 0.82 (high risk)" in html


def test_another_extraction_can_be_chosen_and_foreign_ones_are_404(
    logged_in, study, records
):
    second = extraction_of(study, roi="GTV-2")
    store(second, {"original_glcm_Contrast": 7.0})
    other_study = records.study(records.patient("CT-2"), DAY)
    foreign = extraction_of(other_study, roi="GTV-X")

    chosen = logged_in.get(f"/studies/{study.pk}/?extraction={second.pk}")
    missing = logged_in.get(f"/studies/{study.pk}/?extraction={foreign.pk}")

    assert _report_value(chosen.content.decode(), "Contrast") == "7"
    assert missing.status_code == 404
    assert logged_in.get("/studies/999999/").status_code == 404


def test_study_without_extraction_says_so(logged_in, records):
    study = records.study(records.patient("CT-3"), None)

    html = logged_in.get(f"/studies/{study.pk}/").content.decode()

    assert "No feature extraction of this study yet." in html
    assert "unknown date" in html


def test_study_page_query_count_does_not_grow_with_features(logged_in, study):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(f"/studies/{study.pk}/").status_code == 200
        return len(captured)

    few = queries()
    extraction = FeatureExtraction.objects.get(segmentation__roi_name="GTV-1")
    store(
        extraction,
        {
            f"original_glcm_{name}": 1.0
            for name in ("Idm", "Idn", "SumEntropy", "JointEnergy")
        },
    )
    extraction_of(study, roi="GTV-9")
    assert queries() == few


def test_timeline_links_each_study_to_its_page(logged_in, study):
    html = logged_in.get(f"/patients/{study.patient.pk}/").content.decode()

    assert f'href="/studies/{study.pk}/"' in html
