"""What the admin's forms refuse beyond the database: implausible dates, a parted extraction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from liquidbiopsy.models import BloodSample
from radiomics.models import ImagingStudy
from tests.biobank.conftest import Records

pytestmark = pytest.mark.django_db


def test_a_draw_in_the_future_is_refused_by_the_form_check(project):
    patient = Records(project).patient("P-1")
    tomorrow = timezone.now() + dt.timedelta(days=1)
    draw = BloodSample(patient=patient, drawn_at=tomorrow)

    with pytest.raises(ValidationError) as refused:
        draw.full_clean()
    (message,) = refused.value.message_dict["drawn_at"]
    assert message.startswith("Draw date is in the future (today is ")

    draw.drawn_at = timezone.now()
    draw.full_clean()  # today is fine


@pytest.mark.parametrize("year", [1, 1850])
def test_a_draw_or_study_before_the_earliest_date_is_refused(project, year):
    """0001-01-01 saved in the admin made the timeline and shifted exports a 500."""
    patient = Records(project).patient("P-1")
    draw = BloodSample(
        patient=patient, drawn_at=dt.datetime(year, 1, 1, 12, tzinfo=dt.UTC)
    )
    study = ImagingStudy(
        patient=patient,
        study_instance_uid="2.25.1",
        source_uid_hash="study-1",
        study_date=dt.date(year, 1, 1),
    )

    for record, field in ((draw, "drawn_at"), (study, "study_date")):
        with pytest.raises(ValidationError) as refused:
            record.full_clean()
        (message,) = refused.value.message_dict[field]
        assert "the earliest date the biobank accepts" in message


def test_an_extraction_moved_away_from_its_segmentations_patient_is_refused(project):
    records = Records(project)
    owner, other = records.patient("P-1"), records.patient("P-2")
    study = records.study(owner, dt.date(2024, 3, 1))
    extraction = records.feature(study, "original_firstorder_Mean", 1.0).extraction
    extraction.full_clean()

    extraction.patient = other
    with pytest.raises(ValidationError) as refused:
        extraction.full_clean()
    assert "belongs to another patient" in refused.value.message_dict["patient"][0]
