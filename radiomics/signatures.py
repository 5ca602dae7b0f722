"""Radiomic signature scores: intercept plus weighted feature values, kept up to date."""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.db import DataError, transaction
from django.db.models import Count, Exists, F, OuterRef, Sum
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    RadiomicSignature,
    SignatureScore,
    SignatureTerm,
)

logger = logging.getLogger(__name__)

DONE = FeatureExtraction.Status.DONE
# Extraction ids per IN (...) look-up, below SQLite's 999 parameters:
CHUNK = 500
BATCH_SIZE = 1000
SIGNATURE_FIELDS = ("description", "reference", "intercept", "cutoff")


class SignatureError(ValueError):
    pass


@dataclass
class ScoringResult:
    """What one signature's scoring did; `incomplete` lists extractions left unscored."""

    signature: str
    scored: int = 0
    removed: int = 0
    incomplete: list[int] = field(default_factory=list)


# Scoring -------------------------------------------------------------------------


def label_for(signature: RadiomicSignature, score: float) -> str:
    """Return label_above for a score at or above the cut-off, label_below under it."""
    if signature.cutoff is None:
        return ""
    return signature.label_above if score >= signature.cutoff else signature.label_below


def score_signature(
    signature: RadiomicSignature, extraction_ids: Iterable[int] | None = None
) -> ScoringResult:
    """Store the signature's score for every finished extraction holding all its features.

    score = intercept + sum(weight x value), summed by the database in one aggregate
    query. Only extractions whose status is "done" are scored: a pending, running
    or failed one may hold a partial or stale set of values. An extraction that
    holds some but not all of the features gets no score (an old one is removed) and
    is listed in `incomplete`. `extraction_ids` limits the work to those
    extractions (at most CHUNK of them); None means all.
    """
    result = ScoringResult(signature.name)
    feature_ids = list(signature.terms.values_list("feature_id", flat=True))
    n_terms = len(feature_ids)
    # The explicit feature list lets the database probe the (extraction, feature)
    # index instead of reading every value of the extractions:
    values = FeatureValue.objects.filter(
        feature_id__in=feature_ids,
        feature__signatureterm__signature=signature,
        extraction__status=DONE,
    )
    scores = SignatureScore.objects.filter(signature=signature)
    if extraction_ids is not None:
        extraction_ids = list(extraction_ids)
        values = values.filter(extraction_id__in=extraction_ids)
        scores = scores.filter(extraction_id__in=extraction_ids)

    # The join to the terms is filtered to this signature, so each value meets its
    # own weight once; the unique (extraction, feature) constraint makes the count
    # the number of terms present:
    sums = (
        values.values("extraction_id")
        .annotate(
            total=Sum(F("value") * F("feature__signatureterm__weight")),
            present=Count("feature_id"),
        )
        .order_by("extraction_id")
    )

    # NB: a plain list, not .iterator(): PostgreSQL plans a server-side cursor for
    # its first rows and picked a plan 400 times slower (21 s for 500 extractions).
    try:
        with transaction.atomic():  # a savepoint: PostgreSQL aborts on float overflow
            rows = list(sums)
    except DataError:
        # PostgreSQL refuses a product or sum beyond a double; summed here instead,
        # where it becomes infinite and is set aside below.
        rows = _sums_in_python(signature, values)

    fresh = []
    for row in rows:
        if row["present"] < n_terms:
            result.incomplete.append(row["extraction_id"])
            continue
        score = signature.intercept + (
            row["total"] if row["total"] is not None else math.nan
        )
        # A sum the database could not hold (NULL or infinite) is no score; it is
        # listed with the incomplete ones rather than stored or allowed to fail the
        # transaction that wrote the values:
        if not math.isfinite(score):
            result.incomplete.append(row["extraction_id"])
            logger.warning(
                "Signature %s: extraction %s has no finite score",
                signature.name,
                row["extraction_id"],
            )
            continue
        fresh.append(
            SignatureScore(
                signature=signature,
                extraction_id=row["extraction_id"],
                score=score,
                label=label_for(signature, score),
            )
        )

    # Stale scores are found by id: a NOT IN (aggregate) subquery was re-run per
    # score row on PostgreSQL.
    scored_ids = {score.extraction_id for score in fresh}
    stale = [
        pk
        for pk in scores.values_list("extraction_id", flat=True)
        if pk not in scored_ids
    ]
    with transaction.atomic():
        for chunk in _chunks(stale):
            removed, _ = scores.filter(extraction_id__in=chunk).delete()
            result.removed += removed
        SignatureScore.objects.bulk_create(
            fresh,
            batch_size=BATCH_SIZE,
            update_conflicts=True,
            unique_fields=["signature", "extraction"],
            update_fields=["score", "label", "computed_at"],
        )
    result.scored = len(fresh)
    return result


def score_signatures(name: str | None = None) -> list[ScoringResult]:
    """Score every signature, or the one with this name, over all extractions."""
    signatures = RadiomicSignature.objects.order_by("name")
    if name is not None:
        signatures = signatures.filter(name=name)
        if not signatures.exists():
            raise SignatureError(f"No signature is named {name!r}.")

    results = [score_signature(signature) for signature in signatures]
    for result in results:
        logger.info(
            "Signature %s scored %d extractions, removed %d scores",
            result.signature,
            result.scored,
            result.removed,
        )
    return results


def _sums_in_python(signature: RadiomicSignature, values) -> list[dict]:
    weights = dict(signature.terms.values_list("feature_id", "weight"))
    totals: dict[int, list] = {}
    for extraction_id, feature_id, value in values.values_list(
        "extraction_id", "feature_id", "value"
    ):
        total = totals.setdefault(extraction_id, [0.0, 0])
        with np.errstate(over="ignore"):
            total[0] = float(
                np.float64(total[0]) + np.float64(value) * weights[feature_id]
            )
        total[1] += 1
    return [
        {"extraction_id": pk, "total": total, "present": present}
        for pk, (total, present) in sorted(totals.items())
    ]


def rescore_extractions(extraction_ids: Iterable[int]) -> list[ScoringResult]:
    """Rescore these extractions for every signature that uses or scored them.

    Writers call it after storing or replacing feature values (bulk inserts, COPY,
    a re-run): those send no model signals. Each signature is scored over the given
    extractions only, CHUNK ids at a time.
    """
    results = []
    for chunk in _chunks(sorted(set(extraction_ids))):
        # Terms are few and extractions hold thousands of values: probe the
        # (extraction, feature) index once per term rather than list the values.
        holds_term_feature = FeatureValue.objects.filter(
            feature_id=OuterRef("feature_id"), extraction_id__in=chunk
        )
        signature_ids = set(
            SignatureTerm.objects.filter(Exists(holds_term_feature)).values_list(
                "signature_id", flat=True
            )
        ) | set(
            SignatureScore.objects.filter(extraction_id__in=chunk).values_list(
                "signature_id", flat=True
            )
        )
        for signature in RadiomicSignature.objects.filter(pk__in=signature_ids):
            results.append(score_signature(signature, chunk))
    return results


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


# Definitions ----------------------------------------------------------------------


@dataclass
class TermDefinition:
    feature: FeatureDefinition
    weight: float


@dataclass
class SignatureDefinition:
    """A checked signature definition file, its terms resolved to feature definitions."""

    name: str
    description: str
    reference: str
    intercept: float
    cutoff: float | None
    label_below: str
    label_above: str
    terms: list[TermDefinition]


def read_definition(path: Path) -> SignatureDefinition:
    """Read and check a signature definition (.json, .yaml or .yml).

    Raises SignatureError listing every problem found, each naming the file, the
    term (by position and feature) and the field.
    """
    data = _load(path)
    source = path.name
    problems: list[str] = []
    if not isinstance(data, dict):
        raise SignatureError(
            f"{source}: the file must hold one mapping (name, terms, …)."
        )

    unknown = sorted(set(data) - {"name", "labels", "terms", *SIGNATURE_FIELDS})
    problems += [
        f"{source}: field {key!r} is not a signature field." for key in unknown
    ]
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append(f"{source}: field 'name' must be a non-empty text.")
    intercept = _number(
        data.get("intercept", 0.0), f"{source}: field 'intercept'", problems
    )
    cutoff = data.get("cutoff")
    if cutoff is not None:
        cutoff = _number(cutoff, f"{source}: field 'cutoff'", problems)
    labels = data.get("labels") or {}
    if not isinstance(labels, dict) or set(labels) - {"below", "above"}:
        problems.append(
            f"{source}: field 'labels' must be a mapping with 'below' and 'above'."
        )
        labels = {}
    texts = {key: data.get(key) or "" for key in ("description", "reference")}
    for key, text in texts.items():
        if not isinstance(text, str):
            problems.append(f"{source}: field {key!r} must be text.")

    terms = _read_terms(source, data.get("terms"), problems)
    if problems:
        raise SignatureError("\n".join(problems))
    return SignatureDefinition(
        name=name.strip(),
        description=texts["description"],
        reference=texts["reference"][:500],
        intercept=intercept,
        cutoff=cutoff,
        label_below=str(labels.get("below", "low risk"))[:50],
        label_above=str(labels.get("above", "high risk"))[:50],
        terms=terms,
    )


def _load(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SignatureError(f"{path.name}: cannot be read ({error}).") from error

    if path.suffix.lower() in (".yaml", ".yml"):
        # NB: PyYAML is optional; JSON definitions need nothing beyond Python.
        try:
            import yaml
        except ImportError as error:
            raise SignatureError(
                f"{path.name}: reading YAML needs PyYAML (pip install PyYAML); "
                "or give the definition as JSON."
            ) from error
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise SignatureError(
                f"{path.name}: is not valid YAML ({error})."
            ) from error

    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise SignatureError(f"{path.name}: is not valid JSON ({error}).") from error


# Weights and intercepts of published signatures are far below this; a larger one is a
# typo, and its products with feature values would overflow a double:
LARGEST_COEFFICIENT = 1e12


def _number(value: object, where: str, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{where} must be a number, not {value!r}.")
        return 0.0
    if not math.isfinite(value) or abs(value) > LARGEST_COEFFICIENT:
        problems.append(
            f"{where} must be a finite number of at most {LARGEST_COEFFICIENT:g} in "
            f"size, not {value!r}."
        )
        return 0.0
    return float(value)


def _read_terms(
    source: str, terms: object, problems: list[str]
) -> list[TermDefinition]:
    if not isinstance(terms, list) or not terms:
        problems.append(f"{source}: field 'terms' must be a non-empty list.")
        return []

    found: list[TermDefinition] = []
    for position, term in enumerate(terms, start=1):
        if not isinstance(term, dict):
            problems.append(f"{source}: term {position} must be a mapping.")
            continue
        where = f"{source}: term {position}"
        key = term.get("feature") or term.get("ibsi_code")
        if key:
            where += f" ({key})"
        unknown = sorted(set(term) - {"feature", "ibsi_code", "image_filter", "weight"})
        problems += [
            f"{where}: field {name!r} is not a term field." for name in unknown
        ]
        weight = _number(term.get("weight"), f"{where}: field 'weight'", problems)
        try:
            feature = find_feature(
                feature=term.get("feature"),
                ibsi_code=term.get("ibsi_code"),
                image_filter=term.get("image_filter", "original"),
            )
        except SignatureError as error:
            problems.append(f"{where}: {error}")
            continue
        found.append(TermDefinition(feature, weight))

    repeated = {
        t.feature.name for t in found if [u.feature for u in found].count(t.feature) > 1
    }
    problems += [
        f"{source}: feature {name!r} appears in several terms."
        for name in sorted(repeated)
    ]
    return found


def _stored_alternatives(feature: str) -> str:
    """Return "; stored on other image filters: ..." for the same feature, or "".

    A wavelet band is the usual miss: 2D extractions give four bands (wavelet-HH),
    3D ones eight (wavelet-HLH), so a signature made on one does not fit the other.
    """
    _, _, feature_of_filter = feature.partition("_")
    if not feature_of_filter:
        return ""
    others = list(
        FeatureDefinition.objects.filter(name__endswith=f"_{feature_of_filter}")
        .order_by("name")
        .values_list("name", flat=True)[:8]
    )
    if not others:
        return ""
    return f" (stored on other image filters: {', '.join(others)})"


def find_feature(
    feature: str | None = None,
    ibsi_code: str | None = None,
    image_filter: str = "original",
) -> FeatureDefinition:
    """Return the feature definition a term means: by engine name, or by IBSI code.

    A term points at one FeatureDefinition, i.e. one engine's feature on one image
    filter. An IBSI code (with the image filter, "original" by default) is accepted
    when exactly one stored definition carries it; when several engines stored it,
    the term must give the feature name.
    """
    if bool(feature) == bool(ibsi_code):
        raise SignatureError(
            "field 'feature' or field 'ibsi_code' is required, not both."
        )
    if feature:
        found = FeatureDefinition.objects.filter(name=feature).first()
        if found is None:
            raise SignatureError(
                f"field 'feature': no feature is named {feature!r}"
                f"{_stored_alternatives(feature)}; a signature can use only features "
                "that extractions have stored (extract_features or "
                "import_pyradiomics first)."
            )
        return found

    matches = list(
        FeatureDefinition.objects.filter(
            ibsi_code=ibsi_code, image_filter=image_filter
        )[:5]
    )
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SignatureError(
            f"field 'ibsi_code': no {image_filter} feature has IBSI code {ibsi_code!r}."
        )
    names = ", ".join(definition.name for definition in matches)
    raise SignatureError(
        f"field 'ibsi_code': IBSI code {ibsi_code!r} names several features ({names}); "
        "give field 'feature' instead."
    )


def save_definition(definition: SignatureDefinition) -> tuple[RadiomicSignature, bool]:
    """Create or update the signature named in the definition; return it and whether it changed.

    Nothing is written when the stored signature already matches, so importing the
    same file twice changes nothing. A change is rescored by the receivers below
    when the transaction commits.
    """
    wanted = {
        "description": definition.description,
        "reference": definition.reference,
        "intercept": definition.intercept,
        "cutoff": definition.cutoff,
        "label_below": definition.label_below,
        "label_above": definition.label_above,
    }
    weights = {term.feature.pk: term.weight for term in definition.terms}

    with transaction.atomic():
        signature, created = (
            RadiomicSignature.objects.select_for_update().get_or_create(
                name=definition.name, defaults=wanted
            )
        )
        changed = created
        if any(getattr(signature, key) != value for key, value in wanted.items()):
            for key, value in wanted.items():
                setattr(signature, key, value)
            signature.save()
            changed = True

        stored = {term.feature_id: term for term in signature.terms.all()}
        for feature_id, term in stored.items():
            if feature_id not in weights:
                term.delete()
                changed = True
            elif term.weight != weights[feature_id]:
                term.weight = weights[feature_id]
                term.save(update_fields=["weight"])
                changed = True
        for feature_id, weight in weights.items():
            if feature_id not in stored:
                SignatureTerm.objects.create(
                    signature=signature, feature_id=feature_id, weight=weight
                )
                changed = True

    if changed:
        logger.info("Signature %s saved with %d terms", signature.pk, len(weights))
    return signature, changed


# Receivers ------------------------------------------------------------------------
#
# A saved signature or term, a saved feature value and a change of an extraction's
# status rescore what they feed once the transaction commits, so that a cascade
# delete (signature -> terms) finds its rows gone instead of scoring them on their
# way out, and so that twenty saves in one transaction rescore once.
#
# NB: there is deliberately no receiver for a deleted FeatureValue: any pre_delete or
# post_delete receiver makes Django load every value of a deleted extraction instead
# of deleting them with one DELETE. A deleted extraction takes its scores with it
# (cascade); code that deletes single values calls rescore_extractions() itself, as
# the admin does.


_pending = threading.local()


class _OnCommit:
    """One deferred rescoring; it runs once, when the transaction commits."""

    def __init__(self, action: Callable[[], object]) -> None:
        self.action = action
        self.has_run = False

    def __call__(self) -> None:
        self.has_run = True
        self.action()


def _once_on_commit(key: tuple[str, int], action: Callable[[], object]) -> None:
    """Run `action` on commit, unless the same key already waits for this commit."""
    connection = transaction.get_connection()
    waiting: dict[tuple[str, int], _OnCommit] = _pending.__dict__.setdefault(
        "calls", {}
    )
    # Outside a transaction nothing waits: earlier callbacks have run or were
    # rolled back, so a long-running worker does not collect them.
    if not connection.in_atomic_block:
        waiting.clear()

    earlier = waiting.get(key)
    # A rolled-back callback leaves connection.run_on_commit, so it no longer counts:
    if (
        earlier is not None
        and not earlier.has_run
        and any(func is earlier for _, func, _ in connection.run_on_commit)
    ):
        return

    waiting[key] = callback = _OnCommit(action)
    # robust: the values are committed by then; a scoring fault is logged and must
    # not turn the extraction or import that wrote them into a failure.
    transaction.on_commit(callback, robust=True)


def _rescore_signature(signature_id: int) -> None:
    signature = RadiomicSignature.objects.filter(pk=signature_id).first()
    if signature is not None:
        score_signature(signature)


@receiver(post_save, sender=FeatureValue)
def rescore_on_value_save(
    sender, instance: FeatureValue, raw: bool = False, **kwargs
) -> None:
    if not raw:
        extraction_id = instance.extraction_id
        _once_on_commit(
            ("extraction", extraction_id), lambda: rescore_extractions([extraction_id])
        )


@receiver(post_save, sender=FeatureExtraction)
def rescore_on_status_change(
    sender,
    instance: FeatureExtraction,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs,
) -> None:
    # Progress reports of a running job save other fields only; they change no score:
    if raw or (update_fields is not None and "status" not in update_fields):
        return
    extraction_id = instance.pk
    _once_on_commit(
        ("extraction", extraction_id), lambda: rescore_extractions([extraction_id])
    )


@receiver([post_save, post_delete], sender=SignatureTerm)
def rescore_on_term_change(
    sender, instance: SignatureTerm, raw: bool = False, **kwargs
) -> None:
    if not raw:
        signature_id = instance.signature_id
        _once_on_commit(
            ("signature", signature_id), lambda: _rescore_signature(signature_id)
        )


@receiver(post_save, sender=RadiomicSignature)
def rescore_on_signature_change(
    sender, instance: RadiomicSignature, raw: bool = False, **kwargs
) -> None:
    if not raw:
        signature_id = instance.pk
        _once_on_commit(
            ("signature", signature_id), lambda: _rescore_signature(signature_id)
        )
