"""Feature robustness: ICC forms against published and pingouin values, end to end."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from patients.models import Patient
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)
from radiomics.robustness import (
    ICC_FORMS,
    RobustnessError,
    intraclass_correlation,
    robust_features,
)

pingouin = pytest.importorskip("pingouin", reason="pingouin is not installed")

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [
        [9, 2, 5, 8],
        [6, 1, 3, 2],
        [8, 4, 6, 8],
        [7, 1, 2, 6],
        [10, 5, 6, 9],
        [6, 2, 4, 7],
    ],
    dtype=float,
)
# Their Table 4, to the two decimals published:
PUBLISHED = {"ICC(1,1)": 0.17, "ICC(2,1)": 0.29, "ICC(3,1)": 0.71}
# pingouin names McGraw & Wong's forms; these are the same estimators:
PINGOUIN_TYPE = {"ICC(1,1)": "ICC(1,1)", "ICC(2,1)": "ICC(A,1)", "ICC(3,1)": "ICC(C,1)"}
_serial = itertools.count(1)
TEST_ON, RETEST_ON = dt.date(2024, 3, 1), dt.date(2024, 3, 8)
pytestmark = pytest.mark.filterwarnings("ignore:The inplace keyword:DeprecationWarning")


def pingouin_icc(
    ratings: np.ndarray, form: str, monkeypatch
) -> tuple[float, float, float]:
    """Return pingouin's ICC and 95 % bounds, unrounded."""
    monkeypatch.delitem(pingouin.options, "round.column.CI95", raising=False)
    n, k = ratings.shape
    data = pd.DataFrame(
        [(s, r, ratings[s, r]) for s in range(n) for r in range(k)],
        columns=["subject", "rater", "value"],
    )
    table = pingouin.intraclass_corr(data, "subject", "rater", "value").set_index(
        "Type"
    )
    row = table.loc[PINGOUIN_TYPE[form]]
    return float(row["ICC"]), float(row["CI95"][0]), float(row["CI95"][1])


# The ICC itself


@pytest.mark.parametrize("form", ICC_FORMS)
def test_icc_of_the_shrout_fleiss_table_matches_the_published_value(form):
    result = intraclass_correlation(SHROUT_FLEISS, form)

    assert round(result.icc, 2) == PUBLISHED[form]
    assert (result.n_subjects, result.n_raters) == (6, 4)


@pytest.mark.parametrize("form", ICC_FORMS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_icc_and_interval_agree_with_pingouin_on_random_data(form, seed, monkeypatch):
    rng = np.random.default_rng(seed)
    n, k = rng.integers(5, 30), rng.integers(2, 6)
    lesion = rng.normal(100, 20, size=(n, 1))
    reader_bias = rng.normal(0, 5, size=(1, k))
    ratings = lesion + reader_bias + rng.normal(0, 8, size=(n, k))

    result = intraclass_correlation(ratings, form)

    expected = pingouin_icc(ratings, form, monkeypatch)
    assert (result.icc, result.ci_low, result.ci_high) == pytest.approx(
        expected, rel=1e-9, abs=1e-12
    )


def test_identical_repeats_give_one_with_a_degenerate_interval():
    ratings = np.array([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0]])

    results = [intraclass_correlation(ratings, form) for form in ICC_FORMS]

    assert [(r.icc, r.ci_low, r.ci_high) for r in results] == [(1.0, 1.0, 1.0)] * 3


def test_icc_refuses_too_few_subjects_and_unknown_forms():
    with pytest.raises(RobustnessError, match="at least 2 subjects"):
        intraclass_correlation(np.array([[1.0, 2.0]]))
    with pytest.raises(RobustnessError, match="Unknown ICC form"):
        intraclass_correlation(SHROUT_FLEISS, "ICC(2,k)")
    with pytest.raises(RobustnessError, match="every subject rated"):
        intraclass_correlation(np.array([[1.0, np.nan], [2.0, 3.0]]))


# End to end: extractions of several readers' segmentations -> command -> rows

READERS = ["reader A", "reader B", "reader C", "reader D"]
# Nearly perfect agreement: lesions 10 apart, readers within 0.5 of each other.
AGREEING = np.array(
    [[10.0 * (s + 1) + 0.1 * r * (-1) ** s for r in range(4)] for s in range(6)]
)


@pytest.fixture
def features(db) -> dict[str, FeatureDefinition]:
    return {
        name: FeatureDefinition.objects.create(
            name=f"original_firstorder_{name}",
            family="firstorder",
            feature_name=name,
        )
        for name in ("Poor", "Agreeing", "Constant")
    }


def store_extraction(
    segmentation: Segmentation,
    values: dict[FeatureDefinition, float],
    software: str = "PyRadiomics",
) -> FeatureExtraction:
    extraction = FeatureExtraction.objects.create(
        patient=segmentation.series.study.patient,
        segmentation=segmentation,
        software=software,
        fingerprint=f"extraction-{next(_serial)}",
        status=FeatureExtraction.Status.DONE,
    )
    FeatureValue.objects.bulk_create(
        FeatureValue(extraction=extraction, feature=feature, value=value)
        for feature, value in values.items()
    )
    return extraction


def new_series(patient: Patient, on: dt.date | None = None) -> ImageSeries:
    serial = next(_serial)
    study = ImagingStudy.objects.create(
        patient=patient,
        study_date=on,
        study_instance_uid=f"2.25.9{serial}",
        source_uid_hash=f"rob-study-{serial}",
    )
    return ImageSeries.objects.create(
        study=study,
        series_instance_uid=f"2.25.8{serial}",
        source_uid_hash=f"rob-series-{serial}",
        modality="CT",
    )


def new_segmentation(series: ImageSeries, reader: str = "") -> Segmentation:
    return Segmentation.objects.create(
        series=series,
        roi_name="GTV",
        reader=reader,
        source_kind=Segmentation.SourceKind.RTSTRUCT,
        source_uid_hash=f"rob-roi-{next(_serial)}",
    )


@pytest.fixture
def four_readers(project, features) -> list[Segmentation]:
    """Six lesions, each delineated by four readers on its own series."""
    segmentations = []
    for lesion in range(6):
        patient = Patient.objects.create(
            project=project, pseudonym=f"ROB-{lesion}", source_key=f"rob-{lesion}"
        )
        series = new_series(patient)
        for reader, name in enumerate(READERS):
            segmentation = new_segmentation(series, name)
            store_extraction(
                segmentation,
                {
                    features["Poor"]: SHROUT_FLEISS[lesion, reader],
                    features["Agreeing"]: AGREEING[lesion, reader],
                    features["Constant"]: 1.0,
                },
            )
            segmentations.append(segmentation)
    return segmentations


def stored(feature: FeatureDefinition, **lookups) -> FeatureRobustness:
    return FeatureRobustness.objects.get(feature=feature, **lookups)


def test_readers_command_stores_an_icc_row_per_feature(
    four_readers, features, capsys, monkeypatch
):
    call_command("feature_robustness", "--design", "readers")

    poor = stored(features["Poor"], design="readers", form="ICC(2,1)", selection="")
    assert round(poor.icc, 2) == 0.29
    assert (poor.n_subjects, poor.n_raters, poor.threshold) == (6, 4, 0.75)
    assert poor.is_robust is False
    agreeing = stored(features["Agreeing"], design="readers")
    icc, low, high = pingouin_icc(AGREEING, "ICC(2,1)", monkeypatch)
    assert (agreeing.icc, agreeing.ci_low, agreeing.ci_high) == pytest.approx(
        (icc, low, high), rel=1e-9
    )
    assert agreeing.is_robust is (low >= 0.75) is True
    constant = stored(features["Constant"], design="readers")
    assert (constant.icc, constant.is_robust) == (None, False)
    assert capsys.readouterr().out.strip() == (
        "ICC(2,1) over readers (all finished extractions): 3 features, 1 robust "
        "(lower 95 % bound >= 0.75), 1 without an ICC."
    )


def test_other_forms_and_thresholds_are_stored_apart(four_readers, features):
    call_command("feature_robustness", "--design", "readers")
    call_command(
        "feature_robustness",
        "--design",
        "readers",
        "--form",
        "ICC(3,1)",
        "--threshold",
        "0.3",
    )

    poor = stored(features["Poor"], form="ICC(3,1)")
    # Published ICC(3,1) .71; its 95 % lower bound (0.34, pingouin) passes 0.3:
    assert (round(poor.icc, 2), poor.threshold, poor.is_robust) == (0.71, 0.3, True)
    assert FeatureRobustness.objects.filter(form="ICC(2,1)").count() == 3


def test_rerun_replaces_the_previous_result(four_readers, features):
    call_command("feature_robustness", "--design", "readers")
    FeatureValue.objects.filter(feature=features["Constant"]).delete()

    call_command("feature_robustness", "--design", "readers", "--threshold", "0.9")

    rows = FeatureRobustness.objects.filter(design="readers", form="ICC(2,1)")
    assert sorted(rows.values_list("feature__feature_name", "threshold")) == [
        ("Agreeing", 0.9),
        ("Poor", 0.9),
    ]


def test_two_engines_on_one_lesion_must_be_told_apart(four_readers, features):
    for segmentation in four_readers:
        store_extraction(segmentation, {features["Poor"]: 1.0}, software="MIRP")

    with pytest.raises(CommandError, match="several extractions") as raised:
        call_command("feature_robustness", "--design", "readers")
    call_command("feature_robustness", "--design", "readers", "--engine", "pyradiomics")

    # --first-series keeps one extraction of each engine, so it is not offered:
    assert "Choose one with --engine." in str(raised.value)

    assert set(FeatureRobustness.objects.values_list("selection", flat=True)) == {
        "engine=pyradiomics"
    }


def test_robust_features_keeps_the_features_marked_robust(four_readers, features):
    call_command("feature_robustness", "--design", "readers", "--project", "demo")

    robust = robust_features("readers", selection="project=demo")

    assert list(robust) == [features["Agreeing"]]
    assert not robust_features("readers", form="ICC(3,1)", selection="project=demo")
    assert not robust_features("test-retest", selection="project=demo")
    with pytest.raises(RobustnessError, match="Unknown design"):
        robust_features("phantom")


def test_test_retest_pairs_studies_of_the_same_lesion(project, features, monkeypatch):
    # Two scans of six patients' lesion; the second reads 2 % higher, plus noise.
    rng = np.random.default_rng(7)
    first = rng.normal(50, 15, size=6)
    second = first * 1.02 + rng.normal(0, 1, size=6)
    for lesion in range(6):
        patient = Patient.objects.create(
            project=project, pseudonym=f"TRT-{lesion}", source_key=f"trt-{lesion}"
        )
        # Half the retests are stored first; only the study dates order them:
        scans = [(first[lesion], TEST_ON), (second[lesion], RETEST_ON)]
        for value, on in scans[:: (-1) ** lesion]:
            segmentation = new_segmentation(new_series(patient, on))
            store_extraction(segmentation, {features["Agreeing"]: value})

    call_command("feature_robustness", "--design", "test-retest")

    row = stored(features["Agreeing"], design="test-retest")
    expected = pingouin_icc(np.column_stack([first, second]), "ICC(2,1)", monkeypatch)
    assert (row.icc, row.ci_low, row.ci_high) == pytest.approx(expected, rel=1e-9)
    assert (row.n_subjects, row.n_raters) == (6, 2)


@pytest.mark.django_db
def test_the_admin_lists_robustness_results_under_an_english_plural(admin_client):
    page = admin_client.get("/admin/radiomics/").content.decode()

    assert "Feature robustness<" in page
    assert "robustnesss" not in page.lower()


def test_lesions_missing_a_reader_are_left_out_of_that_feature(
    four_readers, features, monkeypatch
):
    FeatureValue.objects.filter(
        feature=features["Poor"],
        extraction__segmentation__reader="reader D",
        extraction__patient__pseudonym__in=["ROB-0", "ROB-1"],
    ).delete()

    call_command("feature_robustness", "--design", "readers")

    poor = stored(features["Poor"], design="readers")
    expected = pingouin_icc(SHROUT_FLEISS[2:], "ICC(2,1)", monkeypatch)
    assert (poor.icc, poor.ci_low, poor.ci_high) == pytest.approx(expected, rel=1e-9)
    assert (poor.n_subjects, poor.n_raters) == (4, 4)
    assert stored(features["Agreeing"], design="readers").n_subjects == 6


def test_segmentations_naming_no_reader_are_no_readers_repeat(four_readers, features):
    # The structure set that came with each series' images names no reader:
    for segmentation in four_readers[:: len(READERS)]:
        store_extraction(
            new_segmentation(segmentation.series),
            {
                features["Poor"]: 99.0,
                features["Agreeing"]: 99.0,
                features["Constant"]: 1.0,
            },
        )

    call_command("feature_robustness", "--design", "readers")

    poor = stored(features["Poor"], design="readers")
    assert (poor.n_subjects, poor.n_raters, round(poor.icc, 2)) == (6, 4, 0.29)


def one_reader_each(project, features, reader: str = "") -> None:
    """Two patients' lesions, each delineated once (by `reader`, if named)."""
    for number in range(2):
        patient = Patient.objects.create(
            project=project, pseudonym=f"ONE-{number}", source_key=f"one-{number}"
        )
        store_extraction(
            new_segmentation(new_series(patient), reader), {features["Poor"]: 1.0}
        )


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["--project", "nosuch"], "No project has the code 'nosuch'"),
        (["--engine", "MIRP"], "has --engine 'MIRP'; they have 'PyRadiomics'"),
        (["--preset", "ibsi-b"], "has --preset 'ibsi-b'"),
        ([], "None of the 2 finished extractions fits the readers design"),
    ],
)
def test_a_selection_without_extractions_says_why_nothing_fits(
    project, features, arguments, reason
):
    one_reader_each(project, features)

    with pytest.raises(CommandError, match=reason):
        call_command("feature_robustness", "--design", "readers", *arguments)

    assert not FeatureRobustness.objects.exists()


def test_a_project_without_finished_extractions_is_told_to_extract_first(project):
    with pytest.raises(CommandError, match="No feature extraction of project demo"):
        call_command(
            "feature_robustness", "--design", "test-retest", "--project", "demo"
        )


def test_test_retest_refuses_imported_extractions_without_a_segmentation(
    project, features
):
    patient = Patient.objects.create(project=project, pseudonym="IMP-1", source_key="i")
    FeatureExtraction.objects.create(
        patient=patient, fingerprint="imported", status=FeatureExtraction.Status.DONE
    )

    with pytest.raises(CommandError, match="fits the test-retest design"):
        call_command("feature_robustness", "--design", "test-retest")


@pytest.fixture
def retest_with_two_series(project, features) -> list[Patient]:
    """Six lesions scanned twice; each retest study has a second, later series."""
    rng = np.random.default_rng(11)
    first = rng.normal(50, 15, size=6)
    second = first * 1.02 + rng.normal(0, 1, size=6)
    patients = []
    for lesion in range(6):
        patient = Patient.objects.create(
            project=project, pseudonym=f"TWO-{lesion}", source_key=f"two-{lesion}"
        )
        test = new_series(patient, TEST_ON)
        retest = new_series(patient, RETEST_ON)
        for series in (test, retest):
            series.series_number, series.description = 1, "T1"
            series.save()
        other = ImageSeries.objects.create(
            study=retest.study,
            series_instance_uid=f"2.25.7{next(_serial)}",
            source_uid_hash=f"rob-series-{next(_serial)}",
            modality="CT",
            series_number=2,
            description="T2",
        )
        for series, value in ((test, first[lesion]), (retest, second[lesion])):
            store_extraction(new_segmentation(series), {features["Agreeing"]: value})
        store_extraction(new_segmentation(other), {features["Agreeing"]: -500.0})
        patients.append(patient)
    return patients


def test_two_series_of_one_study_are_named_with_the_options_that_separate_them(
    retest_with_two_series,
):
    with pytest.raises(CommandError) as raised:
        call_command("feature_robustness", "--design", "test-retest")

    message = str(raised.value)
    assert message.startswith("Patient TWO-")
    assert "ROI 'GTV'" in message and "CT series 1 'T1'" in message
    assert "CT series 2 'T2'" in message
    assert "--series-description" in message and "--first-series" in message
    # Engine, preset and modality are the same, so they are not offered:
    assert "--engine" not in message and "--modality" not in message
    assert "Subject" not in message


@pytest.mark.parametrize(
    ("options", "selection"),
    [
        (["--first-series"], "first-series"),
        (["--series-description", "t1"], "series-description=t1"),
    ],
)
def test_a_series_choice_keeps_one_extraction_per_study(
    retest_with_two_series, features, options, selection
):
    call_command("feature_robustness", "--design", "test-retest", *options)

    row = stored(features["Agreeing"], design="test-retest", selection=selection)
    # The T2 series' value (-500) would make the feature anything but robust:
    assert (row.n_subjects, row.n_raters) == (6, 2)
    assert row.is_robust and row.icc > 0.9


def test_a_modality_no_extraction_has_is_named_with_those_there_are(
    retest_with_two_series,
):
    with pytest.raises(CommandError, match="--modality 'MR'; they have 'CT'"):
        call_command(
            "feature_robustness", "--design", "test-retest", "--modality", "MR"
        )
