from __future__ import annotations

import io

import pydicom
import pytest
from django.core.management import call_command

from biobank import demo
from liquidbiopsy.models import BloodSample
from patients.models import Patient
from radiomics.models import ImageInstance, ImagingStudy


def distinct_source_patients() -> set[str]:
    ids = set()
    for path in demo.demo_dicom_paths():
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        )
        for file in files:
            ids.add(str(pydicom.dcmread(file, stop_before_pixels=True).PatientID))
    return ids


@pytest.mark.django_db
def test_demo_holds_one_patient_per_source_patient_of_the_pydicom_files():
    summary = demo.build_demo()

    assert summary.patients == len(distinct_source_patients())
    assert summary.studies == ImagingStudy.objects.count() > 0
    assert all(p.cancer_type for p in Patient.objects.all())


@pytest.mark.django_db
def test_every_demo_patient_has_a_blood_draw_near_each_dated_scan():
    demo.build_demo()

    for study in ImagingStudy.objects.filter(study_date__isnull=False):
        gaps = [
            abs((draw.drawn_on - study.study_date).days)
            for draw in BloodSample.objects.filter(patient=study.patient)
        ]
        assert min(gaps) <= 6


@pytest.mark.django_db
def test_building_the_demo_twice_changes_nothing():
    first = demo.build_demo()
    instances = ImageInstance.objects.count()

    second = demo.build_demo()

    assert second == first
    assert ImageInstance.objects.count() == instances


@pytest.mark.django_db
def test_the_demo_user_can_sign_in(client):
    demo.build_demo()

    assert client.login(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)


@pytest.mark.parametrize(
    ("addr", "url"),
    [
        (None, "http://127.0.0.1:8000/"),
        ("127.0.0.1:18123", "http://127.0.0.1:18123/"),
        ("18124", "http://127.0.0.1:18124/"),
        ("[::1]:18125", "http://[::1]:18125/"),
    ],
)
def test_build_demo_prints_the_address_dev_sh_serves_on(monkeypatch, addr, url):
    # dev.sh passes BIOBANK_ADDR to runserver, which takes a port alone as well.
    if addr is None:
        monkeypatch.delenv("BIOBANK_ADDR", raising=False)
    else:
        monkeypatch.setenv("BIOBANK_ADDR", addr)
    monkeypatch.setattr(
        demo, "build_demo", lambda seed: demo.DemoSummary(1, 1, 1, 1, 1)
    )
    out = io.StringIO()

    call_command("build_demo", stdout=out)

    assert f"Sign in at {url} as" in out.getvalue()
