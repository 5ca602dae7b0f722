"""The kinds of file a curator may upload, and the importer that reads each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from patients.importers.clinical import EVENTS, PATIENTS, TREATMENTS, import_clinical
from patients.models import Project
from radiomics.importers.pyradiomics_csv import import_pyradiomics

DICOM_ZIP = "dicom-zip"


@dataclass(frozen=True)
class Kind:
    label: str
    importer: str  # ImportRun.importer of the runs it records
    run: Callable[..., ImportReport] | None  # None: queued as a background job
    needs: tuple[str, ...] = ()  # options the form must have


def _clinical(kind: str) -> Callable[..., ImportReport]:
    def run(path: Path, project: Project, user, options: dict) -> ImportReport:
        return import_clinical(
            path,
            project,
            kind=kind,
            date_order=options["date_order"] or None,
            user=user,
        )

    return run


def _lab_table(importer: Callable[..., ImportReport]) -> Callable[..., ImportReport]:
    """Run a CTC or cfDNA table importer with the options the page offers."""

    def run(path: Path, project: Project, user, options: dict) -> ImportReport:
        return importer(
            path,
            project,
            create_patients=options["create_patients"],
            date_order=options["date_order"] or None,
            user=user,
        )

    return run


def _maf(path: Path, project: Project, user, options: dict) -> ImportReport:
    return import_maf(
        path,
        project,
        drawn_on=options["drawn_on"],
        create_patients=options["create_patients"],
        user=user,
    )


def _vcf(path: Path, project: Project, user, options: dict) -> ImportReport:
    return import_vcf(
        path,
        project,
        patient_id=options["patient_id"],
        drawn_on=options["drawn_on"],
        create_patients=options["create_patients"],
        user=user,
    )


def _pyradiomics(path: Path, project: Project, user, options: dict) -> ImportReport:
    return import_pyradiomics(
        path, project, create_patients=options["create_patients"], user=user
    )


KINDS = {
    "clinical-patients": Kind(
        "Clinical CSV: patients", f"clinical-{PATIENTS}", _clinical(PATIENTS)
    ),
    "clinical-treatments": Kind(
        "Clinical CSV: treatments", f"clinical-{TREATMENTS}", _clinical(TREATMENTS)
    ),
    "clinical-events": Kind(
        "Clinical CSV: events", f"clinical-{EVENTS}", _clinical(EVENTS)
    ),
    "ctc": Kind("CTC counts (CSV)", "ctc", _lab_table(import_ctc)),
    "cfdna": Kind("cfDNA variant table (CSV)", "cfdna", _lab_table(import_cfdna)),
    "maf": Kind("MAF (plain or gzipped)", "maf", _maf, needs=("drawn_on",)),
    "vcf": Kind("VCF (one sample)", "vcf", _vcf, needs=("drawn_on", "patient_id")),
    "pyradiomics": Kind("PyRadiomics batch CSV", "pyradiomics-csv", _pyradiomics),
    DICOM_ZIP: Kind("ZIP archive of DICOM files", "dicom", None),
}
