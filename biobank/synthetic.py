"""Generate a synthetic biobank of any size, straight into the database, from a seed."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import struct
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from operator import itemgetter

import numpy as np
from django.conf import settings
from django.db import connection, models, transaction

from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import (
    CancerType,
    ClinicalEvent,
    Consent,
    Patient,
    Project,
    Sex,
    Treatment,
)
from patients.services import get_project
from radiomics.features import IBSI_CODES
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)

logger = logging.getLogger(__name__)

DEFAULT_PROJECT = "synthetic"
DEFAULT_PATIENTS = 100_000
# Marks a project as this generator's; --replace deletes nothing else.
SYNTHETIC_MARK = "Synthetic data made by generate_biobank; no real patient."
# NB: fixed, so that the same seed gives the same data whatever the size of the run's
# other chunks; a chunk is also the unit of one COPY per table.
CHUNK_PATIENTS = 1_000
FEATURES_PER_EXTRACTION = 100
# Every record lies on or before this day, so that no record is in the future and
# the data do not depend on the day of the run:
LAST_DAY = dt.date(2025, 6, 30)
FIRST_DIAGNOSIS = dt.date(2012, 1, 1)
SOFTWARE = "synthetic"

# Cancer types with their share of the cohort and the sex they allow:
CANCER_MIX: list[tuple[str, float, str | None]] = [
    (CancerType.LUAD, 0.22, None),
    (CancerType.LUSC, 0.08, None),
    (CancerType.COAD, 0.14, None),
    (CancerType.READ, 0.05, None),
    (CancerType.BRCA, 0.20, Sex.FEMALE),
    (CancerType.PRAD, 0.14, Sex.MALE),
    (CancerType.PAAD, 0.06, None),
    (CancerType.SKCM, 0.06, None),
    (CancerType.HNSC, 0.05, None),
]
STAGES = ["I", "II", "IIIa", "IIIb", "IV"]
STAGE_SHARE = [0.12, 0.18, 0.15, 0.15, 0.40]
# Mean CTCs per 7.5 mL by stage; counts are negative binomial around it (dispersion
# 0.25: most draws have none, a few have dozens, as CellSearch series report).
CTC_MEAN = {"I": 0.3, "II": 0.6, "IIIa": 1.2, "IIIb": 2.0, "IV": 6.0}
CTC_DISPERSION = 0.25

# cfDNA hotspots a targeted panel reports: (gene, canonical protein change).
HOTSPOTS: list[tuple[str, str]] = [
    ("EGFR", "p.L858R"), ("EGFR", "p.T790M"), ("KRAS", "p.G12C"), ("KRAS", "p.G12D"),
    ("KRAS", "p.G12V"), ("NRAS", "p.Q61K"), ("BRAF", "p.V600E"), ("PIK3CA", "p.H1047R"),
    ("PIK3CA", "p.E545K"), ("TP53", "p.R175H"), ("TP53", "p.R248Q"), ("TP53", "p.R273H"),
    ("ESR1", "p.D538G"), ("ESR1", "p.Y537S"), ("AR", "p.T878A"), ("AR", "p.L702H"),
    ("SMAD4", "p.R361H"), ("APC", "p.R1450*"), ("PTEN", "p.R130Q"), ("CTNNB1", "p.S45F"),
    ("IDH1", "p.R132H"), ("ERBB2", "p.V777L"), ("KIT", "p.D816V"), ("PDGFRA", "p.D842V"),
    ("HRAS", "p.G12V"), ("FGFR3", "p.S249C"), ("GNAS", "p.R201H"), ("STK11", "p.Q37*"),
    ("KEAP1", "p.G333C"), ("CDKN2A", "p.R80*"), ("NFE2L2", "p.R34G"), ("DNMT3A", "p.R882H"),
    ("SF3B1", "p.K700E"), ("FBXW7", "p.R465C"), ("POLE", "p.P286R"), ("ALK", "p.F1174L"),
    ("RET", "p.M918T"), ("MAP2K1", "p.K57N"), ("NRAS", "p.Q61R"), ("BRAF", "p.G469A"),
]  # fmt: skip
# The drivers each cancer type's panel always holds; the panel is filled from the
# other hotspots to a size of 10 to 30 genes.
DRIVERS: dict[str, list[str]] = {
    CancerType.LUAD: ["EGFR", "KRAS", "TP53", "STK11", "KEAP1", "ALK", "BRAF"],
    CancerType.LUSC: ["TP53", "PIK3CA", "CDKN2A", "NFE2L2", "KEAP1"],
    CancerType.COAD: ["KRAS", "NRAS", "BRAF", "APC", "TP53", "PIK3CA", "SMAD4"],
    CancerType.READ: ["KRAS", "NRAS", "APC", "TP53", "SMAD4"],
    CancerType.BRCA: ["PIK3CA", "ESR1", "TP53", "ERBB2", "PTEN"],
    CancerType.PRAD: ["AR", "TP53", "PTEN", "CTNNB1"],
    CancerType.PAAD: ["KRAS", "TP53", "SMAD4", "CDKN2A", "GNAS"],
    CancerType.SKCM: ["BRAF", "NRAS", "KIT", "CDKN2A"],
    CancerType.HNSC: ["TP53", "PIK3CA", "CDKN2A", "HRAS", "FBXW7"],
}
# Clonal haematopoiesis genes: found in blood whatever the tumour.
CH_GENES = {"DNMT3A", "SF3B1"}

FIRST_LINE: dict[str, tuple[str, str]] = {
    CancerType.LUAD: (Treatment.Kind.TARGETED, "osimertinib"),
    CancerType.LUSC: (Treatment.Kind.CHEMOTHERAPY, "carboplatin-paclitaxel"),
    CancerType.COAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFOX"),
    CancerType.READ: (Treatment.Kind.CHEMORADIOTHERAPY, "capecitabine-RT"),
    CancerType.BRCA: (Treatment.Kind.HORMONAL, "letrozole"),
    CancerType.PRAD: (Treatment.Kind.HORMONAL, "enzalutamide"),
    CancerType.PAAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFIRINOX"),
    CancerType.SKCM: (Treatment.Kind.IMMUNOTHERAPY, "pembrolizumab"),
    CancerType.HNSC: (Treatment.Kind.CHEMORADIOTHERAPY, "cisplatin-RT"),
}
SECOND_LINE = (Treatment.Kind.CHEMOTHERAPY, "docetaxel")

# Scanners: manufacturer, model, reconstruction kernels (soft tissue first).
SCANNERS: list[tuple[str, str, list[str]]] = [
    ("SIEMENS", "SOMATOM Definition AS", ["B30f", "B70f"]),
    ("SIEMENS", "SOMATOM Force", ["Br40", "Bl57"]),
    ("GE MEDICAL SYSTEMS", "Discovery CT750 HD", ["STANDARD", "LUNG"]),
    ("GE MEDICAL SYSTEMS", "Revolution CT", ["SOFT", "BONEPLUS"]),
    ("Philips", "iCT 256", ["B", "YA"]),
    ("TOSHIBA", "Aquilion ONE", ["FC03", "FC51"]),
]
SCANNER_SHARE = [0.22, 0.13, 0.22, 0.10, 0.18, 0.15]
SLICE_THICKNESSES = [0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0]
SLICE_SHARE = [0.10, 0.22, 0.15, 0.12, 0.10, 0.10, 0.11, 0.10]
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
BODY_PART = {
    CancerType.LUAD: "CHEST", CancerType.LUSC: "CHEST", CancerType.COAD: "ABDOMEN",
    CancerType.READ: "PELVIS", CancerType.BRCA: "BREAST", CancerType.PRAD: "PELVIS",
    CancerType.PAAD: "ABDOMEN", CancerType.SKCM: "WHOLEBODY", CancerType.HNSC: "NECK",
}  # fmt: skip


@dataclass
class GenerationSummary:
    project: str
    seed: int
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, count: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + count

    def describe(self) -> str:
        counts = ", ".join(f"{count:,} {name}" for name, count in self.counts.items())
        return (
            f"Project {self.project!r} (seed {self.seed}): {counts} "
            f"in {self.seconds:.1f} s."
        )


class SyntheticProjectExists(Exception):
    pass


# Entry point:


def generate_biobank(
    patients: int = DEFAULT_PATIENTS,
    seed: int = 1,
    project_code: str = DEFAULT_PROJECT,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> GenerationSummary:
    """Generate `patients` synthetic patients with their records into `project_code`.

    Everything is written in one transaction: a failed run leaves nothing behind.
    The project is created and marked synthetic. If it already has patients the run
    is refused, unless `replace` is given and the project carries this generator's
    mark; then its records are deleted first. A project of real data is never
    touched. History tables get no rows: the records were never edited.

    Raises
    ------
    SyntheticProjectExists
        When the project has patients and may not (or must not) be replaced.
    """
    if patients < 1:
        raise ValueError(f"The number of patients must be at least 1, not {patients}.")
    summary = GenerationSummary(project_code, seed)
    started = time.perf_counter()

    with transaction.atomic():
        project = prepare_project(project_code, replace)
        lock_tables()
        features = ensure_feature_definitions()
        writer = TableWriter(summary)
        with indexes_rebuilt_after(bulk_models_outgrown(patients)):
            chunks = range(0, patients, CHUNK_PATIENTS)
            for number, first in enumerate(chunks):
                size = min(CHUNK_PATIENTS, patients - first)
                chunk = generate_chunk(project, seed, number, first, size, features)
                writer.write_chunk(chunk)
                if progress is not None:
                    progress(f"{first + size:,} of {patients:,} patients")
            if progress is not None:
                progress("checking constraints and building indexes")
        analyse_tables()

    summary.seconds = time.perf_counter() - started
    logger.info("Generated synthetic biobank: %s", summary.describe())
    return summary


def prepare_project(code: str, replace: bool) -> Project:
    """Return the empty project to generate into, creating or emptying it."""
    project = Project.objects.filter(code=code).first()
    if project is None:
        project = get_project(code)
        project.name = f"Synthetic biobank ({code})"
        project.description = SYNTHETIC_MARK
        project.save(update_fields=["name", "description"])
        return project

    is_synthetic = project.description == SYNTHETIC_MARK
    has_patients = project.patients.exists()
    if not is_synthetic and (has_patients or replace):
        raise SyntheticProjectExists(
            f"Project {code!r} exists and was not made by generate_biobank; "
            "choose another --project (synthetic data never mixes with real data)."
        )
    if has_patients and not replace:
        raise SyntheticProjectExists(
            f"Project {code!r} already holds {project.patients.count():,} synthetic "
            "patients; add --replace to delete them and generate anew, or choose "
            "another --project."
        )
    if has_patients:
        delete_project_records(project)
    project.description = SYNTHETIC_MARK
    project.save(update_fields=["description"])
    return project


def delete_project_records(project: Project) -> None:
    """Delete the project's patients and every record hanging on them, in SQL.

    NB: not QuerySet.delete(): the history receivers would load and copy each of
    millions of rows. Reverse foreign keys are followed from the model metadata, so a
    model added later is covered; a protected reference stops the deletion.
    """
    table = connection.ops.quote_name(Patient._meta.db_table)
    project_column = connection.ops.quote_name(
        Patient._meta.get_field("project").column
    )
    with connection.cursor() as cursor:
        patients = f"SELECT id FROM {table} WHERE {project_column} = %s"  # noqa: S608 - names from model meta
        delete_rows(cursor, Patient, patients, [project.pk])
        if connection.vendor == "postgresql":
            # Run the checks the deletes queued now: a table with pending checks
            # cannot be altered (see indexes_rebuilt_after).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def delete_rows(cursor, model: type[models.Model], ids_sql: str, params: list) -> None:
    quote = connection.ops.quote_name
    for relation in model._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        remote = relation.remote_field
        if not getattr(remote, "db_constraint", True):
            continue  # e.g. history rows, which keep the deleted ids on purpose
        child = relation.related_model
        child_table = quote(child._meta.db_table)
        column = quote(relation.field.column)
        child_ids = f"SELECT id FROM {child_table} WHERE {column} IN ({ids_sql})"  # noqa: S608 - names from model meta
        if relation.on_delete is models.SET_NULL:
            cursor.execute(
                f"UPDATE {child_table} SET {column} = NULL WHERE {column} IN ({ids_sql})",  # noqa: S608
                params,
            )
        elif relation.on_delete is models.CASCADE:
            delete_rows(cursor, child, child_ids, params)
        else:
            cursor.execute(
                f"SELECT 1 FROM {child_table} WHERE {column} IN ({ids_sql}) LIMIT 1",  # noqa: S608
                params,
            )
            if cursor.fetchone():
                raise SyntheticProjectExists(
                    f"{child._meta.verbose_name_plural} refer to the project's "
                    f"{model._meta.verbose_name_plural}; remove them first."
                )
    table = quote(model._meta.db_table)
    cursor.execute(f"DELETE FROM {table} WHERE id IN ({ids_sql})", params)  # noqa: S608


WRITTEN_MODELS: list[type[models.Model]] = [
    Patient, Consent, Treatment, ClinicalEvent, ImagingStudy, ImageSeries,
    Segmentation, FeatureExtraction, FeatureValue, BloodSample, CTCCount,
    CfDNAAssay, VariantResult,
]  # fmt: skip


def lock_tables() -> None:
    """Keep other writers out of the tables until commit, so reserved ids stay ours.

    Readers are not blocked. SQLite's write transaction already excludes writers.
    """
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in WRITTEN_MODELS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")


def analyse_tables() -> None:
    """Refresh the planner's statistics of the tables written, on PostgreSQL.

    NB: without it, queries right after a large run are planned for empty tables
    (autovacuum catches up only minutes later): a cohort query took 47 s, not 0.2 s.
    """
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in WRITTEN_MODELS
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


# Rows expected per patient in the two biggest tables (5 x 100 values, 8 x 20 genes):
BULK_ROWS_PER_PATIENT = {FeatureValue: 500, VariantResult: 160}


def bulk_models_outgrown(patients: int) -> list[type[models.Model]]:
    """Return the big tables that this run will more than double, on PostgreSQL.

    Their indexes and constraints are cheaper built once afterwards than kept up to
    date row by row: for 10,000 patients, a third of the run's time went on them.
    """
    if connection.vendor != "postgresql":
        return []
    outgrown = []
    with connection.cursor() as cursor:
        for model, per_patient in BULK_ROWS_PER_PATIENT.items():
            cursor.execute(
                "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            if patients * per_patient > cursor.fetchone()[0]:
                outgrown.append(model)
    return outgrown


@contextmanager
def indexes_rebuilt_after(bulk_models: list[type[models.Model]]) -> Iterator[None]:
    """Drop the models' indexes, unique and foreign-key constraints, then add them back.

    Adding them back checks every row, so the data meet every constraint as if they
    had been kept all along; inside the run's transaction, a violation undoes all.
    Other sessions wait for the tables meanwhile (they are locked anyway).
    """
    if not bulk_models:
        yield
        return

    foreign_keys = {
        model: [
            f for f in model._meta.concrete_fields if f.is_relation and f.db_constraint
        ]
        for model in bulk_models
    }
    # NB: foreign keys first: dropping one fires the checks that deletes (--replace)
    # left pending, which need the unique index to be quick.
    with connection.schema_editor(atomic=False) as editor:
        for model in bulk_models:
            for key in foreign_keys[model]:
                editor.alter_field(model, key, without_constraint(key))
            for constraint in model._meta.constraints:
                editor.remove_constraint(model, constraint)
            for index in model._meta.indexes:
                editor.remove_index(model, index)
    yield
    with connection.schema_editor(atomic=False) as editor:
        for model in bulk_models:
            for index in model._meta.indexes:
                editor.add_index(model, index)
            for constraint in model._meta.constraints:
                editor.add_constraint(model, constraint)
            for key in foreign_keys[model]:
                editor.alter_field(model, without_constraint(key), key)


def without_constraint(key: models.ForeignKey) -> models.ForeignKey:
    """Return a copy of the foreign key that has no database constraint."""
    copy = key.clone()
    copy.remote_field.model = key.remote_field.model
    copy.db_constraint = False
    copy.set_attributes_from_name(key.name)
    copy.model = key.model
    return copy


# Feature definitions:


def ensure_feature_definitions() -> list[FeatureDefinition]:
    """Return the 100 PyRadiomics features the generator fills, creating missing ones.

    Definitions are shared by every project; existing ones are reused unchanged.
    """
    wanted = list(IBSI_CODES.items())[:FEATURES_PER_EXTRACTION]
    names = [f"original_{family}_{name}" for (family, name), _code in wanted]
    existing = FeatureDefinition.objects.in_bulk(names, field_name="name")
    FeatureDefinition.objects.bulk_create(
        [
            FeatureDefinition(
                name=name,
                family=family,
                feature_name=feature_name,
                image_filter="original",
                ibsi_code=code,
                description=ibsi_name,
            )
            for name, ((family, feature_name), (code, ibsi_name)) in zip(
                names, wanted, strict=True
            )
            if name not in existing
        ]
    )
    by_name = FeatureDefinition.objects.in_bulk(names, field_name="name")
    return [by_name[name] for name in names]


# Generation of one chunk of patients:


@dataclass
class Chunk:
    """Rows of one chunk, per model: dicts keyed by attname, ids still to assign.

    Parents are referred to by their index in their own list (`*_index` keys),
    replaced by ids when the chunk is written.
    """

    rows: dict[type[models.Model], list[dict]] = field(default_factory=dict)
    feature_values: np.ndarray | None = None  # extractions x features
    feature_ids: list[int] = field(default_factory=list)

    def add(self, model: type[models.Model], row: dict) -> int:
        rows = self.rows.setdefault(model, [])
        rows.append(row)
        return len(rows) - 1


def generate_chunk(
    project: Project,
    seed: int,
    number: int,
    first: int,
    size: int,
    features: list[FeatureDefinition],
) -> Chunk:
    rng = np.random.default_rng([seed, number])
    chunk = Chunk(feature_ids=[feature.pk for feature in features])
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    now = dt.datetime.now(dt.UTC)
    # Per extraction, what its feature values depend on: (tumour size, scanner).
    latents: list[tuple[float, int]] = []

    for offset in range(size):
        index = first + offset
        patient = generate_patient(chunk, rng, project, seed, index, now)
        generate_clinical(chunk, rng, patient)
        studies = generate_studies(chunk, rng, project, seed, index, patient, now)
        latents += [(patient["tumour_size"], scanner) for _day, scanner in studies]
        generate_draws(chunk, rng, patient, [day for day, _s in studies], zone, now)

    chunk.feature_values = feature_matrix(rng, features, latents)
    for row in chunk.rows[Patient]:
        del row["tumour_size"], row["index"]
    return chunk


def uid(seed: int, project: Project, kind: str, key: str) -> str:
    """Return a DICOM UID under 2.25 (a UUID as one integer), unique per record."""
    digest = hashlib.sha256(f"{project.code}:{seed}:{kind}:{key}".encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def generate_patient(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    index: int,
    now: dt.datetime,
) -> dict:
    kinds = [kind for kind, _share, _sex in CANCER_MIX]
    shares = np.array([share for _kind, share, _sex in CANCER_MIX])
    kind_number = rng.choice(len(kinds), p=shares / shares.sum())
    cancer_type, sex_only = kinds[kind_number], CANCER_MIX[kind_number][2]
    sex = sex_only or (Sex.FEMALE if rng.random() < 0.5 else Sex.MALE)

    span_days = (LAST_DAY - FIRST_DIAGNOSIS).days - 365
    diagnosis_on = FIRST_DIAGNOSIS + dt.timedelta(days=int(rng.integers(0, span_days)))
    age = float(np.clip(rng.normal(66, 10), 25, 95))
    birth_year = diagnosis_on.year - int(age)
    stage = STAGES[rng.choice(len(STAGES), p=STAGE_SHARE)]
    survival = int(rng.exponential(400 if stage == "IV" else 1500)) + 30
    is_deceased = diagnosis_on + dt.timedelta(days=survival) <= LAST_DAY

    row = {
        "id": None,
        "project_id": project.pk,
        "pseudonym": f"SYNTH-{index + 1:07d}",
        "source_key": sha256(f"synthetic\x00{project.code}\x00{seed}\x00{index}"),
        "sex": sex,
        "birth_year": birth_year,
        "cancer_type": cancer_type,
        "histology": "",
        "stage": stage,
        "t_stage": f"T{rng.integers(1, 5)}",
        "n_stage": f"N{rng.integers(0, 4)}",
        "m_stage": "M1" if stage == "IV" else "M0",
        "diagnosis_on": diagnosis_on,
        "age_at_diagnosis_years": f"{age:.3f}",
        "overall_survival_days": survival if is_deceased else None,
        "is_deceased": is_deceased,
        "created_at": now,
        # Not stored: drives tumour volume and CTC counts of this patient.
        "tumour_size": float(rng.lognormal(0, 0.8) * (2.0 if stage == "IV" else 1.0)),
    }
    row["index"] = chunk.add(Patient, row)
    return row


def generate_clinical(chunk: Chunk, rng: np.random.Generator, patient: dict) -> None:
    diagnosis_on = patient["diagnosis_on"]
    chunk.add(
        Consent,
        {
            "id": None,
            "patient_index": patient["index"],
            "allows_imaging": True,
            "allows_genomics": bool(rng.random() < 0.97),
            "allows_sharing": bool(rng.random() < 0.6),
            "given_on": diagnosis_on + dt.timedelta(days=int(rng.integers(0, 14))),
            "withdrawn_on": None,
        },
    )

    kind, agent = FIRST_LINE[patient["cancer_type"]]
    start = diagnosis_on + dt.timedelta(days=int(rng.integers(14, 45)))
    lines = [(kind, agent, start)]
    if rng.random() < 0.4:
        lines.append(
            (*SECOND_LINE, start + dt.timedelta(days=int(rng.integers(150, 400))))
        )
    for line, (kind, agent, started_on) in enumerate(lines, start=1):
        if started_on > LAST_DAY:
            break
        ended_on = started_on + dt.timedelta(days=int(rng.integers(60, 240)))
        chunk.add(
            Treatment,
            {
                "id": None,
                "patient_index": patient["index"],
                "kind": kind,
                "agent": agent,
                "line": line,
                "started_on": started_on,
                "ended_on": ended_on if ended_on <= LAST_DAY else None,
            },
        )
        response_on = started_on + dt.timedelta(days=84)
        if response_on <= LAST_DAY:
            chunk.add(
                ClinicalEvent,
                {
                    "id": None,
                    "patient_index": patient["index"],
                    "kind": ClinicalEvent.Kind.RESPONSE,
                    "recist": str(
                        rng.choice(["CR", "PR", "SD", "PD"], p=[0.05, 0.35, 0.35, 0.25])
                    ),
                    "occurred_on": response_on,
                    "note": "",
                },
            )
    if patient["is_deceased"]:
        chunk.add(
            ClinicalEvent,
            {
                "id": None,
                "patient_index": patient["index"],
                "kind": ClinicalEvent.Kind.DEATH,
                "recist": "",
                "occurred_on": diagnosis_on
                + dt.timedelta(days=patient["overall_survival_days"]),
                "note": "",
            },
        )


def generate_studies(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    index: int,
    patient: dict,
    now: dt.datetime,
) -> list[tuple[dt.date, int]]:
    """Add the patient's imaging studies: baseline, then follow-ups every 2 to 4 months.

    Each study has two series (two CT reconstructions, CT with PET, or two MR
    sequences) and one GTV segmented on the first, with one extraction. Returns
    (study date, scanner number) per study.
    """
    count = int(np.clip(rng.poisson(4.0) + 1, 1, 12))
    day = patient["diagnosis_on"] + dt.timedelta(days=int(rng.integers(-21, 7)))
    scanner = int(rng.choice(len(SCANNERS), p=SCANNER_SHARE))
    studies = []
    for number in range(count):
        if number:
            day += dt.timedelta(days=int(rng.gamma(6.0, 15.0)) + 30)
            if rng.random() < 0.15:  # a scan on another machine of the network
                scanner = int(rng.choice(len(SCANNERS), p=SCANNER_SHARE))
        if day > LAST_DAY:
            break
        key = f"{index}.{number}"
        add_study(chunk, rng, project, seed, key, patient, day, scanner, now)
        studies.append((day, scanner))
    return studies


def add_study(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    key: str,
    patient: dict,
    day: dt.date,
    scanner: int,
    now: dt.datetime,
) -> int:
    kind = rng.choice(["CT", "PETCT", "MR"], p=[0.7, 0.2, 0.1])
    modalities = {"CT": "CT", "PETCT": "CT,PT", "MR": "MR"}[kind]
    age = day.year - patient["birth_year"]
    study_uid = uid(seed, project, "study", key)
    study_index = chunk.add(
        ImagingStudy,
        {
            "id": None,
            "patient_index": patient["index"],
            "study_instance_uid": study_uid,
            "source_uid_hash": sha256(f"synthetic:{study_uid}"),
            "study_date": day,
            "study_time": dt.time(int(rng.integers(7, 19)), int(rng.integers(0, 60))),
            "date_source": ImagingStudy.DateSource.STUDY,
            "modalities": modalities,
            "body_part": BODY_PART[patient["cancer_type"]],
            "description": {
                "CT": "CT with contrast",
                "PETCT": "FDG PET-CT",
                "MR": "MR staging",
            }[kind],
            "patient_age_raw": f"{age:03d}Y",
            "patient_age_value": age,
            "patient_age_unit": "Y",
            "patient_age_years": f"{age:.2f}",
            "is_age_unit_assumed": False,
            "created_at": now,
        },
    )

    frame = uid(seed, project, "frame", key)
    series = [series_values(rng, kind, number, scanner) for number in (1, 2)]
    series_indexes = []
    for number, values in enumerate(series, start=1):
        series_uid = uid(seed, project, f"series{number}", key)
        series_indexes.append(
            chunk.add(
                ImageSeries,
                {
                    "id": None,
                    "study_index": study_index,
                    "series_instance_uid": series_uid,
                    "source_uid_hash": sha256(f"synthetic:{series_uid}"),
                    "frame_of_reference_uid": frame,
                    "series_number": number,
                    "series_date": day,
                    "storage_path": "",
                    **values,
                },
            )
        )

    rtstruct_uid = uid(seed, project, "rtstruct", key)
    segmentation_index = chunk.add(
        Segmentation,
        {
            "id": None,
            "series_index": series_indexes[0],
            "roi_name": "GTV-1",
            "roi_number": 1,
            "method": str(rng.choice(["manual", "semi-automatic"], p=[0.7, 0.3])),
            "reader": f"reader-{rng.integers(1, 4)}",
            "roi_type": "GTV",
            "source_kind": Segmentation.SourceKind.RTSTRUCT,
            "source_sop_instance_uid": rtstruct_uid,
            "source_uid_hash": sha256(f"synthetic:{rtstruct_uid}"),
            "content_sha256": "",
            "linkage": Segmentation.Linkage.SERIES,
            "storage_path": "",
            "created_at": now,
        },
    )
    chunk.add(
        FeatureExtraction,
        {
            "id": None,
            "patient_index": patient["index"],
            "segmentation_index": segmentation_index,
            "software": SOFTWARE,
            "software_version": "1",
            "parameters": "{}",
            "diagnostics": "{}",
            "fingerprint": sha256(f"synthetic:{project.code}:{seed}:extraction:{key}"),
            "source_name": "",
            "image_reference": "",
            "mask_reference": "",
            "preset": "",
            "label": 1.0,
            "status": FeatureExtraction.Status.DONE,
            "progress": 100,
            "task_id": "",
            "attempts": 0,
            "error": "",
            "created_at": now,
            "started_at": now,
            "finished_at": now,
        },
    )
    return study_index


def series_values(
    rng: np.random.Generator, kind: str, number: int, scanner: int
) -> dict:
    """Return the acquisition parameters of series `number` (1 or 2) of a study."""
    manufacturer, model_name, kernels = SCANNERS[scanner]
    blank = {
        "contrast_agent": "", "mr_sequence": "", "magnetic_field_strength_t": None,
        "echo_time_ms": None, "repetition_time_ms": None, "pet_units": "",
        "radiopharmaceutical": "", "kvp": None, "exposure_mas": None,
        "tube_current_ma": None,
    }  # fmt: skip
    if kind == "MR":
        sequence = ["T1 VIBE post-contrast", "T2 TSE"][number - 1]
        thickness = float(rng.choice([3.0, 4.0, 5.0]))
        return blank | {
            "modality": "MR",
            "sop_class_uid": MR_STORAGE,
            "description": sequence,
            "manufacturer": "SIEMENS" if scanner < 2 else "GE MEDICAL SYSTEMS",
            "manufacturer_model_name": "MAGNETOM Vida"
            if scanner < 2
            else "SIGNA Premier",
            "convolution_kernel": "",
            "slice_thickness_mm": thickness,
            "spacing_between_slices_mm": thickness,
            "pixel_spacing_row_mm": 0.9,
            "pixel_spacing_column_mm": 0.9,
            "rows": 384,
            "columns": 384,
            "mr_sequence": sequence,
            "magnetic_field_strength_t": float(rng.choice([1.5, 3.0])),
            "echo_time_ms": [2.5, 95.0][number - 1],
            "repetition_time_ms": [5.0, 4000.0][number - 1],
            "instance_count": int(200 / thickness),
        }
    if kind == "PETCT" and number == 2:
        return blank | {
            "modality": "PT",
            "sop_class_uid": PET_STORAGE,
            "description": "PET AC",
            "manufacturer": manufacturer,
            "manufacturer_model_name": model_name,
            "convolution_kernel": "",
            "slice_thickness_mm": 3.27,
            "spacing_between_slices_mm": 3.27,
            "pixel_spacing_row_mm": 4.07,
            "pixel_spacing_column_mm": 4.07,
            "rows": 200,
            "columns": 200,
            "pet_units": "BQML",
            "radiopharmaceutical": "Fludeoxyglucose",
            "instance_count": 300,
        }

    thickness = float(rng.choice(SLICE_THICKNESSES, p=SLICE_SHARE))
    spacing = round(float(rng.uniform(0.6, 0.98)), 4)
    kvp = float(rng.choice([100.0, 120.0, 140.0], p=[0.25, 0.65, 0.1]))
    exposure = round(float(rng.lognormal(np.log(180), 0.4)), 1)
    kernel = kernels[0] if number == 1 else kernels[1]
    return blank | {
        "modality": "CT",
        "sop_class_uid": CT_STORAGE,
        "description": "Soft tissue" if number == 1 else "Lung / bone",
        "manufacturer": manufacturer,
        "manufacturer_model_name": model_name,
        "convolution_kernel": kernel,
        "slice_thickness_mm": thickness,
        "spacing_between_slices_mm": thickness,
        "pixel_spacing_row_mm": spacing,
        "pixel_spacing_column_mm": spacing,
        "rows": 512,
        "columns": 512,
        "kvp": kvp,
        "exposure_mas": exposure,
        "tube_current_ma": round(exposure / 0.5, 1),
        "contrast_agent": "Iohexol" if rng.random() < 0.8 else "",
        "instance_count": int(350 / thickness),
    }


def generate_draws(
    chunk: Chunk,
    rng: np.random.Generator,
    patient: dict,
    study_dates: list[dt.date],
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime,
) -> None:
    """Add about 8 blood draws: one near most scans (within a week), others every
    three weeks of treatment, each with a CTC count and a cfDNA panel."""
    wanted = int(np.clip(rng.poisson(8.0), 2, 20))
    days = {
        day + dt.timedelta(days=int(rng.integers(-7, 8)))
        for day in study_dates
        if rng.random() < 0.6
    }
    cycle = patient["diagnosis_on"] + dt.timedelta(days=int(rng.integers(14, 45)))
    while len(days) < wanted:
        days.add(cycle)
        cycle += dt.timedelta(days=int(rng.integers(19, 24)))
    days = {day for day in days if day <= LAST_DAY}

    panel = panel_of(patient["cancer_type"])
    panel_name = f"SYNTH-{patient['cancer_type']}-{len(panel)}"
    drivers = [
        hotspot for hotspot in panel
        if hotspot[0] in DRIVERS[patient["cancer_type"]] and rng.random() < 0.25
    ]  # fmt: skip
    mean_ctc = CTC_MEAN[patient["stage"]] * patient["tumour_size"]

    for number, day in enumerate(sorted(days), start=1):
        local = dt.datetime.combine(
            day, dt.time(int(rng.integers(7, 13)), int(rng.integers(0, 60))), zone
        )
        sample_index = chunk.add(
            BloodSample,
            {
                "id": None,
                "patient_index": patient["index"],
                "drawn_at": local.astimezone(dt.UTC),
                "drawn_on": day,
                "is_time_known": True,
                "timepoint": "Baseline" if number == 1 else f"V{number}",
                "tube_type": "CellSave",
                "plasma_volume_ml": round(float(rng.uniform(2.5, 5.0)), 1),
                "hours_to_processing": round(float(rng.gamma(2.0, 12.0)), 1),
                "external_sample_id": f"SYNTH-S{patient['pseudonym'][6:]}-{number:02d}",
                "created_at": now,
            },
        )
        add_ctc_count(chunk, rng, sample_index, mean_ctc)
        add_cfdna_panel(chunk, rng, sample_index, panel, panel_name, drivers)


def add_ctc_count(
    chunk: Chunk, rng: np.random.Generator, sample_index: int, mean: float
) -> None:
    volume = 7.5 if rng.random() < 0.9 else round(float(rng.uniform(5.0, 7.4)), 1)
    # Negative binomial with mean m and dispersion k: n = k, p = k / (k + m).
    count = int(
        rng.negative_binomial(
            CTC_DISPERSION, CTC_DISPERSION / (CTC_DISPERSION + mean * volume / 7.5)
        )
    )
    chunk.add(
        CTCCount,
        {
            "id": None,
            "sample_index": sample_index,
            "platform": "CellSearch",
            "enrichment": CTCCount.Enrichment.EPCAM,
            "blood_volume_ml": volume,
            "count": count,
            "count_per_7_5ml": count * 7.5 / volume,
            "clusters": int(rng.binomial(count, 0.05)) if count else 0,
        },
    )


def panel_of(cancer_type: str) -> list[tuple[str, str]]:
    """Return the hotspots of the cancer type's panel: its drivers, then others.

    The panel is the same for every patient and seed: 10 to 30 genes.
    """
    drivers = DRIVERS[cancer_type]
    size = 10 + int(sha256(cancer_type)[:4], 16) % 21
    genes = list(drivers)
    for gene, _change in HOTSPOTS:
        if len(genes) >= size:
            break
        if gene not in genes:
            genes.append(gene)
    hotspots = {}
    for gene, change in HOTSPOTS:
        hotspots.setdefault(gene, (gene, change))
    return [hotspots[gene] for gene in genes]


def add_cfdna_panel(
    chunk: Chunk,
    rng: np.random.Generator,
    sample_index: int,
    panel: list[tuple[str, str]],
    panel_name: str,
    drivers: list[tuple[str, str]],
) -> None:
    """Add a targeted-NGS assay with one result per panel gene.

    Most genes are not detected; a patient's drivers are detected in most draws with
    a log-normal VAF (median 0.4 %, mostly under 1 %); a VAF under the assay's limit
    of detection is reported below LOD, without a VAF.
    """
    lod = float(rng.choice([0.001, 0.0025, 0.005], p=[0.5, 0.3, 0.2]))
    is_failed = rng.random() < 0.01
    assay_index = chunk.add(
        CfDNAAssay,
        {
            "id": None,
            "sample_index": sample_index,
            "method": CfDNAAssay.Method.TARGETED_NGS,
            "panel": panel_name,
            "cfdna_ng_per_ml": round(float(rng.lognormal(np.log(8), 0.7)), 2),
            "tumour_fraction": round(
                float(np.clip(rng.lognormal(np.log(0.01), 1.2), 0, 0.9)), 4
            ),
            "limit_of_detection_vaf": lod,
        },
    )
    vafs = rng.lognormal(np.log(0.004), 1.0, size=len(panel))
    depths = rng.integers(2_000, 20_000, size=len(panel))
    for (gene, change), vaf, depth in zip(panel, vafs, depths, strict=True):
        is_present = (gene, change) in drivers and rng.random() < 0.8
        is_present = is_present or (gene in CH_GENES and rng.random() < 0.05)
        vaf = float(min(vaf, 0.6))
        if is_failed:
            call, vaf_value, alt = VariantResult.Call.FAILED, None, None
            depth = 0
        elif not is_present:
            call, vaf_value, alt = VariantResult.Call.NOT_DETECTED, None, 0
        elif vaf < lod:
            call, vaf_value, alt = VariantResult.Call.BELOW_LOD, None, None
        else:
            call, vaf_value, alt = VariantResult.Call.DETECTED, round(vaf, 5), None
            alt = int(round(vaf * depth))
        chunk.add(
            VariantResult,
            {
                "id": None,
                "assay_index": assay_index,
                "gene": gene,
                "gene_hgnc": gene,
                "variant_key": f"{gene}:{change}",
                "variant_type": VariantResult.Type.SNV,
                "protein_change": change,
                "protein_change_raw": change,
                "is_protein_change_predicted": False,
                "protein_accession": "",
                "cdna_change": "",
                "genomic_change": "",
                "genome_build": "",
                "fusion_5prime": "",
                "fusion_3prime": "",
                "fusion_note": "",
                "vaf": vaf_value,
                "alt_reads": alt,
                "depth": int(depth),
                "supporting_reads": None,
                "call": call,
                "is_clonal_haematopoiesis": gene in CH_GENES and call == "detected",
                "is_germline": False,
                "is_seen_in_ctc": False,
                "note": "",
            },
        )


# Feature values:


def feature_matrix(
    rng: np.random.Generator,
    features: list[FeatureDefinition],
    latents: list[tuple[float, int]],
) -> np.ndarray:
    """Return plausible values, one row per extraction, one column per feature.

    Each family has its own scale: volumes and areas log-normal and growing with the
    patient's tumour size, shape ratios and normalised texture features in (0, 1),
    CT intensities in HU around soft tissue, entropies of a few bits, emphasis and
    non-uniformity features log-normal. The scanner shifts every texture feature a
    little, as reconstruction kernels do.
    """
    rows = len(latents)
    size = np.array([latent[0] for latent in latents])
    scanner = np.array([latent[1] for latent in latents])
    scanner_shift = np.linspace(-0.15, 0.15, len(SCANNERS))[scanner]
    values = np.empty((rows, len(features)))
    for column, feature in enumerate(features):
        values[:, column] = feature_column(rng, feature, size, scanner_shift)
    return values


# Features whose values lie between 0 and 1 (besides every "...Normalized" one):
RATIOS = {
    "Sphericity", "Elongation", "Flatness", "Compactness1", "Compactness2",
    "Uniformity", "Id", "Idm", "Idn", "Idmn", "Imc2", "Correlation", "JointEnergy",
    "MaximumProbability", "RunPercentage", "ZonePercentage", "DependencePercentage",
    "ShortRunEmphasis", "SmallAreaEmphasis", "SmallDependenceEmphasis",
}  # fmt: skip


def feature_column(
    rng: np.random.Generator,
    feature: FeatureDefinition,
    size: np.ndarray,
    shift: np.ndarray,
) -> np.ndarray:
    name, family, rows = feature.feature_name, feature.family, len(size)
    if family == "shape" and any(word in name for word in ("Volume", "Area")):
        if "Ratio" in name:
            return rng.lognormal(np.log(0.6), 0.3, rows) / np.cbrt(size)
        power = 2 / 3 if "Area" in name else 1.0
        return 15_000 * size**power * rng.lognormal(0, 0.3, rows)
    if family == "shape" and ("Length" in name or "Diameter" in name):
        return 35 * np.cbrt(size) * rng.lognormal(0, 0.2, rows)
    if family == "shape" and "SphericalDisproportion" in name:
        return 1 + rng.gamma(2.0, 0.25, rows)
    if name in RATIOS or name.endswith("Normalized"):
        return rng.beta(5, 5, rows) * (1 + shift) / (1 + shift.max())
    if name.endswith("NonUniformity"):  # counts, growing with the ROI's voxels
        return 400 * size * rng.lognormal(0, 0.5, rows) * (1 + shift)
    if name == "Imc1":
        return -rng.beta(2, 8, rows)
    if family == "firstorder" and name in (
        "Mean", "Median", "Minimum", "10Percentile", "90Percentile", "Maximum",
        "RootMeanSquared",
    ):  # fmt: skip
        offset = {
            "Minimum": -180,
            "10Percentile": -40,
            "90Percentile": 90,
            "Maximum": 260,
        }
        return rng.normal(35 + offset.get(name, 0), 25, rows)
    if name == "Skewness" or name == "ClusterShade":
        return rng.normal(0, 0.8 if name == "Skewness" else 50, rows)
    if "Entropy" in name:
        return np.clip(rng.normal(4.5, 0.8, rows), 0.1, None) * (1 + shift / 3)
    if name == "Energy":
        return 1e8 * size * rng.lognormal(0, 0.5, rows)
    return rng.lognormal(np.log(5.0), 1.0, rows) * (1 + shift)


# Writing:


class TableWriter:
    """Assign ids and write a chunk's rows: COPY on PostgreSQL, batched INSERTs else."""

    def __init__(self, summary: GenerationSummary) -> None:
        self.summary = summary
        self.is_postgresql = connection.vendor == "postgresql"

    def write_chunk(self, chunk: Chunk) -> None:
        ids: dict[type[models.Model], list[int]] = {}
        parents = {
            "patient_index": Patient, "study_index": ImagingStudy,
            "series_index": ImageSeries, "segmentation_index": Segmentation,
            "sample_index": BloodSample, "assay_index": CfDNAAssay,
        }  # fmt: skip
        for model in WRITTEN_MODELS:
            if model is FeatureValue:
                self.write_feature_values(chunk, ids[FeatureExtraction])
                continue
            rows = chunk.rows.get(model, [])
            first = self.reserve_ids(model, len(rows))
            ids[model] = list(range(first, first + len(rows)))
            for row, row_id in zip(rows, ids[model], strict=True):
                row["id"] = row_id
                for key, parent in parents.items():
                    if key in row:
                        row[key.replace("_index", "_id")] = ids[parent][row.pop(key)]
            self.write_rows(model, rows)

    def reserve_ids(self, model: type[models.Model], count: int) -> int:
        """Return the first of `count` new consecutive ids of `model`'s table."""
        table = model._meta.db_table
        quoted = connection.ops.quote_name(table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608 - name from model meta
            after = cursor.fetchone()[0]
            if not self.is_postgresql or not count:
                return after + 1
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s)", [sequence])
            first = max(cursor.fetchone()[0], after + 1)
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
        return first

    def write_rows(self, model: type[models.Model], rows: list[dict]) -> None:
        if not rows:
            return
        fields = model._meta.concrete_fields
        columns = [field.attname for field in fields]
        if set(rows[0]) != set(columns):
            raise ValueError(
                f"Generated {model.__name__} rows have {sorted(set(rows[0]) ^ set(columns))} "
                "different from the model's columns; update biobank/synthetic.py."
            )
        values = map(itemgetter(*columns), rows)
        if self.is_postgresql:
            self.copy_rows(model, columns, values)
        else:
            self.insert_rows(model, fields, values)
        self.summary.add(str(model._meta.verbose_name_plural), len(rows))

    def copy_rows(self, model, columns: list[str], values: Iterable[tuple]) -> None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)

    def insert_rows(self, model, fields, values: Iterable[tuple]) -> None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(field.column) for field in fields)
        adapters = [database_adapter(field) for field in fields]
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608 - names from model meta
        rows = [
            tuple(
                adapt(value) if adapt and value is not None else value
                for adapt, value in zip(adapters, row, strict=True)
            )
            for row in values
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    def write_feature_values(self, chunk: Chunk, extraction_ids: list[int]) -> None:
        """Write the value matrix: binary COPY built by numpy, or batched INSERTs."""
        matrix = chunk.feature_values
        if matrix is None or not matrix.size:
            return
        extractions = np.repeat(
            np.array(extraction_ids, dtype=np.int64), matrix.shape[1]
        )
        features = np.tile(np.array(chunk.feature_ids, dtype=np.int64), matrix.shape[0])
        values = matrix.ravel()
        meta = FeatureValue._meta
        quote = connection.ops.quote_name
        table = quote(meta.db_table)
        names = ", ".join(
            quote(meta.get_field(name).column)
            for name in ("extraction", "feature", "value")
        )
        with connection.cursor() as cursor:
            if self.is_postgresql:
                with cursor.cursor.copy(
                    f"COPY {table} ({names}) FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.write(binary_copy(extractions, features, values))
            else:
                sql = f"INSERT INTO {table} ({names}) VALUES (%s, %s, %s)"  # noqa: S608 - names from model meta
                cursor.executemany(
                    sql,
                    zip(
                        extractions.tolist(),
                        features.tolist(),
                        values.tolist(),
                        strict=True,
                    ),
                )
        self.summary.add("feature values", len(values))


BINARY_ROW = np.dtype(
    [
        ("fields", ">i2"), ("extraction_length", ">i4"), ("extraction", ">i8"),
        ("feature_length", ">i4"), ("feature", ">i8"), ("value_length", ">i4"),
        ("value", ">f8"),
    ]
)  # fmt: skip


def binary_copy(
    extractions: np.ndarray, features: np.ndarray, values: np.ndarray
) -> bytes:
    """Return PostgreSQL binary COPY data of (bigint, bigint, double precision) rows."""
    rows = np.empty(len(values), dtype=BINARY_ROW)
    rows["fields"] = 3
    rows["extraction_length"] = rows["feature_length"] = rows["value_length"] = 8
    rows["extraction"], rows["feature"], rows["value"] = extractions, features, values
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def database_adapter(field: models.Field) -> Callable | None:
    """Return how SQLite stores a value of this field, or None when as it is."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.TimeField):
        return ops.adapt_timefield_value
    if isinstance(field, models.DecimalField):
        return str
    return None
