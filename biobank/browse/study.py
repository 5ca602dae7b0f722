"""What the study page shows: acquisition, segmentations, features by family, texture report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db.models import Prefetch

from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    SignatureScore,
)

# The grey-level co-occurrence (Haralick) features radiologists know from commercial
# texture tools, by IBSI code so that any engine's values are found. "Homogeneity" is
# spelled two ways in those tools; both IBSI features are listed.
HARALICK = [
    ("Autocorrelation", "QWB0"),
    ("Cluster prominence", "AE86"),
    ("Cluster shade", "7NFM"),
    ("Contrast", "ACUI"),
    ("Correlation", "NI2N"),
    ("Difference entropy", "NTRS"),
    ("Difference variance", "D3YU"),
    ("Dissimilarity", "8S9J"),
    ("Energy (angular second moment)", "8ZQL"),
    ("Entropy (joint entropy)", "TU9B"),
    ("Homogeneity (inverse difference)", "IB1Z"),
    ("Homogeneity 2 (inverse difference moment)", "WF0Z"),
    ("Information measure of correlation 1", "R8DG"),
    ("Information measure of correlation 2", "JN9H"),
    ("Maximum probability (joint maximum)", "GYBY"),
    ("Sum average", "ZGXS"),
    ("Sum entropy", "P6QZ"),
    ("Sum of squares variance (joint variance)", "UR99"),
    ("Sum variance", "OEEB"),
]

# Intensity statistics beside them. IBSI defines no 25th/75th percentile and no
# standard deviation: the deviation is derived from the variance (ECT3), and the
# percentiles are those the biobank computes beside each engine's first order
# (radiomics/engines/base.py: quartile_values), under the engines' styles of name.
INTENSITY = [
    ("Mean", "Q4LE", ()),
    ("Standard deviation", "", ()),
    ("Median", "Y12H", ()),
    ("25th percentile", "", ("25Percentile", "stat_p25")),
    ("75th percentile", "", ("75Percentile", "stat_p75")),
    ("Skewness", "KE2A", ()),
    ("Kurtosis (excess)", "IPH6", ()),
]
VARIANCE_CODE = "ECT3"
EXCESS_KURTOSIS_CODE = "IPH6"
# Shown beside the derived value on the study page and in the report:
EXCESS_KURTOSIS_NOTE = "the engine's kurtosis minus 3"
NOT_COMPUTED = "not computed by this extraction"
# Extractions run (or imported) before the biobank computed the quartiles lack them:
QUARTILE_MISSING = "not computed for this extraction"
QUARTILE_NOTE = "computed by the biobank from the ROI intensities the engine used"


@dataclass(frozen=True)
class ReportLine:
    label: str
    code: str
    value: float | None
    value_id: int | None = None
    note: str = ""
    feature: str = ""


@dataclass
class FeatureRow:
    value: FeatureValue
    robustness: list[FeatureRobustness] = field(default_factory=list)

    @property
    def definition(self) -> FeatureDefinition:
        return self.value.feature

    @property
    def robust_designs(self) -> list[str]:
        return sorted({r.get_design_display() for r in self.robustness if r.is_robust})


@dataclass
class StudyView:
    study: ImagingStudy
    series: list[ImageSeries]
    extractions: list[FeatureExtraction]
    chosen: FeatureExtraction | None
    families: list[tuple[str, list[FeatureRow]]]
    scores: list[SignatureScore]
    haralick: list[ReportLine]
    intensity: list[ReportLine]


def load_study(study: ImagingStudy, extraction_id: int | None) -> StudyView:
    """Return the study page's content for one chosen extraction (default: the first done).

    A fixed number of queries: values are read for the chosen extraction only,
    since one study can hold dozens of extractions of a thousand features each.
    """
    series = list(
        study.series.prefetch_related("segmentations").order_by("series_number", "pk")
    )
    extractions = list(
        FeatureExtraction.objects.filter(segmentation__series__study=study)
        .select_related("segmentation__series")
        .prefetch_related(
            Prefetch(
                "signature_scores",
                queryset=SignatureScore.objects.select_related("signature"),
            )
        )
        .order_by(
            "segmentation__series__series_number", "segmentation__roi_number", "pk"
        )
    )
    done = [e for e in extractions if e.status == FeatureExtraction.Status.DONE]
    chosen = next((e for e in extractions if e.pk == extraction_id), None)
    if chosen is None and done:
        chosen = done[0]

    rows: list[FeatureRow] = []
    if chosen is not None:
        values = (
            chosen.values.select_related("feature")
            .prefetch_related("feature__robustness")
            .order_by("feature__family", "feature__name")
        )
        rows = [FeatureRow(v, list(v.feature.robustness.all())) for v in values]

    return StudyView(
        study=study,
        series=series,
        extractions=extractions,
        chosen=chosen,
        families=_by_family(rows),
        scores=list(chosen.signature_scores.all()) if chosen else [],
        haralick=texture_lines(rows, HARALICK),
        intensity=intensity_lines(rows),
    )


def _by_family(rows: list[FeatureRow]) -> list[tuple[str, list[FeatureRow]]]:
    """Group the rows by family and image, each family's original image first.

    An extraction with filtered images holds a thousand values or more; one group
    per family and image keeps each of the page's collapsed groups short.
    """
    labels = dict(FeatureDefinition.Family.choices)
    groups: dict[tuple[str, str], list[FeatureRow]] = {}
    for row in rows:
        key = (row.definition.family, row.definition.image_filter)
        groups.setdefault(key, []).append(row)
    families = list(dict.fromkeys(family for family, _ in groups))

    def place(key: tuple[str, str]) -> tuple[int, bool, str]:
        family, image_filter = key
        return families.index(family), image_filter != "original", image_filter

    grouped = []
    for family, image_filter in sorted(groups, key=place):
        label = f"{labels.get(family, family)}, {_image_label(image_filter)}"
        grouped.append((label, groups[family, image_filter]))
    return grouped


def _image_label(image_filter: str) -> str:
    return "original image" if image_filter == "original" else image_filter


def _original(rows: list[FeatureRow]) -> list[FeatureRow]:
    # Report lines describe the ROI as imaged: filtered images (wavelet, LoG) give
    # other values under the same IBSI code.
    return [row for row in rows if row.definition.image_filter == "original"]


def _find(
    rows: list[FeatureRow], code: str, names: tuple[str, ...] = ()
) -> FeatureRow | None:
    for row in _original(rows):
        if code and row.definition.ibsi_code == code:
            return row
        if row.definition.feature_name in names:
            return row
    return None


def texture_lines(
    rows: list[FeatureRow], wanted: list[tuple[str, str]]
) -> list[ReportLine]:
    lines = []
    for label, code in wanted:
        row = _find(rows, code)
        if row is None:
            lines.append(ReportLine(label, code, None, note=NOT_COMPUTED))
        else:
            lines.append(_line(label, code, row))
    return lines


def intensity_lines(rows: list[FeatureRow]) -> list[ReportLine]:
    lines = []
    for label, code, names in INTENSITY:
        if label == "Standard deviation":
            variance = _find(rows, VARIANCE_CODE)
            if variance is not None and variance.value.value >= 0:
                deviation = math.sqrt(variance.value.value)
                note = f"square root of the variance ({VARIANCE_CODE})"
                lines.append(_line(label, "", variance, deviation, note))
                continue
        if code == EXCESS_KURTOSIS_CODE and _find(rows, code) is None:
            # PyRadiomics stores m4/m2² (3 for a normal distribution); IBSI's is 3 lower:
            pearson = _find(rows, "", ("Kurtosis",))
            if pearson is not None:
                excess = pearson.value.value - 3
                lines.append(_line(label, code, pearson, excess, EXCESS_KURTOSIS_NOTE))
                continue
        row = _find(rows, code, names)
        if row is None:
            note = QUARTILE_MISSING if names else NOT_COMPUTED
            lines.append(ReportLine(label, code, None, note=note))
        else:
            lines.append(_line(label, code, row, note=QUARTILE_NOTE if names else ""))
    return lines


def _line(
    label: str, code: str, row: FeatureRow, value: float | None = None, note: str = ""
) -> ReportLine:
    """A report line read from (or derived from) one stored value, which it names."""
    return ReportLine(
        label,
        code,
        row.value.value if value is None else value,
        row.value.pk,
        note=note,
        feature=row.definition.name,
    )
