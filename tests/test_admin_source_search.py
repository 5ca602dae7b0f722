"""A curator finds a patient in the admin by its exact source ID, kept only as a hash."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest

from liquidbiopsy.models import BloodSample
from patients.models import Patient, Project
from patients.services import source_key
from radiomics.models import ImagingStudy
from tests.biobank.conftest import Records
from tests.conftest import grant
from tests.test_admin import admin_url

SOURCE_ID = "77654033"


def patient_of(records: Records, pseudonym: str, source_id: str) -> Patient:
    """A patient with a study and a draw, stored under `source_id`'s keyed hash."""
    patient = records.patient(pseudonym)
    Patient.objects.filter(pk=patient.pk).update(
        source_key=source_key(records.project, source_id)
    )
    records.study(patient, dt.date(2024, 3, 1))
    records.draw(patient, dt.date(2024, 3, 2))
    return patient


@pytest.fixture
def elsewhere(db) -> Project:
    return Project.objects.create(code="other", name="Other collection")


@pytest.fixture
def patients(project, elsewhere) -> dict[str, Patient]:
    """The same source ID in two projects, and another patient of the first."""
    return {
        "mine": patient_of(Records(project), "PT-MINE", SOURCE_ID),
        "neighbour": patient_of(Records(project), "PT-NEXT", "77654034"),
        "foreign": patient_of(Records(elsewhere), "PT-FOREIGN", SOURCE_ID),
    }


@pytest.fixture
def curator_client(client, django_user_model, project):
    """A curator of `project` only."""
    user = django_user_model.objects.create_user("project-curator", is_staff=True)
    client.force_login(grant(user, project, "curator"))
    return client


def listed(client, model, term: str) -> tuple[set[int], str]:
    response = client.get(admin_url(model, "changelist"), {"q": term})
    assert response.status_code == 200
    shown = {record.pk for record in response.context["cl"].result_list}
    return shown, response.content.decode()


@pytest.mark.parametrize("model", [Patient, ImagingStudy, BloodSample])
def test_the_exact_source_id_finds_the_patient_of_the_curators_project(
    model, patients, curator_client
):
    mine = patients["mine"]
    records = [mine] if model is Patient else model.objects.filter(patient=mine)

    shown, _ = listed(curator_client, model, f" {SOURCE_ID} ")

    assert shown == {record.pk for record in records} != set()


@pytest.mark.parametrize("term", [SOURCE_ID[:-1], f"{SOURCE_ID}0", "7765"])
def test_a_part_or_more_of_the_source_id_finds_nothing(term, patients, curator_client):
    shown, _ = listed(curator_client, Patient, term)

    assert shown == set()


def test_a_site_admin_finds_the_patient_of_every_project(patients, client, curator):
    client.force_login(curator)

    shown, _ = listed(client, Patient, SOURCE_ID)

    assert shown == {patients["mine"].pk, patients["foreign"].pk}


def test_the_pseudonym_search_still_works_beside_it(patients, curator_client):
    shown, _ = listed(curator_client, Patient, "PT-NEXT")

    assert shown == {patients["neighbour"].pk}


@pytest.mark.attack
def test_the_source_id_is_echoed_only_where_django_echoes_a_search(
    patients, curator_client, caplog
):
    with caplog.at_level(logging.DEBUG):
        _, page = listed(curator_client, Patient, SOURCE_ID)

    # The search box, and the query string of the list's own links (as Django does
    # for any search):
    rest = page.replace(f'value="{SOURCE_ID}"', "")
    rest = re.sub(rf"q(=|%3D){SOURCE_ID}\b", "", rest)
    assert patients["mine"].pseudonym in page
    assert SOURCE_ID not in rest
    assert SOURCE_ID not in caplog.text


def test_the_source_id_search_is_case_sensitive(project, curator_client):
    """Only the keyed hash is stored, so no other case of the ID can be matched."""
    patient = patient_of(Records(project), "PT-CASE", "MRN0048213")

    assert listed(curator_client, Patient, "MRN0048213")[0] == {patient.pk}
    assert listed(curator_client, Patient, "mrn0048213")[0] == set()
    assert listed(curator_client, Patient, "Mrn0048213")[0] == set()


@pytest.mark.parametrize(
    "term",
    [f"\t{SOURCE_ID}\n", f"\r\n{SOURCE_ID}  ", f"\u00a0{SOURCE_ID}\u00a0"],
    ids=["tab and line feed", "CRLF and spaces", "no-break spaces"],
)
def test_whitespace_pasted_around_the_source_id_is_ignored(
    term, patients, curator_client
):
    shown, _ = listed(curator_client, Patient, term)

    assert shown == {patients["mine"].pk}
