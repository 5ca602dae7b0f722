"""Plan and run feature extractions from stored series and segmentations."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from radiomics.engines import ExtractionRefused, Preset, get_engine, get_preset
from radiomics.engines.base import FeatureValue as EngineValue
from radiomics.engines.base import VolumeUnreadable
from radiomics.engines.presets import Discretisation, Interpolation
from radiomics.engines.pyradiomics_engine import native_preset
from radiomics.features import parse_feature_name
from radiomics.masks import MaskUnusable, load_mask
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    Segmentation,
)
from radiomics.series import SeriesUnusable, load_series, read_grid

logger = logging.getLogger(__name__)

Progress = Callable[[int, str], None]
Status = FeatureExtraction.Status

# Presets used when none is named: the IBSI-1 CT configuration for CT (its HU
# re-segmentation range means nothing elsewhere), and configuration D, which has no
# fixed intensity range, for every other modality.
DEFAULT_PRESETS = {"CT": "ibsi1_config_c"}
DEFAULT_PRESET = "ibsi1_config_d"
# A series of one image cannot take a 3D preset: the 2D CT configuration A, and for
# other modalities slice_2d_relative, which has no HU range.
DEFAULT_2D_PRESETS = {"CT": "ibsi1_config_a"}
DEFAULT_2D_PRESET = "slice_2d_relative"
# Failures that say what is wrong with the data; anything else is a fault of ours:
DATA_ERRORS = (ExtractionRefused, MaskUnusable, SeriesUnusable, VolumeUnreadable)
# IBSI tag prefix -> FeatureDefinition family. NB: GLDZM and the intensity-volume
# histogram have no family of their own in the PyRadiomics-shaped choices; the
# neighbouring grey level dependence matrix is PyRadiomics' GLDM.
FAMILIES = {
    "morph": FeatureDefinition.Family.SHAPE,
    "loc": FeatureDefinition.Family.FIRST_ORDER,
    "stat": FeatureDefinition.Family.FIRST_ORDER,
    "ih": FeatureDefinition.Family.FIRST_ORDER,
    "ivh": FeatureDefinition.Family.OTHER,
    "cm": FeatureDefinition.Family.GLCM,
    "rlm": FeatureDefinition.Family.GLRLM,
    "szm": FeatureDefinition.Family.GLSZM,
    "dzm": FeatureDefinition.Family.OTHER,
    "ngt": FeatureDefinition.Family.NGTDM,
    "ngl": FeatureDefinition.Family.GLDM,
}
BATCH_SIZE = 2000


def default_preset(segmentation: Segmentation) -> str:
    """Return the preset for the series' modality, a 2D one for a single-image series.

    NB: the image loader refuses multi-frame files, so one stored image is one slice.
    """
    modality = segmentation.series.modality
    if segmentation.series.instances.count() == 1:
        return DEFAULT_2D_PRESETS.get(modality, DEFAULT_2D_PRESET)
    return DEFAULT_PRESETS.get(modality, DEFAULT_PRESET)


def plan_extraction(
    segmentation: Segmentation,
    engine: str = "mirp",
    preset: str | Preset | None = None,
    label: float | None = None,
    engine_parameters: str | Path | dict | None = None,
) -> FeatureExtraction:
    """Return the pending extraction record of this request, or the one made before.

    The fingerprint hashes the segmentation's content and ROI, the series' images,
    the label, the engine and its version and the engine's full parameter set, so the
    same request twice gives the same record, whatever its status. Without a preset,
    DEFAULT_PRESETS picks one by modality. For a mask file, `label` defaults to the
    label it was registered with. `engine_parameters`, a PyRadiomics parameter file
    (or its dict), runs PyRadiomics natively with its own feature names; its content
    is part of the record and of the fingerprint.
    """
    runner = get_engine(engine, engine_parameters)
    if engine_parameters is not None:
        # A PyRadiomics parameter file states every setting itself; the preset only
        # carries what the checks need (2D or 3D):
        chosen = native_preset(runner.native_parameters or {})
    else:
        chosen = get_preset(preset or default_preset(segmentation))
    label = effective_label(segmentation, label)
    parameters = runner.parameters(chosen) | {"preset": chosen.as_dict()}

    fingerprint = _fingerprint(
        {
            "segmentation": segmentation_content(segmentation),
            "images": series_content(segmentation),
            "label": label,
            "engine": runner.name,
            "engine_version": runner.version,
            "parameters": parameters,
        }
    )
    series = segmentation.series
    extraction, created = FeatureExtraction.objects.get_or_create(
        fingerprint=fingerprint,
        defaults={
            "patient": series.study.patient,
            "segmentation": segmentation,
            "software": runner.name,
            "software_version": runner.version[:40],
            "parameters": parameters,
            "preset": chosen.name[:60],
            "label": label,
            "image_reference": f"series {series.series_instance_uid}",
            "mask_reference": (
                f"{segmentation.source_kind} {segmentation.storage_path} "
                f"ROI {segmentation.roi_number}"
            )[:500],
            "source_name": f"segmentation {segmentation.pk} ({segmentation.roi_name})"[
                :500
            ],
        },
    )
    if created:
        logger.info(
            "Extraction %s planned: segmentation %s, %s %s, preset %s",
            extraction.pk,
            segmentation.pk,
            runner.name,
            runner.version,
            chosen.name,
        )
    return extraction


def effective_label(segmentation: Segmentation, label: float | None) -> float | None:
    """Return the mask value to extract; a mask file keeps its registered label.

    An RTSTRUCT ROI or SEG segment becomes a mask of 1 inside, so asking for label 1
    is the same request as asking for none, and makes the same record.
    """
    if label is not None and not (
        segmentation.source_kind != Segmentation.SourceKind.MASK and float(label) == 1.0
    ):
        return float(label)
    if segmentation.source_kind == Segmentation.SourceKind.MASK:
        # roi_number 0: registered as "the mask's only non-zero value" (masks.py)
        return float(segmentation.roi_number) if segmentation.roi_number else None
    return None


def segmentation_content(segmentation: Segmentation) -> dict[str, Any]:
    return {
        "kind": segmentation.source_kind,
        "sha256": segmentation.content_sha256,
        "roi_number": segmentation.roi_number,
        "storage_path": ""
        if segmentation.content_sha256
        else segmentation.storage_path,
    }


def series_content(segmentation: Segmentation) -> str:
    """Hash the content hashes of the series' images: new images, new extraction."""
    hashes = sorted(
        segmentation.series.instances.values_list("content_sha256", flat=True)
    )
    return hashlib.sha256("\n".join(hashes).encode()).hexdigest()


def _fingerprint(request: dict[str, Any]) -> str:
    text = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def run_extraction(
    extraction_id: int, progress: Progress | None = None
) -> FeatureExtraction:
    """Compute a planned extraction and store its values, all of them or none.

    Marks the record running (started_at, attempts + 1), loads the series and the
    mask, runs the engine and stores definitions and values in one transaction that
    replaces those of any earlier run; then the record is done (finished_at,
    progress 100). When the data are refused (checks.py messages, kept verbatim) the
    record is failed with the message and keeps no values. Other exceptions are
    recorded the same way and raised again.
    """
    report = progress or _no_progress
    extraction = FeatureExtraction.objects.select_related(
        "segmentation__series__study"
    ).get(pk=extraction_id)
    segmentation = extraction.segmentation
    if segmentation is None:
        raise ValueError(
            f"Extraction {extraction_id} was imported, not planned from a "
            "segmentation; there is nothing to compute."
        )

    FeatureExtraction.objects.filter(pk=extraction_id).update(
        status=Status.RUNNING,
        started_at=timezone.now(),
        finished_at=None,
        progress=0,
        attempts=F("attempts") + 1,
        error="",
    )
    extraction.refresh_from_db()
    logger.info(
        "Extraction %s running (attempt %s)", extraction.pk, extraction.attempts
    )

    try:
        result = _compute(extraction, segmentation, report)
    except DATA_ERRORS as error:
        return _fail(extraction, str(error))
    except Exception as error:
        _fail(extraction, f"{type(error).__name__}: {error}")
        raise

    report(90, "storing")
    try:
        with transaction.atomic():
            _store(extraction, result)
    except Exception as error:
        _fail(extraction, f"Storing the values failed: {type(error).__name__}: {error}")
        raise

    report(100, "done")
    logger.info(
        "Extraction %s done: %s values in %.1f s",
        extraction.pk,
        len(result.values) - len(extraction.diagnostics["undefined_features"]),
        result.seconds,
    )
    return extraction


def _no_progress(percent: int, message: str) -> None:
    pass


def _compute(extraction: FeatureExtraction, segmentation: Segmentation, report):
    started = time.perf_counter()
    report(5, "loading images")
    grid = read_grid(segmentation.series)
    image = load_series(segmentation.series, grid)

    report(25, "building the mask")
    mask = load_mask(segmentation, grid)

    report(35, "computing features")
    native = extraction.parameters.get("mode") == "native"
    engine = get_engine(
        extraction.software,
        extraction.parameters.get("pyradiomics_parameters") if native else None,
    )
    if engine.version != extraction.software_version:
        raise ExtractionRefused(
            f"Extraction {extraction.pk} was planned for {engine.name} "
            f"{extraction.software_version}, but {engine.version} is installed; plan "
            "it again to compute with this version."
        )
    result = engine.extract(
        image, mask, preset_from_dict(extraction.parameters["preset"]), extraction.label
    )
    result.seconds = time.perf_counter() - started
    return result


def _store(extraction: FeatureExtraction, result) -> None:
    """Replace the values of an extraction; called inside one transaction.

    A feature the engine leaves undefined on this ROI (NaN, such as a texture feature
    of a one-grey-level ROI) gets no value; its name is listed in the diagnostics.
    """
    # A job delivered twice may store twice at once; the row lock makes the second
    # wait and then replace the first run's values instead of colliding with them:
    list(
        FeatureExtraction.objects.select_for_update()
        .filter(pk=extraction.pk)
        .values_list("pk", flat=True)
    )

    defined = [value for value in result.values if math.isfinite(value.value)]
    undefined = sorted(value.name for value in result.values if value not in defined)
    definitions = feature_definitions(
        defined, get_engine(result.engine).feature_conformance
    )
    FeatureValue.objects.filter(extraction=extraction).delete()
    FeatureValue.objects.bulk_create(
        [
            FeatureValue(
                extraction=extraction,
                feature=definitions[value.name],
                value=value.value,
            )
            for value in defined
        ],
        batch_size=BATCH_SIZE,
    )

    extraction.status = Status.DONE
    extraction.progress = 100
    extraction.finished_at = timezone.now()
    extraction.label = result.label
    extraction.diagnostics = {
        "voxel_count": result.voxel_count,
        "seconds": round(result.seconds, 3),
        "warnings": result.warnings,
        "undefined_features": undefined,
        **result.diagnostics,
    }
    # Saving the status rescores the signatures that use these features once the
    # transaction commits (radiomics/signatures.py):
    extraction.save(
        update_fields=["status", "progress", "finished_at", "label", "diagnostics"]
    )


def _fail(extraction: FeatureExtraction, message: str) -> FeatureExtraction:
    with transaction.atomic():
        FeatureValue.objects.filter(extraction=extraction).delete()
        extraction.status = Status.FAILED
        extraction.error = message
        extraction.finished_at = timezone.now()
        extraction.save(update_fields=["status", "error", "finished_at"])
    logger.info("Extraction %s failed", extraction.pk)
    return extraction


def definition_parts(value: EngineValue) -> dict[str, str]:
    """Return family, feature name and image filter of an engine's feature.

    A PyRadiomics name ("wavelet-HH_firstorder_Mean", as native mode gives them) says
    all three; otherwise the IBSI tag says the family. The image filter matters: an
    IBSI code asked for in a cohort means the feature of the original image.
    """
    parsed = parse_feature_name(value.name)
    if parsed is not None:
        return {
            "family": parsed.family,
            "feature_name": parsed.feature_name[:100],
            "image_filter": parsed.image_filter[:60],
        }
    return {
        "family": FAMILIES.get(value.tag.split("_")[0], FeatureDefinition.Family.OTHER),
        "feature_name": (value.tag or value.name)[:100],
        "image_filter": "original",
    }


def feature_definitions(
    values: list[EngineValue],
    conformance: Callable[[str, str], tuple[bool | None, str]] | None = None,
) -> dict[str, FeatureDefinition]:
    """Return the definition of each engine feature by name, creating missing ones.

    `conformance(name, ibsi_code)` is the engine's mark of whether its value of the
    feature matches IBSI, stored on new definitions.
    """
    names = [value.name for value in values]
    known = {d.name: d for d in FeatureDefinition.objects.filter(name__in=names)}
    marks = {
        value.name: conformance(value.name, value.ibsi_code)
        if conformance
        else (None, "")
        for value in values
    }
    missing = [
        FeatureDefinition(
            name=value.name[:200],
            **definition_parts(value),
            ibsi_code=value.ibsi_code,
            description=_description(value)[:300],
            ibsi_conformant=marks[value.name][0],
            conformance_note=marks[value.name][1][:300],
        )
        for value in values
        if value.name not in known
    ]
    # Another extraction may create the same definitions meanwhile:
    FeatureDefinition.objects.bulk_create(missing, ignore_conflicts=True)
    if missing:
        known |= {
            d.name: d
            for d in FeatureDefinition.objects.filter(
                name__in=[m.name for m in missing]
            )
        }
    return known


def _description(value: EngineValue) -> str:
    if value.source:  # computed by the biobank, not by the engine
        return value.source
    return f"IBSI tag {value.tag}" if value.tag else ""


def preset_from_dict(values: dict[str, Any]) -> Preset:
    """Rebuild a Preset from its as_dict() form, as stored with an extraction."""
    values = dict(values)
    values["discretisation"] = Discretisation(**values["discretisation"])
    values["ivh_discretisation"] = Discretisation(**values["ivh_discretisation"])
    if values.get("interpolation") is not None:
        values["interpolation"] = Interpolation(**values["interpolation"])
    if values.get("resegmentation_range") is not None:
        values["resegmentation_range"] = tuple(values["resegmentation_range"])
    for key in ("aggregations", "families", "notes"):
        values[key] = tuple(values.get(key, ()))
    return Preset(**values)
