"""How the DICOM ingest finds what is stored already: for the whole batch at once."""

from __future__ import annotations

import pydicom
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries

pytestmark = pytest.mark.django_db


def selects_from(queries: CaptureQueriesContext, table: str) -> int:
    return sum(
        1
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]
    )


def test_a_batch_looks_up_its_stored_series_and_files_once(make_ct, inbox, project):
    for series in (1, 2, 3):
        for number in (1, 2):
            make_ct(
                f"s{series}_{number}.dcm",
                StudyInstanceUID="1.2.3",
                SeriesInstanceUID=f"1.2.3.{series}",
                InstanceNumber=number,
            )

    with CaptureQueriesContext(connection) as queries:
        report = ingest_dicom(inbox, project)

    assert report.created["series"] == 3
    # Once for the batch, not once a series:
    assert selects_from(queries, "radiomics_imageseries") == 1
    assert selects_from(queries, "radiomics_imageinstance") == 1


def test_a_series_uid_in_two_studies_goes_into_the_series_stored_first(
    make_ct, inbox, project
):
    # The batch was looked up before the first study's series was stored:
    for study in (1, 2):
        for number in (1, 2):
            make_ct(
                f"st{study}_{number}.dcm",
                StudyInstanceUID=f"1.2.3.{study}",
                SeriesInstanceUID="1.2.3.9",
                InstanceNumber=2 * study + number,
            )

    report = ingest_dicom(inbox, project)

    assert report.rejected == []
    assert ImageSeries.objects.get().instance_count == 4


def test_a_sop_uid_stored_by_an_earlier_series_of_the_batch_is_a_conflict(
    make_ct, inbox, project
):
    first = make_ct("a1.dcm", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.1")
    make_ct(
        "b1.dcm",
        StudyInstanceUID="1.2.3",
        SeriesInstanceUID="1.2.3.2",
        InstanceNumber=1,
    )
    make_ct(
        "b2.dcm",
        StudyInstanceUID="1.2.3",
        SeriesInstanceUID="1.2.3.2",
        SOPInstanceUID=pydicom.dcmread(first).SOPInstanceUID,
        InstanceNumber=2,
    )

    report = ingest_dicom(inbox, project)

    # Found stored though the batch was looked up before: the rest of b is stored.
    assert [(p.source, p.code) for p in report.rejected] == [
        ("b2.dcm", "content-conflict")
    ]
    assert ImageInstance.objects.count() == 2
