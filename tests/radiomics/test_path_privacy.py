"""No patient identifier leaves an import through file or folder names.

Folders exported one per patient carry the patient's ID and name (PID-778899_Smith_John/),
and so do the paths of a PyRadiomics batch CSV (/data/STS_001/ct.nrrd). These tests build
such input, run the commands as a user would, and look for the identifiers in everything
that comes out: console, log records and every stored text.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import warnings
from pathlib import Path

import pydicom
import pytest
from django.core.management import call_command
from django.db import models
from rest_framework.test import APIClient

from biobank.core.importing import Problem
from patients.models import DataIssue, ImportRun, Patient
from radiomics.importers import dicom
from radiomics.importers.deid import IdentifierScreen
from radiomics.importers.sources import library_messages
from radiomics.models import (
    FeatureExtraction,
    ImageInstance,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)
from tests.radiomics.conftest import build_ct, write_part10

pytestmark = [
    pytest.mark.attack,
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

# Anywhere in a text, case ignored:
LONG_IDENTIFIERS = [
    "778899",
    "SMITH",
    "JOHNATHAN",
    "JOHN",
    "QUIRKE",
    "ACC5551234",
    "19750314",
    "1975-03-14",
]
# Patient Li^Ng: two-letter names, screened as whole words only.
SHORT_NAMES = ["LI", "NG"]


def stored_texts() -> list[str]:
    """Every text field of every row an import writes, and the summaries it stores."""
    texts = []
    for model in (
        DataIssue,
        ImportRun,
        FeatureExtraction,
        Segmentation,
        ImagingStudy,
        ImageSeries,
        ImageInstance,
    ):
        fields = [
            f.name
            for f in model._meta.concrete_fields
            if isinstance(f, models.CharField | models.TextField | models.JSONField)
        ]
        for row in model.objects.values(*fields):
            texts += [json.dumps(value) for value in row.values()]
    return texts


def leaks(texts: list[str]) -> list[str]:
    # A pseudonym is a generated token, which may hold NG or LI (DEMO-0NG911G: one
    # CI run in many failed on it); it stands for the patient, so it is left out:
    pseudonyms = [
        p.upper() for p in Patient.objects.values_list("pseudonym", flat=True)
    ]
    found = []
    for text in texts:
        upper = text.upper()
        for pseudonym in pseudonyms:
            upper = upper.replace(pseudonym, "[PSEUDONYM]")
        found += [f"{word} in {text!r}" for word in LONG_IDENTIFIERS if word in upper]
        found += [
            f"{name} in {text!r}"
            for name in SHORT_NAMES
            if re.search(rf"(?<![A-Z]){name}(?![A-Z])", upper)
        ]
    return found


@pytest.fixture
def phi_folder(tmp_path: Path) -> Path:
    """The trial's folder x/, plus a short-named patient and the noise of an export."""
    root = tmp_path / "x"
    folder = root / "PID-778899_Smith_John"
    smith = {
        "PatientID": "PID-778899",
        "PatientName": "Smith^Johnathan",
        "OtherPatientNames": "Quirke^Johnathan",
        "AccessionNumber": "ACC5551234",
        "PatientBirthDate": "19750314",
    }
    folder.mkdir(parents=True)
    write_part10(build_ct(**smith), folder / "PID-778899_ok.dcm")
    write_part10(
        build_ct(**smith, BurnedInAnnotation="YES"),
        folder / "Smith_Johnathan_burned.dcm",
    )
    write_part10(build_ct(**smith), folder / "Quirke_1975-03-14_ACC5551234.dcm")
    (folder / "Smith_John_notes.txt").write_text("not DICOM")
    cut = (folder / "PID-778899_ok.dcm").read_bytes()[:400]
    (folder / "smith_cut.dcm").write_bytes(cut)

    short = root / "Li_Ng" / "NgLi"
    short.mkdir(parents=True)
    write_part10(
        build_ct(PatientID="P7", PatientName="Li^Ng"), short / "slice_clinical_01.dcm"
    )
    return root


def run_ingest(folder: Path, project, caplog) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.DEBUG):
        call_command(
            "ingest_dicom", str(folder), project=project.code, stdout=out, stderr=err
        )
    return out.getvalue(), err.getvalue()


def test_ingest_keeps_every_identifier_of_the_batch_out_of_console_logs_and_rows(
    phi_folder, project, caplog, storage_root
):
    first = run_ingest(phi_folder, project, caplog)
    # Run again: the "already present" lines name every file once more.
    second = run_ingest(phi_folder, project, caplog)

    stored_paths = [
        p.relative_to(storage_root).as_posix() for p in storage_root.rglob("*")
    ]
    printed = [*first, *second, caplog.text]
    assert "already present, identical" in second[0]
    assert "says its pixels show identifying text" in first[0]
    assert DataIssue.objects.filter(code="burned-in-annotation").count() == 2
    assert len(stored_paths) > 3
    assert leaks(printed + stored_texts() + stored_paths) == []


BURNED = "[redacted]_[redacted]_[redacted]/[redacted]_[redacted]_burned.dcm"


def test_ingest_names_a_file_by_what_is_left_of_its_path(phi_folder, project, caplog):
    out, _err = run_ingest(phi_folder, project, caplog)

    # Enough is left to find the file in the folder given:
    assert f"  rejected: {BURNED}, field BurnedInAnnotation" in out
    assert DataIssue.objects.get(code="burned-in-annotation").source_name == BURNED
    assert ImportRun.objects.get().source_name == "x"


def test_ingest_screens_the_name_of_the_folder_given(phi_folder, project, caplog):
    out, _err = run_ingest(phi_folder / "PID-778899_Smith_John", project, caplog)

    run = ImportRun.objects.get()
    assert run.source_name == "[redacted]_[redacted]_[redacted]"
    assert out.startswith("[redacted]_[redacted]_[redacted]: created 2 instances")
    assert "  rejected: [redacted]_[redacted]_burned.dcm, field" in out


def test_short_names_leave_the_words_they_hide_in_alone():
    screen = IdentifierScreen()
    screen.add_name("Li^Ng")
    screen.add_identifier("P7")

    assert screen.redact("Li_Ng/slice_clinical_01.dcm") == (
        "[redacted]_[redacted]/slice_clinical_01.dcm"
    )
    assert screen.redact("NG-LI.dcm") == "[redacted]-[redacted].dcm"
    assert screen.redact("LiNg_ct") == "[redacted][redacted]_ct"
    assert (
        screen.redact("p7_mask.nrrd P70_mask.nrrd")
        == "[redacted]_mask.nrrd P70_mask.nrrd"
    )
    assert screen.redact("Longitudinal English single") == "Longitudinal English single"


def test_a_one_digit_id_goes_from_paths_but_counts_in_messages_stay():
    screen = IdentifierScreen()
    screen.add_identifier("7")

    problem = screen.redact_problem(
        Problem("7/ct_17.dcm", "7 of its 17 images are stored.", value="7")
    )

    assert problem.source == "[redacted]/ct_17.dcm"
    assert (problem.message, problem.value) == ("7 of its 17 images are stored.", "7")


def test_long_names_and_ids_go_wherever_they_stand_whatever_the_case():
    screen = IdentifierScreen()
    screen.add_name("Smith-Jones^Johnathan")
    screen.add_name("Müller^Hans")
    screen.add_identifier("PID-00778899")
    screen.add_identifier("19750314", is_date=True)

    assert screen.redact("jones_SMITHJOHNATHAN") == "[redacted]_[redacted][redacted]"
    assert screen.redact("mueller_muller_MÜLLER") == "[redacted]_[redacted]_[redacted]"
    assert screen.redact("778899/14.03.1975/1975_03_14") == (
        "[redacted]/[redacted]/[redacted]"
    )
    # A name cut short beside a name found goes too; the same word alone does not:
    assert screen.redact("Smith_Johna/Johna") == "[redacted]_[redacted]/Johna"
    screen.add_name("Age^Case")
    assert screen.redact("PatientAge (0010,1010)") == "PatientAge (0010,1010)"


def test_pydicom_warnings_carry_the_screened_name_once_per_file_with_a_count(
    phi_folder, project, caplog, monkeypatch
):
    read = dicom.read_dataset

    def read_noisily(source, header_only):
        # pydicom quotes the path it read when a file ends early; three times here:
        for _ in range(3):
            warnings.warn(
                f"odd element in file {phi_folder}/{source.name}",
                UserWarning,
                stacklevel=2,
            )
        warnings.warn("Invalid pixel padding", UserWarning, stacklevel=2)
        return read(source, header_only)

    monkeypatch.setattr(dicom, "read_dataset", read_noisily)

    with warnings.catch_warnings(record=True) as raw:
        warnings.simplefilter("always")
        out, err = run_ingest(phi_folder, project, caplog)

    assert raw == []
    lines = [line for line in out.splitlines() if "pydicom warned" in line]
    # One per file, however often it warned (and pydicom's own about the cut file),
    # and one for what every file said:
    assert len(lines) == 8
    assert ("pydicom warned: Invalid pixel padding (said of 5 more files too)") in out
    folder = "[redacted]_[redacted]_[redacted]"
    assert (
        f"  warning: {folder}/[redacted]_ok.dcm: pydicom warned (3 times): "
        f"odd element in file {folder}/[redacted]_ok.dcm"
    ) in lines
    assert leaks([out, err, caplog.text, *stored_texts()]) == []


def test_library_messages_counts_a_warning_pydicom_also_logs_once():
    pydicom_logger = logging.getLogger("pydicom")

    with library_messages() as messages:
        for _ in range(2):
            warnings.warn("Expected explicit VR", UserWarning, stacklevel=2)
            pydicom_logger.warning("Expected explicit VR")
        pydicom_logger.warning("only logged")

    assert messages == {"Expected explicit VR": 2, "only logged": 1}


@pytest.fixture
def phi_csv(tmp_path: Path) -> Path:
    path = tmp_path / "batch.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            [
                "PatientID",
                "Image",
                "Mask",
                "diagnostics_Note",
                "original_firstorder_Mean",
            ]
        )
        writer.writerow(
            [
                "STS_001",
                "/data/STS_001/sts_001_ct.nrrd",
                "/data/STS_001/masks/gtv.nrrd",
                "read from /data/STS_001",
                "1.5",
            ]
        )
        writer.writerow(["P7", "/data/P7/ct.nrrd", "/data/P7/P7_mask.nrrd", "", "2.5"])
        writer.writerow(["P70", "/data/P70/ct.nrrd", "/data/P70/mask.nrrd", "", ""])
    return path


def test_pyradiomics_import_stores_the_paths_without_the_source_ids(
    phi_csv, project, caplog
):
    out, err = io.StringIO(), io.StringIO()
    with caplog.at_level(logging.DEBUG):
        call_command(
            "import_pyradiomics",
            str(phi_csv),
            project=project.code,
            create_patients=True,
            stdout=out,
            stderr=err,
        )

    references = set(
        FeatureExtraction.objects.values_list("image_reference", "mask_reference")
    )
    assert references == {
        ("/data/[redacted]/[redacted]_ct.nrrd", "/data/[redacted]/masks/gtv.nrrd"),
        ("/data/[redacted]/ct.nrrd", "/data/[redacted]/[redacted]_mask.nrrd"),
        ("/data/[redacted]/ct.nrrd", "/data/[redacted]/mask.nrrd"),
    }
    texts = [out.getvalue(), err.getvalue(), caplog.text, *stored_texts()]
    assert [
        t for t in texts if re.search(r"STS_001|(?<![A-Z0-9])P70?(?![0-9])", t)
    ] == []


def test_pyradiomics_problems_never_quote_the_source_ids(phi_csv, project):
    text = phi_csv.read_text().replace("1.5", "STS_001")
    phi_csv.write_text(text)

    with pytest.raises(Exception, match="not a number"):
        call_command(
            "import_pyradiomics",
            str(phi_csv),
            project=project.code,
            stdout=io.StringIO(),
        )

    issues = DataIssue.objects.values_list("source_name", "message", "value")
    assert issues
    assert [i for i in issues if "STS_001" in str(i)] == []


def test_the_api_shows_no_path_of_an_imported_extraction(
    phi_csv, project, django_user_model
):
    call_command(
        "import_pyradiomics",
        str(phi_csv),
        project=project.code,
        create_patients=True,
        stdout=io.StringIO(),
    )
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_superuser("admin"))

    response = client.get("/api/feature-extractions/")

    assert response.status_code == 200
    assert len(response.json()["results"]) == 3
    assert "nrrd" not in response.content.decode()


def test_identifiers_go_as_whole_tokens_not_inside_codes_and_words():
    # The demo's patient DOE^PETER, ID 98890234, whose AccessionNumber is 2;
    # the series folders of pydicom's DICOMDIR are named CR2/, CT2N/ and MR700/.
    screen = IdentifierScreen()
    screen.add_name("Doe^Peter")
    screen.add_identifier("98890234")
    screen.add_identifier("2")
    screen.add_identifier("700")

    # Modality and series codes and ordinary words survive:
    assert screen.redact("CR2/6247 CT2N/6293 MR700/4558 T2 flair") == (
        "CR2/6247 CT2N/6293 MR700/4558 T2 flair"
    )
    assert screen.redact("PETERSON does a DOES; 198890234") == (
        "PETERSON does a DOES; 198890234"
    )
    # The identifiers themselves still go, alone, glued together or to a code:
    assert screen.redact("2/ct.dcm 700_mask DOE_PETER/ct.dcm") == (
        "[redacted]/ct.dcm [redacted]_mask [redacted]_[redacted]/ct.dcm"
    )
    assert screen.redact("DoePeter/PETER01/IMG98890234_ct") == (
        "[redacted][redacted]/[redacted]01/IMG[redacted]_ct"
    )


def test_a_rerun_of_a_dicomdir_folder_names_its_series_folders_whole(project, caplog):
    folder = Path(pydicom.__file__).parent / "data/test_files/dicomdirtests/77654033"
    if not folder.is_dir():
        pytest.skip(f"pydicom ships no {folder}")
    run_ingest(folder, project, caplog)

    out, _err = run_ingest(folder, project, caplog)

    # The folder is the patient ID; the series folders CR1/ to CT2/ are no identifier
    # (the AccessionNumber of its images is 2):
    assert out.startswith("[redacted]: created nothing; 7 already present")
    assert "CR2/6247, CR3/6278, CT2/17106" in out
    assert "77654033" not in out + caplog.text
