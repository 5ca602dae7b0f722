"""The cohort matrix: exports read back with pandas and checked against the database.

Patient A: CT study 2020-01-20, draw 2020-01-22 with EGFR p.T790M (VAF 0.12) detected,
EML4::ALK detected without VAF, 12 CellSearch CTCs, 15 ng/mL cfDNA; extraction done
with original_firstorder_Mean = 42. Patient B: MR study 2021-06-10, draw 2021-06-12 with
KRAS p.G12D below the limit of detection (VAF 0.002 as reported), 1 Parsortix CTC; its
only extraction failed (wavelet Mean = 50).
"""

from __future__ import annotations

import datetime as dt
import importlib
import io
import json
import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from django.apps import apps
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from biobank.cohorts.matrix import (
    FIXED_COLUMNS,
    FORMATS,
    MatrixSpec,
    MatrixSpecError,
    build_matrix,
    iter_matrix_frames,
    matrix_columns,
    write_matrix,
)
from biobank.cohorts.query import CohortCriteria, pair_queryset
from biobank.core.dates import moment_text
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import Patient
from radiomics.models import (
    FeatureExtraction,
    FeatureRobustness,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
    SignatureScore,
)
from tests.api.conftest import Biobank, _snv, results
from tests.api.test_queries import add_patients
from tests.conftest import grant

# B withdrew and consented again: both patients are in cohorts (docs/consent.md).
pytestmark = pytest.mark.usefixtures("renewed_consent")


@pytest.fixture
def api(api, analyst, project):
    """The analyst as a curator: these tests compare calendar dates with the database.

    A viewer's dates are shifted (tests/biobank/test_export_dates.py).
    """
    grant(analyst, project, "curator")
    return api


@pytest.fixture
def client(client, analyst, project):
    grant(analyst, project, "curator")
    return client


FEATURES = "original_firstorder_Mean,wavelet-LLH_firstorder_Mean"
GENES = "EGFR,KRAS,TP53"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "matrix.md"


def download(api, query: str) -> StreamingHttpResponse:
    response = api.get(f"/api/cohort-matrix/?{query}")
    assert response.status_code == 200, response.content[:500]
    return response


def content(response) -> bytes:
    return b"".join(response.streaming_content)


def read(api, query: str, fmt: str) -> pd.DataFrame:
    body = io.BytesIO(content(download(api, f"{query}&format={fmt}")))
    if fmt == "parquet":
        return pd.read_parquet(body)
    if fmt == "json":
        return pd.read_json(body, lines=True, dtype=False, precise_float=True)
    return pd.read_csv(body)


def add_tp53_outside_the_cohort(biobank: Biobank) -> None:
    """Add a TP53 result to a draw of B years after its study, which no pair has.

    A gene no variant is of is refused (tests/api/test_vocabulary.py); TP53 is the
    column of a gene tested in the project but in none of the cohort's draws.
    """
    sample = BloodSample.objects.create(
        patient=biobank.b.patient,
        drawn_at=dt.datetime(2024, 1, 5, 9, tzinfo=dt.UTC),
    )
    assay = CfDNAAssay.objects.create(sample=sample, method="targeted-NGS")
    VariantResult.objects.create(
        assay=assay, **_snv("TP53", "p.R273H", "not-detected", None)
    )


@pytest.fixture
def richer(biobank: Biobank) -> Biobank:
    """The contrasting pair, with B's extraction done and more variants per draw."""
    FeatureExtraction.objects.filter(pk=biobank.b.extraction.pk).update(status="done")
    VariantResult.objects.create(
        assay=biobank.a.assay, **_snv("EGFR", "p.L858R", "detected", 0.3)
    )
    VariantResult.objects.create(
        assay=biobank.a.assay, **_snv("KRAS", "p.G12C", "not-detected", None)
    )
    add_tp53_outside_the_cohort(biobank)
    return biobank


def missing(value) -> bool:
    return value is None or pd.isna(value)


def as_date(value) -> dt.date:
    return pd.Timestamp(value).date()


def check_row_against_database(row: dict) -> None:
    """Compare one exported row with the records it names, read from the ORM."""
    patient = Patient.objects.get(
        project__code=row["project_code"], pseudonym=row["patient_pseudonym"]
    )
    assert row["sex"] == patient.sex
    assert row["birth_year"] == patient.birth_year
    assert row["cancer_type"] == patient.cancer_type
    assert row["stage"] == patient.stage
    assert as_date(row["diagnosis_on"]) == patient.diagnosis_on
    assert bool(row["is_deceased"]) is patient.is_deceased
    assert missing(row["histology"]) and patient.histology == ""

    study = patient.imaging_studies.get(pk=row["study_id"])
    sample = patient.blood_samples.get(pk=row["sample_id"])
    assert row["study_instance_uid"] == study.study_instance_uid
    assert as_date(row["study_date"]) == study.study_date
    assert pd.Timestamp(row["drawn_at"]) == pd.Timestamp(sample.drawn_at)
    assert row["days_apart"] == (sample.drawn_on - study.study_date).days

    extraction = FeatureExtraction.objects.get(pk=row["extraction_id"])
    series = extraction.segmentation.series
    assert series.study_id == study.pk
    assert row["series_instance_uid"] == series.series_instance_uid
    assert row["modality"] == series.modality
    assert row["manufacturer"] == series.manufacturer
    assert row["slice_thickness_mm"] == series.slice_thickness_mm
    for name in (
        "kvp",
        "ctdi_vol_mgy",
        "injected_activity_mbq",
        "uptake_time_min",
        "magnetic_field_strength_t",
    ):
        stored = getattr(series, name)
        assert missing(row[name]) if stored is None else row[name] == stored
    assert row["extraction_software"] == extraction.software

    for name in FEATURES.split(","):
        stored = FeatureValue.objects.filter(extraction=extraction, feature__name=name)
        value = row[f"feature.{name}"]
        assert missing(value) if not stored else value == stored.get().value
    score = SignatureScore.objects.get(extraction=extraction)
    assert row["signature.mean score"] == score.score
    assert row["signature_label.mean score"] == score.label

    ctc = CTCCount.objects.get(sample=sample)
    assert row["ctc_per_7_5ml"] == ctc.count_per_7_5ml
    assert row["ctc_count"] == ctc.count
    assert (
        row["cfdna_ng_per_ml"] == CfDNAAssay.objects.get(sample=sample).cfdna_ng_per_ml
    )

    for gene in GENES.split(","):
        results = VariantResult.objects.filter(assay__sample=sample, gene=gene)
        calls = {result.call for result in results}
        detected = [r.vaf for r in results if r.call == "detected"]
        if not results:
            assert row[f"call.{gene}"] == "not-tested"
        elif detected:
            assert row[f"call.{gene}"] == "detected"
        else:
            assert calls == {row[f"call.{gene}"]}
        # A not-detected or below-LOD result has no VAF, whatever the assay reported:
        if detected:
            assert row[f"vaf.{gene}"] == max(detected)
        else:
            assert missing(row[f"vaf.{gene}"])


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_export_read_with_pandas_matches_the_database(fmt, api, richer):
    frame = read(api, f"features={FEATURES}&genes={GENES}", fmt)

    assert list(frame["patient_pseudonym"]) == ["PT-A", "PT-B"]
    for row in frame.to_dict("records"):
        check_row_against_database(row)
    a, b = frame.to_dict("records")
    assert a["call.EGFR"] == "detected" and a["vaf.EGFR"] == 0.3
    assert a["variants.EGFR"] == "p.L858R;p.T790M"
    assert a["call.KRAS"] == "not-detected" and missing(a["vaf.KRAS"])
    assert b["call.KRAS"] == "below-lod" and missing(b["vaf.KRAS"])
    assert b["call.TP53"] == "not-tested"
    assert b["feature.wavelet-LLH_firstorder_Mean"] == 50.0
    assert missing(b["feature.original_firstorder_Mean"])


FORMULA = '=HYPERLINK("http://example.invalid","x")'


@pytest.mark.attack
def test_csv_guards_text_cells_a_spreadsheet_would_run_as_formulas(api, biobank):
    BloodSample.objects.filter(pk=biobank.a.sample.pk).update(timepoint=FORMULA)
    BloodSample.objects.filter(pk=biobank.b.sample.pk).update(timepoint="-C1")

    frame = read(api, f"features={FEATURES}", "csv")
    lines = read(api, f"features={FEATURES}", "json")

    assert list(frame["timepoint"]) == ["'" + FORMULA, "'-C1"]
    assert list(lines["timepoint"]) == [FORMULA, "-C1"]  # JSON keeps the text as is
    # Numbers are never guarded, negative ones included:
    assert frame["days_apart"].dtype.kind in "if"
    assert list(frame["days_apart"]) == list(lines["days_apart"])


def test_the_frozen_csv_of_a_saved_cohort_is_guarded_too(api, biobank):
    BloodSample.objects.filter(pk=biobank.a.sample.pk).update(timepoint=FORMULA)
    saved = api.post(
        "/api/saved-cohorts/", {"name": "guarded", "matrix": {}}, format="json"
    )
    assert saved.status_code == 201, saved.content[:500]

    response = api.get(
        f"/api/saved-cohorts/{saved.json()['id']}/versions/1/matrix/?format=csv"
    )
    frame = pd.read_csv(io.BytesIO(content(response)))

    assert "'" + FORMULA in list(frame["timepoint"])


@pytest.mark.parametrize("fmt", ["jsonl", "json"])
def test_json_lines_are_asked_for_as_jsonl_or_json(fmt, api, biobank):
    saved = api.post(
        "/api/saved-cohorts/", {"name": "lines", "matrix": {}}, format="json"
    )
    assert saved.status_code == 201, saved.content[:500]

    live = download(api, f"genes=EGFR&format={fmt}")
    frozen = api.get(
        f"/api/saved-cohorts/{saved.json()['id']}/versions/1/matrix/?format={fmt}"
    )

    for response in (live, frozen):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
        assert response["Content-Disposition"].endswith(f'.{fmt}"')
        lines = content(response).decode().splitlines()
        rows = [json.loads(line) for line in lines]
        assert [row["patient_pseudonym"] for row in rows] == ["PT-A", "PT-B"]


def test_the_documented_matrix_formats_are_those_accepted():
    row = next(line for line in DOCS.read_text().splitlines() if "| `format` |" in line)
    named = set(re.findall(r"`(\w+)`", row.split("|")[3]))

    assert named == set(FORMATS)


def test_the_cohort_pairs_csv_guards_its_text_cells(client, analyst, biobank):
    ImagingStudy.objects.filter(pk=biobank.a.study.pk).update(
        study_instance_uid=FORMULA
    )
    client.force_login(analyst)

    response = client.get("/cohorts/", {"format": "csv"})
    frame = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))

    assert "'" + FORMULA in list(frame["study_instance_uid"])
    assert not frame["days_apart"].astype(str).str.startswith("'").any()


def test_parquet_keeps_the_documented_dtypes(api, richer):
    frame = read(api, f"features={FEATURES}&genes={GENES}", "parquet")

    assert str(frame["study_date"].dtype) == "date32[day][pyarrow]"
    assert str(frame["drawn_at"].dtype) == "datetime64[us, UTC]"
    assert str(frame["study_id"].dtype) == "Int64"
    assert str(frame["vaf.KRAS"].dtype) == "Float64"
    assert str(frame["call.KRAS"].dtype) == "string"
    assert str(frame["is_deceased"].dtype) == "boolean"


def test_empty_and_full_exports_have_the_same_dtypes(api, richer):
    query = f"features={FEATURES}&genes={GENES}"

    full = read(api, query, "parquet")
    empty = read(api, f"{query}&cancer_type=SCLC", "parquet")

    assert len(full) == 2 and len(empty) == 0
    assert dict(empty.dtypes) == dict(full.dtypes)


def test_a_chunk_of_nulls_has_the_dtypes_of_a_full_chunk(biobank):
    # B's extraction failed, so its chunk has no imaging, feature or score value:
    spec = MatrixSpec(features=("Q4LE",), genes=("EGFR",))

    first, second = iter_matrix_frames(pair_queryset(CohortCriteria()), spec, 1)

    assert second["extraction_id"].isna().all()
    assert dict(first.dtypes) == dict(second.dtypes)
    assert [name for name, _, _ in matrix_columns()][: len(FIXED_COLUMNS)] == list(
        first.columns[: len(FIXED_COLUMNS)]
    )


def test_robust_only_leaves_out_a_feature_not_marked_robust(api, richer):
    readers = read(api, f"features={FEATURES}&robust=readers", "parquet")
    retest = read(api, f"features={FEATURES}&robust=test-retest", "parquet")

    assert "feature.original_firstorder_Mean" in readers
    assert "feature.wavelet-LLH_firstorder_Mean" not in readers
    assert not any(name.startswith("feature.") for name in retest)


def test_robust_with_no_result_of_its_design_is_refused_not_emptied(api, biobank):
    """With nothing stored to say what is robust, every feature column would go."""
    FeatureRobustness.objects.filter(design="readers").delete()

    response = api.get(f"/api/cohort-matrix/?features={FEATURES}&robust=readers")

    assert response.status_code == 400
    (message,) = response.json()["robust"]
    assert "No readers robustness results are stored" in message
    assert "feature_robustness --design readers" in message


def test_ibsi_code_means_the_feature_of_the_original_image(api, richer):
    frame = read(api, "features=q4le", "parquet")

    features = [name for name in frame if name.startswith("feature.")]
    assert features == ["feature.original_firstorder_Mean"]
    assert list(frame["feature.original_firstorder_Mean"].isna()) == [False, True]


def test_no_features_asked_gives_no_feature_columns_and_star_gives_all(api, richer):
    none = read(api, "genes=EGFR", "parquet")
    every = read(api, "features=*&genes=EGFR", "parquet")

    assert not any(name.startswith("feature.") for name in none)
    assert {name for name in every if name.startswith("feature.")} == {
        "feature.original_firstorder_Mean",
        "feature.wavelet-LLH_firstorder_Mean",
    }


def test_genes_default_to_every_gene_tested_in_the_cohort(api, richer):
    every = read(api, "", "parquet")
    only = read(api, "genes=egfr", "parquet")
    nearest = read(api, "mode=nearest&gene=EGFR", "parquet")

    assert {name for name in every if name.startswith("call.")} == {
        "call.ALK",
        "call.EGFR",
        "call.KRAS",
    }
    assert [name for name in only if name.startswith("call.")] == ["call.EGFR"]
    # Only A's draw is in: B's KRAS is not tested in this cohort:
    assert {name for name in nearest if name.startswith("call.")} == {
        "call.ALK",
        "call.EGFR",
        "call.KRAS",
    }
    assert list(nearest["patient_pseudonym"]) == ["PT-A"]


@pytest.mark.parametrize("fmt", ["csv", "json", "parquet"])
def test_variants_without_a_gene_make_no_column(fmt, api, richer):
    # A VCF without CSQ/ANN annotation stores its variants without a gene:
    for position, vaf in ((100, 0.9), (200, 0.05)):
        VariantResult.objects.create(
            assay=richer.a.assay,
            gene="",
            gene_hgnc="",
            variant_key=f"g:1:{position} A>G",
            variant_type=VariantResult.Type.SNV,
            genomic_change=f"1:{position} A>G",
            call="detected",
            vaf=vaf,
        )

    frame = read(api, "", fmt)
    listed = api.get(f"/api/variants/?sample={richer.a.assay.sample_id}").json()

    per_gene = [
        name for name in frame if name.startswith(("vaf.", "call.", "variants."))
    ]
    assert "" not in {name.partition(".")[2] for name in per_gene}
    assert {name for name in per_gene if name.startswith("call.")} == {
        "call.ALK",
        "call.EGFR",
        "call.KRAS",
    }
    row = frame.set_index("patient_pseudonym").loc["PT-A"]
    assert row["vaf.EGFR"] != 0.9
    # The gene-less variants are in the variants list, as docs/matrix.md says:
    assert {v["genomic_change"] for v in listed["results"] if not v["gene"]} == {
        "1:100 A>G",
        "1:200 A>G",
    }


def test_a_gene_stored_in_lower_case_before_fills_its_column_once_migrated(biobank):
    # Before migration 0009, a symbol given as egfr kept its case in gene_hgnc:
    VariantResult.objects.filter(gene="EGFR").update(gene="egfr", gene_hgnc="egfr")
    spec = MatrixSpec(genes=("EGFR",))
    before = build_matrix(pair_queryset(CohortCriteria()), spec)
    migration = importlib.import_module("liquidbiopsy.migrations.0009_gene_hgnc_case")

    migration.store_hgnc_case(apps, connection.schema_editor())
    after = build_matrix(pair_queryset(CohortCriteria()), spec)

    assert "detected" not in set(before["call.EGFR"])
    assert dict(zip(after["patient_pseudonym"], after["call.EGFR"], strict=True)) == {
        "PT-A": "detected",
        "PT-B": "not-tested",
    }
    assert set(VariantResult.objects.values_list("gene", "gene_hgnc")) >= {
        ("egfr", "EGFR")
    }


def test_an_orf_gene_is_a_column_in_hgnc_case_that_finds_its_variants(biobank):
    VariantResult.objects.filter(gene="EGFR").update(
        gene="C9orf72", gene_hgnc="C9orf72"
    )

    frame = build_matrix(
        pair_queryset(CohortCriteria()), MatrixSpec(genes=("c9ORF72",))
    )

    assert [name for name in frame if name.startswith("call.")] == ["call.C9orf72"]
    assert "detected" in set(frame["call.C9orf72"])


def add_series(
    biobank: Biobank,
    value: float,
    name: str,
    series: dict,
    segmentation: dict,
    software: str,
) -> FeatureExtraction:
    """Another series of A's study, segmented, with an extraction holding the Mean."""
    added = ImageSeries.objects.create(
        study=biobank.a.study,
        source_uid_hash=f"series-{name}",
        **series,
    )
    roi = Segmentation.objects.create(
        series=added, source_kind="RTSTRUCT", **segmentation
    )
    extraction = FeatureExtraction.objects.create(
        patient=biobank.a.patient,
        segmentation=roi,
        fingerprint=f"extraction-{name}",
        software=software,
        status="done",
    )
    FeatureValue.objects.create(
        extraction=extraction, feature=biobank.mean, value=value
    )
    return extraction


def add_second_series(biobank: Biobank, value: float) -> FeatureExtraction:
    """A second CT series of A's study, segmented and extracted by another engine."""
    series = {
        "series_instance_uid": "2.25.999",
        "series_number": 2,
        "modality": "CT",
        "manufacturer": "GE MEDICAL SYSTEMS",
        "slice_thickness_mm": 3.0,
    }
    return add_series(biobank, value, "second", series, {"roi_name": "GTV-1"}, "mirp")


def test_several_extractions_the_lowest_series_wins_and_the_choice_is_named(
    api, biobank
):
    second = add_second_series(biobank, 99.0)

    default = read(api, "features=Q4LE&genes=EGFR", "parquet").iloc[0]
    mirp = read(api, "features=Q4LE&genes=EGFR&software=mirp", "parquet").iloc[0]

    assert default["extraction_id"] == biobank.a.extraction.pk
    assert default["extractions_eligible"] == 2
    assert default["feature.original_firstorder_Mean"] == 42.0
    assert default["slice_thickness_mm"] == 1.0
    assert mirp["extraction_id"] == second.pk
    assert mirp["feature.original_firstorder_Mean"] == 99.0
    assert mirp["manufacturer"] == "GE MEDICAL SYSTEMS"


def test_an_extraction_with_the_features_beats_a_lower_series_without(api, biobank):
    FeatureValue.objects.filter(pk=biobank.a.value.pk).delete()
    second = add_second_series(biobank, 7.0)

    row = read(api, "features=Q4LE&genes=EGFR", "parquet").iloc[0]

    assert row["extraction_id"] == second.pk
    assert row["feature.original_firstorder_Mean"] == 7.0


def add_pet_series(biobank: Biobank, value: float) -> FeatureExtraction:
    """A PET series of A's CT study, numbered before the CT, with its own extraction.

    As the STS studies: CT, PET and MR series each segmented and extracted.
    """
    series = {
        "series_instance_uid": "2.25.888",
        "series_number": 0,
        "modality": "PT",
        "pet_units": "BQML",
    }
    segmentation = {"roi_name": "GTV_Mass_PET"}
    return add_series(biobank, value, "pet", series, segmentation, "pyradiomics")


def test_the_modality_filter_chooses_the_extraction_among_its_series(api, biobank):
    pet = add_pet_series(biobank, 2.53)

    anything = read(api, "features=Q4LE&genes=EGFR", "parquet").iloc[0]
    ct = read(api, "modality=CT&features=Q4LE&genes=EGFR", "csv").iloc[0]
    pt = read(api, "modality=pt&features=Q4LE&genes=EGFR", "parquet").iloc[0]

    # Without a modality the lowest series wins, and the row says whose it is:
    assert (anything["extraction_id"], anything["modality"]) == (pet.pk, "PT")
    assert ct["extraction_id"] == biobank.a.extraction.pk
    assert (ct["modality"], ct["extractions_eligible"]) == ("CT", 1)
    assert ct["feature.original_firstorder_Mean"] == 42.0
    assert ct["roi_name"] != "GTV_Mass_PET"
    assert (pt["extraction_id"], pt["feature.original_firstorder_Mean"]) == (
        pet.pk,
        2.53,
    )


def test_extraction_modality_chooses_the_series_without_filtering_the_cohort(
    api, biobank
):
    add_pet_series(biobank, 2.53)

    ct = read(api, "extraction_modality=ct&features=Q4LE&genes=EGFR", "parquet")
    # The filter on CT studies, the features of their PET series:
    pt = read(api, "modality=CT&extraction_modality=PT&features=Q4LE", "parquet")

    assert list(ct["patient_pseudonym"]) == ["PT-A", "PT-B"]
    assert ct["modality"].tolist() == ["CT", pd.NA]
    assert ct.iloc[0]["feature.original_firstorder_Mean"] == 42.0
    assert list(pt["modality"]) == ["PT"]
    assert list(pt["feature.original_firstorder_Mean"]) == [2.53]


def test_an_unknown_extraction_modality_is_a_400_naming_it(api, biobank):
    response = api.get("/api/cohort-matrix/?extraction_modality=CTT&features=Q4LE")

    assert response.status_code == 400
    assert "Did you mean CT?" in response.json()["extraction_modality"][0]


@pytest.mark.parametrize(
    ("parameter", "typo", "hint"),
    [
        ("software", "pyradiomic", "Did you mean pyradiomics?"),
        ("preset", "ct-defualt", "Did you mean ct-default?"),
        ("ctc_platform", "CellSerch", "Did you mean CellSearch?"),
    ],
)
def test_a_misspelt_engine_preset_or_platform_is_a_400_naming_it(
    api, biobank, parameter, typo, hint
):
    # Each gave a 200 whose feature or CTC columns were empty throughout:
    response = api.get(f"/api/cohort-matrix/?features=Q4LE&{parameter}={typo}")

    assert response.status_code == 400
    message = response.json()[parameter][0]
    assert typo in message and hint in message


def test_a_misspelt_signature_is_a_400_with_the_closest_name(api, biobank):
    response = api.get("/api/cohort-matrix/?signatures=mean%20scor")

    assert response.status_code == 400
    assert response.json()["signatures"] == [
        "No signature is named mean scor. Did you mean mean score?"
    ]


def test_an_engine_and_preset_in_another_case_choose_their_extraction(api, biobank):
    # As check_spec accepts them, in any case:
    row = read(api, "features=Q4LE&software=PyRadiomics&preset=CT-Default", "parquet")

    assert row.iloc[0]["feature.original_firstorder_Mean"] == 42.0


def test_the_feature_filter_with_a_modality_reads_that_modality_only(api, biobank):
    add_pet_series(biobank, 2.53)
    query = "pairs/?modality=CT&feature=Q4LE"

    # Only the PET value lies in 0..10; the CT series of the study does not:
    low = results(api.get(f"/api/cohort-{query}&feature_min=0&feature_max=10"))
    high = results(api.get(f"/api/cohort-{query}&feature_min=40"))
    low_matrix = read(api, "modality=CT&feature=Q4LE&feature_max=10", "parquet")
    pet = results(api.get("/api/cohort-pairs/?modality=PT&feature=Q4LE&feature_max=10"))

    assert low == []
    assert low_matrix.empty
    assert [value["value"] for value in high[0]["evidence"]["feature_values"]] == [42.0]
    assert [value["value"] for value in pet[0]["evidence"]["feature_values"]] == [2.53]


def test_a_saved_definition_writes_out_the_extraction_modality(api, biobank):
    add_pet_series(biobank, 2.53)
    definition = {"query": {"modality": "CT"}, "matrix": {"features": ["Q4LE"]}}

    response = api.post(
        "/api/saved-cohorts/",
        {"name": "CT features", **definition},
        format="json",
    )
    assert response.status_code == 201, response.content
    cohort = response.json()
    frozen = read_frozen(api, cohort)

    assert cohort["definition"]["matrix"]["extraction_modality"] == "CT"
    assert list(frozen["modality"]) == ["CT"]
    assert list(frozen["feature.original_firstorder_Mean"]) == [42.0]


def read_frozen(api, cohort: dict) -> pd.DataFrame:
    response = api.get(
        f"/api/saved-cohorts/{cohort['id']}/versions/1/matrix/?format=parquet"
    )
    assert response.status_code == 200, response
    return pd.read_parquet(io.BytesIO(content(response)))


def test_ctc_platform_picks_the_count(api, biobank):
    CTCCount.objects.create(sample=biobank.a.sample, platform="Parsortix", count=3)

    first = read(api, "genes=EGFR", "parquet").iloc[0]
    parsortix = read(api, "genes=EGFR&ctc_platform=parsortix", "parquet").iloc[0]

    assert (first["ctc_platform"], first["ctc_per_7_5ml"]) == ("CellSearch", 12.0)
    assert (parsortix["ctc_platform"], parsortix["ctc_count"]) == ("Parsortix", 3)


def test_signatures_can_be_chosen(api, richer):
    every = read(api, "genes=EGFR", "parquet")
    unknown = api.get("/api/cohort-matrix/?signatures=nope")

    assert list(every["signature.mean score"]) == [42.0, -10.0]
    assert unknown.status_code == 400
    assert "signatures" in unknown.json()


def export_queries(api, query: str) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        content(download(api, query))
    return [query["sql"] for query in queries.captured_queries]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_queries_do_not_grow_with_the_number_of_pairs(fmt, api, richer):
    add_second_series(richer, 99.0)  # so that values are counted to choose
    query = f"features={FEATURES}&format={fmt}"
    with_two = export_queries(api, query)

    add_patients(richer, 18)
    with_twenty = export_queries(api, query)

    # Token, the reader's projects, pairs, genes, features, signatures, at most nine
    # per chunk, and the export log: the projects of the rows, the role in each, the
    # record, its projects and its completion:
    assert len(with_twenty) == len(with_two) <= 20, with_twenty


def test_queries_grow_with_chunks_not_rows(richer):
    add_patients(richer, 18)
    pairs = pair_queryset(CohortCriteria())
    spec = MatrixSpec(features=("Q4LE",), genes=("EGFR",))

    with CaptureQueriesContext(connection) as queries:
        frames = list(iter_matrix_frames(pairs, spec, chunk_size=5))

    assert [len(frame) for frame in frames] == [5, 5, 5, 5]
    # Features and signatures once, the pairs once, nine per chunk of five:
    assert len(queries.captured_queries) <= 3 + 9 * 4


def test_csv_has_one_header_and_parquet_a_row_group_per_chunk(biobank, tmp_path):
    spec = MatrixSpec(genes=("EGFR",))
    pairs = list(pair_queryset(CohortCriteria()))

    csv, parquet = io.BytesIO(), tmp_path / "matrix.parquet"
    write_matrix(iter_matrix_frames(pairs, spec, chunk_size=1), "csv", csv)
    with parquet.open("wb") as out:
        write_matrix(iter_matrix_frames(pairs, spec, chunk_size=1), "parquet", out)

    lines = csv.getvalue().decode().splitlines()
    assert len(lines) == 3 and lines[0].startswith("project_code,")
    assert pq.ParquetFile(parquet).metadata.num_row_groups == 2


def test_json_lines_write_iso_dates_and_null(api, biobank):
    add_tp53_outside_the_cohort(biobank)

    body = content(download(api, "genes=TP53&format=json")).decode()

    first = body.splitlines()[0]
    assert '"study_date":"2020-01-20"' in first
    assert '"drawn_at":"2020-01-22T09:00:00Z"' in first
    assert '"vaf.TP53":null' in first


def test_response_streams_as_a_named_file(api, biobank):
    csv = download(api, "genes=EGFR")
    parquet = download(api, "genes=EGFR&format=parquet")

    assert isinstance(csv, StreamingHttpResponse) and csv.streaming
    assert csv["Content-Type"].startswith("text/csv")
    assert 'filename="cohort-matrix-' in csv["Content-Disposition"]
    assert csv["Content-Disposition"].endswith('.csv"')
    assert parquet["Content-Type"] == "application/vnd.apache.parquet"
    assert content(parquet)[:4] == b"PAR1"


def test_an_accept_header_for_the_file_type_is_no_error(api, biobank):
    response = api.get("/api/cohort-matrix/?genes=EGFR", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert content(response).startswith(b"project_code,")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("features=no_such_feature", "features"),
        ("features=*,Q4LE", "features"),
        ("robust=sometimes", "robust"),
        ("format=xlsx", "format"),
        ("colour=red", "colour"),
        ("page=2", "page"),
        ("window_days=-1", "window_days"),
        ("feature=Q4LE", "feature_min"),
        ("signatures=nope", "signatures"),
    ],
)
def test_bad_parameter_is_a_400_naming_it(query, field, api, biobank):
    response = api.get(f"/api/cohort-matrix/?{query}")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()


@pytest.mark.attack
def test_anonymous_caller_is_refused(biobank):
    response = APIClient().get("/api/cohort-matrix/")

    assert response.status_code == 401


def test_cohort_filters_apply_to_the_matrix(api, richer):
    frame = read(api, "gene=KRAS&variant=p.G12D&genes=KRAS", "parquet")

    # B's G12D is below the limit of detection, so no draw qualifies:
    assert frame.empty
    assert list(read(api, "cancer_type=PRAD", "parquet")["patient_pseudonym"]) == [
        "PT-B"
    ]


def test_spec_round_trips_through_json_data():
    spec = MatrixSpec(features=("Q4LE",), robust="readers", genes=("EGFR", "KRAS"))

    assert MatrixSpec.from_params(spec.as_dict()) == spec
    assert MatrixSpec.from_params({"genes": "EGFR, KRAS,"}).genes == ("EGFR", "KRAS")
    with pytest.raises(MatrixSpecError) as error:
        MatrixSpec.from_params({"genez": "EGFR"})
    assert error.value.field == "genez"


@pytest.mark.parametrize("fmt", ["parquet", "csv", "json"])
def test_a_date_only_draw_east_of_utc_keeps_its_day(fmt, api, biobank, settings):
    # Local midnight of 2020-01-22 in Tokyo is 2020-01-21 15:00 UTC:
    settings.TIME_ZONE = "Asia/Tokyo"
    BloodSample.objects.filter(pk=biobank.a.sample.pk).update(
        drawn_at=dt.datetime(2020, 1, 21, 15, tzinfo=dt.UTC), is_time_known=False
    )

    frame = read(api, "genes=EGFR", fmt)

    a, b = frame.to_dict("records")
    assert (
        str(pd.Timestamp(a["drawn_at"]).tz_convert("UTC"))
        == "2020-01-21 15:00:00+00:00"
    )
    assert str(a["drawn_on"])[:10] == "2020-01-22"
    assert a["draw_time_known"] in (False, "false", "False")
    assert a["days_apart"] == 2
    assert str(b["drawn_on"])[:10] == "2021-06-12"
    assert b["draw_time_known"] in (True, "true", "True")


def test_drawn_on_follows_the_date_modes(api, biobank):
    calendar = read(api, "genes=EGFR&dates=calendar", "parquet")
    shifted = read(api, "genes=EGFR&dates=shifted", "parquet")
    relative = read(api, "genes=EGFR&dates=relative", "parquet")

    assert shifted["drawn_on"].dtype == calendar["drawn_on"].dtype
    moved = pd.to_datetime(shifted["drawn_on"].astype(str)) - pd.to_datetime(
        calendar["drawn_on"].astype(str)
    )
    study_moved = pd.to_datetime(shifted["study_date"].astype(str)) - pd.to_datetime(
        calendar["study_date"].astype(str)
    )
    assert list(moved) == list(study_moved) and all(moved.dt.days != 0)
    assert "drawn_on" not in relative.columns
    assert list(relative["drawn_on_days"] - relative["study_date_days"]) == list(
        calendar["days_apart"]
    )


def test_build_matrix_takes_a_list_of_pair_dicts(richer):
    pairs = list(pair_queryset(CohortCriteria()))

    frame = build_matrix(pairs, MatrixSpec(features=("Q4LE",)))

    assert list(frame["sample_id"]) == [richer.a.sample.pk, richer.b.sample.pk]
    assert {"call.ALK", "call.EGFR", "call.KRAS"} <= set(frame.columns)


def test_documentation_lists_every_fixed_column_with_its_dtype():
    text = DOCS.read_text()

    for name, dtype, _ in matrix_columns():
        assert f"| `{name}` | {dtype} |" in text, name


def test_schema_documents_the_endpoint_and_its_parameters(api):
    schema = api.get("/api/schema/?format=json").json()

    operation = schema["paths"]["/api/cohort-matrix/"]["get"]
    parameters = {parameter["name"] for parameter in operation["parameters"]}
    assert {
        "window_days",
        "gene",
        "features",
        "robust",
        "genes",
        "format",
    } <= parameters
    assert set(operation["responses"]["200"]["content"]) == {
        "text/csv",
        "application/x-ndjson",
        "application/vnd.apache.parquet",
    }


def test_the_pairs_csv_and_the_matrix_write_moments_in_one_form(
    api, biobank, client, analyst, project
):
    grant(analyst, project, "curator")  # calendar dates, as stored
    client.force_login(analyst)
    page = client.get("/cohorts/", {"format": "csv", "dates": "calendar"})
    assert page.status_code == 200
    pairs = pd.read_csv(io.BytesIO(b"".join(page.streaming_content)), dtype=str)
    matrix = pd.read_csv(
        io.BytesIO(content(download(api, "dates=calendar"))), dtype=str
    )
    lines = content(download(api, "dates=calendar&format=json")).splitlines()
    parquet = pd.read_parquet(
        io.BytesIO(content(download(api, "dates=calendar&format=parquet")))
    )

    moments = sorted(pairs["drawn_at"])
    assert moments and all(moment.endswith("Z") for moment in moments)  # as the API
    assert sorted(matrix["drawn_at"]) == moments
    assert sorted(json.loads(line)["drawn_at"] for line in lines) == moments
    # Parquet keeps its timestamp type, the same moments:
    assert str(parquet["drawn_at"].dtype) == "datetime64[us, UTC]"
    assert sorted(parquet["drawn_at"]) == [pd.Timestamp(moment) for moment in moments]


def test_moment_text_writes_utc_as_z_and_keeps_microseconds_and_offsets():
    utc = dt.datetime(2024, 3, 10, 9, 0, 0, 123456, tzinfo=dt.UTC)
    paris = dt.datetime(2024, 3, 10, 10, tzinfo=dt.timezone(dt.timedelta(hours=1)))

    assert moment_text(utc) == "2024-03-10T09:00:00.123456Z"
    assert moment_text(pd.Timestamp(utc)) == "2024-03-10T09:00:00.123456Z"
    assert moment_text(paris) == "2024-03-10T10:00:00+01:00"
