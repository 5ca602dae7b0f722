"""Feature robustness: intraclass correlation over repeated extractions of one lesion."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import F, QuerySet
from scipy.stats import f as f_distribution

from patients.models import Project
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
)

logger = logging.getLogger(__name__)

ICC_FORMS = ("ICC(1,1)", "ICC(2,1)", "ICC(3,1)")
# Two-way random effects, absolute agreement, single measurement (McGraw & Wong's
# ICC(A,1)): readers and scan sessions are samples of all possible ones, and a
# reader who measures every lesion 10 % larger does not agree with the others.
DEFAULT_FORM = "ICC(2,1)"
# Koo & Li (2016): below 0.5 poor, 0.5-0.75 moderate, 0.75-0.9 good, above 0.9 excellent.
DEFAULT_THRESHOLD = 0.75
CONFIDENCE = 0.95


class RobustnessError(ValueError):
    pass


@dataclass(frozen=True)
class Grouping:
    """Which extractions measure the same lesion (subject) and which repeat each is.

    Both are FeatureExtraction lookups, as `values()` takes them. With `by_order`
    the repeat lookups only order a subject's repeats, which are then numbered
    (scan 1, scan 2, ...), since each patient's studies have their own ids.
    """

    subject: tuple[str, ...]
    repeat: tuple[str, ...]
    by_order: bool = False


# Readers: several readers' segmentations of a lesion, by ROI name, on one series.
# Test-retest: the same lesion (by ROI name) of a patient on different studies,
# numbered by study date.
# NB: ROI names tie the repeats together; readers who name one lesion differently
# ("GTV", "gtv_1") are read as two lesions, which the complete-case rule then drops.
GROUPINGS = {
    FeatureRobustness.Design.READERS: Grouping(
        subject=("segmentation__series_id", "segmentation__roi_name"),
        repeat=("segmentation__reader",),
    ),
    FeatureRobustness.Design.TEST_RETEST: Grouping(
        subject=("patient_id", "segmentation__roi_name"),
        repeat=(
            "segmentation__series__study__study_date",
            "segmentation__series__study_id",
        ),
        by_order=True,
    ),
}


# What an extraction needs to enter each design, for the message when none does:
PAIRING_NEEDS = {
    FeatureRobustness.Design.READERS: (
        "it needs extractions on segmentations that name their reader (several "
        "readers' delineations of one lesion on one series)."
    ),
    FeatureRobustness.Design.TEST_RETEST: (
        "it needs extractions on segmentations (the same ROI name on each of a "
        "patient's studies); imported feature tables without a segmentation "
        "cannot be paired."
    ),
}


@dataclass(frozen=True)
class ICC:
    form: str
    icc: float
    ci_low: float
    ci_high: float
    n_subjects: int
    n_raters: int


def intraclass_correlation(
    ratings: np.ndarray, form: str = DEFAULT_FORM, confidence: float = CONFIDENCE
) -> ICC:
    """Return a single-measure ICC with its confidence interval (Shrout & Fleiss 1979).

    Parameters
    ----------
    ratings
        n subjects x k raters (or repeats), complete: no NaN.
    form
        "ICC(1,1)" one-way random; "ICC(2,1)" two-way random, absolute agreement;
        "ICC(3,1)" two-way mixed, consistency.
    confidence
        Coverage of the interval; its bounds use the F distribution as in Shrout &
        Fleiss (1979) and McGraw & Wong (1996), with Satterthwaite's degrees of
        freedom for ICC(2,1).

    Raises
    ------
    RobustnessError
        An unknown form, fewer than 2 subjects or repeats, or a missing rating.
    """
    if form not in ICC_FORMS:
        raise RobustnessError(
            f"Unknown ICC form {form!r}; use one of {', '.join(ICC_FORMS)}."
        )
    ratings = np.asarray(ratings, dtype=float)
    n, k = ratings.shape
    if n < 2 or k < 2:
        raise RobustnessError(
            f"An ICC needs at least 2 subjects and 2 repeats, not {n} x {k}."
        )
    if np.isnan(ratings).any():
        raise RobustnessError("An ICC needs every subject rated by every repeat.")

    # Two-way ANOVA mean squares: rows (subjects), columns (raters), residual, within:
    grand = ratings.mean()
    ss_rows = k * ((ratings.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((ratings.mean(axis=0) - grand) ** 2).sum()
    ss_total = ((ratings - grand) ** 2).sum()
    ms_rows = ss_rows / (n - 1)
    ms_cols = ss_cols / (k - 1)
    ms_error = max(ss_total - ss_rows - ss_cols, 0.0) / ((n - 1) * (k - 1))
    ms_within = (ss_total - ss_rows) / (n * (k - 1))
    upper_q = 1 - (1 - confidence) / 2

    with np.errstate(divide="ignore", invalid="ignore"):
        if form == "ICC(1,1)":
            low, icc, high = _one_or_three(
                ms_rows, ms_within, n, k, n * (k - 1), upper_q
            )
        elif form == "ICC(3,1)":
            low, icc, high = _one_or_three(
                ms_rows, ms_error, n, k, (n - 1) * (k - 1), upper_q
            )
        else:
            low, icc, high = _two(ms_rows, ms_cols, ms_error, n, k, upper_q)
    return ICC(form, float(icc), float(low), float(high), n, k)


def _one_or_three(
    ms_rows: float, ms_error: float, n: int, k: int, df_error: int, upper_q: float
) -> tuple[float, float, float]:
    """ICC(1,1) (error = within subjects) or ICC(3,1) (error = residual), with bounds."""
    icc = (ms_rows - ms_error) / (ms_rows + (k - 1) * ms_error)
    if ms_error == 0:
        # Perfect agreement: F is infinite and both bounds reach their limit, 1.
        return 1.0, icc, 1.0

    f_obs = ms_rows / ms_error
    f_low = f_obs / f_distribution.ppf(upper_q, n - 1, df_error)
    f_high = f_obs * f_distribution.ppf(upper_q, df_error, n - 1)
    return (f_low - 1) / (f_low + k - 1), icc, (f_high - 1) / (f_high + k - 1)


def _two(
    ms_rows: float, ms_cols: float, ms_error: float, n: int, k: int, upper_q: float
) -> tuple[float, float, float]:
    """ICC(2,1) with McGraw & Wong's (1996) bounds, Satterthwaite's df (their table 7)."""
    icc = (ms_rows - ms_error) / (
        ms_rows + (k - 1) * ms_error + k * (ms_cols - ms_error) / n
    )
    if ms_error == 0:
        # As F(cols) grows without bound, the Satterthwaite df tends to k - 1:
        v = k - 1.0
    else:
        f_cols = ms_cols / ms_error
        a = k * icc * f_cols + n * (1 + (k - 1) * icc) - k * icc
        b = n * (1 + (k - 1) * icc) - k * icc
        v = (k - 1) * (n - 1) * a**2 / ((n - 1) * k**2 * icc**2 * f_cols**2 + b**2)

    f_star = f_distribution.ppf(upper_q, n - 1, v)
    f_star_inv = f_distribution.ppf(upper_q, v, n - 1)
    spread = k * ms_cols + (k * n - k - n) * ms_error
    low = n * (ms_rows - f_star * ms_error) / (f_star * spread + n * ms_rows)
    high = n * (f_star_inv * ms_rows - ms_error) / (spread + n * f_star_inv * ms_rows)
    return low, icc, high


@dataclass(frozen=True)
class Selection:
    """Which finished extractions to compare; each option that is set narrows them."""

    engine: str | None = None
    preset: str | None = None
    project: str | None = None
    modality: str | None = None
    series_description: str | None = None
    # Keep one extraction per lesion and repeat by the cohort matrix's rule
    # (SERIES_CHOICE) where a study or series holds several:
    first_series: bool = False


# Options that narrow the selection, as the message of a clash names them: the
# extraction's field whose values differ, the option that picks one of them.
SEPARATING_OPTIONS = (
    ("software", "--engine"),
    ("preset", "--preset"),
    ("segmentation__series__modality", "--modality"),
    ("segmentation__series__description", "--series-description"),
)
# The cohort matrix's order among a study's extractions (docs/matrix.md, "How values
# are chosen"): lowest series number (none last), series id, ROI number, segmentation
# id, then the most recent extraction.
SERIES_CHOICE = (
    "segmentation__series__series_number",
    "segmentation__series_id",
    "segmentation__roi_number",
    "segmentation_id",
    "-pk",
)


def _narrowing(selection: Selection) -> list[tuple[str, str, str | None]]:
    """Return each option of the selection (its name) with its lookup and value."""
    return [
        ("engine", "software__iexact", selection.engine),
        ("preset", "preset", selection.preset),
        ("project", "patient__project__code__iexact", selection.project),
        ("modality", "segmentation__series__modality__iexact", selection.modality),
        (
            "series-description",
            "segmentation__series__description__iexact",
            selection.series_description,
        ),
    ]


def select_extractions(
    design: str, selection: Selection | None = None
) -> tuple[QuerySet[FeatureExtraction], str]:
    """Return the finished extractions to compare, and the selection's name.

    The name ("engine=MIRP preset=ibsi-c project=demo", "" for everything) keeps
    results of different settings apart in FeatureRobustness.selection.
    """
    selection = selection or Selection()
    _grouping(design)
    # Both designs tell lesions apart by their segmentation's ROI name; imported
    # extractions without a segmentation cannot be grouped:
    extractions = FeatureExtraction.objects.filter(
        status=FeatureExtraction.Status.DONE, segmentation__isnull=False
    )
    if design == FeatureRobustness.Design.READERS:
        # A segmentation that names no reader (most RTSTRUCT and SEG objects) is no
        # reader's repeat; counted as a reader "" it would leave no lesion measured
        # by every reader.
        extractions = extractions.exclude(segmentation__reader="")

    parts = []
    for name, lookup, wanted in _narrowing(selection):
        if wanted:
            extractions = extractions.filter(**{lookup: wanted})
            parts.append(f"{name}={wanted}")
    if selection.first_series:
        parts.append("first-series")
    return extractions, " ".join(parts)[:200]


def _why_none_fit(design: str, selection: Selection) -> str:
    """Return why the selection holds no extraction: the first filter that empties it.

    The filters are tried in the order a user widens a selection: the project, the
    finished extractions, the engine, preset, modality and series description, then
    the design's pairing.
    """
    project = selection.project
    where = f" of project {project}" if project else ""
    if project and not Project.objects.filter(code__iexact=project).exists():
        return f"No project has the code {project!r}; check --project."

    extractions = FeatureExtraction.objects.filter(status=FeatureExtraction.Status.DONE)
    if project:
        extractions = extractions.filter(patient__project__code__iexact=project)
    if not extractions.exists():
        return f"No feature extraction{where} has finished; run extract_features first."

    for name, lookup, wanted in _narrowing(selection):
        if not wanted or name == "project":
            continue
        narrowed = extractions.filter(**{lookup: wanted})
        if not narrowed.exists():
            field = lookup.removesuffix("__iexact")
            known = sorted(set(extractions.values_list(field, flat=True)))
            return (
                f"No finished extraction{where} has --{name} {wanted!r}; "
                f"they have {', '.join(map(repr, known))}."
            )
        extractions = narrowed

    return (
        f"None of the {extractions.count()} finished extractions{where} fits the "
        f"{design} design: {PAIRING_NEEDS[FeatureRobustness.Design(design)]}"
    )


def repeated_values(
    extractions: QuerySet[FeatureExtraction],
    grouping: Grouping,
    first_series: bool = False,
) -> pd.DataFrame:
    """Return one row per feature value: feature (id), subject, repeat, value.

    Subjects and repeats are worked out once per extraction and joined to the
    values by extraction id. With `first_series`, only the first extraction of each
    subject, repeat, engine and preset in SERIES_CHOICE order is used. Raises
    RobustnessError when one subject has two extractions of the same feature for the
    same repeat (two presets, two series of one study), since it cannot tell which
    one to use.
    """
    lookups = [*grouping.subject, *grouping.repeat]
    if first_series:
        extractions = extractions.order_by(
            F(SERIES_CHOICE[0]).asc(nulls_last=True), *SERIES_CHOICE[1:]
        )
    design = pd.DataFrame(
        list(extractions.values_list("pk", "software", "preset", *lookups)),
        columns=["extraction", "software", "preset", *lookups],
    )
    design["subject"] = (
        design[list(grouping.subject)].astype(str).agg(" / ".join, axis=1)
    )
    if grouping.by_order:
        design["repeat"] = _session_numbers(design, list(grouping.repeat))
    else:
        design["repeat"] = (
            design[list(grouping.repeat)].astype(str).agg(" / ".join, axis=1)
        )
    chosen: QuerySet | list[int] = extractions
    if first_series:
        design = design.drop_duplicates(["subject", "repeat", "software", "preset"])
        chosen = design["extraction"].tolist()  # as read, not the selection again

    rows = FeatureValue.objects.filter(extraction__in=chosen).values_list(
        "feature_id", "extraction_id", "value"
    )
    values = pd.DataFrame(
        list(rows.iterator(chunk_size=10_000)),
        columns=["feature", "extraction", "value"],
    )
    frame = values.merge(design[["extraction", "subject", "repeat"]], on="extraction")

    clash = frame[frame.duplicated(["feature", "subject", "repeat"], keep=False)]
    if not clash.empty:
        first = clash.iloc[0]
        subject, repeat = first["subject"], first["repeat"]
        same = clash[(clash["subject"] == subject) & (clash["repeat"] == repeat)]
        raise RobustnessError(_clash_message(sorted(set(same["extraction"])), repeat))
    return frame[["feature", "subject", "repeat", "value"]]


def _clash_message(ids: list[int], repeat: str) -> str:
    """Say which extractions of one lesion clash, on which series, and how to choose.

    The lesion is named by its patient's pseudonym and ROI name, each extraction by
    its engine, preset and series; the options offered are those whose values differ
    among them, and --first-series, which picks one of the same engine and preset.
    """
    clashing = list(
        FeatureExtraction.objects.filter(pk__in=ids)
        .order_by("pk")
        .values(
            "pk",
            "patient__pseudonym",
            "segmentation__roi_name",
            "segmentation__series__series_number",
            *(field for field, _ in SEPARATING_OPTIONS),
        )
    )
    first = clashing[0]
    described = "; ".join(
        f"extraction {row['pk']} ({row['software']}, preset {row['preset'] or '-'}, "
        f"{row['segmentation__series__modality']} series "
        f"{row['segmentation__series__series_number']} "
        f"{row['segmentation__series__description']!r})"
        for row in clashing
    )
    options = [
        option
        for field, option in SEPARATING_OPTIONS
        if len({str(row[field]).casefold() for row in clashing}) > 1
    ]
    if len({(row["software"].casefold(), row["preset"]) for row in clashing}) == 1:
        options.append(
            "--first-series (the cohort matrix's choice: lowest series number)"
        )
    return (
        f"Patient {first['patient__pseudonym']}, ROI "
        f"{first['segmentation__roi_name']!r} has several extractions for repeat "
        f"{repeat!r}: {described}. Choose one with {' or '.join(options)}."
    )


def _session_numbers(design: pd.DataFrame, order: list[str]) -> pd.Series:
    """Return "scan 1", "scan 2", ... per extraction: its repeat's rank in its subject."""
    sessions = design[["subject", *order]].drop_duplicates()
    sessions = sessions.sort_values(["subject", *order], na_position="last")
    sessions["number"] = sessions.groupby("subject").cumcount() + 1
    numbered = design[["subject", *order]].merge(
        sessions, on=["subject", *order], how="left"
    )
    return "scan " + numbered["number"].astype(str).set_axis(design.index)


def feature_robustness(
    extractions: QuerySet[FeatureExtraction],
    grouping: Grouping,
    form: str = DEFAULT_FORM,
    threshold: float = DEFAULT_THRESHOLD,
    first_series: bool = False,
) -> pd.DataFrame:
    """Return per feature (id) its ICC, 95 % interval, counts and whether it is robust.

    A feature is robust when the lower bound of its interval reaches the threshold.
    Only subjects measured by every repeat enter a feature's ICC (complete cases);
    a feature with fewer than two such subjects or repeats, or with the same value
    everywhere, gets no ICC and is not robust.
    """
    if form not in ICC_FORMS:
        raise RobustnessError(
            f"Unknown ICC form {form!r}; use one of {', '.join(ICC_FORMS)}."
        )
    values = repeated_values(extractions, grouping, first_series)

    rows = []
    features, tables = _tables(values)
    for feature, table in zip(features, tables, strict=True):
        # Repeats that never measured this feature, then subjects missing a repeat:
        table = table[:, ~np.isnan(table).all(axis=0)]
        table = table[~np.isnan(table).any(axis=1)]
        n, k = table.shape
        if n < 2 or k < 2 or np.ptp(table) == 0:
            rows.append(
                {"feature": feature, "form": form, "n_subjects": n, "n_raters": k}
            )
            continue
        icc = intraclass_correlation(table, form)
        rows.append({"feature": feature, **vars(icc)})

    columns = ["feature", "form", "icc", "ci_low", "ci_high", "n_subjects", "n_raters"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["threshold"] = threshold
    frame["is_robust"] = frame["ci_low"].ge(threshold)
    return frame


def _tables(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Return the feature ids and, per feature, its subjects x repeats table (NaN gaps).

    One array for all features: pivoting feature by feature in pandas took 30 s for
    1,500 features. It holds features x subjects x repeats floats: 24 MB for 1,500
    features of 1,000 lesions scanned twice.
    """
    features, feature_codes = np.unique(values["feature"], return_inverse=True)
    subject_codes, subjects = pd.factorize(values["subject"])
    repeat_codes, repeats = pd.factorize(values["repeat"])
    cube = np.full((len(features), len(subjects), len(repeats)), np.nan)
    cube[feature_codes, subject_codes, repeat_codes] = values["value"].to_numpy()
    return features, cube


@dataclass
class RobustnessSummary:
    selection: str
    features: int
    robust: int
    without_icc: int


def store_robustness(
    design: str,
    form: str = DEFAULT_FORM,
    threshold: float = DEFAULT_THRESHOLD,
    selection: Selection | None = None,
) -> RobustnessSummary:
    """Compute per-feature ICCs for one design and selection, and store them.

    The rows of an earlier run with the same design, form and selection are
    replaced as a whole, so a feature no longer measured leaves no stale row.
    """
    chosen = selection or Selection()
    extractions, selection_name = select_extractions(design, chosen)
    if not extractions.exists():
        raise RobustnessError(_why_none_fit(design, chosen))
    results = feature_robustness(
        extractions, _grouping(design), form, threshold, chosen.first_series
    )

    rows = [
        FeatureRobustness(
            feature_id=int(row.feature),
            design=design,
            selection=selection_name,
            form=form,
            icc=_number(row.icc),
            ci_low=_number(row.ci_low),
            ci_high=_number(row.ci_high),
            n_subjects=int(row.n_subjects),
            n_raters=int(row.n_raters),
            threshold=threshold,
            is_robust=bool(row.is_robust),
        )
        for row in results.itertuples()
    ]
    with transaction.atomic():
        FeatureRobustness.objects.filter(
            design=design, form=form, selection=selection_name
        ).delete()
        FeatureRobustness.objects.bulk_create(rows, batch_size=1000)

    summary = RobustnessSummary(
        selection=selection_name,
        features=len(rows),
        robust=sum(row.is_robust for row in rows),
        without_icc=sum(row.icc is None for row in rows),
    )
    logger.info(
        "Robustness %s %s [%s]: %d features, %d robust",
        design,
        form,
        selection_name,
        summary.features,
        summary.robust,
    )
    return summary


def robust_features(
    design: str, form: str = DEFAULT_FORM, selection: str = ""
) -> QuerySet[FeatureDefinition]:
    """Return the features marked robust by the stored result of this design, form and selection.

    For cohort exports that keep robust features only. A feature never assessed is
    not robust. The selection is the name select_extractions() gave (see the
    FeatureRobustness rows), "" for a run over every extraction.
    """
    _grouping(design)
    return FeatureDefinition.objects.filter(
        robustness__design=design,
        robustness__form=form,
        robustness__selection=selection,
        robustness__is_robust=True,
    )


def _grouping(design: str) -> Grouping:
    try:
        return GROUPINGS[FeatureRobustness.Design(design)]
    except ValueError:
        designs = ", ".join(FeatureRobustness.Design.values)
        raise RobustnessError(
            f"Unknown design {design!r}; use one of {designs}."
        ) from None


def _number(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
