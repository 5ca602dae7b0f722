"""Tiny runs of bench/pyradiomics_import.py and bench/dicom_ingest.py, so that they cannot silently break."""

from __future__ import annotations

import csv

import pytest

from bench import dicom_ingest, pyradiomics_import
from bench.dicom_ingest import IngestTiming, source_slices, time_ingest, write_copies
from bench.pyradiomics_import import (
    DIAGNOSTICS_COLUMNS,
    ImportTiming,
    create_patients,
    feature_columns,
    time_import,
    write_batch_csv,
)
from patients.models import Patient
from radiomics.features import parse_feature_name
from radiomics.models import FeatureExtraction, ImageInstance
from tests.conftest import shared_path

PYRADIOMICS_BASELINE = "pyradiomics_testcases/baseline"


def test_feature_columns_are_named_as_pyradiomics_names_them():
    columns = feature_columns(1500)

    assert len(set(columns)) == 1500
    assert all(parse_feature_name(name) is not None for name in columns)
    baseline = shared_path(PYRADIOMICS_BASELINE)
    # PyRadiomics' own test baselines name the original image's features:
    for path in sorted(baseline.glob("baseline_*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            names = [row[0] for row in csv.reader(handle)]
        original = [
            n for n in names if n.startswith("original_") and "shape2D" not in n
        ]
        assert set(original) <= set(columns), path.name


@pytest.mark.django_db
def test_a_tiny_import_stores_every_cell_of_the_generated_file(project, tmp_path):
    batch = write_batch_csv(tmp_path / "features.csv", rois=6, features=120)
    create_patients(batch, project)

    timing = time_import(batch, project, repeat=1)

    with open(batch.path, newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header[3 : 3 + len(DIAGNOSTICS_COLUMNS)] == list(DIAGNOSTICS_COLUMNS)
    assert len(rows) == 6 and len(header) == 3 + len(DIAGNOSTICS_COLUMNS) + 120
    assert timing.count == timing.stored_values == 6 * 120
    assert timing.same_values
    assert len(timing.product_s) == len(timing.baseline_s) == 1
    assert Patient.objects.filter(project=project).count() == 2  # four ROIs a patient
    # The benchmark leaves no extraction behind:
    assert not FeatureExtraction.objects.filter(patient__project=project).exists()


@pytest.mark.django_db
def test_a_tiny_ingest_stores_every_copy_with_its_own_uids(tmp_path, settings):
    settings.BIOBANK_STORAGE_ROOT = str(tmp_path / "storage")
    sources = source_slices()
    paths = write_copies(tmp_path / "copies", 6, sources)

    timing = time_ingest("copies", tmp_path / "copies", paths, repeat=1)

    assert len(paths) == timing.count == 6
    assert (timing.instances, timing.rejected) == (6, 0)
    assert len(timing.product_s) == len(timing.baseline_s) == 1
    assert len(timing.product_cpu_s) == len(timing.baseline_cpu_s) == 1
    # The untimed round and the timed one each stored the six files, in projects of their own:
    assert ImageInstance.objects.count() == 2 * 6
    assert ImageInstance.objects.values("sop_instance_uid").distinct().count() == 12
    # Each in a storage folder of its own, none emptied for the next (fresh_storage):
    folders = sorted((tmp_path / "storage").iterdir())
    assert [len(list(f.rglob("*.dcm"))) for f in folders] == [6, 6]
    assert settings.BIOBANK_STORAGE_ROOT == str(tmp_path / "storage")


def test_reports_have_their_rows_and_replace_their_own_sections(tmp_path):
    imports = ImportTiming(1000, [2.0], [1.0], 10, 100, 1000, True, "COPY")
    ingests = IngestTiming(
        100, [4.0, 5.0, 6.0], [1.0, 1.0, 1.0], "copies", 100, 0, [3.0, 4.0], [1.0, 1.0]
    )
    context = {
        "command": "bench", "when": "now", "load_before": "1.0", "load_after": "1.5",
        "python": "3.11", "pydicom": "3.0", "database": "db", "csv_mib": "1",
        "min_files": 100,
    }  # fmt: skip
    benchmarks = tmp_path / "BENCHMARKS.md"
    benchmarks.write_text("# Benchmarks\n\n## Feature extraction\n\nkept\n")

    for _twice in range(2):
        pyradiomics_import.write_section(
            benchmarks, pyradiomics_import.render(imports, context)
        )
        dicom_ingest.write_section(benchmarks, dicom_ingest.render([ingests], context))

    text = benchmarks.read_text()
    assert (
        "| 10 | 100 | 1,000 | 2.00 (2.0) | 1.00 (1.00) | 500 | 1,000 | 0.50x | yes |\n"
        in text
    )
    assert (
        "| copies | 100 | 5.00 (4.00, 5.00, 6.00) | 1.00 (1.00, 1.00, 1.00) | 20 | "
        "100 | 0.200x | 0.286x | 100 | 0 |\n" in text
    )
    assert text.count("## PyRadiomics feature-value import") == 1
    assert text.count("## DICOM ingest") == 1
    assert "## Feature extraction\n\nkept" in text
