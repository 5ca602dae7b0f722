from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from patients.models import Project
from patients.services import BadProjectCode, get_project, pseudonymise, source_key


def test_same_source_identifier_gets_the_same_pseudonym(project):
    first, created = pseudonymise(project, "MRN0048213")
    again, created_again = pseudonymise(project, " MRN0048213 ")

    assert created and not created_again
    assert first.pk == again.pk
    assert "MRN0048213" not in first.pseudonym


def test_source_identifier_is_stored_only_as_a_keyed_hash(project):
    patient, _ = pseudonymise(project, "MRN0048213")

    assert patient.source_key == source_key(project, "MRN0048213")
    assert "MRN0048213" not in patient.source_key


def test_pseudonyms_are_numbered_within_the_project(project):
    a, _ = pseudonymise(project, "A")
    b, _ = pseudonymise(project, "B")

    assert (a.pseudonym, b.pseudonym) == ("DEMO-00001", "DEMO-00002")


@pytest.mark.parametrize("code", ["../../tmp/escape", "", "a b", "=cmd", "x/y"])
def test_a_project_code_that_is_no_slug_is_refused_and_nothing_created(code, db):
    with pytest.raises(BadProjectCode):
        get_project(code)

    assert not Project.objects.exists()


@pytest.mark.parametrize("command", ["import_ctc", "ingest_dicom"])
def test_import_commands_refuse_a_bad_project_code(command, tmp_path, db):
    path = tmp_path / "in.csv"
    path.write_text("patient_id\n", encoding="utf-8")

    with pytest.raises(CommandError, match="not valid"):
        call_command(command, str(path), project="../../tmp/escape")

    assert not Project.objects.exists()


@pytest.mark.django_db
def test_project_codes_that_differ_only_in_case_are_one_project():
    upper = get_project("UPPER")
    lower = get_project("upper")

    assert lower == upper
    assert Project.objects.filter(code__iexact="upper").count() == 1
    assert get_project("Upper", create=False) == upper
    with pytest.raises(Project.DoesNotExist, match="'absent'"):
        get_project("absent", create=False)
