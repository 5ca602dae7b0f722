from __future__ import annotations

import csv
import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.models import BloodSample, CfDNAAssay, VariantResult
from patients.models import DataIssue, ImportRun, Patient
from tests.conftest import case_path, shared_path
from tests.liquidbiopsy.conftest import (
    patient,
    register,
    rejection,
    stored_state,
    write,
)

HEADER = "patient_id,draw_date,gene,protein_change,vaf\n"


def rows_of(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def variant_of(project, source_id: str) -> VariantResult:
    return VariantResult.objects.get(assay__sample__patient=patient(project, source_id))


def pseudonyms(queryset) -> set[str]:
    return set(queryset.values_list("assay__sample__patient__pseudonym", flat=True))


def pseudonyms_of(project, *source_ids: str) -> set[str]:
    return {patient(project, source_id).pseudonym for source_id in source_ids}


# Case 17: protein changes in one- and three-letter, predicted and accession forms.

CASE_17 = {
    "SYN-1701": ("p.Thr790Met", "p.T790M"),
    "SYN-1702": ("p.T790M", "p.T790M"),
    "SYN-1703": ("T790M", "p.T790M"),
    "SYN-1704": ("p.(Thr790Met)", "p.T790M"),
    "SYN-1705": ("NP_005219.2:p.Thr790Met", "p.T790M"),
    "SYN-1706": ("p.Leu858Arg", "p.L858R"),
    "SYN-1707": ("p.Glu746_Ala750del", "p.E746_A750del"),
    "SYN-1708": ("p.Gly12Cys", "p.G12C"),
    "SYN-1709": ("p.Arg213Ter", "p.R213*"),
    "SYN-1710": ("p.R213*", "p.R213*"),
}


@pytest.fixture
def case_17(project, patients_of_case):
    path = case_path("17-hgvs-three-letter-protein", "ctdna_results.csv")
    patients_of_case(path)
    return path, import_cfdna(path, project)


def test_case_17_keeps_the_raw_protein_change_and_stores_one_canonical_form(
    project, case_17
):
    for source_id, (raw, canonical) in CASE_17.items():
        variant = variant_of(project, source_id)
        assert (variant.protein_change_raw, variant.protein_change) == (raw, canonical)


def test_case_17_flags_the_predicted_change_and_keeps_the_accession_apart(
    project, case_17
):
    assert variant_of(project, "SYN-1704").is_protein_change_predicted is True
    assert variant_of(project, "SYN-1705").protein_accession == "NP_005219.2"
    assert variant_of(project, "SYN-1701").is_protein_change_predicted is False


def test_case_17_rejects_the_typo_naming_line_field_and_value(project, case_17):
    _path, report = case_17

    assert [(p.row, p.field, p.value) for p in report.rejected] == [
        (12, "protein_change", "p.Thr79OMet")
    ]
    assert report.rows_imported == 10
    assert find_none(project, "SYN-1711")
    issue = DataIssue.objects.get(severity="error")
    assert (issue.row, issue.field, issue.value) == (
        12,
        "protein_change",
        "p.Thr79OMet",
    )
    assert ImportRun.objects.get().status == ImportRun.Status.PARTIAL


def find_none(project, source_id: str) -> bool:
    return not VariantResult.objects.filter(
        assay__sample__patient=patient(project, source_id)
    ).exists()


@pytest.mark.parametrize(
    "spelling",
    ["T790M", "p.T790M", "p.Thr790Met", "p.(Thr790Met)", "NP_005219.2:p.Thr790Met"],
)
def test_case_17_query_egfr_t790m_in_any_spelling_returns_its_five_patients(
    project, case_17, spelling
):
    found = VariantResult.objects.matching("EGFR", spelling)

    assert pseudonyms(found) == pseudonyms_of(
        project, *[f"SYN-170{n}" for n in range(1, 6)]
    )


@pytest.mark.parametrize("spelling", ["R213*", "p.Arg213Ter", "p.R213X"])
def test_case_17_query_tp53_r213_stop_returns_two_patients(project, case_17, spelling):
    found = VariantResult.objects.matching("TP53", spelling)

    assert pseudonyms(found) == pseudonyms_of(project, "SYN-1709", "SYN-1710")


def test_case_17_stores_the_vaf_fractions_unchanged(project, case_17):
    path, _report = case_17

    for row in rows_of(path)[:10]:
        assert variant_of(project, row["patient_id"]).vaf == float(row["vaf"])
    assert variant_of(project, "SYN-1703").vaf == 0.007


# Case 18: gene symbols turned into dates by a spreadsheet.


@pytest.fixture
def case_18(project, patients_of_case):
    path = case_path(
        "18-gene-symbols-excel-dates", "cfdna_variants_excel_roundtrip.csv"
    )
    patients_of_case(path)
    return import_cfdna(path, project)


def test_case_18_reports_three_rows_imported_and_four_rejected(case_18):
    assert "3 rows imported and 4 rejected" in case_18.summary()
    assert VariantResult.objects.count() == 3


def test_case_18_names_line_field_and_value_of_each_spreadsheet_date(case_18):
    assert [(p.row, p.field, p.value) for p in case_18.rejected] == [
        (3, "gene", "1-Mar"),
        (4, "gene", "9-Sep"),
        (5, "gene", "1-Dec"),
        (6, "gene", "2021-09-02"),
    ]
    assert all(
        "looks like a date produced by a spreadsheet" in p.message
        for p in case_18.rejected
    )
    # A code of their own, apart from a symbol of no HGNC shape (gene-symbol):
    assert {p.code for p in case_18.rejected} == {"gene-spreadsheet-date"}
    issues = DataIssue.objects.filter(severity="error", field="gene")
    assert set(issues.values_list("code", flat=True)) == {"gene-spreadsheet-date"}
    assert issues.count() == 4


def test_case_18_imports_egfr_tp53_and_the_legacy_sept9(project, case_18):
    egfr, tp53, sept9 = (variant_of(project, f"SYN-180{n}") for n in (1, 6, 7))

    assert (egfr.gene, egfr.protein_change, egfr.vaf) == ("EGFR", "p.L858R", 0.044)
    assert (tp53.gene, tp53.protein_change, tp53.vaf) == ("TP53", "p.R273H", 0.41)
    assert (sept9.gene, sept9.gene_hgnc) == ("SEPT9", "SEPTIN9")
    assert VariantResult.objects.of_gene("SEPTIN9").get() == sept9


def test_a_symbol_in_another_case_is_kept_as_given_its_hgnc_symbol_in_hgnc_case(
    project, tmp_path
):
    register(project, "P1", "P2", "P3")
    path = write(
        tmp_path,
        "v.csv",
        HEADER
        + "P1,2022-01-03,kras,p.G12D,0.1\n"
        + "P2,2022-01-03,c9ORF72,p.A4T,0.1\n"
        + "P3,2022-01-03,EGFR,p.L858R,0.1\n",
    )

    report = import_cfdna(path, project)

    stored = VariantResult.objects.order_by("gene").values_list("gene", "gene_hgnc")
    assert list(stored) == [("EGFR", "EGFR"), ("c9ORF72", "C9orf72"), ("kras", "KRAS")]
    assert [(w.source, w.row, w.field, w.value, w.code) for w in report.warnings] == [
        ("v.csv", 2, "gene", "kras", "gene-symbol-case"),
        ("v.csv", 3, "gene", "c9ORF72", "gene-symbol-case"),
    ]
    assert report.warnings[0].message == (
        "is not written in HGNC's case; kept as given in gene, stored as KRAS "
        "(HGNC's case) in gene_hgnc."
    )
    assert VariantResult.objects.of_gene("KRAS").get().gene == "kras"


def test_a_former_symbol_is_named_so_with_its_current_symbol(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        HEADER + "P1,2022-01-03,SEPT9,p.A4T,0.1\n" + "P2,2022-01-03,sept9,p.A4T,0.1\n",
    )

    report = import_cfdna(path, project)

    stored = VariantResult.objects.order_by("gene").values_list("gene", "gene_hgnc")
    assert list(stored) == [("SEPT9", "SEPTIN9"), ("sept9", "SEPTIN9")]
    assert [(w.row, w.field, w.value, w.code) for w in report.warnings] == [
        (2, "gene", "SEPT9", "gene-former-symbol"),
        (3, "gene", "sept9", "gene-former-symbol"),
    ]
    # The case is named only where it differs; neither calls SEPT9 HGNC's symbol:
    assert [w.message for w in report.warnings] == [
        "is a former HGNC symbol, now SEPTIN9; kept as given in gene, stored as "
        "SEPTIN9 in gene_hgnc.",
        "is a former HGNC symbol (SEPT9), not written in HGNC's case, now SEPTIN9; "
        "kept as given in gene, stored as SEPTIN9 in gene_hgnc.",
    ]


@pytest.mark.parametrize("written", ["p.T٧٩٠M", "T７９０M"])
def test_a_protein_change_in_digits_of_another_script_is_stored_in_ascii(
    project, tmp_path, written
):
    register(project, "P1")
    path = write(tmp_path, "v.csv", f"{HEADER}P1,2022-01-03,EGFR,{written},0.1\n")

    import_cfdna(path, project)

    variant = variant_of(project, "P1")
    assert (variant.protein_change, variant.variant_key) == ("p.T790M", "EGFR:p.T790M")
    assert variant.protein_change_raw == written
    # Asked for in ASCII digits, as every question asks for it:
    assert VariantResult.objects.matching("EGFR", "T790M").get() == variant


def test_a_symbol_no_hgnc_symbol_is_shaped_like_rejects_its_row(project, tmp_path):
    register(project, "P1", "P2", "P3")
    path = write(
        tmp_path,
        "v.csv",
        HEADER
        + "P1,2022-01-03,KRAS G12D,p.G12D,0.1\n"
        + "P2,2022-01-03,AC004943.1,p.A4T,0.1\n"
        + "P3,2022-01-03,EGFR,p.L858R,0.1\n",
    )

    report = import_cfdna(path, project)

    assert [(p.source, p.row, p.field, p.value) for p in report.rejected] == [
        ("v.csv", 2, "gene", "KRAS G12D"),
        ("v.csv", 3, "gene", "AC004943.1"),
    ]
    assert all("is not an HGNC gene symbol" in p.message for p in report.rejected)
    assert {p.code for p in report.rejected} == {"gene-symbol"}
    assert list(VariantResult.objects.values_list("gene", flat=True)) == ["EGFR"]


def test_a_well_shaped_symbol_hgnc_lacks_is_stored(project, tmp_path):
    # Known limit: no HGNC list is shipped to check against (see check_gene_symbol).
    register(project, "P1")
    path = write(tmp_path, "v.csv", HEADER + "P1,2022-01-03,notagene,p.A4T,0.1\n")

    report = import_cfdna(path, project)

    variant = VariantResult.objects.get()
    assert (variant.gene, variant.gene_hgnc) == ("notagene", "NOTAGENE")
    # Its warning names what is stored, never an approved symbol HGNC does not know:
    [warning] = report.warnings
    assert warning.code == "gene-symbol-case"
    assert "stored as NOTAGENE (HGNC's case)" in warning.message
    assert "HGNC symbol" not in warning.message


# Fusion partners in another case than HGNC's, or of no HGNC shape.

FUSION_HEADER = "patient_id,draw_date,gene,alteration,alteration_type,vaf\n"


def test_fusion_partners_in_another_case_are_stored_in_hgnc_case_with_a_warning(
    project, tmp_path
):
    register(project, "P1", "P2", "P3", "P4")
    path = write(
        tmp_path,
        "f.csv",
        FUSION_HEADER
        + "P1,2022-01-03,ALK,eml4::alk,,\n"
        + "P2,2022-01-03,ALK,EML4-alk fusion,fusion,\n"
        + "P3,2022-01-03,alk,alk-eml4,fusion,\n"
        + "P4,2022-01-03,ALK,c9ORF72::ALK (C2;A20),fusion,\n",
    )

    report = import_cfdna(path, project)

    assert report.rejected == []
    stored = {
        source_id: variant_of(project, source_id)
        for source_id in ("P1", "P2", "P3", "P4")
    }
    assert {
        source_id: (v.fusion_5prime, v.fusion_3prime, v.note, v.protein_change_raw)
        for source_id, v in stored.items()
    } == {
        "P1": ("EML4", "ALK", "EML4::ALK", "eml4::alk"),
        "P2": ("EML4", "ALK", "EML4::ALK", "EML4-alk fusion"),
        # The order is the report's, never swapped, flagged as in upper case:
        "P3": ("ALK", "EML4", "ALK::EML4", "alk-eml4"),
        "P4": ("C9orf72", "ALK", "C9orf72::ALK", "c9ORF72::ALK (C2;A20)"),
    }
    assert stored["P3"].fusion_note == "partner order differs from EML4::ALK"
    assert stored["P4"].variant_key == "fusion:C9orf72::ALK"
    fusion_warnings = [w for w in report.warnings if w.code == "fusion-partner-case"]
    assert [(w.source, w.row, w.field, w.value) for w in fusion_warnings] == [
        ("f.csv", 2, "protein_change", "eml4::alk"),
        ("f.csv", 3, "protein_change", "EML4-alk fusion"),
        ("f.csv", 4, "protein_change", "alk-eml4"),
        ("f.csv", 5, "protein_change", "c9ORF72::ALK (C2;A20)"),
    ]
    assert (
        "writes eml4 and alk in another case than HGNC's" in fusion_warnings[0].message
    )
    assert "stored as ALK::EML4" in fusion_warnings[2].message
    # The gene cell warns for itself, under its own field:
    assert [(w.row, w.field, w.code) for w in report.warnings if w.field == "gene"] == [
        (4, "gene", "gene-symbol-case")
    ]
    assert pseudonyms(VariantResult.objects.matching("ALK", "eml4::alk")) == (
        pseudonyms_of(project, "P1", "P2")
    )


def test_a_fusion_written_in_another_case_is_a_duplicate_of_the_stored_one(
    project, tmp_path
):
    register(project, "P1")
    first = write(tmp_path, "a.csv", FUSION_HEADER + "P1,2022-01-03,ALK,EML4::ALK,,\n")
    again = write(
        tmp_path, "b.csv", FUSION_HEADER + "P1,2022-01-03,ALK,eml4-alk fusion,,\n"
    )

    import_cfdna(first, project)
    report = import_cfdna(again, project)

    assert (report.rows_imported, report.duplicates) == (0, 1)
    assert VariantResult.objects.count() == 1


@pytest.mark.parametrize(
    "alteration, message",
    [
        ("KRAS G12D::ALK", "'KRAS G12D', which is not an HGNC gene symbol"),
        ("AC004943.1::ALK", "'AC004943.1', which is not an HGNC gene symbol"),
        ("1-Mar::ALK", "'1-Mar', which looks like a date produced by a spreadsheet"),
        ("EML4::", "names no gene on one side"),
        ("ALK fusion positive", "'positive', a word that is neither in HGNC's case"),
        ("fusion detected", "'detected', a word that is neither in HGNC's case"),
    ],
)
def test_a_fusion_partner_no_hgnc_symbol_is_shaped_like_rejects_its_row(
    project, tmp_path, alteration, message
):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "f.csv",
        FUSION_HEADER
        + f"P1,2022-01-03,ALK,{alteration},fusion,\n"
        + "P2,2022-01-03,ALK,EML4::ALK,fusion,\n",
    )

    report = import_cfdna(path, project)

    assert [(p.source, p.row, p.field, p.value) for p in report.rejected] == [
        ("f.csv", 2, "protein_change", alteration)
    ]
    assert message in report.rejected[0].message
    assert list(VariantResult.objects.values_list("fusion_5prime", flat=True)) == [
        "EML4"
    ]


# Case 19: fusions, unknown partners and reversed partner order.


@pytest.fixture
def case_19(project, patients_of_case):
    path = case_path("19-fusion-notation", "ctdna_report_fusions.csv")
    patients_of_case(path)
    return path, import_cfdna(path, project)


CASE_19 = {
    "SYN-0191": ("EML4::ALK", "EML4", "ALK"),
    "SYN-0192": ("EML4::ALK", "EML4", "ALK"),
    "SYN-0193": ("ALK rearrangement", "", "ALK"),
    "SYN-0194": ("ALK::EML4", "ALK", "EML4"),
    "SYN-0195": ("KIF5B::RET", "KIF5B", "RET"),
}


def test_case_19_stores_fusions_as_structural_events_with_their_partners(
    project, case_19
):
    _path, report = case_19

    assert report.rejected == []
    for source_id, (name, five, three) in CASE_19.items():
        variant = variant_of(project, source_id)
        assert variant.variant_type == VariantResult.Type.FUSION
        assert (variant.note, variant.fusion_5prime, variant.fusion_3prime) == (
            name,
            five,
            three,
        )
        assert variant.protein_change == ""
        assert variant.vaf is None


def test_case_19_keeps_the_breakpoint_the_unknown_partner_and_the_order_flag(
    project, case_19
):
    assert "E13;A20" in variant_of(project, "SYN-0192").fusion_note
    assert "partner not identified" in variant_of(project, "SYN-0193").fusion_note
    assert (
        variant_of(project, "SYN-0194").fusion_note
        == "partner order differs from EML4::ALK"
    )
    assert variant_of(project, "SYN-0191").fusion_note == ""


def test_case_19_keeps_supporting_reads_as_integers(project, case_19):
    path, _report = case_19

    for row in rows_of(path)[:5]:
        assert variant_of(project, row["patient_id"]).supporting_reads == int(
            row["supporting_reads"]
        )
    assert [
        variant_of(project, f"SYN-019{n}").supporting_reads for n in range(1, 6)
    ] == [38, 12, 9, 5, 21]


def test_case_19_stores_the_snv_with_its_vaf(project, case_19):
    variant = variant_of(project, "SYN-0196")

    assert (variant.gene, variant.protein_change, variant.vaf) == (
        "EGFR",
        "p.T790M",
        0.006,
    )


def test_case_19_query_eml4_alk_returns_only_that_partner_order(project, case_19):
    for spelling in ("EML4::ALK", "EML4-ALK fusion"):
        found = VariantResult.objects.matching("ALK", spelling)
        assert pseudonyms(found) == pseudonyms_of(project, "SYN-0191", "SYN-0192")


def test_case_19_query_any_alk_fusion_returns_four_patients(project, case_19):
    expected = pseudonyms_of(project, "SYN-0191", "SYN-0192", "SYN-0193", "SYN-0194")

    assert pseudonyms(VariantResult.objects.fusions("ALK")) == expected
    assert pseudonyms(VariantResult.objects.matching("ALK", "ALK fusion")) == expected


def test_case_19_query_ret_fusion_returns_kif5b_ret(project, case_19):
    assert pseudonyms(VariantResult.objects.fusions("RET")) == pseudonyms_of(
        project, "SYN-0195"
    )


# The CAIRO5 table (real data, read in place).


@pytest.fixture
def cairo5(project):
    path = shared_path("liquid_biopsy_ctdna_cairo5", "cairo5-matched-sequencing.csv")
    return path, import_cfdna(path, project, create_patients=True)


def test_cairo5_imports_every_row_with_one_draw_per_patient(cairo5):
    path, report = cairo5
    rows = rows_of(path)

    assert report.rows_imported == len(rows)
    assert report.rejected == []
    assert VariantResult.objects.count() == len(rows)
    assert BloodSample.objects.count() == len({row["Patient"] for row in rows})
    assert Patient.objects.count() == len({row["Patient"] for row in rows})


def test_cairo5_vaf_is_distinct_mutant_reads_over_distinct_reads(project, cairo5):
    apc = variant_of_gene(project, "12", "APC")

    assert (apc.alt_reads, apc.depth) == (395, 1750)
    assert apc.vaf == pytest.approx(395 / 1750)
    assert apc.protein_change == "p.E1306*"


def test_cairo5_vafs_match_the_read_counts_of_every_row(project, cairo5):
    path, _report = cairo5
    expected = []
    for row in rows_of(path):
        depth, mutant = (
            int(row["cfDNA distinct reads"]),
            int(row["cfDNA distinct mutant reads"]),
        )
        vaf = round(mutant / depth, 12) if mutant else None
        expected.append(
            (patient(project, row["Patient"]).pk, row["Gene"], mutant, depth, vaf)
        )

    stored = [
        (
            v.assay.sample.patient_id,
            v.gene,
            v.alt_reads,
            v.depth,
            None if v.vaf is None else round(v.vaf, 12),
        )
        for v in VariantResult.objects.select_related("assay__sample")
    ]

    assert sorted(stored, key=str) == sorted(expected, key=str)


def variant_of_gene(project, source_id: str, gene: str) -> VariantResult:
    return VariantResult.objects.get(
        assay__sample__patient=patient(project, source_id), gene=gene
    )


def test_cairo5_reads_both_protein_change_notations(project, cairo5):
    assert variant_of_gene(project, "12", "TP53").protein_change == "p.R196*"
    assert variant_of_gene(project, "13", "FGFR2").protein_change == "p.V428E"
    assert variant_of_gene(project, "13", "FGFR2").protein_change_raw == "428V>E"


def test_cairo5_sources_and_types_set_the_flags(project, cairo5):
    path, _report = cairo5
    rows = rows_of(path)

    flagged = VariantResult.objects
    assert flagged.filter(is_clonal_haematopoiesis=True).count() == sum(
        row["source"] == "CHIP, plasma" for row in rows
    )
    assert flagged.filter(is_seen_in_ctc=True).count() == sum(
        row["source"] == "CTC, plasma" for row in rows
    )
    assert flagged.filter(is_germline=True).count() == sum(
        row["type"] == "Germline" for row in rows
    )


def test_cairo5_draw_dates_are_the_dates_of_the_table(project, cairo5):
    path, _report = cairo5

    for row in rows_of(path):
        sample = BloodSample.objects.get(patient=patient(project, row["Patient"]))
        assert sample.drawn_on == dt.date.fromisoformat(row["Date"][:10])
        assert sample.is_time_known is False


def test_cairo5_rows_without_plasma_reads_are_failed_calls_without_vaf(project, cairo5):
    path, _report = cairo5
    uncovered = [row for row in rows_of(path) if row["cfDNA distinct reads"] == "0"]

    assert uncovered
    assert VariantResult.objects.filter(
        depth=0, call="failed", vaf=None
    ).count() == len(uncovered)


def test_cairo5_re_import_skips_every_row_as_duplicate(project, cairo5):
    path, _report = cairo5
    before = stored_state()

    again = import_cfdna(path, project, create_patients=True)

    assert (again.rows_imported, again.duplicates) == (0, len(rows_of(path)))
    assert stored_state() == before


def test_the_cfdna_command_imports_cairo5_with_its_format_option(project, capsys):
    path = shared_path("liquid_biopsy_ctdna_cairo5", "cairo5-matched-sequencing.csv")

    call_command(
        "import_cfdna",
        str(path),
        project=project.code,
        create_patients=True,
        table_format="cairo5",
    )

    assert (
        f"{len(rows_of(path))} rows imported and 0 rejected" in capsys.readouterr().out
    )


# The VAF rule: a column is a fraction unless declared percent, per column.


def test_a_vaf_column_above_one_without_a_unit_rejects_the_file(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        HEADER + "P1,2022-01-03,EGFR,p.T790M,0.5\nP2,2022-01-03,EGFR,p.L858R,12\n",
    )

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("v.csv", 3, "vaf", "12")
    ]
    assert "declare percent" in problems[0].message
    assert VariantResult.objects.count() == 0


@pytest.mark.parametrize(
    "header_extra, cell_extra, option",
    [(",vaf_unit", ",percent", None), ("", "", "percent"), ("", "%", None)],
)
def test_a_vaf_column_declared_percent_is_stored_as_fractions(
    project, tmp_path, header_extra, cell_extra, option
):
    register(project, "P1")
    unit_cell = cell_extra if header_extra else ""
    sign = cell_extra if not header_extra else ""
    path = write(
        tmp_path,
        "v.csv",
        f"patient_id,draw_date,gene,protein_change,vaf{header_extra}\n"
        f"P1,2022-01-03,EGFR,p.T790M,12.5{sign}{unit_cell}\n",
    )

    import_cfdna(path, project, vaf_unit=option)

    assert VariantResult.objects.get().vaf == 0.125


@pytest.mark.parametrize("name", ["vaf_percent", "VAF (%)", "vaf_%"])
def test_a_vaf_header_naming_percent_declares_the_column_percent(
    project, tmp_path, name
):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        f"patient_id,draw_date,gene,protein_change,{name}\nP1,2022-01-03,EGFR,p.T790M,0.5\n",
    )

    import_cfdna(path, project)

    assert VariantResult.objects.get().vaf == 0.005


def test_a_vaf_of_150_percent_rejects_the_file_naming_row_and_field(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        HEADER + "P1,2022-01-03,EGFR,p.T790M,12%\nP2,2022-01-03,EGFR,p.L858R,150%\n",
    )
    before = stored_state()

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("v.csv", 3, "vaf", "150%")
    ]
    assert stored_state() == before
    assert ImportRun.objects.get().status == "failed"


def test_a_percent_sign_in_a_column_declared_fraction_is_a_contradiction(
    project, tmp_path
):
    register(project, "P1")
    path = write(tmp_path, "v.csv", HEADER + "P1,2022-01-03,EGFR,p.T790M,12%\n")

    problems = rejection(lambda: import_cfdna(path, project, vaf_unit="fraction"))

    assert problems[0].code == "unit-contradiction"


def test_a_bare_fraction_beside_percent_signs_rejects_the_file(project, tmp_path):
    register(project, "P1", "P2", "P3")
    path = write(
        tmp_path,
        "v.csv",
        HEADER
        + "P1,2022-01-03,EGFR,p.T790M,5%\nP2,2022-01-03,EGFR,p.L858R,0.05\n"
        + "P3,2022-01-03,KRAS,p.G12D,12\n",
    )
    before = stored_state()

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.row, p.field, p.value, p.code) for p in problems] == [
        (3, "vaf", "0.05", "unit-contradiction")
    ]
    assert "row 2: 5%" in str(problems[0].message)
    assert stored_state() == before


def test_percent_signs_with_bare_numbers_above_one_read_as_percent(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        HEADER + "P1,2022-01-03,EGFR,p.T790M,5%\nP2,2022-01-03,EGFR,p.L858R,12\n",
    )

    import_cfdna(path, project)

    assert sorted(VariantResult.objects.values_list("vaf", flat=True)) == [0.05, 0.12]


def test_a_vaf_unit_column_with_both_units_rejects_the_file(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        "patient_id,draw_date,gene,protein_change,vaf,vaf_unit\n"
        "P1,2022-01-03,EGFR,p.T790M,0.5,fraction\nP2,2022-01-03,EGFR,p.L858R,12,percent\n",
    )

    problems = rejection(lambda: import_cfdna(path, project))

    assert (problems[0].field, problems[0].code) == ("vaf_unit", "unit-contradiction")


@pytest.mark.parametrize(
    "cells, call",
    [
        (",not detected", "not-detected"),
        (",below LOD", "below-lod"),
        (",ND", "not-detected"),
        (",<LOD", "below-lod"),
        (",0", "not-detected"),
    ],
)
def test_not_detected_and_below_lod_are_calls_with_no_vaf(
    project, tmp_path, cells, call
):
    register(project, "P1")
    path = write(tmp_path, "v.csv", HEADER + f"P1,2022-01-03,EGFR,p.T790M{cells}\n")

    import_cfdna(path, project)

    variant = VariantResult.objects.get()
    assert (variant.call, variant.vaf) == (call, None)


def test_a_call_column_of_not_detected_with_a_vaf_rejects_the_row(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        HEADER.replace("vaf", "vaf,call")
        + "P1,2022-01-03,EGFR,p.T790M,0.01,not detected\nP2,2022-01-03,EGFR,p.T790M,,below LOD\n",
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field) for p in report.rejected] == [(2, "vaf")]
    assert VariantResult.objects.get().call == "below-lod"


def test_a_vaf_under_the_limit_of_detection_is_below_lod_without_vaf(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        HEADER.replace("vaf", "vaf,limit_of_detection")
        + "P1,2022-01-03,PIK3CA,H1047R,0.0005,0.001\n"
        + "P1,2022-01-03,EGFR,L858R,0.001,0.001\n",
    )

    import_cfdna(path, project)

    calls = {v.gene: (v.call, v.vaf) for v in VariantResult.objects.all()}
    assert calls == {"PIK3CA": ("below-lod", None), "EGFR": ("detected", 0.001)}


def test_a_detected_call_under_the_limit_of_detection_rejects_the_row(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        HEADER.replace("vaf", "vaf,limit_of_detection,call")
        + "P1,2022-01-03,PIK3CA,H1047R,0.0005,0.001,detected\n"
        + "P1,2022-01-03,EGFR,L858R,0.002,0.001,detected\n",
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field) for p in report.rejected] == [(2, "vaf")]
    assert "below the assay's limit of detection" in report.rejected[0].message
    assert VariantResult.objects.get().gene == "EGFR"


def test_all_optional_cfdna_columns_are_stored(project, tmp_path):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        "patient_id,draw_date,gene,alteration,alteration_type,cdna_change,vaf,vaf_unit,alt_reads,depth,"
        "call,method,panel,cfdna_ng_per_ml,tumour_fraction,limit_of_detection,sample_id\n"
        "P1,2022-01-03,EGFR,p.Thr790Met,SNV,2369C>T,1.5,percent,15,1000,detected,ddPCR,EGFR T790M,"
        "12.5,0.04,0.001,S-1\n",
    )

    import_cfdna(path, project)

    variant = VariantResult.objects.get()
    assert (variant.cdna_change, variant.vaf, variant.alt_reads, variant.depth) == (
        "c.2369C>T",
        0.015,
        15,
        1000,
    )
    assay = CfDNAAssay.objects.get()
    assert (assay.method, assay.panel, assay.cfdna_ng_per_ml) == (
        "ddPCR",
        "EGFR T790M",
        12.5,
    )
    assert (assay.tumour_fraction, assay.limit_of_detection_vaf) == (0.04, 0.001)
    assert assay.sample.external_sample_id == "S-1"


# Bad input: rows rejected one by one, files rejected whole.


def test_an_unknown_patient_rejects_its_row_naming_file_row_and_field(
    project, tmp_path
):
    register(project, "P1")
    path = write(
        tmp_path,
        "v.csv",
        HEADER + "P1,2022-01-03,EGFR,p.T790M,0.1\nNOBODY,2022-01-03,EGFR,p.T790M,0.1\n",
    )

    report = import_cfdna(path, project)

    assert [(p.source, p.row, p.field) for p in report.rejected] == [
        ("v.csv", 3, "patient_id")
    ]
    assert "--create-patients" in report.rejected[0].message
    assert "NOBODY" not in report.summary()
    assert Patient.objects.count() == 1
    assert not DataIssue.objects.filter(value__contains="NOBODY").exists()


def test_create_patients_creates_only_patients_of_good_rows(project, tmp_path):
    path = write(
        tmp_path,
        "v.csv",
        HEADER
        + "NEW-1,2022-01-03,EGFR,p.T790M,0.1\nNEW-2,2022-01-03,1-Mar,p.T790M,0.1\n",
    )

    report = import_cfdna(path, project, create_patients=True)

    assert report.rows_imported == 1
    assert Patient.objects.count() == 1


def test_a_future_draw_date_rejects_its_row_naming_row_and_field(project, tmp_path):
    register(project, "P1", "P2")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    path = write(
        tmp_path,
        "v.csv",
        HEADER + f"P1,2022-01-03,EGFR,p.T790M,0.1\nP2,{tomorrow},EGFR,p.T790M,0.1\n",
    )

    report = import_cfdna(path, project)

    assert [(p.row, p.field, p.code) for p in report.rejected] == [
        (3, "draw_date", "future-date")
    ]
    assert report.rows_imported == 1


def test_a_missing_required_column_rejects_the_file(project, tmp_path):
    path = write(
        tmp_path,
        "v.csv",
        "patient_id,draw_date,protein_change\nP1,2022-01-03,p.T790M\n",
    )

    problems = rejection(lambda: import_cfdna(path, project))

    assert [(p.row, p.field) for p in problems] == [(1, "gene")]


def test_malformed_utf8_rejects_the_file_and_changes_nothing(project, tmp_path):
    register(project, "P1")
    path = tmp_path / "v.csv"
    path.write_bytes(
        HEADER.encode()
        + b"P1,2022-01-03,EGFR,p.T790M,0.1\nP1,2022-01-04,EGFR,p.Thr790M\xe9t,0.1\n"
    )
    before = stored_state()

    problems = rejection(lambda: import_cfdna(path, project))

    assert (problems[0].source, problems[0].row) == ("v.csv", 3)
    assert "UTF-8" in problems[0].message
    assert stored_state() == before


def test_a_changed_vaf_for_a_stored_variant_is_rejected_never_overwritten(
    project, tmp_path
):
    register(project, "P1")
    import_cfdna(
        write(tmp_path, "a.csv", HEADER + "P1,2022-01-03,EGFR,p.T790M,0.1\n"), project
    )
    before = stored_state()

    report = import_cfdna(
        write(tmp_path, "b.csv", HEADER + "P1,2022-01-03,EGFR,Thr790Met,0.2\n"), project
    )

    assert [(p.row, p.field, p.value, p.code) for p in report.rejected] == [
        (2, "vaf", "0.2", "conflicting-value")
    ]
    assert stored_state() == before


def test_the_same_variant_in_another_spelling_is_a_duplicate(project, tmp_path):
    register(project, "P1")
    import_cfdna(
        write(tmp_path, "a.csv", HEADER + "P1,2022-01-03,EGFR,p.T790M,0.1\n"), project
    )

    report = import_cfdna(
        write(tmp_path, "b.csv", HEADER + "P1,2022-01-03,EGFR,p.Thr790Met,0.1\n"),
        project,
    )

    assert (report.rows_imported, report.duplicates) == (0, 1)
    assert VariantResult.objects.count() == 1


def test_the_command_fails_when_every_row_was_rejected(project, tmp_path, capsys):
    path = write(tmp_path, "t.csv", HEADER + "NOBODY,2023-05-22,KRAS,p.G12D,0.1\n")

    with pytest.raises(
        CommandError, match="Every row was rejected; nothing was stored"
    ):
        call_command("import_cfdna", str(path), project=project.code)

    assert "row 2, field patient_id" in capsys.readouterr().out
    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


def test_the_printed_report_counts_the_rejected_rows_it_leaves_out(project, tmp_path):
    register(project, "P1")
    # 60 patients the project does not hold, each row rejected on its own:
    rows = "".join(f"Q{n},2022-01-03,EGFR,p.T790M,0.2\n" for n in range(60))
    path = write(tmp_path, "v.csv", HEADER + "P1,2022-01-03,KRAS,p.G12D,0.1\n" + rows)

    report = import_cfdna(path, project)

    printed = report.summary().splitlines()
    assert len(report.rejected) == 60
    assert len([line for line in printed if line.startswith("  rejected: ")]) == 50
    assert printed[-1] == (
        "  ... 10 more rejected, not printed; the import run's issues in the admin "
        "list them."
    )


def test_a_vaf_its_reads_cannot_give_is_stored_with_a_warning(project, tmp_path):
    register(project, "P1", "P2")
    path = write(
        tmp_path,
        "v.csv",
        "patient_id,draw_date,gene,protein_change,vaf,alt_reads,depth\n"
        "P1,2022-01-03,EGFR,p.T790M,0.30,50,1000\n"
        # A consensus VAF a little off its raw reads is no contradiction:
        "P2,2022-01-03,EGFR,p.L858R,0.2257,380,1750\n",
    )

    report = import_cfdna(path, project)

    assert [(w.row, w.field, w.value, w.code) for w in report.warnings] == [
        (2, "vaf", "0.30", "vaf-reads-disagree")
    ]
    assert "the reads give 50 of 1000 = 0.05" in str(report.warnings[0].message)
    assert sorted(VariantResult.objects.values_list("vaf", flat=True)) == [0.2257, 0.3]
