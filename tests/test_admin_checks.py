"""What the admin's forms refuse beyond the database: a future draw, a parted extraction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from liquidbiopsy.models import BloodSample
from tests.biobank.conftest import Records

pytestmark = pytest.mark.django_db


def test_a_draw_in_the_future_is_refused_by_the_form_check(project):
    patient = Records(project).patient("P-1")
    tomorrow = timezone.now() + dt.timedelta(days=1)
    draw = BloodSample(patient=patient, drawn_at=tomorrow)

    with pytest.raises(ValidationError) as refused:
        draw.full_clean()
    assert refused.value.message_dict["drawn_at"] == ["Draw date is in the future."]

    draw.drawn_at = timezone.now()
    draw.full_clean()  # today is fine


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
