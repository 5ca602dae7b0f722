"""A batch of several patients: no stored file keeps another patient's identifiers,
and a series whose files name two patients is stored for neither.

The trial case: STS_001's CT slices, one of them given another PatientID. Its copy
kept StudyDescription IBSI_1_STS_001_CT, which names STS_001, because each file was
screened for its own identifiers only.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pydicom
import pytest
from django.core.management import call_command
from pydicom.uid import generate_uid

from patients.models import ImportRun, Patient
from patients.services import pseudonymise, source_key
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageInstance, ImageSeries, ImagingStudy
from tests.conftest import shared_path
from tests.radiomics.conftest import build_ct, stored_dataset, write_part10
from tests.radiomics.test_dicom_deid import found_anywhere

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:The value length"),
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
]

OTHER_ID = "OTHER_PAT_42"
# STS_001's PatientID and PatientName, and its AccessionNumber:
STS_IDENTIFIERS = ("STS_001", "1764353264683505")
IDENTIFIERS = (*STS_IDENTIFIERS, OTHER_ID)


def sts_slices(inbox: Path, count: int) -> list[Path]:
    """Copy the first `count` CT slices of STS_001 (shared test data) into the inbox."""
    folder = shared_path("dicom_sts_rtstruct_ct_pet_mr", "STS_001", "CT", "image")
    paths = []
    for source in sorted(folder.glob("*.dcm"))[:count]:
        paths.append(Path(shutil.copy(source, inbox / source.name)))
    return paths


def rewrite(path: Path, **attributes: object) -> None:
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)


def ingest(inbox: Path, project, caplog) -> tuple[object, str]:
    """Ingest the inbox; return the report and everything it printed and logged."""
    for name in ("", "radiomics", "patients", "biobank"):
        caplog.set_level(logging.DEBUG, logger=name)
    report = ingest_dicom(inbox, project)
    return report, report.summary() + "\n" + caplog.text


def leaked(text: str) -> list[str]:
    return [needle for needle in IDENTIFIERS if needle.lower() in text.lower()]


@pytest.mark.parametrize(
    "odd", ["000000.dcm", "000003.dcm"], ids=["sorted first", "sorted later"]
)
def test_a_series_whose_files_name_two_patients_is_refused_whole(
    inbox, project, storage_root, caplog, odd
):
    sts_slices(inbox, 6)
    rewrite(inbox / odd, PatientID=OTHER_ID)

    report, said = ingest(inbox, project, caplog)

    (problem,) = report.rejected
    assert (problem.source, problem.code, problem.field) == (
        "000000.dcm",
        "patient-mismatch",
        "PatientID (0010,0020)",
    )
    first_of_most = "000001.dcm" if odd == "000000.dcm" else "000000.dcm"
    assert problem.message == (
        "belongs to a series whose 6 files name 2 patients in PatientID (0010,0020): "
        f"5 files with the PatientID of {first_of_most}, 1 file with that of {odd}. "
        "A series is of one patient, so none of its files was imported; sort them "
        "by patient and import them again."
    )
    assert report.created == {}
    assert not Patient.objects.exists()
    assert not ImageInstance.objects.exists()
    assert [path for path in storage_root.rglob("*") if path.is_file()] == []
    assert leaked(said) == []
    for needle in IDENTIFIERS:
        assert found_anywhere(needle, storage_root) == []


def write_two_patients(inbox: Path, count: int, other_first: bool) -> Path:
    """Write the trial's odd file as a series and study of its own, and STS_001's.

    `count` files in all; the odd one's descriptions still name STS_001, and
    STS_001's series description names the other patient. The odd file is read and
    stored first, or last. Return its path.
    """
    paths = sts_slices(inbox, count)
    for path in paths[1:]:
        rewrite(path, SeriesDescription=f"IBSI_1_STS_001_CT_image after {OTHER_ID}")
    other = inbox / ("000000.dcm" if other_first else "zz_other.dcm")
    paths[0].rename(other)
    rewrite(
        other,
        PatientID=OTHER_ID,
        PatientName="",
        AccessionNumber="",
        # Series are stored in the order of their study and series UIDs, and
        # STS_001's study UID begins 1.3.6 (pydicom's own UIDs begin 1.2.826):
        StudyInstanceUID="1.2.3" if other_first else "9.9.9",
        SeriesInstanceUID=generate_uid(),
    )
    return other


@pytest.mark.parametrize("other_first", [True, False], ids=["other first", "last"])
def test_no_stored_file_keeps_the_identifiers_of_another_patient_of_the_batch(
    inbox, project, storage_root, caplog, other_first
):
    other = write_two_patients(inbox, 5, other_first)

    report, said = ingest(inbox, project, caplog)

    assert report.rejected == []
    assert report.created == {
        "patients": 2,
        "studies": 2,
        "series": 2,
        "instances": 5,
    }
    assert set(ImagingStudy.objects.values_list("description", flat=True)) == {""}
    assert set(ImageSeries.objects.values_list("description", flat=True)) == {""}
    assert {(p.source, p.field) for p in report.warnings} >= {
        (other.name, "StudyDescription (0008,1030)"),
        (other.name, "SeriesDescription (0008,103E)"),
        ("000001.dcm", "SeriesDescription (0008,103E)"),
    }
    assert leaked(said) == []
    for needle in IDENTIFIERS:
        assert found_anywhere(needle, storage_root) == []


@pytest.mark.parametrize("odd", [1, 3], ids=["sorted first", "sorted later"])
def test_a_built_series_of_two_patients_is_refused_whole(inbox, project, odd):
    first = build_ct()
    for number in range(1, 4):
        write_part10(
            build_ct(
                StudyInstanceUID=first.StudyInstanceUID,
                SeriesInstanceUID=first.SeriesInstanceUID,
                InstanceNumber=number,
                PatientID="SYN-0042" if number == odd else "SYN-9001",
                PatientName="OTHER^PAT" if number == odd else "TESTPERSON^ALEX",
            ),
            inbox / f"{number}.dcm",
        )

    report = ingest_dicom(inbox, project)

    assert [(p.source, p.code) for p in report.rejected] == [
        ("1.dcm", "patient-mismatch")
    ]
    text = report.summary()
    assert "SYN-0042" not in text and "SYN-9001" not in text
    assert "3 files name 2 patients" in text
    assert not ImageInstance.objects.exists()


def stored_values(project, patient_id: str) -> dict[str, str]:
    """Return what the stored copy of the patient's one file keeps of its texts."""
    (instance,) = ImageInstance.objects.filter(
        series__study__patient__source_key=source_key(project, patient_id)
    )
    ds = stored_dataset(instance)
    return {
        keyword: str(ds.get(keyword, ""))
        for keyword in ("Modality", "SeriesDescription", "ProtocolName")
    } | {"series modality": instance.series.modality}


@pytest.mark.parametrize("name", ["CT^MR", "O^PET", "Pet^Ct"])
def test_a_short_name_part_of_one_patient_blanks_no_word_of_another(
    inbox, project, name
):
    """A patient named CT^MR emptied Modality CT, SeriesDescription CT CHEST and the
    series' modality of every other patient's files of the batch.

    Other patients' files are screened for its distinctive identifiers only; its own
    files keep the whole-word screen of its short name parts.
    """
    texts = {
        "Modality": "CT",
        "SeriesDescription": "CT CHEST",
        "ProtocolName": "PET MR CT",
    }
    write_part10(
        build_ct(PatientID="SYN-1111", PatientName=name, **texts), inbox / "a.dcm"
    )
    write_part10(
        build_ct(PatientID="SYN-2222", PatientName="TESTPERSON^ALEX", **texts),
        inbox / "b.dcm",
    )

    report = ingest_dicom(inbox, project)

    assert report.rejected == []
    assert stored_values(project, "SYN-2222") == texts | {"series modality": "CT"}
    assert {p.source for p in report.warnings if p.code == "identifier-in-text"} == {
        "a.dcm"
    }
    own = stored_values(project, "SYN-1111")
    assert own["ProtocolName"] == ""  # free text: its own short name parts go
    assert (own["Modality"], own["series modality"]) == ("CT", "CT")  # a code stays


def test_a_distinctive_identifier_of_another_patient_is_still_found(inbox, project):
    write_part10(
        build_ct(PatientID="SYN-1111", PatientName="CT^MARGARETHE"), inbox / "a.dcm"
    )
    for name, description in [
        ("b.dcm", "CT CHEST after SYN-1111"),
        ("c.dcm", "CT CHEST Margarethe"),
        ("d.dcm", "CT CHEST after 1111"),  # too few digits to be taken for the ID
    ]:
        write_part10(
            build_ct(
                PatientID=f"SYN-{name[0] * 4}",
                PatientName="TESTPERSON^ALEX",
                SeriesDescription=description,
            ),
            inbox / name,
        )

    ingest_dicom(inbox, project)

    assert stored_values(project, "SYN-bbbb")["SeriesDescription"] == ""
    assert stored_values(project, "SYN-cccc")["SeriesDescription"] == ""
    assert (
        stored_values(project, "SYN-dddd")["SeriesDescription"] == "CT CHEST after 1111"
    )


def test_a_series_or_study_refused_whole_counts_each_of_its_files(
    inbox, project, capsys
):
    """Refused whole with one problem each, they were counted as 1 rejected each."""
    mixed = build_ct()
    study = build_ct()
    files = [
        # A series of three files, one of another patient:
        *(
            build_ct(
                StudyInstanceUID=mixed.StudyInstanceUID,
                SeriesInstanceUID=mixed.SeriesInstanceUID,
                InstanceNumber=n,
                PatientID="SYN-0042" if n == 3 else "SYN-9001",
            )
            for n in (1, 2, 3)
        ),
        # A study of two series, of two patients: both refused (3 files):
        *(
            build_ct(
                StudyInstanceUID=study.StudyInstanceUID,
                SeriesInstanceUID=study.SeriesInstanceUID,
                InstanceNumber=n,
                PatientID="SYN-7001",
            )
            for n in (1, 2)
        ),
        build_ct(StudyInstanceUID=study.StudyInstanceUID, PatientID="SYN-7002"),
        build_ct(PatientID="SYN-5555"),  # stored
    ]
    for number, ds in enumerate(files):
        write_part10(ds, inbox / f"{number}.dcm")
    (inbox / "junk.dcm").write_bytes(b"not DICOM")  # rejected on its own

    call_command("ingest_dicom", str(inbox), "--project", project.code)

    out = capsys.readouterr().out
    assert (
        "created 1 instance, 1 patient, 1 series, 1 study; 0 already present; " in out
    )
    assert "; 7 rejected; " in out
    run = ImportRun.objects.get()
    assert run.summary["rejected_files"] == 7
    assert len(run.summary["rejected"]) == 4  # the mixed series, the study's two, junk
    assert run.status == ImportRun.Status.PARTIAL


def test_a_source_id_of_a_patient_stored_before_is_found_by_its_keyed_hash(
    inbox, project, tmp_path
):
    """A patient of an earlier import, DICOM or lab, is known by a keyed hash only."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    write_part10(
        build_ct(PatientID="STS_001", PatientName="EARLIER^PAT"), earlier / "a.dcm"
    )
    ingest_dicom(earlier, project)
    pseudonymise(project, "LAB-778899")  # a lab import's patient
    pseudonymise(project, "2021")  # a source ID of four digits
    texts = {
        "SeriesDescription": "IBSI_1_STS_001_CT",
        "StudyDescription": "after lab-778899",
        "ProtocolName": "follow-up 2021",
        "ImageComments": "sts_001",  # removed by the profile anyway
    }
    write_part10(build_ct(PatientID="SYN-2222", **texts), inbox / "b.dcm")

    report = ingest_dicom(inbox, project)

    ds = stored_dataset(
        ImageInstance.objects.get(
            series__study__patient__source_key=source_key(project, "SYN-2222")
        )
    )
    assert ds.SeriesDescription == ds.StudyDescription == ""
    assert ds.ProtocolName == "follow-up 2021"  # four digits are no ID here
    assert {p.field for p in report.warnings if p.code == "identifier-in-text"} == {
        "SeriesDescription (0008,103E)",
        "StudyDescription (0008,1030)",
    }
    assert ImagingStudy.objects.filter(description__icontains="STS").count() == 0


def test_a_short_name_part_is_still_screened_in_the_patients_other_files(
    inbox, project
):
    """Its own files, in other series too, keep the whole-word screen of CT in free
    text; their Modality CT, a code, stays."""
    write_part10(build_ct(PatientID="SYN-1111", PatientName="CT^MR"), inbox / "a.dcm")
    write_part10(
        build_ct(PatientID="SYN-1111", PatientName="", SeriesDescription="CT CHEST"),
        inbox / "b.dcm",
    )

    report = ingest_dicom(inbox, project)

    assert report.created["instances"] == 2
    descriptions = ImageSeries.objects.values_list("description", flat=True)
    assert set(descriptions) == {""}
    assert set(ImageSeries.objects.values_list("modality", flat=True)) == {"CT"}
    assert {stored_dataset(i).Modality for i in ImageInstance.objects.all()} == {"CT"}
    assert ("b.dcm", "SeriesDescription (0008,103E)") in {
        (p.source, p.field) for p in report.warnings
    }


def two_patients(inbox: Path, project, a: dict, description: str) -> dict[str, str]:
    """Import patient A (`a`) and patient B, whose SeriesDescription is given; return
    what B's stored copy keeps."""
    write_part10(build_ct(**a), inbox / "a.dcm")
    write_part10(
        build_ct(
            PatientID="SYN-2222",
            PatientName="TESTPERSON^ALEX",
            SeriesDescription=description,
        ),
        inbox / "b.dcm",
    )
    report = ingest_dicom(inbox, project)
    assert report.rejected == []
    return stored_values(project, "SYN-2222")


@pytest.mark.parametrize(
    "a, description",
    [
        ({"PatientName": "LI^WEI"}, "follow-up of Li Wei"),
        ({"PatientName": "LI^WEI"}, "WEI, LI prior"),
        ({"PatientName": "LI^WEI"}, "ref LI^WEI"),
        ({"PatientName": "LI^WEI"}, "LiWei 2019"),
        ({"PatientName": "NG^YU"}, "NG YU prior"),
        ({"PatientName": "WU^XI^AN"}, "wu xi an"),
        # Glued to digits or a code, cut where redact() cuts words:
        ({"PatientName": "LI^WEI"}, "LiWei2"),
        ({"PatientName": "LI^WEI"}, "LIWEI01"),
        ({"PatientName": "NG^YU"}, "NgYuCT"),
        ({"PatientID": "P12"}, "compare P12 baseline"),
        # A family name of two or three letters beside an initial of the patient's:
        ({"PatientName": "LI^WEI"}, "follow-up of LI W."),
        ({"PatientName": "LI^WEI"}, "W. Li prior"),
        ({"PatientName": "LI^WEI"}, "ref LI^W"),
        ({"PatientName": "LI^WEI^MING"}, "Li, M. 2019"),  # the middle name's
        ({"PatientName": "LÜ^WEI"}, "LU W."),  # spelt without accents
        ({"PatientName": "DOE^JOHN"}, "DOE J. follow-up"),
        # ... also one that is a word written beside a lone letter (NO, Korean 노)
        # or a modality (KO, Korean 고), where a caret, or a comma and a stop, mark
        # the initial as a name's:
        ({"PatientName": "NO^MINSU"}, "follow-up of No, M."),
        ({"PatientName": "NO^MINSU"}, "ref NO^M"),
        ({"PatientName": "IN^HO^JUNG"}, "IN, J. 2019"),  # the middle name's
        ({"PatientName": "KO^MINSU"}, "KO^M follow-up"),
    ],
)
def test_short_name_parts_of_another_patient_together_are_found(
    inbox, project, a, description
):
    """Two short name parts of one patient together, or a short ID of letters and
    digits, are no word of the trade: another patient's file does not keep them
    (kept after 9aa44a8)."""
    a = {"PatientID": "SYN-1111", "PatientName": "DOE^JOHNNY"} | a
    assert two_patients(inbox, project, a, description)["SeriesDescription"] == ""


@pytest.mark.parametrize(
    "name, description",
    [("LI^WEI", "LiWei2"), ("LI^WEI", "LIWEI01"), ("NG^YU", "NgYuCT")],
)
def test_own_short_name_parts_glued_to_digits_or_a_code_are_found(
    inbox, project, name, description
):
    """LiWei2 is Li, Wei and 2 (lower case turns to upper, letters to digits), as
    redact() cuts words: the patient's own file kept it."""
    write_part10(
        build_ct(PatientID="SYN-1111", PatientName=name, SeriesDescription=description),
        inbox / "a.dcm",
    )
    ingest_dicom(inbox, project)
    assert stored_values(project, "SYN-1111")["SeriesDescription"] == ""


@pytest.mark.parametrize(
    "a, description",
    [
        ({"PatientName": "LI^WEI"}, "SLICE LI 5 CT CHEST"),  # a lone part
        ({"PatientName": "LI^WEI"}, "LI CT WEI"),  # not side by side
        ({"PatientName": "NG^YU"}, "YU"),  # a lone part
        ({"PatientName": "CT^MR"}, "PET MR CT"),  # modalities only
        ({"PatientID": "123"}, "RECON 123"),  # a short ID of digits only
        ({"PatientName": "RAIN^JOHNNY"}, "BRAIN MRI"),  # inside a word
        ({"PatientName": "LONG^EMILY"}, "longitudinal follow-up"),
        ({"PatientName": "ABDO^MEN"}, "Abdomen"),
        # The same part twice is not two parts (over-redacted after fe7c775):
        ({"PatientName": "LI^WEI"}, "LILI"),
        ({"PatientName": "LI^WEI"}, "LI LI"),
        # Glued parts that make a body part (PS3.16 Table L-1) or a modality:
        ({"PatientName": "NG^LU"}, "LUNG WINDOW"),
        ({"PatientName": "HE^AD"}, "HEAD CT"),
        ({"PatientName": "PL^AN"}, "CT PLAN"),
        # ... or a word of their meanings (Bone Mineral Densitometry):
        ({"PatientName": "BO^NE"}, "BONE WINDOW"),
        # A short family name with another initial, with a small letter (no
        # initial), glued to it (LIW, as AND of AN^DAVID), or a modality:
        ({"PatientName": "LI^WEI"}, "LI X."),
        ({"PatientName": "DO^ANH"}, "do a delayed scan"),
        ({"PatientName": "LI^WEI"}, "LIW"),
        ({"PatientName": "CT^WEI"}, "CT W CONTRAST"),
        # A family name of one letter (emptied every W/O C after 40e206c):
        ({"PatientName": "O^CHULSOO"}, "CT HEAD W/O C"),
        ({"PatientName": "O^CHULSOO"}, "HEAD W O C"),
        ({"PatientName": "O^CHULSOO"}, "BRAIN W/O C+"),
        # A family name in small letters is no name:
        ({"PatientName": "LI^WEI"}, "li W"),
        # A family name that is a word written beside a lone letter:
        ({"PatientName": "NO^CHUL"}, "CT HEAD NO C"),
        ({"PatientName": "TO^LAN"}, "compare to L side"),
        ({"PatientName": "TO^LAN"}, "COMPARE TO L SIDE"),
        ({"PatientName": "IN^LEE"}, "lesion in L lung"),
        ({"PatientName": "AP^LEE"}, "CHEST AP L"),
        ({"PatientName": "LAT^RONALD"}, "LAT R"),
        ({"PatientName": "MIN^ANNA"}, "DELAY 5 MIN A"),
        # ... and such a word beside its initial marked by nothing, another
        # initial, letters of an abbreviation, or the word in small letters:
        ({"PatientName": "NO^MINSU"}, "NO CONTRAST"),
        ({"PatientName": "NO^MINSU"}, "CT HEAD NO M"),
        ({"PatientName": "NO^MINSU"}, "NO X. follow-up"),
        ({"PatientName": "NO^MINSU"}, "NO M.R.I. prior"),
        ({"PatientName": "NO^CHUL"}, "CT NO C.A.P."),
        ({"PatientName": "NO^CHUL"}, "C.A.P. NO CONTRAST"),
        ({"PatientName": "NO^MINSU"}, "SERIES NO. M2"),
        ({"PatientName": "NO^MINSU"}, "no M. delay"),
        ({"PatientName": "KO^MINSU"}, "KO M"),
        # ... or a stop alone, which anatomy, segments, times and a sentence's end
        # also write (review rev3a); so NO M. and M. NO in prose are missed:
        ({"PatientName": "IN^SOOJIN"}, "LIVER LESION IN S. 7"),
        ({"PatientName": "MIN^PARK"}, "DELAY 5 MIN P."),
        ({"PatientName": "NO^CHUL"}, "CT ABD NO C."),
        ({"PatientName": "TO^ANH"}, "COMPARED TO A. PRIOR"),
        ({"PatientName": "IN^AERI"}, "STENOSIS IN A. CAROTIS INTERNA"),
        ({"PatientName": "IN^MINJI"}, "LESION IN M. PSOAS"),
        ({"PatientName": "NO^MINSU"}, "NO M. follow-up"),
        ({"PatientName": "NO^MINSU"}, "M. NO prior"),
    ],
)
def test_another_patients_name_parts_in_a_word_or_alone_are_kept(
    inbox, project, a, description
):
    """A lone short name part of another patient is no name there, by design (a
    file of NG^AL keeps YU beside NG^YU); a long one inside a word neither (RAIN^
    emptied every BRAIN MRI of the batch)."""
    a = {"PatientID": "SYN-1111", "PatientName": "DOE^JOHNNY"} | a
    kept = two_patients(inbox, project, a, description)
    assert kept["SeriesDescription"] == description


def test_a_family_name_and_an_initial_of_two_patients_are_no_name():
    """LI of LI^ANNA beside the W of WU^WEI names neither."""
    from radiomics.importers import deid

    screen = deid.BatchScreen()
    screen.add_patient(build_ct(PatientName="LI^ANNA", PatientID="SYN-8001"))
    screen.add_patient(build_ct(PatientName="WU^WEI", PatientID="SYN-8002"))

    assert not screen.finds_other("LI W. prior", patient_only=False)
    assert screen.finds_other("LI A. prior", patient_only=False)
    assert screen.finds_other("prior W. WU", patient_only=False)


def test_a_word_as_family_name_and_a_marked_initial_of_two_patients_are_no_name():
    """NO of NO^ANNA beside the M. of MIN^WEI names neither."""
    from radiomics.importers import deid

    screen = deid.BatchScreen()
    screen.add_patient(build_ct(PatientName="NO^ANNA", PatientID="SYN-8001"))
    screen.add_patient(build_ct(PatientName="MIN^WEI", PatientID="SYN-8002"))

    assert not screen.finds_other("NO, M. prior", patient_only=False)
    assert not screen.finds_other("MIN^A prior", patient_only=False)
    assert screen.finds_other("NO, A. prior", patient_only=False)
    assert screen.finds_other("MIN^W prior", patient_only=False)


def test_the_own_patients_names_are_still_found_inside_words(inbox, project):
    """The patient's own name parts keep the full rule: RAIN in TRAINING, LI alone.

    (Not RAIN in BRAIN, a word of the trade: deid._outside_trade_words().)"""
    write_part10(
        build_ct(
            PatientID="SYN-1111",
            PatientName="RAIN^LI",
            SeriesDescription="TRAINING MRI",
            ProtocolName="LI CT",
        ),
        inbox / "a.dcm",
    )
    ingest_dicom(inbox, project)
    kept = stored_values(project, "SYN-1111")
    assert kept["SeriesDescription"] == kept["ProtocolName"] == ""


@pytest.mark.parametrize(
    "description",
    ["CT follow-up Rain", "priorSYN-1111x", "prior 1961-02-03", "NG YU"],
)
def test_another_patients_whole_names_ids_and_dates_are_still_found(
    inbox, project, description
):
    """Whole words for names (also with a shared surname: B is NG^AL); IDs and birth
    dates anywhere."""
    write_part10(
        build_ct(
            PatientID="SYN-1111", PatientName="RAIN^JOHNNY", PatientBirthDate="19610203"
        ),
        inbox / "a.dcm",
    )
    write_part10(build_ct(PatientID="SYN-1112", PatientName="NG^YU"), inbox / "c.dcm")
    write_part10(
        build_ct(
            PatientID="SYN-2222", PatientName="NG^AL", SeriesDescription=description
        ),
        inbox / "b.dcm",
    )
    ingest_dicom(inbox, project)
    assert stored_values(project, "SYN-2222")["SeriesDescription"] == ""


def test_a_prepared_batch_screen_builds_nothing_more_for_the_batch(monkeypatch):
    """Worker processes inherit the batch's tables prepared before they fork
    (start_pool); each patient's own screen is built by the worker that meets the
    patient, once."""
    from radiomics.importers import deid

    screen = deid.BatchScreen()
    screen.add_patient(build_ct(PatientName="LI^WEI", PatientID="SYN-8001"))
    screen.add_patient(build_ct(PatientName="NG^YU", PatientID="SYN-8002"))
    screen.prepare()
    own = screen.of_patient(build_ct(PatientID="SYN-8001"))
    built_for = []
    token_sets = deid.IdentifierScreen._token_sets

    def built(*args, **kwargs):
        raise AssertionError("a look-up table of the batch was built after prepare()")

    def built_once(self, patient_only):
        assert self is own, "a look-up table of the batch was built after prepare()"
        built_for.append(patient_only)
        return token_sets(self, patient_only)

    monkeypatch.setattr(deid.IdentifierScreen, "_token_sets", built_once)
    monkeypatch.setattr(deid.IdentifierScreen, "_build_pattern", built)
    monkeypatch.setattr(deid._ShortNameParts, "of", built)

    assert screen.finds_other("follow-up of Li Wei", patient_only=False)
    assert screen.finds("SYN-8002 baseline", patient_only=True)
    assert own.finds("SYN-8001 baseline", True)
    assert own.finds("LI WEI CT", False)
    assert own.finds("LI WEI MR", False)
    assert screen.redact("CT_SYN-8002.dcm") != "CT_SYN-8002.dcm"
    assert built_for == [True, False]


def test_redact_finds_what_one_pattern_of_all_identifiers_finds():
    """redact() compiles only the tokens that occur in a text (deid._Alternatives):
    it finds what the one pattern of a batch's every identifier found, which took
    half a minute to compile at 30,000 patients."""
    from radiomics.importers import deid

    screen = deid.BatchScreen()
    for n in range(60):  # more tokens than _Substrings tries one by one
        screen.add_patient(
            build_ct(
                PatientName=f"NÚÑEZ{n}^JOSÉ^Q" if n % 2 else f"LI{n}^WEI",
                PatientID=f"SYN-{n:04d}",
                OtherPatientIDs=f"00{77123900 + n}",
                AccessionNumber=f"A{n}",
                PatientBirthDate=f"{1950 + n}0203",
            )
        )
    alternatives = screen._build_pattern(short_numbers=True)
    everything = deid._pattern_of(
        [token for tokens in alternatives.tokens.values() for token in tokens],
        [p for patterns in alternatives.separated.values() for p in patterns],
    )
    texts = [
        "syn-0007_ct/77123907.dcm",
        "SYN 0008 SYN_0009 syn0010 0077123911 A12 a13",
        "nunez3_jose li4-wei LI4WEI 1953-02-03 03.02.1954 1955_02_03",
        "nothing to find here, CT CHEST 2.5 mm",
        "Núñez5 Jose 山田 SYN-0099 A7B",
    ]

    class OnePattern:  # how redact() screened before
        def __bool__(self) -> bool:
            return True

        def pattern_for(self, plain: str):
            return everything

    for text in texts:
        plain = deid._plain_view(text)[0]
        pattern = alternatives.pattern_for(plain)
        found = [m.span() for m in pattern.finditer(plain)] if pattern else []
        assert found == [m.span() for m in everything.finditer(plain)], text
        assert screen._found_in(text, alternatives) == screen._found_in(
            text, OnePattern()
        )
        assert found or text.startswith("nothing")
