"""DICOM ingest benchmark: files per second against pydicom's own header-only read.

Run from the repository root (BENCHMARKS.md holds the last results and this command):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_bench \\
    .venv/bin/python bench/dicom_ingest.py --files 1000 --repeat 2 --write BENCHMARKS.md

Two sets of files: copies of real CT slices (pydicom's CT_small.dcm and the slices of
STS_001's CT series in the shared data) written by the script with new study, series
and SOP instance UIDs and patient IDs (50 slices a series, two series a patient), and
STS_001's CT series itself, read in place. For each set the script times
`ingest_dicom` (read, check, de-identify, write the de-identified copy, index study,
series and instances) against `pydicom.dcmread(path, stop_before_pixels=True)` of the
same files, alternately in the same process after one untimed round of both (which
also brings the files into the page cache). The copies are timed stored in process
(BIOBANK_DICOM_WORKERS=1, the default) and, on a machine of several cores, in one
worker process a core; STS_001's 59 files are stored in process. Each ingest goes into a
new project of its own, made before its clock starts (an import goes into a project
that exists), so nothing is found stored already; the storage root is a
temporary folder. The studies ingested are deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the repository:
sys.path.insert(0, str(REPO))

from bench.report import RatePair  # noqa: E402

SCRIPT = "bench/dicom_ingest.py"
DATA = Path(os.environ.get("BIOBANK_SHARED_DIR", REPO.parent / "shared")) / "data"
REAL_SERIES = DATA / "dicom_sts_rtstruct_ct_pet_mr" / "STS_001" / "CT" / "image"
PROJECT_PREFIX = "bench-dicom"
SLICES_PER_SERIES = 50
SERIES_PER_PATIENT = 2


@dataclass
class IngestTiming(RatePair):
    """Files ingested (the product) and read by pydicom (the baseline) per second."""

    name: str = ""
    instances: int = 0  # stored by the last ingest
    rejected: int = 0
    # CPU seconds of this process and of the worker processes it started (the
    # ingest's BIOBANK_DICOM_WORKERS), which other programs on the machine disturb far
    # less than wall-clock time (the database server's share is not in them):
    product_cpu_s: list[float] = field(default_factory=list)
    baseline_cpu_s: list[float] = field(default_factory=list)

    @property
    def cpu_ratio(self) -> float:
        """Ingest over pydicom in files per CPU second of this process."""
        return statistics.median(self.baseline_cpu_s) / statistics.median(
            self.product_cpu_s
        )


# The input files:


def source_slices() -> list[Path]:
    """Return the real CT slices copied: pydicom's CT_small, then STS_001's CT."""
    from pydicom.data import get_testdata_file

    slices = [Path(get_testdata_file("CT_small.dcm"))]
    if REAL_SERIES.is_dir():
        slices += sorted(REAL_SERIES.glob("*.dcm"))
    return slices


def write_copies(folder: Path, count: int, sources: list[Path]) -> list[Path]:
    """Write `count` copies of the source slices with new UIDs and patients.

    Each series copies one source series (CT_small alone, or STS_001's slices in
    order), slice by slice, with its own instance numbers and positions along z.
    """
    import pydicom
    from pydicom.uid import generate_uid

    originals = [pydicom.dcmread(path) for path in sources]
    series_sources = [originals[:1], originals[1:] or originals[:1]]
    paths = []
    for index in range(count):
        series_number, slice_number = divmod(index, SLICES_PER_SERIES)
        patient_number = series_number // SERIES_PER_PATIENT
        if slice_number == 0:
            if series_number % SERIES_PER_PATIENT == 0:
                study_uid = generate_uid()
            series_uid = generate_uid()
            pool = series_sources[series_number % len(series_sources)]
        ds = pool[slice_number % len(pool)].copy()
        ds.PatientID = f"BENCH-{patient_number:04d}"
        ds.PatientName = f"Bench^Patient{patient_number:04d}"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number % SERIES_PER_PATIENT + 1
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = slice_number + 1
        if "ImagePositionPatient" in ds:
            x, y, _z = ds.ImagePositionPatient
            ds.ImagePositionPatient = [x, y, -2.5 * slice_number]
        path = (
            folder
            / f"{patient_number:04d}"
            / f"{series_number:05d}-{slice_number:03d}.dcm"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


# The runs:


def cpu_seconds() -> float:
    """Return the CPU time of this process and of its children that have ended.

    The ingest's worker processes end with it (their pool is shut down), so their
    time is counted in the ingest's.
    """
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def read_headers(paths: list[Path]) -> None:
    import pydicom

    for path in paths:
        pydicom.dcmread(path, stop_before_pixels=True)


def new_project():
    """A project of its own for each ingest, so that none is a re-run finding its files."""
    from patients.services import get_project

    return get_project(f"{PROJECT_PREFIX}-{uuid.uuid4().hex[:8]}")


def ingest(folder: Path, project):
    from radiomics.importers.dicom import ingest_dicom

    return ingest_dicom(folder, project)


def fresh_storage(base: Path) -> None:
    """Point the storage root at a new, empty folder in `base`.

    Nothing is deleted between ingests: on ext4, a file created within about 30 s
    of many deletions on the same file system pays for its inode allocator passing
    over every recently deleted inode (`recently_deleted()` in the kernel's ialloc.c,
    seen with `perf record`: 0.6 ms a file after 1,000 deletions, 0.05 ms without),
    so emptying the last ingest's copies just before the next one was timed in it.
    main() removes the benchmark's whole storage root at the end.
    """
    from django.conf import settings

    Path(base).mkdir(parents=True, exist_ok=True)
    settings.BIOBANK_STORAGE_ROOT = tempfile.mkdtemp(dir=base)


def delete_ingested() -> None:
    """Delete the studies the benchmark ingested (their series and instances go with them)."""
    from radiomics.models import ImagingStudy

    ImagingStudy.objects.filter(
        patient__project__code__startswith=PROJECT_PREFIX
    ).delete()


def time_ingest(
    name: str, folder: Path, paths: list[Path], repeat: int
) -> IngestTiming:
    """Time ingest_dicom of the folder and the header reads of its files, alternately.

    Each ingest stores its copies in a folder of its own in the storage root.
    """
    from django.conf import settings

    from bench.report import alternate_runs
    from radiomics.models import ImageInstance

    last: dict[str, object] = {}
    product_cpu_s: list[float] = []
    baseline_cpu_s: list[float] = []

    def read() -> float:
        started, cpu = time.perf_counter(), cpu_seconds()
        read_headers(paths)
        baseline_cpu_s.append(cpu_seconds() - cpu)
        return time.perf_counter() - started

    def ingested() -> float:
        fresh_storage(base)
        # Made before the clock starts: an import goes into a project that exists.
        project = new_project()
        started, cpu = time.perf_counter(), cpu_seconds()
        report = ingest(folder, project)
        seconds = time.perf_counter() - started
        product_cpu_s.append(cpu_seconds() - cpu)
        last.update(report=report, project=project)
        return seconds

    base = settings.BIOBANK_STORAGE_ROOT
    try:
        seconds = alternate_runs([read, ingested], repeat)
    finally:
        settings.BIOBANK_STORAGE_ROOT = base
    instances = ImageInstance.objects.filter(
        series__study__patient__project=last["project"]
    ).count()
    return IngestTiming(
        count=len(paths),
        product_s=seconds[1],
        baseline_s=seconds[0],
        name=name,
        instances=instances,
        rejected=len(last["report"].rejected),
        # The untimed first round left out:
        product_cpu_s=product_cpu_s[1:],
        baseline_cpu_s=baseline_cpu_s[1:],
    )


# Report:


def render(timings: list[IngestTiming], context: dict[str, str]) -> str:
    """Return the results as a Markdown section, with the command and the machine."""
    lines = [
        "## DICOM ingest (issue 7)",
        "",
        f"Command: `{context['command']}`",
        "",
        f"Run {context['when']} on {os.cpu_count()} cores (load average "
        f"{context['load_before']} before, {context['load_after']} after), Python "
        f"{context['python']}, pydicom {context['pydicom']}, {context['database']}; "
        f"storage on the local disk; BIOBANK_DICOM_POOL_MIN_FILES={context['min_files']}.",
        "",
        "*Ingest* is `ingest_dicom` of the folder into a new project (read each file's "
        "header, group by series, read the rest of each file from where its header "
        "ended, de-identify, write the de-identified Part-10 copy, index study, series "
        "and instance, one transaction per series and one INSERT of a series' "
        "instances; the files of a series that differ from its first only in "
        "per-slice values are read, de-identified and written as bytes by the fast "
        "lane, docs/dicom_ingest.md: in process, or with worker processes, for an "
        "import of BIOBANK_DICOM_POOL_MIN_FILES images or more, in the workers, one "
        "part of each series a worker, each part's first file through pydicom); "
        "*pydicom* is "
        "`pydicom.dcmread(path, "
        "stop_before_pixels=True)` of the same files. They ran alternately after one "
        "untimed round of both; the seconds of each run are in brackets. *Stored* "
        "counts the instances of the last ingest. *CPU* compares files per CPU second "
        "of this process and of the worker processes the ingest started (the database "
        "server's share of the ingest is not in it), which other programs running on "
        "the machine disturb far less.",
        "",
        "| files | count | ingest s | pydicom s | ingest files/s | pydicom files/s | ingest / pydicom | ingest / pydicom (CPU) | stored | rejected |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        ingests = ", ".join(f"{s:.2f}" for s in t.product_s)
        reads = ", ".join(f"{s:.2f}" for s in t.baseline_s)
        lines.append(
            f"| {t.name} | {t.count:,} | {statistics.median(t.product_s):.2f} ({ingests}) | "
            f"{statistics.median(t.baseline_s):.2f} ({reads}) | {t.product_rate:,.0f} | "
            f"{t.baseline_rate:,.0f} | {t.ratio:.3f}x | {t.cpu_ratio:.3f}x | {t.instances:,} | {t.rejected} |"
        )
    return "\n".join(lines) + "\n"


def write_section(path: Path, section: str) -> None:
    """Put the section between this script's marks in `path`, keeping the rest."""
    from bench.report import write_marked

    write_marked(path, section, SCRIPT)


def run(options: argparse.Namespace, command: str) -> str:
    import platform

    import pydicom
    from django.conf import settings

    from bench.api import database_label
    from bench.extraction import load_average

    # Django keeps every query of a DEBUG process; that is not what is measured.
    settings.DEBUG = False
    folder = Path(tempfile.mkdtemp(prefix="bench-dicom-"))
    sources = source_slices()
    print(f"writing {options.files} copies of {len(sources)} slices ...", flush=True)  # noqa: T201
    copies = write_copies(folder / "copies", options.files, sources)
    name = f"copies of {len(sources)} real CT slices, new UIDs"
    # (name, folder, files, BIOBANK_DICOM_WORKERS for the run)
    sets = [(f"{name}, in process", folder / "copies", copies, 1)]
    cores = os.cpu_count() or 1
    if cores > 1:
        sets.append(
            (f"{name}, {cores} worker processes", folder / "copies", copies, cores)
        )
    if REAL_SERIES.is_dir():
        real = sorted(REAL_SERIES.glob("*.dcm"))
        sets.append(("STS_001 CT series, read in place", REAL_SERIES, real, 1))

    load_before = load_average()
    timings = []
    try:
        for name, path, paths, workers in sets:
            print(f"timing {name} ...", flush=True)  # noqa: T201
            settings.BIOBANK_DICOM_WORKERS = workers
            timings.append(time_ingest(name, path, paths, options.repeat))
    finally:
        delete_ingested()
        shutil.rmtree(folder, ignore_errors=True)
    context = {
        "command": command,
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_before": load_before,
        "load_after": load_average(),
        "python": platform.python_version(),
        "pydicom": pydicom.__version__,
        "database": database_label(),
        "min_files": settings.BIOBANK_DICOM_POOL_MIN_FILES,
    }
    return render(timings, context)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="Copies to write.")
    parser.add_argument("--repeat", type=int, default=2, help="Timed runs per side.")
    parser.add_argument("--write", type=Path, help="Markdown file to update.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    options = parse(argv)
    from bench.report import command_line, publish

    command = command_line(SCRIPT, argv)
    # Before Django reads its settings: a storage root of the benchmark's own.
    storage = tempfile.mkdtemp(prefix="bench-storage-")
    os.environ["BIOBANK_STORAGE_ROOT"] = storage
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()

    try:
        publish(run(options, command), options.write, SCRIPT)
    finally:
        shutil.rmtree(storage, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
