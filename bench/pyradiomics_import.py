"""PyRadiomics import benchmark: feature values per second against the database's bulk load.

Run from the repository root (BENCHMARKS.md holds the last results and this command):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_bench \\
    .venv/bin/python bench/pyradiomics_import.py --rois 1000 --features 1500 \\
    --repeat 2 --write BENCHMARKS.md

The script writes a PyRadiomics batch CSV of its own (one row per ROI: the batch
input's ID, Image and Mask, PyRadiomics' diagnostics columns, then one column per
feature, named and ordered as PyRadiomics names them for the original, wavelet,
Laplacian of Gaussian, square and square-root images), creates the patients it names
in a project of its own, and times `manage.py import_pyradiomics` on it against a COPY
of the same (extraction id, feature id, value) rows into the same table, alternately in
the same process. Before each run the rows of the previous one are deleted (untimed)
and, on PostgreSQL, the table vacuumed, so every run writes into the same table state.
On SQLite the baseline is one executemany INSERT, as SQLite has no COPY. The
extractions and values are deleted at the end; the project, its patients and the
feature definitions stay for the next run.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the repository:
sys.path.insert(0, str(REPO))

from bench.report import RatePair  # noqa: E402

SCRIPT = "bench/pyradiomics_import.py"
PROJECT = "bench-pyradiomics"
ROIS_PER_PATIENT = 4

# PyRadiomics 3 feature classes and features, in its own order (radiomics.featureextractor
# enables every non-deprecated feature of a class by default):
FEATURE_CLASSES: dict[str, tuple[str, ...]] = {
    "shape": (
        "Elongation", "Flatness", "LeastAxisLength", "MajorAxisLength",
        "Maximum2DDiameterColumn", "Maximum2DDiameterRow", "Maximum2DDiameterSlice",
        "Maximum3DDiameter", "MeshVolume", "MinorAxisLength", "Sphericity",
        "SurfaceArea", "SurfaceVolumeRatio", "VoxelVolume",
    ),
    "firstorder": (
        "10Percentile", "90Percentile", "Energy", "Entropy", "InterquartileRange",
        "Kurtosis", "Maximum", "MeanAbsoluteDeviation", "Mean", "Median", "Minimum",
        "Range", "RobustMeanAbsoluteDeviation", "RootMeanSquared", "Skewness",
        "TotalEnergy", "Uniformity", "Variance",
    ),
    "glcm": (
        "Autocorrelation", "ClusterProminence", "ClusterShade", "ClusterTendency",
        "Contrast", "Correlation", "DifferenceAverage", "DifferenceEntropy",
        "DifferenceVariance", "Id", "Idm", "Idmn", "Idn", "Imc1", "Imc2",
        "InverseVariance", "JointAverage", "JointEnergy", "JointEntropy", "MCC",
        "MaximumProbability", "SumAverage", "SumEntropy", "SumSquares",
    ),
    "glrlm": (
        "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
        "GrayLevelVariance", "HighGrayLevelRunEmphasis", "LongRunEmphasis",
        "LongRunHighGrayLevelEmphasis", "LongRunLowGrayLevelEmphasis",
        "LowGrayLevelRunEmphasis", "RunEntropy", "RunLengthNonUniformity",
        "RunLengthNonUniformityNormalized", "RunPercentage", "RunVariance",
        "ShortRunEmphasis", "ShortRunHighGrayLevelEmphasis",
        "ShortRunLowGrayLevelEmphasis",
    ),
    "glszm": (
        "GrayLevelNonUniformity", "GrayLevelNonUniformityNormalized",
        "GrayLevelVariance", "HighGrayLevelZoneEmphasis", "LargeAreaEmphasis",
        "LargeAreaHighGrayLevelEmphasis", "LargeAreaLowGrayLevelEmphasis",
        "LowGrayLevelZoneEmphasis", "SizeZoneNonUniformity",
        "SizeZoneNonUniformityNormalized", "SmallAreaEmphasis",
        "SmallAreaHighGrayLevelEmphasis", "SmallAreaLowGrayLevelEmphasis",
        "ZoneEntropy", "ZonePercentage", "ZoneVariance",
    ),
    "gldm": (
        "DependenceEntropy", "DependenceNonUniformity",
        "DependenceNonUniformityNormalized", "DependenceVariance",
        "GrayLevelNonUniformity", "GrayLevelVariance", "HighGrayLevelEmphasis",
        "LargeDependenceEmphasis", "LargeDependenceHighGrayLevelEmphasis",
        "LargeDependenceLowGrayLevelEmphasis", "LowGrayLevelEmphasis",
        "SmallDependenceEmphasis", "SmallDependenceHighGrayLevelEmphasis",
        "SmallDependenceLowGrayLevelEmphasis",
    ),
    "ngtdm": ("Busyness", "Coarseness", "Complexity", "Contrast", "Strength"),
}  # fmt: skip
# Image types as PyRadiomics names them; shape is computed on the original image only:
IMAGE_TYPES = (
    "original",
    *(f"wavelet-{band}" for band in ("LLH", "LHL", "LHH", "HLL", "HLH", "HHL", "HHH", "LLL")),
    *(f"log-sigma-{sigma}-0-mm-3D" for sigma in (1, 2, 3, 4, 5)),
    "square",
    "squareroot",
)  # fmt: skip
SETTINGS = (
    "{'minimumROIDimensions': 2, 'minimumROISize': None, 'normalize': False, "
    "'normalizeScale': 1, 'removeOutliers': None, 'resampledPixelSpacing': [1, 1, 1], "
    "'interpolator': 'sitkBSpline', 'preCrop': False, 'padDistance': 5, "
    "'distances': [1], 'force2D': False, 'force2Ddimension': 0, "
    "'resegmentRange': None, 'label': 1, 'additionalInfo': True, 'binWidth': 25, "
    "'sigma': [1.0, 2.0, 3.0, 4.0, 5.0]}"
)
ENABLED_IMAGE_TYPES = (
    "{'Original': {}, 'Wavelet': {}, 'LoG': {'sigma': [1.0, 2.0, 3.0, 4.0, 5.0]}, "
    "'Square': {}, 'SquareRoot': {}}"
)
DIAGNOSTICS_COLUMNS = (
    "diagnostics_Versions_PyRadiomics", "diagnostics_Versions_Numpy",
    "diagnostics_Versions_SimpleITK", "diagnostics_Versions_PyWavelet",
    "diagnostics_Versions_Python", "diagnostics_Configuration_Settings",
    "diagnostics_Configuration_EnabledImageTypes", "diagnostics_Image-original_Hash",
    "diagnostics_Image-original_Dimensionality", "diagnostics_Image-original_Spacing",
    "diagnostics_Image-original_Size", "diagnostics_Image-original_Mean",
    "diagnostics_Image-original_Minimum", "diagnostics_Image-original_Maximum",
    "diagnostics_Mask-original_Hash", "diagnostics_Mask-original_Spacing",
    "diagnostics_Mask-original_Size", "diagnostics_Mask-original_BoundingBox",
    "diagnostics_Mask-original_VoxelNum", "diagnostics_Mask-original_VolumeNum",
    "diagnostics_Mask-original_CenterOfMassIndex",
    "diagnostics_Mask-original_CenterOfMass",
)  # fmt: skip
ROI_NAMES = ("GTV", "GTV-N1", "GTV-N2", "CTV")


@dataclass
class BatchFile:
    path: Path
    rois: int
    features: int
    patients: list[str]
    values: int  # non-empty feature cells


@dataclass
class ImportTiming(RatePair):
    """Feature values imported (the product) and bulk-loaded (the baseline) per second."""

    rois: int = 0
    features: int = 0
    stored_values: int = 0
    same_values: bool = False
    baseline: str = "COPY"


# The input file:


def feature_columns(count: int) -> list[str]:
    """Return the first `count` feature columns of a PyRadiomics run, in its order."""
    names = [
        f"{image_type}_{family}_{name}"
        for image_type in IMAGE_TYPES
        for family, features in FEATURE_CLASSES.items()
        if family != "shape" or image_type == "original"
        for name in features
    ]
    if count > len(names):
        raise ValueError(f"PyRadiomics names {len(names)} features here, not {count}.")
    return names[:count]


def write_batch_csv(path: Path, rois: int, features: int, seed: int = 1) -> BatchFile:
    """Write a PyRadiomics batch CSV of `rois` rows and `features` feature columns.

    Four ROIs per patient (GTV and nodes); values are random but of PyRadiomics'
    magnitudes and written at full precision, as PyRadiomics writes them.
    """
    rng = np.random.default_rng(seed)
    columns = feature_columns(features)
    scale = rng.lognormal(0.0, 2.5, features)
    patients = [
        f"LUNG1-{number:03d}" for number in range(1, -(-rois // ROIS_PER_PATIENT) + 1)
    ]

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ID", "Image", "Mask", *DIAGNOSTICS_COLUMNS, *columns])
        for index in range(rois):
            patient = patients[index // ROIS_PER_PATIENT]
            roi = ROI_NAMES[index % ROIS_PER_PATIENT]
            values = scale * rng.lognormal(0.0, 0.3, features)
            writer.writerow(
                [
                    patient,
                    f"/data/lung1/{patient}/CT.nrrd",
                    f"/data/lung1/{patient}/{roi}.nrrd",
                    *diagnostics(rng),
                    *map(repr, values.tolist()),
                ]
            )
    return BatchFile(path, rois, features, patients, rois * features)


def diagnostics(rng: np.random.Generator) -> list[str]:
    """Return one row's diagnostics cells, in DIAGNOSTICS_COLUMNS order."""
    size = (512, 512, int(rng.integers(80, 160)))
    box = [int(v) for v in rng.integers(100, 300, 3)] + [
        int(v) for v in rng.integers(10, 60, 3)
    ]
    voxels = box[3] * box[4] * box[5] // 2
    return [
        "v3.0.1", "1.26.4", "2.3.1", "1.5.0", "3.11.7", SETTINGS, ENABLED_IMAGE_TYPES,
        rng.bytes(20).hex(), "3D", "(0.977, 0.977, 3.0)", str(size),
        repr(float(rng.normal(-600, 50))), "-1024.0", "3071.0", rng.bytes(20).hex(),
        "(0.977, 0.977, 3.0)", str(size), str(tuple(box)), str(voxels), "1",
        str(tuple(round(v + w / 2, 1) for v, w in zip(box[:3], box[3:], strict=True))),
        str(tuple(round(float(v), 2) for v in rng.normal(0, 80, 3))),
    ]  # fmt: skip


def create_patients(batch: BatchFile, project) -> None:
    """Create the file's patients, as a clinical import before it would have."""
    from patients.services import pseudonymise

    for source_id in batch.patients:
        pseudonymise(project, source_id)


# The runs:


def run_import(batch: BatchFile, project) -> None:
    from django.core.management import call_command

    call_command(
        "import_pyradiomics",
        str(batch.path),
        project=project.code,
        stdout=io.StringIO(),
    )


def stored_rows(project) -> list[tuple[int, int, float]]:
    from radiomics.models import FeatureValue

    return list(
        FeatureValue.objects.filter(extraction__patient__project=project)
        .order_by("extraction_id", "feature_id")
        .values_list("extraction_id", "feature_id", "value")
    )


def delete_values(project) -> None:
    """Delete the project's feature values, then vacuum so the next run starts alike."""
    from django.db import connection

    from radiomics.models import FeatureValue

    FeatureValue.objects.filter(extraction__patient__project=project)._raw_delete(
        connection.alias
    )
    vacuum()


def delete_extractions(project) -> None:
    from radiomics.models import FeatureExtraction

    delete_values(project)
    FeatureExtraction.objects.filter(patient__project=project).delete()


def vacuum() -> None:
    from django.db import connection

    from radiomics.models import FeatureValue

    # NB: VACUUM cannot run in a transaction, as in the test suite's tiny run.
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {FeatureValue._meta.db_table}")


def bulk_load(text: list[bytes], rows: list[tuple[int, int, float]]) -> None:
    """Write the rows into the feature value table as the database loads them fastest.

    PostgreSQL: COPY FROM STDIN of text already formatted (as a file would hold it);
    SQLite: one executemany INSERT in one transaction.
    """
    from django.db import connection, transaction

    from radiomics.models import FeatureValue

    meta = FeatureValue._meta
    table = meta.db_table
    columns = "extraction_id, feature_id, value"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for block in text:
                    copy.write(block)
        else:
            cursor.executemany(
                f"INSERT INTO {table} ({columns}) VALUES (%s, %s, %s)",  # noqa: S608 -- model's table
                rows,
            )


def copy_text(
    rows: list[tuple[int, int, float]], rows_per_block: int = 20_000
) -> list[bytes]:
    """Return the rows in COPY's text format, in blocks of about a megabyte."""
    blocks = []
    for start in range(0, len(rows), rows_per_block):
        block = rows[start : start + rows_per_block]
        blocks.append("".join(f"{e}\t{f}\t{v!r}\n" for e, f, v in block).encode())
    return blocks


def csv_values(batch: BatchFile) -> list[float]:
    """Return every feature cell of the file as a number, row by row."""
    with open(batch.path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        first = header.index(feature_columns(1)[0])
        return [float(cell) for row in reader for cell in row[first:]]


def time_import(batch: BatchFile, project, repeat: int) -> ImportTiming:
    """Time the importer and the bulk load of its rows, alternately, after a warm-up.

    The warm-up import creates the feature definitions (a biobank holding these
    features already) and gives the rows both sides then write.
    """
    from django.db import connection

    from bench.report import alternate_runs

    delete_extractions(project)
    run_import(batch, project)
    rows = stored_rows(project)
    same = sorted(value for _e, _f, value in rows) == sorted(csv_values(batch))

    def baseline() -> float:
        # The rows of the extractions the last import made, which the table refers to:
        rows = stored_rows(project)
        text = copy_text(rows)
        delete_values(project)
        started = time.perf_counter()
        bulk_load(text, rows)
        return time.perf_counter() - started

    def importer() -> float:
        delete_extractions(project)
        started = time.perf_counter()
        run_import(batch, project)
        return time.perf_counter() - started

    seconds = alternate_runs([baseline, importer], repeat, warm_up=False)
    stored = len(stored_rows(project))
    delete_extractions(project)
    return ImportTiming(
        count=batch.values,
        product_s=seconds[1],
        baseline_s=seconds[0],
        rois=batch.rois,
        features=batch.features,
        stored_values=stored,
        same_values=same and stored == len(rows),
        baseline="COPY" if connection.vendor == "postgresql" else "executemany INSERT",
    )


# Report:


def render(timing: ImportTiming, context: dict[str, str]) -> str:
    """Return the results as a Markdown section, with the command and the machine."""
    imports = ", ".join(f"{s:.1f}" for s in timing.product_s)
    loads = ", ".join(f"{s:.2f}" for s in timing.baseline_s)
    lines = [
        "## PyRadiomics feature-value import (issue 7)",
        "",
        f"Command: `{context['command']}`",
        "",
        f"Run {context['when']} on {os.cpu_count()} cores (load average "
        f"{context['load_before']} before, {context['load_after']} after), Python "
        f"{context['python']}, {context['database']}.",
        "",
        f"Input: a PyRadiomics batch CSV written by the script, {timing.rois:,} ROIs "
        f"(four per patient, patients created beforehand) x {timing.features:,} "
        "features (original, wavelet, LoG, square and square-root images, PyRadiomics' "
        f"names and order) and 22 diagnostics columns, {context['csv_mib']} MiB. "
        f"*Import* is `manage.py import_pyradiomics` on it (read, check, create the "
        "extractions with their history and the run record, write the values, rescore "
        f"signatures, one transaction); *{timing.baseline}* writes the same "
        "(extraction id, feature id, value) rows into the same table, from text "
        "already formatted. They ran alternately, each after the previous run's rows "
        "were deleted and the table vacuumed; the seconds of each run are in brackets. "
        "*Same values* checks the stored values against the file's cells.",
        "",
        f"| ROIs | features | values | import s | {timing.baseline} s | import rows/s | "
        f"{timing.baseline} rows/s | import / {timing.baseline} | same values |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {timing.rois:,} | {timing.features:,} | {timing.count:,} | "
        f"{statistics.median(timing.product_s):.2f} ({imports}) | "
        f"{statistics.median(timing.baseline_s):.2f} ({loads}) | "
        f"{timing.product_rate:,.0f} | {timing.baseline_rate:,.0f} | "
        f"{timing.ratio:.2f}x | {'yes' if timing.same_values else 'NO'} |",
    ]
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put the section between this script's marks in `path`, keeping the rest."""
    from bench.report import write_marked

    write_marked(path, section, SCRIPT)


def run(options: argparse.Namespace, command: str) -> str:
    import platform

    from django.conf import settings

    from bench.api import database_label
    from bench.extraction import load_average
    from patients.services import get_project

    # Django keeps every query of a DEBUG process; that is not what is measured.
    settings.DEBUG = False
    project = get_project(PROJECT)
    folder = Path(tempfile.mkdtemp(prefix="bench-pyradiomics-"))
    try:
        print(f"writing {options.rois} x {options.features} ...", flush=True)  # noqa: T201
        batch = write_batch_csv(folder / "features.csv", options.rois, options.features)
        csv_mib = batch.path.stat().st_size / 2**20
        create_patients(batch, project)

        load_before = load_average()
        print("timing ...", flush=True)  # noqa: T201
        timing = time_import(batch, project, options.repeat)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    context = {
        "command": command,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_before,
        "load_after": load_average(),
        "python": platform.python_version(),
        "database": database_label(),
        "csv_mib": f"{csv_mib:.0f}",
    }
    return render(timing, context)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rois", type=int, default=1000)
    parser.add_argument("--features", type=int, default=1500)
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs per side.")
    parser.add_argument("--write", type=Path, help="Markdown file to update.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    options = parse(argv)
    from bench.report import command_line, publish

    command = command_line(SCRIPT, argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()

    publish(run(options, command), options.write, SCRIPT)


if __name__ == "__main__":
    main(sys.argv[1:])
