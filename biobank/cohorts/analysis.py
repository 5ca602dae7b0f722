"""Statistics on a cohort matrix: Spearman correlations with FDR control, groups by call.

Pure functions of a pandas DataFrame with the columns of docs/matrix.md; nothing here
reads the database, so every number can be checked against another implementation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from biobank.templatetags.browse import day_text

# Fewer paired values than this give no correlation at all:
MIN_PAIRED = 3
# Below this many pairs the t approximation of p is poor (n = 3 and rho = 1 gives 0):
FEW_PAIRED = 10
SIGNIFICANCE = 0.05

FEATURE_PREFIX = "feature."
VAF_PREFIX = "vaf."
CALL_PREFIX = "call."

DETECTED = "detected"
# Tested and nothing found: a not-detected call, or a variant below the assay's limit.
NOT_DETECTED_CALLS = ("not-detected", "below-lod")


@dataclass(frozen=True)
class Marker:
    """A liquid-biopsy column of the matrix, with what a chart's axis should say."""

    column: str
    label: str
    unit: str

    @property
    def axis_label(self) -> str:
        return f"{self.label} ({self.unit})"


CTC_MARKER = Marker("ctc_per_7_5ml", "CTCs", "per 7.5 mL")
CFDNA_MARKER = Marker("cfdna_ng_per_ml", "cfDNA", "ng/mL plasma")


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of one feature and one marker; rho is None with the reason why."""

    feature: str
    marker: Marker
    n: int
    rho: float | None = None
    p: float | None = None
    q: float | None = None
    reason: str = ""

    @property
    def feature_name(self) -> str:
        return self.feature.removeprefix(FEATURE_PREFIX)

    @property
    def is_few(self) -> bool:
        return self.rho is not None and self.n < FEW_PAIRED

    @property
    def is_significant(self) -> bool:
        return self.q is not None and self.q < SIGNIFICANCE


def markers_of(frame: pd.DataFrame) -> list[Marker]:
    """Return the markers the matrix has: CTCs, cfDNA, then the VAF of each gene."""
    markers = [m for m in (CTC_MARKER, CFDNA_MARKER) if m.column in frame.columns]
    for column in frame.columns:
        if column.startswith(VAF_PREFIX):
            gene = column.removeprefix(VAF_PREFIX)
            markers.append(Marker(column, f"{gene} VAF", "fraction 0–1"))
    return markers


def feature_columns(frame: pd.DataFrame) -> list[str]:
    return [column for column in frame.columns if column.startswith(FEATURE_PREFIX)]


def spearman(x: pd.Series, y: pd.Series) -> tuple[int, float | None, float | None, str]:
    """Return n, rho, two-sided p and the reason for no rho, over the pairs with both values.

    Rho is the Pearson correlation of the average ranks; p comes from Student's t
    with n - 2 degrees of freedom, as is usual for Spearman's rho.
    """
    both = pd.DataFrame({"x": _floats(x), "y": _floats(y)}).dropna()
    n = len(both)
    if n < MIN_PAIRED:
        return n, None, None, f"Fewer than {MIN_PAIRED} paired values (n = {n})."
    if both["x"].nunique() == 1 or both["y"].nunique() == 1:
        return n, None, None, "One of the two has the same value in every pair."

    ranks = both.rank(method="average")
    rho = float(np.corrcoef(ranks["x"], ranks["y"])[0, 1])
    # Rounding can push a perfect correlation a hair beyond 1:
    rho = max(-1.0, min(1.0, rho))
    if abs(rho) == 1.0:
        # A perfect rank agreement: t is infinite, p is zero.
        return n, rho, 0.0, ""
    t = rho * math.sqrt((n - 2) / (1 - rho * rho))
    p = float(2 * stats.t.sf(abs(t), n - 2))
    return n, rho, p, ""


def _floats(column: pd.Series) -> pd.Series:
    # Nullable Float64/Int64 hold pd.NA, which numpy cannot rank; NaN is missing too.
    return pd.to_numeric(column, errors="coerce").astype("float64")


def benjamini_hochberg(p_values: list[float | None]) -> list[float | None]:
    """Return the Benjamini–Hochberg adjusted p-values (q) in the order given.

    A missing p stays missing and does not count among the tests.
    """
    present = [(p, index) for index, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    m = len(present)

    # From the largest p down, each q is the smallest p * m / rank seen so far:
    smallest = 1.0
    for rank, (p, index) in reversed(list(enumerate(sorted(present), start=1))):
        smallest = min(smallest, p * m / rank)
        adjusted[index] = smallest
    return adjusted


def correlate(
    frame: pd.DataFrame, features: list[str], markers: list[Marker]
) -> list[Correlation]:
    """Correlate each feature column with each marker; q is adjusted over the whole table."""
    cells = []
    for feature in features:
        for marker in markers:
            n, rho, p, reason = spearman(frame[feature], frame[marker.column])
            cells.append(Correlation(feature, marker, n, rho, p, reason=reason))

    q_values = benjamini_hochberg([cell.p for cell in cells])
    return [
        Correlation(c.feature, c.marker, c.n, c.rho, c.p, q, c.reason)
        for c, q in zip(cells, q_values, strict=True)
    ]


@dataclass(frozen=True)
class Groups:
    """Values of one feature split by the call of one gene in the paired draw."""

    feature: str
    gene: str
    detected: list[float]
    not_detected: list[float]
    not_tested: int
    failed: int
    missing_feature: int
    # Which pair each value comes from, in the same order as the values:
    detected_names: list[str]
    not_detected_names: list[str]

    @property
    def labels(self) -> tuple[str, str]:
        return (
            f"{self.gene} detected",
            f"{self.gene} not detected or below LOD",
        )


def group_by_call(frame: pd.DataFrame, feature: str, gene: str) -> Groups:
    """Split the feature's values by the gene's call; untested and failed draws are left out.

    A draw without a result for the gene is not a negative: it goes in no group.
    """
    calls = frame[f"{CALL_PREFIX}{gene}"].astype("string")
    values = _floats(frame[feature])
    has_value = values.notna()

    names = _pair_names(frame)
    detected = (calls == DETECTED).fillna(False) & has_value
    negative = calls.isin(NOT_DETECTED_CALLS).fillna(False) & has_value

    tested = calls.isin([DETECTED, *NOT_DETECTED_CALLS]).fillna(False)
    return Groups(
        feature=feature,
        gene=gene,
        detected=values[detected].tolist(),
        not_detected=values[negative].tolist(),
        not_tested=int((calls.isna() | (calls == "not-tested")).sum()),
        failed=int((calls == "failed").sum()),
        missing_feature=int((tested & ~has_value).sum()),
        detected_names=names[detected].tolist(),
        not_detected_names=names[negative].tolist(),
    )


# The columns naming a pair, in order; relative dates are days in columns of their
# own (a date's whole, a moment's with its time of day), written as the pages do:
PAIR_NAME_COLUMNS = {
    "patient_pseudonym": None,
    "study_date": None,
    "study_date_days": int,
    "drawn_at": None,
    "drawn_at_days": float,
}


def _pair_names(frame: pd.DataFrame) -> pd.Series:
    """Name each row by its patient, study day and draw moment, where the matrix has them."""
    parts = []
    for column, days in PAIR_NAME_COLUMNS.items():
        if column not in frame.columns:
            continue
        values = frame[column]
        if days is not None:
            values = values.astype(object).map(
                lambda day, days=days: None if pd.isna(day) else day_text(days(day))
            )
        parts.append(values.astype("string").fillna("?"))
    if not parts:
        return pd.Series([f"row {i + 1}" for i in range(len(frame))], index=frame.index)
    names = parts[0]
    for part in parts[1:]:
        names = names + ", " + part
    return names
