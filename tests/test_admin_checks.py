"""What the admin's forms refuse beyond the database: implausible dates, a parted extraction."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from liquidbiopsy.models import BloodSample
from radiomics.importers.pyradiomics_csv import import_pyradiomics
from radiomics.models import FeatureExtraction, ImagingStudy, Segmentation
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


def _change_form_data(client, url: str) -> dict[str, str]:
    """The values of an admin change form as the browser would send them back."""
    form = client.get(url).context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    return data


@pytest.fixture
def measured(project):
    """An extraction with a value, computed on a segmentation of its patient's study."""
    records = Records(project)
    study = records.study(records.patient("P-1"), dt.date(2024, 3, 1))
    return records.feature(study, "original_firstorder_Mean", 1.0).extraction


@pytest.mark.parametrize("segmentation", ["", "other"])
def test_the_admin_refuses_removing_or_replacing_an_extractions_segmentation(
    admin_client, measured, segmentation
):
    other = Segmentation.objects.create(
        series=measured.segmentation.series,
        roi_name="GTV-2",
        source_kind=Segmentation.SourceKind.RTSTRUCT,
        source_uid_hash="roi-other",
    )
    url = reverse("admin:radiomics_featureextraction_change", args=[measured.pk])
    data = _change_form_data(admin_client, url)
    data["segmentation"] = other.pk if segmentation == "other" else ""

    response = admin_client.post(url, data)

    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors["segmentation"]
    word = "changed" if segmentation == "other" else "removed"
    assert message.startswith(f"The segmentation of an extraction cannot be {word}: ")
    assert message in response.content.decode().replace("&#x27;", "'")
    measured.refresh_from_db()
    assert measured.segmentation_id is not None and measured.segmentation != other


def test_reverting_an_extraction_to_before_its_segmentation_is_refused(
    admin_client, measured
):
    """A PyRadiomics row imported without its series is linked to one later."""
    segmentation = measured.segmentation
    FeatureExtraction.objects.filter(pk=measured.pk).update(segmentation=None)
    unlinked = FeatureExtraction.objects.get(pk=measured.pk)
    unlinked.save()  # the history row of the import, without a segmentation
    linked = FeatureExtraction.objects.get(pk=measured.pk)
    linked.segmentation = segmentation
    linked.full_clean()  # an extraction without one may be given one
    linked.save()
    before = linked.history.order_by("history_id").last().prev_record
    url = reverse(
        "admin:radiomics_featureextraction_simple_history",
        args=[measured.pk, before.history_id],
    )

    response = admin_client.post(url, _change_form_data(admin_client, url))

    assert response.status_code == 200
    assert "cannot be removed" in response.content.decode()
    assert FeatureExtraction.objects.get(pk=measured.pk).segmentation == segmentation


def test_an_extraction_imported_without_a_segmentation_still_saves(project, tmp_path):
    path = tmp_path / "features.csv"
    path.write_text(
        "Image,Mask,original_firstorder_Mean,PatientID\n"
        "/data/ct.nrrd,/data/mask.nrrd,2.5,P-9\n"
    )
    import_pyradiomics(path, project, create_patients=True)
    extraction = FeatureExtraction.objects.get()

    extraction.software_version = "3.0.1"
    extraction.full_clean()

    assert extraction.segmentation is None
