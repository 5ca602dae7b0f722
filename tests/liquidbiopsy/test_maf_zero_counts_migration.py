"""Migration 0018: MAF calls stored before a t_alt_count of 0 was read as unknown."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.db import connection

from liquidbiopsy.importers.maf import import_maf
from liquidbiopsy.models import VariantResult
from patients.models import DataIssue, ImportRun
from tests.liquidbiopsy.conftest import stored_state, write
from tests.liquidbiopsy.test_maf_import import ZERO_COUNTS_MAF
from tests.liquidbiopsy.test_vcf_import import DRAWN_ON

MIGRATION = importlib.import_module(
    "liquidbiopsy.migrations.0018_maf_zero_alt_reads_unknown"
)


def migrate() -> None:
    MIGRATION.forget_zero_alt_reads_of_maf_calls(apps, connection.schema_editor())


def imported(project, tmp_path):
    path = write(tmp_path, "zeros.maf", ZERO_COUNTS_MAF)
    import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    return path


def stored_before(gene: str, warned: bool = True, **values) -> VariantResult:
    """Store the call of `gene` as import_maf did before 2580ae9, with its warning."""
    variant = VariantResult.objects.get(gene=gene)
    VariantResult.objects.filter(pk=variant.pk).update(note="", **values)
    if warned:
        DataIssue.objects.create(
            import_run=ImportRun.objects.get(importer="maf"),
            project=variant.assay.sample.patient.project,
            patient=variant.assay.sample.patient,
            severity=DataIssue.Severity.WARNING,
            code="zero-vaf-of-called-variant",
            source_name="zeros.maf",
            row=2,
            field="t_alt_count",
            value="0",
            message="is 0 for a variant the caller called; the variant is stored as "
            "detected without a VAF.",
            record_type="VariantResult",
            record_id=variant.pk,
        )
    variant.refresh_from_db()
    return variant


def counts(gene: str) -> tuple:
    variant = VariantResult.objects.get(gene=gene)
    return variant.call, variant.vaf, variant.alt_reads, variant.depth, variant.note


def test_a_warned_zero_alt_count_is_stored_as_import_maf_now_stores_it(
    project, tmp_path
):
    path = imported(project, tmp_path)
    now = counts("KRAS")
    # The proof the migration reads: import_maf no longer gives that warning.
    assert not DataIssue.objects.filter(
        code="zero-vaf-of-called-variant", field="t_alt_count"
    ).exists()
    stored_before("KRAS", alt_reads=0)

    migrate()

    assert (
        counts("KRAS")
        == now
        == (
            "detected",
            None,
            None,
            120,
            "t_alt_count 0 in the MAF, read as unknown: not the reads the call was made on",
        )
    )
    # The file imported again finds it as it stores it:
    before = stored_state()
    report = import_maf(path, project, drawn_on=DRAWN_ON, create_patients=True)
    assert (report.rows_imported, report.duplicates, report.rejected) == (0, 4, [])
    assert stored_state() == before


def test_a_note_written_since_is_kept_before_the_imports_note(project, tmp_path):
    imported(project, tmp_path)
    variant = stored_before("KRAS", alt_reads=0)
    VariantResult.objects.filter(pk=variant.pk).update(note="confirmed by ddPCR")

    migrate()

    assert counts("KRAS")[2:] == (
        None,
        120,
        "confirmed by ddPCR; t_alt_count 0 in the MAF, read as unknown: not the "
        "reads the call was made on",
    )


def test_zero_counts_without_proof_of_a_maf_import_are_left_as_stored(
    project, tmp_path
):
    """No warning tells a depth of 0, nor counts a curator or a VCF stored, apart."""
    imported(project, tmp_path)
    stored_before("KRAS", warned=False, alt_reads=0)
    stored_before("EGFR", warned=False, alt_reads=0, depth=0)
    changed = stored_before("TP53", alt_reads=30)  # warned once, corrected since
    before = stored_state()

    migrate()

    assert stored_state() == before
    assert changed.alt_reads == 30


def test_a_warning_naming_another_patients_variant_changes_nothing(project, tmp_path):
    imported(project, tmp_path)
    variant = stored_before("KRAS", alt_reads=0)
    DataIssue.objects.filter(record_id=variant.pk).update(patient=None)
    before = stored_state()

    migrate()

    assert stored_state() == before
