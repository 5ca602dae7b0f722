"""The multi-omic matrix of a cohort: one row per study-draw pair, built in bounded chunks."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import math
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from biobank.api import vocabulary
from biobank.cohorts.forms import UNKNOWN_PARAMETER
from biobank.cohorts.query import IBSI_CODE_IMAGE_FILTER, CohortCriteria
from biobank.core.dates import moment_text
from liquidbiopsy.hgvs import current_symbol
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImagingStudy,
    RadiomicSignature,
    SignatureScore,
)

DEFAULT_CHUNK_SIZE = 2000
ALL_FEATURES = "*"
ROBUST_DESIGNS = ("", *FeatureRobustness.Design.values)
# The matrix's JSON is JSON Lines, one object per row, so it is offered under both
# names: jsonl, which says what it is, and json, which it was first offered as.
JSON_LINES = ("json", "jsonl")
FORMATS = ("csv", *JSON_LINES, "parquet")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    **dict.fromkeys(JSON_LINES, "application/x-ndjson; charset=utf-8"),
    "parquet": "application/vnd.apache.parquet",
}

# The per-gene call when several results of a gene exist in one draw: the first of
# these that occurs wins. A gene with no result in the draw is "not-tested".
CALL_PRECEDENCE = (
    VariantResult.Call.DETECTED,
    VariantResult.Call.BELOW_LOD,
    VariantResult.Call.NOT_DETECTED,
    VariantResult.Call.FAILED,
)
NOT_TESTED = "not-tested"
# An unknown gene of the matrix's list is named with its closest names up to this many:
MOST_GENES_NAMED = 3
CALL_RANKS = {str(call): rank for rank, call in enumerate(CALL_PRECEDENCE)}
# NB: every VariantResult.Call is ranked; an unranked one would count as not tested.
CALL_NAMES = [*CALL_RANKS, NOT_TESTED]

# dtype names used in the column list; DTYPES turns them into pandas dtypes:
DATE = "date32[day][pyarrow]"
MOMENT = "datetime64[us, UTC]"
DTYPES = {
    "Int64": "Int64",
    "Float64": "Float64",
    "string": "string",
    "boolean": "boolean",
    DATE: pd.ArrowDtype(pa.date32()),
    MOMENT: MOMENT,
}


class MatrixSpecError(ValueError):
    """A matrix specification that cannot be built; `field` names the bad parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class MatrixSpec:
    """Which columns a matrix has beyond the fixed ones.

    `features`: FeatureDefinition names or IBSI codes (a code means every feature
    computed on the original image with that code); empty means no feature columns,
    ("*",) every defined feature. `robust` ("readers" or "test-retest") keeps only
    the features a stored robustness result of that design marks robust.
    `genes`: HGNC symbols; empty means every gene with a result in the cohort's draws.
    `signatures`: signature names; empty means every signature.
    `software`, `preset`: only extractions of this engine or preset are used.
    `extraction_modality`: only extractions of series of this modality are used
    (`for_cohort` sets it to the cohort's modality filter when empty).
    `ctc_platform`: the CTC count of this platform is used; empty takes the first
    recorded count of the draw.
    """

    features: tuple[str, ...] = ()
    robust: str = ""
    genes: tuple[str, ...] = ()
    signatures: tuple[str, ...] = ()
    software: str = ""
    preset: str = ""
    ctc_platform: str = ""
    extraction_modality: str = ""

    def __post_init__(self) -> None:
        if self.robust not in ROBUST_DESIGNS:
            raise MatrixSpecError(
                "robust",
                f"Robust must be one of {', '.join(ROBUST_DESIGNS[1:])}, not {self.robust!r}.",
            )
        if ALL_FEATURES in self.features and len(self.features) > 1:
            raise MatrixSpecError(
                "features", f"Give either {ALL_FEATURES} or feature names, not both."
            )

    @classmethod
    def from_params(cls, params: Mapping) -> MatrixSpec:
        """Build a spec from `as_dict` output or query parameters (comma-separated lists)."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(params) - known)
        if unknown:
            raise MatrixSpecError(unknown[0], UNKNOWN_PARAMETER)

        values: dict = {}
        for name in known & set(params):
            value = params[name]
            if name in LIST_FIELDS:
                values[name] = _split_list(name, value)
            elif not isinstance(value, str):
                raise MatrixSpecError(name, f"Give {name} as text.")
            else:
                values[name] = value.strip()
        if "extraction_modality" in values:
            # DICOM codes are upper case, as the cohort's modality filter reads them:
            values["extraction_modality"] = values["extraction_modality"].upper()
        return cls(**values)

    def for_cohort(self, criteria: CohortCriteria) -> MatrixSpec:
        """Return the spec a matrix of this cohort uses: without `extraction_modality`
        of its own, the cohort's modality filter chooses the series (docs/matrix.md).
        """
        if self.extraction_modality or not criteria.modality:
            return self
        return replace(self, extraction_modality=criteria.modality)

    def as_dict(self) -> dict:
        """Return the spec as JSON-ready data that `from_params` reads back."""
        return {
            name: list(getattr(self, name))
            if name in LIST_FIELDS
            else getattr(self, name)
            for name in self.__dataclass_fields__
        }


LIST_FIELDS = {"features", "genes", "signatures"}


def _split_list(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise MatrixSpecError(name, f"Give {name} as a comma-separated list.")
    if not all(isinstance(item, str) for item in items):
        raise MatrixSpecError(name, f"Every item of {name} must be text.")
    # Duplicates are dropped, the first position counts:
    return tuple(dict.fromkeys(item.strip() for item in items if item.strip()))


@dataclass(frozen=True)
class MatrixLayout:
    """The resolved columns of one export: feature and signature ids, gene symbols."""

    spec: MatrixSpec
    features: tuple[tuple[int, str], ...]
    signatures: tuple[tuple[int, str], ...]
    genes: tuple[str, ...]
    # Columns in order, with their dtype names:
    columns: tuple[tuple[str, str, str], ...] = field(default=(), compare=False)

    def frozen_spec(self) -> MatrixSpec:
        """Return a spec naming every column explicitly, to rebuild this layout later."""
        return MatrixSpec(
            features=tuple(name for _, name in self.features),
            robust="",
            genes=self.genes,
            signatures=tuple(name for _, name in self.signatures),
            software=self.spec.software,
            preset=self.spec.preset,
            ctc_platform=self.spec.ctc_platform,
            extraction_modality=self.spec.extraction_modality,
        )

    def empty_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {name: pd.array([], dtype=DTYPES[dtype]) for name, dtype, _ in self.columns}
        )


# Fixed columns: (name, dtype, description).
IDENTIFIER_COLUMNS = (
    ("project_code", "string", "Project code."),
    ("patient_pseudonym", "string", "Patient pseudonym within the project."),
    ("study_id", "Int64", "ImagingStudy id (/api/imaging-studies/<id>/)."),
    ("study_instance_uid", "string", "De-identified StudyInstanceUID."),
    ("study_date", DATE, "Study date (calendar day)."),
    ("sample_id", "Int64", "BloodSample id (/api/blood-samples/<id>/)."),
    (
        "drawn_at",
        MOMENT,
        "Moment of the blood draw, UTC; for a draw recorded with a date only "
        "(draw_time_known false), local midnight of its day.",
    ),
    ("days_apart", "Int64", "Draw day minus study day, in days."),
)
CLINICAL_COLUMNS = (
    ("sex", "string", "F, M, O or U."),
    ("birth_year", "Int64", "Birth year."),
    ("cancer_type", "string", "OncoTree code."),
    ("histology", "string", "Histology as recorded."),
    ("stage", "string", "Overall stage."),
    ("t_stage", "string", "T stage."),
    ("n_stage", "string", "N stage."),
    ("m_stage", "string", "M stage."),
    ("diagnosis_on", DATE, "Date of diagnosis."),
    ("age_at_diagnosis_years", "Float64", "Age at diagnosis, years."),
    ("overall_survival_days", "Int64", "Overall survival, days."),
    ("is_deceased", "boolean", "Whether the patient has died."),
)
# Series fields copied as they are, after the chosen extraction's provenance:
SERIES_FIELDS = (
    ("modality", "string", "Modality of the series."),
    ("manufacturer", "string", "Manufacturer (0008,0070)."),
    ("manufacturer_model_name", "string", "Manufacturer's model name (0008,1090)."),
    ("convolution_kernel", "string", "Convolution kernel (0018,1210)."),
    ("slice_thickness_mm", "Float64", "Slice thickness (0018,0050), mm."),
    ("spacing_between_slices_mm", "Float64", "Spacing between slices (0018,0088), mm."),
    ("pixel_spacing_row_mm", "Float64", "Pixel spacing between rows (0028,0030), mm."),
    ("pixel_spacing_column_mm", "Float64", "Pixel spacing between columns (0028,0030), mm."),
    ("kvp", "Float64", "Peak kilovoltage (0018,0060), kV."),
    ("exposure_mas", "Float64", "Exposure (0018,1152), mAs."),
    ("tube_current_ma", "Float64", "X-ray tube current (0018,1151), mA."),
    ("ctdi_vol_mgy", "Float64", "CTDIvol (0018,9345), mGy."),
    ("injected_activity_mbq", "Float64", "Injected activity, RadionuclideTotalDose (0018,1074) in MBq."),
    ("uptake_time_min", "Float64", "Minutes from the radiopharmaceutical start to the series' start."),
    ("contrast_agent", "string", "Contrast/bolus agent (0018,0010)."),
    ("mr_sequence", "string", "MR sequence (scanning sequence or name)."),
    ("magnetic_field_strength_t", "Float64", "Magnetic field strength (0018,0087), T."),
    ("echo_time_ms", "Float64", "Echo time (0018,0081), ms."),
    ("repetition_time_ms", "Float64", "Repetition time (0018,0080), ms."),
    ("pet_units", "string", "PET units (0054,1001)."),
    ("radiopharmaceutical", "string", "Radiopharmaceutical (0018,0031)."),
)  # fmt: skip
IMAGING_COLUMNS = (
    ("extraction_id", "Int64", "FeatureExtraction whose values fill the feature and signature columns."),
    ("extractions_eligible", "Int64", "Done extractions of the study the choice was made from."),
    ("extraction_software", "string", "Engine of the chosen extraction."),
    ("extraction_software_version", "string", "Engine version of the chosen extraction."),
    ("extraction_preset", "string", "Parameter preset of the chosen extraction."),
    ("segmentation_id", "Int64", "Segmentation (ROI) of the chosen extraction."),
    ("roi_name", "string", "ROI name of that segmentation."),
    ("reader", "string", "Reader who delineated it."),
    ("series_id", "Int64", "ImageSeries of that segmentation."),
    ("series_instance_uid", "string", "De-identified SeriesInstanceUID."),
    *SERIES_FIELDS,
)  # fmt: skip
BLOOD_COLUMNS = (
    # A date-only draw is stored at local midnight, which east of UTC falls on the
    # day before in UTC: the day is given apart, and whether drawn_at has a time.
    ("drawn_on", DATE, "Day of the blood draw in the project time zone (TIME_ZONE)."),
    ("draw_time_known", "boolean", "False for a draw recorded with a date only."),
    ("timepoint", "string", "Timepoint of the draw, e.g. Baseline."),
    ("tube_type", "string", "Blood collection tube."),
    ("ctc_platform", "string", "Platform of the CTC count used."),
    ("ctc_count", "Int64", "CTCs counted."),
    ("ctc_per_7_5ml", "Float64", "CTCs per 7.5 mL of blood."),
    ("cfdna_ng_per_ml", "Float64", "cfDNA concentration, ng per mL plasma."),
    ("cfdna_assay_id", "Int64", "CfDNAAssay the concentration comes from."),
    ("tumour_fraction", "Float64", "Tumour fraction (0..1), of the first assay giving one."),
)  # fmt: skip
FIXED_COLUMNS = IDENTIFIER_COLUMNS + CLINICAL_COLUMNS + IMAGING_COLUMNS + BLOOD_COLUMNS


def feature_column(name: str) -> str:
    return f"feature.{name}"


def signature_columns(name: str) -> tuple[str, str]:
    return f"signature.{name}", f"signature_label.{name}"


def gene_columns(gene: str) -> tuple[str, str, str]:
    return f"vaf.{gene}", f"call.{gene}", f"variants.{gene}"


def matrix_columns(layout: MatrixLayout | None = None) -> list[tuple[str, str, str]]:
    """Return (name, dtype, description) of every column, in order.

    Without a layout, the per-feature, per-signature and per-gene columns appear once
    each with a placeholder name such as ``feature.<name>``.
    """
    features = [name for _, name in layout.features] if layout else ["<name>"]
    signatures = [name for _, name in layout.signatures] if layout else ["<name>"]
    genes = list(layout.genes) if layout else ["<GENE>"]

    columns = list(FIXED_COLUMNS)
    for name in features:
        columns.append(
            (
                feature_column(name),
                "Float64",
                f"Value of {name} in the chosen extraction.",
            )
        )
    for name in signatures:
        score, label = signature_columns(name)
        columns.append((score, "Float64", f"Score of signature {name}."))
        columns.append((label, "string", f"Label of signature {name}."))
    for gene in genes:
        vaf, call, variants = gene_columns(gene)
        columns.append(
            (vaf, "Float64", f"Highest VAF (0..1) of the detected {gene} variants; null unless detected.")
        )  # fmt: skip
        columns.append(
            (call, "string", "detected, below-lod, not-detected, failed or not-tested.")
        )
        columns.append(
            (variants, "string", f"The detected {gene} variants, ';'-separated.")
        )
    return columns


def resolve_layout(spec: MatrixSpec, pairs: Iterable[dict]) -> MatrixLayout:
    """Return the columns `spec` gives for these pairs; the genes may need the pairs.

    Raises
    ------
    MatrixSpecError
        When a feature or signature asked for does not exist.
    """
    layout = MatrixLayout(
        spec=spec,
        features=_resolve_features(spec),
        signatures=_resolve_signatures(spec),
        genes=_resolve_genes(spec, pairs),
    )
    return MatrixLayout(
        spec=layout.spec,
        features=layout.features,
        signatures=layout.signatures,
        genes=layout.genes,
        columns=tuple(matrix_columns(layout)),
    )


def _feature_query(feature: str) -> Q:
    return Q(name=feature) | Q(
        ibsi_code=feature.upper(), image_filter=IBSI_CODE_IMAGE_FILTER
    )


def _resolve_features(spec: MatrixSpec) -> tuple[tuple[int, str], ...]:
    if not spec.features:
        return ()

    definitions = FeatureDefinition.objects.all()
    if spec.features != (ALL_FEATURES,):
        wanted = Q()
        for feature in spec.features:
            wanted |= _feature_query(feature)
        definitions = definitions.filter(wanted)
    if spec.robust:
        if not FeatureRobustness.objects.filter(design=spec.robust).exists():
            # Else every feature column would go without a word, as if none were robust:
            raise MatrixSpecError(
                "robust",
                f"No {spec.robust} robustness results are stored, so no feature can "
                f"be kept as robust; run manage.py feature_robustness --design "
                f"{spec.robust} first, or leave robust out.",
            )
        robust = FeatureRobustness.objects.filter(design=spec.robust, is_robust=True)
        definitions = definitions.filter(pk__in=robust.values("feature"))
    found = list(definitions.values_list("id", "name", "ibsi_code", "image_filter"))

    if spec.features == (ALL_FEATURES,):
        return tuple(sorted(((pk, name) for pk, name, _, _ in found), key=_by_name))

    # In the order asked for; a code's features by name:
    resolved: dict[int, str] = {}
    for feature in spec.features:
        matches = sorted(
            (
                (pk, name)
                for pk, name, code, image_filter in found
                if name == feature
                or (code == feature.upper() and image_filter == IBSI_CODE_IMAGE_FILTER)
            ),
            key=_by_name,
        )
        if not matches and not _exists(feature):
            # As the feature filter refuses it, with the closest names; features are
            # shared by every project, so no user is needed to list them:
            raise MatrixSpecError(
                "features", vocabulary.FEATURES.refusal(feature, user=None)
            )
        resolved.update(matches)
    return tuple(resolved.items())


def features_named(feature: str, names: Iterable[str]) -> list[str]:
    """Return those of `names` that `feature`, a name or an IBSI code, stands for.

    As the matrix's features resolve it: a code names its features on the original image.
    """
    found = FeatureDefinition.objects.filter(_feature_query(feature), name__in=names)
    return sorted(found.values_list("name", flat=True))


def _by_name(item: tuple[int, str]) -> str:
    return item[1]


def _exists(feature: str) -> bool:
    # A feature left out by `robust` exists; only an unknown one is an error.
    return FeatureDefinition.objects.filter(_feature_query(feature)).exists()


def _resolve_signatures(spec: MatrixSpec) -> tuple[tuple[int, str], ...]:
    signatures = dict(
        RadiomicSignature.objects.order_by("name").values_list("name", "id")
    )
    if not spec.signatures:
        return tuple((pk, name) for name, pk in signatures.items())

    unknown = [name for name in spec.signatures if name not in signatures]
    if unknown:
        # With the closest names, as the signature filters refuse it; signatures are
        # shared by every project, so no user is needed to list them:
        raise MatrixSpecError(
            "signatures", vocabulary.SIGNATURES.refusal(unknown[0], user=None)
        )
    return tuple((signatures[name], name) for name in spec.signatures)


@functools.lru_cache(maxsize=4096)
def gene_key(gene: str, gene_hgnc: str = "") -> str:
    """Return the column symbol of a gene: its current HGNC symbol, in HGNC's case.

    NB: _gene_results compares it with gene_hgnc exactly; stored symbols are in HGNC's
    case (liquidbiopsy migration 0009 made those stored before so).
    """
    return current_symbol(gene_hgnc or gene)


def check_genes(spec: MatrixSpec, user: AbstractBaseUser | None) -> None:
    """Refuse the genes of `spec` that no variant the user may read is of.

    An unknown symbol would give columns of "not-tested" only, which read as a gene
    never tested when it was misspelt (EGRF). A spec checked on nobody's behalf
    (user None) takes the genes as given.

    Raises
    ------
    MatrixSpecError
        Naming the first unknown genes and the closest stored names.
    """
    if user is None or not spec.genes:
        return
    unknown = vocabulary.GENES.unknown(spec.genes, user)
    if not unknown:
        return

    named = unknown[:MOST_GENES_NAMED]
    message = " ".join(vocabulary.GENES.refusal(gene, user) for gene in named)
    if len(unknown) > len(named):
        message += f" {len(unknown) - len(named)} more genes are unknown too."
    raise MatrixSpecError("genes", message)


def check_spec(spec: MatrixSpec, user: AbstractBaseUser | None) -> None:
    """Refuse the genes and the other names of `spec` the user has no record of.

    A misspelt extraction modality, engine or preset would give rows without any
    feature, read as studies never extracted, and a misspelt CTC platform rows
    without CTCs. Checked on nobody's behalf (user None), all are taken as given.

    Raises
    ------
    MatrixSpecError
        Naming the first unknown value and the closest stored ones.
    """
    check_genes(spec, user)
    if user is None:
        return
    for name, words in _CHECKED_NAMES.items():
        value = getattr(spec, name)
        if value and not words.knows(value, user):
            raise MatrixSpecError(name, words.refusal(value, user))


# The spec's fields naming a stored value, each compared as its filter here compares
# it (ignoring case), and what they must name:
_CHECKED_NAMES = {
    "extraction_modality": vocabulary.MODALITIES,
    "software": vocabulary.SOFTWARE,
    "preset": vocabulary.PRESETS,
    "ctc_platform": vocabulary.CTC_PLATFORMS,
}


def _resolve_genes(spec: MatrixSpec, pairs: Iterable[dict]) -> tuple[str, ...]:
    if spec.genes:
        return tuple(dict.fromkeys(gene_key(gene) for gene in spec.genes))

    variants = VariantResult.objects.all()
    if isinstance(pairs, QuerySet):
        # One query whatever the cohort's size; the pairs are a subquery:
        variants = variants.filter(assay__sample__in=pairs.values("sample_id"))
    else:
        sample_ids = {pair["sample_id"] for pair in pairs}
        variants = variants.filter(assay__sample__in=sample_ids)
    # A variant without a gene (a VCF without CSQ/ANN annotation) has no column: "" is
    # no gene, and its VAF would be the highest of unrelated variants.
    symbols = variants.exclude(gene="").values_list("gene", "gene_hgnc").distinct()
    return tuple(sorted({gene_key(gene, hgnc) for gene, hgnc in symbols} - {""}))


def iter_matrix_frames(
    pairs: Iterable[dict],
    spec: MatrixSpec,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    layout: MatrixLayout | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield the matrix of `pairs` as DataFrames of at most `chunk_size` rows.

    `pairs` are dicts with the keys of CohortRow.FIELDS (pair_queryset gives them);
    a QuerySet is read in chunks, any other iterable is read once unless `spec`
    leaves `genes` empty, when a list is made of it to find the genes. Each chunk
    costs at most nine queries, whatever its size. Every frame has the columns and
    dtypes of `matrix_columns(layout)`; at least one frame is yielded, an empty one
    when there are no pairs.

    Raises
    ------
    MatrixSpecError
        When a feature or signature asked for does not exist.
    """
    if chunk_size < 1:
        raise ValueError(f"The chunk size must be at least 1, not {chunk_size}.")
    if not isinstance(pairs, QuerySet) and not spec.genes and layout is None:
        pairs = list(pairs)
    if layout is None:
        layout = resolve_layout(spec, pairs)

    rows = (
        pairs.iterator(chunk_size=chunk_size) if isinstance(pairs, QuerySet) else pairs
    )
    yielded = False
    for chunk in _chunks(iter(rows), chunk_size):
        yield _frame_of(chunk, layout)
        yielded = True
    if not yielded:
        yield layout.empty_frame()


def build_matrix(pairs: Iterable[dict], spec: MatrixSpec) -> pd.DataFrame:
    """Return the whole matrix of `pairs` as one DataFrame."""
    return pd.concat(list(iter_matrix_frames(pairs, spec)), ignore_index=True)


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while chunk := list(itertools.islice(rows, size)):
        yield chunk


def _frame_of(pairs: list[dict], layout: MatrixLayout) -> pd.DataFrame:
    """Return the matrix rows of one chunk of pairs, built column by column.

    One query per kind of record (nine at most), whatever the chunk's size.
    """
    study_ids = {pair["study_id"] for pair in pairs}
    sample_ids = {pair["sample_id"] for pair in pairs}
    patients = _clinical(study_ids)
    extractions = _choose_extractions(study_ids, layout)
    draws = _blood(sample_ids, layout.spec.ctc_platform)

    columns: dict[str, Sequence] = {}
    for name, _, _ in IDENTIFIER_COLUMNS:
        columns[name] = [pair[name] for pair in pairs]
    studies = [pair["study_id"] for pair in pairs]
    samples = [pair["sample_id"] for pair in pairs]
    _copy_columns(columns, CLINICAL_COLUMNS, [patients.get(pk) for pk in studies])
    _copy_columns(columns, IMAGING_COLUMNS, [extractions.get(pk) for pk in studies])
    _copy_columns(columns, BLOOD_COLUMNS, [draws.get(pk) for pk in samples])

    # Features and signature scores are those of the row's extraction:
    chosen = [
        extractions[pk]["extraction_id"] if pk in extractions else None
        for pk in studies
    ]
    used = {pk for pk in chosen if pk is not None}
    columns |= _feature_block(chosen, _feature_values(used, layout), layout)
    scores = _signature_scores(used, layout)
    for signature, name in layout.signatures:
        score_column, label_column = signature_columns(name)
        found = [scores.get((pk, signature), (None, None)) for pk in chosen]
        columns[score_column] = [score for score, _ in found]
        columns[label_column] = [label or None for _, label in found]

    results = _gene_results(sample_ids, layout.genes)
    for gene in layout.genes:
        vaf_column, call_column, variants_column = gene_columns(gene)
        found = [results.get((pk, gene), UNTESTED) for pk in samples]
        columns[vaf_column] = [result["vaf"] for result in found]
        columns[call_column] = [result["call"] for result in found]
        columns[variants_column] = [result["variants"] for result in found]

    return pd.DataFrame(
        {
            name: pd.array(columns[name], dtype=DTYPES[dtype])
            for name, dtype, _ in layout.columns
        }
    )


UNTESTED = {"vaf": None, "call": NOT_TESTED, "variants": None}


def _copy_columns(
    columns: dict[str, Sequence],
    names: Iterable[tuple[str, str, str]],
    records: list[dict | None],
) -> None:
    """Add a column per name, from the record of each row (None for no record)."""
    for name, _, _ in names:
        columns[name] = [
            None if record is None else _blank_to_none(record.get(name))
            for record in records
        ]


def _blank_to_none(value: object) -> object:
    # CSV cannot tell an empty text from a missing one, so no format does:
    return None if value == "" else value


def _clinical(study_ids: set[int]) -> dict[int, dict]:
    names = [name for name, _, _ in CLINICAL_COLUMNS]
    studies = ImagingStudy.objects.filter(pk__in=study_ids).values(
        "id", **{name: F(f"patient__{name}") for name in names}
    )
    patients = {study.pop("id"): study for study in studies}
    for patient in patients.values():
        # Decimal in the model; a float column in the matrix:
        age = patient["age_at_diagnosis_years"]
        patient["age_at_diagnosis_years"] = None if age is None else float(age)
    return patients


def _choose_extractions(study_ids: set[int], layout: MatrixLayout) -> dict[int, dict]:
    """Return, per study, the done extraction whose values fill the row.

    Only extractions of series of the spec's `extraction_modality` (when given)
    compete. The one with the most values of the chosen features wins; ties go to
    the lowest series number (then series id), the lowest ROI number (then
    segmentation id), and last to the most recent extraction (highest id). Values
    are counted only for studies with several candidates, in one more query.
    """
    extractions = FeatureExtraction.objects.filter(
        status=FeatureExtraction.Status.DONE,
        segmentation__series__study__in=study_ids,
    )
    if layout.spec.extraction_modality:
        extractions = extractions.filter(
            segmentation__series__modality=layout.spec.extraction_modality
        )
    # In any case, as check_spec accepts them:
    if layout.spec.software:
        extractions = extractions.filter(software__iexact=layout.spec.software)
    if layout.spec.preset:
        extractions = extractions.filter(preset__iexact=layout.spec.preset)

    series = {name: F(f"segmentation__series__{name}") for name, _, _ in SERIES_FIELDS}
    rows = extractions.values(
        "segmentation_id",
        extraction_id=F("id"),
        extraction_software=F("software"),
        extraction_software_version=F("software_version"),
        extraction_preset=F("preset"),
        study_id=F("segmentation__series__study_id"),
        series_id=F("segmentation__series_id"),
        series_number=F("segmentation__series__series_number"),
        series_instance_uid=F("segmentation__series__series_instance_uid"),
        roi_number=F("segmentation__roi_number"),
        roi_name=F("segmentation__roi_name"),
        reader=F("segmentation__reader"),
        **series,
    ).order_by()
    by_study: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_study[row["study_id"]].append(row)

    contested = [
        row["extraction_id"]
        for candidates in by_study.values()
        if len(candidates) > 1
        for row in candidates
    ]
    matching = _count_values(contested, layout) if layout.features else {}

    chosen = {}
    for study_id, candidates in by_study.items():
        best = min(
            candidates,
            key=lambda row: _extraction_rank(
                row, matching.get(row["extraction_id"], 0)
            ),
        )
        best["extractions_eligible"] = len(candidates)
        chosen[study_id] = best
    return chosen


def _count_values(extraction_ids: list[int], layout: MatrixLayout) -> dict[int, int]:
    if not extraction_ids:
        return {}
    values = _values_of_layout(extraction_ids, layout)
    counts = values.values("extraction_id").annotate(number=Count("id")).order_by()
    return {row["extraction_id"]: row["number"] for row in counts}


def _extraction_rank(row: dict, matching: int) -> tuple:
    number = row["series_number"]
    return (
        -matching,
        number is None,
        number or 0,
        row["series_id"],
        row["roi_number"],
        row["segmentation_id"],
        -row["extraction_id"],
    )


def _values_of_layout(extraction_ids: Iterable[int], layout: MatrixLayout) -> QuerySet:
    values = FeatureValue.objects.filter(extraction__in=extraction_ids)
    if layout.spec.features != (ALL_FEATURES,) or layout.spec.robust:
        values = values.filter(feature__in=[pk for pk, _ in layout.features])
    return values


def _feature_values(
    extraction_ids: set[int], layout: MatrixLayout
) -> list[tuple[int, int, float]]:
    if not extraction_ids or not layout.features:
        return []
    values = _values_of_layout(extraction_ids, layout)
    return list(values.values_list("extraction_id", "feature_id", "value"))


def _feature_block(
    extraction_ids: list[int | None],
    values: list[tuple[int, int, float]],
    layout: MatrixLayout,
) -> dict[str, pd.api.extensions.ExtensionArray]:
    """Return the feature columns: the values of each row's extraction, wide.

    Built in numpy, since it is most of the matrix: a table of extraction by feature,
    then one of its rows per pair (several draws may pair with one study).
    """
    feature_index = {pk: column for column, (pk, _) in enumerate(layout.features)}
    known = sorted({pk for pk in extraction_ids if pk is not None})
    extraction_index = {pk: row for row, pk in enumerate(known)}
    # The last row stays empty, for pairs without an extraction:
    table = np.zeros((len(known) + 1, len(feature_index)))
    present = np.zeros(table.shape, dtype=bool)
    if values:
        rows = np.fromiter(
            (extraction_index[e] for e, _, _ in values), np.intp, len(values)
        )
        cols = np.fromiter(
            (feature_index[f] for _, f, _ in values), np.intp, len(values)
        )
        table[rows, cols] = np.fromiter((v for _, _, v in values), float, len(values))
        present[rows, cols] = True

    taken = [
        extraction_index.get(pk, len(known)) if pk is not None else len(known)
        for pk in extraction_ids
    ]
    wide, found = table[taken], present[taken]
    return {
        feature_column(name): pd.arrays.FloatingArray(
            np.ascontiguousarray(wide[:, column]), ~found[:, column]
        )
        for column, (_, name) in enumerate(layout.features)
    }


def _signature_scores(
    extraction_ids: set[int], layout: MatrixLayout
) -> dict[tuple[int, int], tuple[float, str]]:
    if not extraction_ids or not layout.signatures:
        return {}
    scores = SignatureScore.objects.filter(
        extraction__in=extraction_ids,
        signature__in=[pk for pk, _ in layout.signatures],
    ).values_list("extraction_id", "signature_id", "score", "label")
    return {
        (extraction, signature): (score, label)
        for extraction, signature, score, label in scores
    }


def _blood(sample_ids: set[int], ctc_platform: str) -> dict[int, dict]:
    """Return per draw the values of BLOOD_COLUMNS, from three queries."""
    draws = {
        sample["id"]: {
            "drawn_on": timezone.localdate(sample["drawn_at"]),
            "draw_time_known": sample["is_time_known"],
            "timepoint": sample["timepoint"],
            "tube_type": sample["tube_type"],
        }
        for sample in BloodSample.objects.filter(pk__in=sample_ids).values(
            "id", "drawn_at", "is_time_known", "timepoint", "tube_type"
        )
    }
    for sample_id, count in _ctc_counts(sample_ids, ctc_platform).items():
        draws[sample_id] |= {
            "ctc_platform": count["platform"],
            "ctc_count": count["count"],
            "ctc_per_7_5ml": count["count_per_7_5ml"],
        }
    for sample_id, found in _cfdna(sample_ids).items():
        draws[sample_id] |= found
    return draws


def _ctc_counts(sample_ids: set[int], platform: str) -> dict[int, dict]:
    """Return per draw the count of `platform`, else the first recorded (lowest id)."""
    counts = CTCCount.objects.filter(sample__in=sample_ids)
    if platform:
        counts = counts.filter(platform__iexact=platform)
    chosen: dict[int, dict] = {}
    for count in counts.order_by("sample_id", "id").values(
        "sample_id", "platform", "count", "count_per_7_5ml"
    ):
        chosen.setdefault(count["sample_id"], count)
    return chosen


def _cfdna(sample_ids: set[int]) -> dict[int, dict]:
    """Return per draw the concentration and tumour fraction of its first assays giving them.

    Assays go by id (the order they were recorded); the concentration's assay is named
    so that a reader can trace it.
    """
    assays = (
        CfDNAAssay.objects.filter(sample__in=sample_ids)
        .order_by("sample_id", "id")
        .values_list("id", "sample_id", "cfdna_ng_per_ml", "tumour_fraction")
    )
    found: dict[int, dict] = defaultdict(dict)
    for assay_id, sample_id, concentration, fraction in assays:
        draw = found[sample_id]
        if concentration is not None and "cfdna_ng_per_ml" not in draw:
            draw["cfdna_ng_per_ml"] = concentration
            draw["cfdna_assay_id"] = assay_id
        if fraction is not None and "tumour_fraction" not in draw:
            draw["tumour_fraction"] = fraction
    return found


def _gene_results(
    sample_ids: set[int], genes: tuple[str, ...]
) -> dict[tuple[int, str], dict]:
    """Return per (draw, gene) the summary call, the highest detected VAF and the variants.

    Only detected variants give a VAF: a below-LOD or not-detected result has none in
    the matrix, whatever the assay reported.
    """
    if not sample_ids or not genes:
        return {}
    # Rows without a current symbol are matched in Python, by their former one:
    variants = VariantResult.objects.filter(assay__sample__in=sample_ids).filter(
        Q(gene_hgnc__in=genes) | Q(gene__in=genes) | (Q(gene_hgnc="") & ~Q(gene=""))
    )
    wanted = set(genes) - {""}
    # The best call so far per (draw, gene), as its place in CALL_PRECEDENCE:
    ranks: dict[tuple[int, str], int] = {}
    detected: dict[tuple[int, str], list[tuple[float | None, str]]] = defaultdict(list)
    for row in variants.values_list(
        "assay__sample_id",
        "gene",
        "gene_hgnc",
        "call",
        "vaf",
        "protein_change",
        "fusion_5prime",
        "fusion_3prime",
        "cdna_change",
        "genomic_change",
    ):
        symbol = gene_key(row[1], row[2])
        if symbol not in wanted:
            continue
        key = (row[0], symbol)
        rank = CALL_RANKS.get(row[3], len(CALL_PRECEDENCE))
        if rank < ranks.get(key, len(CALL_PRECEDENCE) + 1):
            ranks[key] = rank
        if rank == 0:
            detected[key].append((row[4], _variant_text(*row[5:])))

    results = {}
    for key, rank in ranks.items():
        found = detected.get(key, [])
        vafs = [vaf for vaf, _ in found if vaf is not None]
        texts = sorted({text for _, text in found if text})
        results[key] = {
            "call": CALL_NAMES[rank],
            "vaf": max(vafs) if vafs else None,
            "variants": ";".join(texts) or None,
        }
    return results


def _variant_text(
    protein_change: str,
    fusion_5prime: str,
    fusion_3prime: str,
    cdna_change: str,
    genomic_change: str,
) -> str:
    if fusion_5prime or fusion_3prime:
        return f"{fusion_5prime}::{fusion_3prime}"
    return protein_change or cdna_change or genomic_change


# Writers. Each takes the frames of iter_matrix_frames, which share one column layout.


def stream_matrix(frames: Iterable[pd.DataFrame], fmt: str) -> Iterator[bytes]:
    """Yield the bytes of the matrix in `fmt` (csv, json, jsonl or parquet), by chunk.

    CSV has one header line; json and jsonl are JSON Lines, one object per row;
    dates and moments are ISO 8601 text in both and missing values are empty (CSV)
    or null (JSON). Parquet is written to a temporary file, one row group per frame,
    and read back in blocks, since its footer comes last.
    """
    if fmt == "csv":
        yield from _stream_csv(frames)
    elif fmt in JSON_LINES:
        yield from _stream_json(frames)
    elif fmt == "parquet":
        yield from _stream_parquet(frames)
    else:
        raise ValueError(f"Format must be one of {', '.join(FORMATS)}, not {fmt!r}.")


def write_matrix(frames: Iterable[pd.DataFrame], fmt: str, out: IO[bytes]) -> None:
    """Write the matrix in `fmt` to the binary file `out`."""
    for block in stream_matrix(frames, fmt):
        out.write(block)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with its moments as ISO 8601 text (dates print as such already).

    UTC is written Z (moment_text), as in the API's JSON and the cohort pairs CSV.
    """
    moments = [name for name, dtype in frame.dtypes.items() if str(dtype) == MOMENT]
    if not moments:
        return frame
    frame = frame.copy()
    for name in moments:
        frame[name] = pd.array(
            [
                None if pd.isna(moment) else moment_text(moment)
                for moment in frame[name]
            ],
            dtype="string",
        )
    return frame


# A spreadsheet reads a cell starting with one of these as a formula (docs/matrix.md):
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(value: object) -> object:
    """Return a text cell with a leading ' when a spreadsheet would run it as a formula.

    Only text is guarded: a number stays a number, so -0.5 is never written '-0.5.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _guard_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with its text cells guarded by guard_formula; numbers untouched."""
    guarded = {}
    for name, dtype in frame.dtypes.items():
        if not (dtype.kind == "O" or isinstance(dtype, pd.StringDtype)):
            continue
        column = frame[name]
        risky = column.map(
            lambda value: isinstance(value, str) and value.startswith(FORMULA_STARTS)
        ).astype(bool)
        if risky.any():
            guarded[name] = column.mask(risky, column[risky].map(guard_formula))
    return frame.assign(**guarded) if guarded else frame


def _stream_csv(frames: Iterable[pd.DataFrame]) -> Iterator[bytes]:
    header = True
    for frame in frames:
        text = _guard_formulas(_plain_floats(_as_text(frame)))
        yield text.to_csv(index=False, header=header).encode()
        header = False


def _plain_floats(frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with its Float64 columns as numpy floats, NaN for missing.

    pandas writes one nullable column at a time but numpy floats as one block,
    several times faster; both print missing as an empty field.
    """
    floats = {
        name: frame[name].to_numpy(dtype=float, na_value=np.nan)
        for name, dtype in frame.dtypes.items()
        if dtype == "Float64"
    }
    return frame.assign(**floats) if floats else frame


JSON_LINES_PER_BLOCK = 250


def _stream_json(frames: Iterable[pd.DataFrame]) -> Iterator[bytes]:
    # Python's float repr round-trips every value; DataFrame.to_json keeps 15 digits.
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for frame in frames:
        text = _as_text(frame)
        names = list(text.columns)
        rows = zip(*(_json_values(text[name]) for name in names), strict=True)
        # Blocks of a few hundred lines keep the text of a wide chunk small:
        while block := list(itertools.islice(rows, JSON_LINES_PER_BLOCK)):
            lines = [encode(dict(zip(names, row, strict=True))) for row in block]
            yield ("\n".join(lines) + "\n").encode()


def _json_values(column: pd.Series) -> list:
    """Return the column as JSON-ready Python values: text dates, None for missing.

    An infinite float is null too, since JSON has no literal for it.
    """
    if column.dtype == DTYPES[DATE]:
        column = column.astype("string")
    return [
        None
        if value is None
        or value is pd.NA
        or (isinstance(value, float) and not math.isfinite(value))
        else value
        for value in column.astype(object).tolist()
    ]


PARQUET_BLOCK_BYTES = 1 << 20


def _stream_parquet(frames: Iterable[pd.DataFrame]) -> Iterator[bytes]:
    with tempfile.TemporaryFile() as spool:
        writer = None
        try:
            for frame in frames:
                if writer is None:
                    schema = pa.Schema.from_pandas(frame.iloc[:0], preserve_index=False)
                    writer = pq.ParquetWriter(spool, schema)
                if not frame.empty:
                    table = pa.Table.from_pandas(
                        frame, schema=schema, preserve_index=False
                    )
                    writer.write_table(table)
        finally:
            if writer is not None:
                writer.close()

        spool.seek(0)
        while block := spool.read(PARQUET_BLOCK_BYTES):
            yield block


def matrix_filename(fmt: str, today: dt.date | None = None) -> str:
    today = today or dt.date.today()
    return f"cohort-matrix-{today:%Y%m%d}.{fmt}"
