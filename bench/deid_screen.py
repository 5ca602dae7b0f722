"""De-identification screen benchmark: BatchScreen.prepare() and screening a text.

Run from the repository root (no database is used):

    .venv/bin/python bench/deid_screen.py --stored 30000 --patients 30000

A project of `--stored` patients stored before is given as the keyed hashes of
their synthetic source IDs (deid.KnownPatients, as KnownPatients.of_project() reads
them), and a batch of `--patients` synthetic patients (name, ID, other ID,
accession number, birth date) is added to a BatchScreen as ingest_dicom adds each
file's patient. The script times adding the patients, prepare() (the look-up tables
built before the worker processes fork), and then screening a few kept values and a
file name as a worker does (finds(), finds_other(), redact()). `--profile` prints
where prepare() spends its time (cProfile, the 25 costliest functions).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Run as a script, Python puts bench/ on the path, not the repository:
sys.path.insert(0, str(REPO))

PROJECT = "bench-deid"
# Kept values and a file name of another patient, none of which names anybody:
TEXTS = [
    "CT CHEST W CONTRAST 2.5 MM",
    "LUNG WINDOW AX 1.25",
    "follow-up after radiotherapy, compare prior 2019-05-04",
    "IBSI_1_CT_AXIAL_SERIES_0003",
]
FILE_NAME = "incoming/CT_SERIES_0003/IM-0001-0042.dcm"
LETTERS = "ABCDEFGHIJKLMNOPRSTUVWYZ"


def synthetic_patient(number: int, rng: random.Random):
    """Return a header of one synthetic patient (no pixel data).

    Names of random letters, two to eight of a family name and three to seven of
    a given name, so that nearly every patient's names are their own.
    """
    from pydicom.dataset import Dataset

    def word(shortest: int, longest: int) -> str:
        return "".join(rng.choices(LETTERS, k=rng.randint(shortest, longest)))

    ds = Dataset()
    ds.PatientName = f"{word(2, 8)}^{word(3, 7)}^{rng.choice(LETTERS)}"
    ds.PatientID = f"SYN-{number:06d}"
    ds.OtherPatientIDs = f"MRN{70000000 + number}"
    ds.AccessionNumber = f"ACC{number:08d}"
    ds.PatientBirthDate = (
        f"{rng.randint(1930, 1990)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    )
    return ds


def say(line: str) -> None:
    print(line, flush=True)  # noqa: T201


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stored", type=int, default=30_000, help="patients stored before"
    )
    parser.add_argument(
        "--patients", type=int, default=30_000, help="patients of the batch"
    )
    parser.add_argument("--profile", action="store_true", help="profile prepare()")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "biobank.settings")
    import django

    django.setup()
    from patients.services import project_source_key
    from radiomics.importers.deid import BatchScreen, KnownPatients

    rng = random.Random(args.seed)  # noqa: S311 (synthetic names, no secret)
    keys = b"".join(
        bytes.fromhex(project_source_key(PROJECT, f"EARLIER-{n:06d}"))[:8]
        for n in range(args.stored)
    )
    headers = [synthetic_patient(n, rng) for n in range(args.patients)]

    started = time.perf_counter()
    screen = BatchScreen()
    for ds in headers:
        screen.add_patient(ds)
    screen.earlier = KnownPatients(PROJECT, keys)
    added = time.perf_counter() - started

    profile = cProfile.Profile() if args.profile else None
    started, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    screen.prepare()
    if profile is not None:
        profile.disable()
    prepared = time.perf_counter() - started
    prepared_cpu = time.process_time() - cpu

    own = screen.of_patient(headers[0])
    started = time.perf_counter()
    found = [
        (
            screen.finds_other(text, patient_only=False),
            own.finds(text) if own is not None else False,
        )
        for text in TEXTS
    ]
    redacted = screen.redact(FILE_NAME)
    screened = time.perf_counter() - started

    say(f"stored patients {args.stored:,}, batch patients {args.patients:,}")
    say(f"add_patient, all patients: {added:8.2f} s")
    say(f"prepare():                 {prepared:8.2f} s ({prepared_cpu:.2f} s CPU)")
    say(f"{len(TEXTS)} values and a file name: {screened * 1000:8.1f} ms")
    say(f"values found to name anybody: {sum(any(pair) for pair in found)}")
    say(f"file name redacted: {redacted}")
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
