"""API benchmark: list and filter latency, cohort query against SQL, matrix export.

Run from the repository root on a database that holds the synthetic biobank
(BENCHMARKS.md holds the last results and the commands):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_scale \\
    .venv/bin/python manage.py generate_biobank --patients 10000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_scale \\
    .venv/bin/python bench/api.py --repeat 5 --write BENCHMARKS.md

Requests go through Django's test Client, signed with a token, so they pass every
middleware, authentication, filter, paginator and serializer, but no network. The
cohort query (all pairs, ORM) is timed against a hand-written SQL query for the same
pairs, alternately in the same process; the endpoint's first page against the same
SQL's count and first page. The matrix export (iter_matrix_frames written as CSV)
is timed, with its peak of Python memory (tracemalloc), against pandas.read_sql of
the same rows pivoted wide and written as CSV. The script reads the database and
adds only a user "bench-api" (a curator of every project) with a token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import shlex
import statistics
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO = Path(__file__).resolve().parent.parent
BENCH_USER = "bench-api"
DEFAULT_PROJECT = "synthetic"

# The cohort questions timed, as /api/cohort-pairs/ query parameters:
COHORT_CASES: dict[str, dict[str, str]] = {
    "LUAD, EGFR detected, 14 days": {
        "cancer_type": "LUAD", "gene": "EGFR", "window_days": "14",
    },
    "CT, at least 5 CTC, 7 days": {
        "modality": "CT", "min_ctc": "5", "window_days": "7",
    },
    "sphericity >= 0.5, nearest, 30 days": {
        "feature": "original_shape_Sphericity", "feature_min": "0.5",
        "window_days": "30", "mode": "nearest",
    },
    "KRAS p.G12C before treatment, 30 days": {
        "gene": "KRAS", "variant": "p.Gly12Cys", "before_treatment": "true",
        "window_days": "30",
    },
}  # fmt: skip
MATRIX_CASE = {"window_days": "30", "mode": "nearest"}


@dataclass
class EndpointTiming:
    name: str
    url: str
    rows: int
    seconds: list[float]
    queries: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class CohortTiming:
    name: str
    pairs: int
    orm_s: list[float]
    sql_s: list[float]
    api_s: list[float]
    page_sql_s: list[float]
    same_pairs: bool
    # The cohort builder's live count (/cohorts/count.json) against the SQL's count
    # of pairs and patients stopped past the same limit:
    count_s: list[float] = field(default_factory=list)
    count_sql_s: list[float] = field(default_factory=list)
    count_text: str = ""
    # The SQL's times in each order it counted in (SQL_COUNT_ORDERS), for its page
    # and for the live count; page_sql_s and count_sql_s are the faster order's:
    page_sql_by_order: dict[str, list[float]] = field(default_factory=dict)
    count_sql_by_order: dict[str, list[float]] = field(default_factory=dict)
    # Of each API page, the seconds its statements took to execute (the database's
    # work and the round trips, the rows' conversion not included):
    api_sql_s: list[float] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.orm_s) / statistics.median(self.sql_s)

    @property
    def api_ratio(self) -> float:
        return statistics.median(self.api_s) / statistics.median(self.page_sql_s)

    @property
    def api_sql_ratio(self) -> float:
        return statistics.median(self.api_sql_s) / statistics.median(self.page_sql_s)

    @property
    def api_rest_s(self) -> list[float]:
        """Each API page's seconds outside its statements (run by run)."""
        return [
            total - sql for total, sql in zip(self.api_s, self.api_sql_s, strict=True)
        ]

    @property
    def count_ratio(self) -> float:
        return statistics.median(self.count_s) / statistics.median(self.count_sql_s)


@dataclass
class MatrixTiming:
    pairs: int
    columns: int
    matrix_s: list[float]
    pandas_s: list[float]
    matrix_peak_mib: float
    pandas_peak_mib: float
    matrix_bytes: int
    pandas_columns: int
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float:
        return statistics.median(self.matrix_s) / statistics.median(self.pandas_s)

    @property
    def rows_per_second(self) -> float:
        return self.pairs / statistics.median(self.matrix_s)


# Timing helpers:


@dataclass
class DashboardTiming:
    """The dashboard's counts of one project: counted afresh, and read where stored."""

    counted_s: list[float]
    stored_s: list[float]
    counts: dict[str, int]

    @property
    def ratio(self) -> float:
        return statistics.median(self.counted_s) / statistics.median(self.stored_s)


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def alternate(calls: list[Callable[[], Any]], repeat: int) -> list[list[float]]:
    """Time each call `repeat` times, in turns, after one untimed warm-up round.

    Each round starts one call later than the one before, so that no call always
    runs right after the same other one, in the cache that call warmed.
    """
    for call in calls:
        call()
    seconds: list[list[float]] = [[] for _call in calls]
    for number in range(repeat):
        first = number % len(calls)
        for index in [*range(first, len(calls)), *range(first)]:
            seconds[index].append(timed(calls[index])[0])
    return seconds


def bench_client():
    """Return a test Client signed with the token of the bench user.

    A curator of every project: the date ranges timed are refused to viewers, who
    are shown shifted dates (docs/access.md#dates); the project scoping is the same.
    """
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from bench.report import bench_user
    from patients.models import Role

    user = bench_user(BENCH_USER, Role.CURATOR)
    token, _ = Token.objects.get_or_create(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {token.key}")


def get_json(client, url: str) -> dict:
    response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(
            f"GET {url} answered {response.status_code}: {response.content[:300]!r}"
        )
    return response.json()


# Lists and filters:


def list_urls(project: str) -> dict[str, str]:
    """Return representative list requests: first pages, filters, a nested view."""
    from patients.models import Patient
    from radiomics.models import ImagingStudy

    patient = Patient.objects.filter(project__code=project).order_by("pk").first()
    study = ImagingStudy.objects.filter(patient=patient).order_by("pk").first()
    if patient is None or study is None:
        raise RuntimeError(
            f"Project {project!r} has no patient with a study; run generate_biobank."
        )

    def url(path: str, **params: str) -> str:
        return f"/api/{path}/?{urlencode({'project': project, **params})}"

    return {
        "patients, first page": url("patients"),
        "imaging studies, first page": url("imaging-studies"),
        "patients, LUAD stage by diagnosis range": url(
            "patients", cancer_type="LUAD", diagnosis_on_after="2018-01-01",
            diagnosis_on_before="2019-12-31",
        ),
        "imaging studies, date range": url(
            "imaging-studies", study_date_after="2020-01-01", study_date_before="2020-03-31"
        ),
        "image series, SIEMENS 1-2 mm": url(
            "image-series", manufacturer="SIEMENS", slice_thickness_mm_min="1",
            slice_thickness_mm_max="2",
        ),
        "variants, KRAS detected VAF >= 0.5 %": url(
            "variants", gene="KRAS", call="detected", vaf_min="0.005"
        ),
        "CTC counts, at least 20": url("ctc-counts", count_min="20"),
        "feature values, sphericity > 0.8": url(
            "feature-values", feature="original_shape_Sphericity", value_min="0.8"
        ),
        "blood samples, one month": url(
            "blood-samples", drawn_on_after="2021-05-01", drawn_on_before="2021-05-31"
        ),
        "patient timeline": f"/api/patients/{patient.pk}/timeline/",
        "study in full": f"/api/imaging-studies/{study.pk}/",
    }  # fmt: skip


class QueryCounter:
    """A database execute wrapper that counts the queries it lets through."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


class SqlClock:
    """A database execute wrapper that adds up the seconds of the statements it runs."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started


def get_json_timing_sql(client, url: str, sql_seconds: list[float]) -> dict:
    """get_json, appending to `sql_seconds` the seconds its statements took."""
    from django.db import connection

    clock = SqlClock()
    with connection.execute_wrapper(clock):
        body = get_json(client, url)
    sql_seconds.append(clock.seconds)
    return body


def time_lists(client, project: str, repeat: int) -> list[EndpointTiming]:
    from django.db import connection

    timings = []
    for name, url in list_urls(project).items():
        counter = QueryCounter()
        with connection.execute_wrapper(counter):
            body = get_json(client, url)
        rows = len(body["results"]) if "results" in body else 1
        (seconds,) = alternate([lambda url=url: get_json(client, url)], repeat)
        timings.append(EndpointTiming(name, url, rows, seconds, counter.count))
    return timings


def time_dashboard(project: str, repeat: int) -> DashboardTiming:
    """Time counting a project's dashboard counts against reading them where stored."""
    from biobank.browse.counts import count_project, counts_of
    from patients.models import Project

    chosen = Project.objects.get(code=project)
    stored = counts_of([chosen])  # stores them, unless they are stored already
    counted, read = alternate(
        [lambda: count_project(chosen), lambda: counts_of([chosen])], repeat
    )
    if count_project(chosen) != stored:
        raise RuntimeError(f"The stored counts of {project} are not its counts now.")
    return DashboardTiming(counted, read, stored)


# The cohort query against hand-written SQL:


def criteria_of(params: dict[str, str], project: str):
    """Return the CohortCriteria that /api/cohort-pairs/ reads from these parameters."""
    from biobank.cohorts.forms import CohortForm

    form = CohortForm(params | {"project": project}, user=None)
    if not form.is_valid():
        raise ValueError(f"Bad cohort parameters {params}: {form.errors.as_json()}")
    return form.criteria()


def cohort_sql(
    params: dict[str, str], project: str, ordered: bool = True
) -> tuple[str, list]:
    """Return hand-written SQL for the pairs of a cohort, ordered as the API orders.

    With `ordered` false, in no order (for counting).

    What a developer would write for the question: the draws of the study's patient
    found by the (patient, drawn_on) index within the window, each filter an EXISTS
    on exact stored values (the gene's current symbol by the expression that its
    index and the planner's statistics cover, the change in its canonical form),
    the project and the feature by the ids looked up beforehand (not timed).
    """
    from django.db import connection

    criteria = criteria_of(params, project)
    window = criteria.window_days

    if connection.vendor == "postgresql":
        days_of = "({draw}.drawn_on - s.study_date)"
        within_of = "{draw}.drawn_on BETWEEN s.study_date - %s AND s.study_date + %s"
        window_params: list = [window, window]
    else:
        days_of = (
            "CAST(julianday({draw}.drawn_on) - julianday(s.study_date) AS INTEGER)"
        )
        within_of = (
            "{draw}.drawn_on BETWEEN date(s.study_date, %s) AND date(s.study_date, %s)"
        )
        window_params = [f"-{window} days", f"+{window} days"]
    days = days_of.format(draw="b")

    # The project's id looked up first, as a developer who knows the planner would:
    # with it PostgreSQL estimates the patients of the project and reads them in order.
    (project_id,) = fetch_sql(
        "SELECT id FROM patients_project WHERE code = %s", [criteria.project]
    )[0]
    conditions = [
        "pr.code = %s",
        "pt.project_id = %s",
        "s.study_date IS NOT NULL",
        within_of.format(draw="b"),
    ]
    values: list = [criteria.project, project_id, *window_params]

    # Consent in force today with imaging and genomics scope (patients/consent.py):
    from django.conf import settings
    from django.utils import timezone

    today = timezone.localdate()
    consent = (
        "EXISTS (SELECT 1 FROM patients_consent c WHERE c.patient_id = s.patient_id "
        "AND c.given_on <= %s AND (c.withdrawn_on IS NULL OR c.withdrawn_on > %s) "
        "AND c.allows_imaging AND c.allows_genomics)"
    )
    if not settings.BIOBANK_CONSENT_REQUIRED:
        consent = (
            f"({consent} OR NOT EXISTS (SELECT 1 FROM patients_consent c2 "  # noqa: S608 - our own SQL
            "WHERE c2.patient_id = s.patient_id))"
        )
    conditions.append(consent)
    values += [today, today]
    if criteria.cancer_type:
        conditions.append("pt.cancer_type = %s")
        values.append(criteria.cancer_type)
    if criteria.modality:
        conditions.append(
            "EXISTS (SELECT 1 FROM radiomics_imageseries se "
            "WHERE se.study_id = s.id AND se.modality = %s)"
        )
        values.append(criteria.modality)
    draw_conditions, draw_values = draw_sql(criteria, "b")
    conditions += draw_conditions
    values += draw_values
    if criteria.feature:
        bounds = ""
        if criteria.feature_min is not None:
            bounds += " AND fv.value >= %s"
        if criteria.feature_max is not None:
            bounds += " AND fv.value <= %s"
        # With a modality, the value must be of a series of that modality (query.py):
        same_modality = " AND se.modality = %s" if criteria.modality else ""
        conditions.append(
            "EXISTS (SELECT 1 FROM radiomics_imageseries se "  # noqa: S608 - our own SQL; values are parameters
            "JOIN radiomics_segmentation sg ON sg.series_id = se.id "
            "JOIN radiomics_featureextraction e ON e.segmentation_id = sg.id "
            "JOIN radiomics_featurevalue fv ON fv.extraction_id = e.id "
            "WHERE se.study_id = s.id AND fv.feature_id = %s"
            + bounds
            + same_modality
            + ")"
        )
        (feature_id,) = fetch_sql(
            "SELECT id FROM radiomics_featuredefinition WHERE name = %s",
            [criteria.feature],
        )[0]
        values.append(feature_id)
        values += [
            bound
            for bound in (criteria.feature_min, criteria.feature_max)
            if bound is not None
        ]
        if criteria.modality:
            values.append(criteria.modality)
    pairs = (
        f"SELECT pr.code AS project_code, pt.pseudonym AS patient_pseudonym, "  # noqa: S608 - our own SQL; values are parameters
        f"s.id AS study_id, s.study_instance_uid, s.study_date, s.modalities, "
        f"b.id AS sample_id, b.drawn_at, b.drawn_on, {days} AS days_apart, "
        f"ABS({days}) AS abs_days_apart "
        "FROM radiomics_imagingstudy s "
        "JOIN patients_patient pt ON pt.id = s.patient_id "
        "JOIN patients_project pr ON pr.id = pt.project_id "
        "JOIN liquidbiopsy_bloodsample b ON b.patient_id = s.patient_id "
        f"WHERE {' AND '.join(conditions)}"
    )
    if criteria.mode == "nearest":
        # Best form found for PostgreSQL: a pair stays unless a nearer passing draw
        # exists (as near and earlier, or at the same moment with a lower id), asked on
        # the (patient, drawn_on) index; ranking every pair with ROW_NUMBER() must pair
        # the whole cohort before a first page.
        nearer_conditions, nearer_values = draw_sql(criteria, "n")
        nearer_days = days_of.format(draw="n")
        pairs += (
            " AND NOT EXISTS (SELECT 1 FROM liquidbiopsy_bloodsample n "  # noqa: S608 - our own SQL; values are parameters
            f"WHERE n.patient_id = s.patient_id AND {within_of.format(draw='n')} "
            + "".join(f"AND {condition} " for condition in nearer_conditions)
            + f"AND (ABS({nearer_days}) < ABS({days}) OR (ABS({nearer_days}) = ABS({days}) "
            "AND (n.drawn_at < b.drawn_at OR (n.drawn_at = b.drawn_at AND n.id < b.id)))))"
        )
        values += [*window_params, *nearer_values]
    if not ordered:
        return pairs, values
    return (
        f"SELECT * FROM ({pairs}) p ORDER BY p.project_code, p.patient_pseudonym, "  # noqa: S608 - our own SQL; values are parameters
        "p.study_date, p.study_id, p.drawn_at, p.sample_id"
    ), values


def draw_sql(criteria, draw: str) -> tuple[list[str], list]:
    """The draw filters of `criteria` as SQL conditions on the draw aliased `draw`."""
    conditions: list[str] = []
    values: list = []
    if criteria.gene or criteria.variant:
        change = ""
        if criteria.variant:
            from liquidbiopsy.hgvs import parse_protein_change

            change = parse_protein_change(criteria.variant).canonical
        conditions.append(
            "EXISTS (SELECT 1 FROM liquidbiopsy_cfdnaassay a "  # noqa: S608 - our own SQL; values are parameters
            "JOIN liquidbiopsy_variantresult v ON v.assay_id = a.id "
            f"WHERE a.sample_id = {draw}.id AND v.call = 'detected' "
            "AND upper(v.gene_hgnc) = %s"
            + (" AND v.protein_change = %s)" if change else ")")
        )
        values += [criteria.gene.upper()] + ([change] if change else [])
    if criteria.min_ctc_per_7_5ml is not None:
        conditions.append(
            "EXISTS (SELECT 1 FROM liquidbiopsy_ctccount c "  # noqa: S608 - our own SQL; values are parameters
            f"WHERE c.sample_id = {draw}.id AND c.count_per_7_5ml >= %s)"
        )
        values.append(criteria.min_ctc_per_7_5ml)
    if criteria.before_first_treatment:
        conditions.append(
            "NOT EXISTS (SELECT 1 FROM patients_treatment t "  # noqa: S608 - our own SQL
            f"WHERE t.patient_id = {draw}.patient_id AND t.started_on <= {draw}.drawn_on)"
        )
    return conditions, values


def fetch_sql(sql: str, values: list) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchall()


def check_page(body: dict, orm_rows: list[dict], url: str, limit: int) -> None:
    """Check the API's first page: its count (exact up to `limit`) and its pairs."""
    exact = len(orm_rows) <= limit
    if body["count_exact"] != exact or body["count"] != min(len(orm_rows), limit):
        raise RuntimeError(
            f"{url} counted {body['count']} pairs (exact: {body['count_exact']}), "
            f"not {len(orm_rows)}."
        )
    first = [(row["study_id"], row["sample_id"]) for row in body["results"]]
    if first != [(row["study_id"], row["sample_id"]) for row in orm_rows[:100]]:
        raise RuntimeError(f"{url} did not answer the cohort's first 100 pairs.")


def time_cohort(
    client, name: str, params: dict[str, str], project: str, repeat: int
) -> CohortTiming:
    from django.conf import settings

    from biobank.cohorts.query import pair_queryset

    query = params | {"project": project}
    criteria = criteria_of(params, project)
    sql, values = cohort_sql(params, project)
    unordered, _values = cohort_sql(params, project, ordered=False)
    orders = sql_count_orders(sql, unordered)
    # What the API page does by hand: the first 100 rows and the one after them, and
    # a count that stops past the API's limit (BIOBANK_API_COUNT_LIMIT):
    limit = settings.BIOBANK_API_COUNT_LIMIT
    page_sql = f"SELECT * FROM ({sql}) page LIMIT 101"  # noqa: S608 - our own SQL
    count_sqls = {
        order: f"SELECT COUNT(*) FROM (SELECT 1 FROM ({pairs}) p LIMIT {int(limit) + 1}) counted"  # noqa: S608 - our own SQL
        for order, pairs in orders.items()
    }
    url = f"/api/cohort-pairs/?{urlencode(query)}"

    orm_rows = list(pair_queryset(criteria))
    sql_rows = fetch_sql(sql, values)
    same = {(row["study_id"], row["sample_id"]) for row in orm_rows} == {
        (row[2], row[6]) for row in sql_rows
    } and len(orm_rows) == len(sql_rows)
    check_page(get_json(client, url), orm_rows, url, limit)

    orm_s, sql_s = alternate(
        [lambda: list(pair_queryset(criteria)), lambda: fetch_sql(sql, values)],
        repeat,
    )
    # The pages in turns of their own: after the whole cohorts' queries, whichever
    # page went first was measured 1.3x to 1.6x slower than going second (its
    # reads warm the cache for the other), which a fixed order charged to the API.
    api_sql_s: list[float] = []
    api_s, *page_sql_s = alternate(
        [
            lambda: get_json_timing_sql(client, url, api_sql_s),
            *(
                lambda count_sql=count_sql: (
                    fetch_sql(count_sql, values),
                    fetch_sql(page_sql, values),
                )
                for count_sql in count_sqls.values()
            ),
        ],
        repeat,
    )
    by_order = dict(zip(count_sqls, page_sql_s, strict=True))
    _order, best_page_s = fastest(by_order)
    timing = CohortTiming(name, len(orm_rows), orm_s, sql_s, api_s, best_page_s, same)
    timing.page_sql_by_order = by_order
    timing.api_sql_s = api_sql_s[-len(api_s) :]  # after alternate's warm-up round
    time_live_count(timing, query, orders, values, limit, repeat)
    return timing


# The orders the hand-written SQL counts a cohort in, each timed: the best SQL for a
# count is not the same for every cohort. In no order PostgreSQL reads a sparse
# cohort's few pairs from its filters' indexes, but walks a dense one's patients in
# id order, through the other projects' first; in the pairs' order it reads the
# project's patients from the (project, pseudonym) index and stops at the limit.
SQL_COUNT_ORDERS = ("none", "pairs")


def sql_count_orders(ordered: str, unordered: str) -> dict[str, str]:
    """The cohort's pairs, as SQL, in each of SQL_COUNT_ORDERS."""
    return dict(zip(SQL_COUNT_ORDERS, (unordered, ordered), strict=True))


def fastest(seconds: dict[str, list[float]]) -> tuple[str, list[float]]:
    """Return the name and times of the variant with the lowest median."""
    name = min(seconds, key=lambda key: statistics.median(seconds[key]))
    return name, seconds[name]


def time_live_count(
    timing: CohortTiming,
    query: dict[str, str],
    orders: dict[str, str],
    values: list,
    limit: int,
    repeat: int,
) -> None:
    """Time the cohort builder's live count against the SQL's count of the same.

    The live count is /cohorts/count.json, asked by a signed-in browser session (it
    takes no token); the SQL counts the pairs and their patients up to one past the
    limit, as a developer would write it, in each of `orders` (SQL_COUNT_ORDERS),
    and the faster counts.
    """
    from django.test import Client

    from bench.report import bench_user
    from patients.models import Role

    browser = Client()
    browser.force_login(bench_user(BENCH_USER, Role.CURATOR))
    url = f"/cohorts/count.json?{urlencode(query)}"
    count_sqls = {
        order: (
            "SELECT COUNT(*), COUNT(DISTINCT project_code || '/' || patient_pseudonym) FROM "  # noqa: S608 - our own SQL
            f"(SELECT project_code, patient_pseudonym FROM ({pairs}) p "
            f"LIMIT {int(limit) + 1}) counted"
        )
        for order, pairs in orders.items()
    }
    body = get_json(browser, url)
    for order, count_sql in count_sqls.items():
        ((pairs, patients),) = fetch_sql(count_sql, values)
        expected = (min(pairs, limit), patients if pairs <= limit else None)
        if (body["pairs"], body["patients"]) != expected:
            raise RuntimeError(
                f"{url} counted {body}, the SQL in order {order!r} {expected}."
            )
    timing.count_text = body["text"]
    timing.count_s, *count_sql_s = alternate(
        [
            lambda: get_json(browser, url),
            *(
                lambda count_sql=count_sql: fetch_sql(count_sql, values)
                for count_sql in count_sqls.values()
            ),
        ],
        repeat,
    )
    timing.count_sql_by_order = dict(zip(count_sqls, count_sql_s, strict=True))
    _order, timing.count_sql_s = fastest(timing.count_sql_by_order)


# The matrix export against pandas.read_sql:


def export_matrix(criteria, limit: int) -> tuple[int, int, int]:
    """Write the matrix of the cohort's first `limit` pairs as CSV; return its shape and size."""
    from biobank.cohorts.matrix import MatrixSpec, iter_matrix_frames, stream_matrix
    from biobank.cohorts.query import pair_queryset

    pairs = pair_queryset(criteria)[:limit]
    shape = [0, 0]

    def counted(frames):
        for frame in frames:
            shape[0] += len(frame)
            shape[1] = frame.shape[1]
            yield frame

    frames = iter_matrix_frames(pairs, MatrixSpec(features=("*",)))
    size = sum(len(block) for block in stream_matrix(counted(frames), "csv"))
    return shape[0], shape[1], size


def read_sql_matrix(sql: str, values: list, limit: int) -> tuple[int, int, int]:
    """Read the same rows with pandas.read_sql, pivot them wide, write them as CSV."""
    import pandas as pd
    from django.db import connection

    pairs_sql = f"{sql} LIMIT {int(limit)}"
    queries = {
        "pairs": (
            f"SELECT p.*, pt.sex, pt.birth_year, pt.cancer_type, pt.stage, "  # noqa: S608 - our own SQL
            f"pt.diagnosis_on FROM ({pairs_sql}) p "
            "JOIN radiomics_imagingstudy s ON s.id = p.study_id "
            "JOIN patients_patient pt ON pt.id = s.patient_id"
        ),
        "series": (
            "SELECT e.id AS extraction_id, se.study_id, se.manufacturer, "  # noqa: S608 - our own SQL
            "se.convolution_kernel, se.slice_thickness_mm, se.kvp "
            f"FROM (SELECT DISTINCT study_id FROM ({pairs_sql}) p) ps "
            "JOIN radiomics_imageseries se ON se.study_id = ps.study_id "
            "JOIN radiomics_segmentation sg ON sg.series_id = se.id "
            "JOIN radiomics_featureextraction e ON e.segmentation_id = sg.id "
            "WHERE e.status = 'done'"
        ),
        "values": (
            "SELECT se.study_id, f.name, v.value "  # noqa: S608 - our own SQL
            f"FROM (SELECT DISTINCT study_id FROM ({pairs_sql}) p) ps "
            "JOIN radiomics_imageseries se ON se.study_id = ps.study_id "
            "JOIN radiomics_segmentation sg ON sg.series_id = se.id "
            "JOIN radiomics_featureextraction e ON e.segmentation_id = sg.id "
            "JOIN radiomics_featurevalue v ON v.extraction_id = e.id "
            "JOIN radiomics_featuredefinition f ON f.id = v.feature_id "
            "WHERE e.status = 'done'"
        ),
        "variants": (
            "SELECT a.sample_id, v.gene, v.vaf, v.call "  # noqa: S608 - our own SQL
            f"FROM (SELECT DISTINCT sample_id FROM ({pairs_sql}) p) ps "
            "JOIN liquidbiopsy_cfdnaassay a ON a.sample_id = ps.sample_id "
            "JOIN liquidbiopsy_variantresult v ON v.assay_id = a.id"
        ),
        "blood": (
            "SELECT ps.sample_id, c.count_per_7_5ml, a.cfdna_ng_per_ml "  # noqa: S608 - our own SQL
            f"FROM (SELECT DISTINCT sample_id FROM ({pairs_sql}) p) ps "
            "LEFT JOIN liquidbiopsy_ctccount c ON c.sample_id = ps.sample_id "
            "LEFT JOIN liquidbiopsy_cfdnaassay a ON a.sample_id = ps.sample_id"
        ),
    }
    raw = connection.connection
    placeholder = "%s" if connection.vendor == "postgresql" else "?"
    frames = {}
    with warnings.catch_warnings():
        # pandas asks for SQLAlchemy but reads a DB-API connection as well:
        warnings.simplefilter("ignore", UserWarning)
        for name, query in queries.items():
            query = query.replace("%s", placeholder)
            frames[name] = pd.read_sql(query, raw, params=values)

    values_wide = frames["values"].pivot_table(
        index="study_id", columns="name", values="value", aggfunc="first"
    )
    variants = frames["variants"].drop_duplicates(["sample_id", "gene"])
    vaf = variants.pivot(index="sample_id", columns="gene", values="vaf")
    call = variants.pivot(index="sample_id", columns="gene", values="call")
    series = frames["series"].drop_duplicates("study_id").set_index("study_id")
    blood = frames["blood"].drop_duplicates("sample_id").set_index("sample_id")
    matrix = (
        frames["pairs"]
        .join(series, on="study_id")
        .join(values_wide.add_prefix("feature."), on="study_id")
        .join(blood, on="sample_id")
        .join(vaf.add_prefix("vaf."), on="sample_id")
        .join(call.add_prefix("call."), on="sample_id")
    )
    text = io.StringIO()
    matrix.to_csv(text, index=False)
    return len(matrix), matrix.shape[1], len(text.getvalue())


def peak_mib(call: Callable[[], Any]) -> tuple[float, Any]:
    """Return the peak of Python memory (tracemalloc, numpy included) during `call`."""
    tracemalloc.start()
    try:
        result = call()
        _size, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 2**20, result


def time_matrix(project: str, limit: int, repeat: int) -> MatrixTiming:
    criteria = criteria_of(MATRIX_CASE, project)
    sql, values = cohort_sql(MATRIX_CASE, project)

    matrix_peak, (rows, columns, size) = peak_mib(
        lambda: export_matrix(criteria, limit)
    )
    pandas_peak, (pandas_rows, pandas_columns, _size) = peak_mib(
        lambda: read_sql_matrix(sql, values, limit)
    )
    if rows != pandas_rows:
        raise RuntimeError(
            f"The matrix has {rows} rows, pandas.read_sql {pandas_rows}."
        )
    matrix_s, pandas_s = alternate(
        [
            lambda: export_matrix(criteria, limit),
            lambda: read_sql_matrix(sql, values, limit),
        ],
        repeat,
    )
    return MatrixTiming(
        rows,
        columns,
        matrix_s,
        pandas_s,
        matrix_peak,
        pandas_peak,
        size,
        pandas_columns,
    )


# Report:


def describe_data(project: str) -> str:
    from liquidbiopsy.models import BloodSample, VariantResult
    from patients.models import Patient
    from radiomics.models import FeatureValue, ImagingStudy

    patients = Patient.objects.filter(project__code=project)
    counts = {
        "patients": patients.count(),
        "imaging studies": ImagingStudy.objects.filter(patient__in=patients).count(),
        "blood draws": BloodSample.objects.filter(patient__in=patients).count(),
        "variant results": VariantResult.objects.filter(
            assay__sample__patient__in=patients
        ).count(),
        "feature values": FeatureValue.objects.filter(
            extraction__patient__in=patients
        ).count(),
    }
    return ", ".join(f"{count:,} {name}" for name, count in counts.items())


def ms(seconds: list[float]) -> str:
    return f"{1000 * statistics.median(seconds):.1f}"


def render(
    lists: list[EndpointTiming],
    cohorts: list[CohortTiming],
    matrix: MatrixTiming | None,
    context: dict[str, str],
    dashboard: DashboardTiming | None = None,
) -> str:
    lines = [
        "## REST API, cohort query and matrix export (issues 4 and 7)",
        "",
        f"Command: `{context['command']}`",
        "",
        f"Run {context['when']} on {platform.node()} ({os.cpu_count()} cores, load "
        f"average {context['load']}), Python {platform.python_version()}, "
        f"{context['database']}; data: project `{context['project']}` made by "
        f"`{context['generate']}` ({context['data']}).",
        "",
        "Latency: median of the runs after one warm-up, through Django's test Client "
        "with token authentication (all middleware, filters, pagination and "
        "serialisers; no network). *Queries* is the number of SQL queries of one "
        "request.",
        "",
        "| request | rows | median ms | queries |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {t.name} | {t.rows} | {ms(t.seconds)} | {t.queries} |" for t in lists]
    if dashboard is not None:
        lines += [
            "",
            "Dashboard counts of the project (`/?project=`): *counted* is "
            "`count_project` (every count and gap, now), *stored* is `counts_of` "
            "reading the counts stored at the current data generation, timed "
            f"alternately. {dashboard.counts['variants']:,} variant results, "
            f"{dashboard.counts['studies']:,} studies, "
            f"{dashboard.counts['draws']:,} draws counted.",
            "",
            "| counted ms | stored ms | counted / stored |",
            "|---:|---:|---:|",
            f"| {ms(dashboard.counted_s)} | {ms(dashboard.stored_s)} | "
            f"{dashboard.ratio:,.0f}x |",
        ]
    lines += [
        "",
        "Cohort query: *ORM* is `pair_queryset` read in full (every pair), *SQL* a "
        "hand-written query for the same pairs (exact values, the window as a range "
        "on the (patient, drawn_on) index), timed alternately; *same pairs* checks "
        "that both found the same (study, draw) pairs. *API* is "
        "`/api/cohort-pairs/` (first page of 100 with the evidence of each pair, and "
        "the count up to BIOBANK_API_COUNT_LIMIT) against the SQL's first 101 rows "
        "and its count stopped past the same limit, timed alternately with each "
        "other only, after the whole cohorts. *Live count* is the cohort builder's "
        "`/cohorts/count.json` (pairs and patients, exact up to the same limit) "
        "against the SQL's count of pairs and patients stopped past the limit. The "
        "SQL counts both ways, in no order and in the pairs' order, timed in the same "
        "turns, and the faster stands here, its order in brackets before the other's "
        "time: no plan is the fastest for every cohort.",
        "",
        "| cohort | pairs | ORM ms | SQL ms | ORM / SQL | API page ms | SQL page ms | API / SQL | live count ms | SQL count ms | count / SQL | same pairs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    lines += [
        f"| {t.name} | {t.pairs:,} | {ms(t.orm_s)} | {ms(t.sql_s)} | {t.ratio:.2f}x | "
        f"{ms(t.api_s)} | {in_orders(t.page_sql_s, t.page_sql_by_order)} | "
        f"{t.api_ratio:.2f}x | {ms(t.count_s)} | "
        f"{in_orders(t.count_sql_s, t.count_sql_by_order)} | {t.count_ratio:.2f}x | "
        f"{'yes' if t.same_pairs else 'NO'} |"
        for t in cohorts
    ]
    if any(t.api_sql_s for t in cohorts):
        lines += [
            "",
            "The API page split, run by run: *its SQL* is the time its statements "
            "took to execute (the database's work and the round trips: the count and "
            "the page, the checks of the names given, the evidence of the 100 pairs, "
            "the export record), *the rest* everything else in the request (Django "
            "and DRF, sign-in, the filters' form, building and compiling the "
            "queries, converting and serialising the rows). *Its SQL / SQL page* "
            "compares its statements with the hand-written SQL's page and count.",
            "",
            "| cohort | API page ms | its SQL ms | the rest ms | its SQL / SQL page | API / SQL page |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {t.name} | {ms(t.api_s)} | {ms(t.api_sql_s)} | {ms(t.api_rest_s)} | "
            f"{t.api_sql_ratio:.2f}x | {t.api_ratio:.2f}x |"
            for t in cohorts
            if t.api_sql_s
        ]
    if matrix is not None:
        lines += [
            "",
            f"Matrix export: the first {matrix.pairs:,} pairs of the cohort "
            f"{urlencode(MATRIX_CASE)} with every feature; *matrix* is "
            "`iter_matrix_frames` streamed as CSV (what `/api/cohort-matrix/` "
            "sends), *pandas* is `pandas.read_sql` of the same pairs, their patients, "
            "series, feature values, variants and CTC counts, pivoted wide, joined "
            "and written as CSV. *Peak* is the most Python memory held at once "
            "(tracemalloc, numpy and pandas included).",
            "",
            "| pairs | matrix columns | pandas columns | matrix s | pandas s | matrix / pandas | pairs per s | CSV MiB | matrix peak MiB | pandas peak MiB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {matrix.pairs:,} | {matrix.columns} | {matrix.pandas_columns} | "
            f"{statistics.median(matrix.matrix_s):.2f} | "
            f"{statistics.median(matrix.pandas_s):.2f} | {matrix.ratio:.2f}x | "
            f"{matrix.rows_per_second:,.0f} | {matrix.matrix_bytes / 2**20:.1f} | "
            f"{matrix.matrix_peak_mib:.0f} | {matrix.pandas_peak_mib:.0f} |",
        ]
    return "\n".join(lines).rstrip() + "\n"


def in_orders(best: list[float], by_order: dict[str, list[float]]) -> str:
    """The faster order's time, then that order and the others' times in brackets."""
    if not by_order:
        return ms(best)
    order, _times = fastest(by_order)
    others = "; ".join(
        f"{other} {ms(times)}" for other, times in by_order.items() if other != order
    )
    return f"{ms(best)} ({order}" + (f"; {others})" if others else ")")


def write_section(path: Path, section: str) -> None:
    """Put the section between this script's marks in `path`, keeping the rest."""
    from bench.report import write_marked

    write_marked(path, section, "bench/api.py")


def database_label() -> str:
    from django.db import connection

    if connection.vendor != "postgresql":
        return f"{connection.vendor} {connection.Database.sqlite_version}"
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return f"PostgreSQL {cursor.fetchone()[0]}"


def run(options: argparse.Namespace, command: str) -> str:
    from django.conf import settings

    from bench.extraction import load_average

    if settings.DEBUG:
        # Django keeps every query of a DEBUG process; that is not what is measured.
        settings.DEBUG = False
    client = bench_client()
    project = options.project

    print("timing lists ...", flush=True)  # noqa: T201
    lists = time_lists(client, project, options.repeat)
    print("timing the dashboard counts ...", flush=True)  # noqa: T201
    dashboard = time_dashboard(project, options.repeat)
    cohorts = []
    for name, params in COHORT_CASES.items():
        print(f"timing cohort {name} ...", flush=True)  # noqa: T201
        cohorts.append(time_cohort(client, name, params, project, options.repeat))
    matrix = None
    if options.matrix_pairs:
        print("timing the matrix export ...", flush=True)  # noqa: T201
        matrix = time_matrix(project, options.matrix_pairs, options.repeat)

    context = {
        "command": command,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load": load_average(),
        "database": database_label(),
        "project": project,
        "generate": options.generated_by,
        "data": describe_data(project),
    }
    return render(lists, cohorts, matrix, context, dashboard)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=DEFAULT_PROJECT)
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs per request.")
    parser.add_argument(
        "--matrix-pairs",
        type=int,
        default=10_000,
        help="Pairs in the matrix export; 0 skips it.",
    )
    parser.add_argument(
        "--generated-by",
        default="manage.py generate_biobank",
        help="The command that made the data, for the report.",
    )
    parser.add_argument("--write", type=Path, help="Markdown file to update.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    options = parse(argv)
    sys.path.insert(0, str(REPO))
    from bench.extraction import without_password

    command = ".venv/bin/python bench/api.py " + shlex.join(argv)
    if os.environ.get("DATABASE_URL"):
        command = (
            f"DATABASE_URL={without_password(os.environ['DATABASE_URL'])} {command}"
        )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()

    report = run(options, command)
    print(report)  # noqa: T201
    if options.write:
        write_section(options.write, report)


if __name__ == "__main__":
    main(sys.argv[1:])
