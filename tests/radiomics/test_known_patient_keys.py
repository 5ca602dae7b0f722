"""The stored patients' screen reads every source key, keyed hash or not."""

from __future__ import annotations

from patients.models import Patient
from patients.services import source_key
from radiomics.importers.deid import KnownPatients


def test_keys_that_are_no_keyed_hash_are_passed_over(project):
    # Keys of another form (empty for a patient added by hand, text, short hex)
    # stored before the known patient, so that a misread one would put it out of step:
    for number, key in enumerate(["", "not-a-hash", "ab", "0123"]):
        Patient.objects.create(
            project=project, pseudonym=f"ODD-{number}", source_key=key
        )
    Patient.objects.create(
        project=project,
        pseudonym="KNOWN-1",
        source_key=source_key(project, "MRN0048213"),
    )

    known = KnownPatients.of_project(project.code, project.pk)

    assert known.named_in("lab note for MRN0048213")
    assert not known.named_in("lab note for MRN0048214")
