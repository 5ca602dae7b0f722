"""Messages of an import keep the biobank's own words and lose the identifiers they quote.

A patient's name part may be a word of a message: pydicom's test patient IMPLICIT^VR^TEST
against "read as Implicit VR Little Endian". So only what a message takes from the input
(a file name, a value, what pydicom said) is screened, and that always is.
"""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from biobank.core.importing import Message, Problem
from patients.models import DataIssue
from radiomics.importers.deid import IdentifierScreen
from radiomics.importers.dicom import ingest_dicom

NAME = "IMPLICIT^VR^TEST"
FILE = "[redacted]_[redacted]_[redacted]_1.dcm"
NO_PART10 = (
    "has no Part-10 header (preamble, DICM, file meta); it was read as "
    "Implicit VR Little Endian and is stored with one."
)


def test_a_message_is_screened_in_its_fields_only():
    screen = IdentifierScreen()
    screen.add_name(NAME)
    message = Message(
        "it was read as {syntax}; see {file}.",
        syntax=Message.own("Implicit VR Little Endian"),
        file="implicit_vr_test_1.dcm",
    )

    screened = screen.redact(message, short_numbers=False)

    assert screened == f"it was read as Implicit VR Little Endian; see {FILE}."
    # Screened again, as the PyRadiomics import screens its errors, it stays:
    assert screen.redact(screened) == screened
    # Text that is no Message counts as input all through:
    assert screen.redact(str(message)) == (
        f"it was read as [redacted] [redacted] Little Endian; see {FILE}."
    )


def test_a_name_that_runs_from_the_wording_into_a_field_goes_whole():
    screen = IdentifierScreen()
    screen.add_name("Smith^Johnathan")

    glued = screen.redact(Message("ROI SMI{rest}", rest="TH_1"))
    apart = screen.redact(Message("{family}_{given}.dcm", family="Smith", given="John"))

    assert glued == "ROI [redacted]_1"
    # JOHN alone is no name, but beside SMITH it is the start of JOHNATHAN:
    assert apart == "[redacted]_[redacted].dcm"


@pytest.fixture
def implicit_vr_test(inbox: Path) -> Path:
    """pydicom's implicit-VR MR, bare, of patient IMPLICIT^VR^TEST, and a stray file.

    Its Specific Character Set holds the name too, which pydicom quotes when it warns
    that it knows no such encoding. A copy in a study of its own shares its series
    with a file of another PatientID, so that series' rejection names the copy.
    (The stray file sits in a study of its own since a series that mixes patients is
    refused whole, and so is a study.)
    """
    ds = Dataset(pydicom.dcmread(get_testdata_file("MR_small_implicit.dcm")))
    ds.PatientName = NAME
    ds.SpecificCharacterSet = "IMPLICIT_VR_TEST"
    ds.save_as(inbox / "implicit_vr_test_1.dcm", implicit_vr=True, little_endian=True)

    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.SOPInstanceUID = generate_uid()
    ds.save_as(inbox / "implicit_vr_test_2.dcm", implicit_vr=True, little_endian=True)
    ds.PatientID = "SYN-0445"
    ds.SOPInstanceUID = generate_uid()
    ds.InstanceNumber = 2
    ds.save_as(inbox / "second.dcm", implicit_vr=True, little_endian=True)
    return inbox


def quoted(problem: Problem) -> list[str]:
    """Return what a problem took from the input: file, value and message fields."""
    message = problem.message
    assert isinstance(message, Message)
    fields = [text for text, is_input in message.parts if is_input]
    return [problem.source, problem.value, *fields]


def name_parts_in(texts: list[str]) -> list[str]:
    # IMPLICIT and TEST are looked for anywhere, VR as a word, as the screen does:
    pattern = re.compile(r"IMPLICIT|TEST|(?<![A-Z])VR(?![A-Z])")
    return [text for text in texts if pattern.search(text.upper())]


@pytest.mark.django_db
@pytest.mark.filterwarnings("ignore:Unknown encoding")
def test_an_import_keeps_its_wording_and_screens_what_it_quotes(
    implicit_vr_test, project
):
    report = ingest_dicom(implicit_vr_test, project)

    problems = {p.code: p for p in [*report.warnings, *report.rejected]}
    assert (
        problems["no-part10-header"].source,
        problems["no-part10-header"].message,
    ) == (
        FILE,
        NO_PART10,
    )
    assert DataIssue.objects.get(code="no-part10-header").message == NO_PART10
    # The name in a file name quoted by a message, and in what pydicom said:
    assert problems["patient-mismatch"].message == (
        "belongs to a series whose 2 files name 2 patients in PatientID (0010,0020): "
        f"1 file with the PatientID of {FILE[:-5]}2.dcm, 1 file with that of "
        "second.dcm. A series is of one patient, so none of its files was imported; "
        "sort them by patient and import them again."
    )
    assert (
        "Unknown encoding '[redacted]_[redacted]_[redacted]' - using default encoding"
        in problems["pydicom-warning"].message
    )
    assert name_parts_in([text for p in problems.values() for text in quoted(p)]) == []
    assert (
        name_parts_in(list(DataIssue.objects.values_list("source_name", flat=True)))
        == []
    )
