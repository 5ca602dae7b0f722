"""Saved cohorts as services: definitions, frozen versions, re-runs, diffs and the admin."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from django.urls import reverse

from biobank.cohorts.models import CohortMember, CohortVersion, SavedCohort
from biobank.cohorts.query import find_pairs
from biobank.cohorts.saved import (
    DefinitionInvalid,
    FrozenMatrixDamaged,
    diff_versions,
    frozen_matrix_path,
    read_frozen_matrix,
    rerun_cohort,
    save_cohort,
    validate_definition,
)
from radiomics.models import FeatureDefinition, FeatureValue
from tests.biobank.conftest import Records
from tests.conftest import grant


@pytest.fixture
def author(db, django_user_model, project):
    return grant(django_user_model.objects.create_user("author"), project)


@pytest.fixture
def cohort_records(records: Records) -> dict:
    """Two patients: A has two draws near one CT study, B one draw near an MR study."""
    a = records.patient("PT-A")
    b = records.patient("PT-B", cancer_type="PRAD")
    a_study = records.study(a, dt.date(2024, 3, 1))
    b_study = records.study(b, dt.date(2024, 5, 1), modalities="MR")
    a_near = records.draw(a, dt.date(2024, 3, 3))
    a_far = records.draw(a, dt.date(2024, 3, 20))
    b_draw = records.draw(b, dt.date(2024, 4, 28))
    records.ctc(a_near, 8)
    records.ctc(b_draw, 2)
    value = records.feature(a_study, "original_firstorder_Mean", 10.0, "Q4LE")
    return {
        "a_study": a_study,
        "b_study": b_study,
        "a_near": a_near,
        "a_far": a_far,
        "b_draw": b_draw,
        "value": value,
    }


def save(author, query: dict, matrix: dict | None = None, name: str = "cohort"):
    definition = validate_definition({"query": query, "matrix": matrix or {}})
    return save_cohort(name=name, definition=definition, author=author)


def test_definition_is_stored_as_the_cohort_query_parameters(cohort_records):
    definition = validate_definition(
        {
            "query": {"modality": "ct", "min_ctc": 0, "project": "demo", "gene": ""},
            "matrix": {"features": "Q4LE, Q4LE"},
        }
    )

    assert definition.query == {
        "window_days": 30,
        "mode": "all",
        "project": "demo",
        "modality": "CT",
        "min_ctc": 0.0,
    }
    assert definition.matrix["features"] == ["Q4LE"]
    assert definition.criteria.min_ctc_per_7_5ml == 0.0
    assert definition.project_code == "demo"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"query": {"mode": "closest"}}, "mode"),
        ({"query": {"window_days": 5000}}, "window_days"),
        ({"query": {"gene": True}}, "gene"),
        ({"query": {"min_ctc": {"at_least": 3}}}, "min_ctc"),
        ({"query": {"variant": "p.T790M"}}, "gene"),
        (
            {"query": {"feature": "Q4LE", "feature_min": 3, "feature_max": 1}},
            "feature_max",
        ),
    ],
)
def test_bad_query_names_the_parameter(db, data, field):
    with pytest.raises(DefinitionInvalid) as raised:
        validate_definition(data)

    assert field in raised.value.errors["query"]


def test_unknown_part_of_a_definition_is_refused(db):
    with pytest.raises(DefinitionInvalid) as raised:
        validate_definition({"query": {}, "filters": {}})

    assert set(raised.value.errors) == {"filters"}


def test_saved_members_are_the_pairs_of_the_query(author, cohort_records):
    cohort = save(author, {"window_days": 30, "mode": "nearest"})

    version = cohort.versions.get()
    expected = find_pairs(validate_definition(cohort.definition).criteria)
    frozen = list(version.members.order_by("position"))
    assert [(m.study_pk, m.sample_pk, m.days_apart) for m in frozen] == [
        (row.study_id, row.sample_id, row.days_apart) for row in expected
    ]
    assert [m.sample_pk for m in frozen] == [
        cohort_records["a_near"].pk,
        cohort_records["b_draw"].pk,
    ]
    assert (version.number, version.pair_count, version.patient_count) == (1, 2, 2)
    assert version.created_by == author


def test_frozen_matrix_is_stored_under_its_checksum(
    author, cohort_records, storage_root
):
    cohort = save(author, {"window_days": 30}, {"features": ["Q4LE"]})

    version = cohort.versions.get()
    path = frozen_matrix_path(version)
    assert path == Path(storage_root) / version.matrix_path
    assert path.name == f"{version.matrix_sha256}.parquet"
    assert path.stat().st_size == version.matrix_bytes
    matrix = read_frozen_matrix(version)
    assert list(matrix.columns) == [name for name, _ in version.matrix_columns]
    assert list(matrix["feature.original_firstorder_Mean"].fillna(-1)) == [
        10.0,
        10.0,
        -1,
    ]


def test_missing_or_altered_frozen_file_is_refused(author, cohort_records):
    version = save(author, {"window_days": 30}).versions.get()
    path = frozen_matrix_path(version)

    path.write_bytes(path.read_bytes()[:-1] + b"\0")
    with pytest.raises(FrozenMatrixDamaged, match="SHA-256"):
        frozen_matrix_path(version)
    path.unlink()
    with pytest.raises(FrozenMatrixDamaged, match="missing"):
        frozen_matrix_path(version)


def test_rerun_reports_a_corrected_draw_moment_and_a_new_draw(
    author, records, cohort_records
):
    cohort = save(author, {"window_days": 30, "min_ctc": 1}, {"features": ["Q4LE"]})
    near = cohort_records["a_near"]
    near.drawn_at = near.drawn_at + dt.timedelta(days=1)
    near.save()
    added = records.draw(near.patient, dt.date(2024, 3, 2))
    records.ctc(added, 3)

    result = rerun_cohort(cohort, author)

    assert result.is_new and result.version.number == 2
    assert [pair["sample_id"] for pair in result.diff["pairs_added"]] == [added.pk]
    changed = {
        change["column"]: (change["old"], change["new"])
        for change in result.diff["values_changed"]
        if change["sample_id"] == near.pk
    }
    assert changed["days_apart"] == (2, 3)
    assert changed["drawn_on"] == ("2024-03-03", "2024-03-04")
    old_v1 = read_frozen_matrix(cohort.versions.get(number=1))
    assert list(old_v1["days_apart"]) == [2, -3]


def test_rerun_without_changes_makes_no_version(author, cohort_records):
    cohort = save(author, {"window_days": 30}, {"features": ["*"]})

    result = rerun_cohort(cohort, author)

    assert not result.is_new
    assert result.version.number == 1
    assert CohortVersion.objects.filter(cohort=cohort).count() == 1
    assert not list(
        Path(frozen_matrix_path(result.version).parent.parent).glob("new-*")
    )
    cohort.refresh_from_db()
    assert cohort.checked_at is not None


def test_rerun_of_a_definition_that_no_longer_validates_names_the_field(
    author, cohort_records
):
    cohort = save(author, {"feature": "Q4LE", "feature_min": 1})
    FeatureValue.objects.all().delete()
    FeatureDefinition.objects.all().delete()

    with pytest.raises(DefinitionInvalid) as raised:
        rerun_cohort(cohort, author)

    assert "feature" in raised.value.errors["query"]
    assert cohort.versions.count() == 1


def test_diff_of_versions_reads_their_frozen_data(author, records, cohort_records):
    cohort = save(author, {"window_days": 30})
    cohort_records["value"].delete()
    records.draw(cohort_records["b_draw"].patient, dt.date(2024, 5, 2))
    rerun_cohort(cohort, author)
    first, second = cohort.versions.order_by("number")

    forward = diff_versions(first, second)
    same = diff_versions(second, second)

    assert forward["counts"]["pairs_added"] == 1
    assert forward["columns_added"] == forward["columns_removed"] == []
    assert same["counts"] == {
        "pairs_added": 0,
        "pairs_removed": 0,
        "values_changed": 0,
        "pairs_changed": 0,
    }


def test_deleting_records_keeps_the_members_with_their_copied_values(
    author, cohort_records
):
    version = save(author, {"window_days": 30}).versions.get()

    cohort_records["a_study"].patient.delete()

    members = list(version.members.order_by("position"))
    assert [m.patient_pseudonym for m in members] == ["PT-A", "PT-A", "PT-B"]
    assert [m.study_id for m in members] == [None, None, cohort_records["b_study"].pk]
    assert members[0].study_instance_uid == cohort_records["a_study"].study_instance_uid
    assert len(pd.read_parquet(frozen_matrix_path(version))) == 3


def test_admin_shows_saved_cohorts_read_only(client, curator, author, cohort_records):
    cohort = save(author, {"window_days": 30})
    version = cohort.versions.get()
    member = CohortMember.objects.filter(version=version).first()
    client.force_login(curator)

    pages = [
        reverse("admin:cohorts_savedcohort_changelist"),
        reverse("admin:cohorts_savedcohort_change", args=[cohort.pk]),
        reverse("admin:cohorts_cohortversion_changelist"),
        reverse("admin:cohorts_cohortversion_change", args=[version.pk]),
        reverse("admin:cohorts_cohortmember_changelist")
        + f"?version__id__exact={version.pk}",
        reverse("admin:cohorts_cohortmember_change", args=[member.pk]),
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url

    assert client.get(reverse("admin:cohorts_savedcohort_add")).status_code == 403
    assert (
        client.post(
            reverse("admin:cohorts_cohortversion_delete", args=[version.pk])
        ).status_code
        == 403
    )
    assert SavedCohort.objects.count() == 1
    assert "3 pairs" in client.get(pages[3]).content.decode()


def test_admin_says_one_pair_in_the_singular(client, curator, author, cohort_records):
    cohort = save(author, {"window_days": 30, "modality": "MR"})
    version = cohort.versions.get()
    client.force_login(curator)

    page = client.get(reverse("admin:cohorts_cohortversion_change", args=[version.pk]))

    assert version.pair_count == 1
    assert f'?version__id__exact={version.pk}">1 pair</a>' in page.content.decode()
