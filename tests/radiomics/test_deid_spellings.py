"""Names spelt without accents or transliterated, and birth dates written as people
write dates, are found in kept header text: in the patient's own files and in the
files of the batch's other patients.

The reviewer's case: a patient MÜLLER^HANS kept "Muller follow-up" and "Mueller
follow-up" in his own file, a batch neighbour of JOSÉ^NUÑEZ kept "Nunez follow-up",
and a birth date 19610203 written "born 3.2.1961" or "3 Feb 1961" stayed.
"""

from __future__ import annotations

import pytest

from patients.services import source_key
from radiomics.importers.deid import IdentifierScreen
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance
from tests.radiomics.conftest import build_ct, stored_dataset, write_part10

pytestmark = [
    pytest.mark.filterwarnings("ignore:The value length"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

OWN_ID, OTHER_ID = "SYN-2222", "SYN-1111"
BIRTH_DATE = "19610203"  # 3 February 1961


def stored_description(project, patient_id: str) -> set[str]:
    instances = ImageInstance.objects.filter(
        series__study__patient__source_key=source_key(project, patient_id)
    )
    return {str(stored_dataset(i).get("SeriesDescription", "")) for i in instances}


def emptied(report) -> list[str]:
    """The fields the import warned about as holding an identifier."""
    return [p.field for p in report.warnings if p.code == "identifier-in-text"]


def ingest_own(inbox, project, description: str, **patient: object):
    write_part10(
        build_ct(PatientID=OWN_ID, SeriesDescription=description, **patient),
        inbox / "own.dcm",
    )
    return ingest_dicom(inbox, project)


def ingest_beside(inbox, project, description: str, **other: object):
    """Ingest a file of patient OWN_ID with the description, beside another patient."""
    write_part10(build_ct(PatientID=OTHER_ID, **other), inbox / "other.dcm")
    write_part10(
        build_ct(
            PatientID=OWN_ID,
            PatientName="TESTPERSON^ALEX",
            SeriesDescription=description,
        ),
        inbox / "own.dcm",
    )
    return ingest_dicom(inbox, project)


SPELT_OTHERWISE = [
    ("MÜLLER^HANS", "Muller follow-up"),
    ("MÜLLER^HANS", "Mueller follow-up"),
    ("MUELLER^HANS", "MULLER follow-up"),
    ("MUELLER^HANS", "Müller follow-up"),
    ("JOSÉ^NUÑEZ", "Nunez follow-up"),
    ("NUNEZ^JOSE", "NUÑEZ follow-up"),
    ("SØRENSEN^ÅSE", "Sorensen follow-up"),
    ("SØRENSEN^ÅSE", "Soerensen follow-up"),
]


# The patient's own file, and the file of another patient of the batch:
WHOSE = pytest.mark.parametrize(
    "ingest", [ingest_own, ingest_beside], ids=["own", "other"]
)


@pytest.mark.django_db
@WHOSE
@pytest.mark.parametrize("name, description", SPELT_OTHERWISE)
def test_a_name_spelt_otherwise_is_emptied(inbox, project, ingest, name, description):
    report = ingest(inbox, project, description, PatientName=name)

    assert stored_description(project, OWN_ID) == {""}
    assert emptied(report) == ["SeriesDescription (0008,103E)"]


BIRTH_DATE_WRITTEN = [
    "born 3.2.1961",
    "born 03.02.1961",
    "DOB 3/2/1961",
    "DOB 2/3/1961",  # month first
    "DOB 02-03-1961",
    "1961-2-3",
    "3 Feb 1961",
    "03-FEB-1961",
    "Feb 3, 1961",
    "February 3rd, 1961",
    "3. Februar 1961",
]


@pytest.mark.django_db
@WHOSE
@pytest.mark.parametrize("description", BIRTH_DATE_WRITTEN)
def test_a_birth_date_written_otherwise_is_emptied(inbox, project, ingest, description):
    report = ingest(
        inbox,
        project,
        description,
        PatientName="DOE^JOHNNY",
        PatientBirthDate=BIRTH_DATE,
    )

    assert stored_description(project, OWN_ID) == {""}
    assert emptied(report) == ["SeriesDescription (0008,103E)"]


KEPT = [
    "Muller follow-up",  # nobody of the batch is named so
    "scan of 13.2.1961",  # another day: 3.2.1961 is no date inside 13.2.1961
    "3.2.1962",
    "3 Mar 1961",
    "March 2, 1961",
    "1961",  # a year alone is no identifier
    "series 3.2",
    "v3.2.19610",
]


@pytest.mark.django_db
@pytest.mark.parametrize("description", KEPT)
def test_other_text_is_kept(inbox, project, description):
    report = ingest_beside(
        inbox,
        project,
        description,
        PatientName="DOE^JOHNNY",
        PatientBirthDate=BIRTH_DATE,
    )

    assert stored_description(project, OWN_ID) == {description}
    assert emptied(report) == []


def screen_of(name: str, birth_date: str = "") -> IdentifierScreen:
    screen = IdentifierScreen()
    screen.add_name(name, of_patient=True)
    if birth_date:
        screen.add_identifier(birth_date, is_date=True, of_patient=True)
    return screen


def test_spellings_keep_the_rules_of_short_and_long_parts():
    """A short part spelt otherwise is a whole word; a long one whole for others."""
    screen = screen_of("LÜ^BJØRN")

    assert screen.finds("Lu scan")
    assert not screen.finds("Lucent scan")  # short: whole words only
    assert screen.finds("Bjornsson")  # long, own patient: anywhere
    assert not screen.finds("Bjornsson", distinctive=True)  # another's: whole word
    assert screen.finds("Bjorn MRI", distinctive=True)
    # In a code, long parts as whole words, short ones not at all:
    assert screen.finds("BJORN", names="code")
    assert not screen.finds("LU", names="code")


def test_a_short_name_is_not_read_back_from_its_transliteration():
    """JOE is not looked for as JO (nor MAE as MA): too common as whole words."""
    screen = screen_of("JOE^MAE")

    assert not screen.finds("JO MA 2")
    assert screen.finds("Joe")


def test_birth_date_in_acquisition_parameters_and_codes():
    screen = screen_of("DOE^JOHNNY", BIRTH_DATE)

    assert screen.finds("3.2.1961", patient_only=True, names="code")
    assert not screen.finds("3.2.1960", patient_only=True, names="code")
