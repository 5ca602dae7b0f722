"""De-identify DICOM data sets with the PS3.15 basic profile and the biobank's options."""

from __future__ import annotations

import copy
import datetime
import functools
import hashlib
import hmac
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from django.conf import settings
from pydicom.datadict import (
    dictionary_has_tag,
    dictionary_VR,
    keyword_for_tag,
    repeater_has_tag,
    tag_for_keyword,
)
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.tag import BaseTag

from biobank.core.importing import Message, Problem
from biobank.core.validation import InvalidValue
from patients.models import ImportRun, Patient
from patients.services import project_source_key
from radiomics.importers import values
from radiomics.importers.profile import (
    ACQUISITION_GROUPS,
    BASIC_PROFILE,
    RETAINED_FULL_DATES,
    RETAINED_PATIENT_CHARACTERISTICS,
    is_acquisition_parameter,
    resolve_action,
)
from radiomics.models import DeidentifiedAttribute

# Written into DeidentificationMethod (0012,0063); each value fits the 64 characters of LO.
METHOD = [
    "DICOM PS3.15 E.1 Basic Application Confidentiality Profile",
    "Retain Longitudinal Temporal Information Full Dates Option",
    "Retain Patient Characteristics Option (age, sex, size, weight)",
    "Clean Descriptors Option (screened study/series/ROI descriptors)",
    "Imaging biobank ingest_dicom",
]
# ... and, coded, into DeidentificationMethodCodeSequence (0012,0064), CID 7050:
METHOD_CODES = [
    codes.DCM.BasicApplicationConfidentialityProfile,
    codes.DCM.RetainLongitudinalTemporalInformationFullDatesOption,
    codes.DCM.RetainPatientCharacteristicsOption,
    codes.DCM.CleanDescriptorsOption,
]

RawElement = DataElement | RawDataElement
# Kept values of these VRs are screened; CS too, since vendors put free text in it:
TEXT_VRS = {"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS"}
# ... but a coded string holds defined terms (Modality CT, PatientPosition HFS), not
# words a person typed: a name part of two or three letters in it is a code, so a
# CS is screened for all but those (_ProfilePass.finds()). AE titles are not
# screened: those the profile keeps are the file meta's, which is written anew, or
# a message's (MoveDestination); UIDs are replaced.
CODED_VRS = frozenset({"CS"})
# The code of a coded entry (PS3.3 8.8, in every code sequence) is a code too, in
# whatever VR: CodeValue SH, CodingSchemeDesignator SH (LN, SCT, DCM), its version,
# LongCodeValue UC. CodeMeaning is free text. URNCodeValue is a UR: removed (below).
CODE_TAGS = frozenset(
    tag_for_keyword(keyword)
    for keyword in (
        "CodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "LongCodeValue",
    )
)
# How IdentifierScreen.finds() looks for name parts in a value: free text, a code, or
# a defined term of its element (is_defined_term()), which names nobody:
NAMES_IN_TEXT, NAMES_IN_CODE, NO_NAMES = "text", "code", "none"
# Addresses (VR UR: RetrieveURL, Retrieve URI, Pixel Data Provider URL, URNCodeValue...)
# are removed by rule, as private attributes are: the stored copy stands alone, with no
# use for a way back to the source, and an address can carry the source's UIDs and IDs
# (.../studies/<StudyInstanceUID>?PatientID=...), which the screen does not look for.
# Table E.1-1 (2024) lists neither Retrieve URL nor Retrieve URI; what it does list
# keeps its action (Selector UR Value: D). Also the one address of another VR:
URL_VR = "UR"
URL_TAGS_OF_OTHER_VRS = frozenset({0x0040A992})  # Uniform Resource Locator (Trial), ST
_DUMMIES = {
    "PN": "ANONYMOUS",
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "AS": "000Y",
    "DS": "0",
    "IS": "0",
}
_NUMBER_VRS = {"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD"}

# Public attributes whose values identify the patient or the visit; the screen looks
# for them in the free text that is kept. Person names (VR PN) are added wherever
# they occur.
IDENTIFYING_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
    "PatientBirthName",
    "PatientMotherBirthName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "MedicalRecordLocator",
    "AccessionNumber",
    "AdmissionID",
    "ServiceEpisodeID",
    "RequestedProcedureID",
    "PerformedProcedureStepID",
    "ScheduledProcedureStepID",
    "PlacerOrderNumberImagingServiceRequest",
    "FillerOrderNumberImagingServiceRequest",
    "ClinicalTrialSubjectID",
    "InstitutionName",
    "InstitutionAddress",
)
# The patient's own identifiers among them (and the patient's names): the only ones
# acquisition parameters are screened for (profile.is_acquisition_parameter).
PATIENT_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientID",
    "OtherPatientIDs",
    "PatientBirthDate",
)
# The patient's names and IDs that IdentifierScreen.add_patient() reads:
PATIENT_NAME_KEYWORDS = (
    "PatientName",
    "OtherPatientNames",
    "PatientBirthName",
    "PatientMotherBirthName",
)
PATIENT_ID_KEYWORDS = (
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "PatientBirthDate",
    "MedicalRecordLocator",
    "ClinicalTrialSubjectID",
)
_IDENTIFYING_TAGS = frozenset(tag_for_keyword(k) for k in IDENTIFYING_KEYWORDS)
_IDENTIFYING_VRS = frozenset({"LO", "SH", "DA", "ST", "LT", "UT"})
_PATIENT_TAGS = frozenset(tag_for_keyword(k) for k in PATIENT_KEYWORDS)
# Anything but letters and digits, of any script (ЛИ, 山田 are words too):
_NOT_ALNUM = re.compile(r"[\W_]+")
# Scripts written without spaces between words: CJK ideographs, kana, hangul (its
# syllables, conjoining and compatibility jamo, and their halfwidth forms).
_SPACELESS = re.compile(
    "[\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff"
    "\uac00-\ud7af\uf900-\ufaff\uff66-\uffdc\U00020000-\U0002ffff]"
)
Decision = DeidentifiedAttribute.Decision
Rule = DeidentifiedAttribute.Rule
PATIENT_AGE_TAG = 0x00101010
REDACTED = "[redacted]"
_SHORTEST_IDENTIFIER = 3
_SUBSTRING_NAME = 4
# The longest keyword of the DICOM dictionary has 63 letters:
_LONGEST_KEYWORD = 64
_SHORTEST_INITIALLED = 3  # family name glued to an initial: see _initialled()
_SHORTEST_DIGITS = 5
# Up to this many tokens, _Substrings tries each in turn (faster than looking up):
_FEW_TOKENS = 32
# The patterns of redact() an _Alternatives keeps compiled, one a set of tokens found:
_MOST_COMPILED = 1024
# KnownPatients: a source ID is looked for as a run of at most this many words and
# numbers of a text (LUNG1-001 is three), of at most 64 characters (LO):
_MOST_ID_PARTS = 8
_LONGEST_ID = 64
_WORDS_AND_NUMBERS = re.compile(r"[^\W\d_]+|\d+")
_DIGIT_RUNS = re.compile(r"\d+")
# The bytes of a source key's hash kept in memory (a text's look-up errs with odds
# of (stored patients) / 2^64):
_KEY_PREFIX = 8
# A word right beside "[redacted]" (at most two separators), which redact() takes
# from three letters on (SMITH_JOHN for SMITH^JOHNATHAN). A word of any script,
# with the accents that follow its letters when written decomposed (JOSE + U+0301):
# those of the blocks of combining diacritics (Latin, Greek, Cyrillic) and the
# kana's voiced marks. Its letters are counted composed (NFC: 민수 is two, not six
# jamo). Separators are no letter or digit of any script (ЙОСИ of ИВАНОВ_ЙОСИ).
_MARK = (
    r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff"
    r"\u20d0-\u20ff\u3099\u309a\ufe20-\ufe2f]"
)
_WORD = rf"(?:[^\W\d_]{_MARK}*)+"
# The "before" branch starts only where a word starts (no letter or mark before it),
# where the leftmost match started anyway: tried from every letter of a long word,
# its time grew with the square of the word's length (a 10,240-letter text, the most
# of an LT, took 7.5 s; review of 0adaafe).
_BESIDE_REDACTED = re.compile(
    rf"(?<=\[redacted\])(?:_|[^\w\[]){{0,2}}(?P<after>{_WORD})"
    rf"|(?<![^\W\d_])(?<!{_MARK})(?P<before>{_WORD})(?=(?:_|[^\w\]]){{0,2}}\[redacted\])"
)


def _keyed_digest(label: str, project_code: str, text: str) -> bytes:
    message = f"{label}\x00{project_code}\x00{text.strip()}".encode()
    return hmac.new(
        settings.BIOBANK_PSEUDONYM_KEY.encode(), message, hashlib.sha256
    ).digest()


def source_uid_hash(project_code: str, uid: str) -> str:
    """Return the keyed hash that finds a source UID again without storing it."""
    return _keyed_digest("source-uid", project_code, uid).hex()


def replacement_uid(project_code: str, uid: str) -> str:
    """Return the de-identified UID of a source UID: the same one every time.

    The number under BIOBANK_UID_ROOT ("2.25." by default, PS3.5 B.2) is 128 bits of
    a keyed hash of the source UID, so references between objects (a SEG to its
    images, a structure set to its frame of reference) still resolve after
    de-identification, and nobody without the key can map a new UID back.
    """
    root = settings.BIOBANK_UID_ROOT
    if not root.endswith("."):
        root += "."
    number = int.from_bytes(_keyed_digest("uid", project_code, uid)[:16], "big")
    digits = str(number)[: 64 - len(root)].lstrip("0") or "0"
    return root + digits


def tag_name(tag: int) -> str:
    """Return e.g. "StudyDate (0008,0020)" for messages."""
    keyword = keyword_for_tag(tag) or "Unknown"
    return f"{keyword} ({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass
class IdentifierScreen:
    """The patient's identifiers found in a data set, to look for in kept free text.

    Identifiers (IDs, dates, institution) and names of four letters or more are found
    anywhere, even inside a word (a vendor's "SyntheticScanner" gives a patient named
    SYNTHETIC away); shorter names only as whole words, so that a name like LI does
    not blank every SLICE. Case is ignored, and so are accents: a name is also
    looked for spelt in ASCII (_spellings(): MULLER, MUELLER for MÜLLER). The
    patient's own names, IDs and birth date are also kept apart (`patient_names`,
    `patient_identifiers`): acquisition parameters are screened for those only.
    `finds()` decides whether a kept header value is blanked, by that rule (in a
    code, names by whole words only).
    `redact()`, which rewrites file names, messages and log lines that people read,
    replaces identifiers only as whole tokens (the ID 2 of a patient must not turn
    the series folder CR2/ into CR[redacted]/).
    """

    names: set[str] = field(default_factory=set)
    identifiers: set[str] = field(default_factory=set)
    patient_names: set[str] = field(default_factory=set)
    patient_identifiers: set[str] = field(default_factory=set)
    # IDs of one or two characters: too short to screen header text for, but a
    # folder named 7/ or P1/ still gives patient 7 or P1 away.
    short_identifiers: set[str] = field(default_factory=set)
    # A family name glued to the initial of a given or middle name, either way round
    # (SMITHJ, JSMITH for SMITH^JOHN), found as whole tokens only (_initialled()):
    initialled: set[str] = field(default_factory=set)
    patient_initialled: set[str] = field(default_factory=set)
    # A family name of two or three letters and such an initial, (LI, W) for LI^WEI:
    # BatchScreen.finds_other() looks for them as two words (LI W., W. LI).
    short_family_initials: set[tuple[str, str]] = field(default_factory=set)
    # Birth dates, to find however a date is written (_dates_in(): 3.2.1961, Feb 3, 1961):
    birth_dates: set[datetime.date] = field(default_factory=set)
    patient_birth_dates: set[datetime.date] = field(default_factory=set)
    # redact()'s screens, with and without numbers of one to three digits:
    _patterns: dict[bool, _Alternatives] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The names' spellings (_spellings()), for a name cut short beside a redaction:
    _spelt_names: frozenset[str] | None = field(default=None, repr=False, compare=False)
    _added: set[tuple] = field(default_factory=set, repr=False, compare=False)
    # finds()' token sets (_token_sets()), by patient_only:
    _tokens: dict[bool, _Tokens] = field(
        default_factory=dict, repr=False, compare=False
    )

    @classmethod
    def from_dataset(cls, ds: Dataset) -> IdentifierScreen:
        screen = cls()
        for elem in _identifying_elements(ds):
            of_patient = elem.tag in _PATIENT_TAGS
            if elem.VR == "PN":
                for text in _texts(elem):
                    screen.add_name(text, of_patient)
            else:
                for text in _texts(elem):
                    screen.add_identifier(text, elem.VR == "DA", of_patient)
        return screen

    def add_patient(self, ds: Dataset) -> None:
        """Add the patient's own identifiers from the top level of a data set (cheap).

        Those of PATIENT_KEYWORDS count as the patient's (`patient_names`,
        `patient_identifiers`), as from_dataset() counts them, so that a batch's
        screen passed to deidentify() screens acquisition parameters as a file's own
        screen does.
        """
        for keyword in PATIENT_NAME_KEYWORDS:
            for text in _texts(values.element(ds, keyword)):
                self.add_name(text, of_patient=keyword in PATIENT_KEYWORDS)
        for keyword in PATIENT_ID_KEYWORDS:
            for text in _texts(values.element(ds, keyword)):
                self.add_identifier(
                    text,
                    is_date=keyword == "PatientBirthDate",
                    of_patient=keyword in PATIENT_KEYWORDS,
                )
        for item in getattr(ds, "OtherPatientIDsSequence", None) or []:
            for text in _texts(values.element(item, "PatientID")):
                self.add_identifier(text, of_patient=True)

    def redact(self, text: str, short_numbers: bool = True) -> str:
        """Return the text with every identifier of the screen replaced by "[redacted]".

        Meant for file and folder names (SMITH_JOHN/, 12345678/), messages and log
        lines. Case is ignored. Only whole tokens go: an identifier is replaced where
        it stands between token boundaries (the start or end, anything but a letter or
        digit, or a change from lower to upper case as in LiWei), or glued to other
        identifiers that reach such boundaries (SMITHJOHN, DOEJOHN). IDs, birth dates
        and name parts of four characters or more also end a token where letters turn
        to digits or back (SMITH01, IMG98890234); one of one to three characters does
        not, so that the ID 2 leaves the series folders CR2/ and CT2N/ alone and a
        patient named LI leaves SLICE and CLINICAL alone. A number is never found
        inside a longer number (7 in ct_17, 98890234 in 198890234). The names of DICOM
        attributes that messages quote (PatientAge) are left whole. A word of three
        letters or more beside a redaction that begins a known name goes too (JOHN
        of SMITH_JOHN for SMITH^JOHNATHAN). The digits of an ID (778899
        of PID-778899) count too when five or more. Names and birth dates are
        found in the spellings finds() finds them in (_found_in()): spelt without
        accents or transliterated (MULLER, MUELLER for MÜLLER), in text read without
        its accents (Núñez for NUNEZ), a birth date however written (3.2.1961, Feb
        3, 1961), and a family name glued to an initial (JSMITH, SMITHJ). One pass
        over the text: what was replaced is never looked at again.

        A Message keeps its wording: only what touches one of its fields is
        replaced, so pydicom's test patient IMPLICIT^VR^TEST leaves "read as
        Implicit VR Little Endian" alone, while a name that runs from the wording
        into a field still goes whole. The result is then a Message too. Any other
        text is screened all through.

        Without `short_numbers`, IDs of one to three digits (patient 7) are left
        alone: in a message such a number is a count far more often than an ID.
        """
        if not text:
            return text
        if short_numbers not in self._patterns:
            self._patterns[short_numbers] = self._build_pattern(short_numbers)
        alternatives = self._patterns[short_numbers]
        if not alternatives:
            return text
        # Which characters came from the input; None when all of them did:
        from_input = _input_mask(text)

        def is_name_or_id(span: tuple[int, int]) -> bool:
            start, end = span
            if from_input is not None and not any(from_input[start:end]):
                return False  # the importer's own words
            # The names of attributes in messages (PatientAge for a patient AGE) stay.
            # No keyword is longer than _LONGEST_KEYWORD, so the word is looked at no
            # further (each of thousands of finds in one long word read all of it):
            reach = _LONGEST_KEYWORD - (end - start) + 1
            first = start - reach
            while start > max(first, 0) and text[start - 1].isalnum():
                start -= 1
            last = end + reach
            while end < min(last, len(text)) and text[end].isalnum():
                end += 1
            return tag_for_keyword(text[start:end]) is None

        found = [
            span for span in self._found_in(text, alternatives) if is_name_or_id(span)
        ]
        pieces, done = [], 0
        for start, end in found:
            pieces += [text[done:start], REDACTED]
            done = end
        screened = "".join([*pieces, text[done:]])
        from_input = _mask_after(from_input, found)
        beside: list[tuple[int, int]] = []

        # A name cut short beside a name found (SMITH_JOHN for SMITH^JOHNATHAN),
        # compared as the names are found (JOSE, JOSÉ of any normal form, JOSÉPHINE):
        def cut_name(match: re.Match[str]) -> str:
            group = "after" if match.group("after") else "before"
            word, (start, end) = match.group(group), match.span(group)
            if from_input is not None and not any(from_input[start:end]):
                return match.group(0)
            cut = _unaccented(word).upper()
            if self._spelt_names is None:
                self._spelt_names = frozenset(_spellings(self.names))
            if (
                len(cut) >= _SHORTEST_IDENTIFIER
                and cut != "REDACTED"
                and any(name.startswith(cut) for name in self._spelt_names)
            ):
                beside.append((start, end))
                return match.group(0).replace(word, REDACTED)
            return match.group(0)

        screened = _BESIDE_REDACTED.sub(cut_name, screened)
        from_input = _mask_after(from_input, beside)
        if from_input is None:
            return screened
        return Message.from_parts(zip(screened, from_input, strict=True))

    def _found_in(
        self, text: str, alternatives: _Alternatives
    ) -> list[tuple[int, int]]:
        """Return where redact() finds identifiers in the text, in order.

        Names in the text compared without its accents (Núñez for NUNEZ), as
        finds() compares them; birth dates however they are written (_dates_in()).
        Finds that overlap become one. Hangul letters are read as syllables and as
        letters, each way finds() reads them (_readings()).
        """
        found = self._found_in_reading(text, alternatives, _JAMO_READINGS[0])
        if not text.isascii() and _JAMO.search(text):
            for jamo_finals in _JAMO_READINGS[1:]:
                found += self._found_in_reading(text, alternatives, jamo_finals)
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start < merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged

    def _found_in_reading(
        self, text: str, alternatives: _Alternatives, jamo_finals: int | None
    ) -> list[tuple[int, int]]:
        """_found_in() for one reading of the text: spans of the text, unsorted."""
        plain, at = _plain_view(text, jamo_finals=jamo_finals)
        pattern = alternatives.pattern_for(plain)
        found = _whole_tokens(plain, pattern) if pattern is not None else []
        # Family names glued to an initial (JSMITH) apart, with the names and IDs
        # found beside them (JSMITHJOHN): alternatives are tried in turn, so one
        # pattern of all would take SMITHJ of SMITHJOHN and leave OHN behind.
        initialled = self._tokens_of(False).initialled.found(plain.upper())
        if initialled:
            beside = set()
            if pattern is not None:
                beside = {match.group().upper() for match in pattern.finditer(plain)}
            found += _whole_tokens(plain, _pattern_of(initialled | beside))
        if not self.birth_dates:
            return _spans_in_text(found, at)
        upper, upper_at = _plain_view(text, upper=True, jamo_finals=jamo_finals)
        return _spans_in_text(found, at) + _spans_in_text(
            _birth_dates_at(upper, self.birth_dates), upper_at
        )

    def redact_problem(self, problem: Problem) -> Problem:
        """Return the problem with its file name, message and value screened.

        The field is the importer's own word (an attribute or column name): kept.
        So is the wording of a Message; counts in the message stay whole (see
        redact()).
        """
        return Problem(
            self.redact(problem.source),
            self.redact(problem.message, short_numbers=False),
            problem.row,
            problem.field,
            self.redact(problem.value, short_numbers=False),
            problem.code,
        )

    def _build_pattern(self, short_numbers: bool) -> _Alternatives:
        """Return redact()'s screen, and keep both: with and without short numbers.

        They differ by the IDs of one to three digits only, so they share their
        look-up tables (_Alternatives.without()).
        """
        identifiers = self.short_identifiers | self.identifiers
        numbers = {
            text
            for text in identifiers
            if text.isdigit() and len(text) < _SUBSTRING_NAME
        }
        # Without accents, as _found_in() reads the text (JOSE-4471 for JOSÉ-4471):
        kept = {_unaccented(text) for text in identifiers - numbers}
        others = set()
        for identifier in self.identifiers:
            for digits in _DIGIT_RUNS.findall(identifier):
                if len(digits.lstrip("0")) >= _SHORTEST_DIGITS:
                    others |= {digits, digits.lstrip("0")}
        others |= _spaceless_names(_spellings(self.names))
        # An ID of several parts with any separators or none between them, as
        # finds() compares it (JOSE4471, JOSE_4471 for JOSE-4471):
        separated = set()
        for identifier in self.identifiers:
            parts = [p for p in _NOT_ALNUM.split(_unaccented(identifier)) if p]
            if len(parts) > 1 and len("".join(parts)) >= _SUBSTRING_NAME:
                separated.add(tuple(parts))
        numbers = {_unaccented(text) for text in numbers} - kept - others
        self._patterns[True] = _Alternatives.of(kept | numbers | others, separated)
        self._patterns[False] = self._patterns[True].without(numbers)
        return self._patterns[short_numbers]

    def add_name(self, text: str, of_patient: bool = False) -> None:
        if self._seen(("name", text, of_patient)):
            return
        # Composed (NFC), so that a name written decomposed (MU + U+0308 LLER, 김 as
        # jamo) has the spellings and initials of its letters (MUELLER, HMULLER);
        # one in compatibility jamo (ㄱㅣㅁ) is made of syllables as texts are read:
        if _JAMO.search(text):
            text = _composed_jamo(text)
        text = unicodedata.normalize("NFC", text)
        # Family, given and middle names; prefixes and suffixes (MR, DR) are no names.
        found = set()
        for group in text.split("="):
            for part in group.split("^")[:3]:
                found.update(
                    w for w in _name_words(part) if len(w) > 1 or _SPACELESS.match(w)
                )
        initialled = _initialled(text)
        self.names |= found
        self.initialled |= initialled
        self.short_family_initials |= _short_family_initials(text)
        self._forget_screens()
        if of_patient:
            self.patient_names |= found
            self.patient_initialled |= initialled

    def add_identifier(
        self, text: str, is_date: bool = False, of_patient: bool = False
    ) -> None:
        if self._seen(("identifier", text, is_date, of_patient)):
            return
        text = unicodedata.normalize("NFC", text.strip().upper())
        self._forget_screens()
        if is_date and not text.strip("0./- "):
            return  # a placeholder date (00000000) identifies nobody
        if len(text) < _SHORTEST_IDENTIFIER:
            if text:
                self.short_identifiers.add(text)
            return
        found = {text}
        day = values.parse_da(text) if is_date else None
        if day is not None:
            found.update(
                day.strftime(form)
                for form in (
                    "%Y-%m-%d",
                    "%Y.%m.%d",
                    "%Y/%m/%d",
                    "%d.%m.%Y",
                    "%d/%m/%Y",
                    "%m/%d/%Y",
                    "%d-%m-%Y",
                    "%Y_%m_%d",
                    "%d%m%Y",
                    "%d_%m_%Y",
                )
            )
        self.identifiers |= found
        if of_patient:
            self.patient_identifiers |= found
        if day is not None:
            self.birth_dates.add(day)
            if of_patient:
                self.patient_birth_dates.add(day)

    def _seen(self, addition: tuple) -> bool:
        """Tell whether this very addition was made before, noting it if not.

        Every file of a series names the same patient, and adding twice changes
        nothing, so the second time is skipped.
        """
        if addition in self._added:
            return True
        self._added.add(addition)
        return False

    def _forget_screens(self) -> None:
        """Drop the compiled patterns and token sets once an identifier is added."""
        self._patterns.clear()
        self._tokens.clear()
        self._spelt_names = None

    def finds(
        self,
        text: str,
        patient_only: bool = False,
        distinctive: bool = False,
        names: str = NAMES_IN_TEXT,
    ) -> bool:
        """Return whether the text holds an identifier (the patient's own if asked).

        An ID is also found written otherwise: without its separators (MRN-77123987,
        MRN 77123987 for MRN77123987, and the other way round) and by its digits
        alone from five on (77123987). How name parts are looked for (`names`,
        NAMES_IN_TEXT...): in free text, from four letters on anywhere, shorter ones
        as whole words; in a code (_ProfilePass.finds()), from four letters on as
        whole words only (_token_edge: SMITH in ORIGINAL\\SMITH, Smith01 or
        SmithScanner, not HEAD in HEADNECK), shorter ones not at all; in a defined
        term of its element, not at all. IDs and birth dates are looked for alike in
        all three. Names are also found spelt without accents or transliterated
        (MULLER, MUELLER for MÜLLER; MULLER for MUELLER: _spellings()), in text
        compared without its accents (Müller, NUÑEZ), and a family name glued to an
        initial (JSMITH, SMITHJ for SMITH^JOHN: `initialled`) as a whole token, in
        free text and codes. A long name part inside a longer word of the trade is
        no name there (LOWE in LOWER LIMB: _outside_trade_words()). A birth date is
        also found written as people write dates (_dates_in(): 3.2.1961, 2/3/1961,
        1961-2-3, 3 Feb 1961, Feb 3, 1961), day or month first.

        `distinctive` (another patient's, see BatchScreen): name parts of four
        letters or more as whole words only, in free text too (RAIN^ leaves BRAIN
        alone); of the short IDs only those that mix letters and digits (P12), as
        whole words; no short name part (BatchScreen.finds_other() looks for two of
        one patient together).
        """
        tokens = self._tokens_of(patient_only)
        # Compared without accents (Müller, MULLER, NUÑEZ), so in every normal form
        # alike (NFC, NFD...: _unaccented()), as redact() compares; hangul letters
        # both as syllables and as letters (_readings()):
        return any(
            self._finds_in(plain, tokens, distinctive, names)
            for plain in _readings(text)
        )

    def _finds_in(
        self, plain: str, tokens: _Tokens, distinctive: bool, names: str
    ) -> bool:
        """finds() for one reading of a text (_readings())."""
        plain_upper = plain.upper()
        if tokens.long_ids.found_in(plain_upper):
            return True
        if tokens.compact_ids.found_in(_NOT_ALNUM.sub("", plain_upper)):
            return True
        if tokens.birth_years and _has_birth_date(plain_upper, tokens):
            return True
        if names == NAMES_IN_TEXT and not distinctive:
            if tokens.long_names.found_in(plain_upper) and _outside_trade_words(
                plain_upper,
                tokens.long_names.found(plain_upper),
                tokens.initialled_trade_words,
            ):
                return True
        elif names != NO_NAMES and _as_words(
            plain, tokens.long_names.found(plain_upper)
        ):
            return True
        if names != NO_NAMES and _initialled_in(plain, plain_upper, tokens):
            return True
        if distinctive or names != NAMES_IN_TEXT:
            short_tokens = tokens.mixed_short_ids if distinctive else tokens.short_ids
        else:
            short_tokens = tokens.short_ids_and_name_parts
        return bool(short_tokens) and not short_tokens.isdisjoint(
            _NOT_ALNUM.split(plain_upper)
        )

    def _tokens_of(self, patient_only: bool) -> _Tokens:
        if patient_only not in self._tokens:
            self._tokens[patient_only] = self._token_sets(patient_only)
        return self._tokens[patient_only]

    def _token_sets(self, patient_only: bool) -> _Tokens:
        """Return finds()' tokens (_Tokens)."""
        identifiers = self.patient_identifiers if patient_only else self.identifiers
        names = _spaceless_names(
            _spellings(self.patient_names if patient_only else self.names)
        )
        birth_dates = self.patient_birth_dates if patient_only else self.birth_dates
        # As written and, as texts are compared, without accents (JOSE-4471):
        written = set(identifiers) | {_unaccented(t) for t in identifiers}
        for identifier in list(written):
            written.add(_NOT_ALNUM.sub("", identifier))
            for digits in _DIGIT_RUNS.findall(identifier):
                if len(digits.lstrip("0")) >= _SHORTEST_DIGITS:
                    written.add(digits.lstrip("0"))
        short_ids = frozenset(t for t in written if t and len(t) < _SUBSTRING_NAME)
        # A name part of a script without spaces counts as long (found anywhere):
        long_names = {
            t for t in names if len(t) >= _SUBSTRING_NAME or _SPACELESS.match(t)
        }
        short_name_parts = frozenset(names - long_names) - short_ids
        initialled = _spellings(
            self.patient_initialled if patient_only else self.initialled
        )
        long_ids = _Substrings.of(t for t in written if len(t) >= _SUBSTRING_NAME)
        return _Tokens(
            long_ids,
            _Substrings.of(long_names - written),
            _Substrings.of(initialled - _trade_words() - written),
            frozenset(initialled & _trade_words()),
            short_ids,
            short_name_parts,
            # NB: the same table: an ID with a separator never stands in a text
            # whose separators were taken out, so only those without count there.
            long_ids,
            frozenset(t for t in short_ids if _is_mixed_id(t)),
            frozenset((day.year, day.month, day.day) for day in birth_dates),
            frozenset(f"{day.year:04d}" for day in birth_dates),
            short_ids | short_name_parts,
        )


class _Tokens(NamedTuple):
    """What IdentifierScreen.finds() looks for, worked out once a screen."""

    long_ids: _Substrings  # IDs and dates of four characters or more, as written
    long_names: _Substrings  # name parts of four letters or more that are no ID
    initialled: _Substrings  # SMITHJ, JSMITH for SMITH^JOHN, no word of the trade
    initialled_trade_words: frozenset[str]  # the others (LOWER of LOWE^ROBERT)
    short_ids: frozenset[str]
    short_name_parts: frozenset[str]  # that are no ID too
    compact_ids: _Substrings  # IDs without separators, for a text without them
    # Short IDs of letters and digits (P12), which no word of the trade is:
    mixed_short_ids: frozenset[str]
    birth_dates: frozenset[tuple[int, int, int]]  # (year, month, day)
    birth_years: frozenset[str]  # of the birth dates, to pass most texts by quickly
    short_ids_and_name_parts: frozenset[str]  # both, for free text


def _name_words(part: str) -> list[str]:
    """Return the words of one part of a person name (VR PN), in capitals."""
    words = []
    for word in re.split(r"[\s,]+", part):
        # SMITH-JONES is also filed under SMITH and JONES; an ID given as a name
        # (CQ500-CT-310) is not, or its CT would blank CT CHEST:
        pieces = word.split("-")
        if not all(piece.isalpha() for piece in pieces):
            pieces = []
        words += [w.upper() for w in [word, *pieces, *_apostrophe_spellings(word)] if w]
    return words


# What people and keyboards put for an apostrophe: the ASCII one and the grave
# accent (`); the typographic quotes (‘ ’ ‛), the acute accent (´), primes (′ ‵),
# the modifier letters (ʹ ʻ ʼ ʽ, the saltillo ꞌ) and the fullwidth forms, which
# texts are read with as the ASCII apostrophe (_UNDECOMPOSED).
_ASCII_APOSTROPHES = "'`"
_OTHER_APOSTROPHES = (
    "\u2018\u2019\u201b\u00b4\u2032\u2035\u02b9\u02bb\u02bc\u02bd\ua78c\uff07\uff40"
)
_APOSTROPHE = re.compile(f"[{_ASCII_APOSTROPHES}{_OTHER_APOSTROPHES}]")


def _apostrophe_spellings(word: str) -> list[str]:
    """Return how else a name with an apostrophe is written (O'BRIEN).

    With either ASCII mark (O'BRIEN, O`BRIEN: a text is read with any other as the
    apostrophe, _OTHER_APOSTROPHES, but an ASCII text as written), without one
    (OBRIEN: file names, systems that keep letters only) and, from five letters on,
    with a space for it (O BRIEN; L OR of L'OR would be found in CONTROL ORDER).
    """
    if not _APOSTROPHE.search(word):
        return []
    marks = ["'", "`", ""]
    if len(_APOSTROPHE.sub("", word)) > _SUBSTRING_NAME:
        marks.append(" ")
    return [_APOSTROPHE.sub(mark, word) for mark in marks]


def _initialled(name: str) -> set[str]:
    """Return the family name glued to an initial, either way round (SMITHJ, JSMITH).

    The initials of the given and middle names (SMITH^JOHN^QUINN: QSMITH too). Only
    for a family name of three letters or more: a shorter one and an initial make a
    word of three letters, too often an ordinary one (AND of AN^DAVID; LI^WEI is
    found as LI W. instead: _short_family_initials()). Forms that are a word of the
    trade (_trade_words(): LUNG of LUN^GRACE) are left out when the screen looks for
    them. A name written without its carets (JOHN SMITH) has no family name to
    tell, and no such form.
    """
    found = set()
    for family, initials in _families_and_initials(name):
        if len(family) >= _SHORTEST_INITIALLED:
            found |= {family + initial for initial in initials}
            found |= {initial + family for initial in initials}
    return found


def _short_family_initials(name: str) -> set[tuple[str, str]]:
    """Return each family name of two or three letters with each initial (LI, W).

    BatchScreen.finds_other() looks for the two as neighbouring words (_ShortNameParts).
    A family name of one letter is none of these: O of O^CHULSOO beside its C would
    be W/O C of every CT HEAD W/O C.
    """
    return {
        (family, initial)
        for family, initials in _families_and_initials(name)
        if _SHORTEST_FAMILY_BESIDE_INITIAL <= len(family) < _SUBSTRING_NAME
        for initial in initials
    }


_SHORTEST_FAMILY_BESIDE_INITIAL = 2
# Words of two or three letters that reports and protocols write beside a lone
# capital (NO C, compare to L side, CHEST AP L, LAT R, DELAY 5 MIN A, DR J.): a
# family name spelt so, or as a modality (KO, Korean 고), is looked for beside an
# initial only where the initial is marked as one (_FAMILY_THEN_INITIAL: NO, M.
# and NO^M for a patient NO^MINSU; Korean 노 NO, 인 IN, 민 MIN, Vietnamese Tô TO).
_WORDS_BESIDE_A_LETTER = frozenset(
    "AM AN AP AS AT BE BY DO DR GO HE IF IN IS IT LAT LT ME MIN MR MS MY NO OF ON "
    "OR PA PER PM POS PRE RE RT SO TO UP VS WE".split()
)
# A family name of two or three letters and a letter marked as an initial the way a
# name is written, not prose: a caret between them, as DICOM writes names (NO^M), or
# a comma before the initial and its full stop (NO, M.). Not "NO M." nor "M. NO": a
# word beside a letter and a full stop is as often Latin anatomy (IN A. CAROTIS,
# M. PSOAS), a liver segment (IN S. 7), a time (5 MIN P.) or a sentence's end
# (CT ABD NO C.), which a patient called IN, MIN or NO would empty (review rev3a).
# NB: such a name in prose (NO M. follow-up) is therefore missed.
_FAMILY_THEN_INITIAL = re.compile(
    r"(?<![^\W_])(?P<family>[^\W\d_]{2,3})"
    r"(?:\s*,\s*(?P<initial>[^\W\d_])\.|\^(?P<caret>[^\W\d_]))"
    r"(?![^\W_])"
)


def _families_and_initials(name: str) -> Iterator[tuple[str, set[str]]]:
    """Yield each word of a family name with the initials of the given and middle names.

    Words of letters of a script with spaces only (none of 山田^太郎), in capitals.
    """
    for group in name.split("="):
        family, *given = group.split("^")[:3]
        initials = {
            word[0]
            for part in given
            for word in _name_words(part)
            if word.isalpha() and not _SPACELESS.match(word)
        }
        for word in _name_words(family):
            if word.isalpha() and not _SPACELESS.search(word):
                yield word, initials


def _of_one_patient(
    family: str, initial: str, pairs: frozenset[tuple[str, str]]
) -> bool:
    """Whether a family name and an initial, as written, are a pair of one patient.

    The initial a capital, the family name in capitals or with a capital first
    (_written_as_a_name()); `pairs` in capitals (_ShortNameParts).
    """
    return (
        initial.isupper()
        and _written_as_a_name(family)
        and (family.upper(), initial) in pairs
    )


def _written_as_a_name(word: str) -> bool:
    """Whether a word is in capitals or has a capital first only (LI, Li; not li)."""
    return word.isupper() or word.istitle()


def _is_mixed_id(token: str) -> bool:
    """Whether a short ID holds both letters and digits (P12, not 123 nor CT)."""
    return (
        len(token) >= _SHORTEST_IDENTIFIER
        and any(c.isdigit() for c in token)
        and any(c.isalpha() for c in token)
    )


def _pattern_of(
    tokens: Iterable[str], separated: Iterable[str] = ()
) -> re.Pattern[str]:
    """Return a screen of redact() for the tokens, case ignored ("": no token).

    Longest first, so that SMITHSON wins over SMITH where both are names, after the
    `separated` patterns (IDs with any separators, never shorter than their parts
    glued). Found anywhere here; _whole_tokens() keeps those that make whole tokens.
    """
    patterns = sorted(separated, key=lambda p: (-len(p), p)) + [
        ("0*" if token.isdigit() and len(token) >= _SUBSTRING_NAME else "")
        + re.escape(token)
        for token in sorted(filter(None, tokens), key=lambda t: (-len(t), t))
    ]
    return re.compile("|".join(patterns), re.IGNORECASE)


class _Alternatives:
    """redact()'s screen: tokens and IDs of several parts, found as one pattern would.

    One regular expression of them all (_pattern_of()) tries its alternatives in
    turn at each place of a text, and with a batch's every patient (some 500,000
    IDs, date forms and names at 30,000 patients) took half a minute to compile and
    long to run. So the tokens that occur in a text, in capitals, are looked up
    first (_Substrings), and the pattern is made of those alone: alternatives that
    match nowhere in the text change nothing of what the pattern finds. An ID of
    several parts occurs where its parts occur glued once the text's separators
    are taken out (JOSE4471 of JOSE-4471 in "jose_4471.dcm").
    """

    def __init__(
        self,
        tokens: dict[str, list[str]],
        separated: dict[str, list[str]],
    ) -> None:
        # The tokens, and the patterns of the separated IDs, by what is looked up:
        self.tokens = tokens
        self.separated = separated
        self.left_out: frozenset[str] = frozenset()  # without()
        self._count = sum(map(len, tokens.values()))
        self._find_tokens = _Substrings.of(tokens)
        self._find_separated = _Substrings.of(separated)
        self._compiled: dict[tuple[frozenset[str], ...], re.Pattern[str]] = {}

    @classmethod
    def of(
        cls, tokens: Iterable[str], separated: Iterable[tuple[str, ...]]
    ) -> _Alternatives:
        by_upper: defaultdict[str, list[str]] = defaultdict(list)
        for token in filter(None, tokens):
            by_upper[token.upper()].append(token)
        by_glued: defaultdict[str, list[str]] = defaultdict(list)
        for parts in separated:
            pattern = r"[\W_]*".join(map(re.escape, parts))
            by_glued["".join(parts).upper()].append(pattern)
        return cls(dict(by_upper), dict(by_glued))

    def without(self, tokens: Iterable[str]) -> _Alternatives:
        """Return the same screen without some of its tokens, sharing its tables."""
        other = copy.copy(self)
        other.left_out = self.left_out | frozenset(tokens)
        other._compiled = {}
        return other

    def __bool__(self) -> bool:
        return bool(self.separated) or self._count > len(self.left_out)

    def pattern_for(self, text: str) -> re.Pattern[str] | None:
        """Return the pattern of the tokens and IDs that occur in the text (None: none)."""
        upper = text.upper()
        tokens = frozenset(
            token
            for key in self._find_tokens.found(upper)
            for token in self.tokens[key]
            if token not in self.left_out
        )
        separated = frozenset(
            pattern
            for key in self._find_separated.found(_NOT_ALNUM.sub("", upper))
            for pattern in self.separated[key]
        )
        if not tokens and not separated:
            return None
        key = (tokens, separated)
        if key not in self._compiled:
            if len(self._compiled) >= _MOST_COMPILED:
                self._compiled.clear()
            self._compiled[key] = _pattern_of(tokens, separated)
        return self._compiled[key]


def _initialled_in(text: str, upper: str, tokens: _Tokens) -> bool:
    """Whether a family name glued to an initial stands in the text as a whole token.

    Also glued to other name parts (JSMITHJOHN): looked for with the long ones too,
    and apart, since a regular expression tries its alternatives in turn (SMITHJ of
    SMITHJOHN would leave OHN behind).
    """
    initialled = tokens.initialled.found(upper)
    if not initialled:
        return False
    return _as_words(text, initialled) or _as_words(
        text, initialled | tokens.long_names.found(upper)
    )


def _outside_trade_words(
    text: str, names: Iterable[str], initialled: frozenset[str]
) -> bool:
    """Whether a name found in a text in capitals stands outside the words of the trade.

    A name inside a longer word of the trade (_trade_words()) is no name there:
    LOWE (of LÖWE, or LOEWE spelt with one vowel) in LOWER of LOWER LIMB, RAIN in
    BRAIN. The name as a whole word still counts (a patient LUNG and LUNG WINDOW),
    so do the name with an S (MORISONS, WILLIS for a patient WILLI: a possessive),
    the name glued to an initial of the patient (`initialled`: LOWER for
    LOWE^ROBERT), and a name across words (O'BRIEN).
    """
    words = [match.span() for match in re.finditer(r"[^\W_]+", text)]
    for name in names:
        start = text.find(name)
        while start != -1:
            end = start + len(name)
            word = next((text[a:b] for a, b in words if a <= start and end <= b), name)
            if (
                word in (name, f"{name}S")
                or word in initialled
                or word not in _trade_words()
            ):
                return True
            start = text.find(name, start + 1)
    return False


def _as_words(text: str, names: Iterable[str]) -> bool:
    """Whether any of the names found in the text stands in it as a whole token.

    By redact()'s rule (_whole_tokens): names glued to one another count as one
    (SMITHJOHN); a name inside a longer word does not (HEAD in HEADNECK).
    """
    names = sorted(names, key=lambda name: (-len(name), name))
    if not names:
        return False
    pattern = re.compile("|".join(map(re.escape, names)), re.IGNORECASE)
    return bool(_whole_tokens(text, pattern))


@dataclass
class BatchScreen(IdentifierScreen):
    """The identifiers of every patient of a batch, and of each patient apart.

    As an IdentifierScreen it holds them all: file names, messages and log lines
    are redacted for every patient alike. deidentify() screens a file's kept values
    for its own patient's identifiers by the full rule, those read from the other
    files of the same PatientID too (of_patient()), and for the other patients'
    identifiers by the `distinctive` rule of finds() only: IDs and birth dates
    of four characters or more, found as ever (anywhere, also written otherwise);
    name parts of four letters or more as whole words (a patient POST^ or RAIN^
    emptied every BRAIN MRI of the batch); IDs of three characters that mix
    letters and digits (P12) as whole words; and two or more name parts of two or
    three letters of one patient together (finds_other(), _ShortNameParts: LI WEI,
    Wei Li, LI^WEI, LiWei for a patient LI^WEI).

    A lone name part or ID of two or three letters of another patient is not
    looked for there, by design: as a whole word it is most often an ordinary word
    of the trade (a patient named CT^MR, or PET, emptied Modality CT,
    SeriesDescription CT CHEST and ProtocolName of every file of the batch, and
    left every series without its modality), whereas a file of one patient that
    names another by two letters alone gives little away. So a file of NG^AL
    keeps a lone YU though the batch holds NG^YU (NG YU goes). Such a part still
    goes from file names and messages (redact()), and from the patient's own files.
    A family name with an initial is looked for: one of three letters or more glued
    to it as a whole word (JSMITH, SMITHJ, DOEA: _initialled()); one of two or three
    letters beside it as a word of its own (LI W., W. LI, LI^W for LI^WEI, DOE J.:
    _ShortNameParts), not glued (LIW, like AND for AN^DAVID, is too often a word).
    """

    _by_patient: dict[str, IdentifierScreen] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The project's patients stored before, by keyed hash of their source IDs only:
    earlier: KnownPatients | None = field(default=None, repr=False, compare=False)
    # Each patient's short name parts (finds_other()), made when first asked:
    _short_parts: _ShortNameParts | None = field(
        default=None, repr=False, compare=False
    )

    def finds_other(
        self, text: str, patient_only: bool, names: str = NAMES_IN_TEXT
    ) -> bool:
        """Tell whether the text holds a distinctive identifier of any patient.

        Of this batch's patients (finds(distinctive=True), name parts as `names`
        says; in free text also two short name parts of one patient together, or
        a short family name beside its initial: _ShortNameParts), or the source ID
        of a patient stored before (`earlier`).
        """
        if self.finds(text, patient_only, distinctive=True, names=names):
            return True
        if names == NAMES_IN_TEXT:
            if self._short_parts is None:
                self._short_parts = _ShortNameParts.of(self._by_patient.values())
            if self._short_parts.together_in(text):
                return True
        return self.earlier is not None and self.earlier.named_in(text)

    def add_patient(self, ds: Dataset) -> None:
        super().add_patient(ds)
        self._short_parts = None
        patient_id = patient_id_of(ds)
        if patient_id not in self._by_patient:
            self._by_patient[patient_id] = IdentifierScreen()
        self._by_patient[patient_id].add_patient(ds)

    def of_patient(self, ds: Dataset) -> IdentifierScreen | None:
        """Return the identifiers the batch's files of the data set's PatientID hold."""
        return self._by_patient.get(patient_id_of(ds))

    def add_source_patient(self, source_id: str, names: Iterable[str] = ()) -> None:
        """Add a patient a table names by its source ID (and names, where it gives any).

        The table importers' counterpart of add_patient(): the ID and names count
        as the patient's own, in the batch's screen and in the patient's.
        """
        source_id = source_id.strip()
        own = self._by_patient.setdefault(source_id, IdentifierScreen())
        for screen in (self, own):
            screen.add_identifier(source_id, of_patient=True)
            for name in names:
                screen.add_name(name, of_patient=True)
        self._short_parts = None

    def prepare(self) -> None:
        """Build now the batch's look-up tables, which the screens build at first use.

        Before worker processes fork: each would otherwise build them again for
        itself, at a cost that grows with the batch's patients. The screen of each
        patient (of_patient()) is left to the worker that meets the patient's
        files: built here for every patient, they took 13 s of CPU at 30,000
        patients before any file was stored, whereas a worker builds one in a
        fraction of a millisecond, once a patient, as it builds each file's own
        screen (deidentify()).
        """
        # TODO: at 30,000 batch patients the batch's tables still take some 8 s of
        # CPU here (finds()' and redact()'s, over some 260,000 IDs and date forms
        # in pure Python); a batch of a few thousand patients takes 2 s.
        for patient_only in (False, True):
            self.finds("", patient_only)
        self.finds_other("", patient_only=False)
        for short_numbers in (False, True):
            self.redact("x", short_numbers)
        self._spelt_names = frozenset(_spellings(self.names))


class _ShortNameParts:
    """The name parts of two or three letters of a batch's patients, by patient.

    To find two or more parts of one patient together (BatchScreen.finds_other()):
    as neighbouring words in any order, whatever stands between them (LI WEI,
    Wei, Li and LI^WEI for LI^WEI), or glued into one word (LIWEI, LiWei), also to
    digits or a code, words being cut as redact() cuts them (LiWei2, LIWEI01,
    NgYuCT: _edge_words()). A lone
    part is not found, nor parts of two patients side by side, nor parts that are
    all modalities (CID 33: CT, MR, PT, US...): PET MR CT is a list of modalities
    even beside a patient CT^MR.

    Also a family name of two or three letters beside the initial of the same
    patient's given or middle name, either way round, each a word of its own
    (LI W., W. LI, LI^W, Li, W for LI^WEI; DOE J. for DOE^JOHN): the initial as a
    capital, as initials are written, so that "li w" or "do a" in a sentence is no
    name, and the family name in capitals or with a capital first (LI, Li; "in L"
    is no IN^LEE). Not glued (LIW: too often an ordinary word, see _initialled()),
    nor for a family name of one letter (W/O C beside O^CHULSOO). A family name
    that is a modality (CT W CONTRAST beside a patient CT^WEI; KO, Korean 고, is
    Key Object Selection) or a word written beside a lone letter
    (_WORDS_BESIDE_A_LETTER: CT HEAD NO C beside NO^CHUL) is found beside an
    initial marked as one only (_FAMILY_THEN_INITIAL: NO^M and NO, M. for
    NO^MINSU). NB: NO M. and M. NO in prose are missed, since a word beside a
    letter and a full stop is as often anatomy or a sentence's end (IN A. CAROTIS,
    CT ABD NO C.).
    """

    def __init__(
        self,
        by_part: dict[str, int],
        family_initials: frozenset[tuple[str, str]],
        marked_family_initials: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        # Each part's patients, as a bit mask (one bit a patient):
        self.by_part = by_part
        # (family name, initial) of one patient, spelt as _spellings() spells:
        self.family_initials = family_initials
        # ... whose family name is a word (NO) or a modality: initial marked only:
        self.marked_family_initials = marked_family_initials

    @classmethod
    def of(cls, screens: Iterable[IdentifierScreen]) -> _ShortNameParts:
        by_part: dict[str, int] = {}
        family_initials: set[tuple[str, str]] = set()
        marked: set[tuple[str, str]] = set()
        for number, screen in enumerate(screens):
            for part in _spellings(screen.names):
                # Names without spaces (CJK) are found anywhere by finds() already:
                if (
                    len(part) < _SUBSTRING_NAME
                    and part.isalpha()
                    and not _SPACELESS.match(part)
                ):
                    by_part[part] = by_part.get(part, 0) | 1 << number
            for family, initial in screen.short_family_initials:
                for spelt in _spellings([family]):
                    if len(spelt) >= _SUBSTRING_NAME:
                        continue
                    pair = (spelt, _unaccented(initial))
                    if spelt in _modalities() or spelt in _WORDS_BESIDE_A_LETTER:
                        marked.add(pair)
                    else:
                        family_initials.add(pair)
        return cls(by_part, frozenset(family_initials), frozenset(marked))

    def together_in(self, text: str) -> bool:
        """Whether the text holds two or more different parts of one patient together.

        Or a short family name beside an initial of the same patient (LI W.).
        """
        if not (self.by_part or self.family_initials or self.marked_family_initials):
            return False
        return any(self._together_in(plain) for plain in _readings(text))

    def _together_in(self, plain: str) -> bool:
        """together_in() for one reading of a text (_readings())."""
        if self.family_initials and self._family_beside_initial(plain):
            return True
        if self.marked_family_initials and self._family_beside_marked_initial(plain):
            return True
        made_before = named_before = 0
        word_before = ""
        for word in _edge_words(plain):
            made, named, glued = self._made_of(word)
            if glued:
                return True  # glued: two different parts or more in one word
            if word != word_before and made_before & made & (named_before | named):
                return True
            made_before, named_before, word_before = made, named, word
        return False

    def _family_beside_initial(self, plain: str) -> bool:
        """Whether two neighbouring words are a family name and its initial (LI W.).

        The family name in capitals or with a capital first (LI, Li), as names are
        written: "lesion in L lung" is no IN L.
        """
        words = _NOT_ALNUM.split(plain)
        for first, second in zip(words, words[1:], strict=False):
            if _of_one_patient(first, second, self.family_initials):
                return True
            if _of_one_patient(second, first, self.family_initials):
                return True
        return False

    def _family_beside_marked_initial(self, plain: str) -> bool:
        """Whether the text holds such a pair with the initial marked (NO^M, NO, M.).

        Of marked_family_initials; written as _family_beside_initial() asks.
        """
        for match in _FAMILY_THEN_INITIAL.finditer(plain):
            initial = match.group("initial") or match.group("caret")
            if _of_one_patient(
                match.group("family"), initial, self.marked_family_initials
            ):
                return True
        return False

    def _made_of(self, word: str) -> tuple[int, int, int]:
        """Return the patients whose parts make the word whole, one or more.

        And those of them that make it with a part that is no modality, and those
        that make it of two different parts, one of them no modality (glued: LIWEI,
        not LILI). A word of the trade (_trade_words(): a modality, CTPROTOCOL,
        PLAN; a body part of PS3.16 Table L-1, LUNG, HEAD; a word of their meanings,
        BONE, LOWER) is made by nobody: NG^LU leaves LUNG WINDOW alone, BO^NE BONE
        WINDOW. A word of the trade in no list still counts: there is no offline
        list of them all. Each place of the word
        holds who can make the letters before it, by the first part they used
        (None: two different ones).
        """
        if len(word) < _SUBSTRING_NAME:
            made = self.by_part.get(word, 0)
            named = 0 if word in _modalities() else made
            return made, named, 0
        if word in _trade_words():
            return 0, 0, 0
        # reach[at][first part or None] = (made, named):
        reach: list[dict[str | None, tuple[int, int]]] = [
            {} for _ in range(len(word) + 1)
        ]
        for at in range(len(word) - 1):
            for end in (at + 2, at + 3):
                part = word[at:end]
                patients = self.by_part.get(part, 0) if end <= len(word) else 0
                if not patients:
                    continue
                own = 0 if part in _modalities() else patients
                starts = reach[at].items() if at else [("", (-1, 0))]
                for first, (made, named) in starts:
                    made &= patients
                    if not made:
                        continue
                    key = part if first == "" else (first if first == part else None)
                    was = reach[end].get(key, (0, 0))
                    reach[end][key] = (
                        was[0] | made,
                        was[1] | (named & made) | own & made,
                    )
        made = named = 0
        for made_by, named_by in reach[-1].values():
            made, named = made | made_by, named | named_by
        return made, named, reach[-1].get(None, (0, 0))[1]


# The names GE gives its reconstruction kernels (ConvolutionKernel (0018,1210)): no
# table of every vendor's kernels exists, and the others' names hold digits (Siemens
# B30f, Canon FC13) or are a letter or two (Philips B, YA).
_GE_KERNELS = frozenset(
    {"SOFT", "STANDARD", "DETAIL", "CHEST", "LUNG", "BONE", "BONEPLUS", "EDGE"}
)


@functools.cache
def _trade_words() -> frozenset[str]:
    """Words of the trade of four letters or more, which name nobody.

    Modalities (CID 33) and body parts (PS3.16 Table L-1) with the words of their
    meanings (BONE of Bone Mineral Densitometry, LOWER and LIMB of Lower limb), and
    GE's kernels. Offline lists: a word of the trade in none of them still counts.
    """
    cid = codes.cid33
    meanings = [getattr(cid, name).meaning for name in cid.dir()]
    from highdicom._standard_utils import get_anatomic_region_map

    meanings += [code.CodeMeaning for code, _ in get_anatomic_region_map().values()]
    words = {
        word
        for meaning in meanings
        for word in _NOT_ALNUM.split(_unaccented(meaning).upper())
        if word.isalpha()
    }
    words |= _modalities() | _body_parts() | _GE_KERNELS
    return frozenset(word for word in words if len(word) >= _SUBSTRING_NAME)


@functools.cache
def _modalities() -> frozenset[str]:
    """Modality's defined terms (CID 33, as pydicom has them), which name nobody."""
    cid = codes.cid33
    return frozenset(getattr(cid, name).value for name in cid.dir())


def _key_prefix(key: str) -> bytes:
    """Return the first _KEY_PREFIX bytes of a stored source key, or b"" for a key that
    is no keyed hash (empty for a patient added by hand; other text in tests and in
    data of older versions), which no source ID can match and which would put the
    prefixes out of step."""
    try:
        prefix = bytes.fromhex(key)[:_KEY_PREFIX]
    except ValueError:
        return b""
    return prefix if len(prefix) == _KEY_PREFIX else b""


class KnownPatients:
    """The source IDs of a project's stored patients, known by their keyed hash only.

    The biobank keeps no patient's source ID, only its keyed hash
    (Patient.source_key), and no name at all. So a text can be screened for the
    patients of earlier imports (DICOM, clinical or lab alike) only by hashing
    what in it could be an ID and looking the hash up: each run of up to
    _MOST_ID_PARTS words and numbers of the text, as written and in capitals, of
    four characters or more (five digits or more when only digits, so that years
    and counts are no ID), with the separators between them as written. Found so:
    STS_001 in IBSI_1_STS_001_CT (sts_001 too), MRN77123987 and 77123987 in
    MRN77123987. Not found: an ID written with other separators (STS-001 for
    STS_001), in another case than as stored or in capitals (sts_001 for Sts_001),
    by its digits alone, or cut short; a name of any patient, a birth date.
    """

    def __init__(self, project_code: str, keys: bytes) -> None:
        self.project_code = project_code
        # The first _KEY_PREFIX bytes of each key, one after the other (small to
        # pickle), and set apart to look up: made here, before the worker
        # processes that inherit it are forked (dicom._SCREEN), not in each.
        self.keys = keys
        self._prefixes = frozenset(
            keys[at : at + _KEY_PREFIX] for at in range(0, len(keys), _KEY_PREFIX)
        )
        self._said: dict[str, bool] = {}  # named_in(), by text

    @classmethod
    def of_project(cls, project_code: str, project_id: int) -> KnownPatients:
        """Return the project's stored patients (one query)."""
        keys = Patient.objects.filter(project_id=project_id).values_list(
            "source_key", flat=True
        )
        return cls(project_code, b"".join(filter(None, map(_key_prefix, keys))))

    def __getstate__(self) -> dict:
        return {"project_code": self.project_code, "keys": self.keys}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["project_code"], state["keys"])

    def named_in(self, text: str) -> bool:
        """Tell whether the text holds the source ID of a stored patient of the project."""
        if not self.keys:
            return False
        if text not in self._said:
            self._said[text] = any(
                self.is_key(candidate) for candidate in _id_candidates(text)
            )
        return self._said[text]

    def is_key(self, source_id: str) -> bool:
        key = bytes.fromhex(project_source_key(self.project_code, source_id))
        return key[:_KEY_PREFIX] in self._prefixes


def _id_candidates(text: str) -> set[str]:
    """Return what in the text could be a source ID: see KnownPatients."""
    parts = [match.span() for match in _WORDS_AND_NUMBERS.finditer(text)]
    found = set()
    for first, (start, _) in enumerate(parts):
        for _, end in parts[first : first + _MOST_ID_PARTS]:
            candidate = text[start:end]
            if len(candidate) > _LONGEST_ID:
                break
            shortest = _SHORTEST_DIGITS if candidate.isdigit() else _SUBSTRING_NAME
            if len(candidate) >= shortest:
                found |= {candidate, candidate.upper()}
    return found


def patient_id_of(ds: Dataset) -> str:
    """Return the data set's PatientID as a text ("" when it has none)."""
    return next(iter(_texts(values.element(ds, "PatientID"))), "").strip()


@dataclass(frozen=True)
class _Substrings:
    """Tokens to look for anywhere in a text.

    A few are tried one by one. Many (a batch of hundreds of patients, whose every
    file is screened for all of them) are found by their first four characters,
    looked up at each place of the text, and those shorter (CJK names of two or
    three characters, short IDs) by the pieces of the text of their lengths, so
    that the cost stays that of the text.
    """

    few: tuple[str, ...]  # empty for many
    by_start: dict[str, list[str]]
    short: frozenset[str] = frozenset()
    short_sizes: tuple[int, ...] = ()  # the lengths of the short ones

    @classmethod
    def of(cls, tokens: Iterable[str]) -> _Substrings:
        unique = set(tokens)
        if len(unique) <= _FEW_TOKENS:
            return cls(tuple(sorted(unique)), {})
        by_start: defaultdict[str, list[str]] = defaultdict(list)
        short = []
        for token in unique:
            if len(token) < _SUBSTRING_NAME:
                short.append(token)
            else:
                by_start[token[:_SUBSTRING_NAME]].append(token)
        return cls(
            (),
            dict(by_start),
            frozenset(short),
            tuple(sorted({len(token) for token in short})),
        )

    def found(self, text: str) -> set[str]:
        """The tokens found in the text (all of them, unlike found_in())."""
        if self.few:
            return {token for token in self.few if token in text}
        return {
            token
            for at in range(len(text) - _SUBSTRING_NAME + 1)
            for token in self.by_start.get(text[at : at + _SUBSTRING_NAME], ())
            if text.startswith(token, at)
        } | self.short.intersection(self._pieces(text))

    def found_in(self, text: str) -> bool:
        if self.few:
            return any(token in text for token in self.few)
        if not self.short.isdisjoint(self._pieces(text)):
            return True
        for at in range(len(text) - _SUBSTRING_NAME + 1):
            for token in self.by_start.get(text[at : at + _SUBSTRING_NAME], ()):
                if text.startswith(token, at):
                    return True
        return False

    def _pieces(self, text: str) -> Iterator[str]:
        """Yield the pieces of the text as long as the short tokens."""
        for size in self.short_sizes:
            for at in range(len(text) - size + 1):
                yield text[at : at + size]


def _input_mask(text: str) -> list[bool] | None:
    """Return, character by character, whether a Message took it from the input.

    None for any other text: all of it counts as input.
    """
    if not isinstance(text, Message):
        return None
    return [is_input for part, is_input in text.parts for _ in part]


def _mask_after(
    mask: list[bool] | None, replaced: list[tuple[int, int]]
) -> list[bool] | None:
    """Return the mask of a text once each (start, end) span became "[redacted]".

    A redaction counts as input, so that a later look at the text sees it as such.
    """
    if mask is None or not replaced:
        return mask
    after: list[bool] = []
    done = 0
    for start, end in replaced:
        after += mask[done:start]
        after += [True] * len(REDACTED)
        done = end
    return after + mask[done:]


def _whole_tokens(text: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
    """Return the spans of the pattern's finds that are whole tokens of the text.

    Finds glued to one another (SMITHJOHN) are judged together, as one run: the run
    must start and end at a token boundary (_token_edge), so that an identifier
    inside an ordinary word or code (the ID 2 in CR2, the name PETER in PETERSON,
    98890234 in 198890234) is no identifier there.
    """
    kept: list[tuple[int, int]] = []
    run: list[tuple[int, int]] = []

    def close_run() -> None:
        if run:
            long = run[-1][1] - run[0][0] >= _SUBSTRING_NAME
            if _token_edge(text, run[0][0], long) and _token_edge(
                text, run[-1][1], long
            ):
                kept.extend(run)
            run.clear()

    for match in pattern.finditer(text):
        if run and run[-1][1] != match.start():
            close_run()
        run.append(match.span())
    close_run()
    return kept


def _edge_words(text: str) -> list[str]:
    """Return the text's words in capitals, cut where redact() lets a token end.

    At anything but a letter or digit, and inside a word where lower case turns to
    upper or letters to digits and back (_token_edge): LiWei2 is LI, WEI and 2,
    LIWEI01 is LIWEI and 01, NgYuCT is NG, YU and CT.
    """
    words: list[str] = []
    for word in _NOT_ALNUM.split(text):
        start = 0
        for at in range(1, len(word)):
            if _token_edge(word, at, long=True):
                words.append(word[start:at].upper())
                start = at
        words.append(word[start:].upper())
    return words


def _token_edge(text: str, at: int, long: bool) -> bool:
    """Tell whether a token may begin or end at this index of the text.

    At the start or end, beside anything but a letter or digit, and where lower
    case turns to upper (LiWei). For a `long` run (four characters or more), also
    where letters turn to digits or back (SMITH01); not for a shorter one, whose
    letters and digits are far more often a code (CR2, MR700) than an identifier.
    """
    if at <= 0 or at >= len(text):
        return True
    before, after = text[at - 1], text[at]
    if not (before.isalnum() and after.isalnum()):
        return True
    if _SPACELESS.match(before) or _SPACELESS.match(after):
        return True  # a word of a script without spaces may end anywhere
    if before.islower() and after.isupper():
        return True
    return long and before.isdigit() != after.isdigit()


# How names are spelt in ASCII (German, Scandinavian): MUELLER for MÜLLER, AA for Å.
_TRANSLITERATIONS = str.maketrans(
    {"Ä": "AE", "Ö": "OE", "Ü": "UE", "ß": "SS", "Ø": "OE", "Å": "AA", "Æ": "AE"}
    | {"ä": "ae", "ö": "oe", "ü": "ue", "ø": "oe", "å": "aa", "æ": "ae"}
)
# Letters that Unicode does not decompose into a letter and an accent:
_UNDECOMPOSED = str.maketrans(
    {"Ø": "O", "Æ": "AE", "Œ": "OE", "Ł": "L", "Đ": "D", "Ð": "D", "Þ": "TH"}
    | {"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th"}
    | {"ß": "ss", "ı": "i"}
    # ... and apostrophes (O’BRIEN, O´BRIEN, whose accent NFKD makes a space):
    | dict.fromkeys(map(ord, _OTHER_APOSTROPHES), "'")
)
# The other way round, from four letters on: MULLER for a patient MUELLER, written
# Müller and read without accents. Not for shorter names, whose AE/OE/UE is more
# often just letters (JOE, MAE would become JO, MA, whole words of much text):
_TRANSLITERATED_UMLAUT = re.compile(r"(?<=[A-Z])([AOU])E")


def _transliterated(text: str) -> str:
    # How German names are spelt in ASCII file names: MUELLER for MÜLLER.
    return _unaccented(text.translate(_TRANSLITERATIONS))


def _spaceless_names(names: set[str]) -> set[str]:
    """Return the name parts with each of one CJK character glued to another part.

    Names in scripts without spaces (山田太郎, 王小明) are found anywhere in a
    text: one of two characters or more as it is (a long name, see finds()); one
    of a single character (王) only glued to another part of the names (王小明,
    小明王), since one ideograph alone is in too many words to be a name there.
    """
    single = {name for name in names if len(name) == 1 and _SPACELESS.match(name)}
    if not single:
        return names
    glued = {
        first + second
        for part in single
        for other in names - {part}
        for first, second in ((part, other), (other, part))
    }
    return (names - single) | glued


def _unaccented(text: str, jamo_finals: int | None = 2) -> str:
    """Return the text without its accents, its hangul letters made into syllables.

    `jamo_finals`: the most consonants a syllable takes as its final from the
    letters typed after it where no vowel follows them (_jamo_syllables()); None:
    hangul letters are left as they are (_readings()).
    """
    if text.isascii():
        return text  # most names: nothing to take off, and many to look at
    if jamo_finals is not None and _JAMO.search(text):
        text = _composed_jamo(text, jamo_finals)
    decomposed = unicodedata.normalize("NFKD", text.translate(_UNDECOMPOSED))
    # Composed again, so that a hangul syllable (김) stays one, not three jamo:
    return unicodedata.normalize(
        "NFC", "".join(c for c in decomposed if not unicodedata.combining(c))
    )


def _readings(text: str) -> list[str]:
    """Return the text as finds() compares it (_unaccented()), once or more.

    More when it holds hangul letters (jamo), which read several ways: as the
    syllables they spell with the syllable before them (기 and ᄆ, NFKC of ㄱㅣㅁ,
    is 김) or as letters after it (김민수ㅎㅎ, 김민수ᄏᄏ: laughter after 김민수, not
    김민숳); and typed all in letters, with the consonants after the last syllable
    (no vowel follows them) as its final, one of them only or none
    (_JAMO_READINGS: ㄱㅣㅁㅁㅣㄴㅅㅜㅋㅋ is 김민숰ㅋ or 김민수ㅋㅋ, ㄱㅣㅁㅁㅣㄴㅎㅎ 김믾ㅎ
    or 김민ㅎㅎ). Nothing tells them apart, so a name found in any is found, and
    one that differs by such a final goes too (김민수 takes ㄱㅣㅁㅁㅣㄴㅅㅜㄱ, which
    may be 김민숙): the safer side. NB: letters before a syllable are its finals
    in every reading (ㄱㅣㅁㅁㅣㄴㅅㅜㅋㅋ검사 is 김민숰ㅋ검사), as NFKC writes 김민 as
    기ᄆ미ᄂ, whose ᄆ before 미 is 기's final; a space before 검사 is needed.
    Letters apart (ㄱ ㅣ ㅁ) make no syllable.
    """
    if text.isascii():
        return [text]
    plain = _unaccented(text)
    if not _JAMO.search(text):
        return [plain]
    readings = [plain]
    for jamo_finals in _JAMO_READINGS[1:]:
        reading = _unaccented(text, jamo_finals)
        if reading not in readings:
            readings.append(reading)
    return readings


# Hangul written as letters, not syllables: compatibility jamo (U+3131-U+318E), as
# some systems store and search Korean names (ㄱㅣㅁ for 김), their halfwidth forms,
# and conjoining jamo (U+1100-U+11FF). NFKC maps a compatibility jamo to a
# conjoining one, but a consonant always to an initial, so NFC never makes a final
# of it (ㄱㅣㅁ became 기 and a lone ᄆ, which no name matched); NFKD and NFKC of
# such text leave those orphan initials too. _jamo_syllables() assembles all of
# these into syllables as a Korean keyboard does.
_JAMO = re.compile("[\u1100-\u11ff\u3131-\u318e\uffa0-\uffdc]")
# Two letters that make one vowel or one final consonant (ㅗㅏ is ㅘ, ㄹㄱ is ㄺ):
_JAMO_PAIRS = {
    pair[:2]: pair[2]
    for pair in "ㅗㅏㅘ ㅗㅐㅙ ㅗㅣㅚ ㅜㅓㅝ ㅜㅔㅞ ㅜㅣㅟ ㅡㅣㅢ ㄱㅅㄳ ㄴㅈㄵ ㄴㅎㄶ ㄹㄱㄺ "
    "ㄹㅁㄻ ㄹㅂㄼ ㄹㅅㄽ ㄹㅌㄾ ㄹㅍㄿ ㄹㅎㅀ ㅂㅅㅄ".split()
}
_FIRST_SYLLABLE, _LAST_SYLLABLE = 0xAC00, 0xD7A3
# The readings of hangul letters (_readings()): the most consonants typed after a
# syllable with no vowel after them that it takes as its final, as a keyboard
# does (two: ㄷㅏㄹㄱ is 닭), one or none (letters of their own, ㅋㅋ of 김민수ㅋㅋ);
# None: the letters as they are, no syllables made (ᄏᄏ after 김민수).
_JAMO_READINGS: tuple[int | None, ...] = (2, 1, 0, None)
# Conjoining final consonants (jongseong): a final wherever they stand.
_CONJOINING_FINALS = re.compile("[\u11a8-\u11ff]")


@functools.cache
def _jamo_roles() -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Return the modern compatibility jamo as initials, vowels and finals.

    Each by its index in the arithmetic of hangul syllables (Unicode 3.12): a
    consonant is an initial (ㄱ 0) and, but for ㄸ ㅃ ㅉ, a final too (ㄱ 1);
    ㄳ and the other pairs are finals only (NFKD gives some of them as initials of
    old hangul, ㅀ as ᄚ). Old letters (ㅿ, ㆍ) have no place in a modern syllable.
    """
    initials: dict[str, int] = {}
    vowels: dict[str, int] = {}
    finals: dict[str, int] = {}
    for code in range(0x3131, 0x318F):
        char = chr(code)
        point = ord(unicodedata.normalize("NFKD", char))
        if 0x1100 <= point <= 0x115F:  # a consonant, given as an initial
            if point <= 0x1112:
                initials[char] = point - 0x1100
            final = unicodedata.name(chr(point)).replace("CHOSEONG", "JONGSEONG")
            try:
                point = ord(unicodedata.lookup(final))
            except KeyError:
                continue  # ㄸ ㅃ ㅉ end no syllable
        if 0x1161 <= point <= 0x1175:
            vowels[char] = point - 0x1161
        elif 0x11A8 <= point <= 0x11C2:
            finals[char] = point - 0x11A7
    return initials, vowels, finals


def _as_letter(code: int) -> str | None:
    """Return the compatibility jamo a halfwidth or conjoining modern jamo stands for."""
    name = unicodedata.name(chr(code), "")
    for kind in ("HALFWIDTH HANGUL LETTER ", "CHOSEONG ", "JUNGSEONG ", "JONGSEONG "):
        if kind in name:
            letter = "HANGUL LETTER " + name.split(kind)[1]
            return unicodedata.lookup(letter) if letter in _LETTER_NAMES else None
    return None


_LETTER_NAMES = frozenset(unicodedata.name(chr(code)) for code in range(0x3131, 0x3164))
# One character for one, so that indices stay those of the text:
_AS_LETTERS = {
    code: letter
    for code in [
        *range(0x1100, 0x1160),  # initials, of old hangul too (ᄡ, NFKD of ㅄ)
        *range(0x1161, 0x1176),  # vowels
        *range(0x11A8, 0x11C3),  # finals
        *range(0xFFA0, 0xFFDD),  # halfwidth
    ]
    if (letter := _as_letter(code)) is not None
}


def _jamo_syllables(text: str, trailing_finals: int = 2) -> list[tuple[int, int, str]]:
    """Return where jamo of the text make a syllable: (start, end, the syllable).

    An initial consonant and a vowel start one, or a syllable of those two
    (기, as NFC leaves ㄱㅣ); a consonant after them ends it unless a vowel
    follows, which makes it the next one's initial (ㄱㅣㅁㅁㅣㄴ is 김민, ㄱㅣㅁㅣㄴ
    기민). Two vowels or two finals that make one (_JAMO_PAIRS) are taken as one.
    Letters that start no syllable (a lone ㅋ) are left as they are. A consonant
    after a syllable may also be a letter of its own (ㅎ of 김민수ㅎㅎ, which this
    reads 김민숳ㅎ): where no vowel follows the consonants, the syllable takes
    `trailing_finals` of them at most (2, 1 or 0), a conjoining final (ᆨ) always;
    finds() and redact() read the text each way (_readings(), _JAMO_READINGS).
    """
    initials, vowels, finals = _jamo_roles()
    letters = text.translate(_AS_LETTERS)

    def vowel_at(at: int) -> bool:
        return at < len(letters) and letters[at] in vowels

    def finals_at(at: int) -> int:
        """The most consonants from here on a syllable before them takes as final.

        As a keyboard joins them where a vowel or a syllable (미 of 기ᄆ미, NFKC of
        ㄱㅣㅁㅁㅣ) follows the consonants; `trailing_finals` where neither does.
        """
        after = at
        while after < len(letters) and (
            letters[after] in initials or letters[after] in finals
        ):
            after += 1
        if (
            vowel_at(after)
            or (after < len(letters) and _is_syllable(letters[after]))
            or _CONJOINING_FINALS.match(text, at)
        ):
            return 2
        return trailing_finals

    found = []
    at = 0
    while at < len(letters):
        code = ord(letters[at]) - _FIRST_SYLLABLE
        if letters[at] in initials and vowel_at(at + 1):
            initial, vowel, end = letters[at], letters[at + 1], at + 2
        elif 0 <= code <= _LAST_SYLLABLE - _FIRST_SYLLABLE and code % 28 == 0:
            # A syllable without a final (기): its two letters.
            initial, vowel = unicodedata.normalize("NFD", letters[at]).translate(
                _AS_LETTERS
            )
            end = at + 1
        else:
            at += 1
            continue
        if vowel_at(end) and _JAMO_PAIRS.get(vowel + letters[end]) in vowels:
            vowel, end = _JAMO_PAIRS[vowel + letters[end]], end + 1
        index = (initials[initial] * 21 + vowels[vowel]) * 28
        most = finals_at(end)
        if (
            most
            and end < len(letters)
            and letters[end] in finals
            and not vowel_at(end + 1)
        ):
            final, end = letters[end], end + 1
            two = _JAMO_PAIRS.get(letters[end - 1 : end + 1], "")
            if most > 1 and two in finals and not vowel_at(end + 1):
                final, end = two, end + 1
            index += finals[final]
        if end - at > 1:
            found.append((at, end, chr(_FIRST_SYLLABLE + index)))
        at = end
    return found


def _is_syllable(char: str) -> bool:
    return _FIRST_SYLLABLE <= ord(char) <= _LAST_SYLLABLE


def _composed_jamo(text: str, trailing_finals: int = 2) -> str:
    """Return the text with its compatibility jamo assembled into syllables."""
    pieces, done = [], 0
    for start, end, syllable in _jamo_syllables(text, trailing_finals):
        pieces += [text[done:start], syllable]
        done = end
    return "".join([*pieces, text[done:]])


# Characters of no combining class that Unicode composes with the one before them
# (NFC): the vowel and final consonant jamo of a hangul syllable written decomposed
# (김 as ᄀ ᅵ ᆷ, how macOS writes file names), and the second half of some vowel
# signs of Indic and other scripts (ো as ে া). Those with a class (accents) are told
# by unicodedata.combining(). test_deid_normal_forms checks the list against Unicode.
_COMPOSES_WITH_PREVIOUS = frozenset(
    [chr(code) for code in range(0x1160, 0x1200)]  # hangul vowels, final consonants
    + [chr(code) for code in range(0xD7B0, 0xD800)]  # and their extension B
    + list(
        "\u09be\u09d7\u0b3e\u0b56\u0b57\u0bbe\u0bd7\u0cc2\u0cd5\u0cd6\u0d3e"
        "\u0d57\u0dcf\u0ddf\u102e\u1b35\U00011127\U0001133e\U00011357"
        "\U000114b0\U000114ba\U000114bd\U000115af\U00011930"
    )
)


def _plain_view(
    text: str, upper: bool = False, jamo_finals: int | None = 2
) -> tuple[str, list[int] | None]:
    """Return the text as finds() compares it (_unaccented()), and where it came from.

    The list holds, for each character of the plain text and for its end, the index
    of the text's character it comes from (None: the text is ASCII, the same). The
    text is read a character at a time with what Unicode composes with it (accents,
    the jamo of a hangul syllable, also compatibility jamo: _jamo_syllables()): so
    it reads alike in every normal form (NFC, NFD, NFKC, NFKD or mixed) and in
    compatibility jamo, and each letter of the plain text comes from one place.
    Where that reading is not finds()' (a stray mark between two jamo, never seen in
    real text), every letter comes from the whole text: what is found there takes
    all of it, the safer side. `jamo_finals`: as _unaccented() (_readings()).
    """
    if text.isascii():
        return (text.upper() if upper else text), None
    # The later letters of a syllable written in compatibility jamo (ㅣㅁ of ㄱㅣㅁ):
    joined = set()
    if jamo_finals is not None and _JAMO.search(text):
        joined = {
            at
            for start, end, _ in _jamo_syllables(text, jamo_finals)
            for at in range(start + 1, end)
        }
    pieces, starts, start = [], [], 0
    for index in range(1, len(text) + 1):
        if index < len(text) and (
            unicodedata.combining(text[index])
            or text[index] in _COMPOSES_WITH_PREVIOUS
            or index in joined
        ):
            continue
        # A piece holds the letters of one syllable, whichever reading: all of them.
        pieces.append(
            _unaccented(text[start:index], None if jamo_finals is None else 2)
        )
        starts.append(start)
        start = index
    plain = _unaccented(text, jamo_finals)
    if "".join(pieces) != plain:
        pieces, starts = [plain], [0]
    if upper:
        pieces = [piece.upper() for piece in pieces]
    at = [start for piece, start in zip(pieces, starts, strict=True) for _ in piece]
    return "".join(pieces), [*at, len(text)]


def _spans_in_text(
    spans: Iterable[tuple[int, int]], at: list[int] | None
) -> list[tuple[int, int]]:
    """Return spans of a plain view (_plain_view()) as spans of the text it came from.

    A span takes the whole of what a letter of it comes from (Æ of AE, 김 of its
    jamo), and the accents after its last letter (e + U+0301).
    """
    if at is None:
        return list(spans)
    found = []
    for start, end in spans:
        after = end
        while at[after] == at[end - 1]:  # ends inside what one character gave
            after += 1
        found.append((at[start], at[after]))
    return found


def _spellings(names: Iterable[str]) -> set[str]:
    """Return the name parts (in capitals) and how else they are spelt in ASCII.

    As written, without accents (MULLER, NUNEZ, SORENSEN for SØRENSEN),
    transliterated (MUELLER, SOERENSEN) and, for a name of four letters or more
    spelt with AE, OE or UE after a letter, with those read as one vowel (MULLER
    for MUELLER). Worked out once a screen (_token_sets()), not for each text.
    """
    found = set()
    for name in names:
        if name.isascii():
            found.add(name)  # nothing to take off or transliterate
        else:
            found |= {name, _unaccented(name), _transliterated(name)}
    for name in list(found):
        if "E" not in name:
            continue  # no AE, OE or UE (most names: many to look at)
        single = _TRANSLITERATED_UMLAUT.sub(r"\1", name)
        if single != name and len(single) >= _SUBSTRING_NAME and single.isascii():
            found.add(single)
    return found


# A date as people write it, in capitals and without accents: numbers with the
# same separator (1961-2-3, 3.2.1961, 02/03/1961, Korean 1961. 2. 3.), the day
# and a month's name either way round (3 Feb 1961, 03-FEB-1961, February 3rd, 1961,
# 3. März 1961), or year, month and day marked as Chinese and Japanese (1961年2月3日)
# or Korean (1961년 2월 3일) write them; fullwidth digits are read as digits
# (_unaccented(): NFKD). Only with a year of four digits: a two-digit year is too
# often something else. TODO: a year of an era (昭和36年2月3日, 民國50年) is not read.
_DATES = re.compile(
    r"(?<![0-9])(?:(?P<iso_year>\d{4})(?P<iso_sep>[./-]) ?(?P<iso_month>\d{1,2})"
    r"(?P=iso_sep) ?(?P<iso_day>\d{1,2})"
    r"|(?P<cjk_year>\d{4}) *[年년] *(?P<cjk_month>\d{1,2}) *[月월] *"
    r"(?P<cjk_day>\d{1,2})(?: *[日일])?"
    r"|(?P<first>\d{1,2})(?P<sep>[./-])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{4})"
    r"|(?P<day>\d{1,2})(?:ST|ND|RD|TH)?[ ./-]*(?P<month>[A-Z]{3,9})\.?[ ./,-]*"
    r"(?P<day_year>\d{4})"
    r")(?![0-9])"
    r"|(?<![A-Z])(?P<month_first>[A-Z]{3,9})\.?[ ./-]*(?P<month_day>\d{1,2})"
    r"(?:ST|ND|RD|TH)?[ ./,-]+(?P<month_year>\d{4})(?![0-9])"
)
# Every year _DATES reads stands alone as a number of four digits (a longer number
# is found too, and is no year of the set it is compared with):
_YEARS = re.compile(r"[0-9]{4,}")
_FEW_YEARS = 8
# A month by the first three letters of its name, in English, German and others
# whose names begin alike (FEBRUAR, MARS, MÄRZ read MARZ or MAERZ, OKTOBER, DEZ):
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("JAN",),
            ("FEB",),
            ("MAR", "MAE"),
            ("APR",),
            ("MAY", "MAI"),
            ("JUN",),
            ("JUL",),
            ("AUG",),
            ("SEP",),
            ("OCT", "OKT"),
            ("NOV",),
            ("DEC", "DEZ"),
        ),
        start=1,
    )
    for name in names
}


def _has_birth_date(text: str, tokens: _Tokens) -> bool:
    """Whether a text in capitals holds a birth date written as people write dates.

    Only a text with a birth year in it is read for dates (_dates_in()): most
    hold none, and looking for a year costs far less (a few years one by one,
    the many of a batch by reading the text's numbers of four digits).
    """
    years = tokens.birth_years
    if len(years) > _FEW_YEARS:
        if years.isdisjoint(_YEARS.findall(text)):
            return False
    else:
        for year in years:
            if year in text:
                break
        else:
            return False
    return not tokens.birth_dates.isdisjoint(_dates_in(text))


def _dates_in(text: str) -> set[tuple[int, int, int]]:
    """Return the (year, month, day) a text in capitals may mean by its dates.

    A date of numbers with the year last is read day first and month first
    (3.2.1961 may be 3 February or 2 March), so both are returned; nothing checks
    that a day exists, it is only compared with birth dates.
    """
    found = set()
    for match in _DATES.finditer(text):
        found |= _date_readings(match)
    return found


def _birth_dates_at(
    text: str, birth_dates: set[datetime.date]
) -> list[tuple[int, int]]:
    """Return where a text in capitals writes a birth date (read as _dates_in() reads)."""
    if not any(str(day.year) in text for day in birth_dates):
        return []
    days = {(day.year, day.month, day.day) for day in birth_dates}
    return [
        match.span()
        for match in _DATES.finditer(text)
        if not days.isdisjoint(_date_readings(match))
    ]


def _date_readings(match: re.Match[str]) -> set[tuple[int, int, int]]:
    """Return the (year, month, day) a find of _DATES may mean (see _dates_in())."""
    group = match.group
    if group("iso_year"):
        return {
            (int(group("iso_year")), int(group("iso_month")), int(group("iso_day")))
        }
    if group("cjk_year"):
        return {
            (int(group("cjk_year")), int(group("cjk_month")), int(group("cjk_day")))
        }
    if group("year"):
        first, second, year = (
            int(group("first")),
            int(group("second")),
            int(group("year")),
        )
        return {(year, second, first), (year, first, second)}
    if group("day"):
        month = _MONTHS.get(group("month")[:3])
        return {(int(group("day_year")), month, int(group("day")))} if month else set()
    month = _MONTHS.get(group("month_first")[:3])
    if not month:
        return set()
    return {(int(group("month_year")), month, int(group("month_day")))}


def vr_of(ds: Dataset, tag: BaseTag, elem: RawElement | None = None) -> str:
    """Return an element's VR, converting its value only when the VR is ambiguous.

    Converting every element would parse large values nobody reads here, such as
    the thousands of coordinates of an RTSTRUCT's Contour Data. `elem` is the
    element as ds.items() gives it, raw or not, when the caller has it.
    """
    vr = getattr(ds.get_item(tag) if elem is None else elem, "VR", None)
    if not vr:
        vr = _dictionary_vr(int(tag))
    if not vr or " or " in vr:
        vr = ds[tag].VR
    return str(vr)


@functools.lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str:
    """Return the data dictionary's VR of a tag ('' for one it does not know)."""
    return dictionary_VR(tag) if dictionary_has_tag(tag) else ""


def _identifying_elements(ds: Dataset) -> Iterator[DataElement]:
    """Yield every public person name (VR PN) and IDENTIFYING_KEYWORDS element.

    Items of sequences too. Only these are converted from the bytes read.
    """
    for tag, raw in list(ds.items()):
        if tag.group % 2:
            continue  # private
        vr = vr_of(ds, tag, raw)
        if vr == "SQ":
            for item in ds[tag].value or []:
                yield from _identifying_elements(item)
        elif vr == "PN" or (tag in _IDENTIFYING_TAGS and vr in _IDENTIFYING_VRS):
            yield ds[tag]


def _texts(elem: DataElement | None) -> list[str]:
    if elem is None or elem.is_empty or elem.VR == "SQ":
        return []
    items = elem.value if isinstance(elem.value, MultiValue | list) else [elem.value]
    return [str(item) for item in items if item is not None]


def _survives(path_actions: tuple[str | None, ...]) -> bool:
    return all(action in (None, "K", "C", "U*", "D") for action in path_actions)


def _value_kept(path_actions: tuple[str | None, ...]) -> bool:
    """Whether the stored copy keeps the value at the end of this path of actions.

    Not when a sequence on the way is removed or emptied, nor when the value is
    replaced by a dummy: its own action is D, or it has none of its own in a
    sequence whose action is D (_apply_profile()'s `in_dummy`).
    """
    *sequences, own = path_actions
    if not _survives(path_actions) or own == "D":
        return False
    return not ("D" in sequences and own in (None, "C"))


def normalise_temporal_values(ds: Dataset, source: str) -> list[Problem]:
    """Check every DA, TM, DT, IS and DS value of the data set, fixing what can be fixed.

    Legacy forms (2021.03.14, 14:10:00) become standard values; placeholders
    (00000000, 00/00/0000) and invalid values become empty, so they are stored as
    absent and never as a wrong date. A valid day before 1880 or after today, and an
    integer or decimal string that is no number (1A), is kept as read and warned
    about. Each is returned as a warning naming the attribute; the value is left out
    when de-identification removes the attribute anyway, unless it is a placeholder
    and so tells nothing.
    """
    problems: list[Problem] = []
    _normalise(ds, source, "", (), problems)
    return problems


def _normalise(
    ds: Dataset,
    source: str,
    path: str,
    actions: tuple[str | None, ...],
    problems: list[Problem],
) -> None:
    for tag, raw in list(ds.items()):
        if tag.group % 2:
            continue  # private
        vr = vr_of(ds, tag, raw)
        if vr in values.NUMBER_VRS:
            here = (*actions, resolve_action(int(tag)))
            name = f"{path}{tag_name(int(tag))}"
            problem = _number_problem(ds, tag, raw, vr, source, name, here)
            if problem is not None:
                problems.append(problem)
            continue
        if vr != "SQ" and vr not in values.CHECKS:
            continue
        elem = ds[tag]
        here = (*actions, resolve_action(int(tag)))
        if vr == "SQ":
            for item in elem.value or []:
                _normalise(item, source, f"{path}{elem.keyword} > ", here, problems)
            continue

        check = values.CHECKS.get(elem.VR)
        if check is None or elem.is_empty:
            continue
        texts = _texts(elem)
        results = [check(text) for text in texts]
        if all(result.status == values.OK for result in results):
            _keep_as_read(ds, tag, raw)
        else:
            kept = [r.value for r in results if r.status in (values.OK, values.LEGACY)]
            elem.value = kept if len(kept) > 1 else (kept[0] if kept else None)
        name = f"{path}{tag_name(int(tag))}"
        for text, result in zip(texts, results, strict=True):
            if result.status != values.OK:
                problems.append(
                    _temporal_problem(source, name, elem.VR, text, result, here)
                )
            if result.status in (values.OK, values.LEGACY):
                refused = values.refused_date(elem.VR, result.value)
                if refused is not None:
                    problems.append(
                        _refused_date_problem(source, name, text, refused, here)
                    )


def _refused_date_problem(
    source: str,
    name: str,
    text: str,
    refused: InvalidValue,
    actions: tuple[str | None, ...],
) -> Problem:
    """A valid date the biobank refuses as a record's date (before 1880, in the future).

    The stored copy keeps it unless de-identification removes or replaces it (the
    Full Dates option keeps most dates as they are), and then so does the message;
    choose_study_date() and the series' date pass it over.
    """
    # check_not_future()'s message is the importer's own wording:
    reason = Message.own(str(refused))
    if _value_kept(actions):
        message = Message(
            "{reason} The stored copy keeps it as it is; it is not used as the date "
            "of a study or series.",
            reason=reason,
        )
        return Problem(source, message, field=name, value=text, code=refused.code)
    message = Message(
        "{reason} The value is withheld: the stored copy does not keep it.",
        reason=reason,
    )
    return Problem(source, message, field=name, code=refused.code)


def _number_problem(
    ds: Dataset,
    tag: BaseTag,
    raw: RawElement,
    vr: str,
    source: str,
    name: str,
    actions: tuple[str | None, ...],
) -> Problem | None:
    """Warn of the values of an IS or DS element that are no number; keep them as read.

    Read from the bytes of a raw element, without converting it: an RTSTRUCT's
    Contour Data holds thousands of decimals.
    """
    if isinstance(raw, RawDataElement):
        text = (raw.value or b"").decode("latin-1")
    else:
        text = "\\".join(_texts(ds[tag]))
    invalid = values.invalid_numbers(vr, text)
    if not invalid:
        return None

    # The VR is IS or DS (values.NUMBER_VRS), the importer's word:
    what = Message(
        "is not a valid {vr} value ({kind})",
        vr=Message.own(vr),
        kind=Message.own(values.NUMBER_KINDS[vr]),
    )
    if _value_kept(actions):
        message = Message(
            "{what}; the stored copy keeps it as it is, and no number is read from it.",
            what=what,
        )
        value = "\\".join(invalid)
        return Problem(source, message, field=name, value=value, code="invalid-number")
    message = Message(
        "{what}; no number is read from it. The value is withheld: the stored copy "
        "does not keep it.",
        what=what,
    )
    return Problem(source, message, field=name, code="invalid-number")


def _temporal_problem(
    source: str,
    name: str,
    vr: str,
    text: str,
    result: values.Checked,
    actions: tuple[str | None, ...],
) -> Problem:
    withheld = not _value_kept(actions) and result.status != values.PLACEHOLDER
    # The VR is one of values.CHECKS (DA, TM, DT), the importer's word:
    own_vr = Message.own(vr)
    if result.status == values.LEGACY:
        read_as = (
            Message("")
            if withheld
            else Message("; read as {value}", value=result.value)
        )
        message = Message(
            "has a non-standard {vr} format{read_as}.", vr=own_vr, read_as=read_as
        )
        code = "non-standard-date-format"
    elif result.status == values.PLACEHOLDER:
        message = Message(
            "is a placeholder, not a {vr} value; treated as absent.", vr=own_vr
        )
        code = "placeholder-date"
    else:
        message = Message("is not a valid {vr} value; treated as absent.", vr=own_vr)
        code = "invalid-date"

    if withheld:
        message = Message(
            "{message} The value is withheld: the stored copy does not keep it.",
            message=message,
        )
    return Problem(
        source, message, field=name, value="" if withheld else text, code=code
    )


def deidentify(
    ds: Dataset,
    *,
    project_code: str,
    pseudonym: str,
    source: str,
    decisions: Decisions | None = None,
    batch: BatchScreen | None = None,
) -> list[Problem]:
    """De-identify the data set in place; return what was assumed or emptied.

    Applies Table E.1-1 of PS3.15 (see profile.py) with the Retain Longitudinal
    Temporal Information with Full Dates Option (dates are kept so that scans can be
    set against blood draws), part of the Retain Patient Characteristics Option and
    a screened Clean Descriptors Option; removes every private element, in sequences
    too and whatever its VR (UN included); removes public elements that the data
    dictionary does not know, since nothing says they are safe, and addresses (VR
    UR, URL_VR), which can carry source UIDs and IDs; replaces UIDs with
    replacement_uid(); and screens all kept free text for the patient's identifiers,
    and for those of every patient in `batch` (the screen of the files imported
    with it: a file must not keep another patient's ID in its description either;
    by BatchScreen's rule, distinctive ones only for the other patients).
    PatientName and PatientID become the pseudonym. What was done to each attribute
    (never its value) is added to `decisions`.
    """
    decisions = decisions if decisions is not None else Decisions()
    problems: list[Problem] = []
    screens = [IdentifierScreen.from_dataset(ds)]
    own = batch.of_patient(ds) if batch is not None else None
    if own is not None:
        screens.append(own)
    profile_pass = _ProfilePass(
        project_code, screens, batch, source, problems, decisions
    )
    _apply_profile(ds, profile_pass, "")

    age = values.element(ds, "PatientAge")
    if age is not None and not age.is_empty:
        capped = values.cap_age(values.parse_age(str(age.value)))
        if capped.raw != str(age.value):
            age.value = capped.raw
            decisions.replace(
                "PatientAge",
                PATIENT_AGE_TAG,
                Decision.DUMMY,
                Rule.PATIENT_CHARACTERISTICS,
            )
            problems.append(
                Problem(
                    source,
                    Message("is above 89 years and was recorded as 90 years (090Y)."),
                    field=tag_name(PATIENT_AGE_TAG),
                    code="age-above-89",
                )
            )

    ds.PatientName = pseudonym
    ds.PatientID = pseudonym
    for keyword, tag in (("PatientName", 0x00100010), ("PatientID", 0x00100020)):
        decisions.replace(keyword, tag, Decision.PSEUDONYM, Rule.PSEUDONYM)
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = METHOD
    ds.DeidentificationMethodCodeSequence = [_code_item(code) for code in METHOD_CODES]
    ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    return problems


@dataclass
class _ProfilePass:
    """One pass of the profile over a data set and what it found."""

    project_code: str
    # The data set's own identifiers, and those its patient's files of the batch hold:
    screens: list[IdentifierScreen]
    # Every patient's of the batch, looked for by their distinctive ones only:
    batch: BatchScreen | None
    source: str
    problems: list[Problem]
    decisions: Decisions

    def finds(self, elem: DataElement, acquisition_parameter: bool) -> bool:
        """Tell whether a value of the element holds an identifier of a screen.

        An acquisition parameter is screened for the patient's own identifiers only
        (profile.py says why). A code, that is an acquisition parameter (a vendor's
        term: ConvolutionKernel YA, ManufacturerModelName "Ingenuity TF PET/CT"),
        any CS (Modality CT) or the code of a coded entry (CODE_TAGS:
        CodingSchemeDesignator LN), is screened for name parts as whole words of
        four letters or more only (IdentifierScreen.finds(), NAMES_IN_CODE): as
        whole words, shorter ones are far more often such terms (a patient CT^MR
        lost Modality CT, and the series its modality, a patient LN^AB every LOINC
        code), and a longer one inside a word is no name (BONE of a kernel
        BONEPLUS). A value that is a defined term of its element (is_defined_term():
        BodyPartExamined HEAD) is not screened for name parts at all. IDs and birth
        dates are looked for in every value alike (an ID put in BodyPartExamined
        goes).
        """
        code = acquisition_parameter or elem.VR in CODED_VRS or elem.tag in CODE_TAGS
        for text in _texts(elem):
            names = NAMES_IN_CODE if code else NAMES_IN_TEXT
            if code and is_defined_term(elem.tag, text):
                names = NO_NAMES
            if any(
                screen.finds(text, acquisition_parameter, names=names)
                for screen in self.screens
            ):
                return True
            if self.batch is not None and self.batch.finds_other(
                text, acquisition_parameter, names
            ):
                return True
        return False


def _apply_profile(
    ds: Dataset, run: _ProfilePass, path: str, in_dummy: bool = False
) -> None:
    """Apply the profile to every element of the data set, items of sequences too.

    `in_dummy`: the data set is an item of a sequence whose action is D (a person's
    or institution's identification codes), so every value that has no action of
    its own is replaced by a dummy; UIDs without an action (class UIDs) stay.
    """
    note = run.decisions.note
    for tag, raw in list(ds.items()):
        plan = _plan(tag)
        name = path + plan.name
        if plan.removed_by is not None:
            del ds[tag]
            note(name, tag, Decision.REMOVED, plan.removed_by)
            continue

        action, rule = plan.action, plan.rule
        vr = vr_of(ds, tag, raw)
        if vr == URL_VR and action is None:
            # An address written as UR under a tag the dictionary gives another VR:
            del ds[tag]
            note(name, tag, Decision.REMOVED, Rule.URL)
            continue
        if in_dummy and action in (None, "C") and vr not in ("SQ", "UI"):
            action, rule = "D", Rule.DUMMY_SEQUENCE
        if action not in ("Z", "D", "U") and vr != "SQ" and vr not in TEXT_VRS:
            note(name, tag, Decision.KEPT, rule)
            continue  # kept as it is, never parsed

        elem = ds[tag]
        if vr == "SQ":
            if action == "Z":
                elem.value = []
                note(name, tag, Decision.EMPTIED, rule)
                continue
            is_dummy = in_dummy or action == "D"
            note(name, tag, Decision.DUMMY if is_dummy else Decision.KEPT, rule)
            for item in elem.value or []:
                _apply_profile(item, run, f"{name} > ", is_dummy)
        elif action == "Z" or (action in ("D", "U") and elem.is_empty):
            elem.value = None
            note(name, tag, Decision.EMPTIED, rule)
        elif action == "D":
            elem.value = _dummy(vr)
            note(name, tag, Decision.DUMMY, rule)
        elif action == "U":
            uids = [replacement_uid(run.project_code, text) for text in _texts(elem)]
            elem.value = uids if len(uids) > 1 else (uids[0] if uids else None)
            note(name, tag, Decision.UID, rule)
        elif action in (None, "C") and run.finds(elem, plan.is_acquisition_parameter):
            elem.value = None
            note(name, tag, Decision.CLEANED, rule)
            run.problems.append(
                Problem(
                    run.source,
                    Message(
                        "held an identifying value (a name, ID, birth date or institution) "
                        "and was emptied."
                    ),
                    field=f"{path}{tag_name(int(tag))}",
                    code="identifier-in-text",
                )
            )
        else:
            _keep_as_read(ds, tag, raw)
            note(name, tag, Decision.KEPT, rule)


def _keep_as_read(ds: Dataset, tag: BaseTag, raw: RawElement) -> None:
    """Put back the element as read when it was only converted to be looked at.

    dcmwrite() then copies its bytes instead of encoding the value again, which is
    both faster and true to the source to the byte.
    """
    if isinstance(raw, RawDataElement):
        ds[tag] = raw


@dataclass(frozen=True)
class _Plan:
    """What the profile does with one tag, whatever its value: worked out once a tag."""

    name: str  # its keyword, or (gggg,eeee) for private and unknown tags
    removed_by: str | None  # the rule that removes it, if one does
    action: str | None = None
    rule: str = ""
    is_acquisition_parameter: bool = False


@functools.lru_cache(maxsize=16384)
def _plan(tag: int) -> _Plan:
    """Return what the profile does with a tag, in the order _apply_profile() checks.

    Private elements and group lengths go, then elements the dictionary does not
    know (nobody can vouch for them), then those whose action is X; the rest keep
    their action and rule for _apply_profile() to apply to the value.
    """
    tag = BaseTag(tag)
    name = keyword_for_tag(tag) or tag_hex(tag)
    if tag.is_private or tag.element == 0:
        return _Plan(name, _removed_rule(tag))
    if not (dictionary_has_tag(tag) or repeater_has_tag(tag)):
        return _Plan(name, Rule.UNKNOWN)
    action, rule = resolve_action(int(tag)), rule_of(int(tag))
    if action == "X":
        return _Plan(name, rule)
    if action is None and is_url(int(tag)):
        return _Plan(name, Rule.URL)
    return _Plan(name, None, action, rule, is_acquisition_parameter(int(tag)))


BODY_PART_EXAMINED = 0x00180015
CONVOLUTION_KERNEL = 0x00181210


def is_defined_term(tag: int, text: str) -> bool:
    """Whether a value is one of its element's defined terms, which name nobody.

    Known for BodyPartExamined (PS3.16 Annex L, Table L-1: HEAD, LUNG, CHEST...),
    so that a patient named HEAD keeps BodyPartExamined HEAD, and for the names GE
    gives its kernels (_GE_KERNELS), so that a patient named BONE or LUNG keeps
    ConvolutionKernel BONE and LUNG. The whole value only: a name part as a whole
    word in another code (BONE SHARP, a kernel of no list) still empties it.
    """
    if tag == BODY_PART_EXAMINED:
        return text.strip().upper() in _body_parts()
    return tag == CONVOLUTION_KERNEL and text.strip().upper() in _GE_KERNELS


@functools.cache
def _body_parts() -> frozenset[str]:
    # Table L-1 as highdicom ships it (requirements.txt pins it); its module is
    # private, the only offline copy of the table we have. The terms are its keys.
    from highdicom._standard_utils import get_anatomic_region_map

    return frozenset(get_anatomic_region_map())


def is_url(tag: int) -> bool:
    """Whether a public attribute is an address, removed by rule (URL_VR)."""
    return _dictionary_vr(tag) == URL_VR or tag in URL_TAGS_OF_OTHER_VRS


def _removed_rule(tag: BaseTag) -> str:
    return Rule.PRIVATE if tag.is_private else Rule.GROUP_LENGTH


@functools.lru_cache(maxsize=4096)
def rule_of(tag: int) -> str:
    """Return why a public attribute is treated as it is: a Rule of the report."""
    action = resolve_action(tag)
    if tag in RETAINED_FULL_DATES:
        return Rule.FULL_DATES
    if tag in RETAINED_PATIENT_CHARACTERISTICS:
        return Rule.PATIENT_CHARACTERISTICS
    if action == "C":
        return Rule.CLEAN_DESCRIPTORS
    if action == "U":
        return Rule.UID
    if action is not None:
        return Rule.PROFILE
    # Numbers of the acquisition groups (slice thickness, kVp, pixel spacing) too:
    if is_acquisition_parameter(tag) or (
        tag >> 16 in ACQUISITION_GROUPS and dictionary_VR(tag) not in TEXT_VRS
    ):
        return Rule.ACQUISITION
    return Rule.NOT_LISTED


def tag_hex(tag: int) -> str:
    """Return e.g. "(0029,1001)"."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@dataclass
class Decisions:
    """What de-identification did to each attribute path of one file, never a value.

    Keyed by (path, decision): the tag, the rule and how many elements.
    """

    counts: dict[tuple[str, str], list] = field(default_factory=dict)

    def note(self, path: str, tag: int, decision: str, rule: str) -> None:
        entry = self.counts.get((path, decision))
        if entry is None:
            self.counts[path, decision] = [int(tag), rule, 1]
        else:
            entry[2] += 1

    def replace(self, path: str, tag: int, decision: str, rule: str) -> None:
        """Record what was done last to an attribute, instead of what was noted before."""
        for key in [key for key in self.counts if key[0] == path]:
            del self.counts[key]
        self.note(path, tag, decision, rule)


@dataclass
class DeidentificationReport:
    """The decisions about the files an import run stored, added up by attribute path."""

    # (path, decision) -> [tag, rule, files, elements]
    rows: dict[tuple[str, str], list] = field(default_factory=dict)

    def add(self, decisions: Decisions, files: int = 1) -> None:
        """Add the decisions about one file, or about `files` files treated alike."""
        for key, (tag, rule, elements) in decisions.counts.items():
            row = self.rows.setdefault(key, [tag, rule, 0, 0])
            row[2] += files
            row[3] += elements * files

    def save(self, run: ImportRun) -> None:
        DeidentifiedAttribute.objects.bulk_create(
            DeidentifiedAttribute(
                import_run=run,
                path=path[:500],
                tag=tag_hex(tag),
                # Curves and overlays are one line of the table each, not tags:
                profile_action=BASIC_PROFILE.get(tag)
                or ("X" if rule == Rule.PROFILE else ""),
                decision=decision,
                rule=rule,
                file_count=files,
                element_count=elements,
            )
            for (path, decision), (tag, rule, files, elements) in self.rows.items()
        )


def reader_pseudonym(project_code: str, reader: str) -> str:
    """Return the label that stands for who drew a ROI: the same for the same name.

    ROIInterpreter (3006,00A6) names a person, so the database keeps a keyed hash of
    it, enough to tell readers apart in a reader study; case and spaces are ignored.
    """
    if not reader.strip():
        return ""
    name = " ".join(reader.upper().split())
    return "reader-" + _keyed_digest("reader", project_code, name).hex()[:10]


def _code_item(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _dummy(vr: str) -> object:
    if vr in _NUMBER_VRS:
        return 0
    if vr in ("OB", "OW", "OD", "OF", "OL", "OV", "UN"):
        return b""
    return _DUMMIES.get(vr, "ANONYMIZED")
