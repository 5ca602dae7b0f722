"""The cohort query: pairing by date window, every filter, both modes, one SQL query."""

from __future__ import annotations

import datetime as dt
import functools

import pytest
from django.db import OperationalError, connection, transaction

from biobank.cohorts import query
from biobank.cohorts.query import (
    CohortCount,
    CohortCriteria,
    PairMode,
    count_pairs,
    detected_variants,
    find_pairs,
    genome_builds_of,
    pair_queryset,
    rows_of,
    variants_at_position,
)
from liquidbiopsy.models import VariantResult
from liquidbiopsy.validation import genomic_change
from patients.models import CancerType, Project
from tests.biobank.conftest import Records

STUDY_ON = dt.date(2024, 3, 10)


def days(n: int) -> dt.date:
    return STUDY_ON + dt.timedelta(days=n)


def paired_samples(**criteria) -> list[int]:
    return [row.sample_id for row in find_pairs(CohortCriteria(**criteria))]


@pytest.fixture
def patient(records: Records):
    return records.patient("DEMO-00001")


@pytest.fixture
def study(records: Records, patient):
    return records.study(patient, STUDY_ON, modalities="CT,PT")


# Window and dates:


def test_pairs_draws_exactly_window_days_away_on_either_side(records, patient, study):
    before = records.draw(patient, days(-7))
    after = records.draw(patient, days(7))

    rows = find_pairs(CohortCriteria(window_days=7))

    assert [(row.sample_id, row.days_apart, row.abs_days_apart) for row in rows] == [
        (before.pk, -7, 7),
        (after.pk, 7, 7),
    ]


def test_leaves_out_draws_one_day_beyond_the_window(records, patient, study):
    records.draw(patient, days(-8))
    records.draw(patient, days(8))

    assert paired_samples(window_days=7) == []


def test_window_of_zero_pairs_only_same_day_draws(records, patient, study):
    same_day = records.draw(patient, STUDY_ON)
    records.draw(patient, days(1))

    assert paired_samples(window_days=0) == [same_day.pk]


def test_undated_study_never_pairs(records, patient):
    records.study(patient, None)
    records.draw(patient, days(0))

    assert paired_samples(window_days=3650) == []


def test_never_pairs_a_study_with_another_patients_draw(records, study):
    other = records.patient("DEMO-00002")
    records.draw(other, STUDY_ON)

    assert paired_samples(window_days=30) == []


def test_row_carries_patient_study_and_sample(records, patient, study):
    sample = records.draw(patient, days(-2), at=dt.time(8, 15))

    (row,) = find_pairs(CohortCriteria(window_days=5))

    assert row.as_dict() == {
        "project_code": "demo",
        "patient_pseudonym": "DEMO-00001",
        "study_id": study.pk,
        "study_instance_uid": study.study_instance_uid,
        "study_date": STUDY_ON,
        "modalities": "CT,PT",
        "sample_id": sample.pk,
        "drawn_at": sample.drawn_at,
        "drawn_on": days(-2),
        "days_apart": -2,
        "abs_days_apart": 2,
    }


def test_draw_late_in_the_local_evening_counts_on_its_local_date(
    settings, records, patient
):
    settings.TIME_ZONE = "America/New_York"
    study = records.study(patient, STUDY_ON)
    late = records.draw(patient, STUDY_ON, at=dt.time(23, 30))
    assert late.drawn_at.astimezone(dt.UTC).date() == days(1)  # the next day in UTC

    (row,) = find_pairs(CohortCriteria(window_days=0))

    assert (row.study_id, row.sample_id, row.days_apart) == (study.pk, late.pk, 0)
    assert (row.drawn_at.date(), row.drawn_at.hour, row.drawn_at.minute) == (
        STUDY_ON,
        23,
        30,
    )


def test_rows_come_ordered_by_patient_study_date_and_draw_time(records):
    second = records.patient("DEMO-00002")
    first = records.patient("DEMO-00001")
    late_study = records.study(first, days(20))
    early_study = records.study(first, STUDY_ON)
    records.study(second, STUDY_ON)
    late_draw = records.draw(first, days(2))
    early_draw = records.draw(first, days(1))
    other_draw = records.draw(second, STUDY_ON)

    rows = find_pairs(CohortCriteria(window_days=30))

    assert [(row.patient_pseudonym, row.study_id, row.sample_id) for row in rows] == [
        ("DEMO-00001", early_study.pk, early_draw.pk),
        ("DEMO-00001", early_study.pk, late_draw.pk),
        ("DEMO-00001", late_study.pk, early_draw.pk),
        ("DEMO-00001", late_study.pk, late_draw.pk),
        ("DEMO-00002", second.imaging_studies.get().pk, other_draw.pk),
    ]


# Patient filters:


def test_project_filter_keeps_only_that_projects_patients(records, patient, study):
    sample = records.draw(patient, STUDY_ON)
    other = Records(Project.objects.create(code="other", name="Other"))
    other_patient = other.patient("OTHER-00001")
    other.study(other_patient, STUDY_ON)
    other_sample = other.draw(other_patient, STUDY_ON)

    assert paired_samples(project="demo") == [sample.pk]
    assert paired_samples(project="other") == [other_sample.pk]


def test_project_read_by_the_caller_is_not_looked_up_again(
    records, patient, study, django_assert_num_queries
):
    sample = records.draw(patient, STUDY_ON)
    other = Records(Project.objects.create(code="other", name="Other"))
    other.draw(other.patient("OTHER-00001"), STUDY_ON)
    demo = Project.objects.get(code="demo")

    with django_assert_num_queries(0):
        pairs = pair_queryset(CohortCriteria(project="demo"), project=demo)

    assert [row.sample_id for row in rows_of(pairs)] == [sample.pk]


def test_a_project_given_must_be_the_one_asked_for(records):
    demo = Project.objects.get(code="demo")

    for asked in ("other", ""):
        with pytest.raises(ValueError, match="not the one asked for"):
            pair_queryset(CohortCriteria(project=asked), project=demo)


def test_a_parent_cancer_type_includes_its_oncotree_subtypes(records, patient, study):
    lung = records.draw(patient, days(1))  # LUAD, a subtype of NSCLC
    colon = records.patient("DEMO-00002", cancer_type=CancerType.COAD)
    records.study(colon, STUDY_ON)
    in_colon = records.draw(colon, days(1))
    unspecified = records.patient("DEMO-00003", cancer_type=CancerType.NSCLC)
    records.study(unspecified, STUDY_ON)
    in_unspecified = records.draw(unspecified, days(1))

    assert paired_samples(cancer_type=CancerType.NSCLC) == [lung.pk, in_unspecified.pk]
    assert paired_samples(cancer_type=CancerType.COADREAD) == [in_colon.pk]
    # A subtype does not include its parent, nor its siblings:
    assert paired_samples(cancer_type=CancerType.LUAD) == [lung.pk]
    assert paired_samples(cancer_type=CancerType.LUSC) == []


def test_cancer_type_filter_keeps_only_that_cancer_type(records, patient, study):
    sample = records.draw(patient, STUDY_ON)
    colon = records.patient("DEMO-00002", cancer_type=CancerType.COAD)
    records.study(colon, STUDY_ON)
    records.draw(colon, STUDY_ON)

    assert paired_samples(cancer_type=CancerType.LUAD) == [sample.pk]
    assert len(paired_samples(cancer_type=CancerType.PRAD)) == 0


# Imaging filters:


def test_modality_filter_matches_any_series_of_the_study(records, patient, study):
    sample = records.draw(patient, STUDY_ON)

    assert paired_samples(modality="PT") == [sample.pk]
    assert paired_samples(modality="MR") == []


def test_feature_filter_by_name_keeps_studies_with_a_value_in_range(
    records, patient, study
):
    sample = records.draw(patient, STUDY_ON)
    records.feature(study, "original_glcm_Contrast", 12.5, ibsi_code="ACUI")

    assert paired_samples(
        feature="original_glcm_Contrast", feature_min=12.5, feature_max=13
    ) == [sample.pk]
    assert paired_samples(feature="original_glcm_Contrast", feature_min=12.6) == []
    assert paired_samples(feature="original_glcm_Contrast", feature_max=12.4) == []
    assert paired_samples(feature="original_glcm_Entropy", feature_min=0) == []


def test_feature_filter_by_ibsi_code_reads_the_original_image_only(
    records, patient, study
):
    sample = records.draw(patient, STUDY_ON)
    records.feature(study, "original_glcm_Contrast", 12.5, ibsi_code="ACUI")
    records.feature(
        study,
        "wavelet-LLH_glcm_Contrast",
        99.0,
        ibsi_code="ACUI",
        image_filter="wavelet-LLH",
    )

    assert paired_samples(feature="acui", feature_min=10, feature_max=15) == [sample.pk]
    assert paired_samples(feature="ACUI", feature_min=90) == []


def test_feature_of_another_study_does_not_count(records, patient, study):
    records.draw(patient, STUDY_ON)
    other_study = records.study(patient, days(40))
    records.feature(other_study, "original_shape_MeshVolume", 30.0, ibsi_code="RNU0")

    assert paired_samples(feature="RNU0", feature_min=0, window_days=5) == []


# Blood sample filters:


def test_gene_filter_needs_a_detected_variant_in_that_sample(records, patient, study):
    with_egfr = records.draw(patient, days(-1))
    records.variant(with_egfr, "EGFR", "p.L858R")
    not_detected = records.draw(patient, days(1))
    records.variant(
        not_detected, "EGFR", "p.L858R", call=VariantResult.Call.NOT_DETECTED
    )
    other_gene = records.draw(patient, days(2))
    records.variant(other_gene, "KRAS", "p.G12C")

    assert paired_samples(gene="EGFR") == [with_egfr.pk]
    assert paired_samples(gene="egfr") == [with_egfr.pk]


def test_variant_filter_reads_any_spelling_of_the_protein_change(
    records, patient, study
):
    resistant = records.draw(patient, days(-1))
    records.variant(resistant, "EGFR", "p.T790M")
    sensitising = records.draw(patient, days(1))
    records.variant(sensitising, "EGFR", "p.L858R")

    assert paired_samples(gene="EGFR", variant="p.T790M") == [resistant.pk]
    assert paired_samples(gene="EGFR", variant="p.Thr790Met") == [resistant.pk]
    assert paired_samples(gene="EGFR", variant="T790M") == [resistant.pk]
    assert paired_samples(gene="KRAS", variant="p.T790M") == []


def intergenic(records: Records, sample, change: str, **values) -> VariantResult:
    """Store a detected variant of no gene, as a VCF without CSQ/ANN annotation gives it."""
    variant = records.variant(sample, "", "")
    VariantResult.objects.filter(pk=variant.pk).update(
        gene_hgnc="", variant_key=f"g:{change}", genomic_change=change, **values
    )
    return variant


@pytest.mark.parametrize(
    "spelling",
    [
        "1:204429832 C>A",
        "chr1:204429832 C>A",
        "chr1_204429832_C_A",
        " 1:204429832C>A",
        # gnomAD's variant ID:
        "1-204429832-C-A",
        "chr1-204429832-C-A",
    ],
)
def test_variant_filter_finds_a_variant_of_no_gene_by_its_genomic_change(
    records, patient, study, spelling
):
    found = records.draw(patient, days(-1))
    intergenic(records, found, "1:204429832 C>A")
    other_change = records.draw(patient, days(1))
    intergenic(records, other_change, "1:204429832 C>T")
    not_detected = records.draw(patient, days(2))
    intergenic(
        records,
        not_detected,
        "1:204429832 C>A",
        call=VariantResult.Call.NOT_DETECTED,
    )

    assert paired_samples(variant=spelling) == [found.pk]


def test_a_genomic_change_with_a_gene_asks_for_a_variant_of_that_gene(
    records, patient, study
):
    annotated = records.draw(patient, days(-1))
    variant = records.variant(annotated, "TP53", "p.R273H")
    VariantResult.objects.filter(pk=variant.pk).update(genomic_change="17:7577120 C>T")

    assert paired_samples(gene="TP53", variant="17:7577120 C>T") == [annotated.pk]
    assert paired_samples(variant="chr17:7577120 C>T") == [annotated.pk]
    assert paired_samples(gene="KRAS", variant="17:7577120 C>T") == []


def test_a_genomic_change_shortened_on_the_pages_finds_its_variant(
    records, patient, study
):
    sample = records.draw(patient, days(0))
    long = genomic_change("2", "1000", "A" * 120, "A")
    intergenic(records, sample, long)

    assert "sha256:" in long
    assert paired_samples(variant=long) == [sample.pk]
    assert paired_samples(variant=f"chr{long.upper()}") == [sample.pk]


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        ("1:204429832 C>A hg19", "hg19"),
        ("chr1:204429832 C>A GRCh37", "hg19"),
        ("1:204429832 C>A (grch37.p13)", "hg19"),
        ("1:204429832 C>A, b37", "hg19"),
        ("1:204429832 C>A hg38", "GRCh38"),
        ("chr1_204429832_C_A GRCh38", "GRCh38"),
    ],
)
def test_a_genomic_change_with_its_build_finds_the_variant_of_that_build(
    records, patient, study, asked, found
):
    """The same position names different variants in GRCh37 and GRCh38."""
    hg19 = records.draw(patient, days(-1))
    intergenic(records, hg19, "1:204429832 C>A", genome_build="hg19")
    grch38 = records.draw(patient, days(1))
    intergenic(records, grch38, "1:204429832 C>A", genome_build="GRCh38")
    no_build = records.draw(patient, days(2))
    intergenic(records, no_build, "1:204429832 C>A")

    expected = {"hg19": hg19.pk, "GRCh38": grch38.pk}[found]
    assert paired_samples(variant=asked) == [expected]
    # Without a build every stored one matches; the form refuses that (forms.py):
    everywhere = paired_samples(variant="1:204429832 C>A")
    assert everywhere == [hg19.pk, grch38.pk, no_build.pk]
    assert genome_builds_of(detected_variants("", "1:204429832 C>A")) == [
        "GRCh37",
        "GRCh38",
    ]


@pytest.mark.parametrize(
    ("asked", "stored"),
    [
        ("chrx:100 A>G", "X:100 A>G"),
        ("x:100 a>g", "X:100 A>G"),
        ("chry_100_A_G", "Y:100 A>G"),
        ("mt:10 A>G", "MT:10 A>G"),
        ("chrm:10 A>G", "MT:10 A>G"),
    ],
)
def test_a_lower_case_chromosome_finds_its_variant(
    records, patient, study, asked, stored
):
    sample = records.draw(patient, days(0))
    intergenic(records, sample, stored)

    assert paired_samples(variant=asked) == [sample.pk]


def test_a_genomic_change_is_read_from_its_own_index(records, patient, study):
    draw = records.draw(patient, days(0))
    intergenic(records, draw, "1:204429832 C>A")
    # Other detected variants, as a biobank holds: with one alone, reading the whole
    # index of detected variants (liquidbiopsy 0020) cost as little.
    for position in range(1000, 1400):
        intergenic(records, draw, f"1:{position} C>A")

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE liquidbiopsy_variantresult")
            # A few rows cost less to read whole; the question is whether it may:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = detected_variants("", "1:204429832 C>A").explain()

    assert "variant_genomic_call" in plan


def test_the_changes_at_a_position_are_read_from_the_same_index(
    records, patient, study
):
    intergenic(records, records.draw(patient, days(0)), "1:204429832 C>A")

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
        found = variants_at_position("1:204429832 G>A", "GRCh37").order_by()
        plan = found.values_list("genomic_change", "genome_build").explain()

    assert "variant_genomic_call" in plan


def test_variant_filter_finds_a_fusion_in_any_case_in_its_partner_order(
    records, patient, study
):
    eml4_alk = records.draw(patient, days(-1))
    alk_eml4 = records.draw(patient, days(1))
    for sample, five, three in ((eml4_alk, "EML4", "ALK"), (alk_eml4, "ALK", "EML4")):
        variant = records.variant(sample, "ALK", f"{five}::{three}")
        VariantResult.objects.filter(pk=variant.pk).update(
            variant_type=VariantResult.Type.FUSION,
            protein_change="",
            fusion_5prime=five,
            fusion_3prime=three,
        )

    assert paired_samples(variant="eml4::alk") == [eml4_alk.pk]
    assert paired_samples(gene="alk", variant="EML4-alk fusion") == [eml4_alk.pk]
    assert paired_samples(variant="alk::eml4") == [alk_eml4.pk]


def test_ctc_filter_compares_counts_per_7_5_ml(records, patient, study):
    five_in_7_5 = records.draw(patient, days(-1))
    records.ctc(five_in_7_5, 5)
    five_in_15 = records.draw(patient, days(1))
    records.ctc(five_in_15, 5, volume_ml=15)
    records.draw(patient, days(2))  # no count at all

    assert paired_samples(min_ctc_per_7_5ml=5) == [five_in_7_5.pk]
    assert paired_samples(min_ctc_per_7_5ml=2.5) == [five_in_7_5.pk, five_in_15.pk]
    assert paired_samples(min_ctc_per_7_5ml=0) == [five_in_7_5.pk, five_in_15.pk]


def test_before_treatment_keeps_draws_before_the_first_treatment_start(
    records, patient, study
):
    before = records.draw(patient, days(-1))
    records.draw(patient, STUDY_ON)  # the day treatment starts
    records.draw(patient, days(3))
    records.treatment(patient, days(5))
    records.treatment(patient, STUDY_ON)

    assert paired_samples(before_first_treatment=True) == [before.pk]


def test_before_treatment_keeps_patients_never_treated(records, patient, study):
    sample = records.draw(patient, days(3))

    assert paired_samples(before_first_treatment=True) == [sample.pk]


def test_filters_combine_on_the_same_sample(records, patient, study):
    egfr_only = records.draw(patient, days(-1))
    records.variant(egfr_only, "EGFR", "p.T790M")
    ctc_only = records.draw(patient, days(1))
    records.ctc(ctc_only, 10)
    both = records.draw(patient, days(2))
    records.variant(both, "EGFR", "p.T790M")
    records.ctc(both, 10)

    assert paired_samples(gene="EGFR", variant="p.T790M", min_ctc_per_7_5ml=5) == [
        both.pk
    ]


# Nearest mode:


def test_nearest_mode_keeps_one_draw_per_study(records, patient, study):
    records.draw(patient, days(-6))
    two_days_after = records.draw(patient, days(2))
    four_days_after = records.draw(patient, days(4))
    later_study = records.study(patient, days(10))

    rows = find_pairs(CohortCriteria(window_days=7, mode=PairMode.NEAREST))

    assert [(row.study_id, row.sample_id, row.days_apart) for row in rows] == [
        (study.pk, two_days_after.pk, 2),
        (later_study.pk, four_days_after.pk, -6),
    ]


def test_nearest_mode_breaks_a_tie_for_the_earlier_draw(records, patient, study):
    records.draw(patient, days(3))
    before = records.draw(patient, days(-3))

    assert paired_samples(mode=PairMode.NEAREST) == [before.pk]


def test_nearest_mode_breaks_a_tie_at_the_same_moment_for_the_lower_id(
    records, patient, study
):
    first = records.draw(patient, days(1), external_sample_id="A")
    records.draw(patient, days(1), external_sample_id="B")

    assert paired_samples(mode=PairMode.NEAREST) == [first.pk]


def test_nearest_mode_picks_among_the_draws_that_pass_the_filters(
    records, patient, study
):
    records.draw(patient, STUDY_ON)
    with_ctc = records.draw(patient, days(5))
    records.ctc(with_ctc, 3)

    assert paired_samples(mode=PairMode.NEAREST, min_ctc_per_7_5ml=1) == [with_ctc.pk]


def test_nearest_mode_passes_over_nearer_draws_that_fail_the_draw_filters(
    records, patient, study
):
    # The nearest draw of the study, for each filter on draws, fails that filter;
    # the next nearest passes, and the other study of the patient keeps its own.
    far_egfr = records.draw(patient, days(-6))
    records.variant(far_egfr, "EGFR", "p.T790M")
    near_wild_type = records.draw(patient, days(1))
    records.variant(near_wild_type, "KRAS", "p.G12C")
    records.ctc(far_egfr, 8)
    records.ctc(near_wild_type, 0)
    records.draw(patient, days(-2))  # nearer than far_egfr, after treatment began
    records.treatment(patient, days(-3))
    records.study(patient, days(20))
    later_egfr = records.draw(patient, days(18))
    records.variant(later_egfr, "EGFR", "p.T790M")
    records.ctc(later_egfr, 5)

    assert paired_samples(mode=PairMode.NEAREST, window_days=7) == [
        near_wild_type.pk,
        later_egfr.pk,
    ]
    assert paired_samples(mode=PairMode.NEAREST, window_days=7, gene="EGFR") == [
        far_egfr.pk,
        later_egfr.pk,
    ]
    assert paired_samples(
        mode=PairMode.NEAREST, window_days=7, min_ctc_per_7_5ml=5
    ) == [far_egfr.pk, later_egfr.pk]
    assert paired_samples(
        mode=PairMode.NEAREST, window_days=7, before_first_treatment=True
    ) == [far_egfr.pk]


# One query:


def test_runs_one_query_whatever_the_cohort_size(records, django_assert_num_queries):
    for number in range(1, 6):
        patient = records.patient(f"DEMO-{number:05d}")
        study = records.study(patient, STUDY_ON)
        sample = records.draw(patient, days(number))
        records.variant(sample, "EGFR", "p.T790M")
        records.ctc(sample, number)
        records.feature(
            study, "original_firstorder_Mean", float(number), ibsi_code="Q4LE"
        )
    criteria = CohortCriteria(
        window_days=10,
        mode=PairMode.NEAREST,
        project="demo",
        cancer_type=CancerType.LUAD,
        modality="CT",
        gene="EGFR",
        variant="p.T790M",
        min_ctc_per_7_5ml=2,
        feature="Q4LE",
        feature_min=0,
        feature_max=4,
        before_first_treatment=True,
    )

    # Building the query reads the ids of the project and of the feature (two small
    # queries, whatever the size); the pairs then come in one:
    with django_assert_num_queries(2):
        pairs = pair_queryset(criteria)
    with django_assert_num_queries(1):
        rows = list(rows_of(pairs))

    assert [row.patient_pseudonym for row in rows] == [
        "DEMO-00002",
        "DEMO-00003",
        "DEMO-00004",
    ]


def test_criteria_refuse_an_unknown_mode_or_a_negative_window():
    with pytest.raises(ValueError, match="Mode must be one of all, nearest"):
        CohortCriteria(mode="closest")
    with pytest.raises(ValueError, match="must not be negative"):
        CohortCriteria(window_days=-1)


# Counting a cohort (count_pairs), in its order or in none:


@pytest.fixture
def thirty_pairs(records):
    """30 pairs of 10 patients: each has a study and three draws within a week."""
    for number in range(1, 11):
        patient = records.patient(f"DEMO-{number:05d}")
        records.study(patient, STUDY_ON)
        for day in (1, 2, 3):
            records.draw(patient, days(day))
    return pair_queryset(CohortCriteria(window_days=7))


def in_order_here() -> bool:
    return connection.vendor == "postgresql"


@pytest.mark.parametrize("in_order", [True, False], ids=["in order", "in no order"])
def test_count_pairs_counts_pairs_and_patients_either_way(
    thirty_pairs, monkeypatch, in_order
):
    # No time at all to read in order makes it count in no order:
    monkeypatch.setattr(query, "COUNT_IN_ORDER_SECONDS", 60 if in_order else 0)
    monkeypatch.setattr(query, "COUNT_PROBE_ROWS", 4)
    counted_in_order = query._count_in_order(thirty_pairs, 100)
    assert (counted_in_order is not None) == (in_order and in_order_here())

    for in_order in (True, False):
        counts = functools.partial(count_pairs, thirty_pairs, in_order=in_order)
        assert counts(100) == CohortCount(30, 10, exact=True)
        assert counts(30) == CohortCount(30, 10, exact=True)
        assert counts(29) == CohortCount(29, None, exact=False)
        assert counts(3) == CohortCount(3, None, exact=False)


@pytest.mark.postgres_only
def test_count_pairs_reads_in_order_the_pairs_a_reader_may_see(
    thirty_pairs, records, monkeypatch
):
    if not in_order_here():
        pytest.skip("needs PostgreSQL: other databases count in no order only")
    other = Records(Project.objects.create(code="other", name="Other"))
    patient = other.patient("OTHER-00001")
    other.study(patient, STUDY_ON)
    other.draw(patient, days(1))
    monkeypatch.setattr(query, "COUNT_IN_ORDER_SECONDS", 60)
    monkeypatch.setattr(query, "COUNT_PROBE_ROWS", 4)

    assert query._count_in_order(pair_queryset(CohortCriteria()), 100) == {
        "pairs": 31,
        "patients": 11,
    }
    only_demo = pair_queryset(CohortCriteria(window_days=7)).filter(
        patient__project=records.project
    )
    assert query._count_in_order(only_demo, 100) == {"pairs": 30, "patients": 10}


@pytest.mark.postgres_only
def test_count_in_order_stopped_by_its_timeout_counts_in_no_order(
    thirty_pairs, monkeypatch
):
    if not in_order_here():
        pytest.skip("needs PostgreSQL: SQLite has no statement timeout")
    counted = query._counted
    calls = []

    def first_waits(pairs, rows):
        calls.append(pairs.ordered)
        if len(calls) == 1:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_sleep(5)")  # as a sort of the whole cohort
            return {"pairs": 0, "patients": 0}  # never: the timeout stops the sleep
        return counted(pairs, rows)

    monkeypatch.setattr(query, "_counted", first_waits)
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        (before,) = cursor.fetchone()

    assert count_pairs(thirty_pairs, 100, in_order=True) == CohortCount(30, 10, True)
    assert calls == [True, False]  # in order, stopped; then in no order
    # The timeout was the count's own: the connection has its own again.
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == (before,)


def test_count_in_order_sets_the_statement_timeout_back(thirty_pairs, monkeypatch):
    monkeypatch.setattr(query, "COUNT_IN_ORDER_SECONDS", 60)
    monkeypatch.setattr(query, "COUNT_PROBE_ROWS", 4)
    with transaction.atomic():
        with connection.cursor() as cursor:
            if in_order_here():
                cursor.execute("SET LOCAL statement_timeout = '7s'")
            counted = count_pairs(thirty_pairs, 100, in_order=True)
            assert counted == CohortCount(30, 10, exact=True)
            if in_order_here():
                cursor.execute("SHOW statement_timeout")
                assert cursor.fetchone() == ("7s",)


def test_count_pairs_lets_other_database_errors_through(thirty_pairs, monkeypatch):
    def fails(pairs, rows):
        raise OperationalError("disk full")

    monkeypatch.setattr(query, "_counted", fails)

    with pytest.raises(OperationalError, match="disk full"):
        count_pairs(thirty_pairs, 100, in_order=True)
