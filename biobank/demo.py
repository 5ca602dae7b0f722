"""Build the demo biobank: real DICOM files shipped by pydicom, generated lab records."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import random
from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pydicom
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from biobank.core.importing import counted
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import CancerType, ClinicalEvent, Patient, Project, Sex, Treatment
from patients.services import get_project
from radiomics.importers.deid import source_uid_hash
from radiomics.models import FeatureExtraction, ImageInstance, ImagingStudy

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

# First-line treatment per cancer type, fitting the panel's driver: osimertinib for
# EGFR-mutant lung adenocarcinoma, FOLFOX for colon, an aromatase inhibitor for the
# hormone-receptor-positive breast cancer whose ESR1 mutations the panel follows,
# FOLFIRINOX for pancreas.
FIRST_LINE: dict[str, tuple[str, str]] = {
    CancerType.LUAD: (Treatment.Kind.TARGETED, "osimertinib"),
    CancerType.COAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFOX"),
    CancerType.BRCA: (Treatment.Kind.HORMONAL, "letrozole"),
    CancerType.PAAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFIRINOX"),
}


# PyRadiomics' own settings for the demo's features, so that they carry the names the
# documentation's examples use (original_glcm_Contrast, wavelet-HLH_...). The pydicom
# images are single slices or a few slices of 16 x 16 pixels, hence 2D texture.
DEMO_PYRADIOMICS_PARAMETERS = {
    "imageType": {"Original": {}, "Wavelet": {}},
    "featureClass": {
        name: []
        for name in ("firstorder", "shape", "glcm", "glrlm", "glszm", "gldm", "ngtdm")
    },
    "setting": {"force2D": True, "binWidth": 25, "label": 1},
}
DEMO_ROI = "Demo ROI (generated ellipse)"
DEMO_QUARTILE = "original_firstorder_25Percentile"
DEMO_SIGNATURE = "Demo texture score (illustrative, not a published model)"
DEMO_SIGNATURE_TERMS = {
    "original_firstorder_Entropy": 1.0,
    "original_glcm_JointEntropy": 0.5,
    "original_shape_Sphericity": -1.0,
}


@dataclass
class DemoSummary:
    patients: int
    studies: int
    samples: int
    ctc_counts: int
    variants: int
    extractions: int = 0

    # What each count is of, for the printed summary:
    NOUNS = {
        "patients": "patients",
        "studies": "imaging studies",
        "samples": "blood draws",
        "ctc_counts": "CTC counts",
        "variants": "cfDNA variant results",
        "extractions": "radiomic feature extractions",
    }

    def __sub__(self, other: DemoSummary) -> DemoSummary:
        return DemoSummary(
            *(
                mine - theirs
                for mine, theirs in zip(astuple(self), astuple(other), strict=True)
            )
        )

    def counts(self) -> str:
        """Return e.g. "4 patients, 1 imaging study", leaving out what counts 0."""
        shown = [
            counted(getattr(self, f.name), self.NOUNS[f.name])
            for f in fields(self)
            if getattr(self, f.name) > 0
        ]
        return ", ".join(shown) or "nothing"


@dataclass
class DemoBuild:
    """The demo project's counts before build_demo() ran and after."""

    before: DemoSummary
    after: DemoSummary

    @property
    def added(self) -> DemoSummary:
        return self.after - self.before

    def summary(self) -> str:
        """Return what this build added and what the demo held already."""
        text = f"added {self.added.counts()}"
        if any(astuple(self.before)):
            text += f"; already there: {self.before.counts()}"
        return text


def pydicom_test_files() -> Path:
    return Path(pydicom.__file__).parent / "data" / "test_files"


def demo_dicom_paths() -> list[Path]:
    root = pydicom_test_files()
    return [root / name for name in PYDICOM_FOLDERS + PYDICOM_FILES]


def build_demo(seed: int = 7, radiomics: bool = True) -> DemoBuild:
    """Ingest pydicom's real DICOM files and generate lab records for their patients.

    With `radiomics`, each CT and MR series that can form a volume also gets a
    generated ROI, PyRadiomics features and a score of an illustrative signature.
    Re-running changes nothing: a DICOM source whose files are all stored is not
    ingested again (so no import run is recorded), and generation only runs for
    patients that have no blood sample yet, or series without a segmentation.
    Returns the demo project's counts before and after, to tell what was added.
    """
    from radiomics.importers.dicom import ingest_dicom

    project = get_project(DEMO_PROJECT)
    before = summarise(project)
    if not project.name or project.name == DEMO_PROJECT:
        project.name = "Demo collection (pydicom test files, generated lab data)"
        project.save(update_fields=["name"])

    paths = demo_dicom_paths()
    for number, path in enumerate(paths, start=1):
        # `dev.sh run` builds the demo at every start. Ingesting a source whose files
        # are all stored would record an import run that stored nothing each time,
        # and the import runs curators read in the admin would fill up with the
        # demo's restarts. A curator's own re-import of a folder is still recorded
        # with what it found already present (the upload page shows that run):
        # someone tried, and the record says so. Only the demo skips it.
        stored = stored_instances(path, project)
        if stored:
            logger.info(
                "Demo DICOM source %s of %s: stored already (%s); not ingested again.",
                number,
                len(paths),
                counted(stored, "files"),
            )
            continue
        report = ingest_dicom(path, project)
        logger.info("%s", report.summary())

    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    # In the order the ingest made them, not by their random pseudonyms, so that one
    # seed gives every patient the same records in every build:
    for patient in Patient.objects.filter(project=project).order_by("pk"):
        if not patient.blood_samples.exists():
            generate_patient_records(patient, rng)

    if radiomics:
        add_demo_radiomics(project)
    ensure_demo_user()
    return DemoBuild(before, summarise(project))


def stored_instances(path: Path, project: Project) -> int:
    """Return how many files a demo source holds when every one is stored, else 0.

    A file is found stored as the importer finds it: by the keyed hash of its SOP
    Instance UID in the project. The demo's sources are images only; were one a
    segmentation (stored as no ImageInstance), its source would be ingested again,
    which stores nothing twice either.
    """
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    keys = {
        source_uid_hash(
            project.code,
            str(
                pydicom.dcmread(
                    file, stop_before_pixels=True, specific_tags=["SOPInstanceUID"]
                ).SOPInstanceUID
            ),
        )
        for file in files
    }
    stored = ImageInstance.objects.filter(
        source_uid_hash__in=keys, series__study__patient__project=project
    ).count()
    return len(files) if files and stored == len(files) else 0


def add_demo_radiomics(project: Project) -> None:
    """Segment each usable CT and MR series with an ellipse and extract its features.

    The ellipse (half the image wide and high, centred, on every slice) stands in
    for a delineation; real ones come from RTSTRUCT, SEG or mask files.
    """
    from radiomics.extraction import plan_extraction, run_extraction
    from radiomics.models import FeatureExtraction, ImageSeries
    from radiomics.series import SeriesUnusable, read_grid

    series_list = ImageSeries.objects.filter(
        study__patient__project=project, modality__in=["CT", "MR"]
    ).order_by("pk")
    for series in series_list:
        segmentation = series.segmentations.filter(roi_name=DEMO_ROI).first()
        if segmentation is None:
            if series.segmentations.exists():
                continue
            try:
                grid = read_grid(series)
                grid.empty_volume(str(series))
            except SeriesUnusable as refused:
                logger.debug("Demo: no ROI on series %s: %s", series.pk, refused)
                continue
            segmentation = _register_ellipse(series, grid)
        extraction = plan_extraction(
            segmentation,
            engine="pyradiomics",
            engine_parameters=DEMO_PYRADIOMICS_PARAMETERS,
        )
        # A demo built before the biobank computed the intensity quartiles is run
        # again once, so that its texture reports show them:
        lacks_quartiles = not extraction.values.filter(
            feature__name=DEMO_QUARTILE
        ).exists()
        if extraction.status != FeatureExtraction.Status.DONE or lacks_quartiles:
            run_extraction(extraction.pk)
    _save_demo_signature(project)


def _register_ellipse(series, grid):
    import tempfile
    import warnings

    import numpy as np

    from radiomics.masks import register_mask

    slices, rows, columns = len(grid.positions), grid.rows, grid.columns
    y, x = np.mgrid[0:rows, 0:columns]
    ellipse = ((y - rows / 2) / (rows / 4)) ** 2 + (
        (x - columns / 2) / (columns / 4)
    ) ** 2 <= 1
    mask = np.repeat(ellipse[None], slices, axis=0).astype(np.uint8)

    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "builtin type", DeprecationWarning)
        import itk

        image = itk.image_from_array(np.ascontiguousarray(mask))
        image.SetSpacing([float(v) for v in grid.spacing])
        image.SetOrigin([float(v) for v in grid.origin])
        image.SetDirection(itk.matrix_from_array(np.ascontiguousarray(grid.direction)))
        path = Path(folder) / "demo-roi.nrrd"
        itk.imwrite(image, str(path))
        segmentation, _ = register_mask(
            path, series, DEMO_ROI, label=1, method="automatic"
        )
    return segmentation


def _save_demo_signature(project: Project) -> None:
    """Store the illustrative signature; its cut-off is the median of the demo's scores.

    NB: a signature belongs to no project, so saving it scores the extractions of
    every project that hold its features (the receivers of save_definition); the
    demo scores, counts and takes its median over its own project's only.
    """
    from statistics import median

    from radiomics.models import FeatureDefinition, RadiomicSignature, SignatureScore
    from radiomics.signatures import (
        SignatureDefinition,
        TermDefinition,
        rescore_extractions,
        save_definition,
    )

    features = FeatureDefinition.objects.in_bulk(
        DEMO_SIGNATURE_TERMS, field_name="name"
    )
    if len(features) < len(DEMO_SIGNATURE_TERMS):
        return
    # The cut-off set by the first build stays: saving the definition without it at
    # every restart changed the signature twice (cut-off emptied, then the median
    # again), each change a new history row of the signature.
    stored_cutoff = (
        RadiomicSignature.objects.filter(name=DEMO_SIGNATURE)
        .values_list("cutoff", flat=True)
        .first()
    )
    definition = SignatureDefinition(
        name=DEMO_SIGNATURE,
        description="Generated by the demo to show signature scores and follow-up flags; "
        "its weights mean nothing clinically.",
        reference="",
        intercept=0.0,
        cutoff=stored_cutoff,
        label_below="low risk",
        label_above="high risk",
        terms=[TermDefinition(features[n], w) for n, w in DEMO_SIGNATURE_TERMS.items()],
    )
    signature, _ = save_definition(definition)
    extractions = list(
        FeatureExtraction.objects.filter(patient__project=project).values_list(
            "pk", flat=True
        )
    )
    rescore_extractions(extractions)
    scores = list(
        SignatureScore.objects.filter(
            signature=signature, extraction__patient__project=project
        ).values_list("score", flat=True)
    )
    if scores and signature.cutoff is None:
        definition.cutoff = median(scores)
        save_definition(definition)
        rescore_extractions(extractions)
    logger.info(
        "Demo signature: %s of project %s scored",
        counted(len(scores), "extractions"),
        project.code,
    )


def generate_patient_records(patient: Patient, rng: random.Random) -> None:
    """Give a patient plausible clinical and liquid-biopsy records around its scans.

    What the DICOM headers gave is kept: the sex from PatientSex, and the birth year
    follows from PatientAge and the study dates when the headers give an age. Only
    what is still empty is generated, and the patient is saved through the model, so
    its history shows the change.
    """
    studies = ImagingStudy.objects.filter(
        patient=patient, study_date__isnull=False
    ).order_by("study_date")
    study_dates = sorted(study.study_date for study in studies)
    if not study_dates:
        return

    first_scan = study_dates[0]
    cancer_type = patient.cancer_type or choose_cancer_type(patient.sex, rng)
    with transaction.atomic():
        if patient.sex == Sex.UNKNOWN:
            patient.sex = (
                Sex.FEMALE
                if cancer_type == CancerType.BRCA
                else rng.choice([Sex.FEMALE, Sex.MALE])
            )
        if patient.birth_year is None:
            patient.birth_year = birth_year_from_ages(
                (study.study_date, study.patient_age_value, study.patient_age_unit)
                for study in studies
            ) or first_scan.year - rng.randint(45, 80)
        patient.cancer_type = cancer_type
        patient.stage = patient.stage or rng.choice(["II", "IIIa", "IIIb", "IV"])
        if patient.diagnosis_on is None:
            patient.diagnosis_on = first_scan - dt.timedelta(days=rng.randint(3, 20))
        patient._change_reason = "Demo: generated clinical data"
        patient.save(
            update_fields=["sex", "birth_year", "cancer_type", "stage", "diagnosis_on"]
        )

        kind, agent = FIRST_LINE.get(cancer_type, (Treatment.Kind.OTHER, ""))
        treatment_start = first_scan + dt.timedelta(days=rng.randint(10, 30))
        Treatment.objects.create(
            patient=patient,
            kind=kind,
            agent=agent,
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


def choose_cancer_type(sex: str, rng: random.Random) -> str:
    """Return a cancer type of the demo panels; breast cancer only for women.

    Patients of unknown sex may get breast cancer, and are then recorded as women.
    """
    if sex in (Sex.FEMALE, Sex.UNKNOWN):
        return rng.choice(list(PANELS))
    return rng.choice([kind for kind in PANELS if kind != CancerType.BRCA])


AGE_UNITS = ("D", "W", "M", "Y")


def birth_year_from_ages(
    ages: Iterable[tuple[dt.date, int | None, str]],
) -> int | None:
    """Return the birth year that PatientAge values on study dates point to, or None.

    Age A (in D, W, M or Y) on a day means a birth after that day less A+1 units and
    on or before that day less A units; the year of the middle of all such spans is
    returned (of the first study's span alone if the headers disagree). 000Y is skipped: a
    real age under a year is written in months, weeks or days, and 000Y is the dummy
    value that de-identification tools write (pydicom's CT_small.dcm has it).
    """
    spans = [
        (
            _before(day, value + 1, unit) + dt.timedelta(days=1),
            _before(day, value, unit),
        )
        for day, value, unit in ages
        if value is not None and unit in AGE_UNITS and (value, unit) != (0, "Y")
    ]
    if not spans:
        return None

    earliest = max(start for start, _end in spans)
    latest = min(end for _start, end in spans)
    if earliest > latest:
        earliest, latest = spans[0]
    return (earliest + (latest - earliest) / 2).year


def _before(day: dt.date, count: int, unit: str) -> dt.date:
    """Return the day `count` units (D, W, M or Y) before `day`, clamped to the month."""
    if unit in ("D", "W"):
        return day - dt.timedelta(days=count * (7 if unit == "W" else 1))

    months = day.year * 12 + day.month - 1 - count * (12 if unit == "Y" else 1)
    year, month = divmod(months, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


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
        extractions=FeatureExtraction.objects.filter(
            patient__project=project, status=FeatureExtraction.Status.DONE
        ).count(),
    )
