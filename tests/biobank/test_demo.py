from __future__ import annotations

import datetime as dt
import io
import json
import logging
import random
import re
import shlex
from html import unescape
from pathlib import Path
from statistics import median

import pydicom
import pytest
from django.core.management import call_command
from pydicom.dataset import Dataset

from biobank import demo
from biobank.core.datetext import has_dates
from liquidbiopsy.importers.variants import variant_key
from liquidbiopsy.models import BloodSample, CTCCount, VariantResult
from liquidbiopsy.validation import read_genomic_change
from patients.models import CancerType, ImportRun, Patient, Project, Sex
from patients.services import find_patient, get_project
from radiomics.importers.dicom import ingest_dicom
from radiomics.models import (
    FeatureExtraction,
    FeatureValue,
    ImageInstance,
    ImagingStudy,
    RadiomicSignature,
    SignatureScore,
)
from tests.conftest import REPO, grant


def source_headers() -> dict[str, list[Dataset]]:
    """Return the headers of the demo's DICOM files by PatientID, read with pydicom."""
    headers: dict[str, list[Dataset]] = {}
    for path in demo.demo_dicom_paths():
        files = (
            [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        )
        for file in files:
            ds = pydicom.dcmread(file, stop_before_pixels=True)
            headers.setdefault(str(ds.PatientID), []).append(ds)
    return headers


def distinct_source_patients() -> set[str]:
    return set(source_headers())


def demo_patient(source_id: str) -> Patient:
    patient = find_patient(Project.objects.get(code=demo.DEMO_PROJECT), source_id)
    assert patient is not None
    return patient


# First-line indications (NCCN and ESMO guidelines): osimertinib for EGFR-mutant
# NSCLC (FLAURA), FOLFOX for colorectal cancer, FOLFIRINOX for pancreatic cancer
# (Conroy 2011), letrozole for hormone-receptor-positive breast cancer.
INDICATED_FOR = {
    "osimertinib": {CancerType.LUAD},
    "FOLFOX": {CancerType.COAD},
    "FOLFIRINOX": {CancerType.PAAD},
    "letrozole": {CancerType.BRCA},
}


@pytest.mark.django_db
def test_demo_holds_one_patient_per_source_patient_of_the_pydicom_files():
    summary = demo.build_demo(radiomics=False).after

    assert summary.patients == len(distinct_source_patients())
    assert summary.studies == ImagingStudy.objects.count() > 0
    assert all(p.cancer_type for p in Patient.objects.all())


@pytest.mark.django_db
def test_every_demo_patient_has_a_blood_draw_near_each_dated_scan():
    demo.build_demo(radiomics=False)

    for study in ImagingStudy.objects.filter(study_date__isnull=False):
        gaps = [
            abs((draw.drawn_on - study.study_date).days)
            for draw in BloodSample.objects.filter(patient=study.patient)
        ]
        assert min(gaps) <= 6


@pytest.mark.django_db
def test_building_the_demo_twice_changes_nothing():
    first = demo.build_demo(radiomics=False)
    instances = ImageInstance.objects.count()
    runs = list(ImportRun.objects.values_list("pk", flat=True))

    second = demo.build_demo(radiomics=False)

    assert second.after == second.before == first.after
    assert ImageInstance.objects.count() == instances
    # One run per DICOM source of the first build; a restart records no empty ones:
    assert len(runs) == len(demo.demo_dicom_paths())
    assert list(ImportRun.objects.values_list("pk", flat=True)) == runs


@pytest.mark.django_db
def test_build_demo_prints_what_it_added_and_what_was_there_already():
    first, second = io.StringIO(), io.StringIO()

    call_command("build_demo", stdout=first)
    built = demo.summarise(Project.objects.get(code=demo.DEMO_PROJECT))
    BloodSample.objects.filter(patient=Patient.objects.order_by("pk").first()).delete()
    call_command("build_demo", stdout=second)

    assert first.getvalue().startswith(f"Demo biobank: added {built.counts()}.\n")
    assert built.counts().startswith("4 patients, 8 imaging studies, ")
    # One patient's generated draws were deleted: the second build adds them again,
    # and keeps the first line and response it had (one of each, not two):
    for patient in Patient.objects.all():
        assert patient.treatments.count() == patient.events.count() == 1
    assert re.match(
        r"Demo biobank: added (\d+) blood draws?, \1 CTC counts?, \d+ cfDNA variant "
        r"results?; already there: 4 patients, 8 imaging studies, \d+ blood draws, ",
        second.getvalue(),
    ), second.getvalue()


@pytest.mark.django_db
def test_the_demo_user_can_sign_in(client):
    demo.build_demo(radiomics=False)

    assert client.login(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)


@pytest.mark.django_db
def test_demo_keeps_the_sex_the_dicom_headers_give():
    demo.build_demo(radiomics=False)

    checked = 0
    for source_id, headers in source_headers().items():
        sexes = {str(ds.get("PatientSex", "")) for ds in headers} - {""}
        if sexes:
            assert {demo_patient(source_id).sex} == sexes
            checked += 1
    assert checked == 3  # 98890234 M, 1CT1 O, 4MR1 F; 77654033 gives none


@pytest.mark.django_db
def test_demo_birth_year_agrees_with_every_patient_age_in_the_headers():
    demo.build_demo(radiomics=False)

    for source_id, headers in source_headers().items():
        birth_year = demo_patient(source_id).birth_year
        for ds in headers:
            age = str(ds.get("PatientAge", ""))
            if age.endswith("Y") and age != "000Y":
                # Aged A on a day of year Y: born in Y - A or, birthday to come, Y - A - 1.
                assert int(ds.StudyDate[:4]) - birth_year - int(age[:3]) in (0, 1)
    # By hand: 043Y on 2001-01-01 and 045Y on 2003-05-05 leave 1957-05-06 to
    # 1958-01-01; 042Y on 1995-09-03 and 047Y on 2001-01-01 leave 1953-01-02 to
    # 1953-09-03.
    assert demo_patient("98890234").birth_year == 1957
    assert demo_patient("77654033").birth_year == 1953


@pytest.mark.parametrize(
    ("ages", "year"),
    [
        ([(dt.date(2020, 3, 15), 18, "M")], 2018),  # born 2018-08-16 .. 2018-09-15
        ([(dt.date(2021, 1, 10), 2, "W")], 2020),  # born 2020-12-21 .. 2020-12-27
        ([(dt.date(2021, 1, 5), 3, "D")], 2021),  # born on 2021-01-02
        ([(dt.date(2001, 1, 1), 43, "Y"), (dt.date(2003, 5, 5), 45, "Y")], 1957),
        ([(dt.date(2004, 1, 19), 0, "Y")], None),  # 000Y: a dummy, not an age
        ([(dt.date(2004, 1, 19), None, "")], None),
    ],
)
def test_birth_year_from_ages_follows_dicom_age_units(ages, year):
    assert demo.birth_year_from_ages(ages) == year


@pytest.mark.django_db
def test_demo_records_its_changes_in_each_patients_history():
    demo.build_demo(radiomics=False)

    for patient in Patient.objects.all():
        latest, *earlier = patient.history.all()
        assert earlier, "the patient's creation by the DICOM import is kept"
        assert latest.history_change_reason == "Demo: generated clinical data"
        assert (latest.cancer_type, latest.birth_year) == (
            patient.cancer_type,
            patient.birth_year,
        )


@pytest.mark.django_db
def test_demo_treats_each_cancer_type_with_a_regimen_indicated_for_it():
    demo.build_demo(radiomics=False)

    for cancer_type, (_kind, agent) in demo.FIRST_LINE.items():
        assert cancer_type in INDICATED_FOR[agent]
    assert set(demo.FIRST_LINE) == set(demo.PANELS)
    for patient in Patient.objects.prefetch_related("treatments"):
        for treatment in patient.treatments.all():
            assert patient.cancer_type in INDICATED_FOR[treatment.agent]
        if patient.cancer_type == CancerType.BRCA:
            assert patient.sex == Sex.FEMALE


def test_demo_gives_breast_cancer_to_no_man():
    chosen = {
        demo.choose_cancer_type(Sex.MALE, random.Random(seed))  # noqa: S311
        for seed in range(40)
    }

    assert CancerType.BRCA not in chosen
    assert len(chosen) == 3


@pytest.mark.django_db
def test_demo_keeps_clinical_data_a_patient_already_has():
    project = get_project(demo.DEMO_PROJECT)
    ingest_dicom(demo.pydicom_test_files() / "MR_small.dcm", project)
    patient = demo_patient("4MR1")
    patient.cancer_type, patient.stage = CancerType.COAD, "I"
    patient.birth_year, patient.diagnosis_on = 1960, dt.date(2004, 8, 1)
    patient.save()

    demo.build_demo(radiomics=False)

    patient.refresh_from_db()
    assert (patient.sex, patient.cancer_type, patient.stage) == (
        Sex.FEMALE,
        CancerType.COAD,
        "I",
    )
    assert (patient.birth_year, patient.diagnosis_on) == (1960, dt.date(2004, 8, 1))
    assert [t.agent for t in patient.treatments.all()] == ["FOLFOX"]


@pytest.mark.django_db
def test_the_demo_log_counts_one_record_in_the_singular(caplog):
    with caplog.at_level(logging.INFO, logger="biobank.demo"):
        demo.build_demo(radiomics=False)

    log = "\n".join(record.getMessage() for record in caplog.records)
    # A file of one image of a new patient:
    assert re.search(r"created 1 instance, 1 patient, 1 series, 1 study;", log)
    assert not re.search(r"\b1 (instances|patients|studies|warnings)\b", log)


def test_build_demo_counts_one_record_in_the_singular(monkeypatch):
    nothing = demo.DemoSummary(0, 0, 0, 0, 0, 0)
    one = demo.DemoSummary(1, 1, 1, 1, 1, 2)
    two = demo.DemoSummary(2, 2, 2, 2, 2, 4)
    builds = iter([demo.DemoBuild(nothing, one), demo.DemoBuild(one, two)])
    monkeypatch.setattr(demo, "build_demo", lambda seed: next(builds))
    first, second = io.StringIO(), io.StringIO()

    call_command("build_demo", stdout=first)
    call_command("build_demo", stdout=second)

    assert first.getvalue().startswith(
        "Demo biobank: added 1 patient, 1 imaging study, 1 blood draw, 1 CTC count, "
        "1 cfDNA variant result, 2 radiomic feature extractions.\n"
    )
    assert second.getvalue().startswith(
        "Demo biobank: added 1 patient, 1 imaging study, 1 blood draw, 1 CTC count, "
        "1 cfDNA variant result, 2 radiomic feature extractions; already there: "
        "1 patient, 1 imaging study, 1 blood draw, 1 CTC count, "
        "1 cfDNA variant result, 2 radiomic feature extractions.\n"
    )


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
    summary = demo.DemoSummary(1, 1, 1, 1, 1)
    monkeypatch.setattr(
        demo, "build_demo", lambda seed: demo.DemoBuild(summary, summary)
    )
    out = io.StringIO()

    call_command("build_demo", stdout=out)

    assert f"Sign in at {url} as" in out.getvalue()


def test_readme_counts_the_demo_patients_and_studies_of_the_pydicom_files():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    headers = [ds for found in source_headers().values() for ds in found]

    said = re.search(r"The demo holds (\d+) patients and (\d+) imaging studies", readme)

    assert said is not None
    assert int(said[1]) == len(distinct_source_patients())
    assert int(said[2]) == len({str(ds.StudyInstanceUID) for ds in headers})


@pytest.mark.django_db
def test_demo_radiomics_give_the_documented_feature_names_and_scores():
    """The README and docs/api.md examples name original_glcm_Contrast; the demo has it."""
    first = demo.build_demo().after
    second = demo.build_demo().after

    contrast = FeatureValue.objects.filter(feature__name="original_glcm_Contrast")
    scores = SignatureScore.objects.filter(signature__name=demo.DEMO_SIGNATURE)
    signature = RadiomicSignature.objects.get(name=demo.DEMO_SIGNATURE)
    # The second build left the signature as the first made it (no history rows):
    assert signature.history.count() == 2  # created, then its cut-off set
    assert signature.cutoff is not None
    assert first.extractions == second.extractions == contrast.count() > 0
    assert scores.count() == first.extractions
    assert {score.label for score in scores} == {"low risk", "high risk"}
    assert (
        FeatureExtraction.objects.exclude(status=FeatureExtraction.Status.DONE).count()
        == 0
    )


@pytest.mark.django_db
def test_demo_features_carry_their_family_and_image_filter():
    """An IBSI code in a cohort means the original image: filters must be told apart."""
    from radiomics.models import FeatureDefinition

    demo.build_demo()

    mean = FeatureDefinition.objects.get(name="original_firstorder_Mean")
    wavelet = FeatureDefinition.objects.get(name="wavelet-HH_firstorder_Mean")
    assert (mean.family, mean.feature_name, mean.image_filter) == (
        "firstorder",
        "Mean",
        "original",
    )
    assert (wavelet.image_filter, wavelet.ibsi_code) == ("wavelet-HH", mean.ibsi_code)
    assert not FeatureDefinition.objects.filter(family="other").exists()


@pytest.mark.django_db
def test_demo_texture_reports_show_the_intensity_quartiles(client):
    demo.build_demo()
    # A demo built before the biobank computed quartiles: building it again adds them.
    quartiles = {f"original_firstorder_{p}Percentile" for p in (25, 75)}
    FeatureValue.objects.filter(feature__name__in=quartiles).delete()

    demo.build_demo()

    extractions = FeatureExtraction.objects.filter(segmentation__roi_name=demo.DEMO_ROI)
    assert extractions.exists()
    for extraction in extractions:
        names = set(extraction.values.values_list("feature__name", flat=True))
        assert quartiles <= names, extraction.pk
    client.login(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)
    study = extractions.first().segmentation.series.study
    html = client.get(f"/studies/{study.pk}/").content.decode()
    assert "25th percentile" in html
    assert "computed by the biobank" in html
    assert "not computed for this extraction" not in html


def documented_command(
    name: str, doc: str = "README.md", naming: str = ""
) -> list[str]:
    """Return the arguments of the doc's first `manage.py <name> ...` line, as typed.

    With `naming`, the first such line that holds that text (an example, not the
    synopsis).
    """
    text = (REPO / doc).read_text()
    for line in text.splitlines():
        if f"manage.py {name} " in line and naming in line:
            words = shlex.split(line, comments=True)
            return words[words.index(name) + 1 :]
    raise AssertionError(f"{doc} shows no manage.py {name} line.")


@pytest.mark.django_db
def test_the_readmes_extract_command_computes_every_demo_roi():
    demo.build_demo()
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "extract_features",
        *documented_command("extract_features"),
        stdout=out,
        stderr=err,
    )

    mirp = FeatureExtraction.objects.filter(software="mirp")
    assert mirp.exists()
    assert set(mirp.values_list("status", flat=True)) == {"done"}, out.getvalue()
    assert "<class" not in out.getvalue() + err.getvalue()


@pytest.mark.django_db
def test_the_example_signature_imports_into_the_demo_as_its_doc_says(monkeypatch):
    demo.build_demo()
    doc = "docs/signatures_and_robustness.md"
    monkeypatch.chdir(REPO)

    arguments = documented_command("import_signature", doc, "example_signature.json")
    call_command("import_signature", *arguments)
    call_command("score_signatures", stdout=io.StringIO())

    example = json.loads((REPO / "docs" / "example_signature.json").read_text())
    scores = SignatureScore.objects.filter(signature__name=example["name"])
    assert (
        scores.count()
        == FeatureExtraction.objects.filter(
            segmentation__roi_name=demo.DEMO_ROI
        ).count()
    )


@pytest.mark.django_db
def test_build_demo_counts_and_scores_the_demo_project_only(
    caplog, django_capture_on_commit_callbacks
):
    from biobank.synthetic import generate_biobank

    generate_biobank(patients=6, seed=11, project_code="synth")
    # As on a server, saving the signature scores every project's extractions:
    with django_capture_on_commit_callbacks(execute=True):
        call_command("build_demo", stdout=io.StringIO())
    demo_project = Project.objects.get(code=demo.DEMO_PROJECT)
    signature = RadiomicSignature.objects.get(name=demo.DEMO_SIGNATURE)
    demo_scores = SignatureScore.objects.filter(
        signature=signature, extraction__patient__project=demo_project
    )
    out = io.StringIO()

    with caplog.at_level(logging.INFO, logger="biobank.demo"):
        call_command("build_demo", stdout=out)

    built = demo.summarise(demo_project)
    assert Patient.objects.count() > built.patients == 4
    assert FeatureExtraction.objects.filter(status="done").count() > built.extractions
    assert out.getvalue().startswith(
        f"Demo biobank: added nothing; already there: {built.counts()}.\n"
    )
    # The other project's extractions hold the signature's features too; the demo's
    # cut-off is the median of its own scores, and a restart scores its own only:
    assert SignatureScore.objects.filter(signature=signature).count() > len(demo_scores)
    signature.refresh_from_db()
    assert signature.cutoff == median(demo_scores.values_list("score", flat=True))
    assert f"{built.extractions} extractions of project demo scored" in caplog.text


# Values cited by the task that asked for the demo's genomic changes (EGFR p.T790M on
# GRCh37 and KRAS p.G12C), beside the ones checked when the table was written:
CITED_GRCH37 = {
    ("EGFR", "p.T790M"): "7:55249071 C>T",
    ("KRAS", "p.G12C"): "12:25398285 C>A",
}


@pytest.mark.django_db
def test_demo_draws_carry_lab_sample_ids_and_timepoints_free_of_dates():
    demo.build_demo(radiomics=False)

    draws = BloodSample.objects.all()
    assert draws.exists()
    for patient in Patient.objects.all():
        ids = [d.external_sample_id for d in patient.blood_samples.all()]
        assert all(ids) and len(set(ids)) == len(ids), ids
        # One accession per patient, its draws numbered in the order drawn:
        accession = {sample_id.rsplit("-", 1)[0] for sample_id in ids}
        assert len(accession) == 1
        assert [i.rsplit("-", 1)[1] for i in ids] == [
            f"{n:02d}" for n in range(1, len(ids) + 1)
        ]
    # Nothing in them a viewer's page would have to hide as "[date]":
    for draw in draws:
        assert not has_dates(draw.external_sample_id), draw.external_sample_id
        assert not has_dates(draw.timepoint), draw.timepoint
        assert draw.timepoint != "demo"  # what the first demos wrote on every draw


@pytest.mark.django_db
def test_demo_patients_drawing_the_same_accession_get_lab_sample_ids_of_their_own(
    monkeypatch,
):
    # A lab sample ID names one tube: two patients whose generators drew the same
    # accession would share LBnnnnn-01.
    randrange = random.Random.randrange

    def one_accession(self, start, stop=None, step=1):
        if (start, stop) == (10_000, 100_000):
            return 45707
        return randrange(self, start, stop, step)

    monkeypatch.setattr(random.Random, "randrange", one_accession)

    demo.build_demo(radiomics=False)

    ids = list(BloodSample.objects.values_list("external_sample_id", flat=True))
    assert len(set(ids)) == len(ids), sorted(ids)
    assert {sample_id[:7] for sample_id in ids} >= {"LB45707", "LB45708"}


@pytest.mark.django_db
def test_a_viewer_sees_each_demo_draw_named_by_its_sample_id(client, django_user_model):
    demo.build_demo(radiomics=False)
    project = Project.objects.get(code=demo.DEMO_PROJECT)
    client.force_login(grant(django_user_model.objects.create_user("viewer"), project))
    patient = Patient.objects.order_by("pk").first()

    # A viewer reads shifted dates by default:
    html = unescape(client.get(f"/patients/{patient.pk}/").content.decode())

    for draw in patient.blood_samples.all():
        assert draw.external_sample_id
        named = re.findall(rf"{re.escape(draw.external_sample_id)}, drawn (\S+)", html)
        # Named with its shifted day, not its own (which the page may still show as
        # another record's shifted day: the test looked for it anywhere, and failed
        # once in a full run):
        assert named
        assert draw.drawn_on.isoformat() not in named
        assert f"({draw.timepoint})" in html
    assert "[date]" not in html


@pytest.mark.django_db
def test_demo_timepoints_follow_each_patients_first_line():
    demo.build_demo(radiomics=False)

    for patient in Patient.objects.prefetch_related("treatments", "events"):
        (line,) = patient.treatments.all()
        (response,) = patient.events.filter(kind="response")
        draws = list(patient.blood_samples.order_by("drawn_at"))
        before = [d for d in draws if d.drawn_on < line.started_on]
        assert [d.timepoint for d in before[-1:]] == ["Baseline"]
        assert {d.timepoint for d in before[:-1]} <= {"Pre-treatment"}
        for draw in draws[len(before) :]:
            week = (draw.drawn_on - line.started_on).days // 7 + 1
            if (
                response.recist == "PD"
                and 0 <= (draw.drawn_on - response.occurred_on).days <= 30
            ):
                expected = {"Progression"}
            elif line.ended_on is None or draw.drawn_on <= line.ended_on:
                expected = {f"On treatment, week {week}"}
            else:
                expected = {"End of treatment", "Follow-up"}
            assert draw.timepoint in expected, (draw.drawn_on, line, response.recist)
        # Progression ends the line at its assessment; a drug taken until then has
        # no end otherwise:
        if response.recist == "PD":
            assert line.ended_on == response.occurred_on
        elif line.kind in ("targeted", "hormonal"):
            assert line.ended_on is None


@pytest.mark.django_db
def test_demo_variants_carry_their_grch37_genomic_change():
    demo.build_demo(radiomics=False)

    for key, change in CITED_GRCH37.items():
        assert demo.HOTSPOTS_GRCH37[key] == change
    for (gene, protein), change in demo.HOTSPOTS_GRCH37.items():
        assert (gene, protein) in {v for panel in demo.PANELS.values() for v in panel}
        assert read_genomic_change(change) == change  # the stored form
    variants = VariantResult.objects.all()
    assert variants.exists()
    for variant in variants:
        change = demo.HOTSPOTS_GRCH37.get((variant.gene, variant.protein_change), "")
        assert (variant.genomic_change, variant.genome_build) == (
            change,
            "GRCh37" if change else "",
        )


@pytest.mark.django_db
def test_demo_variants_are_found_by_their_genomic_change(client):
    demo.build_demo(radiomics=False)
    client.login(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)
    l858r = demo.HOTSPOTS_GRCH37["EGFR", "p.L858R"]

    found = client.get("/api/variants/", {"variant": f"{l858r} hg19"}).json()
    pairs = client.get("/cohorts/query.json", {"variant": l858r}).json()["rows"]

    assert found["results"]
    assert {(r["gene"], r["protein_change"]) for r in found["results"]} == {
        ("EGFR", "p.L858R")
    }
    assert pairs


@pytest.mark.parametrize("seed", [7, 2])
@pytest.mark.django_db
def test_demo_gives_an_egfr_cohort_at_the_default_window(client, seed):
    """Every panel is shown (one cancer type each), so the lung patient on osimertinib
    carries the EGFR driver it is treated for, found in its baseline draw."""
    demo.build_demo(seed=seed, radiomics=False)
    client.login(username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)

    egfr = client.get("/cohorts/query.json", {"gene": "EGFR"}).json()
    kras = client.get("/cohorts/query.json", {"gene": "KRAS"}).json()

    assert egfr["criteria"]["window_days"] == 30
    assert egfr["rows"] and kras["rows"]
    assert set(Patient.objects.values_list("cancer_type", flat=True)) == set(
        demo.PANELS
    )
    luad = Patient.objects.get(cancer_type=CancerType.LUAD)
    baseline = luad.blood_samples.get(timepoint="Baseline")
    assert VariantResult.objects.filter(
        assay__sample=baseline, gene="EGFR", protein_change="p.L858R", call="detected"
    ).exists()
    # Drivers of one pathway exclude each other: no KRAS in the EGFR-mutant tumour.
    assert not VariantResult.objects.filter(
        assay__sample__patient=luad, gene="KRAS", call="detected"
    ).exists()


@pytest.mark.django_db
def test_a_demo_of_earlier_builds_keeps_its_records_and_what_a_user_added():
    demo.build_demo(radiomics=False)
    # What the first demos left: every draw named "demo", without a sample ID; and
    # a count a user added to one of them.
    BloodSample.objects.update(timepoint="demo", external_sample_id="")
    first = BloodSample.objects.order_by("pk").first()
    CTCCount.objects.create(sample=first, platform="Parsortix", count=3)
    built = records_of_demo()

    again = demo.build_demo(radiomics=False)

    assert records_of_demo() == built
    assert again.added == demo.DemoSummary(0, 0, 0, 0, 0, 0)
    assert CTCCount.objects.filter(sample=first, platform="Parsortix").exists()


@pytest.mark.django_db
def test_demo_variants_are_keyed_as_the_importers_key_them():
    """By the genomic change where the demo gives one, so that the same variant
    posted or imported into the assay again is a duplicate (review rev3b)."""
    demo.build_demo(radiomics=False)

    for variant in VariantResult.objects.all():
        values = {
            name: getattr(variant, name)
            for name in ("gene", "gene_hgnc", "variant_type", "protein_change",
                         "protein_change_raw", "genomic_change")
        }  # fmt: skip
        assert variant.variant_key == variant_key(values)
    assert VariantResult.objects.filter(variant_key__startswith="g:").exists()


def records_of_demo() -> list[tuple]:
    """The generated records of every demo patient, comparable across builds."""
    return [
        (
            list(p.treatments.values_list("agent", "started_on", "ended_on")),
            list(p.events.values_list("kind", "recist", "occurred_on")),
            list(
                p.blood_samples.order_by("drawn_at").values_list(
                    "drawn_at", "external_sample_id", "timepoint"
                )
            ),
            list(
                VariantResult.objects.filter(assay__sample__patient=p)
                .order_by("assay__sample__drawn_at", "gene", "protein_change")
                .values_list("gene", "protein_change", "call", "vaf", "genomic_change")
            ),
        )
        for p in Patient.objects.order_by("pk")
    ]
