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
    BatchScreen,
    IdentifierScreen,
    _composed_jamo,
    _unaccented,
)
from radiomics.importers.dicom import ingest_dicom
from tests.radiomics.conftest import build_ct, write_part10
from tests.radiomics.test_deid_spellings import (
    OWN_ID,
    WHOSE,
    emptied,
    ingest_own,
    stored_description,
)

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


# Hangul typed letter by letter in compatibility jamo (U+3131-U+318E), as some
# systems store and search Korean names: NFKC makes each consonant an initial, so
# ㄱㅣㅁ read as 기 and a lone ᄆ, and a patient 김^민수 kept "ㅁㅣㄴㅅㅜ CT".


def compatibility_jamo(text: str) -> str:
    """The text's hangul syllables spelt letter by letter in compatibility jamo."""
    letters = []
    for char in unicodedata.normalize("NFD", text):
        name = unicodedata.name(char, "")
        for kind in ("CHOSEONG ", "JUNGSEONG ", "JONGSEONG "):
            if kind in name:
                char = unicodedata.lookup("HANGUL LETTER " + name.split(kind)[1])
        letters.append(char)
    return "".join(letters)


def halfwidth(text: str) -> str:
    """The text with its compatibility jamo in their halfwidth forms."""
    return "".join(
        unicodedata.lookup("HALFWIDTH " + unicodedata.name(char))
        if "\u3131" <= char <= "\u3163"
        else char
        for char in text
    )


JAMO_SPELLINGS = {
    "compatibility": compatibility_jamo,
    "its NFKC": lambda text: unicodedata.normalize("NFKC", compatibility_jamo(text)),
    "its NFKD": lambda text: unicodedata.normalize("NFKD", compatibility_jamo(text)),
    "halfwidth": lambda text: halfwidth(compatibility_jamo(text)),
}
HANGUL_NAMED = [entry for entry in NAMED if entry[0] == "김^민수"] + [
    ("황^보람", "황보람 CT", f"{R} CT"),  # a vowel of two (ㅘ)
    ("김^민수", "민수 ㅋㅋ", f"{R} ㅋㅋ"),  # a letter of no syllable stays
]


@pytest.mark.parametrize("spelt", JAMO_SPELLINGS)
@pytest.mark.parametrize(("name", "text", "redacted"), HANGUL_NAMED)
def test_a_name_is_found_and_redacted_in_compatibility_jamo(
    name, text, redacted, spelt
):
    spell = JAMO_SPELLINGS[spelt]
    screen = IdentifierScreen()
    screen.add_name(name, of_patient=True)

    assert screen.finds(spell(text), names=NAMES_IN_TEXT)
    # The rest of the text as written (ㅋㅋ of "민수 ㅋㅋ" in halfwidth too):
    assert screen.redact(spell(text)) == spell(redacted)


@pytest.mark.parametrize(("name", "text", "redacted"), HANGUL_NAMED)
def test_a_name_in_compatibility_jamo_is_found_as_syllables(name, text, redacted):
    screen = IdentifierScreen()
    screen.add_name(compatibility_jamo(name), of_patient=True)

    assert screen.finds(text, names=NAMES_IN_TEXT)
    assert screen.redact(text) == redacted


def test_every_syllable_spelt_in_compatibility_jamo_reads_as_itself():
    """All 11,172 syllables, also before one of no final (아), in NFC and NFKC."""
    wrong = [
        syllable
        for syllable in map(chr, range(0xAC00, 0xD7A4))
        for form in ("NFC", "NFKC")
        if _unaccented(unicodedata.normalize(form, compatibility_jamo(syllable + "아")))
        != syllable + "아"
    ]

    assert wrong == []


LAUGHTER = unicodedata.normalize("NFKC", "ㅋㅋ")  # ᄏᄏ, initial consonants


@pytest.mark.parametrize(
    ("name", "text", "redacted"),
    [
        ("김^민수", "김민수ㅎㅎ", f"{R}ㅎㅎ"),
        ("김^민수", "김민수ㄱ", f"{R}ㄱ"),
        ("김^민수", "김민수ﾾ", f"{R}ﾾ"),  # halfwidth ㅎ
        ("김^민수", f"김민수{LAUGHTER}", f"{R}{LAUGHTER}"),
        ("이^수", "이수ㅋㅋ 검사", f"{R}ㅋㅋ 검사"),
    ],
)
def test_a_name_is_found_before_letters_that_could_be_its_last_final(
    name, text, redacted
):
    """김민수ㅎㅎ also reads 김민숳ㅎ, the letters a keyboard would join (missed after
    e1531c7): both readings count, and only the name's letters go."""
    screen = IdentifierScreen()
    screen.add_name(name, of_patient=True)
    batch = BatchScreen()
    batch.add_patient(build_ct(PatientName=name, PatientID="SYN-1"))
    batch.add_patient(build_ct(PatientName="X^Y", PatientID="SYN-2"))

    assert screen.finds(text, names=NAMES_IN_TEXT)
    assert screen.redact(text) == redacted
    assert batch.finds_other(text, patient_only=False)


@pytest.mark.parametrize("spelt", JAMO_SPELLINGS)
@pytest.mark.parametrize(
    ("name", "text", "redacted"),
    [
        ("김^민수", "김민수ㅋㅋ 검사", f"{R}ㅋㅋ 검사"),
        ("김^민수", "김민수ㅎ", f"{R}ㅎ"),
        ("김^민", "김민ㅎㅎ", f"{R}ㅎㅎ"),  # ㄴㅎ makes one final too (ㄶ)
    ],
)
def test_a_name_typed_in_letters_is_found_before_letters_of_their_own(
    name, text, redacted, spelt
):
    """ㄱㅣㅁㅁㅣㄴㅅㅜㅋㅋ read 김민숰ㅋ as a keyboard joins it, or as letters, and
    kept 김민수 (missed after e1531c7): a reading without that final counts too."""
    spell = JAMO_SPELLINGS[spelt]
    screen = IdentifierScreen()
    screen.add_name(name, of_patient=True)
    batch = BatchScreen()
    batch.add_patient(build_ct(PatientName=name, PatientID="SYN-1"))
    batch.add_patient(build_ct(PatientName="X^Y", PatientID="SYN-2"))

    assert screen.finds(spell(text), names=NAMES_IN_TEXT)
    assert screen.redact(spell(text)) == spell(redacted)
    assert batch.finds_other(spell(text), patient_only=False)


@pytest.mark.parametrize(
    "text",
    ["김민지ㅋㅋ", "민사 ㅋㅋ", "김민ㅎㅎ", "수ㅋㅋ CT", "ㅋㅋ 민 수"],
)
def test_letters_of_their_own_make_no_name_of_other_letters(text):
    """The readings of the letters after a syllable find 김민수 only where it is."""
    screen = IdentifierScreen()
    screen.add_name("김^민수", of_patient=True)

    assert not screen.finds(compatibility_jamo(text), names=NAMES_IN_TEXT)
    assert screen.redact(compatibility_jamo(text)) == compatibility_jamo(text)


@pytest.mark.parametrize(
    ("letters", "trailing_finals", "syllables"),
    [
        ("ㄱㅣㅁㅁㅣㄴㅅㅜㅋㅋ", 2, "김민숰ㅋ"),
        ("ㄱㅣㅁㅁㅣㄴㅅㅜㅋㅋ", 0, "김민수ㅋㅋ"),
        ("ㄷㅏㄹㄱ", 1, "달ㄱ"),
        ("ㄷㅏㄹㄱ", 0, "다ㄹㄱ"),
        ("ㄷㅏㄹㄱㅇㅣ", 0, "닭이"),  # a vowel follows: finals as a keyboard's
        ("기\u11b7ㅋ", 0, "김ㅋ"),  # a conjoining final is one wherever it stands
    ],
)
def test_letters_after_the_last_syllable_are_its_final_as_asked(
    letters, trailing_finals, syllables
):
    assert _composed_jamo(letters, trailing_finals) == syllables


@pytest.mark.parametrize(
    ("letters", "syllables"),
    [
        ("ㅎㅗㅏㅇ", "황"),  # ㅘ typed as two vowels
        ("ㄷㅏㄹㄱ", "닭"),  # ㄺ typed as two consonants
        ("ㄷㅏㄹㄱㅇㅣ", "닭이"),
        ("ㄱㅣㅁㅁㅣㄴ", "김민"),
        ("ㄱㅣㅁㅣㄴ", "기민"),  # ㅁ before a vowel begins the next syllable
        ("ㅋㅋ CT", "ㅋㅋ CT"),
    ],
)
def test_letters_typed_one_by_one_make_the_syllables_a_keyboard_makes(
    letters, syllables
):
    assert _composed_jamo(letters) == syllables


@pytest.mark.django_db
@WHOSE
def test_the_header_screen_empties_a_name_in_compatibility_jamo(inbox, project, ingest):
    report = ingest(
        inbox,
        project,
        compatibility_jamo("민수 CT"),
        PatientName="김^민수",
        SpecificCharacterSet=["ISO_IR 192"],
    )

    assert stored_description(project, OWN_ID) == {""}
    assert emptied(report) == ["SeriesDescription (0008,103E)"]
