"""Names in Japanese, Chinese and Cyrillic are found in kept header text.

The reviewer's case: every letter outside A-Z split words, so a name part of two
or three letters of another script was never a whole word. A full import of
PatientName Yamada^Tarou=山田^太郎=やまだ^たろう stored SeriesDescription "山田 CT"
and "山田太郎"; 王^小明 stored "小明 CT"; ЛИ^ИВАН kept "ЛИ КТ".
"""

from __future__ import annotations

import pytest

from radiomics.importers.deid import IdentifierScreen
from radiomics.importers.dicom import ingest_dicom
from tests.radiomics.conftest import build_ct, write_part10
from tests.radiomics.test_deid_spellings import (
    OTHER_ID,
    OWN_ID,
    ingest_own,
    stored_description,
)

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:The value length"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

JAPANESE = "Yamada^Tarou=山田^太郎=やまだ^たろう"


@pytest.mark.parametrize(
    ("name", "description"),
    [
        (JAPANESE, "山田 CT"),
        (JAPANESE, "山田太郎"),
        (JAPANESE, "胸部CT 山田太郎様"),
        (JAPANESE, "やまだ CT"),
        ("王^小明", "小明 CT"),
        ("王^小明", "王小明"),
        ("ЛИ^ИВАН", "ЛИ КТ"),
    ],
)
def test_the_patients_own_name_in_another_script_is_emptied(
    inbox, project, name, description
):
    utf8 = ["ISO_IR 192"]
    ingest_own(inbox, project, description, PatientName=name, SpecificCharacterSet=utf8)

    assert stored_description(project, OWN_ID) == {""}


@pytest.mark.parametrize(
    ("name", "description"),
    [
        (JAPANESE, "山田 CT"),
        ("王^小明", "小明 CT"),
        ("ЛИ^ИВАН", "ЛИ ИВАН"),
    ],
)
def test_another_patients_name_in_another_script_is_emptied(
    inbox, project, name, description
):
    utf8 = ["ISO_IR 192"]
    write_part10(
        build_ct(PatientID=OTHER_ID, PatientName=name, SpecificCharacterSet=utf8),
        inbox / "other.dcm",
    )
    own = build_ct(
        PatientID=OWN_ID,
        PatientName="TESTPERSON^ALEX",
        SeriesDescription=description,
        SpecificCharacterSet=utf8,
    )
    write_part10(own, inbox / "own.dcm")
    ingest_dicom(inbox, project)

    assert stored_description(project, OWN_ID) == {""}
    assert stored_description(project, OTHER_ID) == {""}


@pytest.mark.parametrize(
    "description", ["王 CT", "国王 CT", "王様", "胸部 CT", "ЛИНИЯ КТ", "CT CHEST"]
)
def test_a_one_character_name_part_alone_is_kept(inbox, project, description):
    """王 of 王^小明 is found only glued to 小明: one ideograph is in too many words."""
    ingest_own(
        inbox,
        project,
        description,
        PatientName="王^小明",
        SpecificCharacterSet=["ISO_IR 192"],
    )

    assert stored_description(project, OWN_ID) == {description}


def test_redact_finds_names_of_scripts_without_spaces_inside_words():
    screen = IdentifierScreen()
    screen.add_name(JAPANESE, of_patient=True)
    screen.add_name("王^小明", of_patient=True)

    # Each name part of a glued run is replaced on its own, as for SMITHJOHN:
    redacted = screen.redact("検査山田太郎_CT/王小明.dcm")
    assert redacted == "検査[redacted][redacted]_CT/[redacted].dcm"
    assert screen.redact("国王/王.dcm") == "国王/王.dcm"
