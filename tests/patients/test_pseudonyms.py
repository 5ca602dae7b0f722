from __future__ import annotations

from patients.services import pseudonymise, source_key


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
