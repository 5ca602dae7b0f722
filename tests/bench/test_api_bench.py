"""A tiny run of bench/api.py on a tiny synthetic biobank, so that it cannot silently break."""

from __future__ import annotations

import statistics

import pytest

from bench.api import (
    COHORT_CASES,
    CohortTiming,
    DashboardTiming,
    EndpointTiming,
    MatrixTiming,
    alternate,
    bench_client,
    cohort_sql,
    fastest,
    render,
    sql_count_orders,
    time_cohort,
    time_dashboard,
    time_lists,
    time_matrix,
    write_section,
)
from biobank.synthetic import generate_biobank

pytestmark = pytest.mark.django_db


@pytest.fixture
def biobank():
    return generate_biobank(patients=40, seed=2, project_code="synthetic")


def test_every_list_request_answers_with_rows_and_counted_queries(biobank):
    timings = time_lists(bench_client(), "synthetic", repeat=1)

    assert len(timings) == 11
    assert all(len(timing.seconds) == 1 for timing in timings)
    assert all(timing.queries > 0 for timing in timings)
    assert {timing.name for timing in timings if timing.rows > 0} >= {
        "patients, first page",
        "imaging studies, first page",
        "patient timeline",
        "study in full",
    }


def test_orm_and_hand_written_sql_find_the_same_pairs_for_every_cohort(biobank):
    client = bench_client()

    timings = [
        time_cohort(client, name, params, "synthetic", repeat=1)
        for name, params in COHORT_CASES.items()
    ]

    assert all(timing.same_pairs for timing in timings)
    assert sum(timing.pairs for timing in timings) > 0
    assert all(
        len(timing.orm_s) == len(timing.api_s) == len(timing.page_sql_s) == 1
        for timing in timings
    )
    # Each API page's statements took part of its time, not none and not all:
    assert all(
        len(timing.api_sql_s) == 1 and 0 < timing.api_sql_s[0] < timing.api_s[0]
        for timing in timings
    )
    # The live count agreed with the SQL's (time_live_count checks) and said so:
    assert all(
        len(timing.count_s) == len(timing.count_sql_s) == 1 for timing in timings
    )
    assert all(timing.count_text.endswith("these filters.") for timing in timings)
    # Each SQL count was timed in both orders, and the faster stands:
    for timing in timings:
        for by_order, best in (
            (timing.page_sql_by_order, timing.page_sql_s),
            (timing.count_sql_by_order, timing.count_sql_s),
        ):
            assert set(by_order) == {"none", "pairs"}
            assert best == min(by_order.values(), key=statistics.median)


def test_dashboard_counts_are_timed_counted_and_stored(biobank):
    timing = time_dashboard("synthetic", repeat=1)

    assert timing.counts["patients"] == 40
    assert timing.counts["variants"] > 0
    assert len(timing.counted_s) == len(timing.stored_s) == 1


def test_matrix_export_and_read_sql_give_the_same_rows(biobank):
    timing = time_matrix("synthetic", limit=25, repeat=1)

    assert timing.pairs == 25
    assert timing.columns > 100  # identifiers, clinical, acquisition, 100 features
    assert timing.matrix_bytes > 0
    assert timing.matrix_peak_mib > 0 and timing.pandas_peak_mib > 0


def test_report_has_a_row_per_measurement_and_replaces_its_own_section(tmp_path):
    lists = [EndpointTiming("patients, first page", "/api/patients/", 100, [0.05], 3)]
    cohorts = [
        CohortTiming(
            "tiny",
            12,
            [0.2],
            [0.1],
            [0.3],
            [0.1],
            True,
            [0.05],
            [0.1],
            "12 pairs",
            page_sql_by_order={"none": [0.3], "pairs": [0.1]},
            count_sql_by_order={"none": [0.1], "pairs": [0.2]},
            api_sql_s=[0.12],
        ),
    ]
    matrix = MatrixTiming(10, 200, [2.0], [1.0], 40.0, 80.0, 2**20, 150)
    context = {
        "command": "bench", "when": "now", "load": "1.0", "database": "db",
        "project": "synthetic", "generate": "generate", "data": "10 patients",
    }  # fmt: skip
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\n## Feature extraction\n\nkept\n")

    dashboard = DashboardTiming(
        [2.0], [0.01], {"variants": 9, "studies": 3, "draws": 4}
    )
    report = render(lists, cohorts, matrix, context, dashboard)
    write_section(benchmarks, report)
    write_section(benchmarks, report)

    text = benchmarks.read_text()
    assert "| patients, first page | 100 | 50.0 | 3 |\n" in text
    assert (
        "| tiny | 12 | 200.0 | 100.0 | 2.00x | 300.0 | 100.0 (pairs; none 300.0) "
        "| 3.00x | 50.0 | 100.0 (none; pairs 200.0) | 0.50x | yes |\n" in text
    )
    assert "| tiny | 300.0 | 120.0 | 180.0 | 1.20x | 3.00x |\n" in text
    assert "| 10 | 200 | 150 | 2.00 | 1.00 | 2.00x | 5 | 1.0 | 40 | 80 |\n" in text
    assert "| 2000.0 | 10.0 | 200x |\n" in text
    assert text.count("## REST API, cohort query and matrix export") == 1
    assert "## Feature extraction\n\nkept" in text


# The synthetic PET/CT studies have values on their CT series only, so that PET
# asks for none of them, and CT for them all:
@pytest.mark.parametrize(("modality", "has_pairs"), [("CT", True), ("PT", False)])
def test_the_hand_written_sql_reads_the_feature_of_the_modality_filtered_on(
    biobank, modality, has_pairs
):
    params = {
        "modality": modality,
        "feature": "original_firstorder_Mean",
        "feature_max": "100",
        "window_days": "30",
    }

    timing = time_cohort(bench_client(), modality, params, "synthetic", repeat=1)

    assert (timing.pairs > 0) == has_pairs
    assert timing.same_pairs


def test_the_fastest_order_is_the_one_of_lowest_median():
    seconds = {"none": [0.5, 0.1, 0.6], "pairs": [0.3, 0.2, 0.4]}

    assert fastest(seconds) == ("pairs", [0.3, 0.2, 0.4])


def test_the_sql_counts_in_no_order_and_in_the_pairs_order(biobank):
    params = COHORT_CASES["LUAD, EGFR detected, 14 days"]
    ordered, _values = cohort_sql(params, "synthetic")
    unordered, _values = cohort_sql(params, "synthetic", ordered=False)

    orders = sql_count_orders(ordered, unordered)

    assert "ORDER BY" in orders["pairs"]
    assert "ORDER BY" not in orders["none"]


def test_each_round_starts_one_call_later():
    calls: list[str] = []

    seconds = alternate(
        [lambda name=name: calls.append(name) for name in "abc"], repeat=3
    )

    # A warm-up round, then abc, bca, cab:
    assert "".join(calls) == "abc" + "abc" + "bca" + "cab"
    assert [len(times) for times in seconds] == [3, 3, 3]
