"""DICOM import of the series' dose: CTDIvol, the PET injected activity and uptake time."""

from __future__ import annotations

import pydicom
import pytest
from django.db import IntegrityError, transaction
from pydicom.uid import generate_uid

from patients.models import DataIssue
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import ImageSeries
from tests.radiomics.conftest import build_ct, set_raw, write_part10

pytestmark = [
    pytest.mark.django_db,
    # Odd values are written on purpose; pydicom says so when the test writes them:
    pytest.mark.filterwarnings("ignore:Invalid value for VR"),
    pytest.mark.filterwarnings("ignore:Value .* is not valid for elements"),
]

ACTIVITY = "RadiopharmaceuticalInformationSequence > RadionuclideTotalDose (0018,1074)"


def injection(dose: bytes) -> list[pydicom.Dataset]:
    item = pydicom.Dataset()
    item.Radiopharmaceutical = "Fluorodeoxyglucose"
    item.RadiopharmaceuticalStartTime = "103500"
    set_raw(item, "RadionuclideTotalDose", dose)
    return [item]


def test_ctdi_vol_is_stored_in_mgy(make_ct, inbox, project):
    make_ct(CTDIvol=7.25)

    report = ingest_dicom(inbox, project)

    assert ImageSeries.objects.get().ctdi_vol_mgy == 7.25
    assert [p for p in report.warnings if p.code == "implausible-value"] == []


def test_ctdi_vol_of_an_enhanced_ct_is_read_from_its_shared_groups(
    make_ct, inbox, project
):
    exposure = pydicom.Dataset()
    exposure.CTDIvol = 12.5
    shared = pydicom.Dataset()
    shared.CTExposureSequence = [exposure]
    make_ct(SharedFunctionalGroupsSequence=[shared])

    ingest_dicom(inbox, project)

    assert ImageSeries.objects.get().ctdi_vol_mgy == 12.5


def test_injected_activity_is_stored_in_mbq(make_ct, inbox, project):
    make_ct(
        Modality="PT",
        Units="BQML",
        RadiopharmaceuticalInformationSequence=injection(b"3.888E8 "),
    )

    report = ingest_dicom(inbox, project)

    series = ImageSeries.objects.get()
    assert series.injected_activity_mbq == pytest.approx(388.8)
    assert series.radiopharmaceutical == "Fluorodeoxyglucose"
    assert [p for p in report.warnings if p.code == "implausible-value"] == []


@pytest.mark.parametrize(
    ("attributes", "field", "column", "value"),
    [
        ({"CTDIvol": float("nan")}, "CTDIvol (0018,9345)", "ctdi_vol_mgy", "nan"),
        ({"CTDIvol": -3.0}, "CTDIvol (0018,9345)", "ctdi_vol_mgy", "-3"),
        # In µGy, not mGy:
        ({"CTDIvol": 8500.0}, "CTDIvol (0018,9345)", "ctdi_vol_mgy", "8500"),
        # In MBq, not Bq:
        (
            {"RadiopharmaceuticalInformationSequence": injection(b"370 ")},
            ACTIVITY,
            "injected_activity_mbq",
            "370",
        ),
        (
            {"RadiopharmaceuticalInformationSequence": injection(b"0 ")},
            ACTIVITY,
            "injected_activity_mbq",
            "0",
        ),
    ],
)
def test_an_implausible_dose_is_warned_about_and_read_as_none(
    inbox, project, attributes, field, column, value
):
    ds = build_ct(**attributes)
    write_part10(ds, inbox / "a.dcm")
    ds.SOPInstanceUID, ds.InstanceNumber = generate_uid(), 2
    write_part10(ds, inbox / "b.dcm")

    report = ingest_dicom(inbox, project)

    series = ImageSeries.objects.get()
    assert series.instance_count == 2
    assert getattr(series, column) is None
    # Once per series, for the file its parameters were read from:
    (problem,) = [p for p in report.warnings if p.code == "implausible-value"]
    assert (problem.source, problem.field, problem.value) == ("a.dcm", field, value)
    assert "read as none" in problem.message
    issue = DataIssue.objects.get(code="implausible-value")
    assert (issue.field, issue.patient) == (field, series.study.patient)


def test_an_activity_that_is_no_number_draws_only_the_invalid_number_warning(
    inbox, project
):
    ds = build_ct(RadiopharmaceuticalInformationSequence=injection(b"3.7E8x"))
    write_part10(ds, inbox / "pet.dcm")

    report = ingest_dicom(inbox, project)

    assert ImageSeries.objects.get().injected_activity_mbq is None
    assert [p.code for p in report.warnings if p.field == ACTIVITY] == [
        "invalid-number"
    ]


def test_a_re_run_repeats_no_dose_warning(make_ct, inbox, project):
    make_ct(CTDIvol=-1.0)
    ingest_dicom(inbox, project)

    report = ingest_dicom(inbox, project)

    assert [p for p in report.warnings if p.code == "implausible-value"] == []
    assert DataIssue.objects.filter(code="implausible-value").count() == 1


# Uptake time: from the radiopharmaceutical's start to the series'


def pet_with_start(**start: str) -> dict[str, object]:
    item = pydicom.Dataset()
    item.Radiopharmaceutical = "Fluorodeoxyglucose"
    for keyword, value in start.items():
        setattr(item, keyword, value)
    return {
        "Modality": "PT",
        "SeriesDate": "20220310",
        "SeriesTime": "113000",
        "RadiopharmaceuticalInformationSequence": [item],
    }


@pytest.mark.parametrize(
    ("start", "minutes"),
    [
        ({"RadiopharmaceuticalStartTime": "103500"}, 55.0),
        ({"RadiopharmaceuticalStartTime": "10:35:30"}, 54.5),
        # The date and time win over the time alone:
        (
            {
                "RadiopharmaceuticalStartDateTime": "20220309113000",
                "RadiopharmaceuticalStartTime": "103500",
            },
            24 * 60.0,
        ),
        # Injected before midnight, scanned after it:
        ({"RadiopharmaceuticalStartTime": "235000"}, 11 * 60 + 40.0),
        # A dynamic series starts shortly before the injection:
        ({"RadiopharmaceuticalStartTime": "113200"}, -2.0),
    ],
)
def test_uptake_time_is_the_minutes_from_the_injection_to_the_series(
    make_ct, inbox, project, start, minutes
):
    make_ct(**pet_with_start(**start))

    report = ingest_dicom(inbox, project)

    assert ImageSeries.objects.get().uptake_time_min == pytest.approx(minutes)
    assert [p for p in report.warnings if p.code == "implausible-value"] == []


def test_without_a_series_time_or_a_start_there_is_no_uptake_time(
    make_ct, inbox, project
):
    no_series_time = pet_with_start(RadiopharmaceuticalStartTime="103500")
    no_series_time["SeriesTime"] = None
    make_ct("a.dcm", **no_series_time)
    make_ct("b.dcm", **pet_with_start())

    ingest_dicom(inbox, project)

    assert list(ImageSeries.objects.values_list("uptake_time_min", flat=True)) == [
        None,
        None,
    ]


def test_a_series_started_long_before_the_injection_is_warned_about(
    make_ct, inbox, project
):
    make_ct(**pet_with_start(RadiopharmaceuticalStartDateTime="20220311103500"))

    report = ingest_dicom(inbox, project)

    assert ImageSeries.objects.get().uptake_time_min is None
    (problem,) = [p for p in report.warnings if p.code == "implausible-value"]
    assert problem.field == (
        "RadiopharmaceuticalInformationSequence > "
        "RadiopharmaceuticalStartDateTime (0018,1078)"
    )
    assert (problem.source, problem.value) == ("ct.dcm", "-1385")


@pytest.mark.parametrize("column", ["ctdi_vol_mgy", "injected_activity_mbq"])
def test_the_database_refuses_a_dose_of_zero_or_below(make_ct, inbox, project, column):
    make_ct()
    ingest_dicom(inbox, project)

    with pytest.raises(IntegrityError), transaction.atomic():
        ImageSeries.objects.update(**{column: 0.0})
