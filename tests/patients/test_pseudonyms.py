from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command

from patients import services
from patients.models import Patient, Project
from patients.services import (
    PSEUDONYM_ALPHABET,
    BadProjectCode,
    get_project,
    is_checked_pseudonym,
    pseudonymise,
    source_key,
)


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


def test_a_new_pseudonym_is_the_project_code_a_random_token_and_a_check_character(
    project,
):
    patient, _ = pseudonymise(project, "A")

    assert re.fullmatch(r"DEMO-[0-9A-HJKMNP-TV-Z]{7}", patient.pseudonym)
    assert is_checked_pseudonym(patient.pseudonym)


def test_pseudonyms_do_not_follow_the_order_of_the_source(project):
    # Hospital numbers in admission order: numbered pseudonyms would keep that order.
    source_ids = [f"MRN{n:07d}" for n in range(1, 41)]

    pseudonyms = [pseudonymise(project, s)[0].pseudonym for s in source_ids]

    assert len(set(pseudonyms)) == len(source_ids)
    assert pseudonyms != sorted(pseudonyms)


def test_one_mistyped_or_swapped_character_fails_the_check(project):
    patient, _ = pseudonymise(project, "A")
    token = patient.pseudonym.removeprefix("DEMO-")

    for i, character in enumerate(token):
        for other in PSEUDONYM_ALPHABET.replace(character, ""):
            assert not is_checked_pseudonym(f"DEMO-{token[:i]}{other}{token[i + 1 :]}")
    for i in range(len(token) - 1):
        if token[i] != token[i + 1]:
            swapped = token[:i] + token[i + 1] + token[i] + token[i + 2 :]
            assert not is_checked_pseudonym(f"DEMO-{swapped}")


def test_a_token_already_taken_is_drawn_again(project, monkeypatch):
    first, _ = pseudonymise(project, "A")
    drawn = iter([first.pseudonym, first.pseudonym, "DEMO-FRESH01"])
    monkeypatch.setattr(services, "new_pseudonym", lambda _project: next(drawn))

    second, created = pseudonymise(project, "B")

    assert created
    assert second.pseudonym == "DEMO-FRESH01"
    assert Patient.objects.get(pk=first.pk).pseudonym == first.pseudonym


def test_numbered_pseudonyms_given_before_are_kept(project):
    older = Patient.objects.create(
        project=project, pseudonym="DEMO-00001", source_key=source_key(project, "OLD")
    )

    again, created = pseudonymise(project, "OLD")
    newer, _ = pseudonymise(project, "NEW")

    assert (again.pk, again.pseudonym, created) == (older.pk, "DEMO-00001", False)
    assert newer.pseudonym != "DEMO-00002" and is_checked_pseudonym(newer.pseudonym)


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
