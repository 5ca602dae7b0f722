"""Statistics of the cohort analysis, checked by hand and against pingouin."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pingouin
import pytest

from biobank.cohorts.analysis import (
    CFDNA_MARKER,
    CTC_MARKER,
    Correlation,
    Marker,
    benjamini_hochberg,
    correlate,
    group_by_call,
    markers_of,
    spearman,
)
from biobank.cohorts.charts import boxplot_svg, heatmap_svg


def test_spearman_of_a_small_case_computed_by_hand():
    # Ranks of x: 1 2 3 4 5; ranks of y: 2 1 4 3 5, so d = -1 1 -1 1 0 and sum d² = 4:
    # rho = 1 - 6 * 4 / (5 * 24) = 0.8; t = 0.8 * sqrt(3 / 0.36) = 2.3094, df = 3.
    x = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    y = pd.Series([20.0, 10.0, 40.0, 30.0, 50.0])

    n, rho, p, reason = spearman(x, y)

    assert (n, reason) == (5, "")
    assert rho == pytest.approx(0.8)
    # Two-sided p of t = 2.3094 with 3 degrees of freedom, from a t table: 0.1041.
    assert p == pytest.approx(0.1041, abs=5e-4)


def test_benjamini_hochberg_of_a_small_case_computed_by_hand():
    # Sorted: 0.01 (rank 1), 0.02 (2), 0.03 (3), 0.5 (4), m = 4:
    # p * m / rank = 0.04, 0.04, 0.04, 0.5; each q the smallest from its rank up.
    q = benjamini_hochberg([0.03, None, 0.5, 0.01, 0.02])

    assert q[1] is None
    assert q == pytest.approx([0.04, None, 0.5, 0.04, 0.04])


def test_benjamini_hochberg_keeps_q_monotone_and_at_most_one():
    q = benjamini_hochberg([0.9, 0.8, 0.04, 0.045])

    # 0.04*4/1 = 0.16, 0.045*4/2 = 0.09 -> q of 0.04 is min(0.16, 0.09) = 0.09.
    assert q == pytest.approx([0.9, 0.9, 0.09, 0.09])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_spearman_agrees_with_pingouin_with_missing_values_and_ties(seed):
    rng = np.random.default_rng(seed)
    x = pd.Series(rng.integers(0, 8, size=40), dtype="Float64")
    y = pd.Series(x.to_numpy(dtype=float) + rng.normal(0, 3, size=40), dtype="Float64")
    x[[2, 5, 11]] = pd.NA
    y[[5, 17]] = pd.NA

    n, rho, p, _ = spearman(x, y)

    both = pd.DataFrame({"x": x, "y": y}).dropna().astype(float)
    expected = pingouin.corr(both["x"], both["y"], method="spearman")
    assert n == expected["n"].iloc[0] == 36
    assert rho == pytest.approx(expected["r"].iloc[0], rel=1e-12)
    assert p == pytest.approx(expected["p_val"].iloc[0], rel=1e-9)


def test_benjamini_hochberg_agrees_with_pingouin():
    p_values = list(np.random.default_rng(7).uniform(0, 0.2, size=25))

    _, expected = pingouin.multicomp(p_values, method="fdr_bh")

    assert benjamini_hochberg(p_values) == pytest.approx(list(expected), rel=1e-12)


def test_fewer_than_three_pairs_give_no_rho_and_say_so():
    x = pd.Series([1.0, 2.0, None, 4.0])
    y = pd.Series([1.0, None, 3.0, 2.0])

    n, rho, p, reason = spearman(x, y)

    assert (n, rho, p) == (2, None, None)
    assert reason == "Fewer than 3 paired values (n = 2)."


def test_a_constant_column_gives_no_rho():
    n, rho, p, reason = spearman(
        pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([5.0, 5.0, 5.0, 5.0])
    )

    assert (n, rho, p) == (4, None, None)
    assert "same value" in reason


def test_a_perfect_rank_agreement_has_rho_one_and_p_zero():
    n, rho, p, _ = spearman(pd.Series([1, 2, 3, 4]), pd.Series([1.0, 8.0, 27.0, 64.0]))

    assert (n, rho, p) == (4, 1.0, 0.0)


def matrix_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_pseudonym": ["A", "B", "C", "D", "E", "F"],
            "feature.original_firstorder_Mean": pd.array(
                [1.0, 2.0, 3.0, 4.0, 5.0, None], dtype="Float64"
            ),
            "feature.original_shape_Flat": pd.array([7.0] * 6, dtype="Float64"),
            "ctc_per_7_5ml": pd.array([0.0, 1.0, 3.0, 2.0, 8.0, 9.0], dtype="Float64"),
            "cfdna_ng_per_ml": pd.array(
                [None, None, 5.0, 6.0, None, 1.0], dtype="Float64"
            ),
            "vaf.EGFR": pd.array([0.01, 0.02, None, 0.05, None, None], dtype="Float64"),
            "call.EGFR": pd.array(
                ["detected", "detected", "not-tested", "detected", "below-lod", None],
                dtype="string",
            ),
        }
    )


def test_markers_are_ctc_cfdna_then_the_vaf_of_each_gene():
    markers = markers_of(matrix_frame())

    assert [m.column for m in markers] == [
        "ctc_per_7_5ml",
        "cfdna_ng_per_ml",
        "vaf.EGFR",
    ]
    assert markers[2].label == "EGFR VAF"
    assert CTC_MARKER.axis_label == "CTCs (per 7.5 mL)"


def test_correlate_adjusts_over_the_whole_table_and_explains_missing_cells():
    frame = matrix_frame()
    features = ["feature.original_firstorder_Mean", "feature.original_shape_Flat"]

    cells = correlate(frame, features, markers_of(frame))

    by_key = {(c.feature_name, c.marker.column): c for c in cells}
    ctc = by_key["original_firstorder_Mean", "ctc_per_7_5ml"]
    assert ctc.n == 5
    assert ctc.rho == pytest.approx(0.9)  # ranks 1 2 4 3 5 against 1..5
    cfdna = by_key["original_firstorder_Mean", "cfdna_ng_per_ml"]
    assert (cfdna.n, cfdna.rho) == (2, None)
    assert by_key["original_shape_Flat", "ctc_per_7_5ml"].rho is None
    # Two cells have a p (Mean with CTC and with EGFR VAF), adjusted as a pair:
    tested = [c for c in cells if c.p is not None]
    assert len(tested) == 2
    expected = benjamini_hochberg([c.p for c in tested])
    assert [c.q for c in tested] == pytest.approx(expected)
    assert CFDNA_MARKER in {c.marker for c in cells}


def test_groups_leave_untested_and_unknown_calls_out():
    groups = group_by_call(matrix_frame(), "feature.original_firstorder_Mean", "EGFR")

    assert groups.detected == [1.0, 2.0, 4.0]
    assert groups.not_detected == [5.0]
    # C was not tested and F has no call at all: neither counts as not detected.
    assert groups.not_tested == 2
    assert groups.failed == 0
    assert groups.detected_names[0].startswith("A")
    assert groups.labels == ("EGFR detected", "EGFR not detected or below LOD")


def test_groups_count_a_tested_pair_without_a_feature_value():
    frame = matrix_frame()
    frame.loc[5, "call.EGFR"] = "not-detected"

    groups = group_by_call(frame, "feature.original_firstorder_Mean", "EGFR")

    assert groups.missing_feature == 1
    assert groups.not_detected == [5.0]
    assert not math.isnan(sum(groups.detected))


# Charts:


def test_heatmap_stars_only_cells_with_q_below_005_and_titles_every_cell():
    feature = "feature.original_firstorder_Mean"
    cells = [
        Correlation(feature, CTC_MARKER, 12, 0.9, 0.0001, 0.0002),
        Correlation(feature, CFDNA_MARKER, 12, -0.2, 0.5, 0.5),
    ]
    lonely = Correlation("feature.original_shape_Flat", CTC_MARKER, 2, reason="Few.")

    svg = heatmap_svg(
        [*cells, lonely], [feature, lonely.feature], [CTC_MARKER, CFDNA_MARKER]
    )

    assert ">0.90*</text>" in svg
    assert ">-0.20</text>" in svg.replace("−", "-")
    assert ">no ρ</text>" in svg
    assert "Spearman ρ (−1 to 1)" in svg
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert "original_shape_Flat and CTCs: Few." in titles
    assert any(
        t.startswith("original_firstorder_Mean and cfDNA: ρ = -0.200") for t in titles
    )
    assert 'xlink:href="#correlation-1"' in svg


def test_box_plot_of_one_value_in_a_group_says_there_is_no_box():
    groups = group_by_call(matrix_frame(), "feature.original_firstorder_Mean", "EGFR")

    svg = boxplot_svg(groups)

    assert ">one value, no box</text>" in svg
    assert "units of the extraction engine" in svg
    assert re.findall(r"<title>([A-F]): ", svg) == ["A", "B", "D", "E"]


def test_heatmap_of_many_markers_leaves_the_numbers_to_the_table():
    feature = "feature.original_firstorder_Mean"
    markers = [Marker(f"vaf.G{i}", f"G{i} VAF", "fraction 0–1") for i in range(13)]
    cells = [Correlation(feature, marker, 9, 0.5, 0.2, 0.3) for marker in markers]

    svg = heatmap_svg(cells, [feature], markers)

    assert "n = 9</text>" not in svg
    assert len(re.findall(r"<title>original_firstorder_Mean and G\d+ VAF", svg)) == 13
