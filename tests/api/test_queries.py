"""Query counts: a list, a timeline and a study page cost the same for 2 or 6 patients."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.api.conftest import A_VALUES, Biobank, add_side
from tests.api.test_endpoints import ENDPOINTS

# Token look-up (1), the reader's projects and roles (1, read once per request, on
# records of a project), count (1, only when rows follow the page, never on cursor
# pages), the page (1), one prefetch for the signature terms, and the date mode's
# records' patients (1; the reader's role is among the roles read):
MOST_QUERIES = 6


def add_patients(biobank: Biobank, number: int) -> None:
    project = biobank.a.patient.project
    for serial in range(number):
        add_side(
            project, f"PT-MORE-{serial}", biobank.mean, biobank.signature, **A_VALUES
        )


def count_queries(api, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(url)
    assert response.status_code == 200, response.content[:300]
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("endpoint", [endpoint for endpoint, _ in ENDPOINTS])
def test_list_queries_do_not_grow_with_rows(endpoint, api, biobank):
    url = f"/api/{endpoint}/"
    with_two = count_queries(api, url)

    add_patients(biobank, 4)
    with_six = count_queries(api, url)

    assert len(with_six) == len(with_two), with_six
    assert len(with_six) <= MOST_QUERIES, with_six


# A parameter that must name something stored (biobank/api/vocabulary.py) adds its
# check (the reader's projects are read once per request):
NAME_CHECK_QUERIES = 1
NAMED_PARAMETERS = ("modality=", "feature=", "gene=")
# A feature value range reads the feature's ids and the ids of the matching values
# (biobank/api/filters.py, FeatureValueFilter.filter_queryset):
VALUE_RANGE_QUERIES = 2


@pytest.mark.parametrize(
    "url",
    [
        "/api/imaging-studies/?modality=CT&manufacturer=siemens&feature=Q4LE&feature_min=0",
        "/api/variants/?gene=EGFR&variant=p.Thr790Met&call=detected",
        "/api/feature-values/?feature=Q4LE&value_min=0",
    ],
)
def test_filtered_list_queries_do_not_grow_with_rows(url, api, biobank):
    checked = sum(name in url for name in NAMED_PARAMETERS)
    with_two = count_queries(api, url)

    add_patients(biobank, 4)
    with_six = count_queries(api, url)

    most = MOST_QUERIES + NAME_CHECK_QUERIES * checked
    if url.startswith("/api/feature-values/") and "value_min=" in url:
        most += VALUE_RANGE_QUERIES
    assert len(with_six) == len(with_two) <= most, with_six


def test_timeline_queries_do_not_grow_with_records(api, biobank):
    url = f"/api/patients/{biobank.a.patient.pk}/timeline/"
    before = count_queries(api, url)

    # More draws, counts and variants of the same patient:
    add_side(
        biobank.a.patient.project,
        "PT-OTHER",
        biobank.mean,
        biobank.signature,
        **A_VALUES,
    )
    patient = biobank.a.patient
    for record in (biobank.b.sample, biobank.b.study, biobank.b.consent):
        record.patient = patient
        record.save()
    after = count_queries(api, url)

    assert len(after) == len(before), after


def test_study_page_queries_do_not_grow_with_values(api, biobank):
    url = f"/api/imaging-studies/{biobank.a.study.pk}/"
    before = count_queries(api, url)

    # A second series with a segmentation and two values, on the same study:
    biobank.b.series.study = biobank.a.study
    biobank.b.series.save()
    biobank.b.extraction.values.create(feature=biobank.mean, value=1.0)
    after = count_queries(api, url)

    assert len(after) == len(before), after
