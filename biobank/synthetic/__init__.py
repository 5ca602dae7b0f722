"""Generate a synthetic biobank of any size, straight into the database, from a seed.

The generator is split by concern: `distributions` (what patients look like),
`records` (one chunk of patients with their records), `features` (feature definitions
and values) and `database` (deleting, locking, writing and indexing tables). This
module runs them in one transaction and holds the names other code imports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from patients.models import Project
from patients.services import get_project

from .database import (
    SyntheticProjectExists,
    TableWriter,
    analyse_tables,
    bulk_models_outgrown,
    delete_project_records,
    indexes_rebuilt_after,
    lock_tables,
)
from .features import FEATURES_PER_EXTRACTION, ensure_feature_definitions
from .records import generate_chunk

__all__ = [
    "CHUNK_PATIENTS",
    "DEFAULT_PATIENTS",
    "DEFAULT_PROJECT",
    "FEATURES_PER_EXTRACTION",
    "SYNTHETIC_MARK",
    "GenerationSummary",
    "SyntheticProjectExists",
    "generate_biobank",
    "prepare_project",
]

logger = logging.getLogger(__name__)

DEFAULT_PROJECT = "synthetic"
DEFAULT_PATIENTS = 100_000
# Marks a project as this generator's; --replace deletes nothing else.
SYNTHETIC_MARK = "Synthetic data made by generate_biobank; no real patient."
# NB: fixed, so that the same seed gives the same data whatever the size of the run's
# other chunks; a chunk is also the unit of one COPY per table.
CHUNK_PATIENTS = 1_000


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
