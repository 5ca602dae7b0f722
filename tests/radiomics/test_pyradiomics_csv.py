from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from biobank.core.importing import ImportRejected
from patients.models import DataIssue, ImportRun
from patients.services import find_patient
from radiomics.features import IBSI_CODES, parse_feature_name
from radiomics.importers.pyradiomics_csv import import_pyradiomics
from radiomics.models import FeatureDefinition, FeatureExtraction, FeatureValue
from tests.conftest import case_path, shared_path

CASE = "13-radiomics-csv-diagnostics"


def values_of(project, source_id: str) -> dict[str, float]:
    patient = find_patient(project, source_id)
    assert patient is not None, f"{source_id} was not imported"
    return dict(
        FeatureValue.objects.filter(extraction__patient=patient).values_list(
            "feature__name", "value"
        )
    )


def extraction_of(project, source_id: str) -> FeatureExtraction:
    return FeatureExtraction.objects.get(patient=find_patient(project, source_id))


def file_row(path: Path, source_id: str) -> dict[str, str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(row for row in csv.DictReader(handle) if row["ID"] == source_id)


def write_table(
    tmp_path: Path, rows: list[list[str]], features: list[str], name: str = "f.csv"
) -> Path:
    header = [
        "ID",
        "Image",
        "Mask",
        "diagnostics_Versions_PyRadiomics",
        "diagnostics_Configuration_Settings",
    ]
    path = tmp_path / name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header + features)
        writer.writerows(rows)
    return path


def row(source_id: str, *values: object) -> list[str]:
    settings = "{'binWidth': 25, 'label': 1}"
    return [
        source_id,
        f"/data/{source_id}/ct.nrrd",
        f"/data/{source_id}/gtv.nrrd",
        "v3.1.0",
        settings,
        *map(str, values),
    ]


def rejection(call) -> list:
    with pytest.raises(ImportRejected) as caught:
        call()
    return caught.value.problems


# Case 13: diagnostics columns, reordered columns and a failed row.


@pytest.fixture
def case13(project):
    first = case_path(CASE, "a_features_batch1.csv")
    second = case_path(CASE, "b_features_batch2_reordered.csv")
    return import_pyradiomics(first, project, create_patients=True), import_pyradiomics(
        second, project, create_patients=True
    )


def test_both_files_store_28_feature_values_for_3_cases(project, case13):
    with_values = FeatureExtraction.objects.filter(values__isnull=False).distinct()

    assert FeatureValue.objects.count() == 28
    assert with_values.count() == 3
    assert [len(values_of(project, f"SYN-013{n}")) for n in (1, 2, 4)] == [9, 9, 10]


def test_values_of_syn_0131(project, case13):
    values = values_of(project, "SYN-0131")

    assert values["original_firstorder_Mean"] == 288.5
    assert values["original_shape_VoxelVolume"] == 12.8
    assert values["original_glcm_ClusterShade"] == -1.2345e-05
    assert values["original_firstorder_Minimum"] == 233.0


def test_provenance_of_syn_0131_is_kept_as_text(project, case13):
    extraction = extraction_of(project, "SYN-0131")

    assert extraction.software_version == "v3.1.0"
    assert extraction.diagnostics["diagnostics_Versions_PyRadiomics"] == "v3.1.0"
    assert extraction.diagnostics["diagnostics_Mask-original_VoxelNum"] == "8"
    assert (
        extraction.diagnostics["diagnostics_Mask-original_BoundingBox"]
        == "(3, 3, 1, 2, 2, 2)"
    )
    # The paths are kept without the patient's source ID, which names its folder:
    assert (extraction.image_reference, extraction.mask_reference) == (
        "/data/[redacted]/ct.nrrd",
        "/data/[redacted]/gtv.nrrd",
    )
    assert extraction.parameters["settings"]["binWidth"] == 25


def test_every_diagnostics_cell_is_kept_verbatim_and_never_becomes_a_feature(
    project, case13
):
    path = case_path(CASE, "a_features_batch1.csv")
    cells = file_row(path, "SYN-0132")
    expected = {
        name: text for name, text in cells.items() if name.startswith("diagnostics_")
    }

    extraction = extraction_of(project, "SYN-0132")

    assert extraction.diagnostics == expected
    assert not FeatureDefinition.objects.filter(name__startswith="diagnostics").exists()


def test_values_of_syn_0132(project, case13):
    values = values_of(project, "SYN-0132")

    assert values["original_shape_VoxelVolume"] == 2432.0
    assert values["original_firstorder_Minimum"] == -241.0


def test_syn_0133_stores_no_values_and_is_flagged_as_failed(project, case13):
    extraction = extraction_of(project, "SYN-0133")

    assert values_of(project, "SYN-0133") == {}
    assert extraction.status == FeatureExtraction.Status.FAILED
    issue = DataIssue.objects.get(code="extraction-failed")
    assert "extraction failed / empty feature row" in issue.message
    assert (issue.row, issue.patient, issue.record_type, issue.record_id) == (
        4,
        extraction.patient,
        "FeatureExtraction",
        extraction.pk,
    )


def test_values_of_syn_0134_are_read_by_column_name_whatever_the_order(project, case13):
    values = values_of(project, "SYN-0134")

    assert values["original_firstorder_Mean"] == 34.25
    assert values["wavelet-LLH_firstorder_Mean"] == 30.125
    assert values["original_glcm_Contrast"] == 4.75
    assert (
        extraction_of(project, "SYN-0134").image_reference == "/data/[redacted]/ct.nrrd"
    )


def test_a_query_for_original_firstorder_mean_returns_the_three_cases(project, case13):
    rows = FeatureValue.objects.filter(
        feature__name="original_firstorder_Mean"
    ).values_list("extraction__patient__pseudonym", "value")

    by_pseudonym = dict(rows)

    expected = {"SYN-0131": 288.5, "SYN-0132": 21.37, "SYN-0134": 34.25}
    assert by_pseudonym == {
        find_patient(project, k).pseudonym: v for k, v in expected.items()
    }


def test_feature_definitions_are_created_with_family_filter_and_ibsi_code(
    project, case13
):
    wavelet = FeatureDefinition.objects.get(name="wavelet-LLH_firstorder_Mean")
    shade = FeatureDefinition.objects.get(name="original_glcm_ClusterShade")

    assert FeatureDefinition.objects.count() == 10
    assert (
        wavelet.family,
        wavelet.image_filter,
        wavelet.feature_name,
        wavelet.ibsi_code,
    ) == (
        "firstorder",
        "wavelet-LLH",
        "Mean",
        "Q4LE",
    )
    assert (shade.family, shade.image_filter, shade.ibsi_code) == (
        "glcm",
        "original",
        "7NFM",
    )


def test_reimporting_the_case_files_duplicates_nothing(project, case13):
    counts = (
        FeatureExtraction.objects.count(),
        FeatureValue.objects.count(),
        FeatureExtraction.history.count(),
    )

    again = [
        import_pyradiomics(case_path(CASE, name), project, create_patients=True)
        for name in ("a_features_batch1.csv", "b_features_batch2_reordered.csv")
    ]

    assert [(r.created, r.duplicates) for r in again] == [({}, 3), ({}, 1)]
    assert (
        FeatureExtraction.objects.count(),
        FeatureValue.objects.count(),
        FeatureExtraction.history.count(),
    ) == counts


def test_runs_and_issues_never_hold_the_identifier_or_image_paths(project, case13):
    stored = [str(run.summary) for run in ImportRun.objects.all()]
    stored += [f"{i.message} {i.value} {i.field}" for i in DataIssue.objects.all()]

    assert ImportRun.objects.count() == 2 and DataIssue.objects.count() == 1
    assert not [text for text in stored if "SYN-" in text]


def test_the_command_prints_what_it_stored(project, capsys):
    path = case_path(CASE, "a_features_batch1.csv")

    call_command(
        "import_pyradiomics", str(path), "--project", project.code, "--create-patients"
    )

    out = capsys.readouterr().out
    assert "3 extractions" in out and "18 feature values" in out


# Feature names and the IBSI mapping.


@pytest.mark.parametrize(
    ("name", "parts", "ibsi_code"),
    [
        ("original_glcm_Contrast", ("original", "glcm", "Contrast"), "ACUI"),
        ("wavelet-LLH_firstorder_Mean", ("wavelet-LLH", "firstorder", "Mean"), "Q4LE"),
        (
            "wavelet2-HHL_glrlm_RunEntropy",
            ("wavelet2-HHL", "glrlm", "RunEntropy"),
            "HJ9O",
        ),
        (
            "log-sigma-1-0-mm-3D_glszm_ZoneEntropy",
            ("log-sigma-1-0-mm-3D", "glszm", "ZoneEntropy"),
            "GU8N",
        ),
        ("squareroot_ngtdm_Busyness", ("squareroot", "ngtdm", "Busyness"), "NQ30"),
        (
            "lbp-3D-m1_gldm_SmallDependenceEmphasis",
            ("lbp-3D-m1", "gldm", "SmallDependenceEmphasis"),
            "SODN",
        ),
        ("lbp-2D_firstorder_Kurtosis", ("lbp-2D", "firstorder", "Kurtosis"), ""),
        ("gradient_shape2D_Perimeter", ("gradient", "shape2D", "Perimeter"), ""),
    ],
)
def test_feature_columns_are_parsed_into_filter_family_name_and_ibsi_code(
    name, parts, ibsi_code
):
    parsed = parse_feature_name(name)

    assert parsed is not None
    assert (parsed.image_filter, parsed.family, parsed.feature_name) == parts
    assert parsed.ibsi_code == ibsi_code


@pytest.mark.parametrize(
    "name",
    [
        "diagnostics_Versions_PyRadiomics",
        "diagnostics_Image-original_Mean",
        "ID",
        "Image",
        "original_foo_Mean",
        "median_glcm_Contrast",
        "original_glcm_",
    ],
)
def test_other_columns_are_not_features(name):
    assert parse_feature_name(name) is None


def test_size_zone_features_carry_the_glszm_codes_of_the_ibsi_manual():
    assert IBSI_CODES[("glszm", "LowGrayLevelZoneEmphasis")][0] == "XMSY"
    assert IBSI_CODES[("glszm", "HighGrayLevelZoneEmphasis")][0] == "5GN9"
    assert IBSI_CODES[("glszm", "SmallAreaLowGrayLevelEmphasis")][0] == "5RAI"
    assert IBSI_CODES[("glszm", "ZoneVariance")][0] == "3NSA"
    assert not any(family == "glcm" and "Area" in name for family, name in IBSI_CODES)


def test_every_shipped_ibsi_code_and_name_is_an_ibsi_concept():
    path = shared_path("pyradiomics_testcases", "ibsi_mapping", "ibsi_concepts.csv")
    with open(path, newline="", encoding="utf-8-sig") as handle:
        concepts = {(code, name) for name, code in csv.reader(handle, delimiter="\t")}

    shipped = set(IBSI_CODES.values())

    assert shipped <= concepts
    assert len({code for code, _ in shipped}) == len(IBSI_CODES)


def test_every_feature_of_the_pyradiomics_baselines_parses():
    folder = shared_path("pyradiomics_testcases", "baseline")
    names = set()
    for path in folder.glob("baseline_*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            names |= {r[0] for r in csv.reader(handle) if r[0].startswith("original_")}

    parsed = [parse_feature_name(name) for name in sorted(names)]

    assert len(names) > 100
    assert None not in parsed
    assert {p.family for p in parsed if p.ibsi_code} == {
        "shape",
        "firstorder",
        "glcm",
        "glrlm",
        "glszm",
        "gldm",
        "ngtdm",
    }


# Bad input and bulk writing.


def test_a_non_numeric_feature_cell_rejects_the_file_naming_row_and_column(
    project, tmp_path
):
    features = ["original_firstorder_Mean", "original_shape_Elongation"]
    path = write_table(
        tmp_path, [row("P1", 1.5, 0.9), row("P2", 2.5, "(192, 256, 256)")], features
    )

    problems = rejection(
        lambda: import_pyradiomics(path, project, create_patients=True)
    )

    assert [(p.source, p.row, p.field, p.value) for p in problems] == [
        ("f.csv", 3, "original_shape_Elongation", "(192, 256, 256)")
    ]
    assert not FeatureExtraction.objects.exists() and not FeatureValue.objects.exists()
    assert ImportRun.objects.get().status == ImportRun.Status.FAILED


def test_a_file_without_the_id_column_is_rejected_unless_one_is_named(
    project, tmp_path
):
    path = write_table(tmp_path, [row("P1", 1.5)], ["original_firstorder_Mean"])
    path.write_text(path.read_text().replace("ID,", "Subject,", 1))

    problems = rejection(
        lambda: import_pyradiomics(path, project, create_patients=True)
    )
    report = import_pyradiomics(
        path, project, id_column="Subject", create_patients=True
    )

    assert [(p.row, p.field) for p in problems] == [(1, "ID")]
    assert report.created["extractions"] == 1
    assert values_of(project, "P1") == {"original_firstorder_Mean": 1.5}


def test_an_extraction_stored_before_with_other_values_rejects_the_file(
    project, tmp_path
):
    features = ["original_firstorder_Mean"]
    import_pyradiomics(
        write_table(tmp_path, [row("P1", 1.5)], features, "a.csv"),
        project,
        create_patients=True,
    )
    changed = write_table(
        tmp_path, [row("P2", 7.0), row("P1", 1.75)], features, "b.csv"
    )

    problems = rejection(
        lambda: import_pyradiomics(changed, project, create_patients=True)
    )

    assert [(p.source, p.row, p.code) for p in problems] == [
        ("b.csv", 3, "conflicting-extraction")
    ]
    assert values_of(project, "P1") == {"original_firstorder_Mean": 1.5}
    assert FeatureExtraction.objects.count() == 1


def test_nan_and_empty_cells_are_left_out_with_a_warning(project, tmp_path):
    features = [
        "original_firstorder_Mean",
        "original_ngtdm_Busyness",
        "original_glcm_Idmn",
    ]
    path = write_table(tmp_path, [row("P1", 1.5, "nan", "")], features)

    report = import_pyradiomics(path, project, create_patients=True)

    assert values_of(project, "P1") == {"original_firstorder_Mean": 1.5}
    assert [(w.row, w.code) for w in report.warnings] == [(2, "missing-feature-values")]
    assert extraction_of(project, "P1").status == FeatureExtraction.Status.DONE


def test_a_settings_change_makes_a_new_extraction_of_the_same_roi(project, tmp_path):
    features = ["original_firstorder_Mean"]
    import_pyradiomics(
        write_table(tmp_path, [row("P1", 1.5)], features, "a.csv"),
        project,
        create_patients=True,
    )
    rebinned = row("P1", 1.25)
    rebinned[4] = "{'binWidth': 10, 'label': 1}"

    import_pyradiomics(
        write_table(tmp_path, [rebinned], features, "b.csv"),
        project,
        create_patients=True,
    )

    assert sorted(FeatureValue.objects.values_list("value", flat=True)) == [1.25, 1.5]


def test_feature_values_are_written_in_bulk_not_one_query_each(project, tmp_path):
    features = [f"original_firstorder_F{n}" for n in range(300)]
    rows = [row(f"P{r}", *(r + n / 10 for n in range(300))) for r in range(20)]
    path = write_table(tmp_path, rows, features)

    with CaptureQueriesContext(connection) as queries:
        report = import_pyradiomics(path, project, create_patients=True)

    assert report.created["feature values"] == 6000
    assert FeatureValue.objects.count() == 6000
    assert len(queries) < 250


def test_an_unknown_patient_rejects_the_file_unless_patients_may_be_created(
    project, tmp_path
):
    path = write_table(tmp_path, [row("P1", 1.5)], ["original_firstorder_Mean"])

    problems = rejection(lambda: import_pyradiomics(path, project))
    report = import_pyradiomics(path, project, create_patients=True)

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "ID", "unknown-patient")
    ]
    assert "P1" not in str(problems[0])
    assert report.created["patients"] == 1


def test_a_roi_name_holding_the_rows_patient_id_rejects_the_file(project, tmp_path):
    features = ["original_firstorder_Mean"]
    path = write_table(tmp_path, [row("MRN0048213", 1.5)], features)
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    lines = [lines[0] + ",ROI", lines[1] + ",GTV MRN0048213"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    problems = rejection(
        lambda: import_pyradiomics(path, project, create_patients=True)
    )

    assert [(p.row, p.field, p.code) for p in problems] == [
        (2, "ROI", "identifier-in-text")
    ]
    assert "MRN0048213" not in str(problems[0])
    assert not FeatureExtraction.objects.exists()
