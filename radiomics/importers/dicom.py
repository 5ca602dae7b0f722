"""Ingest DICOM folders and archives: de-identify, store, and index studies, series and ROIs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import gc
import logging
import math
import multiprocessing
import os
import re
import struct
import threading
import traceback
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import pydicom
from django.conf import settings
from django.db import DatabaseError, models, transaction
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.uid import UID
from pydicom.valuerep import IS, DSfloat, ISfloat

from biobank.core.connections import (
    ImportCutOff,
    is_connection_failure,
    written_once_back,
)
from biobank.core.importing import (
    ImportRejected,
    ImportReport,
    Message,
    Problem,
    chunks,
    counted,
    file_sha256,
    units_in_words,
)
from biobank.core.storage import StoragePathRefused, check_storage_path
from biobank.core.validation import InvalidValue
from patients.importers.runs import (
    CUT_OFF,
    CUT_OFF_MESSAGE,
    end_run_hold,
    fail_abandoned_runs,
    start_run,
    status_of,
    when_marked,
)
from patients.models import DataIssue, ImportRun, Patient, Project, Sex
from patients.services import add_patient, find_patient, find_patients
from patients.validation import check_after_birth
from radiomics.importers import fastlane, values
from radiomics.importers.deid import (
    BatchScreen,
    Decisions,
    DeidentificationReport,
    KnownPatients,
    deidentify,
    normalise_temporal_values,
    reader_pseudonym,
    replacement_uid,
    source_uid_hash,
    tag_name,
    vr_of,
)
from radiomics.importers.segmentations import (
    SEGMENTATION_CLASSES,
    Region,
    read_regions,
    readers_of,
)
from radiomics.importers.sources import (
    SourceFile,
    UnreadableFile,
    has_part10_header,
    lenient_pydicom,
    library_messages,
    open_sources,
    read_dataset,
    read_rest,
    transfer_syntax_of,
)
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy, Segmentation

logger = logging.getLogger(__name__)

T = TypeVar("T")
# A DT value as values.check_dt() writes it, down to the minute at least:
_DT_MOMENT = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(\.\d{1,6})?")

IMPORTER = "dicom"
IMAGE = "image"
# Where the study date comes from when StudyDate (0008,0020) is unusable, in order:
STUDY_DATE_SOURCES = (
    ("StudyDate", "StudyTime"),
    ("SeriesDate", "SeriesTime"),
    ("AcquisitionDate", "AcquisitionTime"),
    ("ContentDate", "ContentTime"),
)
EARLIEST_IMAGING_YEAR = 1895
SEXES = {"M": Sex.MALE, "F": Sex.FEMALE, "O": Sex.OTHER}
STUDY_DATE_TAG = 0x00080020
PATIENT_AGE_TAG = 0x00101010
PATIENT_NAME_TAG = 0x00100010


@dataclass(frozen=True)
class PlausibleRange:
    """The values of a dose or time a scanner records; others are read as none."""

    attribute: str  # as warnings name it
    unit: str  # of the file's value
    low: float  # exclusive
    high: float
    per_stored: float = 1.0  # file units per unit of the ImageSeries field


# NB: a value outside these is a unit slip (an activity in MBq where Bq is meant,
# CTDIvol in µGy) or a placeholder, not a dose: CT perfusion of the head stays below
# a few hundred mGy, and therapeutic activities (177Lu, 131I) below 20 GBq. 89Zr
# antibodies are imaged up to a week after the injection; a dynamic PET series starts
# shortly before it, and one started earlier is a clock or date slip.
PLAUSIBLE_RANGES = {
    "ctdi_vol_mgy": PlausibleRange("CTDIvol (0018,9345)", "mGy", 0.0, 1000.0),
    "injected_activity_mbq": PlausibleRange(
        "RadiopharmaceuticalInformationSequence > RadionuclideTotalDose (0018,1074)",
        "Bq",
        1e6,
        2e10,
        per_stored=1e6,
    ),
    # Named by the start it was read from (_uptake_attribute()):
    "uptake_time_min": PlausibleRange(
        "RadiopharmaceuticalInformationSequence > RadiopharmaceuticalStartTime (0018,1072)",
        "min",
        -10.0,
        14 * 24 * 60.0,
    ),
}
# The attributes an image's pixels are read by, each a whole number of at least 1:
PIXEL_COUNT_KEYWORDS = (
    "Rows",
    "Columns",
    "NumberOfFrames",
    "SamplesPerPixel",
    "BitsAllocated",
)

Progress = Callable[[int, int], None]


@dataclass
class DicomReport(ImportReport):
    """An ImportReport that also names the files found stored already, identical."""

    identical_files: list[str] = field(default_factory=list)
    import_run_id: int | None = None
    # The files rejected, each once: one problem may refuse a whole series (set by
    # _Ingest.finish(); until then, one a problem):
    rejected_files: int | None = None
    # The units committed that stored something ("image series", "segmentation
    # objects"), kept on the run as each commits (ImportRun.status_label):
    stored_units: Counter[str] = field(default_factory=Counter)

    def rejected_count(self) -> int:
        if self.rejected_files is None:
            return super().rejected_count()
        return self.rejected_files

    def summary(self) -> str:
        text = super().summary()
        if self.identical_files:
            shown = ", ".join(self.identical_files[:10])
            more = len(self.identical_files) - 10
            text += "\n  already present, identical (nothing written): " + shown
            text += f" and {more} more" if more > 0 else ""
        return text

    def as_dict(self) -> dict:
        return super().as_dict() | {
            "identical_files": len(self.identical_files),
            "rejected_files": self.rejected_count(),
            "stored_units": dict(self.stored_units),
        }


def ingest_dicom(
    path: Path,
    project: Project,
    *,
    user=None,
    progress: Progress | None = None,
) -> DicomReport:
    """Import the DICOM objects of a folder (recursively), a .zip archive or one file.

    Images are grouped into ImagingStudy and ImageSeries rows with their acquisition
    parameters, one ImageInstance per stored file; RTSTRUCT and SEG objects become
    Segmentation rows of the image series they delineate, after all images of the
    batch. Every object is de-identified (deid.py) and stored as a Part-10 file under
    BIOBANK_STORAGE_ROOT/<project>/<pseudonym>/<study UID>/<series UID>/<SOP UID>.dcm;
    the original is never stored.

    Each image series is stored in one transaction, and so is each segmentation
    object: a database error leaves none of it behind, files included. Files that
    cannot be read, objects already stored with other content and segmentations of
    images not in the biobank are rejected one by one, named in the report; the
    rest of the batch goes on. Identical objects already stored are counted as
    duplicates and nothing is written, so re-running a folder changes nothing.

    NB: an import pays a fixed cost whatever its size: the run record, the look-ups
    of the project's patients, studies and series, the de-identification table and
    a commit a series, about 20 statements and four commits. At a thousand files it
    is lost in the reading (0.5x to 0.63x of pydicom's header-only read); for one
    series of 59 files it is not (0.27x to 0.46x, BENCHMARKS.md, DICOM ingest).

    Parameters
    ----------
    path
        A folder, a .zip archive (refused whole when a member climbs out, is a link
        or an archive, or when it would unpack to too much: biobank/core/safefiles.py)
        or a single DICOM file.
    progress
        Called with (files done, files in all) after each file.

    Raises
    ------
    ImportRejected
        The path does not exist or is no readable or safe archive; nothing was read.
    """
    path = Path(path)
    if not path.exists():
        raise ImportRejected([Problem(path.name, Message("does not exist."))])

    report = DicomReport(source=path.name)
    fail_abandoned_runs()
    # The name is stored at the end, screened for the identifiers the batch holds:
    run = start_run(
        project=project,
        importer=IMPORTER,
        source_name="",
        source_sha256=file_sha256(path) if path.is_file() else "",
        user=user,
    )
    report.import_run_id = run.pk
    ingest = _Ingest(project, run, report, progress, path)
    try:
        with lenient_pydicom(), open_sources(path) as sources:
            ingest.run(sources)
    except zipfile.BadZipFile:
        ingest.reject(
            Problem(
                path.name,
                Message("is not a readable .zip archive."),
                code="bad-archive",
            )
        )
        ingest.finish(ImportRun.Status.FAILED)
        raise ImportRejected(report.rejected) from None
    except ImportRejected as exc:
        # An oversized or unsafe archive, refused before any member was read:
        for problem in exc.problems:
            ingest.reject(problem)
        ingest.finish(ImportRun.Status.FAILED)
        raise ImportRejected(report.rejected) from None
    except BaseException as exc:
        if isinstance(exc, _ConnectionLost) or is_connection_failure(exc):
            cut = exc.source if isinstance(exc, _ConnectionLost) else ""
            raise ingest.cut_off(cut) from None
        ingest.finish(ImportRun.Status.FAILED)
        raise

    ingest.finish(ImportRun.Status.DONE)
    logger.info("Import run %s of DICOM stored %s", run.pk, report.created)
    return report


class _ConnectionLost(Exception):
    """The database connection was lost while a unit (a series) of `source` was stored."""

    def __init__(self, source: str) -> None:
        super().__init__(source)
        self.source = source


# The attributes of a file's header that grouping, patient and study need, read as
# texts when the header is read, since the data set is de-identified in place later:
HEADER_FACTS = (
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SOPInstanceUID",
    "PatientID",
    "PatientSex",
    "PatientAge",
    "PatientName",
    "InstanceNumber",
    *(keyword for pair in STUDY_DATE_SOURCES for keyword in pair),
)
FACT_TAGS = {pydicom.datadict.tag_for_keyword(k): k for k in HEADER_FACTS}
# Files of a series that differ from its first file only in per-slice values are
# read and de-identified as bytes (fastlane.py); False reads every file with pydicom.
FAST_LANE = True
# Read beyond the longest header template seen, for a header a little longer (other
# per-slice values) and the tag after it, which compare() checks:
HEADER_ROOM = 4096
# What reading a series' first file and its copy as its template may raise: the
# series is then stored by pydicom, which reports what is wrong.
TEMPLATE_ERRORS = (
    fastlane.Unusual,
    OSError,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
)


@dataclass
class _Header:
    """A file read without its pixel data, and what kind of object it holds.

    `ds` becomes the whole data set when the file is loaded, and is let go (None)
    once the file is stored or turned away, so that a batch holds the pixels of
    one file at a time; `facts` stay, as the source file had them.
    """

    source: SourceFile
    ds: Dataset | None
    kind: str
    facts: dict[str, str] = field(default_factory=dict)
    study_date_state: str = ""
    # Its place among the batch's images, by which a worker process finds it (_BATCH):
    index: int = -1
    # Read as bytes by the fast lane, with the facts of an earlier file of its series:
    # no data set until read_slowly().
    fast: bool = False

    @classmethod
    def of(cls, source: SourceFile, ds: Dataset, kind: str) -> _Header:
        facts = {keyword: _text(ds, keyword) for keyword in HEADER_FACTS}
        return cls(source, ds, kind, facts, _state_of(ds, "StudyDate"))

    def text(self, keyword: str) -> str:
        return self.facts[keyword]


@dataclass
class _Issue:
    problem: Problem
    severity: str
    patient: Patient | None = None
    record: models.Model | None = None
    # The files a rejection refuses, when they are more than the problem's own (a
    # series refused whole), as read (unredacted), to count each file once:
    files: tuple[str, ...] = ()


@dataclass
class _Scope:
    """What one all-or-nothing unit wrote, to undo or to count once it is committed."""

    written: list[Path] = field(default_factory=list)
    created: Counter[str] = field(default_factory=Counter)
    deidentified: list[Decisions] = field(default_factory=list)
    # The patients (by PatientID) and studies (by source UID hash) it found or made:
    patients: dict[str, Patient] = field(default_factory=dict)
    studies: dict[str, ImagingStudy] = field(default_factory=dict)


class _Writer:
    """Writes the fast lane's files in a thread of its own, beside the importing one.

    Creating a file costs kernel time, which on a virtual machine varies from run to
    run by a factor of five and more (BENCHMARKS.md, "Reading the DICOM ingest
    results"); in a thread of its own it runs on another core while this one reads
    and compares the next files. The thread holds the interpreter lock only between
    system calls. At most PENDING files wait to be written, so memory stays bounded.
    wait() returns once every file handed over is written, or raises the first
    write's error: a series commits only after wait(), and is undone only after it.
    """

    PENDING = 64

    def __init__(self) -> None:
        self.executor: ThreadPoolExecutor | None = None
        self.pending: list[Future] = []
        self.checked = 0  # pending[:checked] ended without an error
        self.room = threading.Semaphore(self.PENDING)

    def write(self, target: Path, pieces: list[bytes | memoryview]) -> None:
        """Hand a file over; raise at once if one handed over before failed."""
        # The thread writes in order, so the writes ended are those up to the first
        # one not ended:
        while self.checked < len(self.pending) and self.pending[self.checked].done():
            if self.pending[self.checked].exception() is not None:
                self.wait()
            self.checked += 1
        if self.executor is None:
            self.executor = ThreadPoolExecutor(1, thread_name_prefix="dicom-writer")
        self.room.acquire()
        future = self.executor.submit(write_pieces, target, pieces)
        future.add_done_callback(lambda _: self.room.release())
        self.pending.append(future)

    def wait(self) -> None:
        """Wait for every file handed over; raise the first error of their writes."""
        pending, self.pending, self.checked = self.pending, [], 0
        errors = [future.exception() for future in pending]  # each once it ended
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Wait for the files handed over, whatever became of them, and end the thread."""
        with suppress(Exception):
            self.wait()
        if self.executor is not None:
            self.executor.shutdown()
            self.executor = None


@dataclass
class _Loaded:
    """A whole file read for storing, with the keys that tell whether it is stored already."""

    ds: Dataset
    content_sha256: str
    source_uid_hash: str


@dataclass
class _Series:
    """One image series while its files are stored: what the files of it share."""

    first: _Header
    study_headers: list[_Header]
    series: ImageSeries | None
    patient: Patient | None
    # (content hash, de-identified SOP Instance UID) of the stored files, by source UID hash:
    stored: dict[str, tuple[str, str]]
    # The rows of the files written, inserted together once all are written:
    rows: list[ImageInstance] = field(default_factory=list)
    is_new: bool = False  # the series was made by this import
    # The series' first file stored, which the fast lane copies others after:
    template: fastlane.SeriesTemplate | None = None
    template_tried: bool = False


@dataclass(frozen=True)
class _Instance:
    """What the row of one stored file holds."""

    source_uid_hash: str
    content_sha256: str
    sop_instance_uid: str
    sop_class_uid: str
    instance_number: int | None
    relative: str  # its path under BIOBANK_STORAGE_ROOT


@dataclass(frozen=True)
class _Job:
    """What the worker processes need to store the files of one series."""

    project_code: str
    pseudonym: str
    storage_root: str
    # The series' folder under the storage root; "" for a new series, whose folder
    # is made from the de-identified UIDs as create_series() makes it:
    folder: str
    # Return series_facts() of the first file of each part that is de-identified:
    describe: bool
    # (The batch's screen is no part of it: the workers inherit it, _SCREEN.)


@dataclass(frozen=True)
class _Task:
    index: int  # the header's place in _BATCH
    store: bool  # False: only read and hash it (see store_files_in_pool())
    # Its SOP Instance UID as the header phase read it, and whether the fast lane
    # may store it (pydicom said nothing about it while its header was read):
    sop_instance_uid: str = ""
    fast: bool = False


@dataclass
class _Stored:
    """What a worker process made of one file: no data set, no identifier.

    Only what the main process records: the keys and row of the file, the
    de-identification decisions, and the problems and pydicom's messages, which
    name the file as the main process does and are screened there like any other.
    """

    index: int
    said: list[Counter[str]] = field(default_factory=list)
    unreadable: Problem | None = None
    content_sha256: str = ""
    # Set once the file is de-identified (a task to store it, and readable):
    decisions: Decisions | None = None
    warnings: list[Problem] = field(default_factory=list)
    facts: dict[str, object] | None = None
    unwritable: Problem | None = None
    sop_instance_uid: str = ""
    sop_class_uid: str = ""
    instance_number: int | None = None
    relative: str = ""

    fast: bool = False  # stored by the fast lane (the tests count them)

    @property
    def is_written(self) -> bool:
        return bool(self.relative) and self.unwritable is None


class _Rejected(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


class _Ingest:
    """One run over a batch of files: images first, then segmentations."""

    def __init__(
        self,
        project: Project,
        run: ImportRun,
        report: DicomReport,
        progress: Progress | None,
        root: Path,
    ) -> None:
        self.project = project
        self.import_run = run
        self.report = report
        self.progress = progress
        self.root = root
        # The identifiers of every patient of the batch, to keep them out of the run
        # (read from the headers). Patients of earlier imports are known by the keyed
        # hash of their source ID only (no name is kept): kept values are screened
        # for those IDs (run(), KnownPatients), file names and messages are not.
        self.screen = BatchScreen()
        self.issues: list[_Issue] = []
        # What pydicom said about each file: (file, message) -> times, at most per read.
        self.library: dict[tuple[str, str], int] = {}
        self.said: set[str] = set()  # the files pydicom said anything about
        self.done = 0
        self.total = 0
        # What de-identification did, by file until the file is stored, then by run:
        self.decisions: dict[str, Decisions] = {}
        self.deidentified = DeidentificationReport()
        self.workers = 1  # processes that store the images (start_pool())
        self.fast = FAST_LANE
        # The file naming the last unit (series, segmentation) committed that stored
        # anything, for the message of an import the database cuts off:
        self.last_committed = ""
        # The first image of each series read by pydicom, as bytes and as a header,
        # by fastlane.Parsed.series_key():
        self.header_templates: dict[tuple, tuple[fastlane.Parsed, _Header]] = {}
        self.last_header_template: tuple[fastlane.Parsed, _Header] | None = None
        # How many bytes of a file the header phase reads first (read_header()):
        self.header_bytes = 0
        self.uid_hashes: dict[str, str] = {}  # hash()
        # The batch's image series and files stored when the run began, by source UID
        # hash (look_up_stored()); `ahead` holds the keys looked up, `touched` those
        # this run may have stored since, which are looked up again when asked for:
        self.stored_series: dict[str, ImageSeries] = {}
        self.stored_files: dict[str, tuple[str, str]] = {}
        self.ahead: set[str] = set()
        self.touched: set[str] = set()
        # The batch's patients (by PatientID) and studies (by source UID hash) as
        # look_up_stored() found them, None for one not stored, and as series this
        # run committed found or made them; one missing is looked up when asked for:
        self.patients: dict[str, Patient | None] = {}
        self.studies: dict[str, ImagingStudy | None] = {}
        self.writer = _Writer()  # the fast lane's files, in process

    def warn(
        self,
        problem: Problem,
        patient: Patient | None = None,
        record: models.Model | None = None,
    ) -> None:
        self.issues.append(_Issue(problem, DataIssue.Severity.WARNING, patient, record))

    def reject(
        self,
        problem: Problem,
        patient: Patient | None = None,
        files: list[_Header] | None = None,
    ) -> None:
        """Record a rejection of the problem's file, or of all `files` (a series)."""
        names = tuple(header.source.name for header in files or ())
        self.issues.append(
            _Issue(problem, DataIssue.Severity.ERROR, patient, files=names)
        )

    def step(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)

    def hash(self, uid: str) -> str:
        """source_uid_hash() of a UID, worked out once (a file's is asked for twice)."""
        found = self.uid_hashes.get(uid)
        if found is None:
            found = self.uid_hashes[uid] = source_uid_hash(self.project.code, uid)
        return found

    @contextmanager
    def library_warnings(self, source: str) -> Iterator[None]:
        """Hold back pydicom's warnings about one file, to report them in finish()."""
        messages: Counter[str] = Counter()
        try:
            with library_messages() as messages:
                yield
        finally:
            self.note_library(source, messages)

    def note_library(self, source: str, messages: Counter[str]) -> None:
        if messages:
            self.said.add(source)
        for message, n in messages.items():
            key = (source, self.relative(message))
            # A file is read twice (header, then whole); a warning of both is one.
            self.library[key] = max(self.library.get(key, 0), n)

    def relative(self, message: str) -> str:
        """Return the message with the input's own path cut to its name within it."""
        # The absolute path first, so that its parent folders go with it:
        for root in sorted({str(self.root), str(self.root.absolute())}, key=len)[::-1]:
            if self.root.is_dir():
                # x/PID-1/a.dcm becomes PID-1/a.dcm, as the file is named in the report:
                message = re.sub(rf"(?<![\w.]){re.escape(root + os.sep)}", "", message)
            else:
                message = re.sub(
                    rf"(?<![\w.]){re.escape(root)}", self.root.name, message
                )
        return message

    def run(self, sources: list[SourceFile]) -> None:
        self.total = len(sources)
        series: dict[tuple[str, str], list[_Header]] = defaultdict(list)
        studies: dict[str, list[_Header]] = defaultdict(list)
        segmentations: list[_Header] = []
        headers: list[_Header] = []
        for source in sources:
            header = self.read_header(source)
            if header is None:
                self.step()
                continue
            headers.append(header)
            if header.kind == IMAGE:
                series[
                    header.text("StudyInstanceUID"), header.text("SeriesInstanceUID")
                ].append(header)
                studies[header.text("StudyInstanceUID")].append(header)
            else:
                segmentations.append(header)

        self.screen.earlier = KnownPatients.of_project(
            self.project.code, self.project.pk
        )
        self.look_up_stored(series)
        pool = None
        try:
            # Inside the try: start_pool() fills _BATCH and _SCREEN before it builds
            # the pool, and the pool's constructor can fail (no /dev/shm); the
            # finally then still clears them of the batch's patient identifiers.
            pool = self.start_pool([h for files in series.values() for h in files])
            for key in sorted(series):
                self.store_series(series[key], studies[key[0]], pool)
        finally:
            _BATCH.clear()
            _SCREEN.clear()
            self.writer.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        # Segmentations last, so that the images they reference are stored:
        for header in segmentations:
            self.store_segmentation(header)
        self.check_patient_names(headers)

    def check_patient_names(self, headers: list[_Header]) -> None:
        """Warn of files whose PatientName differs from an earlier file's with their PatientID.

        They are imported as one patient all the same, as the PatientID says; the
        warning names both files and neither name. Names compare as PS3.5 6.2 reads
        them: case, padding and trailing empty components aside. A file without a
        name differs from none. One warning per other name, naming the first file
        that has it and counting the rest. None for files all stored already: they
        were warned about when they were stored, as were their other warnings.
        """
        present = set(self.report.identical_files)
        first_named: dict[str, tuple[str, str]] = {}
        others: dict[tuple[str, str], list[str]] = defaultdict(list)
        for header in headers:
            name = _comparable_name(header.text("PatientName"))
            if not name:
                continue
            patient_id = header.text("PatientID")
            first = first_named.setdefault(patient_id, (name, header.source.name))
            if name != first[0]:
                others[patient_id, name].append(header.source.name)

        for (patient_id, _name), files in others.items():
            if present.issuperset([first_named[patient_id][1], *files]):
                continue
            more = len(files) - 1
            self.warn(
                Problem(
                    files[0],
                    Message(
                        "has another PatientName than {first}, though the same "
                        "PatientID, which makes them one patient: check that they are "
                        "(the names are not shown).{more}",
                        first=first_named[patient_id][1],
                        more=Message(
                            " The same holds for {more} more files with its name.",
                            more=more,
                        )
                        if more
                        else Message(""),
                    ),
                    field=tag_name(PATIENT_NAME_TAG),
                    code="patient-name-mismatch",
                ),
                find_patient(self.project, patient_id),
            )

    def start_pool(self, images: list[_Header]) -> ProcessPoolExecutor | None:
        """Return the worker processes that store the batch's images; None: in process.

        BIOBANK_DICOM_WORKERS processes, for a batch of BIOBANK_DICOM_POOL_MIN_FILES
        images or more. They are forked, and so inherit the headers read (_BATCH),
        the batch's screen, complete once the headers are read, with the stored
        patients' keys ready to look up (_SCREEN), pydicom's settings and
        BIOBANK_STORAGE_ROOT. Forking a process that runs
        other threads could leave a worker waiting for a lock that no thread of it
        will release, so such a process (a threaded web server running the import)
        stores in process, as it does where there is no fork.
        """
        workers = min(settings.BIOBANK_DICOM_WORKERS, len(images))
        if workers < 2 or len(images) < settings.BIOBANK_DICOM_POOL_MIN_FILES:
            return None
        if (
            "fork" not in multiprocessing.get_all_start_methods()
            # multiprocessing lets a daemonic process have no children:
            or multiprocessing.current_process().daemon
        ):
            return None
        if threading.active_count() > 1:
            logger.info(
                "Import run %s: storing in process, since this process runs %s threads",
                self.import_run.pk,
                threading.active_count(),
            )
            return None
        _BATCH[:] = [(header.source, header.ds) for header in images]
        self.screen.prepare()
        _SCREEN[:] = [self.screen]
        for index, header in enumerate(images):
            header.index = index
        self.workers = workers
        logger.info(
            "Import run %s: %s images stored by %s processes",
            self.import_run.pk,
            len(images),
            workers,
        )
        # gc.freeze(): the workers' collections leave the objects they inherit alone,
        # instead of touching (and so copying) every page of them.
        return ProcessPoolExecutor(
            workers, multiprocessing.get_context("fork"), initializer=gc.freeze
        )

    def read_header(self, source: SourceFile) -> _Header | None:
        # The file's first bytes only, where its header is as long as those of the
        # series read before (a CT slice's pixels are 0.5 MB the header phase skips):
        size = self.header_bytes or None
        data = self.read_bytes(source, size) if self.fast else None
        if data is not None:
            complete = size is None or len(data) < size
            header = self.fast_header(source, data, complete)
            if header is not None:
                return header
            if not complete:
                data = self.read_bytes(source)
        header = self.read_header_slowly(source)
        if (
            data is not None
            and header is not None
            and header.kind == IMAGE
            and source.name not in self.said
        ):
            # The first image of its series read: later ones are compared with it.
            try:
                parsed = fastlane.parse(data, header_only=True)
            except (fastlane.Unusual, struct.error):
                return header
            key = parsed.series_key()
            if key is not None and key not in self.header_templates:
                template = parsed.header_part()
                self.header_templates[key] = (template, header)
                self.last_header_template = self.header_templates[key]
                self.header_bytes = max(
                    self.header_bytes, len(template.data) + HEADER_ROOM
                )
        return header

    @staticmethod
    def read_bytes(source: SourceFile, size: int | None = None) -> bytes | None:
        """Return the file's bytes, or its first `size` bytes; None if it cannot be read."""
        try:
            with source.open() as handle:
                return handle.read(size) if size is not None else handle.read()
        except OSError:
            return None  # read_header_slowly() says why

    def fast_header(
        self, source: SourceFile, data: bytes, complete: bool = True
    ) -> _Header | None:
        """Return the header of a file like an earlier one of its series, read as bytes.

        None unless its elements differ from that file's only in per-slice values
        (fastlane.header_may_differ), so that every check read_header_slowly() makes
        and every fact it reads would come out the same; the SOP Instance UID,
        instance number and per-slice dates and times are its own. `complete`:
        `data` holds the whole file, not its first bytes only.
        """
        found = self.compared_header(data, complete)
        if found is None:
            return None
        parsed, (template, first) = found
        tags = list(parsed.elements)
        if not all(
            fastlane.header_may_differ(parsed, tag, template, FACT_TAGS) for tag in tags
        ):
            return None
        facts = first.facts | fastlane.header_facts(parsed, tags, FACT_TAGS)
        return _Header(source, None, IMAGE, facts, first.study_date_state, fast=True)

    def compared_header(
        self, data: bytes, complete: bool = True
    ) -> tuple[fastlane.Parsed, tuple[fastlane.Parsed, _Header]] | None:
        """Return the file's header compared with the first of its series read, and that one.

        The series of the file before is tried first: files of a series mostly come
        one after another.
        """
        last = self.last_header_template
        try:
            if last is not None:
                try:
                    parsed = fastlane.compare(
                        data, last[0], header_only=True, complete=complete
                    )
                except fastlane.Unusual:
                    pass
                else:
                    if not any(tag in parsed.elements for tag in fastlane.SERIES_KEY):
                        return parsed, last
            key = fastlane.series_key(data)
            found = self.header_templates.get(key) if key is not None else None
            if found is None:
                return None
            self.last_header_template = found
            parsed = fastlane.compare(
                data, found[0], header_only=True, complete=complete
            )
            return parsed, found
        except (fastlane.Unusual, struct.error):
            return None

    def read_slowly(self, header: _Header) -> None:
        """Give a header read by the fast lane its data set, read by pydicom.

        Left without one when pydicom cannot read it: load() reads the file again
        and reports why.
        """
        header.fast = False
        try:
            with self.library_warnings(header.source.name):
                header.ds = read_dataset(header.source, header_only=True)
        except UnreadableFile:
            header.ds = None

    def read_header_slowly(self, source: SourceFile) -> _Header | None:
        try:
            with self.library_warnings(source.name):
                ds = read_dataset(source, header_only=True)
        except UnreadableFile as exc:
            problem = Problem(source.name, exc.message, code=exc.code)
            if exc.code == "dicomdir":
                self.warn(problem)
            else:
                self.reject(problem)
            return None

        self.screen.add_patient(ds)
        sop_class = UID(_text(ds, "SOPClassUID"))
        kind = SEGMENTATION_CLASSES.get(sop_class) or (IMAGE if "Rows" in ds else "")
        if not kind:
            self.reject(
                Problem(
                    source.name,
                    Message(
                        "is a {sop_class} object, not an image, RTSTRUCT or SEG; not imported.",
                        sop_class=_uid_name(sop_class),
                    ),
                    code="unsupported-object",
                )
            )
            return None
        if not _text(ds, "PatientID"):
            self.reject(
                Problem(
                    source.name,
                    Message(
                        "has no PatientID; it cannot be linked to a patient. Not imported."
                    ),
                    field=tag_name(0x00100020),
                    code="no-patient-id",
                )
            )
            return None
        if kind == IMAGE and _text(ds, "BurnedInAnnotation").upper() == "YES":
            # The Clean Pixel Data option is not implemented, so such pixels stay out:
            self.reject(
                Problem(
                    source.name,
                    Message(
                        "says its pixels show identifying text (BurnedInAnnotation YES); not imported."
                    ),
                    field=tag_name(0x00280301),
                    code="burned-in-annotation",
                )
            )
            return None
        unreadable = _pixel_count_refused(ds)
        if unreadable is not None:
            tag, value = unreadable
            self.reject(
                Problem(
                    source.name,
                    Message(
                        "has no whole number of at least 1 in {field}, by which its "
                        "pixels are read; not imported.",
                        field=Message.own(tag_name(tag)),
                    ),
                    field=tag_name(tag),
                    value=value,
                    code="invalid-number",
                )
            )
            return None
        return _Header.of(source, ds, kind)

    @contextmanager
    def all_or_nothing(
        self,
        what: Message,
        unit: str,
        source_name: str,
        files: list[_Header] | None = None,
    ) -> Iterator[_Scope]:
        """Run the body in one transaction; on failure undo its files and report it.

        `unit`: what the body stores, counted in words once committed ("image
        series"). `files`: those of the series it stores, all refused when it fails.
        A unit that stores anything records on the run, in its transaction, what
        the run has stored so far, which stays if the process is killed later.

        NB: files are written before the transaction commits, and removed again when
        it fails. A caller that wraps the whole import in its own transaction and rolls
        that back leaves the files behind, referenced by no row.
        """
        scope = _Scope()
        mark = len(self.issues)
        try:
            with transaction.atomic():
                try:
                    yield scope
                except BaseException:
                    # Undone below only once the files handed over are written:
                    with suppress(Exception):
                        self.writer.wait()
                    raise
                # Committed only once its files are written:
                self.writer.wait()
                if any(scope.created.values()):
                    self.record_progress(unit, scope)
        except (_Rejected, DatabaseError, OSError) as exc:
            if is_connection_failure(exc):
                # Every unit after it would fail alike: the import stops here.
                remove_written(scope.written)
                raise _ConnectionLost(source_name) from None
            if isinstance(exc, _Rejected):
                problem = exc.problem
            else:
                # Screened like every other line: a message may quote a value.
                logger.error(
                    "Import run %s: %s rolled back\n%s",
                    self.import_run.pk,
                    what,
                    self.screen.redact(traceback.format_exc()),
                )
                problem = Problem(
                    source_name,
                    Message(
                        "{what} was not imported: storing it failed ({error}); "
                        "nothing of it was kept.",
                        what=what,
                        error=Message.own(type(exc).__name__),
                    ),
                    code="storage-failed",
                )
            remove_written(scope.written)
            for issue in self.issues[mark:]:
                issue.patient = issue.record = None
            # A study it changed may hold what was rolled back: looked up again.
            for key in scope.studies:
                self.studies.pop(key, None)
            self.reject(problem, files=files)
        except BaseException:
            # The import stops (a bug, a worker process killed, ^C): no file of the
            # rolled back series stays behind either.
            remove_written(scope.written)
            raise
        else:
            if any(scope.created.values()):
                self.last_committed = source_name
                self.report.stored_units[unit] += 1
            self.patients.update(scope.patients)
            self.studies.update(scope.studies)
            for kind, n in scope.created.items():
                self.report.count(kind, n)
            # The files stored fast share their template's decisions, added up once:
            files: dict[int, list] = {}
            for decisions in scope.deidentified:
                files.setdefault(id(decisions), [decisions, 0])[1] += 1
            for decisions, n in files.values():
                self.deidentified.add(decisions, n)
        self.merge_repeated(mark)

    def record_progress(self, unit: str, scope: _Scope) -> None:
        """Write what the run stored, this unit included, on its row (one UPDATE)."""
        created = Counter(self.report.created) + scope.created
        units = self.report.stored_units + Counter({unit: 1})
        ImportRun.objects.filter(pk=self.import_run.pk).update(
            summary={"created": dict(created), "stored_units": dict(units)}
        )

    def merge_repeated(self, mark: int) -> None:
        """Fold warnings repeated by several files of one series into the first one."""
        merged: dict[tuple, tuple[_Issue, int]] = {}
        kept: list[_Issue] = []
        for issue in self.issues[mark:]:
            p = issue.problem
            key = (issue.severity, p.code, p.field, p.value, p.message)
            if issue.severity != DataIssue.Severity.WARNING:
                kept.append(issue)
            elif key in merged:
                first, n = merged[key]
                merged[key] = (first, n + 1)
            else:
                merged[key] = (issue, 1)
                kept.append(issue)
        for first, n in merged.values():
            if n > 1:
                p = first.problem
                first.problem = Problem(
                    p.source,
                    Message(
                        "{message} The same holds for {more} more files of this series.",
                        message=p.message,
                        more=n - 1,
                    ),
                    p.row,
                    p.field,
                    p.value,
                    p.code,
                )
        self.issues[mark:] = kept

    # Images:

    def store_series(
        self,
        headers: list[_Header],
        study_headers: list[_Header],
        pool: ProcessPoolExecutor | None = None,
    ) -> None:
        headers.sort(key=lambda h: (_int(h.text("InstanceNumber")) or 0, h.source.name))
        if self.of_several_patients(headers, study_headers):
            return
        if headers[0].fast:
            # The first file is stored by pydicom, and the others after it:
            self.read_slowly(headers[0])
        with self.all_or_nothing(
            Message("its series"), "image series", headers[0].source.name, headers
        ) as scope:
            first = headers[0]
            key = self.hash(first.text("SeriesInstanceUID"))
            series = self.looked_up({key}, self.stored_series, find_series).get(key)
            patient = series.study.patient if series is not None else None
            if patient is not None and patient != self.stored_patient(
                first.text("PatientID"), scope
            ):
                for header in headers:
                    header.ds = None
                    self.step()
                self.reject(
                    Problem(
                        first.source.name,
                        Message(
                            "belongs to a series stored for another patient; its {n} "
                            "files were not imported.",
                            n=len(headers),
                        ),
                        field=tag_name(0x00100020),
                        code="patient-mismatch",
                    ),
                    files=headers,
                )
                return
            if series is not None and not self.may_write_under(series, headers):
                return
            state = _Series(
                first, study_headers, series, patient, self.stored_instances(headers)
            )
            if pool is None:
                for header in headers:
                    self.step()
                    self.store_file(header, state, scope)
            else:
                self.store_files_in_pool(pool, headers, state, scope)
            self.insert_instances(state, scope)

    def may_write_under(self, series: ImageSeries, headers: list[_Header]) -> bool:
        """Tell whether new files of a stored series may go into its folder; reject them if not.

        The folder was made by an import, but a database edited by hand could hold a
        path out of the storage root (biobank.core.storage), which is never written.
        """
        try:
            check_storage_path(series.storage_path)
        except StoragePathRefused as refused:
            for header in headers:
                header.ds = None
                self.step()
            self.reject(
                Problem(
                    headers[0].source.name,
                    Message(
                        "belongs to a stored series whose folder is refused ({reason}); "
                        "its {n} files were not imported.",
                        reason=Message.own(str(refused)),
                        n=len(headers),
                    ),
                    code="storage-failed",
                ),
                files=headers,
            )
            return False
        return True

    def of_several_patients(
        self, headers: list[_Header], study_headers: list[_Header]
    ) -> bool:
        """Reject the whole series when its files, or its study's, name several patients.

        A series and a study are of one patient (PS3.3 C.7.2.1, C.7.3.1). Which
        PatientID is right only a curator can tell, so no file is stored, rather
        than all under whichever file happens to sort first: a file of another
        patient must never be stored as this one's. The problem counts the files of
        each PatientID and names the first of each, never the IDs.
        """
        groups, what = _files_by_patient(headers), "series"
        if len(groups) == 1:
            groups, what = _files_by_patient(study_headers), "study"
        if len(groups) == 1:
            return False

        for header in headers:
            header.ds = None
            self.step()
        none_of = (
            Message("none of its files was imported")
            if what == "series"
            else Message(
                "none of the {n} files of this series was imported", n=len(headers)
            )
        )
        self.reject(
            Problem(
                headers[0].source.name,
                Message(
                    "belongs to a {what} whose {n} files name {patients} patients in "
                    "PatientID (0010,0020): {counts}. A {what} is of one patient, so "
                    "{none_of}; sort them by patient and import them again.",
                    what=Message.own(what),
                    n=sum(len(names) for names in groups),
                    patients=len(groups),
                    counts=_counts_by_patient(groups),
                    none_of=none_of,
                ),
                field=tag_name(0x00100020),
                code="patient-mismatch",
            ),
            files=headers,
        )
        return True

    def store_file(self, header: _Header, state: _Series, scope: _Scope) -> None:
        """Read, de-identify and write one file of the series in this process."""
        name = header.source.name
        if (
            state.template is not None
            and name not in self.said
            and self.store_fast(header, state, scope)
        ):
            header.ds = None
            return
        if header.fast:
            self.read_slowly(header)
        loaded = self.load(header, state.stored)
        if loaded is None:
            return
        patient = self.patient_of(state, scope)
        transfer_syntax, cleaned = self.clean(loaded.ds, header.source.name, patient)
        if state.series is None:
            # Read from a copy of the element table: converting a value to read it
            # would make dcmwrite() encode it again instead of copying its bytes.
            facts = series_facts(Dataset(dict(loaded.ds.items())), header.source.name)
            state.series = self.create_series(state, facts, scope)
        ds = loaded.ds
        relative = PurePosixPath(
            state.series.storage_path, f"{_text(ds, 'SOPInstanceUID')}.dcm"
        )
        if self.write(header.source.name, ds, transfer_syntax, relative, scope):
            instance = _Instance(
                loaded.source_uid_hash,
                loaded.content_sha256,
                _text(ds, "SOPInstanceUID"),
                _text(ds, "SOPClassUID"),
                _int(ds.get("InstanceNumber")),
                str(relative),
            )
            self.add_instance(state, scope, instance)
            if self.fast and not state.template_tried:
                state.template_tried = True
                state.template = self.series_template(header, instance, scope, cleaned)

    def series_template(
        self,
        header: _Header,
        instance: _Instance,
        scope: _Scope,
        cleaned: list[Problem],
    ) -> fastlane.SeriesTemplate | None:
        """Return the fast lane's template of the series from its first file stored.

        None when pydicom said anything about the file, or the fast lane cannot
        follow it (fastlane.SeriesTemplate.of): the series is then stored by pydicom.
        What de-identifying it gave as warnings (`cleaned`) came from elements the
        files stored fast share with it, and is given for each of them too.
        """
        if header.source.name in self.said:
            return None
        try:
            return read_template(
                self.project.code,
                header.source,
                settings.BIOBANK_STORAGE_ROOT,
                instance,
                scope.deidentified[-1],
                cleaned,
            )
        except TEMPLATE_ERRORS as exc:
            # The series is then stored by pydicom, which reports what is wrong. Only
            # the fast lane's own reasons are logged: others may quote a value.
            reason = exc if isinstance(exc, fastlane.Unusual) else type(exc).__name__
            logger.debug("Import run %s: no fast lane (%s)", self.import_run.pk, reason)
            return None

    def store_fast(self, header: _Header, state: _Series, scope: _Scope) -> bool:
        """Store a file as the copy of the series' template with its own per-slice values.

        False, having done nothing, when the file differs from the template in any
        way that de-identification might treat otherwise (fastlane.SeriesTemplate):
        the caller stores it by pydicom.
        """
        template = state.template
        uid = header.text("SOPInstanceUID")
        matched = fast_match(template, header.source, uid)
        if matched is None:
            return False
        parsed, plan = matched

        digest = template.content_sha256(parsed, plan)
        key = self.hash(uid)
        if not self.is_new(header.source.name, key, digest, state.stored):
            return True
        new_uid = replacement_uid(self.project.code, uid)
        relative = f"{state.series.storage_path}/{new_uid}.dcm"
        target = Path(settings.BIOBANK_STORAGE_ROOT, relative)
        for problem in template.problems:
            self.warn(
                dataclasses.replace(problem, source=header.source.name), state.patient
            )
        scope.written.append(target)  # removed again if the series fails
        self.writer.write(target, template.copy_of(parsed, plan, new_uid))
        scope.deidentified.append(template.decisions)
        self.add_instance(
            state,
            scope,
            _Instance(
                key,
                digest,
                new_uid,
                template.sop_class_uid,
                template.instance_number_of(parsed, plan),
                relative,
            ),
        )
        return True

    def store_files_in_pool(
        self,
        pool: ProcessPoolExecutor,
        headers: list[_Header],
        state: _Series,
        scope: _Scope,
    ) -> None:
        """Read, de-identify and write the series' files in the worker processes.

        The workers return what each file gave (_Stored); this process then takes
        the files in the order store_file() would, and does what it would with
        them: reports, study and series rows, the rows of the instances. A file
        whose SOP Instance UID an earlier file of the series has too is only read
        and hashed there: whether it is a duplicate depends on how the earlier one
        fares, so, when that one was not stored, it is stored here, in process.

        The workers need the patient's pseudonym, so the patient is found or made
        first, and dropped again (to a savepoint) when no file of the series gets
        as far as store_file() would have made it.
        """
        # (None when the patient is stored: nothing to undo, two statements fewer.)
        savepoint = None
        patient_id = state.first.text("PatientID")
        if state.patient is None and self.stored_patient(patient_id, scope) is None:
            savepoint = transaction.savepoint()
        patients_before = scope.created["patients"]
        patient = self.patient_of(state, scope)
        tasks, keys = [], set()
        for header in headers:
            key = self.hash(header.text("SOPInstanceUID"))
            tasks.append(
                _Task(
                    header.index,
                    store=key not in state.stored and key not in keys,
                    sop_instance_uid=header.text("SOPInstanceUID"),
                    fast=self.fast and header.source.name not in self.said,
                )
            )
            keys.add(key)
        job = _Job(
            project_code=self.project.code,
            pseudonym=patient.pseudonym,
            storage_root=str(settings.BIOBANK_STORAGE_ROOT),
            folder=state.series.storage_path if state.series is not None else "",
            describe=state.series is None,
        )
        results = self.run_in_pool(pool, job, tasks, scope)

        loaded = False
        for header in headers:
            self.step()
            name, result = header.source.name, results[header.index]
            for said in result.said:
                self.note_library(name, said)
            if result.unreadable is not None:
                header.ds = None
                self.reject(result.unreadable)
                continue
            key = self.hash(header.text("SOPInstanceUID"))
            if not self.is_new(name, key, result.content_sha256, state.stored):
                header.ds = None
                continue
            loaded = True
            if result.decisions is None:
                # Only read: the earlier file with its SOP Instance UID was not stored.
                self.store_file(header, state, scope)
                continue
            header.ds = None
            for problem in result.warnings:
                self.warn(problem, patient)
            if state.series is None:
                state.series = self.create_series(state, result.facts, scope)
            if result.unwritable is not None:
                self.reject(result.unwritable)
                continue
            # (run_in_pool() has put the file among those the scope wrote.)
            scope.deidentified.append(result.decisions)
            self.add_instance(
                state,
                scope,
                _Instance(
                    key,
                    result.content_sha256,
                    result.sop_instance_uid,
                    result.sop_class_uid,
                    result.instance_number,
                    result.relative,
                ),
            )
        if savepoint is not None and not loaded:
            transaction.savepoint_rollback(savepoint)
            state.patient = None
            # Made under the savepoint, so gone with it: not to be found again.
            scope.patients.pop(patient_id, None)
            if scope.created["patients"] > patients_before:
                scope.created["patients"] -= 1
                if not scope.created["patients"]:
                    del scope.created["patients"]
        elif savepoint is not None:
            transaction.savepoint_commit(savepoint)

    def run_in_pool(
        self,
        pool: ProcessPoolExecutor,
        job: _Job,
        tasks: list[_Task],
        scope: _Scope,
    ) -> dict[int, _Stored]:
        """Return what the workers made of the files, by their index in the batch.

        When one part fails, the others are still waited for, and the files they
        wrote are added to the scope's, for all_or_nothing() to remove.
        """
        # About four parts a worker, so that one slow part does not keep the rest
        # waiting; one with the fast lane, whose first file of each part is slow:
        parts = self.workers if self.fast else self.workers * 4
        size = max(1, -(-len(tasks) // parts))
        futures = [
            pool.submit(_store_files, job, tasks[start : start + size])
            for start in range(0, len(tasks), size)
        ]
        # The workers have their copies of the batch's headers once they are forked:
        _BATCH.clear()
        results: dict[int, _Stored] = {}
        failure: BaseException | None = None
        for future in futures:
            try:
                part = future.result()
            except BaseException as exc:  # noqa: BLE001 - raised again below
                failure = failure or exc
                continue
            for result in part:
                results[result.index] = result
                if result.is_written:
                    scope.written.append(Path(job.storage_root) / result.relative)
        if failure is not None:
            raise failure
        return results

    def insert_instances(self, state: _Series, scope: _Scope) -> None:
        """Insert the series if new, with its count, then the rows of its files written.

        The rows go in one statement; a series stored already gets its new count.
        """
        series = state.series
        if series is None:
            return
        if state.is_new:
            series.instance_count = len(state.rows)
            series.save(force_insert=True)
        if not state.rows:
            return
        ImageInstance.objects.bulk_create(state.rows)
        if not state.is_new:
            series.instance_count = series.instances.count()
            series.save(update_fields=["instance_count"])
        logger.info(
            "Series %s of %s: %s stored",
            series.pk,
            state.patient.pseudonym,
            counted(len(state.rows), "instances"),
        )

    def add_instance(self, state: _Series, scope: _Scope, instance: _Instance) -> None:
        state.rows.append(
            ImageInstance(
                series=state.series,
                sop_instance_uid=instance.sop_instance_uid,
                source_uid_hash=instance.source_uid_hash,
                content_sha256=instance.content_sha256,
                sop_class_uid=instance.sop_class_uid,
                instance_number=instance.instance_number,
                storage_path=instance.relative,
            )
        )
        scope.created["instances"] += 1
        # A later file of the batch with the same SOP Instance UID:
        state.stored[instance.source_uid_hash] = (
            instance.content_sha256,
            instance.sop_instance_uid,
        )

    def look_up_stored(self, series: dict[tuple[str, str], list[_Header]]) -> None:
        """Look up which of the batch's image series, files, studies and patients are
        stored, in a few queries instead of four a series.

        NB: an import running at the same time may store one of them after this; the
        database's unique source UID hashes then refuse the second, whose series is
        rolled back (storage-failed), as when both imports look it up at the same
        moment. A patient is the exception: add_patient() finds the other's.
        """
        series_keys = {self.hash(series_uid) for _study, series_uid in series}
        file_keys = {
            self.hash(header.text("SOPInstanceUID"))
            for headers in series.values()
            for header in headers
        }
        self.stored_series = find_series(series_keys)
        self.stored_files = find_files(file_keys)
        self.ahead = series_keys | file_keys
        patient_ids = {headers[0].text("PatientID") for headers in series.values()}
        self.patients = dict.fromkeys(patient_ids)
        # Only those whose key the project's stored patients hold (run() read them):
        earlier = self.screen.earlier
        stored = {i for i in patient_ids if earlier is None or earlier.is_key(i)}
        if stored:
            self.patients.update(find_patients(self.project, stored))
        study_keys = {self.hash(study_uid) for study_uid, _series in series}
        self.studies = dict.fromkeys(study_keys)
        self.studies.update(find_studies(study_keys))

    def stored_instances(self, headers: list[_Header]) -> dict[str, tuple[str, str]]:
        """Return (content hash, SOP Instance UID) of the series' files stored already.

        Keyed by source UID hash; as look_up_stored() found them, or one query for
        the whole series when this run may have stored one of them since.
        """
        keys = {self.hash(header.text("SOPInstanceUID")) for header in headers}
        return self.looked_up(keys, self.stored_files, find_files)

    def looked_up(
        self,
        keys: set[str],
        ahead: dict[str, T],
        find: Callable[[Collection[str]], dict[str, T]],
    ) -> dict[str, T]:
        """Return the stored records of these keys: from `ahead`, what look_up_stored()
        found, unless this run may have stored one of them since; then from `find`.
        """
        if keys <= self.ahead and not keys & self.touched:
            found = {key: ahead[key] for key in keys & ahead.keys()}
        else:
            found = find(keys)
        self.touched |= keys
        return found

    def load(
        self,
        header: _Header,
        stored: dict[str, tuple[str, str]] | None = None,
        *,
        pass_identical: bool = False,
    ) -> _Loaded | None:
        """Read the rest of the file; None when it is unreadable or stored already.

        `stored` holds what stored_instances() found for an image series; without it
        the file is looked up among the stored segmentation objects. With
        `pass_identical`, a file stored already with the same content is returned
        too, for the caller to add what is missing (the ROIs of a structure set whose
        other images arrived later). The header's data set is finished in place and
        let go of, so the caller holds the only reference to the pixels.
        """
        name = header.source.name
        ds, header.ds = header.ds, None
        try:
            with self.library_warnings(name):
                ds, digest = read_rest(header.source, ds)
        except UnreadableFile as exc:
            self.reject(Problem(name, exc.message, code=exc.code))
            return None

        loaded = _Loaded(ds, digest, self.hash(header.text("SOPInstanceUID")))
        if stored is None:
            stored = self.stored_segmentation(loaded.source_uid_hash)
        if self.is_new(
            name, loaded.source_uid_hash, digest, stored, pass_identical=pass_identical
        ):
            return loaded
        return None

    def is_new(
        self,
        name: str,
        key: str,
        digest: str,
        stored: dict[str, tuple[str, str]],
        *,
        pass_identical: bool = False,
    ) -> bool:
        """Tell whether a file read is to be stored; report it if it is stored already.

        Identical content counts as a duplicate (with `pass_identical`, it is to be
        stored too); other content under the same SOP Instance UID is rejected.
        """
        if key not in stored:
            return True
        stored_sha256, stored_uid = stored[key]
        if stored_sha256 == digest:
            if pass_identical:
                return True
            self.report.duplicates += 1
            self.report.identical_files.append(name)
            logger.debug(
                "Import run %s: %s already present", self.import_run.pk, stored_uid
            )
            return False
        self.reject(
            Problem(
                name,
                Message(
                    "has the SOP Instance UID of an object already stored (de-identified {uid}), "
                    "but its content differs; the stored object was kept and this file was not imported.",
                    uid=stored_uid,
                ),
                field=tag_name(0x00080018),
                value=stored_uid,
                code="content-conflict",
            )
        )
        return False

    @staticmethod
    def stored_segmentation(key: str) -> dict[str, tuple[str, str]]:
        found = (
            Segmentation.objects.filter(source_uid_hash=key)
            .values_list("content_sha256", "source_sop_instance_uid")
            .first()
        )
        return {key: found} if found is not None else {}

    def patient_of(self, state: _Series, scope: _Scope) -> Patient:
        """Return the series' patient, found or made from its first file when first asked."""
        if state.patient is None:
            state.patient = self.patient_for(state.first, scope)
        return state.patient

    def patient_for(self, header: _Header, scope: _Scope) -> Patient:
        """Return the file's patient: the one stored (stored_patient()), or made now."""
        patient_id = header.text("PatientID")
        patient = self.stored_patient(patient_id, scope)
        if patient is None:
            sex = SEXES.get(header.text("PatientSex").upper(), Sex.UNKNOWN)
            patient, created = add_patient(self.project, patient_id, sex=sex)
            if created:
                scope.created["patients"] += 1
        scope.patients[patient_id] = patient
        return patient

    def stored_patient(self, patient_id: str, scope: _Scope) -> Patient | None:
        """The stored patient of a PatientID: as found before, or looked up now."""
        for known in (scope.patients, self.patients):
            if patient_id in known:
                return known[patient_id]
        return find_patient(self.project, patient_id)

    def clean(
        self, ds: Dataset, source: str, patient: Patient
    ) -> tuple[str, list[Problem]]:
        """De-identify the data set for storing; return its transfer syntax and warnings.

        The warnings are recorded here; the fast lane gives them again for each file
        stored after this one (series_template()).
        """
        self.decisions[source] = Decisions()
        with self.library_warnings(source):
            transfer_syntax, problems = prepare(
                ds,
                source,
                self.project.code,
                patient.pseudonym,
                self.decisions[source],
                self.screen,
            )
        for problem in problems:
            self.warn(problem, patient)
        return transfer_syntax, problems

    def create_series(
        self, state: _Series, facts: dict[str, object], scope: _Scope
    ) -> ImageSeries:
        """Make the series (and its study, if new) from the facts of its first file stored.

        The study is stored now; the series is stored by insert_instances(), with
        its count of instances, in one statement instead of two.
        """
        header, patient = state.first, state.patient
        study = self.study_for(header, facts, patient, state.study_headers, scope)
        folder = PurePosixPath(
            self.project.code,
            patient.pseudonym,
            facts["study_instance_uid"],
            facts["series_instance_uid"],
        )
        series = ImageSeries(
            study=study,
            series_instance_uid=facts["series_instance_uid"],
            source_uid_hash=self.hash(header.text("SeriesInstanceUID")),
            storage_path=str(folder),
            **facts["parameters"],
        )
        scope.created["series"] += 1
        state.is_new = True
        for problem in facts["problems"]:
            self.warn(problem, patient)
        if series.series_date is not None and _before_birth(
            series.series_date, patient.birth_year
        ):
            # As a study date before the birth year: warned about and left out.
            series.series_date = None
            message = Message(
                "lies before the patient's birth year; the series is kept without its date."
            )
            self.warn(
                _date_problem(header, "SeriesDate", message, "date-before-birth"),
                patient,
            )

        modalities = set(filter(None, study.modalities.split(","))) | {series.modality}
        if ",".join(sorted(modalities)) != study.modalities:
            study.modalities = ",".join(sorted(modalities))
            study.save(update_fields=["modalities"])
        return series

    def stored_study(self, key: str, scope: _Scope) -> ImagingStudy | None:
        """The stored study of a source UID hash: as found before, or looked up now."""
        for known in (scope.studies, self.studies):
            if key in known:
                return known[key]
        return ImagingStudy.objects.filter(source_uid_hash=key).first()

    def study_for(
        self,
        header: _Header,
        facts: dict[str, object],
        patient: Patient,
        study_headers: list[_Header],
        scope: _Scope,
    ) -> ImagingStudy:
        key = self.hash(header.text("StudyInstanceUID"))
        study = self.stored_study(key, scope)
        if study is not None:
            if study.patient_id != patient.pk:
                raise _Rejected(
                    Problem(
                        header.source.name,
                        Message(
                            "belongs to a study stored for another patient; its series was not imported."
                        ),
                        field=tag_name(0x0020000D),
                        code="patient-mismatch",
                    )
                )
            scope.studies[key] = study
            return study

        day, time, date_source, date_problems = choose_study_date(
            study_headers, patient.birth_year
        )
        age, age_header = study_age(study_headers)
        study = ImagingStudy.objects.create(
            patient=patient,
            # Those of its first series; create_series() adds those of the others:
            modalities=facts["parameters"]["modality"],
            study_instance_uid=facts["study_instance_uid"],
            source_uid_hash=key,
            study_date=day,
            study_time=time,
            date_source=date_source,
            body_part=facts["body_part"][:64],
            description=facts["study_description"][:200],
            patient_age_raw=age.raw[:16],
            patient_age_value=age.value,
            patient_age_unit=age.unit,
            patient_age_years=age.years,
            is_age_unit_assumed=age.is_unit_assumed,
        )
        scope.created["studies"] += 1
        scope.studies[key] = study

        for problem in date_problems:
            self.warn(problem, patient, study)
        if age.problem and age_header is not None:
            self.warn(
                Problem(
                    age_header.source.name,
                    age.problem,
                    field=tag_name(PATIENT_AGE_TAG),
                    value=age.raw,
                    code="invalid-age",
                ),
                patient,
                study,
            )
        return study

    def write(
        self,
        source: str,
        ds: Dataset,
        transfer_syntax: str,
        relative: PurePosixPath,
        scope: _Scope,
    ) -> bool:
        """Write the de-identified data set as a Part-10 file; False if it cannot be encoded."""
        target = Path(settings.BIOBANK_STORAGE_ROOT) / relative
        with self.library_warnings(source):
            problem = write_copy(source, ds, transfer_syntax, target)
        if problem is not None:
            self.reject(problem)
            return False
        scope.written.append(target)
        if source in self.decisions:
            scope.deidentified.append(self.decisions.pop(source))
        return True

    # Segmentations:

    def store_segmentation(self, header: _Header) -> None:
        self.step()
        name = header.source.name
        patient = find_patient(self.project, header.text("PatientID"))
        if patient is None:
            self.reject(
                Problem(
                    name,
                    Message(
                        "delineates images of a patient who has none in this project; "
                        "import the images first, then this file again."
                    ),
                    code="segmentation-unresolved",
                )
            )
            return
        loaded = self.load(header, pass_identical=True)
        if loaded is None:
            return
        ds = loaded.ds
        stored = set(
            Segmentation.objects.filter(
                source_uid_hash=loaded.source_uid_hash
            ).values_list("roi_number", flat=True)
        )
        if stored and {region.number for region in read_regions(ds)} <= stored:
            self.report.duplicates += 1
            self.report.identical_files.append(name)
            return
        # Who drew each ROI is kept in the database for reader studies as a keyed hash
        # of ROIInterpreter, which the stored copy drops as Table E.1-1 says:
        readers = readers_of(ds)
        transfer_syntax, _ = self.clean(ds, name, patient)

        links = []
        for region in read_regions(ds):
            if region.number in stored:
                continue
            series, linkage = self.link(name, region, patient)
            if series is not None:
                reader = reader_pseudonym(
                    self.project.code, readers.get(region.number, "")
                )
                links.append((region, series, linkage, reader))
        if not links:
            return

        kind = SEGMENTATION_CLASSES[_text(ds, "SOPClassUID")]
        with self.all_or_nothing(
            Message("the {kind} object", kind=Message.own(kind)),
            "segmentation objects",
            name,
        ) as scope:
            relative = PurePosixPath(
                self.project.code,
                patient.pseudonym,
                _text(ds, "StudyInstanceUID"),
                _text(ds, "SeriesInstanceUID"),
                f"{_text(ds, 'SOPInstanceUID')}.dcm",
            )
            if not (Path(settings.BIOBANK_STORAGE_ROOT) / relative).exists():
                if not self.write(name, ds, transfer_syntax, relative, scope):
                    return
            for region, series, linkage, reader in links:
                Segmentation.objects.create(
                    series=series,
                    roi_name=region.name[:200],
                    roi_number=region.number,
                    method=region.method,
                    reader=reader[:100],
                    roi_type=region.interpreted_type[:16],
                    source_kind=kind,
                    source_sop_instance_uid=_text(ds, "SOPInstanceUID"),
                    source_uid_hash=loaded.source_uid_hash,
                    content_sha256=loaded.content_sha256,
                    linkage=linkage,
                    storage_path=str(relative),
                )
                scope.created["segmentations"] += 1

    def link(
        self, source: str, region: Region, patient: Patient
    ) -> tuple[ImageSeries | None, str]:
        """Find the image series a region was drawn on: by its images, else by its series.

        Both ways compare de-identified UIDs, which map one to one to the source ones.
        """
        label = Message("ROI {number} ({name})", number=region.number, name=region.name)
        found = 0
        if region.instance_uids:
            images = ImageInstance.objects.filter(
                sop_instance_uid__in=region.instance_uids
            )
            found = images.count()
            series_ids = set(images.values_list("series_id", flat=True))
            if found == len(region.instance_uids) and len(series_ids) == 1:
                series = ImageSeries.objects.select_related("study").get(
                    pk=series_ids.pop()
                )
                return self.checked(
                    source, label, series, patient
                ), Segmentation.Linkage.INSTANCES

        candidates = [
            series
            for series in ImageSeries.objects.filter(
                series_instance_uid__in=region.series_uids
            ).select_related("study")
            if not region.frame_of_reference_uid
            or series.frame_of_reference_uid in ("", region.frame_of_reference_uid)
        ]
        if len(candidates) != 1:
            self.reject(
                Problem(
                    source,
                    Message(
                        "{label} refers to {series} image series, of which {candidates} with "
                        "its frame of reference are in the biobank; one is needed. The ROI was "
                        "not stored; import its images, then this file again.",
                        label=label,
                        series=len(region.series_uids),
                        candidates=len(candidates),
                    ),
                    code="segmentation-unresolved",
                ),
                patient,
            )
            return None, ""
        if region.instance_uids:
            self.warn(
                Problem(
                    source,
                    Message(
                        "{label}: {found} of its {referenced} referenced images are in the "
                        "biobank, so it was linked by SeriesInstanceUID and FrameOfReferenceUID.",
                        label=label,
                        found=found,
                        referenced=len(region.instance_uids),
                    ),
                    code="segmentation-linked-by-series",
                ),
                patient,
            )
        return self.checked(
            source, label, candidates[0], patient
        ), Segmentation.Linkage.SERIES

    def checked(
        self, source: str, label: Message, series: ImageSeries, patient: Patient
    ) -> ImageSeries | None:
        if series.study.patient_id == patient.pk:
            return series
        self.reject(
            Problem(
                source,
                Message(
                    "{label} is drawn on images of another patient; not stored.",
                    label=label,
                ),
                code="patient-mismatch",
            ),
            patient,
        )
        return None

    def finish(self, status: str) -> None:
        """Record every issue as a DataIssue and close the run with its summary.

        File and folder names are often patient IDs or names (one folder per patient
        is the usual export), and pydicom's messages may quote a path. So everything
        that leaves the import goes through the batch's IdentifierScreen first: the
        stored run and issues, and the report returned to the caller, which the
        command prints line by line. A file is still found by the rest of its path
        (PID-778899/ct_001.dcm is reported as [redacted]/ct_001.dcm).
        """
        self.report_library_warnings()
        run, screen = self.import_run, self.screen
        self.report.rejected_files = self.rejected_files()
        for issue in self.issues:
            issue.problem = screen.redact_problem(issue.problem)
        self.report.warnings = [
            i.problem for i in self.issues if i.severity == DataIssue.Severity.WARNING
        ]
        self.report.rejected = [
            i.problem for i in self.issues if i.severity == DataIssue.Severity.ERROR
        ]
        self.report.identical_files = [
            screen.redact(name) for name in self.report.identical_files
        ]
        self.report.source = screen.redact(self.root.name)
        # The run's issues, summary and de-identification table in one commit:
        with transaction.atomic():
            DataIssue.objects.bulk_create(
                [
                    DataIssue(
                        import_run=run,
                        project=self.project,
                        patient=issue.patient,
                        severity=issue.severity,
                        code=issue.problem.code
                        or (
                            "rejected"
                            if issue.severity == DataIssue.Severity.ERROR
                            else "assumed"
                        ),
                        source_name=issue.problem.source[:500],
                        field=issue.problem.field[:100],
                        value=issue.problem.value[:200],
                        message=issue.problem.message,
                        record_type=type(issue.record).__name__
                        if issue.record is not None
                        else "",
                        record_id=issue.record.pk if issue.record is not None else None,
                    )
                    for issue in self.issues
                ]
            )
            # A batch that went to its end may still have rejected some or all files:
            run.status = (
                status_of(self.report) if status == ImportRun.Status.DONE else status
            )
            run.finished_at = timezone.now()
            run.summary = self.report.as_dict()
            run.source_name = self.report.source[:500]
            run.save(update_fields=["status", "finished_at", "summary", "source_name"])
            self.deidentified.save(run)
        end_run_hold(run)

    def cut_off(self, source: str) -> ImportCutOff:
        """Record the run failed once the database is back; return the one-line error.

        `source` names the first file of the unit (series) being stored when the
        connection was lost ("" when it was lost between units). The units committed
        before stay; a run of the same input again stores the rest, and finds those.
        When the database is not back after the waits, the next import or the run's
        page marks the run failed (fail_abandoned_runs).
        """
        screen = self.screen
        units = self.report.stored_units
        if units:
            stored = (
                f"it stored {units_in_words(units)}, the last that of "
                f"{screen.redact(self.last_committed)}"
            )
        else:
            stored = "nothing of it was stored"
        if source:
            stored += f"; that of {screen.redact(source)} and the rest were not"
        name = screen.redact(self.root.name)
        self.reject(Problem(self.root.name, CUT_OFF_MESSAGE, code=CUT_OFF))

        marked = written_once_back(lambda: self.finish(ImportRun.Status.FAILED))
        logger.error(
            "Import run %s of DICOM was cut off by the database", self.import_run.pk
        )
        return ImportCutOff(
            f"The database connection was lost during the import of {name} (import "
            f"run {self.import_run.pk}): {stored}. {when_marked(marked)}Run the same "
            "command again once the database answers: what is stored is found, not "
            "stored twice."
        )

    def rejected_files(self) -> int:
        """Count the files rejected, each once, as other rejections count one a file.

        A series refused whole is one problem, yet all its files are refused; a file
        rejected on its own before its series was rolled back counts once, and one
        of it found stored already, identical, counts as already present only.
        """
        present = set(self.report.identical_files)
        return len(
            {
                name
                for issue in self.issues
                if issue.severity == DataIssue.Severity.ERROR
                for name in issue.files or (issue.problem.source,)
            }
            - present
        )

    def report_library_warnings(self) -> None:
        """Turn what pydicom said into warnings: one per message, with its count.

        A message repeated by many files (a whole series written by one scanner)
        is one warning naming the first file and how many more said it.
        """
        files: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for (source, message), n in self.library.items():
            files[message].append((source, n))
        for message, said in files.items():
            source, n = said[0]
            times = Message(" ({n} times)", n=n) if n > 1 else Message("")
            more = (
                Message(" (said of {n} more files too)", n=len(said) - 1)
                if len(said) > 1
                else Message("")
            )
            self.warn(
                Problem(
                    source,
                    # What pydicom says may quote a value or a path: it is a field.
                    Message(
                        "pydicom warned{times}: {message}{more}",
                        times=times,
                        message=message,
                        more=more,
                    ),
                    code="pydicom-warning",
                )
            )


# The worker processes' side of store_files_in_pool():

# The batch's images as read, (source, header data set), by _Header.index: set before
# the workers are forked, who inherit it; the main process lets go of it then.
_BATCH: list[tuple[SourceFile, Dataset | None]] = []
# The batch's screen (_Ingest.screen), set with _BATCH: each worker inherits it once.
# Sent with every part of a series instead, it was pickled, and the look-up set of
# the project's stored patients (KnownPatients) built again, for each part: 15 to
# 25 ms a part with 100,000 stored patients.
_SCREEN: list[BatchScreen] = []


def _store_files(job: _Job, tasks: list[_Task]) -> list[_Stored]:
    """Store some files of one series, in a worker process; return what each gave.

    Runs no query: the main process does every database step. When a file fails in
    a way that rolls the series back (OSError), the files this part wrote are
    removed before the error goes back to the main process.
    """
    results: list[_Stored] = []
    describe = job.describe
    lane = _WorkerLane(job)
    try:
        for task in tasks:
            result = lane.store_fast(task) if task.fast else None
            if result is None:
                result = _store_file(job, task, describe)
                lane.learn(task, result)
            if result.facts is not None:
                describe = False
            results.append(result)
    except BaseException:
        for result in results:
            if result.is_written:
                (Path(job.storage_root) / result.relative).unlink(missing_ok=True)
        raise
    return results


def _store_file(job: _Job, task: _Task, describe: bool) -> _Stored:
    source, ds = _BATCH[task.index]
    result = _Stored(task.index)
    name = source.name
    if ds is None:
        # Read as bytes by the fast lane's header phase; by pydicom now, as the
        # importing process reads it (_Ingest.read_slowly()):
        with suppress(UnreadableFile), library_messages() as said:
            result.said.append(said)
            ds = read_dataset(source, header_only=True)
    try:
        with library_messages() as said:
            result.said.append(said)
            ds, result.content_sha256 = read_rest(source, ds)
    except UnreadableFile as exc:
        result.unreadable = Problem(name, exc.message, code=exc.code)
        return result
    if not task.store:
        return result

    result.decisions = Decisions()
    with library_messages() as said:
        result.said.append(said)
        transfer_syntax, result.warnings = prepare(
            ds, name, job.project_code, job.pseudonym, result.decisions, _SCREEN[0]
        )
    if describe:
        # From a copy of the element table, as store_file() reads them:
        result.facts = series_facts(Dataset(dict(ds.items())), name)
    result.sop_instance_uid = _text(ds, "SOPInstanceUID")
    result.sop_class_uid = _text(ds, "SOPClassUID")
    result.instance_number = _int(ds.get("InstanceNumber"))
    folder = job.folder or str(
        PurePosixPath(
            job.project_code,
            job.pseudonym,
            _text(ds, "StudyInstanceUID"),
            _text(ds, "SeriesInstanceUID"),
        )
    )
    relative = PurePosixPath(folder, f"{result.sop_instance_uid}.dcm")
    with library_messages() as said:
        result.said.append(said)
        result.unwritable = write_copy(
            name, ds, transfer_syntax, Path(job.storage_root) / relative
        )
    result.relative = str(relative)
    return result


@dataclass
class _WorkerLane:
    """The fast lane in a worker process, for one part of a series.

    As _Ingest.store_file() does in process: the part's first file stored by pydicom
    about which pydicom said nothing becomes the template (only that one is tried),
    and the files after it are stored as its copy where they differ from it only in
    values de-identification treats the same whatever they hold.
    """

    job: _Job
    template: fastlane.SeriesTemplate | None = None
    tried: bool = False
    folder: str = ""  # the series' folder under the storage root

    def learn(self, task: _Task, result: _Stored) -> None:
        """Make the template from the first file of the part stored by pydicom."""
        if self.tried or not result.is_written:
            return
        self.tried = True
        if not task.fast or any(result.said) or result.decisions is None:
            return
        source, _ds = _BATCH[task.index]
        try:
            self.template = read_template(
                self.job.project_code,
                source,
                self.job.storage_root,
                result,
                result.decisions,
                result.warnings,
            )
        except TEMPLATE_ERRORS:
            return  # stored by pydicom, as in process (_Ingest.series_template())
        self.folder = str(PurePosixPath(result.relative).parent)

    def store_fast(self, task: _Task) -> _Stored | None:
        """Store the file as the template's copy; None, having done nothing, if it may not."""
        template = self.template
        if template is None or not task.store:
            return None
        source, _ds = _BATCH[task.index]
        uid = task.sop_instance_uid
        matched = fast_match(template, source, uid)
        if matched is None:
            return None
        parsed, plan = matched

        new_uid = replacement_uid(self.job.project_code, uid)
        relative = f"{self.folder}/{new_uid}.dcm"
        target = Path(self.job.storage_root, relative)
        try:
            write_pieces(target, template.copy_of(parsed, plan, new_uid))
        except BaseException:
            # The series is rolled back; in process, all_or_nothing() removes it:
            target.unlink(missing_ok=True)
            raise
        return _Stored(
            task.index,
            content_sha256=template.content_sha256(parsed, plan),
            decisions=template.decisions,
            warnings=[
                dataclasses.replace(problem, source=source.name)
                for problem in template.problems
            ],
            sop_instance_uid=new_uid,
            sop_class_uid=template.sop_class_uid,
            instance_number=template.instance_number_of(parsed, plan),
            relative=relative,
            fast=True,
        )


def _files_by_patient(headers: list[_Header]) -> list[list[str]]:
    """Return the names of the files of each PatientID, the most files first."""
    by_id: dict[str, list[str]] = defaultdict(list)
    for header in headers:
        by_id[header.text("PatientID")].append(header.source.name)
    return sorted(by_id.values(), key=lambda names: (-len(names), names[0]))


def _counts_by_patient(groups: list[list[str]]) -> Message:
    """Return e.g. "5 files with the PatientID of b.dcm, 1 file with that of a.dcm"."""
    parts: list[tuple[str, bool]] = []
    for i, names in enumerate(groups):
        whose = ", {n} with that of" if i else "{n} with the PatientID of"
        parts += Message(
            whose + " {name}",
            n=Message.own(counted(len(names), "files")),
            name=names[0],
        ).parts
    return Message.from_parts(parts)


def fast_match(
    template: fastlane.SeriesTemplate, source: SourceFile, uid: str
) -> tuple[fastlane.Parsed, dict[int, str]] | None:
    """Return the file parsed against its series' template and how to store its copy.

    None when the fast lane may not store it (it differs from the template in a way
    de-identification might treat otherwise, or cannot be read): pydicom stores it.
    """
    try:
        with source.open() as handle:
            data = handle.read()
        parsed = fastlane.compare(data, template.source, header_only=False)
    except (fastlane.Unusual, OSError, struct.error):
        return None
    plan = template.store_plan(parsed)
    if plan is None or template.sop_instance_uid(parsed) != uid:
        return None
    return parsed, plan


def remove_written(paths: list[Path]) -> None:
    """Remove the files a rolled back unit wrote, but those a committed row holds.

    Another import of the same files at the same time writes the same paths (they
    are made of the project, the pseudonym and the UIDs). When its rows were
    committed first, the database refused this unit's, and the files are the other
    import's now: they stay. (PostgreSQL makes this unit's INSERT wait for the other
    transaction's end, so its rows are committed by then.) When the database cannot
    be asked, every file goes, as a unit that fails alone leaves none.
    """
    if not paths:
        return
    root = Path(settings.BIOBANK_STORAGE_ROOT)
    by_name = {}
    for path in paths:
        try:
            by_name[path.relative_to(root).as_posix()] = path
        except ValueError:
            by_name[str(path)] = path
    kept: set[str] = set()
    try:
        for chunk in chunks(sorted(by_name)):
            for model in (ImageInstance, Segmentation):
                kept.update(
                    model.objects.filter(storage_path__in=chunk).values_list(
                        "storage_path", flat=True
                    )
                )
    except (DatabaseError, TransactionManagementError):
        kept = set()
    for name, path in by_name.items():
        if name not in kept:
            path.unlink(missing_ok=True)


def find_series(keys: Collection[str]) -> dict[str, ImageSeries]:
    """Return the stored image series with these source UID hashes, with study and patient."""
    found: dict[str, ImageSeries] = {}
    for chunk in chunks(sorted(keys)):
        for series in ImageSeries.objects.filter(
            source_uid_hash__in=chunk
        ).select_related("study__patient"):
            found[series.source_uid_hash] = series
    return found


def find_studies(keys: Collection[str]) -> dict[str, ImagingStudy]:
    """Return the stored imaging studies with these source UID hashes."""
    found: dict[str, ImagingStudy] = {}
    for chunk in chunks(sorted(keys)):
        for study in ImagingStudy.objects.filter(source_uid_hash__in=chunk):
            found[study.source_uid_hash] = study
    return found


def find_files(keys: Collection[str]) -> dict[str, tuple[str, str]]:
    """Return (content hash, SOP Instance UID) of the stored images with these keys."""
    found: dict[str, tuple[str, str]] = {}
    for chunk in chunks(sorted(keys)):
        found.update(
            (key, (content, uid))
            for key, content, uid in ImageInstance.objects.filter(
                source_uid_hash__in=chunk
            ).values_list("source_uid_hash", "content_sha256", "sop_instance_uid")
        )
    return found


# Both sides:


def read_template(
    project_code: str,
    source: SourceFile,
    storage_root: str | Path,
    stored: _Instance | _Stored,
    decisions: Decisions,
    problems: list[Problem],
) -> fastlane.SeriesTemplate | None:
    """Read a series' first file stored and its copy as the fast lane's template.

    None when pydicom said anything reading them; raises one of TEMPLATE_ERRORS when
    the fast lane cannot follow the file (fastlane.SeriesTemplate.of).
    """
    copy = (Path(storage_root) / stored.relative).read_bytes()
    with source.open() as handle:
        data = handle.read()
    with library_messages() as said:
        template = fastlane.SeriesTemplate.of(
            project_code,
            data,
            copy,
            stored.content_sha256,
            decisions,
            stored.sop_class_uid,
            stored.instance_number,
            problems,
        )
    return None if said else template


def prepare(
    ds: Dataset,
    source: str,
    project_code: str,
    pseudonym: str,
    decisions: Decisions,
    batch: BatchScreen,
) -> tuple[str, list[Problem]]:
    """De-identify the data set in place for storing; return its transfer syntax and warnings.

    `batch` holds the identifiers of every patient of the batch (_Ingest.screen),
    which its kept free text is screened for besides its own (deid.BatchScreen).
    """
    transfer_syntax = transfer_syntax_of(ds)
    problems = normalise_temporal_values(ds, source)
    if not has_part10_header(ds):
        problems.append(
            Problem(
                source,
                Message(
                    "has no Part-10 header (preamble, DICM, file meta); it was read as "
                    "{transfer_syntax} and is stored with one.",
                    transfer_syntax=_uid_name(UID(transfer_syntax)),
                ),
                code="no-part10-header",
            )
        )
    problems += deidentify(
        ds,
        project_code=project_code,
        pseudonym=pseudonym,
        source=source,
        decisions=decisions,
        batch=batch,
    )
    return transfer_syntax, problems


def write_copy(
    source: str, ds: Dataset, transfer_syntax: str, target: Path
) -> Problem | None:
    """Write the de-identified data set as a Part-10 file; a Problem if it cannot be encoded.

    An OSError (a full disk) is raised, for the caller to roll the series back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    ds.file_meta = meta
    ds.preamble = b"\x00" * 128

    # Written aside and renamed, so no reader ever sees half a file:
    partial = target.with_name(target.name + ".part")
    try:
        pydicom.dcmwrite(partial, ds, enforce_file_format=True)
        os.replace(partial, target)
    except (ValueError, TypeError, OverflowError, struct.error) as exc:
        return Problem(
            source,
            Message(
                "could not be written as DICOM after de-identification ({error}).",
                error=exc,
            ),
            code="unwritable",
        )
    finally:
        partial.unlink(missing_ok=True)
    return None


def write_pieces(target: Path, pieces: list[bytes | memoryview]) -> None:
    """Write a file from its pieces, aside and renamed as write_copy() does.

    An OSError (a full disk) is raised, for the caller to roll the series back.
    """
    path = os.fspath(target)
    partial = path + ".part"
    try:
        with open(partial, "wb") as handle:
            handle.writelines(pieces)
        os.replace(partial, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(partial)
        raise


def series_facts(ds: Dataset, source: str) -> dict[str, object]:
    """Return what create_series() and study_for() read of a series' first de-identified file.

    "problems" are the warnings about its acquisition parameters (implausible_values()).
    """
    parameters = acquisition_parameters(ds)
    return {
        "study_instance_uid": _text(ds, "StudyInstanceUID"),
        "series_instance_uid": _text(ds, "SeriesInstanceUID"),
        "body_part": _text(ds, "BodyPartExamined"),
        "study_description": _text(ds, "StudyDescription"),
        "parameters": parameters,
        "problems": implausible_values(parameters, source, _uptake_attribute(ds)),
    }


def choose_study_date(
    headers: list[_Header], birth_year: int | None = None
) -> tuple[dt.date | None, dt.time | None, str, list[Problem]]:
    """Return the study's date and time, the attribute they came from, and warnings.

    StudyDate first, then SeriesDate, AcquisitionDate and ContentDate (the earliest
    value over the study's images); a date is never invented. Legacy forms such as
    2021.03.14 count; placeholders such as 00000000, days before 1895, days the
    biobank refuses in every record (before 1880, in the future) and days in a year
    before the patient's `birth_year` (the rule of every dated record) do not: the
    last are warned about and passed over, as days before 1895 are.
    """
    problems: list[Problem] = []
    for date_keyword, time_keyword in STUDY_DATE_SOURCES:
        found = []
        for header in headers:
            day = values.parse_da(header.text(date_keyword))
            if day is not None and values.refused_day(day) is not None:
                # Before 1880 or in the future: warned about with the file's other
                # dates (deid.normalise_temporal_values), and passed over here.
                continue
            if day is not None and day.year < EARLIEST_IMAGING_YEAR:
                message = Message(
                    "is before {year}, when medical imaging began; not used as the study date.",
                    year=Message.own(EARLIEST_IMAGING_YEAR),
                )
                problems.append(
                    _date_problem(header, date_keyword, message, "implausible-date")
                )
            elif day is not None and _before_birth(day, birth_year):
                message = Message(
                    "lies before the patient's birth year; not used as the study date."
                )
                problems.append(
                    _date_problem(header, date_keyword, message, "date-before-birth")
                )
            elif day is not None:
                found.append((day, header))
        if not found:
            continue

        day, header = min(found, key=lambda pair: pair[0])
        time = values.parse_tm(header.text(time_keyword))
        if date_keyword != "StudyDate":
            problems.append(
                Problem(
                    header.source.name,
                    Message(
                        "{state}; the study date {day} was taken from {attribute}.",
                        state=Message.own(_study_date_state(header, birth_year)),
                        day=day.isoformat(),
                        attribute=Message.own(
                            tag_name(
                                pydicom.datadict.tag_for_keyword(date_keyword) or 0
                            )
                        ),
                    ),
                    field=tag_name(STUDY_DATE_TAG),
                    value=header.text("StudyDate"),
                    code="study-date-fallback",
                )
            )
        return day, time, date_keyword, problems

    problems.append(
        Problem(
            headers[0].source.name,
            Message(
                "has no usable StudyDate, SeriesDate, AcquisitionDate or ContentDate; the study "
                "is kept without a date and is left out of time-window cohorts."
            ),
            field=tag_name(STUDY_DATE_TAG),
            code="no-usable-date",
        )
    )
    return None, None, ImagingStudy.DateSource.NONE, problems


def _uid_name(uid: UID) -> Message | str:
    """Return the name pydicom's dictionary gives a UID, or the UID itself if it has none.

    A name is pydicom's word (Implicit VR Little Endian); a UID it does not know is a
    value of the file, and so a field of the message.
    """
    return Message.own(uid.name) if uid.name != uid else str(uid)


def _date_problem(
    header: _Header, keyword: str, message: Message, code: str
) -> Problem:
    """Return the warning of a date of the header passed over, naming its attribute."""
    return Problem(
        header.source.name,
        message,
        field=tag_name(pydicom.datadict.tag_for_keyword(keyword) or 0),
        value=header.text(keyword),
        code=code,
    )


def _before_birth(day: dt.date, birth_year: int | None) -> bool:
    try:
        check_after_birth(birth_year, day)
    except InvalidValue:
        return True
    return False


def _study_date_state(header: _Header, birth_year: int | None) -> str:
    """Say why the header's StudyDate was passed over (_state_of, read with the file),
    or that it lies before the patient's birth year, known only once stored."""
    day = values.parse_da(header.text("StudyDate"))
    if (
        day is not None
        and values.refused_day(day) is None
        and day.year >= EARLIEST_IMAGING_YEAR
        and _before_birth(day, birth_year)
    ):
        return "lies before the patient's birth year"
    return header.study_date_state


def _state_of(ds: Dataset, keyword: str) -> str:
    elem = values.element(ds, keyword)
    if elem is None:
        return "is absent"
    if not str(elem.value or "").strip():
        return "is empty"
    if values.check_da(str(elem.value)).status == values.PLACEHOLDER:
        return "is a placeholder"
    day = values.parse_da(str(elem.value))
    if day is None:
        return "is not a valid date"
    refused = values.refused_day(day)
    if refused is not None:
        return str(refused).rstrip(".")
    return f"is before {EARLIEST_IMAGING_YEAR}, when medical imaging began"


def study_age(headers: list[_Header]) -> tuple[values.Age, _Header | None]:
    """Return PatientAge (0010,1010) of the study's first image that has one."""
    for header in headers:
        raw = header.text("PatientAge")
        if raw:
            return values.cap_age(values.parse_age(raw)), header
    return values.Age(""), None


def acquisition_parameters(ds: Dataset) -> dict[str, object]:
    """Return the ImageSeries fields read from one (de-identified) image of the series.

    Enhanced multi-frame objects keep pixel spacing and slice thickness in the shared
    Pixel Measures Sequence (0028,9110), which is read when the top level has none.
    """
    # TODO: enhanced multi-frame CT, MR and PET keep kVp, echo and repetition times in
    # their functional groups; those are not read, so such series leave them empty.
    shared = _first_item(ds, "SharedFunctionalGroupsSequence")
    information = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    measures = (
        _first_item(shared, "PixelMeasuresSequence") if shared is not None else None
    )

    def find(keyword: str) -> object:
        elem = values.element(ds, keyword)
        if elem is None and measures is not None:
            elem = values.element(measures, keyword)
        return elem.value if elem is not None else None

    spacing = find("PixelSpacing")
    spacing = (
        list(spacing) if isinstance(spacing, list | pydicom.multival.MultiValue) else []
    )
    return {
        "frame_of_reference_uid": _text(ds, "FrameOfReferenceUID"),
        "modality": _text(ds, "Modality")[:16],
        "sop_class_uid": _text(ds, "SOPClassUID"),
        "series_number": _int(ds.get("SeriesNumber")),
        "description": _text(ds, "SeriesDescription")[:200],
        "series_date": _record_day(_text(ds, "SeriesDate")),
        "manufacturer": _text(ds, "Manufacturer")[:128],
        "manufacturer_model_name": _text(ds, "ManufacturerModelName")[:128],
        "convolution_kernel": _text(ds, "ConvolutionKernel")[:128],
        "slice_thickness_mm": _positive(find("SliceThickness")),
        "spacing_between_slices_mm": _positive(find("SpacingBetweenSlices")),
        "pixel_spacing_row_mm": _float(spacing[0]) if len(spacing) == 2 else None,
        "pixel_spacing_column_mm": _float(spacing[1]) if len(spacing) == 2 else None,
        "rows": _int(ds.get("Rows")),
        "columns": _int(ds.get("Columns")),
        "kvp": _float(find("KVP")),
        "exposure_mas": _float(find("Exposure")),
        "tube_current_ma": _float(find("XRayTubeCurrent")),
        "ctdi_vol_mgy": _float(_ct_exposure(ds, shared)),
        "injected_activity_mbq": _megabecquerel(
            _float(_first_value(information, "RadionuclideTotalDose"))
        ),
        "uptake_time_min": _uptake_minutes(ds, information),
        "contrast_agent": _text(ds, "ContrastBolusAgent")[:128],
        "mr_sequence": " / ".join(
            filter(None, (_text(ds, "ScanningSequence"), _text(ds, "SequenceName")))
        )[:128],
        "magnetic_field_strength_t": _float(find("MagneticFieldStrength")),
        "echo_time_ms": _float(find("EchoTime")),
        "repetition_time_ms": _float(find("RepetitionTime")),
        "pet_units": _text(ds, "Units")[:16],
        "radiopharmaceutical": _radiopharmaceutical(ds)[:64],
    }


def _ct_exposure(ds: Dataset, shared: Dataset | None) -> object:
    """Return CTDIvol (0018,9345), from the Shared Functional Groups' CT Exposure
    Sequence (0018,9321) of an enhanced CT when the top level has none."""
    found = _first_value(ds, "CTDIvol")
    exposure = _first_item(shared, "CTExposureSequence") if shared else None
    if found is None and exposure is not None:
        found = _first_value(exposure, "CTDIvol")
    return found


def _uptake_minutes(ds: Dataset, information: Dataset | None) -> float | None:
    """Return the minutes from the radiopharmaceutical's start to the series' start.

    The injected activity is decay-corrected over this time (SUV, PS3.3 C.8.9.1.1.7:
    SeriesDate and SeriesTime are the reference of DecayCorrection START). The start is
    RadiopharmaceuticalStartDateTime (0018,1078), else RadiopharmaceuticalStartTime
    (0018,1072) on the series' day, or on the day before when that time is more than
    12 hours after the series' (an injection before midnight). Only the difference is
    kept: the biobank stores no moment of the injection.
    """
    # NB: a time-zone offset of the DT is ignored: both are read on the scanner's clock.
    day = values.parse_da(_text(ds, "SeriesDate"))
    time = values.parse_tm(_text(ds, "SeriesTime"))
    if information is None or day is None or time is None:
        return None
    series_start = dt.datetime.combine(day, time)

    start = _start_date_time(information)
    if start is None:
        start_time = values.parse_tm(_text(information, "RadiopharmaceuticalStartTime"))
        if start_time is None:
            return None
        start = dt.datetime.combine(day, start_time)
        if start - series_start > dt.timedelta(hours=12):
            start -= dt.timedelta(days=1)
    return (series_start - start).total_seconds() / 60


def _uptake_attribute(ds: Dataset) -> str:
    """Return the path of the start _uptake_minutes() reads, as warnings name it."""
    information = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    keyword = "RadiopharmaceuticalStartTime"
    if information is not None and _start_date_time(information) is not None:
        keyword = "RadiopharmaceuticalStartDateTime"
    tag = pydicom.datadict.tag_for_keyword(keyword) or 0
    return f"RadiopharmaceuticalInformationSequence > {tag_name(tag)}"


def _start_date_time(information: Dataset) -> dt.datetime | None:
    """RadiopharmaceuticalStartDateTime (0018,1078) as a moment, if it gives one."""
    return _dt_moment(_text(information, "RadiopharmaceuticalStartDateTime"))


def _dt_moment(text: str) -> dt.datetime | None:
    """Return a DT value to the minute or finer as a naive moment; None otherwise."""
    checked = values.check_dt(text)
    if checked.status not in (values.OK, values.LEGACY):
        return None
    parts = _DT_MOMENT.match(checked.value)
    if parts is None:
        return None
    year, month, day, hours, minutes, seconds, fraction = parts.groups()
    return dt.datetime(
        int(year),
        int(month),
        int(day),
        int(hours),
        int(minutes),
        min(int(seconds or 0), 59),
        int((fraction or ".0")[1:].ljust(6, "0")),
    )


def _first_value(ds: Dataset | None, keyword: str) -> object:
    elem = values.element(ds, keyword) if ds is not None else None
    return elem.value if elem is not None else None


def _megabecquerel(becquerel: float | None) -> float | None:
    """Return RadionuclideTotalDose (0018,1074), in Bq, in MBq."""
    return becquerel / 1e6 if becquerel is not None else None


def implausible_values(
    parameters: dict[str, object], source: str, uptake_attribute: str
) -> list[Problem]:
    """Set to none each value outside PLAUSIBLE_RANGES (or no finite number); warn of each.

    An IS or DS value that is no number was read as none and warned about by
    de-identification (invalid-number); a binary FD such as CTDIvol can hold NaN.
    An uptake time is named by `uptake_attribute`, the start it was read from.
    """
    problems = []
    for field_name, allowed in PLAUSIBLE_RANGES.items():
        number = parameters[field_name]
        if number is None:
            continue
        read = number * allowed.per_stored
        if math.isfinite(read) and allowed.low < read <= allowed.high:
            continue

        parameters[field_name] = None
        problems.append(
            Problem(
                source,
                Message(
                    "is no value a scanner records (from above {low} to {high} "
                    "{unit}); it is read as none.",
                    low=Message.own(f"{allowed.low:g}"),
                    high=Message.own(f"{allowed.high:g}"),
                    unit=Message.own(allowed.unit),
                ),
                field=uptake_attribute
                if field_name == "uptake_time_min"
                else allowed.attribute,
                value=f"{read:g}",
                code="implausible-value",
            )
        )
    return problems


def _radiopharmaceutical(ds: Dataset) -> str:
    information = _first_item(ds, "RadiopharmaceuticalInformationSequence")
    if information is None:
        return ""
    code = _first_item(information, "RadiopharmaceuticalCodeSequence")
    return _text(information, "Radiopharmaceutical") or (
        _text(code, "CodeMeaning") if code else ""
    )


def _first_item(ds: Dataset, keyword: str) -> Dataset | None:
    sequence = values.element(ds, keyword)
    return sequence.value[0] if sequence is not None and sequence.value else None


def _text(ds: Dataset, keyword: str) -> str:
    """Return an attribute as text ('' when absent); several values join with a backslash."""
    elem = values.element(ds, keyword)
    if elem is None or elem.is_empty:
        return ""
    value = elem.value
    if isinstance(value, list | pydicom.multival.MultiValue):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _int(value: object) -> int | None:
    """Return a whole number of an element or text; None when absent or not one.

    A text that is no valid IS value (1A, 2.5) reads as none, as the warning of
    deid.normalise_temporal_values() says.
    """
    value = getattr(value, "value", value)
    if isinstance(value, str | IS | ISfloat) and not values.is_number_string(
        "IS", str(value)
    ):
        return None
    try:
        return int(float(str(value))) if value not in (None, "") else None
    except ValueError:
        return None


def _float(value: object) -> float | None:
    """Return the (first) number of an element or text; None when absent or not one."""
    value = getattr(value, "value", value)
    if isinstance(value, list | pydicom.multival.MultiValue):
        value = value[0] if value else None
    if isinstance(value, str | DSfloat) and not values.is_number_string(
        "DS", str(value)
    ):
        return None
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def _record_day(text: str) -> dt.date | None:
    """Return the day of a DA value that a record may carry; None if absent or refused.

    Days before 1880 or in the future are refused by every import and the API; the
    warning of deid.normalise_temporal_values() names them.
    """
    day = values.parse_da(text)
    return day if day is not None and values.refused_day(day) is None else None


def _comparable_name(text: str) -> str:
    """Return a PatientName as compared: case, padding and empty trailing parts aside.

    SMITH^JOHN, Smith^John^^ and SMITH^JOHN= are one name (PS3.5 6.2, PN).
    """
    groups = [
        "^".join(part.strip() for part in group.split("^")).rstrip("^")
        for group in text.split("=")
    ]
    return "=".join(groups).rstrip("=").casefold()


def _pixel_count_refused(ds: Dataset) -> tuple[int, str] | None:
    """Return the tag and value of the first pixel count that is no whole number of 1 or more.

    Rows, Columns, NumberOfFrames (an IS: 1A is no number), SamplesPerPixel and
    BitsAllocated tell how the pixels are read; a missing one is left to the checks
    of Pixel Data. A string is read from its bytes, and a binary element put back as
    read once converted, so that dcmwrite() copies the bytes of both.
    """
    for keyword in PIXEL_COUNT_KEYWORDS:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        if tag not in ds:
            continue
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and vr_of(ds, tag, raw) in values.NUMBER_VRS:
            value: object = (raw.value or b"").decode("latin-1").rstrip("\x00").strip()
        else:
            value = ds[tag].value
            if isinstance(raw, RawDataElement):
                ds[tag] = raw
        if value in (None, "", b""):
            continue
        if isinstance(value, str) and values.is_number_string("IS", value):
            value = int(value)
        if not isinstance(value, int) or value < 1:
            texts = value if isinstance(value, list | MultiValue) else [value]
            return tag, "\\".join(str(v) for v in texts)
    return None


def _positive(value: object) -> float | None:
    number = _float(value)
    return number if number is not None and number > 0 else None
