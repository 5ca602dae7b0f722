"""Extraction benchmark: time per ROI and engine, pipeline overhead, worker throughput.

Run from the repository root (BENCHMARKS.md holds the last results and this command):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/biobank_bench \\
    .venv/bin/python bench/extraction.py --repeat 2 --jobs 4 --write BENCHMARKS.md

For each engine, on the IBSI-1 CT phantom (configurations A and C) and on STS_001's CT
GTV (configuration C), the script times `run_extraction` (loading the stored series,
rasterising the RTSTRUCT, checking, computing, storing the values) against the engine's
own `compute` on the same arrays in the same run, alternating the two. Then it starts
real Celery workers (one process, then two) and measures how many ROIs per minute they
extract from a queue. It works in a database of its own (created beside DATABASE_URL's,
named `<name>_extraction_bench`, or a temporary SQLite file) and a temporary storage
root, and never writes to the configured database.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import numpy as np
from kombu import Connection, Exchange, Queue

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("BIOBANK_SHARED_DIR", REPO.parent / "shared")) / "data"
CASES = {
    # name: (folder ingested, ROI name, preset)
    "IBSI CT phantom, config A": ("ibsi1_ct_phantom/dicom", "GTV-1", "ibsi1_config_a"),
    "IBSI CT phantom, config C": ("ibsi1_ct_phantom/dicom", "GTV-1", "ibsi1_config_c"),
    "STS_001 CT GTV, config C": (
        "dicom_sts_rtstruct_ct_pet_mr/STS_001/CT",
        "GTV_Mass_CT",
        "ibsi1_config_c",
    ),
}
THROUGHPUT_CASE = "STS_001 CT GTV, config C"
ENGINES = ("mirp", "pyradiomics")
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@dataclass
class RoiTiming:
    engine: str
    case: str
    preset: str
    voxels: int
    features: int
    loading_s: float
    direct_s: list[float]
    pipeline_s: list[float]
    same_values: int
    compared_values: int
    direct_cpu_s: list[float] = field(default_factory=list)
    pipeline_cpu_s: list[float] = field(default_factory=list)

    @property
    def cpu_overhead(self) -> float:
        """Pipeline over direct in CPU seconds of this process, which other
        programs on the machine disturb far less than wall-clock time."""
        return statistics.median(self.pipeline_cpu_s) / statistics.median(
            self.direct_cpu_s
        )

    @property
    def direct(self) -> float:
        return statistics.median(self.direct_s)

    @property
    def pipeline(self) -> float:
        return statistics.median(self.pipeline_s)

    @property
    def overhead(self) -> float:
        return self.pipeline / self.direct


@dataclass
class Throughput:
    engine: str
    case: str
    workers: int
    jobs: int
    seconds: float
    failed: int
    load: str = ""
    capacity: float = 0.0
    per_minute: float = field(init=False)

    def __post_init__(self) -> None:
        self.per_minute = 60 * self.jobs / self.seconds


# Timing one ROI:


def time_roi(segmentation, engine: str, preset: str, repeat: int) -> RoiTiming:
    """Time run_extraction and the engine's compute on the same ROI, alternately."""
    from radiomics.engines import get_engine
    from radiomics.engines.checks import check_inputs
    from radiomics.extraction import plan_extraction, preset_from_dict, run_extraction
    from radiomics.masks import load_mask
    from radiomics.series import load_series, read_grid

    extraction = plan_extraction(segmentation, engine=engine, preset=preset)
    runner = get_engine(engine)
    chosen = preset_from_dict(extraction.parameters["preset"])
    started = time.perf_counter()
    grid = read_grid(segmentation.series)
    image = load_series(segmentation.series, grid)
    mask = load_mask(segmentation, grid)
    loading_s = time.perf_counter() - started
    roi = check_inputs(image, mask, chosen, extraction.label)

    # The first call of an engine imports and compiles what it needs; not timed:
    runner.compute(image.as_3d(), small_part(roi.mask_3d), chosen)
    direct_s, pipeline_s, direct_cpu_s, pipeline_cpu_s = [], [], [], []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        values, _ = runner.compute(image.as_3d(), roi.mask_3d, chosen)
        direct_s.append(time.perf_counter() - started)
        direct_cpu_s.append(time.process_time() - cpu)

        started, cpu = time.perf_counter(), time.process_time()
        extraction = run_extraction(extraction.pk)
        pipeline_s.append(time.perf_counter() - started)
        pipeline_cpu_s.append(time.process_time() - cpu)
        if extraction.status != "done":
            raise RuntimeError(f"{engine} on {segmentation}: {extraction.error}")

    stored = dict(extraction.values.values_list("feature__name", "value"))
    direct = {value.name: value.value for value in values if value.name in stored}
    same = sum(
        abs(stored[name] - value) <= 1e-9 * max(1.0, abs(value))
        for name, value in direct.items()
    )
    return RoiTiming(
        engine=engine,
        case="",
        preset=preset,
        voxels=roi.voxel_count,
        features=len(stored),
        loading_s=loading_s,
        direct_s=direct_s,
        pipeline_s=pipeline_s,
        direct_cpu_s=direct_cpu_s,
        pipeline_cpu_s=pipeline_cpu_s,
        same_values=same,
        compared_values=len(direct),
    )


def small_part(roi: np.ndarray, size: int = 12) -> np.ndarray:
    """Return the part of the ROI in a cube of `size` voxels around its centre."""
    centre = [int(round(c)) for c in np.argwhere(roi).mean(axis=0)]
    box = tuple(slice(max(c - size // 2, 0), c + size // 2) for c in centre)
    part = np.zeros_like(roi)
    part[box] = roi[box]
    return part


# Throughput of real workers:


class WorkerPool:
    """`celery -A biobank worker --concurrency N` on a queue of its own."""

    def __init__(self, concurrency: int, environment: dict[str, str], log: Path):
        self.queue = f"bench-{uuid.uuid4().hex[:8]}"
        self.broker = environment["CELERY_BROKER_URL"]
        self.log = log
        command = [
            sys.executable, "-m", "celery", "-A", "biobank", "worker",
            "--queues", self.queue, "--hostname", f"{self.queue}@%h",
            "--concurrency", str(concurrency), "--without-gossip",
            "--without-mingle", "--without-heartbeat", "--loglevel", "INFO",
        ]  # fmt: skip
        with log.open("wb") as output:
            self.process = subprocess.Popen(  # noqa: S603 -- our own command line
                command,
                cwd=REPO,
                env={**os.environ, **environment},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until(lambda: " ready." in self.output(), "the worker to start", self, 120)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with Connection(self.broker) as connection:
            # NB: declared first: kombu's Redis transport deletes only bindings it knows.
            queue = Queue(self.queue, Exchange(self.queue), routing_key=self.queue)
            bound = queue(connection.default_channel)
            bound.declare()
            bound.delete()


def wait_until(
    condition: Callable[[], bool], what: str, pool: WorkerPool, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if pool.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(
                f"Gave up waiting for {what}; the worker said:\n{pool.output()[-3000:]}"
            )
        time.sleep(0.2)


def spin(seconds: float, counts) -> None:
    """Count loop turns for `seconds` of wall-clock time (a process target)."""
    turns, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        turns += 1
    counts.put(turns)


def parallel_capacity(processes: int = 2, seconds: float = 3.0) -> float:
    """Return how much more CPU work `processes` busy processes get done than one,
    now, on this machine: 2.0 on two idle cores, less when other programs run."""
    import multiprocessing

    def total(count: int) -> int:
        counts = multiprocessing.Queue()
        workers = [
            multiprocessing.Process(target=spin, args=(seconds, counts))
            for _ in range(count)
        ]
        for worker in workers:
            worker.start()
        turns = sum(counts.get() for _ in workers)
        for worker in workers:
            worker.join()
        return turns

    return total(processes) / total(1)


def copies_of(extraction, count: int) -> list:
    """Return `count` new pending records asking for the same extraction."""
    from radiomics.models import FeatureExtraction

    copies = []
    for _ in range(count):
        copy = FeatureExtraction.objects.get(pk=extraction.pk)
        copy.pk = None
        copy.fingerprint = hashlib.sha256(uuid.uuid4().bytes).hexdigest()
        copy.status, copy.attempts, copy.progress = "pending", 0, 0
        copy.save()
        copies.append(copy)
    return copies


def run_jobs(extractions: list, pool: WorkerPool, timeout: float) -> None:
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import queue_extractions

    pks = [extraction.pk for extraction in extractions]
    queue_extractions(extractions, queue=pool.queue)
    ended = FeatureExtraction.objects.filter(pk__in=pks, status__in=["done", "failed"])
    wait_until(lambda: ended.count() == len(pks), "the jobs to end", pool, timeout)


def measure_throughput(
    segmentation,
    engine: str,
    preset: str,
    workers: int,
    jobs: int,
    environment: dict[str, str],
    log_dir: Path,
    timeout: float = 3600,
) -> Throughput:
    """Start `workers` processes, warm each up with one job, then time `jobs` jobs."""
    from django.db.models import Max, Min

    from radiomics.extraction import plan_extraction
    from radiomics.models import FeatureExtraction

    template = plan_extraction(segmentation, engine=engine, preset=preset)
    capacity = parallel_capacity(workers) if workers > 1 else 1.0
    load_before = load_average(1)
    pool = WorkerPool(workers, environment, log_dir / f"worker-{workers}.log")
    try:
        # Each process imports the engine on its first job; that is not throughput:
        run_jobs(copies_of(template, workers), pool, timeout)
        timed = copies_of(template, jobs)
        run_jobs(timed, pool, timeout)
    finally:
        pool.stop()

    records = FeatureExtraction.objects.filter(pk__in=[e.pk for e in timed])
    span = records.aggregate(first=Min("started_at"), last=Max("finished_at"))
    return Throughput(
        engine=engine,
        case="",
        workers=workers,
        jobs=jobs,
        seconds=(span["last"] - span["first"]).total_seconds(),
        failed=records.filter(status="failed").count(),
        load=f"{load_before} / {load_average(1)}",
        capacity=capacity,
    )


# A database and storage of the benchmark's own:


@contextmanager
def bench_database(keep: bool = False) -> Iterator[str]:
    """Create and migrate a database beside the configured one; yield its URL."""
    from django.db import connection

    test = connection.settings_dict["TEST"]
    if connection.vendor == "sqlite":
        test["NAME"] = f"{tempfile.mkdtemp(prefix='bench-db-')}/bench.sqlite3"
    else:
        test["NAME"] = f"{connection.settings_dict['NAME']}_extraction_bench"
    original = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield database_url(connection.settings_dict, name)
    finally:
        if not keep:
            connection.creation.destroy_test_db(original, verbosity=0)


def database_url(settings: dict[str, Any], name: str) -> str:
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{name}"
    user = quote(settings["USER"] or "", safe="")
    password = quote(settings["PASSWORD"] or "", safe="")
    host = settings["HOST"] or "127.0.0.1"
    return f"postgres://{user}:{password}@{host}:{settings['PORT'] or 5432}/{name}"


def ingest_cases(case_names: list[str]) -> dict[str, Any]:
    """Ingest each case's DICOM folder once; return its segmentation by case name."""
    from patients.models import Project
    from radiomics.importers.dicom import ingest_dicom
    from radiomics.models import Segmentation

    project, _ = Project.objects.get_or_create(code="bench", name="Benchmark")
    segmentations = {}
    for name in case_names:
        folder, roi_name, _ = CASES[name]
        path = DATA / folder
        if not path.exists():
            raise SystemExit(f"{path} is absent (set BIOBANK_SHARED_DIR).")
        if not Segmentation.objects.filter(roi_name=roi_name).exists():
            ingest_dicom(path, project)
        segmentations[name] = Segmentation.objects.get(roi_name=roi_name)
    return segmentations


def available_engines(wanted: list[str]) -> tuple[list[str], list[str]]:
    """Return the engines that load here, and a note per engine that does not."""
    from radiomics.engines import get_engine

    engines, notes = [], []
    for name in wanted:
        try:
            get_engine(name).version  # noqa: B018 -- loads the library
        except (ValueError, ImportError) as error:
            notes.append(f"{name} skipped: {error}")
        else:
            engines.append(name)
    return engines, notes


# Report:


def render(
    timings: list[RoiTiming],
    throughputs: list[Throughput],
    notes: list[str],
    command: str,
) -> str:
    """Return the results as Markdown tables, with the command and the machine."""
    from radiomics.engines import get_engine

    versions = ", ".join(
        f"{name} {get_engine(name).version}"
        for name in dict.fromkeys(t.engine for t in timings + throughputs)
    )
    lines = [
        "## Feature extraction (issue 3)",
        "",
        f"Command: `{command}`",
        "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.node()} "
        f"({os.cpu_count()} cores, load average {load_average()}), Python "
        f"{platform.python_version()}, {versions}.",
        "",
        "Time per ROI: median of the runs; *direct* is the engine's `compute` on "
        "arrays already in memory, *pipeline* is `run_extraction` (load the stored "
        "DICOM, rasterise the RTSTRUCT, check, compute, store the values in one "
        "transaction); each run's seconds are in brackets. *Loading* is the part "
        "of the pipeline that reads the series and builds the mask. *Same values* "
        "counts the stored values equal to the direct ones. *Overhead* is pipeline "
        "over direct in wall-clock time and, less disturbed by other programs on "
        "the machine, in CPU time of this process (the database server's share of "
        "storing is not in it).",
        "",
        "| engine | ROI | voxels | features | direct s | pipeline s | loading s | overhead (wall) | overhead (CPU) | same values |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in timings:
        direct_runs = ", ".join(f"{s:.1f}" for s in t.direct_s)
        pipeline_runs = ", ".join(f"{s:.1f}" for s in t.pipeline_s)
        lines.append(
            f"| {t.engine} | {t.case} | {t.voxels:,} | {t.features} | "
            f"{t.direct:.2f} ({direct_runs}) | {t.pipeline:.2f} ({pipeline_runs}) | "
            f"{t.loading_s:.2f} | {100 * (t.overhead - 1):+.1f} % | "
            f"{100 * (t.cpu_overhead - 1):+.1f} % | "
            f"{t.same_values} of {t.compared_values} |"
        )
    if throughputs:
        base = throughputs[0].per_minute
        lines += [
            "",
            "Throughput: real `celery -A biobank worker --concurrency N` processes on "
            "the broker, each warmed up with one job, then the jobs queued at once; "
            "time from the first start to the last finish. *Load* is the machine's "
            "1-minute load average before and after the run. *CPU available* is "
            "what as many busy processes got done together, over one alone, just "
            "before the run (2.00x on two idle cores): the speed-up the machine "
            "offered then, which other programs running on it lower.",
            "",
            "| engine | ROI | worker processes | jobs | seconds | ROIs per minute | speed-up | CPU available | failed | load |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        lines += [
            f"| {t.engine} | {t.case} | {t.workers} | {t.jobs} | {t.seconds:.1f} | "
            f"{t.per_minute:.2f} | {t.per_minute / base:.2f}x | {t.capacity:.2f}x | "
            f"{t.failed} | {t.load} |"
            for t in throughputs
        ]
    lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines).rstrip() + "\n"


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(
        netloc=parts.netloc.replace(f":{parts.password}@", ":***@")
    ).geturl()


def load_average(count: int = 3) -> str:
    """Return the 1, 5 and 15-minute load averages (the first `count`)."""
    try:
        return " ".join(f"{value:.1f}" for value in os.getloadavg()[:count])
    except OSError:
        return "unknown"


def write_section(path: Path, section: str) -> None:
    """Put the section between this script's marks in `path`, keeping the rest."""
    from bench.report import write_marked

    write_marked(path, section, "bench/extraction.py")


def run(options: argparse.Namespace, command: str) -> str:
    engines, notes = available_engines(options.engines)
    segmentations = ingest_cases(options.cases)
    timings = []
    for engine in engines:
        for case in options.cases:
            print(f"timing {engine} on {case} ...", flush=True)  # noqa: T201
            timing = time_roi(
                segmentations[case], engine, CASES[case][2], options.repeat
            )
            timing.case = case
            timings.append(timing)

    throughputs = []
    if options.jobs and engines:
        environment = {
            "DATABASE_URL": options.database_url,
            "CELERY_BROKER_URL": options.broker,
            "BIOBANK_STORAGE_ROOT": os.environ["BIOBANK_STORAGE_ROOT"],
        }
        case = options.throughput_case
        segmentations |= ingest_cases([case])
        for workers in (1, 2):
            print(f"throughput with {workers} worker processes ...", flush=True)  # noqa: T201
            result = measure_throughput(
                segmentations[case],
                options.throughput_engine or engines[0],
                CASES[case][2],
                workers,
                options.jobs,
                environment,
                Path(os.environ["BIOBANK_STORAGE_ROOT"]),
            )
            result.case = case
            throughputs.append(result)
    return render(timings, throughputs, notes, command)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES))
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--repeat", type=int, default=2, help="Runs per ROI and path.")
    parser.add_argument(
        "--jobs", type=int, default=4, help="Jobs per throughput run; 0 skips it."
    )
    parser.add_argument("--throughput-case", default=THROUGHPUT_CASE, choices=CASES)
    parser.add_argument("--throughput-engine", help="Default: the first engine.")
    parser.add_argument(
        "--broker",
        default=os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER,
        help=f"Broker of the throughput run (default {DEFAULT_BROKER}).",
    )
    parser.add_argument("--write", type=Path, help="Markdown file to update.")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    options = parse(argv)
    command = ".venv/bin/python bench/extraction.py " + shlex.join(argv)
    if os.environ.get("DATABASE_URL"):
        command = (
            f"DATABASE_URL={without_password(os.environ['DATABASE_URL'])} {command}"
        )

    # Before Django reads its settings: our own storage, and jobs sent to the broker.
    os.environ["BIOBANK_STORAGE_ROOT"] = tempfile.mkdtemp(prefix="bench-storage-")
    os.environ["CELERY_BROKER_URL"] = options.broker
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()

    with bench_database() as url:
        options.database_url = url
        report = run(options, command)
    print(report)  # noqa: T201
    if options.write:
        write_section(options.write, report)


if __name__ == "__main__":
    main(sys.argv[1:])
