"""Keep the source patient IDs of a table out of the free-text cells it stores."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from biobank.core.importing import Problem
from patients.models import Project

# NB: the screen is the one DICOM de-identification uses (deid.BatchScreen), so that
# a cell is screened by the same rules as a header; until it moves below the apps,
# the clinical and lab importers reach up into radiomics for it.
from radiomics.importers.deid import REDACTED, BatchScreen, KnownPatients

CODE = "identifier-in-text"
REFUSED = (
    "holds a source patient identifier (of this row's patient or another one of the "
    "file or project); it identifies the record, so it is neither stored nor "
    "rewritten: give the lab's value without the patient identifier."
)
NOT_CUT = (
    "holds a source patient identifier that the import cannot cut out of it (a "
    "stored patient's, known by its keyed hash only, or one that is the whole "
    "cell); remove it from the file."
)
STORED_REDACTED = (
    f"held a source patient identifier, which is stored as {REDACTED}; the rest of "
    "the value is kept."
)


# IDs shorter than this are looked for only as a whole cell (CellScreen):
_SHORTEST_ID = 3
_DIGITS = re.compile(r"\d+")


class CellScreen:
    """The source patient IDs of one table file, looked for in its text cells.

    Every row's own ID and those of the other rows, by the rule deid.BatchScreen
    redacts file names and messages by (redact()): as whole tokens, case ignored,
    also glued to letters where letters turn to digits (MRN0048213x), and by their
    digits alone from five on, never inside a longer number, for the row's own ID
    (another patient's digits alone are a coincidence: _counts()); and the source
    IDs of the project's stored patients (deid.KnownPatients). A short ID, of two
    characters or of three digits (P7, 12, 123), counts only when it fills the cell:
    as a word of a text it is far more often a count or a code (week 12, C1D1 A).

    NB: not by BatchScreen.finds(), which DICOM headers are screened by: it finds
    an ID's digits inside any longer number, and lab cells are full of them (sample
    accession numbers, ENST00000275493 of an HGVS change): against 2,000 random
    seven-digit MRNs it took 9 of 2,000 such HGVS changes for IDs, this rule none.
    An ID glued inside a word (LABMRN0048213) is thus not found.

    `screen_table()` decides per column, as the importer says: an identifier-like
    column (a lab's sample ID, part of what finds the record again) refuses the
    row; a descriptive one (timepoint, histology, agent) is stored with the
    identifier replaced, the same way on every run, so a re-run finds the record.
    """

    def __init__(self, source: str, project: Project | None = None) -> None:
        self.source = source
        self.batch = BatchScreen()
        self._redacted: dict[str, str] = {}
        # The IDs of digits alone, without leading zeros (_counts()):
        self._numeric_ids: set[str] = set()
        if project is not None and project.pk is not None:
            self.batch.earlier = KnownPatients.of_project(project.code, project.pk)

    def add_patients(self, source_ids: Iterable[str]) -> None:
        for source_id in source_ids:
            if len(source_id.strip()) >= _SHORTEST_ID:
                self.batch.add_source_patient(source_id)
                if source_id.strip().isdigit():
                    self._numeric_ids.add(source_id.strip().lstrip("0"))
        self._redacted.clear()

    def finds(self, source_id: str, text: str) -> bool:
        """Tell whether the cell of a row of `source_id` holds a source patient ID."""
        if not text.strip():
            return False
        if source_id.strip() and text.strip().upper() == source_id.strip().upper():
            return True
        parts = self._found_parts(text)
        if parts is None or any(self._counts(part, source_id) for part in parts):
            return True
        return self.batch.earlier is not None and self.batch.earlier.named_in(text)

    def _found_parts(self, text: str) -> list[str] | None:
        """Return what redact() replaced in the text, in order; None if it cannot tell."""
        redacted = self.redact(text)
        if redacted == text:
            return []
        pieces = redacted.split(REDACTED)
        parts: list[str] = []
        at = len(pieces[0])
        for number, piece in enumerate(pieces[1:], start=1):
            if number == len(pieces) - 1:
                end = len(text) - len(piece)
            else:
                end = text.find(piece, at + 1) if piece else -1
            if end <= at:
                return None
            parts.append(text[at:end])
            at = end + len(piece)
        return parts

    def _counts(self, part: str, source_id: str) -> bool:
        """Tell whether a part redact() found is an ID, not a number that looks like one.

        A number counts when it is an ID of the file, or the digits of the row's own
        ID; the digits of another patient's ID (0048213 of MRN0048213) in a lab's
        accession number (L-0048213) are a coincidence: 2 rows of 10,000 when the
        MRNs and the accessions are both seven digits.
        """
        if not part.isdigit():
            return True
        number = part.lstrip("0")
        own = {digits.lstrip("0") for digits in _DIGITS.findall(source_id)}
        return number in own or number in self._numeric_ids

    def redact(self, text: str) -> str:
        """Return the text with the batch's IDs as [redacted]; once a distinct text.

        A timepoint or tube type repeats down a column of thousands of rows.
        """
        if text not in self._redacted:
            self._redacted[text] = str(self.batch.redact(text, short_numbers=False))
        return self._redacted[text]

    def screen_table(
        self,
        table: list[tuple[int, dict[str, str]]],
        id_column: str,
        refused: Iterable[str] = (),
        redacted: Iterable[str] = (),
        column_of: dict[str, str] | None = None,
        well_formed: Callable[[str, str], bool] | None = None,
    ) -> tuple[list[Problem], list[Problem]]:
        """Screen the rows' cells; return the problems refusing rows, and the warnings.

        A cell of a `redacted` column that holds an identifier is rewritten in
        `table` itself, before the importer reads it; one whose identifier cannot
        be cut out (glued inside a word) refuses its row as a `refused` one does.
        The problems name the file's column (`column_of`) and never the value.
        A `refused` cell that `well_formed(column, text)` reads as the notation its
        column holds (an HGVS change, whose numbers are positions) is not screened:
        p.Y221D held the ID 221D of another patient of the file (review rv5).
        """
        refused, redacted = list(refused), list(redacted)
        column_of = column_of or {}
        errors: list[Problem] = []
        warnings: list[Problem] = []

        def problem(line: int, name: str, message: str) -> Problem:
            column = column_of.get(name, name)
            return Problem(self.source, message, row=line, field=column, code=CODE)

        for line, cells in table:
            own = cells.get(id_column, "")
            for name in refused:
                text = cells.get(name, "")
                if well_formed is not None and well_formed(name, text):
                    continue
                if self.finds(own, text):
                    errors.append(problem(line, name, REFUSED))
            for name in redacted:
                text = cells.get(name, "")
                if not self.finds(own, text):
                    continue
                screened = self.redact(text)
                if self.finds(own, screened) or screened == text:
                    errors.append(problem(line, name, NOT_CUT))
                    continue
                cells[name] = screened
                warnings.append(problem(line, name, STORED_REDACTED))
        return errors, warnings
