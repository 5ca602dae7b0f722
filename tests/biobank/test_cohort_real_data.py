"""End to end: real DICOM (STS_001) and a CTC table, paired by the cohort query."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest

from biobank.cohorts.query import CohortCriteria, PairMode, find_pairs
from biobank.core.importing import ImportRejected
from liquidbiopsy.importers.ctc import import_ctc
from radiomics.importers.dicom import ingest_dicom
from radiomics.importers.pyradiomics_csv import import_pyradiomics
from radiomics.models import FeatureExtraction, FeatureValue
from tests.conftest import shared_path


def study_date_of(folder) -> dt.date:
    first = next(p for p in sorted(folder.rglob("*.dcm")))
    raw = pydicom.dcmread(first, stop_before_pixels=True).StudyDate
    return dt.datetime.strptime(raw, "%Y%m%d").date()


@pytest.fixture
def sts_with_draws(project, tmp_path):
    folder = shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001")
    scanned_on = study_date_of(folder / "CT")
    ingest_dicom(folder, project)

    near, far = scanned_on + dt.timedelta(days=5), scanned_on + dt.timedelta(days=40)
    table = tmp_path / "ctc.csv"
    table.write_text(
        "patient_id,draw_date,count\n"
        f"STS_001,{near.isoformat()},6\n"
        f"STS_001,{far.isoformat()},2\n"
    )
    import_ctc(table, project)
    return scanned_on, near, far


@pytest.mark.django_db
def test_a_draw_five_days_after_the_sts_scan_pairs_with_its_study(sts_with_draws):
    scanned_on, near, _far = sts_with_draws

    rows = find_pairs(CohortCriteria(project="demo", window_days=7))

    assert [(r.study_date, r.drawn_on, r.days_apart) for r in rows] == [
        (scanned_on, near, 5)
    ]
    assert rows[0].modalities and "CT" in rows[0].modalities


@pytest.mark.django_db
def test_a_wider_window_pairs_both_draws_and_nearest_mode_keeps_the_closer(
    sts_with_draws,
):
    _scanned_on, near, far = sts_with_draws

    every = find_pairs(CohortCriteria(project="demo", window_days=60))
    nearest = find_pairs(
        CohortCriteria(project="demo", window_days=60, mode=PairMode.NEAREST)
    )

    assert sorted(r.drawn_on for r in every) == [near, far]
    assert [(r.drawn_on, r.abs_days_apart) for r in nearest] == [(near, 5)]


@pytest.mark.django_db
def test_sts_pairs_can_be_narrowed_by_modality_and_ctc_count(sts_with_draws):
    _scanned_on, near, _far = sts_with_draws

    pet = find_pairs(CohortCriteria(project="demo", window_days=60, modality="PT"))
    positive = find_pairs(
        CohortCriteria(project="demo", window_days=60, min_ctc_per_7_5ml=5)
    )
    ultrasound = find_pairs(
        CohortCriteria(project="demo", window_days=60, modality="US")
    )

    assert len(pet) == 2
    assert [r.drawn_on for r in positive] == [near]
    assert ultrasound == []


def write_pyradiomics_csv(path, rows: list[tuple[str, str, str, float]]):
    """Write a PyRadiomics batch CSV: (patient, series UID, ROI, mean) per row."""
    lines = ["ID,Image,Mask,SeriesInstanceUID,ROI,original_firstorder_Mean"]
    lines += [
        f"{patient},ct.nrrd,mask.nrrd,{uid},{roi},{mean}"
        for patient, uid, roi, mean in rows
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def source_series_uid(folder) -> str:
    first = next(p for p in sorted(folder.rglob("*.dcm")))
    return str(pydicom.dcmread(first, stop_before_pixels=True).SeriesInstanceUID)


@pytest.mark.django_db
def test_pyradiomics_features_naming_the_source_series_take_part_in_the_feature_filter(
    sts_with_draws, project, tmp_path
):
    _scanned_on, near, _far = sts_with_draws
    uid = source_series_uid(
        shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", "CT")
    )
    table = write_pyradiomics_csv(
        tmp_path / "features.csv", [("STS_001", uid, "GTV", 288.5)]
    )

    import_pyradiomics(table, project)

    def pairs(low: float, high: float):
        return find_pairs(
            CohortCriteria(
                project="demo",
                window_days=7,
                feature="original_firstorder_Mean",
                feature_min=low,
                feature_max=high,
            )
        )

    assert [r.drawn_on for r in pairs(280, 300)] == [near]
    assert pairs(300, 400) == []
    extraction = FeatureExtraction.objects.get()
    assert extraction.segmentation.series.modality == "CT"
    assert extraction.segmentation.roi_name == "GTV"


@pytest.mark.django_db
def test_a_reimport_naming_the_series_links_features_imported_without_it(
    sts_with_draws, project, tmp_path
):
    uid = source_series_uid(
        shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", "CT")
    )
    import_pyradiomics(
        write_pyradiomics_csv(tmp_path / "a.csv", [("STS_001", "", "GTV", 288.5)]),
        project,
    )
    assert FeatureExtraction.objects.get().segmentation is None

    report = import_pyradiomics(
        write_pyradiomics_csv(tmp_path / "b.csv", [("STS_001", uid, "GTV", 288.5)]),
        project,
    )

    extraction = FeatureExtraction.objects.get()
    assert (report.duplicates, report.created.get("links to a series")) == (1, 1)
    assert extraction.segmentation.roi_name == "GTV"
    assert FeatureValue.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("patient", "uid", "code"),
    [
        ("STS_001", "1.2.3.4.5", "unknown-series"),
        ("OTHER", "{uid}", "patient-mismatch"),
    ],
)
def test_a_series_unknown_or_of_another_patient_rejects_the_file(
    sts_with_draws, project, tmp_path, patient, uid, code
):
    real = source_series_uid(
        shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", "CT")
    )
    table = write_pyradiomics_csv(
        tmp_path / "f.csv", [(patient, uid.format(uid=real), "GTV", 1.0)]
    )

    with pytest.raises(ImportRejected) as caught:
        import_pyradiomics(table, project, create_patients=True)

    problem = caught.value.problems[0]
    assert (problem.row, problem.field, problem.code) == (2, "SeriesInstanceUID", code)
    assert real not in str(problem)
    assert not FeatureExtraction.objects.exists()


@pytest.mark.django_db
def test_the_cohort_page_says_when_a_filtered_feature_has_values_tied_to_no_series(
    sts_with_draws, project, tmp_path, logged_in
):
    import_pyradiomics(
        write_pyradiomics_csv(tmp_path / "a.csv", [("STS_001", "", "GTV", 288.5)]),
        project,
    )
    query = {"window_days": 7, "feature": "original_firstorder_Mean", "feature_min": 0}

    page = logged_in.get("/cohorts/", query)
    body = logged_in.get("/cohorts/query.json", query).json()

    assert body["rows"] == []
    assert len(body["notes"]) == 1 and "1 extraction " in body["notes"][0]
    assert body["notes"][0] in page.content.decode()
