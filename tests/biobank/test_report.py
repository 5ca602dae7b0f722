"""The structured report of a patient at one imaging time point."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from biobank.browse.study import EXCESS_KURTOSIS_NOTE
from liquidbiopsy.models import CfDNAAssay, CTCCount, VariantResult
from patients.models import CancerType, Treatment
from radiomics.models import FeatureValue, RadiomicSignature, SignatureScore
from tests.biobank.conftest import Records
from tests.biobank.test_study_page import extraction_of, store
from tests.conftest import grant

DAY = dt.date(2024, 3, 1)


@pytest.fixture
def case(records: Records):
    patient = records.patient("PR-7", CancerType.PRAD)
    patient.stage = "IV"
    patient.save()
    study = records.study(patient, DAY)
    extraction = extraction_of(study)
    store(extraction, {"original_firstorder_Mean": 42.0, "original_glcm_Contrast": 3.5})
    signature = RadiomicSignature.objects.create(name="Prostate risk", cutoff=0.4)
    SignatureScore.objects.create(
        signature=signature, extraction=extraction, score=0.61, label="high risk"
    )
    near = records.draw(patient, DAY + dt.timedelta(days=4))
    records.ctc(near, 6)
    records.variant(near, "AR", "p.T878A")
    far = records.draw(patient, DAY + dt.timedelta(days=90))
    records.ctc(far, 1)
    Treatment.objects.create(
        patient=patient, kind=Treatment.Kind.HORMONAL, agent="enzalutamide",
        started_on=DAY + dt.timedelta(days=20),
    )  # fmt: skip
    return patient, study, near


def test_report_holds_every_part_with_record_references(
    logged_in, reader, project, case
):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    patient, study, near = case
    html = logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").content.decode()

    mean = FeatureValue.objects.get(feature__name="original_firstorder_Mean")
    score = SignatureScore.objects.get()
    count = CTCCount.objects.get(sample=near)
    variant = VariantResult.objects.get()
    assert "Prostate adenocarcinoma" in html
    assert "enzalutamide, 2024-03-21 to – (after this study)" in html
    assert re.search(rf"42 <a [^>]+#value-{mean.pk}\">\[FV {mean.pk}\]</a>", html)
    assert f"Prostate risk: 0.61 (high risk), cut-off 0.4 [SC {score.pk}]" in html
    assert (
        f"6 per 7.5 mL (6 in 7.5 mL, CellSearch) [CTC {count.pk}], at or above the prognostic cut-off of 5"
        in html
    )
    assert f"AR p.T878A: detected [V {variant.pk}]" in html
    variant.vaf = 0.0207
    variant.save()
    again = logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").content.decode()
    # Per cent, as the timeline's chart writes it:
    assert f"AR p.T878A: detected, VAF 2.07 % [V {variant.pk}]" in again


def test_report_lists_only_draws_within_the_window(logged_in, case):
    patient, study, near = case
    narrow = logged_in.get(
        f"/patients/{patient.pk}/report/{study.pk}/?window_days=2"
    ).content.decode()
    wide = logged_in.get(
        f"/patients/{patient.pk}/report/{study.pk}/?window_days=90"
    ).content.decode()

    assert "No blood draw within 2 days of this study." in narrow
    one = logged_in.get(
        f"/patients/{patient.pk}/report/{study.pk}/?window_days=1"
    ).content.decode()
    assert "Blood draws are those within 1 day of the study." in one
    assert "Liquid biopsy within 1 day (synchronous pairs)" in one
    assert "No blood draw within 1 day of this study." in one
    assert wide.count("[B ") == 2
    assert "1 per 7.5 mL" in wide


def test_report_says_not_tested_rather_than_negative(logged_in, records):
    patient = records.patient("LU-1", CancerType.LUAD)
    study = records.study(patient, DAY)
    records.ctc(records.draw(patient, DAY), 0)

    html = logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").content.decode()

    assert "not tested" in html
    assert "No feature extraction of this study." in html
    assert "prognostic cut-off" not in html


def test_report_of_another_patients_study_is_404(logged_in, case, records):
    patient, _, _ = case
    other = records.study(records.patient("X-1"), DAY)

    assert (
        logged_in.get(f"/patients/{patient.pk}/report/{other.pk}/").status_code == 404
    )


def test_report_is_printable_and_linked_from_the_timeline(logged_in, case):
    patient, study, _ = case
    timeline = logged_in.get(f"/patients/{patient.pk}/").content.decode()
    report = logged_in.get(
        f"/patients/{patient.pk}/report/{study.pk}/"
    ).content.decode()

    # With the timeline's window, the default one here:
    assert (
        f'href="/patients/{patient.pk}/report/{study.pk}/?window_days=30"' in timeline
    )
    assert "@media print" in report
    assert 'class="no-print"' in report


def test_report_query_count_does_not_grow_with_results(logged_in, case, records):
    patient, study, near = case

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert (
                logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").status_code
                == 200
            )
        return len(captured)

    few = queries()
    for day in range(1, 6):
        draw = records.draw(patient, DAY + dt.timedelta(days=day + 4))
        records.ctc(draw, day)
        records.variant(draw, "AR", "p.H875Y")
    CfDNAAssay.objects.update(cfdna_ng_per_ml=12.0)
    assert queries() == few


def test_report_says_how_a_derived_value_comes_from_the_stored_one(logged_in, case):
    patient, study, _ = case
    extraction = study.series.get().segmentations.get().extractions.get()
    store(extraction, {"original_firstorder_Kurtosis": 8.25})
    stored = FeatureValue.objects.get(feature__name="original_firstorder_Kurtosis")

    html = logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").content.decode()
    line = re.search(r"Kurtosis \(excess\)</th>(.*?)</tr>", html, re.S).group(1)

    assert f"[FV {stored.pk}]" in line
    assert "5.25" in line and "8.25" not in line
    # The study page's explanation, word for word:
    assert escape(EXCESS_KURTOSIS_NOTE) in line


def test_report_gives_a_draw_without_a_time_as_its_day(
    logged_in, reader, project, case, records
):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    patient, study, _near = case
    day_only = records.draw(patient, DAY + dt.timedelta(days=2), at=None)

    html = logged_in.get(f"/patients/{patient.pk}/report/{study.pk}/").content.decode()

    assert (
        f'<td>2024-03-03 <a href="/patients/{patient.pk}/#sample-{day_only.pk}">'
        in html
    )
    assert "2024-03-05 09:00" in html
    assert "00:00" not in html
