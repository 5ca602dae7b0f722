"""Every text field of every patient's record shows its dates as free text does.

The rule is inverted (biobank.exports.dates.SHARED_TEXT_FIELDS): a text field is the
patient's free text unless named there with a reason. These tests walk the models, so
a field added later is planted with a day too and must not reach a viewer as written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.apps import apps
from django.db import models

from biobank.api.access import PROJECT_PATHS
from biobank.api.filters import is_patient_text
from biobank.cohorts.matrix import FIXED_COLUMNS
from biobank.cohorts.models import SavedCohort
from biobank.exports.dates import SHARED_TEXT_FIELDS, DateMode, Dater, is_free_text
from tests.api.conftest import Biobank, Side
from tests.api.test_record_keeping_moments import every_answer, viewer_client
from tests.conftest import grant

pytestmark = pytest.mark.usefixtures("renewed_consent")
__all__ = ["viewer_client"]  # a fixture, used by name

# Models of a patient's records that the biobank of tests/api/conftest.py holds none
# of, and why no viewer's answer shows their text:
NOT_PLANTED = {
    "patients.importrun": "an import's report, for curators in the admin",
    "patients.dataissue": "an import's report, for curators in the admin",
    "radiomics.deidentifiedattribute": "an import's report, for curators in the admin",
    "radiomics.imageinstance": "its storage path only, which no answer lists",
    # Copied from the records a viewer was shown (their rows go through the Dater)
    # or written by the user who saves the cohort:
    "cohorts.savedcohort": "the user's own name and description of a cohort",
    "cohorts.cohortversion": "the query, columns and changes the biobank wrote",
    "cohorts.cohortmember": "a study's modalities and evidence, shown as rows",
}
# Text fields planted but shown on no page or answer, to anyone:
NEVER_SHOWN = {
    "patients.patient.source_key",
    "radiomics.imageseries.storage_path",
    "radiomics.segmentation.storage_path",
    "radiomics.featureextraction.source_name",
    "radiomics.featureextraction.image_reference",
    "radiomics.featureextraction.mask_reference",
}
# The first day planted; none of the biobank's records is of that year:
FIRST_PLANTED = dt.date(1987, 1, 1)


def text_fields(model: type[models.Model]) -> Iterator[models.Field]:
    """Yield the fields of `model` that hold text: strings, or JSON holding them."""
    for field in model._meta.concrete_fields:
        if isinstance(field, models.CharField | models.TextField | models.JSONField):
            yield field


def patient_text(model: type[models.Model]) -> list[models.Field]:
    """Return the text fields of `model` that hold a patient's free text: all of a
    patient's record but a controlled vocabulary (choices) and the shared ones."""
    if not PROJECT_PATHS.get(model._meta.label_lower):
        return []
    return [
        field
        for field in text_fields(model)
        if not field.choices and field.name not in SHARED_TEXT_FIELDS
    ]


def records_with_text() -> set[str]:
    """Return the patients' record models (audit history aside) with patient text."""
    return {
        model._meta.label_lower
        for model in apps.get_models()
        if not model.__name__.startswith("Historical") and patient_text(model)
    }


def written(day: dt.date, field: models.Field) -> str | None:
    """Return `day` as it fits in `field`, or None if no date read fits in it."""
    most = getattr(field, "max_length", None) or 200
    for text in (day.isoformat(), day.strftime("%Y%m%d")):
        if len(text) <= most:
            return text
    return None


@pytest.fixture
def planted(biobank: Biobank) -> dict[str, str]:
    """Write a day of its own into every patient text field of patient A's records;
    return each field's label by the day written."""
    records = [getattr(biobank.a, name) for name in Side.__dataclass_fields__]
    records.append(biobank.fusion)
    days: dict[str, str] = {}
    for record in records:
        for field in patient_text(type(record)):
            day = FIRST_PLANTED + dt.timedelta(days=len(days))
            text = written(day, field)
            if text is None:
                continue
            value = {"planted": text} if isinstance(field, models.JSONField) else text
            setattr(record, field.attname, value)
            days[text] = f"{record._meta.label_lower}.{field.name}"
        record.save()
    return days


def test_every_record_with_patient_text_is_planted_or_said_why_not(biobank, planted):
    planted_models = {label.rsplit(".", 1)[0] for label in planted.values()}

    assert records_with_text() - planted_models == set(NOT_PLANTED)


def test_the_filters_refuse_a_viewer_the_same_fields():
    for model in apps.get_models():
        planted = {field.name for field in patient_text(model)}
        for field in text_fields(model):
            assert is_patient_text(model, field.name) is (field.name in planted), (
                f"{model._meta.label_lower}.{field.name}"
            )


def test_the_fields_the_review_named_are_planted(planted):
    named = {
        "patients.patient.histology",
        "patients.treatment.agent",
        "radiomics.imageseries.contrast_agent",
        "radiomics.imageseries.mr_sequence",
        "radiomics.imageseries.manufacturer",
        "radiomics.imageseries.convolution_kernel",
        "radiomics.imagingstudy.body_part",
        "radiomics.imagingstudy.patient_age_raw",
        "radiomics.segmentation.reader",
        "radiomics.featureextraction.parameters",
        "liquidbiopsy.ctccount.platform",
        "liquidbiopsy.circulatingrnaresult.unit",
        "liquidbiopsy.variantresult.protein_change_raw",
    }

    assert named <= set(planted.values())


def test_no_planted_day_reaches_a_viewer_and_a_curator_reads_each_shown_one(
    api, viewer_client, planted, analyst, project
):
    shown_to_viewer = every_answer(api, viewer_client, "shifted")
    # The same walk as a curator, shown calendar dates; it saves its cohort again:
    SavedCohort.objects.update(name="the viewer's walk")
    grant(analyst, project, "curator")
    shown_to_curator = every_answer(api, viewer_client)

    leaks = {
        label: sorted(url for url, body in shown_to_viewer.items() if day in body)
        for day, label in planted.items()
    }
    assert {label: urls for label, urls in leaks.items() if urls} == {}
    shown = {
        label
        for day, label in planted.items()
        if any(day in body for body in shown_to_curator.values())
    }
    # Each field is shown somewhere, so the viewer's answers were no empty test:
    assert set(planted.values()) - shown == NEVER_SHOWN


def test_every_shared_field_says_why_and_names_a_field_or_column():
    names = {
        field.name
        for model in apps.get_models()
        for field in text_fields(model)
        if PROJECT_PATHS.get(model._meta.label_lower)
    }
    columns = {name for name, _, _ in FIXED_COLUMNS}

    for name, reason in SHARED_TEXT_FIELDS.items():
        assert reason.strip(), name
        assert name in names | columns, name


@pytest.mark.parametrize(
    ("name", "is_text"),
    [
        ("histology", True),
        ("contrast_agent", True),
        # A field no one has named yet is the patient's too:
        ("added_later", True),
        ("patient_pseudonym", False),
        ("panel", False),
        ("genomic_change", False),
        ("study_date", False),
    ],
)
def test_a_name_is_patient_text_unless_shared(name, is_text):
    assert is_free_text(name) is is_text


def test_a_row_shows_every_string_as_free_text_but_the_shared_ones():
    row = {
        "patient_pseudonym": "PT-20200122",
        "added_later": "seen 2020-01-22",
        "parameters": {"mask": "GTV_2020-01-22.nrrd", "bins": ["2020-01-22"]},
        "diagnostics": {"source": "CT_2020-01-22.nii"},
        "genomic_change": "chr7:g.20200122A>G",
        "transcript": "SEPT9",
    }

    shown = Dater(DateMode.SHIFTED).row(("demo", "PT-20200122"), row)

    assert shown == {
        "patient_pseudonym": "PT-20200122",
        "added_later": "seen [date]",
        "parameters": {"mask": "GTV_[date].nrrd", "bins": ["[date]"]},
        "diagnostics": {"source": "CT_2020-01-22.nii"},
        "genomic_change": "chr7:g.20200122A>G",
        "transcript": "SEPT9",
    }


def test_a_viewer_cannot_filter_a_named_field_by_a_part_of_its_text(api, biobank):
    answer = api.get("/api/treatments/", {"agent": "carbo"})

    assert answer.status_code == 400, answer.content[:300]
    assert "part of free text" in answer.json()["agent"][0]


def test_a_viewer_cannot_test_a_guess_of_a_day_in_a_named_field(api, biobank):
    biobank.a.series.contrast_agent = "Omnipaque 2020-01-20"
    biobank.a.series.save()

    answer = api.get("/api/image-series/", {"contrast_agent": "Omnipaque 2020-01-20"})

    assert answer.status_code == 400, answer.content[:300]
    assert "names a date" in answer.json()["contrast_agent"][0]


def test_a_viewer_still_filters_a_named_field_by_its_whole_text(api, biobank):
    found = api.get("/api/image-series/", {"contrast_agent": "Omnipaque"})

    assert found.status_code == 200, found.content[:300]
    assert [row["id"] for row in found.json()["results"]] == [biobank.a.series.pk]
