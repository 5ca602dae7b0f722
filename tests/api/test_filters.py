"""Every filter of every list, each with a case that includes and one that excludes.

Patient A and patient B (tests/api/conftest.py) differ in every filtered attribute;
each case names exactly the records its query must return. The cases run as a curator
of the project, shown calendar dates: a viewer is refused the filters and orders on
stored dates (tests/api/test_viewer_dates.py).
"""

from __future__ import annotations

import pytest

from liquidbiopsy.validation import CALL_WORDS
from patients.models import Patient
from tests.api.conftest import Biobank, results

# The records each endpoint can return, by name:
UNIVERSE = {
    "projects": {"demo": lambda b: b.a.patient.project},
    "feature-definitions": {
        "mean": lambda b: b.mean,
        "wavelet": lambda b: b.wavelet_mean,
    },
    "feature-robustness": {
        "mean": lambda b: b.mean.robustness.get(),
        "wavelet": lambda b: b.wavelet_mean.robustness.get(),
    },
    "signatures": {"signature": lambda b: b.signature},
    "variants": {
        "a": lambda b: b.a.variant,
        "b": lambda b: b.b.variant,
        "fusion": lambda b: b.fusion,
    },
}
SIDE_ATTRIBUTE = {
    "patients": "patient",
    "consents": "consent",
    "treatments": "treatment",
    "clinical-events": "event",
    "imaging-studies": "study",
    "image-series": "series",
    "segmentations": "segmentation",
    "feature-extractions": "extraction",
    "feature-values": "value",
    "signature-scores": "score",
    "blood-samples": "sample",
    "ctc-counts": "ctc",
    "cfdna-assays": "assay",
    "rna-results": "rna",
}
for _endpoint, _attribute in SIDE_ATTRIBUTE.items():
    UNIVERSE[_endpoint] = {
        "a": lambda b, attribute=_attribute: getattr(b.a, attribute),
        "b": lambda b, attribute=_attribute: getattr(b.b, attribute),
    }

A, B, NONE, BOTH = {"a"}, {"b"}, set(), {"a", "b"}
# A value that names nothing the user may read (a gene, a feature, a project...) is a
# 400 naming the parameter, not an empty list:
UNKNOWN = None

# (endpoint, query string, names of the records returned); "{a.study}" and the like
# are replaced by the id of that record of patient A or B.
CASES = [
    ("projects", "code=demo", {"demo"}),
    ("projects", "code=other", UNKNOWN),
    # Patients:
    ("patients", "pseudonym=PT-A", A),
    ("patients", "pseudonym=PT-C", NONE),
    ("patients", "project=demo", BOTH),
    # Codes differ by more than case; DEMO found nothing, without a word:
    ("patients", "project=DEMO", BOTH),
    ("patients", "project=other", UNKNOWN),
    ("patients", "cancer_type=LUAD", A),
    ("patients", "cancer_type=LUAD&cancer_type=PRAD", BOTH),
    ("patients", "cancer_type=COAD", NONE),
    # A parent OncoTree type includes its subtypes (NSCLC holds LUAD), not siblings:
    ("patients", "cancer_type=NSCLC", A),
    ("patients", "cancer_type=LUSC", NONE),
    ("patients", "cancer_type=NSCLC&cancer_type=PRAD", BOTH),
    ("patients", "sex=M", B),
    ("patients", "stage=IIIA", A),
    ("patients", "is_deceased=true", B),
    ("patients", "diagnosis_on_after=2021-01-01", B),
    ("patients", "diagnosis_on_before=2020-01-10", A),
    ("patients", "diagnosis_on_before=2020-01-09", NONE),
    ("patients", "birth_year_min=1960", B),
    ("patients", "birth_year_max=1949", NONE),
    # Consents, treatments, events:
    ("consents", "patient=PT-A", A),
    ("consents", "cancer_type=PRAD", B),
    ("consents", "project=demo", BOTH),
    ("consents", "given_on_after=2021-06-05", B),
    ("consents", "given_on_before=2020-01-14", NONE),
    ("consents", "is_withdrawn=true", B),
    ("consents", "is_withdrawn=false", A),
    ("consents", "allows_sharing=true", A),
    ("consents", "allows_imaging=false", NONE),
    ("treatments", "kind=chemotherapy", A),
    ("treatments", "kind=surgery", NONE),
    ("treatments", "agent=ENZA", B),
    ("treatments", "line=2", B),
    ("treatments", "started_on_after=2020-01-01&started_on_before=2020-12-31", A),
    ("treatments", "patient=PT-B", B),
    ("clinical-events", "kind=response", A),
    ("clinical-events", "recist=PD", B),
    ("clinical-events", "recist=CR", NONE),
    ("clinical-events", "occurred_on_after=2021-01-01", B),
    ("clinical-events", "patient=PT-A&occurred_on_after=2021-01-01", NONE),
    # Imaging studies, with series conditions met by one series:
    ("imaging-studies", "study_date_after=2020-01-20&study_date_before=2020-01-20", A),
    ("imaging-studies", "study_date_before=2019-12-31", NONE),
    ("imaging-studies", "patient=PT-B", B),
    ("imaging-studies", "cancer_type=LUAD", A),
    ("imaging-studies", "cancer_type=NSCLC", A),
    ("imaging-studies", "modality=ct", A),
    ("imaging-studies", "modality=PT", UNKNOWN),
    ("imaging-studies", "manufacturer=siemens", A),
    ("imaging-studies", "modality=MR&manufacturer=SIEMENS", NONE),
    ("imaging-studies", "manufacturer_model_name=discovery mr750", B),
    ("imaging-studies", "convolution_kernel=B31F", A),
    ("imaging-studies", "convolution_kernel=B70f", NONE),
    ("imaging-studies", "slice_thickness_mm_min=0.5&slice_thickness_mm_max=1.5", A),
    ("imaging-studies", "slice_thickness_mm_min=2", B),
    ("imaging-studies", "kvp_min=100", A),
    ("imaging-studies", "kvp_min=140", NONE),
    ("imaging-studies", "ctdi_vol_mgy_min=8", A),
    ("imaging-studies", "injected_activity_mbq_min=300", A),
    ("imaging-studies", "uptake_time_min_max=75", A),
    ("imaging-studies", "magnetic_field_strength_t_min=1.5", B),
    ("imaging-studies", "feature=original_firstorder_Mean", A),
    ("imaging-studies", "feature=wavelet-LLH_firstorder_Mean&feature_min=45", B),
    # An IBSI code means the feature computed on the original image:
    ("imaging-studies", "feature=q4le&feature_min=40", A),
    ("imaging-studies", "feature=Q4LE&feature_max=40", NONE),
    ("imaging-studies", "feature=ACUI", UNKNOWN),
    # Series:
    ("image-series", "modality=CT", A),
    ("image-series", "manufacturer=ge medical systems", B),
    ("image-series", "manufacturer=Philips", NONE),
    ("image-series", "manufacturer_model_name=SOMATOM Definition", A),
    ("image-series", "convolution_kernel=b31f", A),
    ("image-series", "slice_thickness_mm_max=1.0", A),
    ("image-series", "slice_thickness_mm_max=0.9", NONE),
    ("image-series", "kvp_max=130", A),
    ("image-series", "ctdi_vol_mgy_min=8&ctdi_vol_mgy_max=9", A),
    ("image-series", "ctdi_vol_mgy_max=5", NONE),
    ("image-series", "injected_activity_mbq_min=300", A),
    ("image-series", "injected_activity_mbq_max=100", NONE),
    ("image-series", "uptake_time_min_min=45&uptake_time_min_max=75", A),
    ("image-series", "uptake_time_min_max=30", NONE),
    ("image-series", "magnetic_field_strength_t_max=1.5", NONE),
    ("image-series", "series_date_after=2021-01-01", B),
    ("image-series", "study_date_before=2020-12-31", A),
    ("image-series", "study={b.study}", B),
    ("image-series", "patient=PT-A", A),
    # Segmentations and extractions:
    ("segmentations", "roi_name=gtv-1", A),
    ("segmentations", "roi_name=GTV-2", NONE),
    ("segmentations", "roi_type=ORGAN", B),
    ("segmentations", "source_kind=RTSTRUCT", A),
    ("segmentations", "method=automatic", B),
    ("segmentations", "study={a.study}", A),
    ("segmentations", "series={b.series}", B),
    ("segmentations", "patient=PT-B", B),
    ("feature-extractions", "software=pyradiomics", A),
    ("feature-extractions", "software=other", UNKNOWN),
    ("feature-extractions", "status=failed", B),
    ("feature-extractions", "preset=ct-default", A),
    ("feature-extractions", "study={a.study}", A),
    ("feature-extractions", "series={b.series}", B),
    ("feature-extractions", "segmentation={a.segmentation}", A),
    ("feature-extractions", "finished_at_after=2020-02-01T11:00:00Z", A),
    ("feature-extractions", "finished_at_after=2020-02-01T13:00:00Z", NONE),
    ("feature-extractions", "created_at_after=2000-01-01T00:00:00Z", BOTH),
    ("feature-extractions", "created_at_before=2000-01-01T00:00:00Z", NONE),
    # Feature definitions, robustness and values:
    ("feature-definitions", "name=original_firstorder_Mean", {"mean"}),
    ("feature-definitions", "ibsi_code=Q4LE", {"mean", "wavelet"}),
    ("feature-definitions", "ibsi_code=ACUI", UNKNOWN),
    ("feature-definitions", "image_filter=wavelet-LLH", {"wavelet"}),
    ("feature-definitions", "family=glcm", UNKNOWN),
    ("feature-definitions", "ibsi_conformant=true", {"mean"}),
    ("feature-definitions", "feature_name=Mean", {"mean", "wavelet"}),
    ("feature-robustness", "is_robust=true", {"mean"}),
    ("feature-robustness", "feature=Q4LE", {"mean"}),
    ("feature-robustness", "feature=wavelet-LLH_firstorder_Mean", {"wavelet"}),
    ("feature-robustness", "design=readers&form=ICC(3,1)", NONE),
    ("feature-values", "feature=original_firstorder_Mean", A),
    ("feature-values", "feature=Q4LE", A),
    ("feature-values", "feature=ACUI", UNKNOWN),
    ("feature-values", "feature=Q4LE&value_min=43", NONE),
    ("feature-values", "value_min=0&value_max=45", A),
    ("feature-values", "value_min=45", B),
    ("feature-values", "family=firstorder", BOTH),
    ("feature-values", "family=glcm", UNKNOWN),
    ("feature-values", "robust=readers", A),
    ("feature-values", "robust=test-retest", NONE),
    ("feature-values", "software=mirp", B),
    ("feature-values", "study={a.study}", A),
    ("feature-values", "segmentation={b.segmentation}", B),
    ("feature-values", "extraction={a.extraction}", A),
    ("feature-values", "patient=PT-B", B),
    ("feature-values", "cancer_type=COAD", NONE),
    # Signatures and their scores:
    ("signatures", "name=mean score", {"signature"}),
    ("signatures", "name=other", UNKNOWN),
    ("signature-scores", "signature=mean score", BOTH),
    ("signature-scores", "signature=other", UNKNOWN),
    ("signature-scores", "label=high risk", A),
    ("signature-scores", "label=low risk", B),
    ("signature-scores", "score_min=0", A),
    ("signature-scores", "score_max=-20", NONE),
    ("signature-scores", "study={b.study}", B),
    ("signature-scores", "extraction={a.extraction}", A),
    ("signature-scores", "patient=PT-A", A),
    ("signature-scores", "computed_at_after=2000-01-01T00:00:00Z", BOTH),
    ("signature-scores", "computed_at_before=2000-01-01T00:00:00Z", NONE),
    # Blood samples and what was measured in them:
    (
        "blood-samples",
        "drawn_at_after=2020-01-22T08:00:00Z&drawn_at_before=2020-01-22T10:00:00Z",
        A,
    ),
    ("blood-samples", "drawn_at_after=2021-06-12T14:00:01Z", NONE),
    ("blood-samples", "drawn_on_after=2021-01-01", B),
    ("blood-samples", "timepoint=Baseline", A),
    ("blood-samples", "tube_type=Streck", B),
    ("blood-samples", "tube_type=EDTA", NONE),
    ("blood-samples", "is_time_known=false", NONE),
    ("blood-samples", "patient=PT-A", A),
    ("ctc-counts", "count_min=5", A),
    ("ctc-counts", "count_min=13", NONE),
    ("ctc-counts", "count_per_7_5ml_max=5", B),
    ("ctc-counts", "platform=Parsortix", B),
    ("ctc-counts", "enrichment=epcam-immunomagnetic", A),
    ("ctc-counts", "drawn_on_before=2020-12-31", A),
    ("ctc-counts", "drawn_at_after=2021-06-12T13:00:00Z", B),
    ("ctc-counts", "sample={a.sample}", A),
    ("ctc-counts", "patient=PT-B&count_min=5", NONE),
    ("cfdna-assays", "method=ddPCR", A),
    ("cfdna-assays", "method=WGS", NONE),
    ("cfdna-assays", "panel=lung-50", B),
    ("cfdna-assays", "cfdna_ng_per_ml_min=10", A),
    ("cfdna-assays", "tumour_fraction_max=0.05", B),
    ("cfdna-assays", "tumour_fraction_min=0.5", NONE),
    ("cfdna-assays", "drawn_on_after=2021-01-01", B),
    ("cfdna-assays", "project=demo&cancer_type=LUAD", A),
    ("rna-results", "transcript=ar-v7", A),
    ("rna-results", "transcript=PSA", NONE),
    ("rna-results", "source=plasma", B),
    ("rna-results", "call=detected", A),
    ("rna-results", "call=Not%20Detected", B),
    ("rna-results", "method=AdnaTest", A),
    ("rna-results", "value_min=1", A),
    ("rna-results", "value_max=0.1", NONE),
    ("rna-results", "drawn_on_before=2020-12-31", A),
    ("rna-results", "sample={b.sample}", B),
    # Variants: any HGVS spelling, fusions with their partner order:
    ("variants", "gene=EGFR", {"a"}),
    ("variants", "gene=egfr&variant=p.Thr790Met", {"a"}),
    ("variants", "gene=EGFR&variant=T790M", {"a"}),
    ("variants", "gene=EGFR&variant=p.(Thr790Met)", {"a"}),
    ("variants", "variant=p.T790M", {"a"}),
    ("variants", "gene=KRAS&variant=T790M", NONE),
    # Digits of any script, read as ASCII as the change is stored:
    ("variants", "variant=p.T٧٩٠M", {"a"}),
    ("variants", "gene=EGFR&variant=p.Thr７９０Met", {"a"}),
    ("variants", "gene=KRAS&variant=Gly12Asp", {"b"}),
    ("variants", "gene=BRAF", UNKNOWN),
    ("variants", "variant=EML4::ALK", {"fusion"}),
    ("variants", "variant=EML4-ALK fusion", {"fusion"}),
    ("variants", "variant=ALK::EML4", NONE),
    ("variants", "variant=eml4::alk", {"fusion"}),
    ("variants", "variant=EML4-alk fusion", {"fusion"}),
    ("variants", "variant=eml4-alk", {"fusion"}),
    ("variants", "variant=alk::eml4", NONE),
    ("variants", "call=detected", {"a", "fusion"}),
    ("variants", "call=detected&call=below-lod", {"a", "b", "fusion"}),
    ("variants", "call=failed", NONE),
    # A call in any spelling writes take (validation.CALL_WORDS):
    ("variants", "call=below%20LOD", {"b"}),
    ("variants", "call=%3CLOD&call=Positive", {"a", "b", "fusion"}),
    ("variants", "vaf_min=0.1", {"a"}),
    ("variants", "vaf_max=0.01", {"b"}),
    ("variants", "vaf_min=0.5", NONE),
    ("variants", "variant_type=fusion", {"fusion"}),
    ("variants", "is_germline=true", NONE),
    ("variants", "drawn_on_after=2021-01-01", {"b"}),
    ("variants", "drawn_at_before=2020-01-01T00:00:00Z", NONE),
    ("variants", "sample={a.sample}", {"a", "fusion"}),
    ("variants", "assay={b.assay}", {"b"}),
    ("variants", "patient=PT-A&cancer_type=LUAD", {"a", "fusion"}),
]

CASES += [
    ("consents", "allows_imaging=true&allows_genomics=true", BOTH),
    ("consents", "allows_genomics=false", NONE),
    ("treatments", "cancer_type=LUAD", A),
    ("clinical-events", "patient=PT-B", B),
    ("clinical-events", "cancer_type=PRAD", B),
    ("imaging-studies", "date_source=StudyDate", A),
    ("imaging-studies", "body_part=PROSTATE", B),
    ("imaging-studies", "feature=original_firstorder_Mean&feature_max=42", A),
    ("image-series", "contrast_agent=Omnipaque", A),
    ("image-series", "mr_sequence=SE", B),
    ("image-series", "magnetic_field_strength_t_min=1.5", B),
    ("image-series", "cancer_type=PRAD", B),
    ("segmentations", "reader=reader-1", A),
    ("segmentations", "cancer_type=LUAD", A),
    ("feature-extractions", "software_version=3.1.0", A),
    ("feature-extractions", "patient=PT-B", B),
    ("feature-extractions", "cancer_type=LUAD", A),
    ("feature-definitions", "family=firstorder", {"mean", "wavelet"}),
    ("feature-definitions", "feature_name=Contrast", UNKNOWN),
    ("feature-robustness", "design=readers", {"mean"}),
    ("feature-robustness", "form=ICC(3,1)", {"wavelet"}),
    ("feature-robustness", "selection=pyradiomics ct-default", {"mean"}),
    ("feature-values", "cancer_type=LUAD", A),
    ("signature-scores", "cancer_type=PRAD", B),
    ("blood-samples", "is_time_known=true", BOTH),
    ("blood-samples", "cancer_type=PRAD", B),
    ("ctc-counts", "patient=PT-A", A),
    ("ctc-counts", "cancer_type=PRAD", B),
    ("cfdna-assays", "sample={a.sample}", A),
    ("cfdna-assays", "patient=PT-B", B),
    ("cfdna-assays", "drawn_at_after=2021-06-12T13:00:00Z", B),
    ("variants", "is_clonal_haematopoiesis=true", {"b"}),
    ("variants", "is_seen_in_ctc=true", {"a"}),
    ("variants", "is_germline=false", {"a", "b", "fusion"}),
    ("variants", "drawn_at_after=2021-01-01T00:00:00Z", {"b"}),
    ("rna-results", "patient=PT-A", A),
    ("rna-results", "cancer_type=PRAD", B),
    ("rna-results", "drawn_at_after=2021-01-01T00:00:00Z", B),
]
# Every patient record by the patient's id, as its rows give it under `patient`:
CASES += [
    (
        endpoint,
        f"patient_id={{{side}.patient}}",
        {side, "fusion"} if (endpoint, side) == ("variants", "a") else {side},
    )
    for endpoint in [*SIDE_ATTRIBUTE, "variants"]
    if endpoint != "patients"
    for side in ("a", "b")
]
# Every patient record is in project "demo"; none is in "other":
CASES += [
    (
        endpoint,
        f"project={code}",
        set(UNIVERSE[endpoint]) if code.lower() == "demo" else UNKNOWN,
    )
    for endpoint in UNIVERSE
    if endpoint not in ("projects", "patients")
    and endpoint in SIDE_ATTRIBUTE | {"variants": ""}
    for code in ("demo", "Demo", "other")
]


def expand(query: str, biobank: Biobank) -> str:
    for side in ("a", "b"):
        for attribute in (
            "patient",
            "study",
            "series",
            "segmentation",
            "extraction",
            "sample",
        ):
            record = getattr(getattr(biobank, side), attribute)
            query = query.replace(f"{{{side}.{attribute}}}", str(record.pk))
        query = query.replace(f"{{{side}.assay}}", str(getattr(biobank, side).assay.pk))
    return query


FOUND = [case for case in CASES if case[2] is not UNKNOWN]
REFUSED = [(endpoint, query) for endpoint, query, found in CASES if found is UNKNOWN]


@pytest.mark.parametrize(
    ("endpoint", "query", "expected"),
    FOUND,
    ids=[f"{endpoint}?{query}" for endpoint, query, _ in FOUND],
)
def test_filter_returns_exactly_the_matching_records(
    endpoint, query, expected, calendar_api, biobank
):
    universe = UNIVERSE[endpoint]

    rows = results(calendar_api.get(f"/api/{endpoint}/?{expand(query, biobank)}"))

    ids = {universe[name](biobank).pk for name in expected}
    assert {row["id"] for row in rows} == ids


@pytest.mark.parametrize(
    ("endpoint", "query"), REFUSED, ids=[f"{e}?{query}" for e, query in REFUSED]
)
def test_a_name_nothing_stored_has_is_a_400_naming_parameter_and_value(
    endpoint, query, api, biobank
):
    parameter, value = query.split("=")

    response = api.get(f"/api/{endpoint}/?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [parameter]
    assert f" {value}." in response.json()[parameter][0]


def test_every_declared_filter_has_an_including_and_an_excluding_case():
    from biobank.api.urls import router

    missing = []
    for prefix, viewset, _ in router.registry:
        if prefix == "cohort-pairs":
            continue  # its filters are the cohort form's (tests/api/test_cohorts.py)
        # A refused unknown name returns nothing, as an excluding case does:
        cases = [(query, found or NONE) for e, query, found in CASES if e == prefix]
        everything = set(UNIVERSE[prefix])
        for name in viewset.filterset_class.base_filters:
            used = [
                expected
                for query, expected in cases
                if any(
                    part.split("=")[0] in (name, f"{name}_min", f"{name}_max")
                    or part.split("=")[0] in (f"{name}_after", f"{name}_before")
                    for part in query.split("&")
                )
            ]
            # A bound such as feature_min goes with the feature it bounds:
            if name.endswith(("_min", "_max")) and name.rsplit("_", 1)[0] in (
                viewset.filterset_class.base_filters
            ):
                used = [e for q, e in cases if name in q]
            if not any(e != everything for e in used) or not any(e for e in used):
                missing.append(f"{prefix}?{name}")

    assert missing == [], "\n".join(missing)


@pytest.mark.parametrize("endpoint", ["consents", "image-series", "variants"])
def test_a_patient_filter_finds_the_patient_a_row_names(endpoint, api, biobank):
    row = results(api.get(f"/api/{endpoint}/", {"patient": "PT-B"}))[0]

    by_id = results(api.get(f"/api/{endpoint}/", {"patient_id": row["patient"]}))
    by_pseudonym = results(
        api.get(f"/api/{endpoint}/", {"patient": row["patient_pseudonym"]})
    )

    assert row["patient"] == biobank.b.patient.pk
    assert by_id == by_pseudonym
    assert {found["patient"] for found in by_id} == {biobank.b.patient.pk}


def test_a_patient_id_given_as_pseudonym_is_a_400_pointing_to_patient_id(api, biobank):
    patient = biobank.a.patient.pk

    response = api.get("/api/blood-samples/", {"patient": str(patient)})

    assert response.status_code == 400
    assert response.json() == {
        "patient": [
            f"No patient you may read has the pseudonym {patient}; patient takes a "
            "pseudonym (a row's patient_pseudonym). To filter by the patient id a "
            f"row gives as patient, use patient_id={patient}."
        ]
    }


def test_a_pseudonym_of_digits_alone_is_still_a_pseudonym(api, biobank):
    """The admin's add form takes a pseudonym as typed; 4711 may be one."""
    Patient.objects.filter(pk=biobank.b.patient.pk).update(pseudonym="4711")

    rows = results(api.get("/api/blood-samples/", {"patient": "4711"}))

    assert [row["id"] for row in rows] == [biobank.b.sample.pk]


@pytest.mark.parametrize("value", ["PT-A", "0", "1.5", "99999999999999999999"])
def test_a_patient_id_that_is_no_id_is_a_400_naming_patient_id(value, api, biobank):
    response = api.get("/api/blood-samples/", {"patient_id": value})

    assert response.status_code == 400
    assert list(response.json()) == ["patient_id"]


def test_misspelt_protein_change_is_a_400_naming_the_field(api, biobank):
    # Letter O typed for a zero:
    response = api.get("/api/variants/?gene=EGFR&variant=p.Thr79OMet")

    assert response.status_code == 400
    assert "p.Thr79OMet" in response.json()["variant"][0]


def test_a_fusion_partner_of_no_hgnc_shape_is_a_400_naming_the_field(api, biobank):
    response = api.get("/api/variants/?variant=KRAS G12D::ALK")

    assert response.status_code == 400
    [message] = response.json()["variant"]
    assert "'KRAS G12D', which is not an HGNC gene symbol" in message


def test_bad_range_bound_is_a_400(api, biobank):
    response = api.get("/api/ctc-counts/?count_min=many")

    assert response.status_code == 400
    assert list(response.json()) == ["count_min"]


def test_unknown_choice_is_a_400(api, biobank):
    response = api.get("/api/variants/?call=maybe")

    assert response.status_code == 400
    assert "call" in response.json()


@pytest.mark.parametrize("endpoint", ["variants", "rna-results"])
def test_a_call_filter_takes_every_spelling_writes_take(endpoint, api, biobank):
    """A call written "below LOD" is found by ?call=below LOD, and so on."""
    found = {}
    for word, call in CALL_WORDS.items():
        canonical = results(api.get(f"/api/{endpoint}/", {"call": call}))
        spelt = results(api.get(f"/api/{endpoint}/", {"call": f" {word.upper()} "}))
        found[word] = [row["id"] for row in spelt] == [row["id"] for row in canonical]
    assert all(found.values()), found


def test_an_unknown_call_names_the_choices(api, biobank):
    response = api.get("/api/variants/", {"call": ["detected", "maybe"]})

    assert response.status_code == 400
    (message,) = response.json()["call"]
    assert message.startswith("maybe is not one of the choices: detected (Detected)")


@pytest.mark.parametrize(
    ("endpoint", "ordering", "first"),
    [
        ("imaging-studies", "study_date", "a"),
        ("imaging-studies", "-study_date", "b"),
        ("blood-samples", "-drawn_at", "b"),
        ("ctc-counts", "-count", "a"),
        ("ctc-counts", "count", "b"),
        ("patients", "-diagnosis_on", "b"),
        ("feature-values", "-id", "b"),
    ],
)
def test_ordering_puts_the_expected_record_first(
    endpoint, ordering, first, calendar_api, biobank
):
    rows = results(calendar_api.get(f"/api/{endpoint}/?ordering={ordering}"))

    assert rows[0]["id"] == UNIVERSE[endpoint][first](biobank).pk
