"""The admin shows computed values (features, scores, robustness) but does not edit them."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.db.models import Model
from django.test.utils import CaptureQueriesContext

from patients.models import Patient
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageInstance,
    ImageSeries,
    ImagingStudy,
    RadiomicSignature,
    Segmentation,
    SignatureScore,
)
from tests.biobank.conftest import Records
from tests.conftest import grant
from tests.test_admin import admin_url


@pytest.fixture
def value(project) -> FeatureValue:
    records = Records(project)
    study = records.study(records.patient("P-1"), dt.date(2024, 3, 1))
    return records.feature(study, "original_firstorder_Mean", 1.5)


@pytest.fixture
def computed(value) -> dict[type[Model], Model]:
    """One record of each computed model: a MIRP value, its score and a robustness row."""
    FeatureExtraction.objects.filter(pk=value.extraction_id).update(
        software="mirp", software_version="2.3.1"
    )
    signature = RadiomicSignature.objects.create(name="Illustrative")
    score = SignatureScore.objects.create(
        signature=signature, extraction=value.extraction, score=0.4
    )
    robustness = FeatureRobustness.objects.create(
        feature=value.feature,
        design="readers",
        form="ICC(2,1)",
        icc=0.9,
        ci_low=0.8,
        ci_high=0.95,
        threshold=0.75,
        is_robust=True,
    )
    return {FeatureValue: value, SignatureScore: score, FeatureRobustness: robustness}


@pytest.fixture(params=["superuser", "project curator"])
def curator_client(request, client, curator, django_user_model, project):
    if request.param == "superuser":
        client.force_login(curator)
    else:
        user = django_user_model.objects.create_user("project-curator")
        client.force_login(grant(user, project, "curator"))
    return client


@pytest.mark.parametrize(
    ("model", "field", "new"),
    [
        (FeatureValue, "value", "99.0"),
        (SignatureScore, "score", "99.0"),
        (FeatureRobustness, "icc", "0.1"),
    ],
    ids=lambda item: getattr(item, "__name__", None),
)
def test_computed_values_are_shown_but_not_added_or_changed(
    model, field, new, computed, curator_client
):
    record = computed[model]
    was = getattr(record, field)
    url = admin_url(model, "change", record.pk)

    page = curator_client.get(url)
    posted = curator_client.post(url, {field: new})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert str(was) in page.content.decode()
    assert posted.status_code == 403
    record.refresh_from_db()
    assert getattr(record, field) == was
    assert curator_client.get(admin_url(model, "add")).status_code == 403


def test_a_wrong_feature_value_is_deleted_and_its_extraction_rescored(
    computed, curator_client
):
    """docs/signatures_and_robustness.md: deleting a value in the admin is allowed."""
    value = computed[FeatureValue]

    response = curator_client.post(
        admin_url(FeatureValue, "delete", value.pk), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not FeatureValue.objects.filter(pk=value.pk).exists()


COMPUTED_EXTRACTION_FIELDS = [
    "software",
    "software_version",
    "preset",
    "parameters",
    "diagnostics",
    "fingerprint",
    "image_reference",
    "mask_reference",
    "label",
    "status",
]


def test_an_extractions_provenance_is_read_only_and_none_is_added_by_hand(
    computed, curator_client
):
    extraction = computed[FeatureValue].extraction
    url = admin_url(FeatureExtraction, "change", extraction.pk)

    page = curator_client.get(url)
    form = page.context["adminform"].form
    data = {
        "patient": extraction.patient_id,
        "segmentation": extraction.segmentation_id,
        "software": "pyradiomics",
        "software_version": "0.0",
        "fingerprint": "forged",
        "parameters": '{"binWidth": 1}',
    }
    posted = curator_client.post(url, data)

    assert [name for name in COMPUTED_EXTRACTION_FIELDS if name in form.fields] == []
    assert "mirp" in page.content.decode()
    assert posted.status_code == 302
    extraction.refresh_from_db()
    assert (extraction.software, extraction.software_version) == ("mirp", "2.3.1")
    assert extraction.fingerprint.startswith("extraction-")
    assert extraction.parameters == {}
    assert curator_client.get(admin_url(FeatureExtraction, "add")).status_code == 403


# Imaging records are what their DICOM files say (radiomics/admin.py FromTheFilesMixin):


@pytest.fixture
def two_patients(value, project):
    """The value's study, series and segmentation (patient P-1), and patient P-2's study."""
    records = Records(project)
    other = records.study(records.patient("P-2"), dt.date(2024, 4, 1))
    extraction = value.extraction
    return extraction.segmentation, other


@pytest.mark.parametrize("model", [ImageSeries, ImageInstance])
def test_a_series_or_instance_is_shown_but_never_changed(
    model, two_patients, curator_client
):
    segmentation, other = two_patients
    series = segmentation.series
    record = (
        series
        if model is ImageSeries
        else ImageInstance.objects.create(
            series=series,
            sop_instance_uid="2.25.9",
            source_uid_hash="instance-9",
            content_sha256="0" * 64,
            sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
            storage_path="demo/x/9.dcm",
        )
    )
    url = admin_url(model, "change", record.pk)
    moved = {"study": other.pk} if model is ImageSeries else {"series": 0}

    page = curator_client.get(url)
    posted = curator_client.post(url, {**moved, "modality": "PT"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert posted.status_code == 403
    series.refresh_from_db()
    assert (series.study_id, series.modality) == (segmentation.series.study_id, "CT")


def test_a_segmentation_keeps_its_series(two_patients, curator_client):
    segmentation, other = two_patients
    target = other.series.first()
    url = admin_url(Segmentation, "change", segmentation.pk)

    form = curator_client.get(url).context["adminform"].form
    curator_client.post(url, {"series": target.pk, "roi_name": "GTV-2"})

    assert "series" not in form.fields
    segmentation.refresh_from_db()
    assert segmentation.series_id != target.pk


def test_a_study_keeps_its_patient_and_a_patient_its_pseudonym(
    two_patients, curator_client
):
    segmentation, other = two_patients
    study = segmentation.series.study
    patient = study.patient

    study_form = curator_client.get(admin_url(ImagingStudy, "change", study.pk))
    patient_form = curator_client.get(admin_url(Patient, "change", patient.pk))

    assert "patient" not in study_form.context["adminform"].form.fields
    fields = patient_form.context["adminform"].form.fields
    assert "pseudonym" not in fields and "project" not in fields
    assert patient.pseudonym in patient_form.content.decode()
    # Adding a patient by hand still names its pseudonym:
    added = curator_client.get(admin_url(Patient, "add"))
    assert "pseudonym" in added.context["adminform"].form.fields


# A feature value is named by its feature, in queries that do not grow with the values:


def add_values(value: FeatureValue, count: int) -> None:
    for number in range(count):
        definition = FeatureDefinition.objects.create(
            name=f"original_glcm_Extra{number}", family="glcm", feature_name="Extra"
        )
        FeatureValue.objects.create(
            extraction=value.extraction, feature=definition, value=number
        )


def queries_of(client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url)
    assert page.status_code == 200
    return len(queries), page.content.decode()


def test_a_feature_value_is_named_by_its_feature(value):
    assert str(value) == "original_firstorder_Mean = 1.5"


@pytest.mark.parametrize("deleted", ["extraction", "value"])
def test_a_delete_confirmation_names_the_features_in_as_many_queries_for_more(
    deleted, value, curator_client
):
    record = value.extraction if deleted == "extraction" else value
    url = admin_url(type(record), "delete", record.pk)
    few, _ = queries_of(curator_client, url)
    add_values(value, 5)

    many, page = queries_of(curator_client, url)

    assert "Feature value: <a" in page
    assert ">original_firstorder_Mean = 1.5</a>" in page
    assert many == few


def test_the_feature_value_list_reads_as_many_queries_for_more_values(
    value, curator_client
):
    url = admin_url(FeatureValue, "changelist")
    few, _ = queries_of(curator_client, url)
    add_values(value, 5)

    many, page = queries_of(curator_client, url)

    assert "original_glcm_Extra4" in page
    assert many == few


def test_deleting_selected_values_logs_each_by_its_feature(value, curator_client):
    add_values(value, 2)
    selected = list(FeatureValue.objects.values_list("pk", flat=True))

    response = curator_client.post(
        admin_url(FeatureValue, "changelist"),
        {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
    )

    assert response.status_code == 302
    logged = set(LogEntry.objects.values_list("object_repr", flat=True))
    assert "original_firstorder_Mean = 1.5" in logged
    assert not FeatureValue.objects.exists()
