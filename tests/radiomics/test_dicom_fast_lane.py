"""The DICOM ingest's fast lane (fastlane.py) stores what pydicom's slow path stores.

Each batch is ingested with the fast lane off, then again on into a fresh project,
and everything the import leaves is compared (test_dicom_workers.snapshot): report,
warnings, rejections, rows with their content hashes, issues, de-identification
report and the stored files byte for byte. Each test also checks which files the fast
lane took, so that a lane that took none cannot pass.
"""

from __future__ import annotations

import shutil
import threading
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian, generate_uid

import radiomics.importers.dicom as dicom
from radiomics.importers import fastlane
from radiomics.importers.dicom import ingest_dicom
from radiomics.importers.sources import SourceFile, content_sha256, read_object
from radiomics.models import ImageInstance
from tests.conftest import case_path, shared_path
from tests.radiomics.conftest import (
    build_ct,
    set_raw,
    stored_dataset,
    write_bare,
    write_part10,
)
from tests.radiomics.test_dicom_batch_patients import IDENTIFIERS, write_two_patients
from tests.radiomics.test_dicom_workers import build_batch, forget, snapshot

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]


@pytest.fixture
def lanes(monkeypatch, project, storage_root):
    """Return ingest(path) -> (slow snapshot, fast snapshot, names of files stored fast)."""
    stored_fast: list[str] = []
    store_fast = dicom._Ingest.store_fast

    def spied(self, header, state, scope):
        taken = store_fast(self, header, state, scope)
        if taken:
            stored_fast.append(header.source.name)
        return taken

    monkeypatch.setattr(dicom._Ingest, "store_fast", spied)

    def ingest(path: Path) -> tuple[dict, dict, list[str]]:
        monkeypatch.setattr(dicom, "FAST_LANE", False)
        slow = snapshot(ingest_dicom(path, project), storage_root)
        assert stored_fast == []
        forget(project, storage_root)
        monkeypatch.setattr(dicom, "FAST_LANE", True)
        fast = snapshot(ingest_dicom(path, project), storage_root)
        return slow, fast, sorted(stored_fast)

    return ingest


def write_slices(
    inbox: Path, count: int, implicit: bool = False, size: int = 8, **common
) -> list[Path]:
    """Write a series whose files differ as a scanner's slices do, s01.dcm on.

    Per slice: SOP Instance UID, instance number, position, slice location,
    acquisition and content time, window, a private element and the pixels
    (`size` rows and columns).
    """
    inbox.mkdir(parents=True, exist_ok=True)
    first = build_ct(**common)
    paths = []
    for number in range(1, count + 1):
        ds = build_ct(
            StudyInstanceUID=first.StudyInstanceUID,
            SeriesInstanceUID=first.SeriesInstanceUID,
            FrameOfReferenceUID=first.FrameOfReferenceUID,
            InstanceNumber=number,
            ImagePositionPatient=["0", "0", f"{-2.5 * number:.1f}"],
            SliceLocation=f"{-2.5 * number:.1f}",
            AcquisitionTime=f"0900{number:02d}",
            ContentTime=f"0900{number:02d}.5",
            WindowCenter=str(40 + number),
            Rows=size,
            Columns=size,
            **common,
        )
        ds.add_new(0x00090010, "LO", "ACME 1.0")
        ds.add_new(0x00091001, "DS", str(number))
        ds.PixelData = bytes([number % 256]) * (size * size * 2)
        path = inbox / f"s{number:02d}.dcm"
        write_part10(ds, path)
        if implicit:
            ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
            pydicom.dcmwrite(path, ds, enforce_file_format=True)
        paths.append(path)
    return paths


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit VR", "implicit VR"])
def test_slices_after_the_first_are_stored_fast_and_alike(lanes, inbox, implicit):
    write_slices(inbox, 6, implicit=implicit)

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast == [f"s{n:02d}.dcm" for n in range(2, 7)]
    assert slow["created"]["instances"] == 6


@pytest.fixture
def header_reads(monkeypatch) -> list[tuple[str, int | None]]:
    """Record each read of the header phase: (file, bytes asked for, None: all)."""
    reads: list[tuple[str, int | None]] = []
    read_bytes = dicom._Ingest.read_bytes

    def spied(source, size=None):
        reads.append((source.name, size))
        return read_bytes(source, size)

    monkeypatch.setattr(dicom._Ingest, "read_bytes", staticmethod(spied))
    return reads


def test_the_header_phase_reads_later_slices_only_as_far_as_their_header(
    lanes, inbox, header_reads
):
    paths = write_slices(inbox, 4, size=64)  # 8 kB of pixels each

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast == ["s02.dcm", "s03.dcm", "s04.dcm"]
    assert header_reads[0] == ("s01.dcm", None)
    for path, (name, size) in zip(paths[1:], header_reads[1:], strict=True):
        assert name == path.name
        assert size is not None and size < path.stat().st_size


def test_a_series_with_a_longer_header_is_read_whole_once_then_by_its_length(
    lanes, inbox, header_reads
):
    write_slices(inbox / "a", 3, size=64)
    # Its header is longer than the first series' and the room read beyond it:
    write_slices(inbox / "b", 3, size=64, ImageComments="x" * 2 * dicom.HEADER_ROOM)

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast == ["a/s02.dcm", "a/s03.dcm", "b/s02.dcm", "b/s03.dcm"]
    # Its first file's first bytes do not hold its header, so it is read whole:
    b_reads = [(name, size) for name, size in header_reads if name.startswith("b/")]
    assert b_reads[:2] == [("b/s01.dcm", b_reads[0][1]), ("b/s01.dcm", None)]
    assert b_reads[0][1] is not None
    assert [name for name, _size in b_reads[2:]] == ["b/s02.dcm", "b/s03.dcm"]
    assert all(size is not None and size > b_reads[0][1] for _n, size in b_reads[2:])


def test_every_turn_of_an_import_comes_out_alike(lanes, inbox):
    # Warnings, a copy, a conflict, another patient, a file cut short (as the
    # worker processes' test): the files drawing them are stored by pydicom.
    build_batch(inbox)

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast, "no file took the fast lane"
    assert "s1_02.dcm" not in stored_fast  # a legacy date: a warning to give
    assert "s1_05.dcm" not in stored_fast  # a name in its description
    assert "s2_03.dcm" not in stored_fast  # a date in the future
    assert "s2_04.dcm" not in stored_fast  # a decimal string that is no number
    assert "s2_06.dcm" not in stored_fast  # another PatientName
    codes = {(source, code) for source, code, *_ in fast["warnings"]}
    assert {
        ("s2_03.dcm", "future-date"),
        ("s2_04.dcm", "invalid-number"),
        ("s2_06.dcm", "patient-name-mismatch"),
    } <= codes


def test_files_read_in_another_order_than_stored_come_out_alike(lanes, inbox):
    # The first file read is the last stored: header and store templates differ.
    for path in write_slices(inbox, 5):
        path.rename(inbox / f"z{9 - int(path.stem[1:])}.dcm")

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    # All but the first stored (z8.dcm), the first read (z4.dcm) among them:
    assert stored_fast == ["z4.dcm", "z5.dcm", "z6.dcm", "z7.dcm"]


@pytest.mark.parametrize(
    ("odd", "code"),
    [
        # Removed by de-identification, so nothing to say:
        pytest.param(
            {"ImageComments": "ALEX TESTPERSON moved"}, None, id="a name in a text"
        ),
        pytest.param(
            {"PatientName": "TESTPERSON^ALEXANDRA"},
            "patient-name-mismatch",
            id="another name",
        ),
        pytest.param(
            {"AcquisitionDate": "2022.03.10"},
            "non-standard-date-format",
            id="a legacy date",
        ),
        pytest.param(
            {"AcquisitionDate": "18790310"}, "implausible-date", id="a date before 1880"
        ),
        pytest.param(
            {"ContentDate": "20990310"}, "future-date", id="a date in the future"
        ),
        pytest.param(
            {"SeriesDescription": "Thorax late"}, None, id="another description"
        ),
        pytest.param(
            {"BurnedInAnnotation": "YES"}, "burned-in-annotation", id="burned-in text"
        ),
        pytest.param({"Rows": 4, "Columns": 16}, None, id="another shape"),
        pytest.param(
            {"SliceLocation": b"-2.5\\x"}, "invalid-number", id="a broken number"
        ),
        pytest.param({"WindowCenter": b"1A"}, "invalid-number", id="1A as a number"),
        pytest.param(
            {"NumberOfFrames": b"1A"}, "invalid-number", id="1A as the frame count"
        ),
        pytest.param({"AccessionNumber": "A77"}, None, id="an identifier"),
        pytest.param({"Manufacturer": None}, None, id="an element missing"),
    ],
)
def test_a_slice_differing_otherwise_is_stored_by_pydicom(lanes, inbox, odd, code):
    paths = write_slices(inbox, 4)
    ds = pydicom.dcmread(paths[2])
    for keyword, value in odd.items():
        if value is None:
            delattr(ds, keyword)
        elif isinstance(value, bytes):  # written as it is, as pydicom would not
            set_raw(ds, keyword, value)
        else:
            setattr(ds, keyword, value)
    write_part10(ds, paths[2])

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert paths[2].name not in stored_fast
    assert "s04.dcm" in stored_fast or slow["rejected"]
    # ... and the slice drew what it was made for, in both lanes alike:
    said = [
        (source, found) for source, found, *_ in slow["warnings"] + slow["rejected"]
    ]
    if code is not None:
        assert (paths[2].name, code) in said


def test_a_slice_with_another_study_date_is_read_by_pydicom_and_stored_alike(
    lanes, inbox
):
    # Grouping reads the study date of each file; its copy keeps the date as read.
    paths = write_slices(inbox, 4)
    ds = pydicom.dcmread(paths[2])
    ds.StudyDate = "20220311"
    write_part10(ds, paths[2])

    slow, fast, _stored_fast = lanes(inbox)

    assert fast == slow


def test_a_name_in_a_later_slice_is_cleaned_as_in_the_first(lanes, inbox):
    paths = write_slices(inbox, 3)
    ds = pydicom.dcmread(paths[1])
    ds.SeriesDescription = "ALEX TESTPERSON"
    write_part10(ds, paths[1])

    _slow, fast, _stored_fast = lanes(inbox)

    for data in fast["files"].values():
        assert b"TESTPERSON" not in data
    assert any(code == "identifier-in-text" for _s, code, *_ in fast["warnings"])


def test_an_archive_comes_out_alike(lanes, inbox, tmp_path):
    write_slices(inbox, 4)
    archive = tmp_path / "series.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(inbox.iterdir()):
            zipped.write(path, f"export/{path.name}")

    slow, fast, stored_fast = lanes(archive)

    assert fast == slow
    assert len(stored_fast) == 3


def test_importing_again_stores_nothing_twice(lanes, inbox, project, storage_root):
    write_slices(inbox, 4)
    ingest_dicom(inbox, project)
    files = sorted(storage_root.rglob("*.dcm"))

    again = ingest_dicom(inbox, project)

    assert again.created == {}
    assert again.duplicates == 4
    assert sorted(storage_root.rglob("*.dcm")) == files
    assert ImageInstance.objects.count() == 4


def test_a_changed_slice_under_a_stored_uid_is_a_conflict_in_both_lanes(
    lanes, inbox, tmp_path
):
    paths = write_slices(inbox, 4)
    changed = pydicom.dcmread(paths[3])
    changed.WindowCenter = "99"
    write_part10(changed, tmp_path / "changed.dcm")
    shutil.copy(tmp_path / "changed.dcm", inbox / "s05.dcm")

    slow, fast, _stored_fast = lanes(inbox)

    assert fast == slow
    assert [code for _s, code, *_ in slow["rejected"]] == ["content-conflict"]


def test_real_ct_slices_come_out_alike(lanes, inbox):
    from bench.dicom_ingest import source_slices, write_copies

    write_copies(inbox, 120, source_slices())

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    # Every series' first file is stored by pydicom, each other one fast:
    assert len(stored_fast) == 120 - 3


def test_a_real_series_read_in_place_comes_out_alike(lanes):
    series = shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", "CT", "image")

    slow, fast, stored_fast = lanes(series)

    assert fast == slow
    assert len(stored_fast) == len(list(series.glob("*.dcm"))) - 1


@pytest.mark.parametrize("other_first", [True, False], ids=["other first", "last"])
def test_a_batch_of_two_patients_is_screened_alike_for_every_file(
    lanes, inbox, other_first
):
    # Every file is screened for the identifiers of both patients; the series'
    # template too, so that the files stored fast after it keep none either.
    write_two_patients(inbox, 6, other_first)

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    assert stored_fast == [f"00000{n}.dcm" for n in range(2, 6)]
    for needle in IDENTIFIERS:
        assert [
            path for path, data in fast["files"].items() if needle.encode() in data
        ] == []


def test_a_full_disk_in_the_fast_lane_rolls_the_series_back(
    inbox, project, storage_root, monkeypatch
):
    write_slices(inbox, 5)
    write = dicom.write_pieces
    calls = []

    def full_disk(target, pieces):
        calls.append(target)
        write(target, pieces)
        if len(calls) == 2:
            raise OSError("No space left on device")

    monkeypatch.setattr(dicom, "write_pieces", full_disk)

    report = ingest_dicom(inbox, project)

    # The writer thread may have taken the next files before the failure was seen:
    assert len(calls) >= 2
    assert [p.code for p in report.rejected] == ["storage-failed"]
    assert not ImageInstance.objects.exists()
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []


def test_the_writer_raises_a_failed_write_at_the_next_file_and_at_the_end(tmp_path):
    writer = dicom._Writer()
    try:
        writer.write(tmp_path / "absent" / "a.dcm", [b"DICM"])
        writer.pending[0].exception()  # waits for the write to end
        with pytest.raises(FileNotFoundError):
            writer.write(tmp_path / "b.dcm", [b"DICM"])
        assert not (tmp_path / "b.dcm").exists()

        writer.write(tmp_path / "c.dcm", [b"DI", memoryview(b"CM")])
        writer.write(tmp_path / "absent" / "d.dcm", [b"DICM"])
        with pytest.raises(FileNotFoundError):
            writer.wait()
        assert (tmp_path / "c.dcm").read_bytes() == b"DICM"
        writer.wait()  # the error was raised once
    finally:
        writer.close()
    assert writer.executor is None


@pytest.fixture
def pooled_lanes(monkeypatch, settings, project, storage_root):
    """Return ingest(path) -> (slow snapshot, fast in two workers, names stored fast).

    The slow lane runs in process, the fast one in two worker processes, which
    store the files; this process learns from their results which went fast.
    """
    names: dict[int, str] = {}
    taken: list[int] = []
    start_pool = dicom._Ingest.start_pool
    run_in_pool = dicom._Ingest.run_in_pool

    def spied_start(self, images):
        names.update((index, header.source.name) for index, header in enumerate(images))
        return start_pool(self, images)

    def spied_run(self, pool, job, tasks, scope):
        results = run_in_pool(self, pool, job, tasks, scope)
        taken.extend(index for index, result in results.items() if result.fast)
        return results

    monkeypatch.setattr(dicom._Ingest, "start_pool", spied_start)
    monkeypatch.setattr(dicom._Ingest, "run_in_pool", spied_run)

    def ingest(path: Path) -> tuple[dict, dict, list[str]]:
        monkeypatch.setattr(dicom, "FAST_LANE", False)
        settings.BIOBANK_DICOM_WORKERS = 1
        slow = snapshot(ingest_dicom(path, project), storage_root)
        forget(project, storage_root)
        monkeypatch.setattr(dicom, "FAST_LANE", True)
        settings.BIOBANK_DICOM_WORKERS = 2
        settings.BIOBANK_DICOM_POOL_MIN_FILES = 1
        # The pool is only forked from a process running one thread (start_pool()):
        assert threading.active_count() == 1
        fast = snapshot(ingest_dicom(path, project), storage_root)
        return slow, fast, sorted(names[index] for index in taken)

    return ingest


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit VR", "implicit VR"])
def test_worker_processes_store_slices_fast_and_alike(pooled_lanes, inbox, implicit):
    write_slices(inbox, 8, implicit=implicit)

    slow, fast, stored_fast = pooled_lanes(inbox)

    assert fast == slow
    # Two parts of four files, each part's first stored by pydicom:
    assert stored_fast == [f"s{n:02d}.dcm" for n in (2, 3, 4, 6, 7, 8)]


def test_every_turn_of_an_import_comes_out_alike_in_worker_processes(
    pooled_lanes, inbox
):
    build_batch(inbox)

    slow, fast, stored_fast = pooled_lanes(inbox)

    assert fast == slow
    assert stored_fast, "no file took the fast lane"
    assert "s1_05.dcm" not in stored_fast  # a name in its description


def test_real_ct_slices_come_out_alike_in_worker_processes(pooled_lanes, inbox):
    from bench.dicom_ingest import source_slices, write_copies

    write_copies(inbox, 120, source_slices())

    slow, fast, stored_fast = pooled_lanes(inbox)

    assert fast == slow
    # Series of 50, 50 and 20 files, in two parts each: six stored by pydicom.
    assert len(stored_fast) == 120 - 6


# The byte reader itself:


def parsed_tags(path: Path) -> list[int]:
    return list(fastlane.parse(path.read_bytes(), header_only=False).elements)


def test_the_reader_finds_the_elements_pydicom_finds(tmp_path):
    ds = build_ct(ImageComments="x")
    # A sequence of undefined length, with an item of undefined length inside:
    item = pydicom.Dataset()
    item.CodeValue = "T-D3000"
    item.CodingSchemeDesignator = "SRT"
    ds.AnatomicRegionSequence = [item]
    path = write_part10(ds, tmp_path / "ct.dcm")
    data = bytearray(path.read_bytes())

    assert parsed_tags(path) == sorted(pydicom.dcmread(path).keys())

    for cut in (len(data) - 10, 300):
        (tmp_path / "cut.dcm").write_bytes(data[:cut])
        with pytest.raises(fastlane.Unusual):
            parsed_tags(tmp_path / "cut.dcm")


def test_a_header_read_from_the_first_bytes_needs_the_tag_after_it(tmp_path):
    first, second = write_slices(tmp_path, 2, size=64)
    template = fastlane.parse(first.read_bytes(), header_only=True).header_part()
    data = second.read_bytes()
    header = fastlane.parse(data, header_only=True)
    end = max(element.end for element in header.elements.values())

    # Cut at the end of the header, the bytes could go on with another element:
    with pytest.raises(fastlane.Unusual, match="cut short"):
        fastlane.compare(data[:end], template, header_only=True, complete=False)
    compared = fastlane.compare(
        data[: end + 4], template, header_only=True, complete=False
    )

    assert set(compared.elements) == set(
        fastlane.compare(data, template, header_only=True).elements
    )


def test_the_template_hashes_files_as_the_slow_path_does(tmp_path):
    paths = write_slices(tmp_path, 3)
    source = SourceFile(paths[0].name, lambda: open(paths[0], "rb"))  # noqa: SIM115
    _ds, digest = read_object(source)

    parts = fastlane._hash_parts(fastlane.parse(paths[0].read_bytes(), False))

    assert digest == content_sha256(pydicom.dcmread(paths[0]))
    assert fastlane.hashlib.sha256(b"".join(parts.values())).hexdigest() == digest


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit VR", "implicit VR"])
def test_values_pydicom_converts_to_hash_them_are_hashed_as_it_does(tmp_path, implicit):
    # Empty values of several VRs and sequences, which pydicom converts, and
    # private elements, which it keeps raw:
    ds = build_ct(ReferringPhysicianName="", WindowWidth=None, AccessionNumber="")
    ds.add_new(0x00280106, "US", None)
    ds.add_new(0x00180050, "DS", None)
    ds.add_new(0x00090010, "LO", "ACME 1.0")
    ds.add_new(0x00091001, "OB", b"")
    item = pydicom.Dataset()
    item.CodeValue = "T-D3000"
    item.CodeMeaning = ""
    item.add_new(0x00080102, "SH", None)
    ds.AnatomicRegionSequence = [item]
    ds.ReferencedImageSequence = []
    path = write_part10(ds, tmp_path / "ct.dcm")
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
        pydicom.dcmwrite(path, ds, enforce_file_format=True)

    parts = fastlane._hash_parts(fastlane.parse(path.read_bytes(), False))

    digest = content_sha256(pydicom.dcmread(path))
    assert fastlane.hashlib.sha256(b"".join(parts.values())).hexdigest() == digest
    assert list(parts) == sorted(pydicom.dcmread(path).keys())


def test_a_file_without_part10_header_is_left_to_pydicom(tmp_path):
    path = write_bare(build_ct(), tmp_path / "bare.dcm")

    with pytest.raises(fastlane.Unusual):
        parsed_tags(path)


def test_uids_are_replaced_as_the_profile_replaces_them(lanes, inbox):
    write_slices(inbox, 3, ReferencedSOPInstanceUID=generate_uid())

    slow, fast, stored_fast = lanes(inbox)

    assert fast == slow
    stored = stored_dataset(ImageInstance.objects.order_by("instance_number").last())
    assert stored.SOPInstanceUID.startswith("2.25.")
    assert len(stored_fast) == 2


@pytest.mark.parametrize(
    "case",
    [
        "01-dicom-patient-age-as",
        "02-dicom-missing-or-malformed-dates",
        "03-dicom-no-preamble-implicit-vr",
        "05-dicom-private-tag-phi",
        "07-dicom-duplicate-uid-reimport",
    ],
)
def test_the_shared_cases_come_out_alike(lanes, case):
    slow, fast, _stored_fast = lanes(case_path(case))

    assert fast == slow
