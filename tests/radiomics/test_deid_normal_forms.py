"""Names and IDs are found however Unicode composes their text (NFC, NFD, NFKC, NFKD).

The reviewer's case: macOS and zip files from Macs store file names decomposed
(NFD), a hangul syllable as its jamo (김 as ᄀ ᅵ ᆷ). For a patient 김^민수, redact()
left the file name 김민수_CT/1.dcm whole while finds() found the name in it, so the
name reached ImportRun.source_name, reports, problems and log lines.
"""

from __future__ import annotations

import itertools
import sys
import unicodedata

import pytest

from patients.models import ImportRun
from radiomics.importers.deid import (
    _COMPOSES_WITH_PREVIOUS,
    NAMES_IN_TEXT,
    REDACTED,
    IdentifierScreen,
)
from radiomics.importers.dicom import ingest_dicom
from tests.radiomics.conftest import build_ct, write_part10
from tests.radiomics.test_deid_spellings import OWN_ID, ingest_own, stored_description

pytestmark = [
    pytest.mark.filterwarnings("ignore:The value length"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

FORMS = ["NFC", "NFD", "NFKC", "NFKD"]
# The form of the name, of the text: every pair, and a text of mixed forms.
FORM_PAIRS = [*itertools.product(FORMS, FORMS), ("NFC", "mixed"), ("NFD", "mixed")]

# (patient name, text holding it, the text redacted), by script:
R = REDACTED
NAMED = [
    ("김^민수", "김민수_CT/1.dcm", f"{R}_CT/1.dcm"),  # hangul, the reviewer's case
    ("김^민수", "민수 CT", f"{R} CT"),
    ("김^민수", "scan of 민수", f"scan of {R}"),
    ("MÜLLER^HANS", "MÜLLER_CT/1.dcm", f"{R}_CT/1.dcm"),  # Latin with accents
    ("MÜLLER^HANS", "Mueller_CT/1.dcm", f"{R}_CT/1.dcm"),  # transliterated
    ("MÜLLER^HANS", "HMÜLLER follow-up", f"{R} follow-up"),  # with an initial
    ("NÚÑEZ^JOSÉ", "josé nuñez.dcm", f"{R} {R}.dcm"),
    # A given name cut short beside the family name:
    ("NÚÑEZ^JOSÉPHINE", "NÚÑEZ_JOSÉ_CT", f"{R}_{R}_CT"),
    ("ÅSTRÖM^BJÖRNAR", "Björn Åström", f"{R} {R}"),
    ("ИВАНОВ^ЙОСИФ", "ЙОСИФ КТ", f"{R} КТ"),  # Cyrillic (Й: И and a breve)
    ("ИВАНОВ^ЙОСИФОВИЧ", "ИВАНОВ_ЙОСИ", f"{R}_{R}"),
    ("山田^太郎", "山田太郎_CT", f"{R}{R}_CT"),  # CJK
    ("やまだ^じろう", "じろう CT", f"{R} CT"),  # kana with a voiced mark (じ: し and ゙)
]
# (patient ID, text holding it):
IDENTIFIED = [
    ("JOSÉ-4471", "JOSÉ-4471_CT/1.dcm"),
    ("ÅKE9", "ÅKE9 follow-up"),
    ("김12", "김12_CT"),
]


def written(text: str, form: str) -> str:
    """The text in a normal form, or "mixed": its characters in turn NFC and NFD."""
    if form != "mixed":
        return unicodedata.normalize(form, text)
    return "".join(
        unicodedata.normalize("NFD" if index % 2 else "NFC", char)
        for index, char in enumerate(unicodedata.normalize("NFC", text))
    )


@pytest.mark.parametrize(("name_form", "text_form"), FORM_PAIRS)
@pytest.mark.parametrize(("name", "text", "redacted"), NAMED)
def test_a_name_is_found_and_redacted_in_every_normal_form(
    name, text, redacted, name_form, text_form
):
    screen = IdentifierScreen()
    screen.add_name(written(name, name_form), of_patient=True)
    text = written(text, text_form)

    assert screen.finds(text, names=NAMES_IN_TEXT)
    # Not a letter of the name nor an accent of it is left (김 of its jamo, É of E):
    assert unicodedata.normalize("NFC", screen.redact(text)) == redacted


@pytest.mark.parametrize(("id_form", "text_form"), FORM_PAIRS)
@pytest.mark.parametrize(("identifier", "text"), IDENTIFIED)
def test_an_id_is_found_and_redacted_in_every_normal_form(
    identifier, text, id_form, text_form
):
    screen = IdentifierScreen()
    screen.add_identifier(written(identifier, id_form), of_patient=True)

    redacted = screen.redact(written(text, text_form))

    assert screen.finds(written(text, text_form))
    assert redacted.startswith(REDACTED)
    assert unicodedata.normalize("NFC", redacted) == text.replace(
        unicodedata.normalize("NFC", identifier), REDACTED
    )


@pytest.mark.parametrize("form", FORMS)
def test_a_redaction_keeps_the_rest_of_the_text_as_written(form):
    screen = IdentifierScreen()
    screen.add_name("김^민수", of_patient=True)
    text = unicodedata.normalize(form, "김민수_CT/서울 é.dcm")

    assert screen.redact(text) == REDACTED + unicodedata.normalize(
        form, "_CT/서울 é.dcm"
    )


def test_the_characters_composed_with_the_one_before_are_unicodes():
    """Every character of no combining class that NFC composes with another."""
    seconds = set()
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        decomposition = unicodedata.decomposition(char).split()
        if len(decomposition) == 2 and not decomposition[0].startswith("<"):
            second = chr(int(decomposition[1], 16))
            if not unicodedata.combining(second) and (
                unicodedata.normalize("NFC", unicodedata.normalize("NFD", char)) == char
            ):
                seconds.add(second)
    # Hangul syllables are composed by rule, from their vowel and final jamo:
    seconds |= {chr(code) for code in range(0x1161, 0x1176)}
    seconds |= {chr(code) for code in range(0x11A8, 0x11C3)}

    assert seconds - _COMPOSES_WITH_PREVIOUS == set()


@pytest.mark.django_db
@pytest.mark.parametrize(("name_form", "text_form"), FORM_PAIRS)
@pytest.mark.parametrize(
    ("name", "description"),
    [("김^민수", "민수 CT"), ("MÜLLER^HANS", "Mueller follow-up")],
)
def test_the_header_screen_empties_a_name_in_every_normal_form(
    inbox, project, name, description, name_form, text_form
):
    ingest_own(
        inbox,
        project,
        written(description, text_form),
        PatientName=written(name, name_form),
        SpecificCharacterSet=["ISO_IR 192"],
    )

    assert stored_description(project, OWN_ID) == {""}


@pytest.mark.django_db
@pytest.mark.parametrize("form", FORMS)
def test_a_folder_named_decomposed_is_screened(inbox, project, form):
    folder = inbox / unicodedata.normalize(form, "김민수_CT")
    folder.mkdir()
    write_part10(
        build_ct(
            PatientID=OWN_ID, PatientName="김^민수", SpecificCharacterSet=["ISO_IR 192"]
        ),
        folder / "ct.dcm",
    )

    report = ingest_dicom(folder, project)

    assert report.source == "[redacted]_CT"
    assert ImportRun.objects.get().source_name == "[redacted]_CT"


@pytest.mark.parametrize("identifier", ["JOSE-4471", "JOSÉ-4471", "PID.778.899"])
@pytest.mark.parametrize("joiner", ["", "_", " ", "-", "."])
def test_an_id_is_redacted_with_any_separators_as_finds_finds_it(identifier, joiner):
    """finds() reads an ID without its separators; redact() left JOSE4471 whole."""
    screen = IdentifierScreen()
    screen.add_identifier(identifier, of_patient=True)
    parts = identifier.replace(".", "-").split("-")
    text = f"{joiner.join(parts)}_CT/1.dcm"

    assert screen.finds(text)
    assert screen.redact(text) == f"{REDACTED}_CT/1.dcm"
