"""The warning of a file stored again names the runs that stored its records before.

A run of the same file that only found its records present (every row a duplicate)
stored nothing to compare with: naming it sent curators to an empty run.
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from liquidbiopsy.importers.maf import import_maf
from patients.models import DataIssue, ImportRun
from tests.liquidbiopsy.conftest import write

MAF = (
    "Hugo_Symbol\tTumor_Sample_Barcode\tChromosome\tStart_Position"
    "\tReference_Allele\tTumor_Seq_Allele2\tt_alt_count\tt_depth\n"
    "KRAS\tS1\t12\t25398284\tC\tT\t30\t1000\n"
    "TP53\tS1\t17\t7577120\tC\tT\t50\t1000\n"
)


def run_of(path, project, drawn_on: str):
    """Import the MAF drawn on `drawn_on`; return its report and its import run."""
    report = import_maf(path, project, drawn_on=drawn_on, create_patients=True)
    return report, ImportRun.objects.order_by("-pk").first()


def same_file_warning(report) -> str:
    (warning,) = [w for w in report.warnings if w.code == "same-file-again"]
    return warning.message


def day(run: ImportRun) -> str:
    return f"{timezone.localdate(run.started_at):%Y-%m-%d}"


def test_the_run_that_stored_the_file_is_named_not_the_one_that_skipped_it(
    project, tmp_path
):
    path = write(tmp_path, "s1.maf", MAF)
    _report, storing = run_of(path, project, "2020-01-15")
    skipping_report, skipping = run_of(path, project, "2020-01-15")
    assert (skipping_report.duplicates, skipping.status) == (2, "done")

    report, _run = run_of(path, project, "2020-02-15")

    assert same_file_warning(report) == (
        f"is the file import run {storing.pk} stored whole on {day(storing)}; this "
        "run stored 1 blood sample, 1 cfDNA assay, 2 variants more from it. "
        "If an option changed (a draw date, a patient, a sample map), they may be "
        "the same results twice: compare the two runs' records, and delete the "
        "wrong ones."
    )
    assert DataIssue.objects.filter(code="same-file-again").count() == 1


def test_every_earlier_run_that_stored_the_file_is_named(project, tmp_path):
    path = write(tmp_path, "s1.maf", MAF)
    _report, first = run_of(path, project, "2020-01-15")
    _report, second = run_of(path, project, "2020-02-15")
    run_of(path, project, "2020-02-15")  # found all present

    report, _run = run_of(path, project, "2020-03-15")

    message = same_file_warning(report)
    assert message.startswith(
        f"is the file import runs {first.pk} ({day(first)}) and {second.pk} "
        f"({day(second)}) each stored records of; this run stored 1 blood sample"
    )
    assert message.endswith(
        "compare this run's records with theirs, and delete the wrong ones."
    )


def test_a_file_whose_earlier_run_stored_nothing_says_so(project, tmp_path):
    """Its records were stored from another file: the same rows, another comment."""
    other = write(tmp_path, "s1-v1.maf", "#version 2.4\n" + MAF)
    path = write(tmp_path, "s1.maf", MAF)
    run_of(other, project, "2020-01-15")
    _report, skipping = run_of(path, project, "2020-01-15")

    report, _run = run_of(path, project, "2020-02-15")

    message = same_file_warning(report)
    assert message.startswith(
        f"was imported whole by import run {skipping.pk} on {day(skipping)}, which "
        "found every record of it stored already and stored nothing; this run "
        "stored 1 blood sample, 1 cfDNA assay, 2 variants more from it."
    )
    assert "compare this run's records with those stored before" in message
    assert f"run {skipping.pk} stored whole" not in message


def test_a_run_storing_nothing_new_is_not_warned(project, tmp_path):
    path = write(tmp_path, "s1.maf", MAF)
    run_of(path, project, "2020-01-15")

    report, _run = run_of(path, project, "2020-01-15")

    assert report.duplicates == 2
    assert not [w for w in report.warnings if w.code == "same-file-again"]


def test_runs_are_dated_by_their_local_day(project, tmp_path):
    path = write(tmp_path, "s1.maf", MAF)
    _report, first = run_of(path, project, "2020-01-15")
    ImportRun.objects.filter(pk=first.pk).update(
        started_at=timezone.make_aware(dt.datetime(2024, 3, 9, 23, 30))
    )

    report, _run = run_of(path, project, "2020-02-15")

    assert f"run {first.pk} stored whole on 2024-03-09;" in same_file_warning(report)
