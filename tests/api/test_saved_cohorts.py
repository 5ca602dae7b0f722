"""Saved cohorts in the API: save, pull a frozen version again, re-run, diff, refuse.

Patient A: CT study on 2020-01-20, draw on 2020-01-22 with 12 CTCs and a Mean of 42.
Patient B: MR study on 2021-06-10, draw on 2021-06-12 with 1 CTC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from biobank.cohorts.models import CohortVersion, SavedCohort
from liquidbiopsy.models import BloodSample, CTCCount
from tests.api.conftest import results
from tests.api.test_queries import add_patients, count_queries
from tests.conftest import grant

# B withdrew and consented again: both patients are in cohorts (docs/consent.md).
pytestmark = pytest.mark.usefixtures("renewed_consent")

URL = "/api/saved-cohorts/"
MEAN = {"features": ["original_firstorder_Mean"], "genes": ["EGFR"]}


def save(api, query: dict, name: str = "paper cohort", **extra) -> dict:
    response = api.post(URL, {"name": name, "query": query, **extra}, format="json")
    assert response.status_code == 201, response.content[:500]
    return response.json()


def pull(api, cohort: dict, number: int, kind: str = "parquet") -> bytes:
    response = api.get(f"{URL}{cohort['id']}/versions/{number}/matrix/?format={kind}")
    assert response.status_code == 200, response.content[:500]
    return b"".join(response.streaming_content)


def members(api, cohort: dict, number: int) -> list[dict]:
    return results(api.get(f"{URL}{cohort['id']}/versions/{number}/members/"))


def correct_and_add(biobank) -> BloodSample:
    """Correct A's CTC count (12 to 20) and Mean (42 to 43.5); add a draw of A with 30 CTCs."""
    biobank.a.ctc.count = 20
    biobank.a.ctc.save()
    biobank.a.value.value = 43.5
    biobank.a.value.save()
    later = BloodSample.objects.create(
        patient=biobank.a.patient,
        drawn_at=timezone.make_aware(dt.datetime(2020, 1, 25, 9)),
    )
    CTCCount.objects.create(sample=later, count=30)
    return later


def test_saving_freezes_the_pairs_of_the_cohort_query(api, analyst, biobank):
    query = {"window_days": 5, "min_ctc": 0}

    cohort = save(api, query, description="All pairs within five days.")

    expected = results(api.get("/api/cohort-pairs/?window_days=5&min_ctc=0"))
    frozen = members(api, cohort, 1)
    assert [(m["study_id"], m["sample_id"]) for m in frozen] == [
        (row["study_id"], row["sample_id"]) for row in expected
    ]
    assert [m["evidence"] for m in frozen] == [row["evidence"] for row in expected]
    assert [m["days_apart"] for m in frozen] == [2, 2]
    assert cohort["author"] == "analyst"
    assert cohort["definition"]["query"] == {
        "window_days": 5,
        "mode": "all",
        "min_ctc": 0.0,
    }
    assert [v["number"] for v in cohort["versions"]] == [1]
    assert cohort["versions"][0]["pair_count"] == 2
    assert cohort["versions"][0]["patient_count"] == 2


def test_frozen_version_is_pulled_again_identically_after_corrections(
    api, analyst, project, biobank
):
    # A curator's calendar dates: a viewer's are shifted in a file written anew.
    grant(analyst, project, "curator")
    cohort = save(api, {"window_days": 5, "min_ctc": 5}, matrix=MEAN)
    before = pull(api, cohort, 1)
    members_before = members(api, cohort, 1)

    correct_and_add(biobank)
    after = pull(api, cohort, 1)

    assert after == before
    matrix = pd.read_parquet(io.BytesIO(after))
    assert list(matrix["sample_id"]) == [biobank.a.sample.pk]
    assert list(matrix["ctc_count"]) == [12]
    assert list(matrix["feature.original_firstorder_Mean"]) == [42.0]
    assert members(api, cohort, 1) == members_before
    [member] = members_before
    assert member["evidence"]["ctc_counts"][0]["count"] == 12
    version = CohortVersion.objects.get(cohort_id=cohort["id"], number=1)
    assert version.matrix_sha256 == hashlib.sha256(after).hexdigest()


def test_rerun_adds_a_version_reporting_the_new_pair_and_the_corrected_value(
    api, biobank
):
    cohort = save(api, {"window_days": 5, "min_ctc": 5}, matrix=MEAN)
    later = correct_and_add(biobank)

    response = api.post(f"{URL}{cohort['id']}/rerun/")

    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert body["is_new"] is True
    assert body["version"]["number"] == 2
    diff = body["diff"]
    assert (diff["from_version"], diff["to_version"]) == (1, 2)
    assert [p["sample_id"] for p in diff["pairs_added"]] == [later.pk]
    assert diff["pairs_removed"] == []
    changed = {
        c["column"]: (c["sample_id"], c["old"], c["new"])
        for c in diff["values_changed"]
    }
    sample = biobank.a.sample.pk
    assert changed == {
        "ctc_count": (sample, 12, 20),
        "ctc_per_7_5ml": (sample, 12.0, 20.0),
        "feature.original_firstorder_Mean": (sample, 42.0, 43.5),
        "evidence": (
            sample,
            {
                "ctc_counts": [
                    {
                        "id": biobank.a.ctc.pk,
                        "platform": "CellSearch",
                        "count": 12,
                        "count_per_7_5ml": 12.0,
                    }
                ]
            },
            {
                "ctc_counts": [
                    {
                        "id": biobank.a.ctc.pk,
                        "platform": "CellSearch",
                        "count": 20,
                        "count_per_7_5ml": 20.0,
                    }
                ]
            },
        ),
    }
    assert diff["counts"]["pairs_changed"] == 1
    assert body["version"]["changes"] == diff["counts"]
    assert len(members(api, cohort, 2)) == 2
    assert len(members(api, cohort, 1)) == 1


def test_rerun_without_changes_keeps_the_latest_version(api, biobank):
    cohort = save(api, {"window_days": 5})

    response = api.post(f"{URL}{cohort['id']}/rerun/")

    assert response.status_code == 200
    assert response.json()["is_new"] is False
    assert response.json()["version"]["number"] == 1
    assert response.json()["diff"]["counts"] == {
        "pairs_added": 0,
        "pairs_removed": 0,
        "values_changed": 0,
        "pairs_changed": 0,
    }
    assert CohortVersion.objects.filter(cohort_id=cohort["id"]).count() == 1
    assert api.get(f"{URL}{cohort['id']}/").json()["checked_at"] is not None


def test_diff_endpoint_compares_two_versions(api, biobank):
    cohort = save(api, {"window_days": 5, "min_ctc": 5})
    later = correct_and_add(biobank)
    rerun = api.post(f"{URL}{cohort['id']}/rerun/").json()

    diff = api.get(f"{URL}{cohort['id']}/diff/?from=1&to=2")
    backwards = api.get(f"{URL}{cohort['id']}/diff/?from=2&to=1")

    assert diff.status_code == 200
    assert diff.json() == rerun["diff"]
    assert [p["sample_id"] for p in backwards.json()["pairs_removed"]] == [later.pk]
    assert api.get(f"{URL}{cohort['id']}/diff/").json() == rerun["diff"]


def test_deleted_records_leave_the_frozen_version_whole(api, biobank):
    cohort = save(api, {"window_days": 5})
    before = pull(api, cohort, 1)
    frozen = members(api, cohort, 1)

    biobank.a.sample.delete()
    biobank.b.study.delete()

    after = members(api, cohort, 1)
    assert pull(api, cohort, 1) == before
    assert [m["patient_pseudonym"] for m in after] == ["PT-A", "PT-B"]
    assert [m["is_sample_deleted"] for m in after] == [True, False]
    assert [m["is_study_deleted"] for m in after] == [False, True]
    assert [m["sample_id"] for m in after] == [m["sample_id"] for m in frozen]

    rerun = api.post(f"{URL}{cohort['id']}/rerun/").json()
    assert rerun["version"]["pair_count"] == 0
    assert len(rerun["diff"]["pairs_removed"]) == 2


def test_csv_and_json_hold_the_values_of_the_frozen_parquet(api, biobank):
    cohort = save(api, {"window_days": 5})
    frozen = pd.read_parquet(io.BytesIO(pull(api, cohort, 1)))

    as_csv = pd.read_csv(io.BytesIO(pull(api, cohort, 1, "csv")))
    as_json = pd.read_json(io.BytesIO(pull(api, cohort, 1, "json")), lines=True)

    assert list(as_csv.columns) == list(frozen.columns)
    assert list(as_csv["sample_id"]) == list(frozen["sample_id"])
    assert list(as_json["days_apart"]) == list(frozen["days_apart"])
    assert len(as_json) == len(frozen) == 2


def test_damaged_frozen_file_is_refused_not_served(api, biobank, storage_root):
    cohort = save(api, {"window_days": 5})
    version = CohortVersion.objects.get(cohort_id=cohort["id"])
    path = Path(storage_root) / version.matrix_path
    path.write_bytes(path.read_bytes() + b"tampered")

    response = api.get(f"{URL}{cohort['id']}/versions/1/matrix/")

    assert response.status_code == 500
    assert "SHA-256" in response.json()["detail"]


def test_a_frozen_path_out_of_the_storage_root_is_refused_not_served(
    api, biobank, storage_root, tmp_path
):
    cohort = save(api, {"window_days": 5})
    version = CohortVersion.objects.get(cohort_id=cohort["id"])
    # The very file, so that its SHA-256 matches: only the path check refuses it.
    outside = tmp_path / "outside.parquet"
    outside.write_bytes((Path(storage_root) / version.matrix_path).read_bytes())
    CohortVersion.objects.filter(pk=version.pk).update(matrix_path=str(outside))

    response = api.get(f"{URL}{cohort['id']}/versions/1/matrix/")

    assert response.status_code == 500
    assert "The path is absolute" in response.json()["detail"]
    assert str(tmp_path) not in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"query": {"window_days": -1}}, ("query", "window_days")),
        ({"query": {"windows": 3}}, ("query", "windows")),
        ({"query": {"gene": "EGFR", "variant": "p.Thr79OMet"}}, ("query", "variant")),
        ({"query": {"feature_min": 1}}, ("query", "feature")),
        ({"query": {"project": "nowhere"}}, ("query", "project")),
        ({"query": {"gene": ["EGFR"]}}, ("query", "gene")),
        ({"query": {"before_treatment": "maybe"}}, ("query", "before_treatment")),
        ({"query": "gene=EGFR"}, ("query",)),
        ({"matrix": ["mean"]}, ("matrix",)),
        ({"matrix": {"features": ["NoSuchFeature"]}}, ("matrix", "features")),
        ({"matrix": {"robust": "always"}}, ("matrix", "robust")),
        ({"matrix": {"colour": "red"}}, ("matrix", "colour")),
        ({"name": ""}, ("name",)),
        ({"name": "a\x00b"}, ("name",)),
        ({"query": {"gene": "EG\x00FR"}}, ("query", "gene")),
        ({"query": {"project": "de\x00mo"}}, ("query", "project")),
        ({"query": {"min_ctc": 10**400}}, ("query", "min_ctc")),
        (
            {"query": {"feature": "Q4LE", "feature_max": -(10**400)}},
            ("query", "feature_max"),
        ),
        ({"matrix": {"features": ["original\x00"]}}, ("matrix", "features")),
        ({"matrix": {"genes": ",".join(["EGFR"] * 2001)}}, ("matrix", "genes")),
        ({"matrix": {"genes": ["EGFR", "EGRF"]}}, ("matrix", "genes")),
    ],
)
def test_bad_definition_is_a_400_naming_the_field(api, biobank, body, path):
    response = api.post(URL, {"name": "bad", **body}, format="json")

    assert response.status_code == 400
    errors = response.json()
    for key in path:
        errors = errors[key]
    assert errors and all(isinstance(message, str) for message in errors)


@pytest.mark.parametrize(
    "body, field, code_point",
    [
        ({"name": "ring\u0007"}, "name", "U+0007"),
        ({"name": "cohort-\u202evsc.exe"}, "name", "U+202E"),
        ({"name": "ok", "description": "line\nbell\u0007"}, "description", "U+0007"),
    ],
)
@pytest.mark.attack
def test_control_characters_in_name_or_description_are_a_400(
    api, biobank, body, field, code_point
):
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert code_point in response.json()[field][0]
    assert not SavedCohort.objects.exists()


def test_a_description_keeps_its_lines_and_tabs(api, biobank):
    cohort = save(api, {}, name="lines", description="first\r\nsecond\tcolumn")

    assert cohort["description"] == "first\r\nsecond\tcolumn"


def test_same_name_twice_is_a_400_naming_the_name(api, biobank):
    save(api, {}, name="twice")

    response = api.post(URL, {"name": "twice"}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()


@pytest.mark.parametrize(
    "url",
    [
        URL,
        f"{URL}1/",
        f"{URL}1/versions/",
        f"{URL}1/versions/1/",
        f"{URL}1/versions/1/members/",
        f"{URL}1/versions/1/matrix/",
        f"{URL}1/diff/",
    ],
)
@pytest.mark.attack
def test_anonymous_caller_is_refused(url, db):
    assert APIClient().get(url).status_code == 401


@pytest.mark.attack
def test_anonymous_caller_cannot_save_or_rerun(biobank):
    client = APIClient()

    assert client.post(URL, {"name": "x"}, format="json").status_code == 401
    assert client.post(f"{URL}1/rerun/").status_code == 401


def test_versions_cannot_be_changed_or_deleted(api, biobank):
    cohort = save(api, {"window_days": 5})
    detail = f"{URL}{cohort['id']}/"

    for url in (detail, f"{detail}versions/1/", f"{detail}versions/1/members/"):
        assert api.put(url, {"name": "x"}, format="json").status_code == 405
        assert api.patch(url, {"name": "x"}, format="json").status_code == 405
        assert api.delete(url).status_code == 405
    assert CohortVersion.objects.filter(cohort_id=cohort["id"]).count() == 1


def test_only_the_author_or_a_curator_of_its_project_reruns(
    api, biobank, project, django_user_model
):
    cohort = save(api, {"window_days": 5, "project": project.code})
    colleague, curator, outsider = APIClient(), APIClient(), APIClient()
    colleague.force_authenticate(
        grant(django_user_model.objects.create_user("colleague"), project)
    )
    curator.force_authenticate(
        grant(django_user_model.objects.create_user("keeper"), project, "curator")
    )
    outsider.force_authenticate(django_user_model.objects.create_user("outsider"))

    assert colleague.get(f"{URL}{cohort['id']}/").status_code == 200
    assert colleague.post(f"{URL}{cohort['id']}/rerun/").status_code == 403
    assert curator.post(f"{URL}{cohort['id']}/rerun/").status_code == 200
    assert outsider.get(f"{URL}{cohort['id']}/").status_code == 404


def test_a_cohort_of_no_one_project_is_its_authors_alone(
    api, biobank, project, django_user_model
):
    cohort = save(api, {"window_days": 5})
    colleague = APIClient()
    colleague.force_authenticate(
        grant(django_user_model.objects.create_user("colleague"), project, "manager")
    )

    assert api.get(f"{URL}{cohort['id']}/").status_code == 200
    assert colleague.get(f"{URL}{cohort['id']}/").status_code == 404
    assert cohort["id"] not in [c["id"] for c in colleague.get(URL).json()["results"]]


def test_unknown_version_is_a_404_and_unknown_diff_version_a_400(api, biobank):
    cohort = save(api, {"window_days": 5})

    assert api.get(f"{URL}{cohort['id']}/versions/2/").status_code == 404
    assert api.get(f"{URL}{cohort['id']}/versions/1/matrix/?format=xlsx").json() == {
        "format": ["Format must be one of parquet, csv, json, jsonl."]
    }
    response = api.get(f"{URL}{cohort['id']}/diff/?from=7")
    assert response.status_code == 400
    assert "from" in response.json()


def test_list_queries_do_not_grow_with_cohorts_or_versions(api, biobank):
    save(api, {"window_days": 5}, name="first")
    with_one = count_queries(api, URL)

    for number in range(3):
        cohort = save(api, {"window_days": 5 + number}, name=f"more {number}")
    correct_and_add(biobank)
    assert api.post(f"{URL}{cohort['id']}/rerun/")
    with_four = count_queries(api, URL)

    assert len(with_four) == len(with_one) <= 4, with_four
    assert len(results(api.get(URL))) == 4


def test_member_pages_cost_the_same_for_more_pairs(api, biobank):
    few = save(api, {"window_days": 5}, name="few")
    add_patients(biobank, 4)
    many = save(api, {"window_days": 5}, name="many")

    with_two = count_queries(api, f"{URL}{few['id']}/versions/1/members/")
    with_six = count_queries(api, f"{URL}{many['id']}/versions/1/members/")

    assert len(members(api, many, 1)) == 6
    # And the export log: the projects of the members, the role in each, the record
    # and its projects:
    assert len(with_six) == len(with_two) <= 9, with_six


def test_a_project_outside_the_query_is_refused_with_where_it_goes(api, biobank):
    response = api.post(
        URL,
        {"name": "lung", "project": "demo", "query": {"window_days": 5}},
        format="json",
    )

    assert response.status_code == 400
    assert "Leave project out here" in response.json()["project"][0]
    assert not api.get(URL).json()["results"]


def test_a_definition_with_a_gene_nothing_stored_has_is_refused(api, biobank):
    response = api.post(URL, {"name": "typo", "query": {"gene": "EGRF"}}, format="json")

    assert response.status_code == 400
    assert response.json()["query"] == {
        "gene": ["No variant you may read is of gene EGRF. Did you mean EGFR?"]
    }


def test_a_matrix_with_a_misspelt_engine_or_platform_is_refused(api, biobank):
    matrix = {**MEAN, "software": "pyradiomic", "ctc_platform": "CellSearch"}
    engine = api.post(
        URL, {"name": "typo", "query": {}, "matrix": matrix}, format="json"
    )
    matrix = {**MEAN, "ctc_platform": "CellSerch"}
    platform = api.post(
        URL, {"name": "typo", "query": {}, "matrix": matrix}, format="json"
    )

    assert engine.status_code == 400
    assert "Did you mean pyradiomics?" in engine.json()["matrix"]["software"][0]
    assert platform.status_code == 400
    assert "Did you mean CellSearch?" in platform.json()["matrix"]["ctc_platform"][0]
    assert not api.get(URL).json()["results"]
