"""Follow-up flags: a high-risk signature and a positive blood test within the window."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.cohorts.stratification import FollowUpRule, flag_patients
from liquidbiopsy.models import VariantResult
from patients.models import CancerType, Patient
from radiomics.models import FeatureExtraction, RadiomicSignature, SignatureScore
from tests.biobank.conftest import Records

DAY = dt.date(2024, 3, 1)


@pytest.fixture
def signature(db) -> RadiomicSignature:
    return RadiomicSignature.objects.create(name="Risk", cutoff=0.5)


def scored(records: Records, patient: Patient, signature, score: float, on=DAY):
    """Give `patient` (made metastatic, stage IV) a study on `on` scoring `score`."""
    patient.stage = "IV"
    patient.save()
    study = records.study(patient, on)
    value = records.feature(study, "original_firstorder_Mean", 1.0)
    extraction = FeatureExtraction.objects.get(pk=value.extraction_id)
    SignatureScore.objects.create(
        signature=signature, extraction=extraction, score=score
    )
    return study


def with_ctc(records: Records, patient: Patient, count: int, days_after: int = 10):
    records.ctc(records.draw(patient, DAY + dt.timedelta(days=days_after)), count)


def flagged(rule: FollowUpRule | None = None) -> list[str]:
    flags = flag_patients(Patient.objects.all(), rule or FollowUpRule())
    return [flag.patient.pseudonym for flag in flags]


def test_cellsearch_cutoffs_apply_by_cancer_type(records, signature):
    cases = [
        ("BR-5", CancerType.BRCA, 5),
        ("BR-4", CancerType.BRCA, 4),
        ("PR-5", CancerType.PRAD, 5),
        ("CRC-3", CancerType.COAD, 3),
        ("CRC-2", CancerType.READ, 2),
        ("LUNG-50", CancerType.LUAD, 50),
    ]
    for name, cancer_type, count in cases:
        patient = records.patient(name, cancer_type)
        scored(records, patient, signature, 0.9)
        with_ctc(records, patient, count)

    assert sorted(flagged()) == ["BR-5", "CRC-3", "PR-5"]


def test_the_score_must_reach_the_cutoff_and_the_test_be_within_the_window(
    records, signature
):
    low = records.patient("LOW", CancerType.BRCA)
    scored(records, low, signature, 0.49)
    with_ctc(records, low, 9)
    far = records.patient("FAR", CancerType.BRCA)
    scored(records, far, signature, 0.8)
    with_ctc(records, far, 9, days_after=40)

    assert flagged() == []
    assert flagged(FollowUpRule(window_days=40)) == ["FAR"]


def test_detected_cfdna_counts_unless_the_rule_leaves_it_out(records, signature):
    patient = records.patient("LUNG-1", CancerType.LUAD)
    scored(records, patient, signature, 0.7)
    draw = records.draw(patient, DAY - dt.timedelta(days=3))
    records.variant(draw, "KRAS", "p.G12C")
    records.variant(draw, "EGFR", "p.L858R", call=VariantResult.Call.NOT_DETECTED)

    assert flagged() == ["LUNG-1"]
    assert flagged(FollowUpRule(use_cfdna=False)) == []
    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]
    assert [p.text for p in flag.positives] == ["cfDNA KRAS p.G12C detected"]


def test_a_detected_variant_without_gene_is_named_by_its_genomic_change(
    records, signature
):
    patient = records.patient("LUNG-3", CancerType.LUAD)
    scored(records, patient, signature, 0.7)
    variant = records.variant(records.draw(patient, DAY), "", "")
    VariantResult.objects.filter(pk=variant.pk).update(genomic_change="1:100 A>G")

    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]

    assert [p.text for p in flag.positives] == ["cfDNA 1:100 A>G detected"]


def test_resistance_markers_are_named_as_such(records, signature):
    patient = records.patient("LUNG-2", CancerType.LUAD)
    scored(records, patient, signature, 0.7)
    records.variant(records.draw(patient, DAY), "EGFR", "p.T790M")

    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]

    assert [m.resistance for m in flag.resistance] == [
        "EGFR T790M: resistance to first- and second-generation EGFR inhibitors"
    ]


def test_rule_text_says_what_applied_to_the_patient(records, signature):
    patient = records.patient("BR-9", CancerType.BRCA)
    scored(records, patient, signature, 0.9)
    with_ctc(records, patient, 12)

    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]

    assert flag.rule_text == (
        "a signature at or above its cut-off, and CTCs ≥ 5 per 7.5 mL (BRCA, metastatic) or "
        "a cfDNA variant detected, within 30 days"
    )
    assert flag.nearest_days == 10
    assert FollowUpRule(window_days=1).describe("LUAD").endswith("within 1 day")


def test_page_applies_the_defaults_and_edited_cutoffs(logged_in, records, signature):
    patient = records.patient("BR-4", CancerType.BRCA)
    scored(records, patient, signature, 0.9)
    with_ctc(records, patient, 4)

    default = logged_in.get("/follow-up/").content.decode()
    edited = logged_in.get(
        "/follow-up/?window_days=30&ctc_brca=4&ctc_prad=5&ctc_colorectal=3&use_cfdna=on"
        "&metastatic_only=on"
    ).content.decode()

    assert "0 patients flagged" in default
    assert 'value="5"' in default
    assert "1 patient flagged" in edited
    assert "CTCs ≥ 4 per 7.5 mL (BRCA, metastatic)" in edited


def test_page_refuses_a_negative_cutoff(logged_in, db):
    response = logged_in.get("/follow-up/?window_days=30&ctc_brca=-1")

    assert response.status_code == 400
    assert (
        "Ensure this value is greater than or equal to 0." in response.content.decode()
    )


def test_page_query_count_does_not_grow_with_flags(logged_in, records, signature):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get("/follow-up/").status_code == 200
        return len(captured)

    first = records.patient("BR-0", CancerType.BRCA)
    scored(records, first, signature, 0.9)
    with_ctc(records, first, 8)
    few = queries()
    for n in range(1, 6):
        patient = records.patient(f"BR-{n}", CancerType.BRCA)
        scored(records, patient, signature, 0.9)
        with_ctc(records, patient, 8)
        records.variant(records.draw(patient, DAY), "ESR1", "p.D538G")
    assert queries() == few


def test_ctc_cutoffs_apply_to_metastatic_patients_unless_the_rule_says_otherwise(
    records, signature
):
    patient = records.patient("BR-EARLY", CancerType.BRCA)
    scored(records, patient, signature, 0.9)
    Patient.objects.filter(pk=patient.pk).update(stage="IIa", m_stage="M0")
    with_ctc(records, patient, 9)

    assert flagged() == []
    assert flagged(FollowUpRule(metastatic_only=False)) == ["BR-EARLY"]


def test_a_bad_rule_shows_its_error_and_no_result(logged_in, db):
    html = logged_in.get("/follow-up/?window_days=abc").content.decode()

    assert "Enter a whole number." in html
    assert 'id="flags-heading"' not in html


def test_blood_results_are_read_only_for_patients_with_a_high_risk_score(
    records, signature
):
    low = records.patient("LOW", CancerType.BRCA)
    scored(records, low, signature, 0.1)
    records.variant(records.draw(low, DAY), "KRAS", "p.G12C")
    with_ctc(records, low, 9)

    with CaptureQueriesContext(connection) as captured:
        assert flagged() == []
    read = " ".join(query["sql"] for query in captured.captured_queries)
    assert "liquidbiopsy" not in read

    high = records.patient("HIGH", CancerType.BRCA)
    scored(records, high, signature, 0.9)
    records.variant(records.draw(high, DAY), "KRAS", "p.G12C")
    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]
    assert flag.patient.pseudonym == "HIGH"
    assert [p.text for p in flag.positives] == ["cfDNA KRAS p.G12C detected"]


def flagged_by_default_boxes(records: Records, signature) -> None:
    """LUNG-1 is flagged by its cfDNA only; BR-EARLY by its CTCs only if not metastatic-only."""
    cfdna = records.patient("LUNG-1", CancerType.LUAD)
    scored(records, cfdna, signature, 0.9)
    records.variant(records.draw(cfdna, DAY), "KRAS", "p.G12C")
    early = records.patient("BR-EARLY", CancerType.BRCA)
    scored(records, early, signature, 0.9)
    Patient.objects.filter(pk=early.pk).update(stage="IIa", m_stage="M0")
    with_ctc(records, early, 9)


def test_a_link_naming_part_of_the_rule_keeps_the_defaults_of_the_rest(
    logged_in, records, signature
):
    flagged_by_default_boxes(records, signature)

    for url in ("/follow-up/", "/follow-up/?window_days=30", "/follow-up/?ctc_brca=5"):
        html = logged_in.get(url).content.decode()
        assert "1 patient flagged" in html, url
        assert "LUNG-1" in html and "BR-EARLY" not in html, url


def test_the_submitted_form_reads_an_unticked_box_as_off(logged_in, records, signature):
    flagged_by_default_boxes(records, signature)
    form = logged_in.get("/follow-up/").content.decode()
    assert '<input type="hidden" name="applied" value="1">' in form

    # As the browser sends the form with both boxes unticked:
    html = logged_in.get(
        "/follow-up/?window_days=30&signature=&ctc_brca=5&ctc_prad=5"
        "&ctc_colorectal=3&ctc_other=&applied=1"
    ).content.decode()

    assert "1 patient flagged" in html
    assert "BR-EARLY" in html and "LUNG-1" not in html


def test_resistance_markers_outside_the_window_say_so(logged_in, records, signature):
    patient = records.patient("LUNG-3", CancerType.LUAD)
    scored(records, patient, signature, 0.7)
    records.variant(
        records.draw(patient, DAY + dt.timedelta(days=5)), "EGFR", "p.T790M"
    )
    # The same marker half a year later, far outside the 30-day window of the score:
    late = records.draw(patient, DAY + dt.timedelta(days=180))
    records.variant(late, "EGFR", "p.T790M")

    flag = flag_patients(Patient.objects.all(), FollowUpRule())[0]
    html = logged_in.get("/follow-up/").content.decode()
    wide = logged_in.get("/follow-up/?window_days=200").content.decode()

    assert [(m.on, m.outside_window) for m in flag.resistance] == [
        (DAY + dt.timedelta(days=5), False),
        (DAY + dt.timedelta(days=180), True),
    ]
    assert html.count('<strong class="badge">Resistance</strong>') == 2
    assert html.count(", outside the 30-day window)") == 1
    assert "outside the" not in wide.split("<table>", 1)[1]
