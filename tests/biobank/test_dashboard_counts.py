"""The dashboard's stored counts: kept while nothing changes, counted again after a write.

Most tests here commit (transactional_db): what they check is what happens once a
write commits, which the other tests' rolled-back transactions never do.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from biobank.browse.counts import counts_of
from biobank.core import changes
from biobank.core.changes import current_generation, writes_pending
from biobank.models import ProjectCounts
from liquidbiopsy.models import CfDNAAssay, CTCCount, VariantResult
from patients.models import Project
from radiomics.models import ImagingStudy
from tests.biobank.conftest import Records
from tests.conftest import grant

DAY = dt.date(2024, 3, 1)


def _shown(client, label: str, url: str = "/") -> int:
    html = client.get(url).content.decode()
    found = re.search(
        rf'<th scope="row">{re.escape(label)}</th><td class="number">(\d+)</td>', html
    )
    assert found, f"no row {label!r} in the page"
    return int(found.group(1))


def _counting_queries(client) -> int:
    """How many COUNT queries one dashboard view runs."""
    with CaptureQueriesContext(connection) as captured:
        assert client.get("/").status_code == 200
    return sum("COUNT(" in query["sql"].upper() for query in captured)


@pytest.fixture
def committed(transactional_db, records: Records) -> Records:
    patient = records.patient("P-1")
    records.study(patient, DAY)
    draw = records.draw(patient, DAY)
    records.ctc(draw, 5)
    records.variant(draw, "EGFR", "p.T790M")
    return records


def test_a_second_view_reads_the_stored_counts(logged_in, committed):
    assert _counting_queries(logged_in) > 0
    assert _counting_queries(logged_in) == 0
    stored = ProjectCounts.objects.get(project=committed.project)
    assert stored.generation == current_generation()
    assert stored.counts["variants"] == 1


def test_a_committed_record_is_counted_at_the_next_view(logged_in, committed):
    assert _shown(logged_in, "Patients") == 1
    committed.patient("P-2")

    assert _shown(logged_in, "Patients") == 2
    assert _shown(logged_in, "Patients with imaging and blood draws") == 1


def test_writes_without_model_signals_are_noticed(logged_in, committed):
    """bulk_create, QuerySet.update and QuerySet.delete: Django sends no post_save."""
    assert _shown(logged_in, "Variant results") == 1
    assay = CfDNAAssay.objects.get()
    VariantResult.objects.bulk_create(
        VariantResult(
            assay=assay,
            gene="KRAS",
            protein_change=change,
            variant_key=f"KRAS {change}",
        )
        for change in ("p.G12C", "p.G12D")
    )
    assert _shown(logged_in, "Variant results") == 3

    ImagingStudy.objects.update(study_date=None)
    assert _shown(logged_in, "Imaging studies without a date (they never pair)") == 1

    CTCCount.objects.all().delete()
    assert _shown(logged_in, "CTC counts") == 0


def test_a_write_waits_for_its_commit_before_raising_the_generation(committed):
    before = current_generation()
    with transaction.atomic():
        committed.patient("P-2")
        assert writes_pending()
        assert current_generation() == before
        committed.patient("P-3")
    assert not writes_pending()
    # Two writes in one transaction raise it once:
    assert current_generation() == before + 1


def test_a_rolled_back_transaction_leaves_nothing_pending(committed):
    before = current_generation()
    with pytest.raises(RuntimeError), transaction.atomic():
        committed.patient("P-2")
        raise RuntimeError("the import failed")
    assert current_generation() == before
    with transaction.atomic():
        # A later transaction's write is noticed again:
        committed.patient("P-3")
        assert writes_pending()
    assert current_generation() == before + 1


def test_a_rolled_back_savepoint_takes_its_pending_raise_with_it(committed):
    with transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            committed.patient("P-2")
            raise RuntimeError("one series failed")
        assert not writes_pending()


def test_counts_read_inside_a_writing_transaction_are_not_stored(committed):
    with transaction.atomic():
        committed.patient("P-2")
        assert counts_of([committed.project])["patients"] == 2
    assert not ProjectCounts.objects.exists()
    assert counts_of([committed.project])["patients"] == 2


def test_writes_to_other_tables_keep_the_counts(committed, django_user_model):
    counts_of([committed.project])
    before = current_generation()
    django_user_model.objects.create_user("someone")
    extraction = committed.feature(
        committed.project.patients.get().imaging_studies.get(), "f", 1.0
    ).extraction
    assert current_generation() > before  # the extraction itself is counted
    before = current_generation()
    type(extraction).objects.filter(pk=extraction.pk).update(progress=50)
    assert current_generation() == before


def test_an_extraction_moved_to_another_patient_is_counted_there(logged_in, committed):
    """A curator may correct an extraction's patient in the admin, which saves it whole."""
    other = Project.objects.create(code="other", name="Other")
    moved_to = Records(other).patient("O-1")
    study = committed.project.patients.get().imaging_studies.get()
    extraction = committed.feature(study, "f", 1.0).extraction
    assert _shown(logged_in, "Feature extractions") == 1

    extraction.patient = moved_to
    extraction.save()

    assert _shown(logged_in, "Feature extractions") == 0


def test_a_viewer_sees_the_sum_of_the_projects_it_may_read(
    client, committed, django_user_model
):
    other = Project.objects.create(code="other", name="Other")
    hidden = Project.objects.create(code="hidden", name="Hidden")
    for code in ("O-1", "O-2"):
        Records(other).patient(code)
    Records(hidden).patient("H-1")
    viewer = django_user_model.objects.create_user("viewer")
    grant(viewer, committed.project)
    grant(viewer, other)
    client.force_login(viewer)

    assert _shown(client, "Patients") == 3
    assert _shown(client, "Patients", "/?project=other") == 2
    # Stored per project, so the second view adds up stored counts:
    assert _counting_queries(client) == 0
    assert _shown(client, "Patients") == 3


@pytest.mark.parametrize(
    ("sql", "counted"),
    [
        ('INSERT INTO "liquidbiopsy_variantresult" ("gene") VALUES (%s)', True),
        ('UPDATE "radiomics_imagingstudy" SET "study_date" = NULL', True),
        ('DELETE FROM "patients_patient" WHERE "id" IN (1)', True),
        ('TRUNCATE "auth_user", "patients_patient" CASCADE', True),
        ('INSERT INTO "radiomics_featureextraction" ("status") VALUES (%s)', True),
        ('UPDATE "radiomics_featureextraction" SET "progress" = 50', False),
        (
            'UPDATE "radiomics_featureextraction" SET "status" = %s, "progress" = %s '
            'WHERE "radiomics_featureextraction"."patient_id" = %s',
            False,
        ),
        (
            'UPDATE "radiomics_featureextraction" SET "status" = %s, "patient_id" = %s '
            'WHERE "radiomics_featureextraction"."id" = %s',
            True,
        ),
        ('UPDATE "auth_user" SET "last_login" = %s', False),
        ('SELECT COUNT(*) FROM "patients_patient"', False),
        ('INSERT INTO "patients_historicalpatient" ("id") VALUES (1)', False),
    ],
)
def test_which_statements_change_the_counts(sql, counted):
    assert changes._writes_counted_rows(sql) is counted
