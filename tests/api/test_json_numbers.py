"""Decimal values (ages) are JSON numbers in answers and the schema, as other numbers."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from rest_framework.test import APIClient

from patients.models import Patient
from radiomics.models import ImagingStudy


@pytest.fixture
def aged(biobank):
    Patient.objects.filter(pk=biobank.a.patient.pk).update(
        age_at_diagnosis_years=Decimal("59.125")
    )
    ImagingStudy.objects.filter(pk=biobank.a.study.pk).update(
        patient_age_years=Decimal("43.00")
    )
    return biobank


def answer(api: APIClient, url: str) -> dict:
    response = api.get(url)
    assert response.status_code == 200, response.content[:500]
    # The body as sent, not response.data (which holds the Decimal itself):
    return json.loads(response.content)


@pytest.mark.parametrize(
    ("url", "field", "number"),
    [
        ("/api/patients/{a.patient.pk}/", "age_at_diagnosis_years", 59.125),
        ("/api/imaging-studies/{a.study.pk}/", "patient_age_years", 43.0),
    ],
)
def test_a_stored_decimal_is_a_json_number(url, field, number, api, aged):
    data = answer(api, url.format(a=aged.a))

    assert type(data[field]) is float
    assert data[field] == number


def test_pandas_reads_a_list_of_studies_with_a_float_age(api, aged):
    rows = answer(api, "/api/imaging-studies/")["results"]

    frame = pd.DataFrame(rows).set_index("id")

    assert frame["patient_age_years"].dtype == "float64"
    assert frame.loc[aged.a.study.pk, "patient_age_years"] == 43.0


def test_no_field_of_the_schema_is_a_decimal_string(api):
    text = api.get("/api/schema/?format=json").content.decode()
    schemas = json.loads(text)["components"]["schemas"]

    assert '"format": "decimal"' not in text and '"format":"decimal"' not in text
    for component, field in [
        ("ImagingStudy", "patient_age_years"),
        ("Patient", "age_at_diagnosis_years"),
        ("PatientRequest", "age_at_diagnosis_years"),
    ]:
        assert schemas[component]["properties"][field]["type"] == "number", component


@pytest.mark.parametrize(("given", "stored"), [(61.5, "61.500"), ("61.2345", "61.234")])
def test_a_write_still_takes_a_number_or_a_numeric_string(
    given, stored, curator, biobank
):
    client = APIClient()
    client.force_authenticate(curator)

    response = client.patch(
        f"/api/patients/{biobank.a.patient.pk}/",
        {"age_at_diagnosis_years": given},
        format="json",
    )

    assert response.status_code == 200, response.content[:500]
    biobank.a.patient.refresh_from_db()
    assert biobank.a.patient.age_at_diagnosis_years == Decimal(stored)
    assert json.loads(response.content)["age_at_diagnosis_years"] == float(stored)
