"""Names spelt without accents or transliterated, and birth dates written as people
write dates, are found in kept header text: in the patient's own files and in the
files of the batch's other patients.

The reviewer's case: a patient MÜLLER^HANS kept "Muller follow-up" and "Mueller
follow-up" in his own file, a batch neighbour of JOSÉ^NUÑEZ kept "Nunez follow-up",
and a birth date 19610203 written "born 3.2.1961" or "3 Feb 1961" stayed.
"""

from __future__ import annotations

import pytest

from patients.models import ImportRun
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
    """Ingest a file of patient OWN_ID with the description, beside another patient.

    Both files in the other's SpecificCharacterSet, when it is given."""
    write_part10(build_ct(PatientID=OTHER_ID, **other), inbox / "other.dcm")
    write_part10(
        build_ct(
            PatientID=OWN_ID,
            PatientName="TESTPERSON^ALEX",
            SeriesDescription=description,
            SpecificCharacterSet=other.get("SpecificCharacterSet", "ISO_IR 100"),
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
    # An apostrophe left out (the typographic one: REDACTED_SPELLINGS, as a
    # header of ISO_IR 100 cannot hold it):
    ("O'BRIEN^JOHN", "OBRIEN follow-up"),
    ("O'BRIEN^JOHN", "O BRIEN follow-up"),
    ("O'BRIEN^JOHN", "prior JOBRIEN"),
    # What else people and keyboards type for an apostrophe, in the text or the
    # name: the backtick, the modifier letter apostrophe, quotes, a prime, the
    # acute accent (in a header of ISO_IR 192 where ISO_IR 100 cannot hold them):
    ("O'BRIEN^JOHN", "O`BRIEN follow-up"),
    ("O'BRIEN^JOHN", "O`Brien follow-up"),
    ("O'BRIEN^JOHN", "Oʼbrien follow-up"),
    ("O'BRIEN^JOHN", "O‘BRIEN follow-up"),
    ("O'BRIEN^JOHN", "O′BRIEN follow-up"),
    ("D'SA^PRIYA", "D´Sa follow-up"),  # NFKD made a space of the accent: D SA
    ("O`BRIEN^JOHN", "O’BRIEN follow-up"),
    ("O′BRIEN^JOHN", "O'BRIEN follow-up"),
    ("O′BRIEN^JOHN", "OBRIEN follow-up"),
]


def character_set(*texts: str) -> str:
    """The Latin-1 of most headers here, or UTF-8 where Latin-1 cannot hold a text."""
    try:
        "".join(texts).encode("latin-1")
    except UnicodeEncodeError:
        return "ISO_IR 192"
    return "ISO_IR 100"


# The patient's own file, and the file of another patient of the batch:
WHOSE = pytest.mark.parametrize(
    "ingest", [ingest_own, ingest_beside], ids=["own", "other"]
)


@pytest.mark.django_db
@WHOSE
@pytest.mark.parametrize("name, description", SPELT_OTHERWISE)
def test_a_name_spelt_otherwise_is_emptied(inbox, project, ingest, name, description):
    report = ingest(
        inbox,
        project,
        description,
        PatientName=name,
        SpecificCharacterSet=character_set(name, description),
    )

    assert stored_description(project, OWN_ID) == {""}
    assert emptied(report) == ["SeriesDescription (0008,103E)"]


KEPT_BESIDE_APOSTROPHES = [
    ("O'BRIEN^JOHN", "O`NEILL follow-up"),
    ("O'BRIEN^JOHN", "the CT`s of the chest"),
    ("O'BRIEN^JOHN", "delay 5′ after contrast"),
    ("D'SA^PRIYA", "DSA run 2"),  # a short part alone, of another patient
]


@pytest.mark.django_db
@pytest.mark.parametrize("name, description", KEPT_BESIDE_APOSTROPHES)
def test_another_patients_apostrophe_name_leaves_other_text_alone(
    inbox, project, name, description
):
    report = ingest_beside(
        inbox,
        project,
        description,
        PatientName=name,
        SpecificCharacterSet=["ISO_IR 192"],
    )

    assert stored_description(project, OWN_ID) == {description}
    assert emptied(report) == []


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
    # Year, month and day marked as in Chinese and Japanese, or Korean (also in
    # fullwidth digits), and Korean dots:
    "1961年2月3日",
    "1961年02月03日",
    "1961년 2월 3일",
    "生年月日１９６１年２月３日",
    "1961. 2. 3.",
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
        SpecificCharacterSet=["ISO_IR 192"],
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
    # Other days so written: year, month and day in this order only.
    "1961年2月13日",
    "1961년 3월 2일",
    "1961年3月2日",
    "1961. 3. 20.",
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
        SpecificCharacterSet=["ISO_IR 192"],
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


# File and folder names, messages and log lines (redact()) find the same spellings:
REDACTED_SPELLINGS = [
    ("NUNEZ^JOSE", "Núñez_ct.dcm", "[redacted]_ct.dcm"),
    ("NUNEZ^JOSE", "NUÑEZ-JOSÉ", "[redacted]-[redacted]"),
    ("NUNEZ^JOSE", "Nun\u0303ez_ct", "[redacted]_ct"),  # ñ written as n and a tilde
    ("MUELLER^HANS", "Müller/ct.dcm", "[redacted]/ct.dcm"),
    ("MÜLLER^HANS", "Mueller_Muller", "[redacted]_[redacted]"),
    ("SØRENSEN^ÅSE", "ÆRØ_Sorensen", "ÆRØ_[redacted]"),
    ("O'BRIEN^JOHN", "obrien_ct.dcm", "[redacted]_ct.dcm"),
    ("O'BRIEN^JOHN", "O\u2019Brien/ct.dcm", "[redacted]/ct.dcm"),
    ("O\u2019BRIEN^JOHN", "O'Brien/ct.dcm", "[redacted]/ct.dcm"),
    ("O'BRIEN^JOHN", "O BRIEN ct", "[redacted] ct"),
    ("O'BRIEN^JOHN", "O`Brien_ct.dcm", "[redacted]_ct.dcm"),
    ("O'BRIEN^JOHN", "Oʼbrien/ct.dcm", "[redacted]/ct.dcm"),
    ("O\u2032BRIEN^JOHN", "obrien.dcm", "[redacted].dcm"),
    ("D'SA^PRIYA", "D´Sa_ct", "[redacted]_ct"),
    ("D'SA^PRIYA", "D´Sa`s CT", "[redacted]`s CT"),
]


@pytest.mark.parametrize("name, text, redacted", REDACTED_SPELLINGS)
def test_redact_finds_a_name_spelt_otherwise(name, text, redacted):
    assert screen_of(name).redact(text) == redacted


@pytest.mark.parametrize("written", BIRTH_DATE_WRITTEN)
def test_redact_finds_a_birth_date_however_written(written):
    screen = screen_of("DOE^JOHNNY", BIRTH_DATE)

    redacted = screen.redact(f"scan_{written}.dcm", short_numbers=False)

    assert "1961" not in redacted
    assert redacted.startswith("scan_") and redacted.endswith(".dcm")


@pytest.mark.parametrize("text", KEPT[1:])
def test_redact_keeps_other_dates_and_numbers(text):
    assert screen_of("DOE^JOHNNY", BIRTH_DATE).redact(text) == text


def test_a_message_keeps_its_wording_beside_a_date_it_quotes():
    from biobank.core.importing import Message

    screen = screen_of("DOE^JOHNNY", BIRTH_DATE)

    message = screen.redact(
        Message("{value} is no study date; 7 Feb 1961 counted.", value="3 Feb 1961"),
        short_numbers=False,
    )

    assert message == "[redacted] is no study date; 7 Feb 1961 counted."


@pytest.mark.django_db
def test_the_folder_given_is_screened_for_spellings_and_dates(inbox, project):
    folder = inbox / "Núñez 3 Feb 1961"
    folder.mkdir()
    write_part10(
        build_ct(
            PatientID=OWN_ID, PatientName="NUNEZ^JOSE", PatientBirthDate=BIRTH_DATE
        ),
        folder / "ct.dcm",
    )

    report = ingest_dicom(folder, project)

    assert report.source == "[redacted] [redacted]"
    assert ImportRun.objects.get().source_name == "[redacted] [redacted]"


# A family name glued to an initial, either way round, or beside one:
INITIALLED = [
    ("SMITH^JOHN", "SMITHJ follow-up"),
    ("SMITH^JOHN", "JSMITH follow-up"),
    ("SMITH^JOHN", "JSmith follow-up"),
    ("SMITH^JOHN", "prior SmithJ"),
    ("SMITH^JOHN", "J.SMITH follow-up"),
    ("SMITH^JOHN", "SMITH J follow-up"),
    ("SMITH^JOHN^QUINN", "QSMITH follow-up"),  # the middle name's initial
    ("SMITH^JOHN", "JSMITH01"),  # letters turn to digits: a word ends
    ("SMITH^JOHN", "JSMITHJOHN"),
    ("DOE^ALEX", "DOEA follow-up"),  # a family name of three letters
    ("DOE^ALEX", "ADOE follow-up"),
    ("MÜLLER^HANS", "HMueller follow-up"),
]


@pytest.mark.django_db
@WHOSE
@pytest.mark.parametrize("name, description", INITIALLED)
def test_a_family_name_with_an_initial_is_emptied(
    inbox, project, ingest, name, description
):
    report = ingest(inbox, project, description, PatientName=name)

    assert stored_description(project, OWN_ID) == {""}
    assert emptied(report) == ["SeriesDescription (0008,103E)"]


@pytest.mark.parametrize(
    "text, redacted",
    [
        ("JSMITH_ct.dcm", "[redacted]_ct.dcm"),
        ("SMITHJ/ct.dcm", "[redacted]/ct.dcm"),
        ("JSmith01.dcm", "[redacted]01.dcm"),
        ("JSMITHJOHN", "[redacted][redacted]"),
        ("SMITHJOHN", "[redacted][redacted]"),  # as before: SMITH and JOHN
        ("DOEA_ct", "[redacted]_ct"),
        ("JSMITHSON_ct", "JSMITHSON_ct"),  # inside a word: no name there
    ],
)
def test_redact_finds_a_family_name_with_an_initial(text, redacted):
    screen = screen_of("SMITH^JOHN")
    screen.add_name("DOE^ALEX")

    assert screen.redact(text) == redacted


KEPT_BESIDE_INITIALLED = [
    # A word the family name and an initial make, but a word of the trade:
    ("LOWE^ROBERT", "LOWER LIMB"),
    ("LUN^GRACE", "LUNG WINDOW"),
    ("HAN^DAVID", "HAND XR"),
    # A family name shorter than three letters makes no such form (AND of AN^D):
    ("AN^DAVID", "CHEST AND ABDOMEN"),
    ("LI^WEI", "WLI"),
    # The family name inside a longer word, initial or not:
    ("SMITH^JOHN", "JSMITHSON"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("name, description", KEPT_BESIDE_INITIALLED)
def test_another_patients_initialled_forms_leave_words_alone(
    inbox, project, name, description
):
    report = ingest_beside(inbox, project, description, PatientName=name)

    assert stored_description(project, OWN_ID) == {description}
    assert emptied(report) == []
