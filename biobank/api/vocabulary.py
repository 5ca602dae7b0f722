"""Filter values that must name something stored: a feature, a gene, a modality, a preset.

An unknown name in such a filter would return an empty list, which reads as "no such
records" when the name was misspelt (gene=EGRF). The API filters check each one against
what the user may read and answer 400 naming the parameter, the value and close matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Model, Q, QuerySet

from biobank.api.access import (
    is_site_admin,
    project_codes_for,
    project_path,
    visible_to,
)
from liquidbiopsy.hgvs import current_symbol
from liquidbiopsy.models import CTCCount, VariantResult
from patients.models import Patient, Project
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    ImageSeries,
    RadiomicSignature,
)

# Up to this many known values are listed when none is close to the one given:
MAX_LISTED = 12
# Up to this many names given as a list are looked up one by one (see unknown):
MOST_LOOKED_UP = 20
# How the schema describes a parameter checked against a vocabulary:
SCHEMA_NOTE = "A value that names nothing stored is a 400 with the closest names."


@dataclass(frozen=True)
class Vocabulary:
    """The stored values one kind of filter parameter may take.

    `fields` hold the values; a value given is known when a record the user may read
    matches `condition` (by default: one of `fields` equals it, ignoring case).
    `sentence` completes "No ..." with the value, e.g. "stored variant is of gene".
    `spellings` gives the stored values a value given stands for (by default itself),
    for checking a whole list at once (`unknown`); they must agree with `condition`.
    `schema_note` ends the schema's description of each parameter checked so.
    """

    model: type[Model]
    fields: tuple[str, ...]
    sentence: str
    condition: Callable[[str], Q] | None = None
    spellings: Callable[[str], set[str]] | None = None
    schema_note: str = SCHEMA_NOTE

    def records(self, user: AbstractBaseUser) -> QuerySet:
        queryset = self.model._default_manager.all()
        path = project_path(self.model)
        if path is None:
            return queryset  # shared by every project (features, signatures)
        return visible_to(user, queryset, path)

    def knows(self, value: str, user: AbstractBaseUser) -> bool:
        return self.records(user).filter(self._matching(value)).exists()

    def check(self, value: str, user: AbstractBaseUser | None) -> str:
        """Return `value` if a record the user may read has it, for a form field.

        Raises ValidationError with the refusal otherwise. A form validated on
        nobody's behalf (user None) has no records to compare with, and takes the
        value as given.
        """
        if value and user is not None and not self.knows(value, user):
            raise ValidationError(self.refusal(value, user), code="unknown")
        return value

    def unknown(self, values: Iterable[str], user: AbstractBaseUser) -> list[str]:
        """Return those of `values` no record the user may read has, in their order.

        A few names (the matrix's genes as usually given) are looked up one by one,
        each an EXISTS on an indexed column; a longer list reads the stored values
        once and compares them here, where `knows` would ask the database for each.
        """
        values = list(values)
        if len(values) <= MOST_LOOKED_UP:
            return [value for value in values if not self.knows(value, user)]
        stored = {word.casefold() for word in self._known_values(user)}
        spell = self.spellings or (lambda value: {value})
        return [
            value
            for value in values
            if not {word.casefold() for word in spell(value)} & stored
        ]

    def _matching(self, value: str) -> Q:
        if self.condition is not None:
            return self.condition(value)
        found = Q()
        for field in self.fields:
            found |= Q(**{f"{field}__iexact": value})
        return found

    def refusal(self, value: str, user: AbstractBaseUser) -> str:
        """Return the message for an unknown `value`, with the known values nearest it."""
        known = self._known_values(user)
        by_case = {word.casefold(): word for word in known}
        close = [
            by_case[word]
            for word in difflib.get_close_matches(value.casefold(), by_case, n=3)
        ]
        message = f"No {self.sentence} {value}."
        if close:
            return f"{message} Did you mean {_either(close)}?"
        if not known:
            return f"{message} None is stored that you may read."
        if len(known) <= MAX_LISTED:
            return f"{message} Known: {', '.join(sorted(known))}."
        return message

    def _known_values(self, user: AbstractBaseUser) -> set[str]:
        # Without order_by() the model's ordering (a variant's assay, gene and change)
        # joined the DISTINCT, which then sent every row: 410,000 variants, 1.5 s.
        records = self.records(user).order_by()
        known: set[str] = set()
        for field in self.fields:
            known |= set(records.values_list(field, flat=True).distinct())
        return {value for value in known if value}


def _either(words: list[str]) -> str:
    if len(words) == 1:
        return words[0]
    return f"{', '.join(words[:-1])} or {words[-1]}"


def _feature(value: str) -> Q:
    # Looser than the filters' match (the IBSI code of any image filter), so that a
    # known feature is never refused; a code computed on filtered images only then
    # finds no value, as before.
    return Q(name=value) | Q(ibsi_code__iexact=value)


def _gene(value: str) -> Q:
    # As VariantResult.objects.of_gene matches: by its current symbol, in any case.
    return Q(gene_hgnc__iexact=current_symbol(value))


FEATURES = Vocabulary(
    FeatureDefinition,
    ("name", "ibsi_code"),
    "radiomic feature is named or coded",
    condition=_feature,
)
FEATURE_FAMILIES = Vocabulary(FeatureDefinition, ("family",), "feature family is")
FEATURE_NAMES = Vocabulary(
    FeatureDefinition, ("feature_name",), "radiomic feature has the short name"
)
IMAGE_FILTERS = Vocabulary(FeatureDefinition, ("image_filter",), "image filter is")
IBSI_CODES = Vocabulary(FeatureDefinition, ("ibsi_code",), "radiomic feature has code")
SIGNATURES = Vocabulary(RadiomicSignature, ("name",), "signature is named")


@dataclass(frozen=True)
class VariantGenes(Vocabulary):
    """The genes of the variants a user may read; a site administrator's from indexes.

    DISTINCT read every variant the user may read (0.3 s for 410,000 at 3,000
    patients, a few seconds at 100,000). For a site administrator, on PostgreSQL,
    each field's names are read one after another from its index on UPPER(field)
    (liquidbiopsy's variant_gene_call_change and variant_hgnc_call_change), a
    look-up a gene; a name in two cases is listed in one of them, which is all a
    refusal compares (ignoring case). NB: anyone else reads DISTINCT over their own
    variants, a cost in proportion to what they may read: restricted to some
    projects, a step of the index walk passed over every variant of the others up
    to the reader's next gene (10 s a field for a 1,000-patient project of three
    genes among 1,000,000 variants; review rv7).
    """

    def _known_values(self, user: AbstractBaseUser) -> set[str]:
        connection = connections[self.model.objects.db]
        if connection.vendor != "postgresql" or not is_site_admin(user):
            return super()._known_values(user)

        table = connection.ops.quote_name(self.model._meta.db_table)
        known: set[str] = set()
        with connection.cursor() as cursor:
            for field in self.fields:
                column = connection.ops.quote_name(field)
                cursor.execute(
                    f"""
                    WITH RECURSIVE names(upper_name, name) AS (
                        (SELECT UPPER(v.{column}), v.{column} FROM {table} v
                         WHERE UPPER(v.{column}) > ''
                         ORDER BY UPPER(v.{column}) LIMIT 1)
                        UNION ALL
                        SELECT next.upper_name, next.name FROM names n,
                        LATERAL (
                            SELECT UPPER(v.{column}) AS upper_name, v.{column} AS name
                            FROM {table} v
                            WHERE UPPER(v.{column}) > n.upper_name
                            ORDER BY UPPER(v.{column}) LIMIT 1
                        ) next
                    )
                    SELECT name FROM names
                    """  # noqa: S608 - the model's own table and columns, quoted
                )
                known |= {name for (name,) in cursor.fetchall()}
        return {value for value in known if value}


GENES = VariantGenes(
    VariantResult,
    ("gene", "gene_hgnc"),
    "variant you may read is of gene",
    condition=_gene,
    spellings=lambda value: {value.strip(), current_symbol(value)},
)
MODALITIES = Vocabulary(ImageSeries, ("modality",), "series you may read has modality")
PRESETS = Vocabulary(
    FeatureExtraction, ("preset",), "extraction you may read used the preset"
)
SOFTWARE = Vocabulary(
    FeatureExtraction, ("software",), "extraction you may read was made by"
)

CTC_PLATFORMS = Vocabulary(
    CTCCount, ("platform",), "CTC count you may read is of the platform"
)


@dataclass(frozen=True)
class ProjectCodes(Vocabulary):
    """The codes of the projects a user may read, compared with those read for the request."""

    def knows(self, value: str, user: AbstractBaseUser) -> bool:
        # Codes are slugs, in ASCII: there Python's upper() is SQL's UPPER (iexact).
        if not value.isascii():
            return super().knows(value, user)
        codes = project_codes_for(user).values()
        return value.upper() in {code.upper() for code in codes}


PROJECTS = ProjectCodes(Project, ("code",), "project you may read has the code")


@dataclass(frozen=True)
class NumberedPseudonyms(Vocabulary):
    """Pseudonyms given as a patient filter, where a number is likely the patient's id.

    The rows give the patient's id as `patient` (and its pseudonym as
    `patient_pseudonym`), so `patient=12` copied from a row would list nothing. A
    pseudonym is the project code, a hyphen and a token (LUNG1-7KQ3MX6), so only a
    value of digits alone is looked for (one query) and, when no patient the user
    reads has it as pseudonym, refused with a pointer to `patient_id`.
    """

    def knows(self, value: str, user: AbstractBaseUser) -> bool:
        if not value.strip().isdigit():
            return True
        return super().knows(value, user)

    def refusal(self, value: str, user: AbstractBaseUser) -> str:
        return (
            f"No patient you may read has the pseudonym {value}; patient takes a "
            "pseudonym (a row's patient_pseudonym). To filter by the patient id a row "
            f"gives as patient, use patient_id={value}."
        )


PSEUDONYMS = NumberedPseudonyms(
    Patient,
    ("pseudonym",),
    "patient you may read has the pseudonym",
    schema_note="A number that is no pseudonym you may read is a 400 pointing to "
    "patient_id.",
)
