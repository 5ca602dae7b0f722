"""Build the demo biobank: real DICOM files shipped by pydicom, generated lab records."""

from __future__ import annotations

import datetime as dt
import logging
import random
from dataclasses import dataclass
from pathlib import Path

import pydicom
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import CancerType, ClinicalEvent, Patient, Project, Sex, Treatment
from patients.services import get_project
from radiomics.models import ImagingStudy

logger = logging.getLogger(__name__)

DEMO_PROJECT = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-biobank"  # noqa: S105 - printed for the local demo only

# Folders of real DICOM files inside the installed pydicom package (MIT licence).
PYDICOM_FOLDERS = [
    "dicomdirtests/77654033",
    "dicomdirtests/98892001",
    "dicomdirtests/98892003",
]
PYDICOM_FILES = ["CT_small.dcm", "MR_small.dcm"]

# Cancer types and the cfDNA panel genes with the hotspot a report would name:
PANELS: dict[str, list[tuple[str, str]]] = {
    CancerType.LUAD: [
        ("EGFR", "p.L858R"),
        ("EGFR", "p.T790M"),
        ("KRAS", "p.G12C"),
        ("TP53", "p.R273H"),
    ],
    CancerType.COAD: [
        ("KRAS", "p.G12D"),
        ("NRAS", "p.Q61K"),
        ("BRAF", "p.V600E"),
        ("TP53", "p.R175H"),
    ],
    CancerType.BRCA: [
        ("ESR1", "p.D538G"),
        ("ESR1", "p.Y537S"),
        ("PIK3CA", "p.H1047R"),
        ("TP53", "p.R248Q"),
    ],
    CancerType.PAAD: [
        ("KRAS", "p.G12D"),
        ("KRAS", "p.G12V"),
        ("TP53", "p.R273H"),
        ("SMAD4", "p.R361H"),
    ],
}
LOD_VAF = 0.001


@dataclass
class DemoSummary:
    patients: int
    studies: int
    samples: int
    ctc_counts: int
    variants: int


def pydicom_test_files() -> Path:
    return Path(pydicom.__file__).parent / "data" / "test_files"


def demo_dicom_paths() -> list[Path]:
    root = pydicom_test_files()
    return [root / name for name in PYDICOM_FOLDERS + PYDICOM_FILES]


def build_demo(seed: int = 7) -> DemoSummary:
    """Ingest pydicom's real DICOM files and generate lab records for their patients.

    Re-running changes nothing: imports are idempotent and generation only runs for
    patients that have no blood sample yet.
    """
    from radiomics.importers.dicom import ingest_dicom

    project = get_project(DEMO_PROJECT)
    if not project.name or project.name == DEMO_PROJECT:
        project.name = "Demo collection (pydicom test files, generated lab data)"
        project.save(update_fields=["name"])

    for path in demo_dicom_paths():
        report = ingest_dicom(path, project)
        logger.info("%s", report.summary())

    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    for patient in Patient.objects.filter(project=project).order_by("pseudonym"):
        if not patient.blood_samples.exists():
            generate_patient_records(patient, rng)

    ensure_demo_user()
    return summarise(project)


def generate_patient_records(patient: Patient, rng: random.Random) -> None:
    """Give a patient plausible clinical and liquid-biopsy records around its scans."""
    study_dates = sorted(
        ImagingStudy.objects.filter(
            patient=patient, study_date__isnull=False
        ).values_list("study_date", flat=True)
    )
    if not study_dates:
        return

    cancer_type = rng.choice(list(PANELS))
    first_scan = study_dates[0]
    with transaction.atomic():
        Patient.objects.filter(pk=patient.pk).update(
            cancer_type=cancer_type,
            sex=rng.choice([Sex.FEMALE, Sex.MALE])
            if cancer_type != CancerType.BRCA
            else Sex.FEMALE,
            birth_year=first_scan.year - rng.randint(45, 80),
            stage=rng.choice(["II", "IIIa", "IIIb", "IV"]),
            diagnosis_on=first_scan - dt.timedelta(days=rng.randint(3, 20)),
        )
        treatment_start = first_scan + dt.timedelta(days=rng.randint(10, 30))
        Treatment.objects.create(
            patient=patient,
            kind=Treatment.Kind.CHEMOTHERAPY
            if cancer_type != CancerType.LUAD
            else Treatment.Kind.TARGETED,
            agent="osimertinib" if cancer_type == CancerType.LUAD else "FOLFOX",
            line=1,
            started_on=treatment_start,
            ended_on=treatment_start + dt.timedelta(days=rng.randint(90, 240)),
        )
        ClinicalEvent.objects.create(
            patient=patient,
            kind=ClinicalEvent.Kind.RESPONSE,
            recist=rng.choice(["PR", "SD", "PD"]),
            occurred_on=treatment_start + dt.timedelta(days=84),
        )

        draw_days = {day + dt.timedelta(days=rng.randint(-6, 6)) for day in study_dates}
        draw_days |= {first_scan + dt.timedelta(days=60 * k) for k in range(1, 4)}
        for day in sorted(draw_days):
            create_demo_draw(patient, cancer_type, day, rng)


def create_demo_draw(
    patient: Patient, cancer_type: str, day: dt.date, rng: random.Random
) -> None:
    drawn_at = timezone.make_aware(
        dt.datetime.combine(day, dt.time(8 + rng.randint(0, 4), 30))
    )
    sample = BloodSample.objects.create(
        patient=patient,
        drawn_at=drawn_at,
        timepoint="demo",
        tube_type="CellSave",
        plasma_volume_ml=round(rng.uniform(3.0, 5.0), 1),
        hours_to_processing=round(rng.uniform(1, 48), 1),
    )
    CTCCount.objects.create(sample=sample, count=min(int(rng.expovariate(1 / 6)), 200))

    assay = CfDNAAssay.objects.create(
        sample=sample,
        method=CfDNAAssay.Method.TARGETED_NGS,
        panel=f"demo-{cancer_type.lower()}",
        cfdna_ng_per_ml=round(rng.lognormvariate(2.3, 0.6), 2),
        limit_of_detection_vaf=LOD_VAF,
    )
    for gene, change in PANELS[cancer_type]:
        vaf = rng.lognormvariate(-4.0, 1.3) if rng.random() < 0.5 else None
        if vaf is None:
            call, vaf = VariantResult.Call.NOT_DETECTED, None
        elif vaf < LOD_VAF:
            call, vaf = VariantResult.Call.BELOW_LOD, None
        else:
            call, vaf = VariantResult.Call.DETECTED, min(round(vaf, 4), 0.9)
        VariantResult.objects.create(
            assay=assay,
            gene=gene,
            gene_hgnc=gene,
            variant_key=f"{gene}:{change}",
            variant_type=VariantResult.Type.SNV,
            protein_change=change,
            protein_change_raw=change,
            vaf=vaf,
            call=call,
        )


def ensure_demo_user() -> None:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=DEMO_USERNAME, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save()


def summarise(project: Project) -> DemoSummary:
    return DemoSummary(
        patients=Patient.objects.filter(project=project).count(),
        studies=ImagingStudy.objects.filter(patient__project=project).count(),
        samples=BloodSample.objects.filter(patient__project=project).count(),
        ctc_counts=CTCCount.objects.filter(sample__patient__project=project).count(),
        variants=VariantResult.objects.filter(
            assay__sample__patient__project=project
        ).count(),
    )
