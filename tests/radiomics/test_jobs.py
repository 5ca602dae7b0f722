"""Background extraction jobs: in-process without a broker, and real workers on one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

REPO = Path(__file__).resolve().parents[2]
FEATURES = ["stand_in_mean", "stand_in_volume", "stand_in_contrast"]
TINY_CUBE = (slice(1, 5), slice(4, 12), slice(4, 12))  # 4 x 8 x 8 = 256 voxels

# A worker started by these tests imports this module (celery worker -I) and runs the
# stand-in below when this variable names the folder it shares with the test:
JOBS_DIR = "BIOBANK_TEST_JOBS_DIR"
JOBS_HOOK = "BIOBANK_TEST_JOBS_HOOK"


def stand_in_run_extraction(
    extraction_id: int, progress: Callable[[int, str], None] | None = None
):
    """Behave as run_extraction promises: count the attempt, store values at once.

    In a worker, when the shared folder holds ``hold-at-40``, wait after reporting
    40 % until the test writes ``release`` there.
    """
    from radiomics.models import FeatureDefinition, FeatureExtraction, FeatureValue

    Status = FeatureExtraction.Status
    FeatureExtraction.objects.filter(pk=extraction_id).update(
        status=Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=timezone.now(),
        error="",
    )
    if progress:
        progress(40, "image and mask loaded")
    shared = Path(os.environ.get(JOBS_DIR, "/nonexistent"))
    if (shared / "hold-at-40").exists():
        deadline = time.monotonic() + 120
        while not (shared / "release").exists() and time.monotonic() < deadline:
            time.sleep(0.1)

    definitions = [
        FeatureDefinition.objects.get_or_create(
            name=name, defaults={"family": "other", "feature_name": name}
        )[0]
        for name in FEATURES
    ]
    with transaction.atomic():
        FeatureValue.objects.filter(extraction_id=extraction_id).delete()
        FeatureValue.objects.bulk_create(
            FeatureValue(extraction_id=extraction_id, feature=feature, value=index)
            for index, feature in enumerate(definitions)
        )
        FeatureExtraction.objects.filter(pk=extraction_id).update(
            status=Status.DONE, progress=100, finished_at=timezone.now()
        )
    if progress:
        progress(100, "values stored")
    return FeatureExtraction.objects.get(pk=extraction_id)


def install_stand_in(run: Callable[..., object], monkeypatch=None) -> None:
    """Put `run` in place of run_extraction, for the test or for the whole process."""
    import radiomics.extraction as module

    if monkeypatch:
        monkeypatch.setattr(module, "run_extraction", run)
    else:
        module.run_extraction = run


def hold_first_store() -> None:
    """Make the real run_extraction stop on its first attempt, values written but
    not committed, and wait there to be killed; say ``stored-N`` on each attempt."""
    import radiomics.extraction as module

    store = module._store

    def store_then_hold(extraction, result) -> None:
        store(extraction, result)
        (Path(os.environ[JOBS_DIR]) / f"stored-{extraction.attempts}").touch()
        deadline = time.monotonic() + 120
        while extraction.attempts == 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # killed long before, as a rule

    module._store = store_then_hold


if os.environ.get(JOBS_DIR):
    # Imported by a worker process started below:
    if os.environ.get(JOBS_HOOK) == "hold-first-store":
        hold_first_store()
    else:
        install_stand_in(stand_in_run_extraction)


def tiny_roi(project, folder: Path):
    """Six 16 x 16 CT slices of noise in 0..200 HU and a 256-voxel cube mask on them."""
    from pydicom.uid import generate_uid

    from radiomics.importers.dicom import ingest_dicom
    from radiomics.masks import register_mask
    from radiomics.models import ImageSeries
    from radiomics.series import read_grid
    from tests.radiomics.conftest import build_ct, write_part10
    from tests.radiomics.test_masks import write_mask

    folder.mkdir(exist_ok=True)
    uids = {
        "StudyInstanceUID": generate_uid(),
        "SeriesInstanceUID": generate_uid(),
        "FrameOfReferenceUID": generate_uid(),
    }
    noise = np.random.default_rng(3).integers(0, 200, (6, 16, 16), dtype="<i2")
    for index, pixels in enumerate(noise):
        ct = build_ct(
            **uids,
            SOPInstanceUID=generate_uid(),
            InstanceNumber=index + 1,
            ImagePositionPatient=["0", "0", f"{2.5 * index}"],
            Rows=16,
            Columns=16,
            PixelData=pixels.tobytes(),
        )
        write_part10(ct, folder / f"ct{index}.dcm")
    ingest_dicom(folder, project)
    series = ImageSeries.objects.get(series_instance_uid__isnull=False)

    cube = np.zeros((6, 16, 16), dtype=np.uint8)
    cube[TINY_CUBE] = 1
    path = write_mask(folder.parent / "cube.nii.gz", cube, read_grid(series))
    segmentation, _ = register_mask(path, series, "Cube")
    return segmentation


def fastest_engine() -> str:
    """PyRadiomics where installed: MIRP takes seconds even on a tiny ROI."""
    from radiomics.engines import get_engine

    try:
        get_engine("pyradiomics").version  # noqa: B018 -- loads the library
    except (ValueError, ImportError):
        return "mirp"
    return "pyradiomics"


def plan_record(number: int = 1):
    from patients.models import Patient, Project
    from radiomics.models import FeatureExtraction

    project, _ = Project.objects.get_or_create(code="jobs", name="Jobs")
    patient = Patient.objects.create(
        project=project, pseudonym=f"JOB-{number:03d}", source_key=f"key-{number}"
    )
    return FeatureExtraction.objects.create(
        patient=patient, software="stand-in", fingerprint=uuid.uuid4().hex
    )


@pytest.fixture
def stand_in(monkeypatch) -> list[int]:
    """Run the stand-in in this process; return the ids it was called with."""
    calls: list[int] = []

    def run(extraction_id: int, progress=None):
        calls.append(extraction_id)
        return stand_in_run_extraction(extraction_id, progress)

    install_stand_in(run, monkeypatch)
    return calls


# In-process jobs (no broker configured, as in development and in this test run):


@pytest.fixture(autouse=True)
def jobs_in_process() -> Iterator[None]:
    """Run queued jobs in this process, as without a broker, whatever the shell sets."""
    from biobank.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.mark.parametrize(
    ("broker", "expected"),
    [
        ("", "True memory:// late acks, requeued on worker loss, prefetch 1"),
        (
            "amqp://guest:guest@127.0.0.1:5672//",
            "False amqp://guest:guest@127.0.0.1:5672// "
            "late acks, requeued on worker loss, prefetch 1",
        ),
    ],
)
def test_celery_settings_follow_the_broker_url(broker, expected):
    script = (
        "import django; django.setup(); from biobank.celery import app; c = app.conf; "
        "print(c.task_always_eager, c.broker_url, 'late acks,' * c.task_acks_late, "
        "'requeued on worker loss,' * c.task_reject_on_worker_lost, "
        "f'prefetch {c.worker_prefetch_multiplier}')"
    )
    env = {**os.environ, "CELERY_BROKER_URL": broker}

    printed = subprocess.run(  # noqa: S603 -- our own interpreter
        [sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert printed.strip() == expected


def test_queued_job_runs_in_process_and_stores_state(
    db, stand_in, django_capture_on_commit_callbacks
):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import queue_extractions

    extraction = plan_record()

    with django_capture_on_commit_callbacks(execute=True):
        task_ids = queue_extractions([extraction])

    extraction.refresh_from_db()
    assert task_ids == [extraction.task_id]
    assert uuid.UUID(extraction.task_id)
    assert extraction.status == FeatureExtraction.Status.DONE
    assert extraction.progress == 100
    assert extraction.attempts == 1
    assert extraction.values.count() == len(FEATURES)
    assert stand_in == [extraction.pk]


def test_job_is_sent_only_when_the_transaction_commits(
    db, stand_in, django_capture_on_commit_callbacks
):
    from radiomics.tasks import queue_extractions

    extraction = plan_record()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        queue_extractions([extraction])

    assert len(callbacks) == 1
    assert stand_in == []


def test_failing_job_records_failure_and_error(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import queue_extractions

    def crash(extraction_id: int, progress=None):
        FeatureExtraction.objects.filter(pk=extraction_id).update(status="running")
        raise RuntimeError("the mask file is unreadable")

    install_stand_in(crash, monkeypatch)
    extraction = plan_record()

    with django_capture_on_commit_callbacks(execute=True):
        queue_extractions([extraction])

    extraction.refresh_from_db()
    assert extraction.status == FeatureExtraction.Status.FAILED
    assert extraction.error == "RuntimeError: the mask file is unreadable"


def test_job_for_a_done_extraction_does_nothing(db, stand_in):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import extract_segmentation

    extraction = plan_record()
    FeatureExtraction.objects.filter(pk=extraction.pk).update(status="done")

    result = extract_segmentation.apply(args=(extraction.pk,))

    assert result.get() == "done"
    assert stand_in == []


def test_queueing_a_done_extraction_computes_it_again(
    db, stand_in, django_capture_on_commit_callbacks
):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import queue_extractions

    extraction = plan_record()
    FeatureExtraction.objects.filter(pk=extraction.pk).update(status="done", attempts=1)

    with django_capture_on_commit_callbacks(execute=True):
        queue_extractions([extraction])

    extraction.refresh_from_db()
    assert stand_in == [extraction.pk]
    assert (extraction.status, extraction.attempts) == ("done", 2)


def test_job_found_running_after_a_lost_worker_runs_again(db, stand_in):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import extract_segmentation

    extraction = plan_record()
    FeatureExtraction.objects.filter(pk=extraction.pk).update(
        status="running", attempts=1
    )

    extract_segmentation.apply(args=(extraction.pk,))

    extraction.refresh_from_db()
    assert stand_in == [extraction.pk]
    assert (extraction.status, extraction.attempts) == ("done", 2)


def test_extract_features_background_queues_one_job_per_segmentation(
    transactional_db, stand_in
):
    # Transactional, as a command runs: without a broker the job runs on queueing.
    from radiomics.models import ImageSeries, ImagingStudy, Segmentation

    record = plan_record()
    study = ImagingStudy.objects.create(
        patient=record.patient, study_instance_uid="2.25.1", source_uid_hash="s"
    )
    series = ImageSeries.objects.create(
        study=study, series_instance_uid="2.25.2", source_uid_hash="t", modality="CT"
    )
    segmentation = Segmentation.objects.create(
        series=series, roi_name="GTV", source_kind="RTSTRUCT", content_sha256="c"
    )
    output = StringIO()

    call_command(
        "extract_features", "--segmentation", str(segmentation.pk), "--background",
        stdout=output,
    )  # fmt: skip

    extraction = segmentation.extractions.get()
    assert stand_in == [extraction.pk]
    assert f"done (job {extraction.task_id})" in output.getvalue()
    assert (extraction.preset, extraction.status) == ("ibsi1_config_c", "done")


def test_worker_refuses_to_start_without_a_broker():
    from biobank.celery import refuse_worker_without_broker

    with pytest.raises(SystemExit, match="CELERY_BROKER_URL"):
        refuse_worker_without_broker()


# Real workers on a real broker, on loopback:

BROKERS = {
    "rabbitmq": os.environ.get(
        "BIOBANK_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//"
    ),
    "redis": os.environ.get("BIOBANK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
}


def broker_url(name: str) -> str:
    """Return the broker's URL, or skip when it is unreachable outside CI."""
    from kombu import Connection

    url = BROKERS[name]
    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 -- any failure means "unreachable"
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} broker {url} unreachable ({exc}); .ci/run starts it")
    return url


@pytest.fixture
def worker_database_url(transactional_db, tmp_path: Path) -> Iterator[str]:
    """Return a DATABASE_URL under which a worker process sees this test's rows."""
    connection = connections["default"]
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        # A transactional test commits its rows to the test database:
        user = quote(settings["USER"] or "", safe="")
        password = quote(settings["PASSWORD"] or "", safe="")
        host = settings["HOST"] or "127.0.0.1"
        port = settings["PORT"] or 5432
        yield f"postgres://{user}:{password}@{host}:{port}/{settings['NAME']}"
        return

    # NB: pytest-django's SQLite test database lives in this process's memory, out
    # of a worker's reach; this test alone works on a migrated file database.
    path = tmp_path / "jobs.sqlite3"
    file_connection = connection.__class__({**settings, "NAME": str(path)}, "default")
    connections["default"] = file_connection
    try:
        call_command("migrate", verbosity=0)
        yield f"sqlite:///{path}"
    finally:
        file_connection.close()
        connections["default"] = connection


class Worker:
    """A `celery -A biobank worker` process on its own queue, concurrency 1."""

    def __init__(
        self,
        broker: str,
        database: str,
        queue: str,
        shared: Path,
        hook: str = "",
        results: str = "",
    ) -> None:
        self.broker, self.queue = broker, queue
        self.log = shared / f"worker-{uuid.uuid4().hex[:6]}.log"
        env = {
            **os.environ,
            "DATABASE_URL": database,
            "CELERY_BROKER_URL": broker,
            "BIOBANK_STORAGE_ROOT": str(shared / "storage"),
            JOBS_DIR: str(shared),
            JOBS_HOOK: hook,
            "CELERY_RESULT_BACKEND": results,
        }
        command = [
            sys.executable, "-m", "celery", "-A", "biobank", "worker",
            "--queues", queue, "--hostname", f"{queue}@%h", "--concurrency", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--include", "tests.radiomics.test_jobs", "--loglevel", "INFO",
        ]  # fmt: skip
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 -- our own command line
                command,
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        """Kill the worker and its pool at once, as a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # warm shutdown: finishes the running job
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def wait_for(condition: Callable[[], bool], what: str, worker: Worker) -> None:
    # A bound against hanging, not a timing test: a loaded two-core machine starting a
    # worker (Django, Celery, the engines) has taken most of a minute.
    deadline = time.monotonic() + 180
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Gave up waiting for {what}; worker said:\n{worker.output()}")
        if worker.process.poll() is not None:
            pytest.fail(
                f"The worker ended while waiting for {what}:\n{worker.output()}"
            )
        time.sleep(0.2)


class Workers:
    """The workers of one test, on a queue of their own, and what is left on it."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self.queue = f"jobs-test-{uuid.uuid4().hex[:8]}"
        self.started: list[Worker] = []
        self.broker = ""

    def start(
        self, broker: str, database: str, hook: str = "", results: str = ""
    ) -> Worker:
        self.send_to(broker)
        worker = Worker(broker, database, self.queue, self.shared, hook, results)
        self.started.append(worker)
        return worker

    def send_to(self, broker: str) -> None:
        """Make this process send jobs to the broker instead of running them."""
        from biobank.celery import app

        if self.broker != broker:
            self.broker = broker
            app.conf.update(task_always_eager=False, broker_url=broker)
            app._pool = app.amqp._producer_pool = None  # pools of the old URL

    def messages_left(self) -> int:
        """Return how many jobs wait on the queue (RabbitMQ), not counting unacked."""
        from kombu import Connection

        with Connection(self.broker) as connection:
            _, count, _ = connection.default_channel.queue_declare(
                self.queue, passive=True
            )
        return count

    def close(self) -> None:
        from kombu import pools

        from biobank.celery import app

        for worker in self.started:
            worker.stop()
        if self.broker:
            delete_queue(self.broker, self.queue)
            pools.reset()  # closes and forgets the connections to the broker
            app.conf.update(task_always_eager=True, broker_url="memory://")
            app._pool = app.amqp._producer_pool = None


def delete_queue(broker: str, name: str) -> None:
    """Delete a worker's queue with its binding, as Celery declared it for -Q."""
    from kombu import Connection, Exchange, Queue

    with Connection(broker) as connection:
        # NB: declared first: kombu's Redis transport deletes only bindings it knows.
        queue = Queue(name, Exchange(name), routing_key=name)(
            connection.default_channel
        )
        queue.declare()
        queue.delete()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    group = Workers(tmp_path)
    yield group
    group.close()


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
def test_worker_runs_a_queued_extraction_and_reports_progress(
    broker, worker_database_url, workers, tmp_path
):
    from celery.backends.redis import RedisBackend

    from biobank.celery import app
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import queue_extractions

    url = broker_url(broker)
    results = BROKERS["redis"]
    broker_url("redis")  # the result backend
    extraction = plan_record()
    (tmp_path / "hold-at-40").touch()
    worker = workers.start(url, worker_database_url, results=results)
    backend = RedisBackend(app=app, url=results)

    [task_id] = queue_extractions([extraction], queue=workers.queue)
    wait_for(
        lambda: backend.get_task_meta(task_id)["status"] == "PROGRESS",
        "the job to report progress",
        worker,
    )
    reported = backend.get_task_meta(task_id)["result"]
    running = FeatureExtraction.objects.get(pk=extraction.pk)
    (tmp_path / "release").touch()
    wait_for(
        lambda: FeatureExtraction.objects.get(pk=extraction.pk).status == "done",
        "the extraction to finish",
        worker,
    )
    # The task stores its record before it returns; Celery stores its result after:
    wait_for(
        lambda: backend.get_task_meta(task_id)["status"] not in {"PENDING", "PROGRESS"},
        "the job's result",
        worker,
    )
    final = backend.get_task_meta(task_id)
    backend.forget(task_id)

    extraction.refresh_from_db()
    assert reported == {"percent": 40, "message": "image and mask loaded"}
    assert (running.status, running.progress, running.task_id) == (
        "running",
        40,
        task_id,
    )
    assert (extraction.status, extraction.attempts, extraction.progress) == (
        "done",
        1,
        100,
    )
    assert extraction.values.count() == len(FEATURES)
    assert (final["status"], final["result"]) == ("SUCCESS", "done")


def test_job_of_a_killed_worker_runs_again_once_on_another(
    worker_database_url, workers, tmp_path
):
    from patients.models import Project
    from radiomics.engines import get_engine
    from radiomics.extraction import plan_extraction, preset_from_dict
    from radiomics.masks import load_mask
    from radiomics.models import FeatureExtraction
    from radiomics.series import load_series
    from radiomics.tasks import queue_extractions

    url = broker_url("rabbitmq")
    project = Project.objects.create(code="jobs", name="Jobs")
    segmentation = tiny_roi(project, tmp_path / "inbox")
    extraction = plan_extraction(segmentation, fastest_engine(), "ibsi1_config_a")
    first = workers.start(url, worker_database_url, hook="hold-first-store")

    # The first worker dies inside the transaction that stores the values:
    queue_extractions([extraction], queue=workers.queue)
    wait_for(lambda: (tmp_path / "stored-1").exists(), "the first store", first)
    during = FeatureExtraction.objects.get(pk=extraction.pk)
    during_values = during.values.count()
    first.kill()
    second = workers.start(url, worker_database_url, hook="hold-first-store")
    wait_for(
        lambda: FeatureExtraction.objects.get(pk=extraction.pk).status == "done",
        "the second attempt to finish",
        second,
    )
    second.stop()

    extraction.refresh_from_db()
    stored = list(extraction.values.values_list("feature__name", "value"))
    computed = get_engine(extraction.software).extract(
        load_series(segmentation.series),
        load_mask(segmentation),
        preset_from_dict(extraction.parameters["preset"]),
    )
    expected = [(v.name, v.value) for v in computed.values if np.isfinite(v.value)]
    assert (during.status, during_values) == ("running", 0)
    assert (extraction.attempts, extraction.error) == (2, "")
    assert len(stored) == len({name for name, _ in stored}) == len(expected)
    assert dict(stored) == pytest.approx(dict(expected), rel=1e-9)
    assert (tmp_path / "stored-2").exists() and not (tmp_path / "stored-3").exists()
    assert workers.messages_left() == 0


def test_a_job_queued_again_meanwhile_leaves_the_work_to_the_newer_job(db, stand_in):
    from radiomics.models import FeatureExtraction
    from radiomics.tasks import extract_segmentation

    extraction = plan_record()
    FeatureExtraction.objects.filter(pk=extraction.pk).update(task_id="newer-job")

    older = extract_segmentation.apply(args=(extraction.pk,), task_id="older-job")
    newer = extract_segmentation.apply(args=(extraction.pk,), task_id="newer-job")

    assert (older.get(), newer.get()) == ("superseded", "done")
    assert stand_in == [extraction.pk]


def test_extract_features_does_not_queue_an_extraction_already_queued_or_running(
    transactional_db, stand_in
):
    from radiomics.models import ImageSeries, ImagingStudy, Segmentation

    record = plan_record()
    study = ImagingStudy.objects.create(
        patient=record.patient, study_instance_uid="2.25.1", source_uid_hash="s"
    )
    series = ImageSeries.objects.create(
        study=study, series_instance_uid="2.25.2", source_uid_hash="t", modality="CT"
    )
    segmentation = Segmentation.objects.create(
        series=series, roi_name="GTV", source_kind="RTSTRUCT", content_sha256="c"
    )
    arguments = ["extract_features", "--segmentation", str(segmentation.pk)]
    call_command(*arguments, "--background", stdout=StringIO())
    extraction = segmentation.extractions.get()
    extraction.status, extraction.task_id = "running", "job-of-another-worker"
    extraction.save()
    output = StringIO()

    call_command(*arguments, "--background", "--queue", "elsewhere", stdout=output)

    assert stand_in == [extraction.pk]
    assert "already running (job job-of-another-worker" in output.getvalue()
