"""Build the demo biobank: real DICOM files shipped by pydicom, generated lab records."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import random
from collections.abc import Collection, Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pydicom
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from biobank.core.importing import counted
from liquidbiopsy.importers.variants import variant_key
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

# The panels' hotspots as their labs report them on GRCh37 (chrom:pos ref>alt, the form
# liquidbiopsy.validation.genomic_change stores), so that a genomic change finds them:
# the cohort filter `variant=7:55249071 C>T` and /api/variants/?variant=. Each one was
# checked against public annotation (Genome Nexus and OncoKB fixtures, TCGA MAF rows,
# ClinGen's liftover to GRCh38 for TP53 p.R273H). NB: ESR1 p.D538G and SMAD4 p.R361H
# have none: no source at hand named their positions with the change, so the demo
# stores them by protein change alone, as a lab table without positions does.
GENOME_BUILD = "GRCh37"
HOTSPOTS_GRCH37: dict[tuple[str, str], str] = {
    ("EGFR", "p.L858R"): "7:55259515 T>G",
    ("EGFR", "p.T790M"): "7:55249071 C>T",
    ("KRAS", "p.G12C"): "12:25398285 C>A",
    ("KRAS", "p.G12D"): "12:25398284 C>T",
    ("KRAS", "p.G12V"): "12:25398284 C>A",
    ("NRAS", "p.Q61K"): "1:115256530 G>T",
    ("BRAF", "p.V600E"): "7:140453136 A>T",
    ("PIK3CA", "p.H1047R"): "3:178952085 A>G",
    ("ESR1", "p.Y537S"): "6:152419923 A>C",
    ("TP53", "p.R175H"): "17:7578406 C>T",
    ("TP53", "p.R248Q"): "17:7577538 C>T",
    ("TP53", "p.R273H"): "17:7577120 C>T",
}

# What each cancer type's tumours carry, in the panel's genes, as the demo gives it to
# a patient: one driver of the first group (drivers of one pathway exclude each other:
# an EGFR-mutant lung cancer carries no KRAS p.G12C), then each co-mutation with its
# chance. The osimertinib the lung patients get is for an EGFR-sensitising driver, so
# theirs is always p.L858R; T790M, which osimertinib also inhibits, is a small
# pre-treatment subclone in some. ESR1 mutations arise under an aromatase inhibitor,
# so they appear only after months of letrozole.
DRIVERS: dict[str, list[tuple[str, str]]] = {
    CancerType.LUAD: [("EGFR", "p.L858R")],
    CancerType.COAD: [("KRAS", "p.G12D"), ("NRAS", "p.Q61K"), ("BRAF", "p.V600E")],
    CancerType.BRCA: [("PIK3CA", "p.H1047R")],
    CancerType.PAAD: [("KRAS", "p.G12D"), ("KRAS", "p.G12V")],
}
CO_MUTATIONS: dict[str, list[tuple[str, str, float]]] = {
    CancerType.LUAD: [("TP53", "p.R273H", 0.5)],
    CancerType.COAD: [("TP53", "p.R175H", 0.6)],
    CancerType.BRCA: [("TP53", "p.R248Q", 0.3)],
    CancerType.PAAD: [("TP53", "p.R273H", 0.7), ("SMAD4", "p.R361H", 0.3)],
}
SENSITIVE_SUBCLONES: dict[str, list[tuple[str, str, float]]] = {
    CancerType.LUAD: [("EGFR", "p.T790M", 0.5)],
}
ACQUIRED: dict[str, list[tuple[str, str, float]]] = {
    CancerType.BRCA: [("ESR1", "p.D538G", 0.6), ("ESR1", "p.Y537S", 0.4)],
}
# Days of treatment before an acquired resistance mutation shows in the blood:
ACQUIRED_AFTER_DAYS = 120
# The RECIST assessment of the first line, and the draw taken with it, at week 12:
RESPONSE_AFTER_DAYS = 84

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
    patients that have no blood sample yet, or series without a segmentation. A
    demo built by an earlier version keeps its records as they are (no lab sample
    IDs, timepoint `demo`): nothing stored is deleted to make them again, since a
    user may have added to them; a new database gets the new ones.
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
    # seed gives every patient the same records in every build. Each patient's course
    # has a generator of its own, so that one whose draws were deleted gets again
    # the records a new demo gives it:
    patients = Patient.objects.filter(project=project).order_by("pk")
    for number, patient in enumerate(patients, start=1):
        if not patient.blood_samples.exists():
            course_rng = random.Random(f"{seed}:{number}")  # noqa: S311 - as above
            generate_patient_records(patient, rng, course_rng)

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


def generate_patient_records(
    patient: Patient, rng: random.Random, course_rng: random.Random
) -> None:
    """Give a patient plausible clinical and liquid-biopsy records around its scans.

    What the DICOM headers gave is kept: the sex from PatientSex, and the birth year
    follows from PatientAge and the study dates when the headers give an age. Only
    what is still empty is generated, and the patient is saved through the model, so
    its history shows the change. The first line, its response and the draws follow
    one TumourCourse drawn from `course_rng`.
    """
    studies = ImagingStudy.objects.filter(
        patient=patient, study_date__isnull=False
    ).order_by("study_date")
    study_dates = sorted(study.study_date for study in studies)
    if not study_dates:
        return

    first_scan = study_dates[0]
    others = Patient.objects.filter(project=patient.project).exclude(pk=patient.pk)
    taken = set(others.values_list("cancer_type", flat=True))
    cancer_type = patient.cancer_type or choose_cancer_type(patient.sex, rng, taken)
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

        course = plan_course(patient, first_scan, course_rng)
        kind, agent = FIRST_LINE.get(cancer_type, (Treatment.Kind.OTHER, ""))
        # By their natural keys: a patient whose generated draws were deleted gets
        # the same course again, and keeps its line and assessment, not two of each.
        Treatment.objects.update_or_create(
            patient=patient,
            kind=kind,
            agent=agent,
            started_on=course.started_on,
            defaults={"line": 1, "ended_on": course.ended_on},
        )
        ClinicalEvent.objects.update_or_create(
            patient=patient,
            kind=ClinicalEvent.Kind.RESPONSE,
            occurred_on=course.assessed_on,
            defaults={"recist": course.response},
        )

        # A draw near each scan, and every 60 days after the first one:
        draw_days = {
            day + dt.timedelta(days=course_rng.randint(-6, 6)) for day in study_dates
        }
        draw_days |= {first_scan + dt.timedelta(days=60 * k) for k in range(1, 4)}
        accession = free_accession(patient, course_rng.randrange(10_000, 100_000))
        days = sorted(draw_days)
        for number, day in enumerate(days, start=1):
            is_baseline = day < course.started_on and (
                number == len(days) or days[number] >= course.started_on
            )
            create_demo_draw(
                patient,
                course,
                day,
                f"LB{accession}-{number:02d}",
                timepoint_of(day, course, is_baseline),
                course_rng,
            )


def free_accession(patient: Patient, accession: int) -> int:
    """Return `accession`, or the next one that no other patient of the project's draws
    carries: a lab sample ID names one tube (BloodSample.same_sample_id_draw)."""
    others = BloodSample.objects.filter(patient__project_id=patient.project_id).exclude(
        patient=patient
    )
    while others.filter(external_sample_id__startswith=f"LB{accession}-").exists():
        accession = 10_000 + (accession + 1 - 10_000) % 90_000
    return accession


@dataclass
class Clone:
    """A variant of a demo patient's tumour: the share of tumour cells carrying it, and
    the days (inclusive) between which they are in the blood (None: no bound)."""

    share: float
    first_day: dt.date | None = None
    last_day: dt.date | None = None

    def share_on(self, day: dt.date) -> float:
        if self.first_day is not None and day < self.first_day:
            return 0.0
        if self.last_day is not None and day > self.last_day:
            return 0.0
        return self.share


# A tumour fraction the demo's regrowth stops at:
MAX_TUMOUR_FRACTION = 0.3


@dataclass
class TumourCourse:
    """A demo patient's first line, its RECIST response, and its tumour DNA over time.

    The tumour fraction of the plasma stays at its pre-treatment level until the
    treatment starts; over eight weeks it falls to a twentieth under a partial
    response, to a third under stable disease, and doubles every 45 days under
    progression (which stops the treatment at the assessment); once a treatment
    ends it grows back, doubling every 90 days, up to MAX_TUMOUR_FRACTION.
    Illustrative kinetics for a demo, not a fitted model.
    """

    baseline: float
    started_on: dt.date
    ended_on: dt.date | None  # None: still taken
    response: str
    clones: dict[tuple[str, str], Clone]

    @property
    def assessed_on(self) -> dt.date:
        return self.started_on + dt.timedelta(days=RESPONSE_AFTER_DAYS)

    def tumour_fraction(self, day: dt.date) -> float:
        if day < self.started_on:
            return self.baseline

        last_treated = min(day, self.ended_on or day)
        treated = (last_treated - self.started_on).days
        if self.response == ClinicalEvent.Recist.PD:
            level = self.baseline * 2 ** (treated / 45)
        else:
            nadir = 0.05 if self.response == ClinicalEvent.Recist.PR else 0.3
            level = self.baseline * nadir ** (min(treated, 56) / 56)
        if day > last_treated:
            level *= 2 ** ((day - last_treated).days / 90)
        return min(level, MAX_TUMOUR_FRACTION)

    def expected_vaf(self, gene: str, change: str, day: dt.date) -> float:
        """Return the allele fraction a variant has in the plasma on `day`: half the
        tumour fraction (one allele of two) times the share of cells carrying it."""
        clone = self.clones.get((gene, change))
        if clone is None:
            return 0.0
        return self.tumour_fraction(day) / 2 * clone.share_on(day)


def plan_course(
    patient: Patient, first_scan: dt.date, rng: random.Random
) -> TumourCourse:
    """Choose a patient's first line, response and tumour variants (DRIVERS, ...)."""
    cancer_type = patient.cancer_type
    started_on = first_scan + dt.timedelta(days=rng.randint(10, 30))
    response = rng.choices(
        [ClinicalEvent.Recist.PR, ClinicalEvent.Recist.SD, ClinicalEvent.Recist.PD],
        weights=[5, 3, 2],
    )[0]
    # Progression stops the line at its assessment; otherwise a chemotherapy ends
    # after its courses, and a targeted or hormonal drug is taken until progression:
    ended_on: dt.date | None = None
    kind, _agent = FIRST_LINE.get(cancer_type, (Treatment.Kind.OTHER, ""))
    if response == ClinicalEvent.Recist.PD:
        ended_on = started_on + dt.timedelta(days=RESPONSE_AFTER_DAYS)
    elif kind not in (Treatment.Kind.TARGETED, Treatment.Kind.HORMONAL):
        ended_on = started_on + dt.timedelta(days=rng.randint(90, 240))
    # Metastatic disease sheds more tumour DNA:
    baseline = (
        rng.uniform(0.03, 0.2) if patient.stage == "IV" else rng.uniform(0.01, 0.06)
    )

    clones = {rng.choice(DRIVERS[cancer_type]): Clone(1.0)}
    for gene, change, chance in CO_MUTATIONS.get(cancer_type, []):
        if rng.random() < chance:
            clones[gene, change] = Clone(rng.uniform(0.6, 1.0))
    for gene, change, chance in SENSITIVE_SUBCLONES.get(cancer_type, []):
        if rng.random() < chance:
            cleared = started_on + dt.timedelta(days=28)
            clones[gene, change] = Clone(rng.uniform(0.1, 0.3), last_day=cleared)
    for gene, change, chance in ACQUIRED.get(cancer_type, []):
        if rng.random() < chance:
            arising = started_on + dt.timedelta(days=ACQUIRED_AFTER_DAYS)
            clones[gene, change] = Clone(rng.uniform(0.2, 0.6), first_day=arising)
    return TumourCourse(baseline, started_on, ended_on, response, clones)


def timepoint_of(day: dt.date, course: TumourCourse, is_baseline: bool) -> str:
    """Name a draw's timepoint as a trial's schedule would, from the first line."""
    if day < course.started_on:
        return "Baseline" if is_baseline else "Pre-treatment"
    if (
        course.response == ClinicalEvent.Recist.PD
        and course.assessed_on <= day <= course.assessed_on + dt.timedelta(days=30)
    ):
        return "Progression"
    if course.ended_on is None or day <= course.ended_on:
        return f"On treatment, week {(day - course.started_on).days // 7 + 1}"
    if day <= course.ended_on + dt.timedelta(days=30):
        return "End of treatment"
    return "Follow-up"


def choose_cancer_type(
    sex: str, rng: random.Random, taken: Collection[str] = ()
) -> str:
    """Return a cancer type of the demo panels; breast cancer only for women.

    Patients of unknown sex may get breast cancer, and are then recorded as women.
    A type no other demo patient has (not in `taken`) comes first while one fits, so
    that the four demo patients show every panel whatever the seed: the EGFR cohort,
    the ESR1 mutations of the breast panel, the KRAS ones of the others.
    """
    if sex in (Sex.FEMALE, Sex.UNKNOWN):
        fitting = list(PANELS)
    else:
        fitting = [kind for kind in PANELS if kind != CancerType.BRCA]
    untaken = [kind for kind in fitting if kind not in taken]
    return rng.choice(untaken or fitting)


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
    patient: Patient,
    course: TumourCourse,
    day: dt.date,
    sample_id: str,
    timepoint: str,
    rng: random.Random,
) -> None:
    drawn_at = timezone.make_aware(
        dt.datetime.combine(day, dt.time(8 + rng.randint(0, 4), 30))
    )
    tumour_fraction = course.tumour_fraction(day)
    sample = BloodSample.objects.create(
        patient=patient,
        drawn_at=drawn_at,
        timepoint=timepoint,
        external_sample_id=sample_id,
        tube_type="CellSave",
        plasma_volume_ml=round(rng.uniform(3.0, 5.0), 1),
        hours_to_processing=round(rng.uniform(1, 48), 1),
    )
    # More tumour DNA, more circulating tumour cells on average:
    ctc_mean = 1 + 60 * tumour_fraction
    CTCCount.objects.create(
        sample=sample, count=min(int(rng.expovariate(1 / ctc_mean)), 200)
    )

    cancer_type = patient.cancer_type
    assay = CfDNAAssay.objects.create(
        sample=sample,
        method=CfDNAAssay.Method.TARGETED_NGS,
        panel=f"demo-{cancer_type.lower()}",
        cfdna_ng_per_ml=round(
            rng.lognormvariate(2.3, 0.4) * (1 + 10 * tumour_fraction), 2
        ),
        limit_of_detection_vaf=LOD_VAF,
    )
    for gene, change in PANELS[cancer_type]:
        # The measured fraction scatters around the expected one (sampling of few
        # molecules); a quarter of the limit is where the lab still sees a few reads:
        vaf = course.expected_vaf(gene, change, day) * rng.lognormvariate(0, 0.3)
        depth = alt_reads = None
        if vaf >= LOD_VAF:
            call, vaf = VariantResult.Call.DETECTED, min(round(vaf, 4), 0.9)
            depth = rng.randint(2_000, 8_000)
            alt_reads = max(1, round(vaf * depth))
        elif vaf >= LOD_VAF / 4:
            call, vaf = VariantResult.Call.BELOW_LOD, None
        else:
            call, vaf = VariantResult.Call.NOT_DETECTED, None
        genomic_change = HOTSPOTS_GRCH37.get((gene, change), "")
        values = {
            "gene": gene,
            "gene_hgnc": gene,
            "variant_type": VariantResult.Type.SNV,
            "protein_change": change,
            "protein_change_raw": change,
            "genomic_change": genomic_change,
            "genome_build": GENOME_BUILD if genomic_change else "",
        }
        # Keyed as the importers and the API key it (by its genomic change where
        # known), so that the same variant posted or imported again is a duplicate:
        VariantResult.objects.create(
            assay=assay,
            variant_key=variant_key(values),
            vaf=vaf,
            alt_reads=alt_reads,
            depth=depth,
            call=call,
            **values,
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
