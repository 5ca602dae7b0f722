"""Every read endpoint: lists, details, the fields analysts rely on, nothing secret."""

from __future__ import annotations

import pytest

from tests.api.conftest import Biobank, results
from tests.conftest import grant

# Endpoint, and the record of patient A that it lists (attribute of Side or Biobank):
ENDPOINTS = [
    ("projects", None),
    ("patients", "patient"),
    ("consents", "consent"),
    ("treatments", "treatment"),
    ("clinical-events", "event"),
    ("imaging-studies", "study"),
    ("image-series", "series"),
    ("segmentations", "segmentation"),
    ("feature-extractions", "extraction"),
    ("feature-definitions", None),
    ("feature-robustness", None),
    ("feature-values", "value"),
    ("signatures", None),
    ("signature-scores", "score"),
    ("blood-samples", "sample"),
    ("ctc-counts", "ctc"),
    ("cfdna-assays", "assay"),
    ("variants", "variant"),
    ("rna-results", "rna"),
]
SECRET_FIELDS = {"source_key", "source_uid_hash", "storage_path", "task_id"}


def record_of(biobank: Biobank, endpoint: str, side: str = "a"):
    attribute = dict(ENDPOINTS)[endpoint]
    if endpoint == "projects":
        return biobank.a.patient.project
    if endpoint == "feature-definitions":
        return biobank.mean
    if endpoint == "feature-robustness":
        return biobank.mean.robustness.get()
    if endpoint == "signatures":
        return biobank.signature
    return getattr(getattr(biobank, side), attribute)


def test_api_root_lists_every_endpoint(api):
    response = api.get("/api/")

    assert response.status_code == 200
    cohorts = {"cohort-pairs", "cohort-matrix", "saved-cohorts"}
    assert set(response.json()) == {endpoint for endpoint, _ in ENDPOINTS} | cohorts
    for endpoint in cohorts:
        assert response.json()[endpoint].endswith(f"/api/{endpoint}/")


@pytest.mark.parametrize("endpoint", [endpoint for endpoint, _ in ENDPOINTS])
def test_list_and_detail_show_the_record_without_identifier_hashes(
    endpoint, api, biobank
):
    record = record_of(biobank, endpoint)

    listed = results(api.get(f"/api/{endpoint}/"))
    detail = api.get(f"/api/{endpoint}/{record.pk}/")

    assert record.pk in [row["id"] for row in listed]
    assert detail.status_code == 200
    assert detail.json()["id"] == record.pk
    assert not SECRET_FIELDS & set(detail.json())
    assert not SECRET_FIELDS & set(listed[0])


@pytest.mark.parametrize(
    "endpoint",
    [
        endpoint
        for endpoint, attribute in ENDPOINTS
        if attribute not in (None, "patient")
    ],
)
def test_patient_records_carry_the_pseudonym_and_project(endpoint, api, biobank):
    record = record_of(biobank, endpoint, side="b")

    row = api.get(f"/api/{endpoint}/{record.pk}/").json()

    assert row["patient_pseudonym"] == "PT-B"
    assert row["patient"] == biobank.b.patient.pk
    assert row["project"] == "demo"


def test_unknown_record_is_404(api, biobank):
    response = api.get("/api/imaging-studies/999999/")

    assert response.status_code == 404


def test_series_shows_its_acquisition_parameters(api, biobank):
    row = api.get(f"/api/image-series/{biobank.a.series.pk}/").json()

    assert row["manufacturer"] == "SIEMENS"
    assert row["convolution_kernel"] == "B31f"
    assert row["slice_thickness_mm"] == 1.0
    assert row["kvp"] == 120.0
    assert (row["ctdi_vol_mgy"], row["injected_activity_mbq"]) == (8.5, 370.0)
    assert row["uptake_time_min"] == 62.0
    assert row["study"] == biobank.a.study.pk


def test_ctc_count_reads_its_normalised_count_and_draw_day(
    api, analyst, project, biobank
):
    grant(analyst, project, "curator")  # calendar dates, as a viewer's are shifted
    # 12 cells in the default 7.5 mL are 12 per 7.5 mL:
    row = api.get(f"/api/ctc-counts/{biobank.a.ctc.pk}/").json()

    assert row["count"] == 12
    assert row["count_per_7_5ml"] == 12.0
    assert row["drawn_on"] == "2020-01-22"


def test_signature_lists_its_terms(api, biobank):
    row = api.get(f"/api/signatures/{biobank.signature.pk}/").json()

    assert row["terms"] == [
        {
            "feature": biobank.mean.pk,
            "feature_name": "original_firstorder_Mean",
            "weight": 1.0,
        }
    ]


def test_feature_value_names_its_feature_and_ibsi_code(api, biobank):
    row = api.get(f"/api/feature-values/{biobank.a.value.pk}/").json()

    assert row["feature_name"] == "original_firstorder_Mean"
    assert row["ibsi_code"] == "Q4LE"
    assert row["value"] == 42.0
    assert row["segmentation"] == biobank.a.segmentation.pk


def test_extraction_hides_the_file_paths_an_engine_csv_gave(api, biobank):
    # PyRadiomics batch CSVs name images by the lab's paths, source IDs included:
    extraction = biobank.a.extraction
    extraction.source_name = "LUNG1-001_batch.csv"
    extraction.image_reference = "/data/LUNG1-001/image.nrrd"
    extraction.mask_reference = "/data/LUNG1-001/mask.nrrd"
    extraction.save()

    pages = [
        api.get(f"/api/feature-extractions/{extraction.pk}/"),
        api.get(f"/api/imaging-studies/{biobank.a.study.pk}/"),
        api.get("/api/feature-extractions/"),
    ]

    for page in pages:
        assert page.status_code == 200
        assert "LUNG1-001" not in page.content.decode()
