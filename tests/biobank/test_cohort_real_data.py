"""End to end: real DICOM (STS_001) and a CTC table, paired by the cohort query."""

from __future__ import annotations

import datetime as dt

import pydicom
import pytest

from biobank.cohorts.query import CohortCriteria, PairMode, find_pairs
from liquidbiopsy.importers.ctc import import_ctc
from radiomics.importers.dicom import ingest_dicom
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
