"""The kinds of file a curator may upload, and the importer that reads each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from biobank.core.importing import ImportReport
from liquidbiopsy.importers.cfdna import ALIASES as CFDNA_ALIASES
from liquidbiopsy.importers.cfdna import KNOWN as CFDNA_COLUMNS
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import ALIASES as CTC_ALIASES
from liquidbiopsy.importers.ctc import KNOWN as CTC_COLUMNS
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.importers.vcf import import_vcf
from patients.importers.clinical import COLUMNS as CLINICAL_COLUMNS
from patients.importers.clinical import (
    EVENTS,
    PATIENTS,
    TREATMENTS,
    import_clinical,
)
from patients.models import Project
from radiomics.importers.pyradiomics_csv import import_pyradiomics

DICOM_ZIP = "dicom-zip"


@dataclass(frozen=True)
class Kind:
    label: str
    importer: str  # ImportRun.importer of the runs it records
    run: Callable[..., ImportReport] | None  # None: queued as a background job
    needs: tuple[str, ...] = ()  # options the form must have
    takes: tuple[str, ...] = ()  # options it may have that other kinds refuse
    columns: frozenset[str] = frozenset()  # of a table kind, to tell one from another


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
        lod=options["lod"] or None,
        user=user,
    )


def _vcf(path: Path, project: Project, user, options: dict) -> ImportReport:
    return import_vcf(
        path,
        project,
        patient_id=options["patient_id"],
        drawn_on=options["drawn_on"],
        create_patients=options["create_patients"],
        lod=options["lod"] or None,
        user=user,
    )


def _pyradiomics(path: Path, project: Project, user, options: dict) -> ImportReport:
    return import_pyradiomics(
        path, project, create_patients=options["create_patients"], user=user
    )


KINDS = {
    "clinical-patients": Kind(
        "Clinical CSV: patients",
        f"clinical-{PATIENTS}",
        _clinical(PATIENTS),
        columns=frozenset(CLINICAL_COLUMNS[PATIENTS]),
    ),
    "clinical-treatments": Kind(
        "Clinical CSV: treatments",
        f"clinical-{TREATMENTS}",
        _clinical(TREATMENTS),
        columns=frozenset(CLINICAL_COLUMNS[TREATMENTS]),
    ),
    "clinical-events": Kind(
        "Clinical CSV: events",
        f"clinical-{EVENTS}",
        _clinical(EVENTS),
        columns=frozenset(CLINICAL_COLUMNS[EVENTS]),
    ),
    "ctc": Kind(
        "CTC counts (CSV)",
        "ctc",
        _lab_table(import_ctc),
        columns=frozenset(CTC_COLUMNS | set(CTC_ALIASES)),
    ),
    "cfdna": Kind(
        "cfDNA variant table (CSV)",
        "cfdna",
        _lab_table(import_cfdna),
        columns=frozenset(CFDNA_COLUMNS | set(CFDNA_ALIASES)),
    ),
    "maf": Kind(
        "MAF (plain or gzipped)", "maf", _maf, needs=("drawn_on",), takes=("lod",)
    ),
    "vcf": Kind(
        "VCF (one sample)",
        "vcf",
        _vcf,
        needs=("drawn_on", "patient_id"),
        takes=("lod",),
    ),
    "pyradiomics": Kind("PyRadiomics batch CSV", "pyradiomics-csv", _pyradiomics),
    DICOM_ZIP: Kind("ZIP archive of DICOM files", "dicom", None),
}


def kind_the_header_suggests(header: list[str], chosen: str) -> Kind | None:
    """Return the table kind whose columns the header holds, when it is not `chosen`.

    Only when most of the header is unknown to the chosen kind and another kind knows
    at least half of it: the patient_id column that every table has proves nothing.
    """
    names = {name.strip().lower() for name in header} - {"patient_id", ""}
    if not names or chosen not in KINDS:
        return None
    known_here = len(names & KINDS[chosen].columns)
    if known_here * 2 >= len(names):
        return None
    scores = {
        key: len(names & kind.columns)
        for key, kind in KINDS.items()
        if key != chosen and kind.columns
    }
    best = max(scores, key=scores.__getitem__, default=None)
    if best is None or scores[best] * 2 < len(names) or scores[best] <= known_here:
        return None
    return KINDS[best]
