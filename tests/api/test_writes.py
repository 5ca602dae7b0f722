"""Curators write through the API: the importers' rules and messages, permissions, history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import IntegrityError
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from biobank.api import serializers as api_serializers
from biobank.core.importing import ImportRejected, Problem
from liquidbiopsy.importers.cfdna import import_cfdna
from liquidbiopsy.importers.ctc import import_ctc
from liquidbiopsy.models import (
    LOD_OUT_OF_RANGE,
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.importers.clinical import EVENTS, TREATMENTS, import_clinical
from patients.models import (
    ClinicalEvent,
    Consent,
    DataIssue,
    Patient,
    Project,
    Treatment,
)
from patients.services import find_patient, is_checked_pseudonym, pseudonymise
from tests.conftest import grant


def tomorrow() -> dt.date:
    # Read at each use, not at import, so a run that crosses midnight stays right:
    return timezone.localdate() + dt.timedelta(days=1)


@pytest.fixture
def curator_api(curator) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=curator).key}"
    )
    return client


def errors_of(response) -> dict[str, list[str]]:
    assert response.status_code == 400, (response.status_code, response.content[:500])
    return response.json()


def created(response) -> dict:
    assert response.status_code == 201, response.content[:800]
    return response.json()


def changed(response) -> dict:
    assert response.status_code == 200, response.content[:800]
    return response.json()


def importer_message(call, field: str) -> str:
    """Return the message an importer gives for `field` when it rejects the file."""
    problems = _problems(call)
    return next(p.message for p in problems if p.field == field)


def _problems(call) -> list[Problem]:
    try:
        report = call()
    except ImportRejected as exc:
        return exc.problems
    return report.rejected


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "table.csv"
    path.write_text(text, encoding="utf-8")
    return path


# Valid creates and updates, read back from the database:


def test_curator_creates_a_patient_from_a_source_identifier(curator_api, biobank):
    response = curator_api.post(
        "/api/patients/",
        {
            "project": "demo",
            "source_id": "HOSP-123",
            "sex": "female",
            "birth_year": 1961,
            "cancer_type": "luad",
            "diagnosis_on": "2021-03-04",
            "age_at_diagnosis_years": "59.12345",
            "stage": "IIB",
        },
        format="json",
    )

    data = created(response)
    patient = Patient.objects.get(pk=data["id"])
    assert patient == find_patient(patient.project, "HOSP-123")
    assert patient.pseudonym == data["pseudonym"]
    assert is_checked_pseudonym(patient.pseudonym)
    assert (patient.sex, patient.birth_year, patient.cancer_type) == ("F", 1961, "LUAD")
    assert patient.diagnosis_on == dt.date(2021, 3, 4)
    assert patient.age_at_diagnosis_years == Decimal("59.123")
    assert "source_id" not in data and "HOSP-123" not in response.content.decode()


def test_curator_changes_a_patient_found_by_pseudonym(curator_api, biobank):
    response = curator_api.patch(
        "/api/patients/PT-A/", {"stage": "IV", "is_deceased": True}, format="json"
    )

    assert changed(response)["stage"] == "IV"
    biobank.a.patient.refresh_from_db()
    assert (biobank.a.patient.stage, biobank.a.patient.is_deceased) == ("IV", True)
    assert biobank.a.patient.birth_year == 1950


def test_a_misspelt_field_is_refused_instead_of_dropped(curator_api, biobank):
    # DRF would store the change without the value the caller meant to give:
    before = (biobank.a.patient.stage, biobank.a.patient.birth_year)
    response = curator_api.patch(
        "/api/patients/PT-A/", {"stage": "IV", "birth_yaer": 1960}, format="json"
    )

    assert errors_of(response) == {"birth_yaer": ["Unknown field; check its spelling."]}
    biobank.a.patient.refresh_from_db()
    assert (biobank.a.patient.stage, biobank.a.patient.birth_year) == before


def test_read_only_fields_sent_back_from_a_read_are_ignored(curator_api, biobank):
    record = curator_api.get("/api/patients/PT-A/").json()

    response = curator_api.put(
        "/api/patients/PT-A/", {**record, "stage": "IV"}, format="json"
    )

    assert changed(response)["stage"] == "IV"


def test_a_patient_keeps_its_project_and_source_identifier(curator_api, biobank):
    response = curator_api.patch(
        f"/api/patients/{biobank.a.patient.pk}/",
        {"source_id": "OTHER"},
        format="json",
    )

    assert "source_id" in errors_of(response)


def test_curator_creates_and_changes_a_consent(curator_api, biobank):
    patient = biobank.a.patient

    data = created(
        curator_api.post(
            "/api/consents/",
            {"patient": patient.pk, "given_on": "2021-01-02", "allows_sharing": True},
            format="json",
        )
    )
    changed(
        curator_api.patch(
            f"/api/consents/{data['id']}/",
            {"withdrawn_on": "2022-05-06"},
            format="json",
        )
    )

    consent = Consent.objects.get(pk=data["id"])
    assert (consent.patient, consent.given_on) == (patient, dt.date(2021, 1, 2))
    assert consent.withdrawn_on == dt.date(2022, 5, 6)
    assert consent.allows_sharing is True


def test_curator_creates_and_changes_a_treatment(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/treatments/",
            {
                "patient": biobank.b.patient.pk,
                "kind": "Immunotherapy",
                "agent": "pembrolizumab",
                "line": 3,
                "started_on": "2022-02-01",
            },
            format="json",
        )
    )
    changed(
        curator_api.put(
            f"/api/treatments/{data['id']}/",
            {
                "patient": biobank.b.patient.pk,
                "kind": "immunotherapy",
                "agent": "pembrolizumab",
                "line": 3,
                "started_on": "2022-02-01",
                "ended_on": "2022-08-01",
            },
            format="json",
        )
    )

    treatment = Treatment.objects.get(pk=data["id"])
    assert (treatment.kind, treatment.line) == ("immunotherapy", 3)
    assert treatment.ended_on == dt.date(2022, 8, 1)


def test_a_treatment_repeated_is_refused_naming_the_stored_one(curator_api, biobank):
    """PT-A's chemotherapy of carboplatin from 2020-02-01 is the one stored."""
    stored = biobank.a.treatment
    given = {
        "patient": stored.patient_id,
        "kind": "chemotherapy",
        "agent": "carboplatin",
        "started_on": "2020-02-01",
    }

    again = curator_api.post("/api/treatments/", given, format="json")
    capitals = curator_api.post(
        "/api/treatments/", given | {"agent": "CARBOPLATIN"}, format="json"
    )

    assert errors_of(again) == {
        "started_on": [
            f"is already stored: treatment {stored.pk} has the same patient, kind, "
            "agent, started_on; change that record instead."
        ]
    }
    (message,) = errors_of(capitals)["agent"]
    assert message.startswith('is already stored as "carboplatin"')
    assert Treatment.objects.filter(patient=stored.patient_id).count() == 1


def test_curator_creates_and_changes_a_clinical_event(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/clinical-events/",
            {
                "patient": biobank.a.patient.pk,
                "kind": "response",
                "recist": "sd",
                "occurred_on": "2020-08-01",
            },
            format="json",
        )
    )
    changed(
        curator_api.patch(
            f"/api/clinical-events/{data['id']}/", {"note": "CT review"}, format="json"
        )
    )

    event = ClinicalEvent.objects.get(pk=data["id"])
    assert (event.kind, event.recist, event.note) == ("response", "SD", "CT review")


def test_curator_creates_and_changes_a_blood_sample(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/blood-samples/",
            {
                "patient": biobank.a.patient.pk,
                "drawn_at": "2020-06-01T10:30:00+02:00",
                "timepoint": "C3D1",
                "plasma_volume_ml": 4.0,
            },
            format="json",
        )
    )
    changed(
        curator_api.patch(
            f"/api/blood-samples/{data['id']}/",
            {"hours_to_processing": 2.5},
            format="json",
        )
    )

    sample = BloodSample.objects.get(pk=data["id"])
    assert sample.drawn_at == dt.datetime(2020, 6, 1, 8, 30, tzinfo=dt.UTC)
    assert (sample.timepoint, sample.plasma_volume_ml) == ("C3D1", 4.0)
    assert sample.hours_to_processing == 2.5


PLASMA_VOLUME_RANGE = (
    "Plasma volume must be above 0 mL and at most 100 mL, more than any draw gives; "
    "give the volume of plasma in mL."
)
PROCESSING_TIME_RANGE = (
    "Hours to processing must lie between 0 and 336 (14 days), longer than any cfDNA "
    "tube keeps a draw; give the hours from the draw to the separation of plasma."
)


@pytest.mark.parametrize(
    ("field", "number", "message"),
    [
        *(("plasma_volume_ml", ml, PLASMA_VOLUME_RANGE) for ml in (0, 100.5, 4000)),
        *(
            ("hours_to_processing", hours, PROCESSING_TIME_RANGE)
            for hours in (-1, 336.5, 1440)
        ),
    ],
)
def test_a_draws_number_out_of_range_is_refused_under_its_field(
    curator_api, biobank, field, number, message
):
    sample = biobank.a.sample

    response = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/", {field: number}, format="json"
    )

    assert errors_of(response) == {field: [message]}
    stored = BloodSample.objects.filter(pk=sample.pk).values_list(field, flat=True)
    assert stored.get() == getattr(sample, field)


def test_a_draw_without_its_time_is_stored_at_midnight(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/blood-samples/",
            {
                "patient": biobank.a.patient.pk,
                "drawn_at": "2020-06-02T15:00:00",
                "is_time_known": False,
            },
            format="json",
        )
    )

    sample = BloodSample.objects.get(pk=data["id"])
    assert timezone.localtime(sample.drawn_at).time() == dt.time(0, 0)
    assert sample.drawn_on == dt.date(2020, 6, 2)


def test_marking_a_timed_draws_time_unknown_alone_is_refused_naming_the_time(
    curator_api, biobank
):
    """PATCH is_time_known: false dropped the stored 09:00 of the draw silently."""
    sample = biobank.a.sample
    stored = sample.drawn_at

    response = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/", {"is_time_known": False}, format="json"
    )

    (message,) = errors_of(response)["is_time_known"]
    local = timezone.localtime(stored)
    assert f"would drop the time of day stored for this draw ({local:%H:%M}" in message
    assert f'"drawn_at": "{local:%Y-%m-%d}", "is_time_known": false' in message
    sample.refresh_from_db()
    assert (sample.drawn_at, sample.is_time_known) == (stored, True)


def test_a_draws_time_is_dropped_when_the_day_is_given_with_it(curator_api, biobank):
    sample = biobank.a.sample
    stored, day = sample.drawn_at, timezone.localdate(sample.drawn_at)

    changed(
        curator_api.patch(
            f"/api/blood-samples/{sample.pk}/",
            {"drawn_at": day.isoformat(), "is_time_known": False},
            format="json",
        )
    )

    sample.refresh_from_db()
    assert not sample.is_time_known
    assert timezone.localtime(sample.drawn_at).time() == dt.time(0, 0)
    assert sample.drawn_on == day
    # The time dropped on purpose stays in the draw's history:
    previous = sample.history.order_by("-history_date")[1]
    assert previous.drawn_at == stored


def test_another_change_keeps_a_time_stored_on_a_draw_of_unknown_time(
    curator_api, biobank
):
    """A PATCH of the timepoint moved such a draw (made in the admin before) to 00:00."""
    sample = biobank.a.sample
    BloodSample.objects.filter(pk=sample.pk).update(is_time_known=False)

    changed(
        curator_api.patch(
            f"/api/blood-samples/{sample.pk}/", {"timepoint": "C2D1"}, format="json"
        )
    )

    stored = sample.drawn_at
    sample.refresh_from_db()
    assert (sample.drawn_at, sample.timepoint) == (stored, "C2D1")


def test_marking_a_day_only_draws_time_known_alone_is_refused(curator_api, biobank):
    """Its stored 00:00 is no time of day: it would be read as the draw's time."""
    sample = biobank.a.sample
    day = timezone.localdate(sample.drawn_at)
    curator_api.patch(
        f"/api/blood-samples/{sample.pk}/",
        {"drawn_at": day.isoformat(), "is_time_known": False},
        format="json",
    )

    refused = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/", {"is_time_known": True}, format="json"
    )
    timed = curator_api.patch(
        f"/api/blood-samples/{sample.pk}/",
        {"is_time_known": True, "drawn_at": f"{day}T10:15:00Z"},
        format="json",
    )

    (message,) = errors_of(refused)["is_time_known"]
    assert "give drawn_at with the time of day" in message
    assert changed(timed)["drawn_at"] == f"{day}T10:15:00Z"


@pytest.mark.parametrize(
    ("endpoint", "side", "field", "day"),
    [
        ("patients", "patient", "diagnosis_on", "0001-01-01"),
        ("consents", "consent", "given_on", "1879-12-31"),
        ("consents", "consent", "withdrawn_on", "0001-01-01"),
        ("treatments", "treatment", "started_on", "0001-01-01"),
        ("treatments", "treatment", "ended_on", "0001-01-01"),
        ("clinical-events", "event", "occurred_on", "0001-01-01"),
        ("blood-samples", "sample", "drawn_at", "0001-01-02T12:00:00Z"),
    ],
)
def test_every_date_a_curator_writes_is_refused_before_1880_as_in_the_admin(
    curator_api, biobank, endpoint, side, field, day
):
    """The admin's rule (tests/test_admin.py), with the same message."""
    record = getattr(biobank.a, side)

    response = curator_api.patch(
        f"/api/{endpoint}/{record.pk}/", {field: day}, format="json"
    )

    assert errors_of(response)[field] == [
        "lies before 1880-01-01, the earliest date the biobank accepts."
    ]


def test_a_draw_without_a_zone_is_refused_as_the_filters_refuse_it(
    curator_api, biobank
):
    response = curator_api.post(
        "/api/blood-samples/",
        {"patient": biobank.a.patient.pk, "drawn_at": "2004-02-02T09:00:00"},
        format="json",
    )

    assert errors_of(response) == {
        "drawn_at": [
            "This moment has no zone; add one, e.g. 2004-02-02T09:00:00Z for UTC or "
            "2004-02-02T09:00:00+01:00 (or give is_time_known: false for a day alone)."
        ]
    }
    assert not BloodSample.objects.filter(drawn_at__year=2004).exists()


def test_curator_creates_and_changes_a_ctc_count(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/ctc-counts/",
            {
                "sample": biobank.a.sample.pk,
                "platform": "Parsortix",
                "enrichment": "Size / filtration",
                "blood_volume_ml": 10.0,
                "count": 4,
            },
            format="json",
        )
    )
    changed(
        curator_api.patch(f"/api/ctc-counts/{data['id']}/", {"count": 8}, format="json")
    )

    count = CTCCount.objects.get(pk=data["id"])
    assert (count.enrichment, count.count) == ("size-filtration", 8)
    assert count.count_per_7_5ml == pytest.approx(6.0)


@pytest.mark.parametrize("second", ["cellsearch", "CELLSEARCH ", "Cell Search"])
def test_a_count_on_the_same_platform_in_another_case_is_a_duplicate(
    curator_api, project, second
):
    sample = BloodSample.objects.create(
        patient=pseudonymise(project, "P-CTC")[0],
        drawn_at=dt.datetime(2021, 3, 1, 9, tzinfo=dt.UTC),
    )
    first = created(
        curator_api.post(
            "/api/ctc-counts/",
            {"sample": sample.pk, "platform": "cellSearch", "count": 7},
            format="json",
        )
    )

    response = curator_api.post(
        "/api/ctc-counts/",
        {"sample": sample.pk, "platform": second, "count": 3},
        format="json",
    )

    assert first["platform"] == "CellSearch"
    assert list(errors_of(response)) == ["platform"]
    assert f"CTC count {first['id']}" in errors_of(response)["platform"][0]
    assert CTCCount.objects.filter(sample=sample).count() == 1


def test_a_platform_close_to_a_known_one_is_refused_naming_it(curator_api, biobank):
    response = curator_api.post(
        "/api/ctc-counts/",
        {"sample": biobank.a.sample.pk, "platform": "Parsortics", "count": 3},
        format="json",
    )

    (message,) = errors_of(response)["platform"]
    assert "did you mean Parsortix?" in message


def test_curator_creates_and_changes_a_cfdna_assay(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/cfdna-assays/",
            {
                "sample": biobank.a.sample.pk,
                "method": "ngs",
                "panel": "lung-v2",
                "cfdna_ng_per_ml": 8.5,
            },
            format="json",
        )
    )
    changed(
        curator_api.patch(
            f"/api/cfdna-assays/{data['id']}/", {"tumour_fraction": 0.05}, format="json"
        )
    )

    assay = CfDNAAssay.objects.get(pk=data["id"])
    assert (assay.method, assay.panel) == ("targeted-NGS", "lung-v2")
    assert (assay.cfdna_ng_per_ml, assay.tumour_fraction) == (8.5, 0.05)


# Also in Arabic-Indic digits, stored in ASCII for every reader to find:
@pytest.mark.parametrize("written", ["p.(Leu858Arg)", "p.(Leu٨٥٨Arg)"])
def test_a_variant_in_three_letter_hgvs_is_stored_canonical(
    curator_api, biobank, written
):
    data = created(
        curator_api.post(
            "/api/variants/",
            {
                "assay": biobank.a.assay.pk,
                "gene": "EGFR",
                "protein_change": written,
                "alt_reads": 30,
                "depth": 1000,
            },
            format="json",
        )
    )

    variant = VariantResult.objects.get(pk=data["id"])
    assert (variant.protein_change, variant.protein_change_raw) == ("p.L858R", written)
    assert variant.is_protein_change_predicted is True
    assert (variant.variant_type, variant.call) == ("SNV", "detected")
    assert variant.vaf == pytest.approx(0.03)
    assert variant.variant_key == "EGFR:p.L858R"
    # The filter finds it by any spelling:
    for asked in ("L858R", "p.L٨٥٨R"):
        found = curator_api.get("/api/variants/", {"gene": "EGFR", "variant": asked})
        assert data["id"] in [row["id"] for row in found.json()["results"]]


# Also in Arabic-Indic digits and en dashes, stored in ASCII for every reader to find:
@pytest.mark.parametrize("written", ["chr17-7577120-C-T", "chr١٧–٧٥٧٧١٢٠–C–T"])
def test_a_genomic_change_written_as_gnomad_writes_it_is_stored_as_pages_show_it(
    curator_api, biobank, written
):
    data = created(
        curator_api.post(
            "/api/variants/",
            {
                "assay": biobank.a.assay.pk,
                "gene": "TP53",
                "protein_change": "p.R273H",
                "genomic_change": written,
            },
            format="json",
        )
    )

    assert data["genomic_change"] == "17:7577120 C>T"
    variant = VariantResult.objects.get(pk=data["id"])
    assert variant.genomic_change == "17:7577120 C>T"


def test_a_gene_in_another_case_is_stored_as_given_with_its_hgnc_case(
    curator_api, biobank
):
    data = created(
        curator_api.post(
            "/api/variants/",
            {"assay": biobank.a.assay.pk, "gene": "kras", "protein_change": "G12D"},
            format="json",
        )
    )

    assert (data["gene"], data["gene_hgnc"]) == ("kras", "KRAS")
    variant = VariantResult.objects.get(pk=data["id"])
    assert (variant.gene, variant.gene_hgnc) == ("kras", "KRAS")


def test_curator_changes_a_variant_call_and_vaf(curator_api, biobank):
    variant = biobank.a.variant

    changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/",
            {"call": "not detected", "vaf": None},
            format="json",
        )
    )

    variant.refresh_from_db()
    assert (variant.call, variant.vaf) == ("not-detected", None)
    assert variant.protein_change == "p.T790M"


# As the cfDNA importer's test: 50 of 1,000 reads cannot give a VAF of 0.30.
VAF_READS_DISAGREE = (
    "is 0.3, but the reads give 50 of 1000 = 0.05; check the VAF, the reads and the "
    "VAF's unit. The VAF is stored as given."
)


def test_a_vaf_its_reads_cannot_give_is_stored_with_a_data_issue(curator_api, biobank):
    variant = biobank.a.variant
    url = f"/api/variants/{variant.pk}/"
    disagreeing = {"vaf": 0.30, "alt_reads": 50, "depth": 1000}

    changed(curator_api.patch(url, disagreeing, format="json"))
    changed(curator_api.patch(url, disagreeing, format="json"))

    variant.refresh_from_db()
    assert (variant.vaf, variant.alt_reads, variant.depth) == (0.3, 50, 1000)
    (issue,) = DataIssue.objects.filter(record_type="VariantResult")
    assert (issue.record_id, issue.severity, issue.code) == (
        variant.pk,
        "warning",
        "vaf-reads-disagree",
    )
    assert (issue.source_name, issue.field, issue.value) == ("API", "vaf", "0.3")
    assert issue.message == VAF_READS_DISAGREE
    assert (issue.patient, issue.project) == (
        biobank.a.patient,
        biobank.a.patient.project,
    )


def test_a_write_that_fixes_the_vaf_leaves_no_stale_warning(curator_api, biobank):
    variant = biobank.a.variant
    url = f"/api/variants/{variant.pk}/"
    changed(curator_api.patch(url, {"vaf": 0.30, "alt_reads": 50, "depth": 1000}))
    changed(curator_api.patch(url, {"alt_reads": 51}, format="json"))
    issues = DataIssue.objects.filter(record_type="VariantResult", record_id=variant.pk)
    (issue,) = issues.all()  # the warning of the first write went with it
    assert "51 of 1000" in issue.message

    changed(curator_api.patch(url, {"vaf": 0.051}, format="json"))

    assert not issues.all().exists()


def test_a_write_keeps_an_importers_warnings_even_repeated(curator_api, biobank):
    # A cfDNA table imported twice links the same warning to the variant twice; a
    # later write neither fails on them (it looked its own up with get()) nor removes
    # them: they belong to their import runs.
    variant = biobank.a.variant
    for _ in range(2):
        DataIssue.objects.create(
            project=biobank.a.patient.project,
            patient=biobank.a.patient,
            record_type="VariantResult",
            record_id=variant.pk,
            code="vaf-reads-disagree",
            message=VAF_READS_DISAGREE,
            source_name="cfdna.csv",
            severity=DataIssue.Severity.WARNING,
        )

    changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/",
            {"vaf": 0.30, "alt_reads": 50, "depth": 1000},
            format="json",
        )
    )

    sources = DataIssue.objects.filter(record_id=variant.pk).values_list(
        "source_name", flat=True
    )
    assert sorted(sources) == ["API", "cfdna.csv", "cfdna.csv"]


def test_a_vaf_its_reads_give_is_stored_without_a_data_issue(curator_api, biobank):
    variant = biobank.a.variant

    changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/",
            {"vaf": 0.2257, "alt_reads": 380, "depth": 1750},
            format="json",
        )
    )

    assert not DataIssue.objects.filter(record_type="VariantResult").exists()


def test_a_variant_shows_its_dbsnp_id_and_a_write_leaves_it(curator_api, biobank):
    # Only the MAF and VCF importers store one; the API reads it and ignores it in a
    # write, as any read-only field (a whole record sent back with a change):
    variant = biobank.a.variant
    VariantResult.objects.filter(pk=variant.pk).update(dbsnp_id="rs121434569")
    record = curator_api.get(f"/api/variants/{variant.pk}/").json()

    patched = changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/",
            {"dbsnp_id": "rs1", "note": "checked"},
            format="json",
        )
    )
    put = changed(
        curator_api.put(
            f"/api/variants/{variant.pk}/",
            {**record, "dbsnp_id": "", "note": "again"},
            format="json",
        )
    )
    posted = created(
        curator_api.post(
            "/api/variants/",
            {
                "assay": biobank.a.assay.pk,
                "gene": "EGFR",
                "protein_change": "L858R",
                "dbsnp_id": "rs121434568",
            },
            format="json",
        )
    )

    assert record["dbsnp_id"] == "rs121434569"
    assert (patched["dbsnp_id"], patched["note"]) == ("rs121434569", "checked")
    assert (put["dbsnp_id"], put["note"]) == ("rs121434569", "again")
    variant.refresh_from_db()
    assert variant.dbsnp_id == "rs121434569"
    assert posted["dbsnp_id"] == ""
    assert VariantResult.objects.get(pk=posted["id"]).dbsnp_id == ""


def test_a_write_that_makes_a_variant_another_empties_its_dbsnp_id(
    curator_api, biobank
):
    """The ID the file gave named the variant before (review rv4): kept, it would
    find the changed variant by an ID of another."""
    variant = biobank.a.variant
    VariantResult.objects.filter(pk=variant.pk).update(dbsnp_id="rs121434569")

    patched = changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/",
            {"gene": "TP53", "protein_change": "R175H"},
            format="json",
        )
    )

    assert patched["dbsnp_id"] == ""
    variant.refresh_from_db()
    assert (variant.gene, variant.dbsnp_id) == ("TP53", "")


@pytest.fixture
def assay_with_lod(biobank) -> CfDNAAssay:
    return CfDNAAssay.objects.create(
        sample=biobank.a.sample,
        method="ddPCR",
        panel="lod-panel",
        limit_of_detection_vaf=0.001,
    )


def test_a_vaf_under_the_assays_limit_without_a_call_is_below_lod(
    curator_api, assay_with_lod
):
    data = created(
        curator_api.post(
            "/api/variants/",
            {
                "assay": assay_with_lod.pk,
                "gene": "PIK3CA",
                "protein_change": "H1047R",
                "vaf": 0.0005,
            },
            format="json",
        )
    )

    assert (data["call"], data["vaf"]) == ("below-lod", None)
    variant = VariantResult.objects.get(pk=data["id"])
    assert (variant.call, variant.vaf) == ("below-lod", None)


def test_a_detected_call_under_the_assays_limit_is_refused(curator_api, assay_with_lod):
    response = curator_api.post(
        "/api/variants/",
        {
            "assay": assay_with_lod.pk,
            "gene": "PIK3CA",
            "protein_change": "H1047R",
            "vaf": 0.0005,
            "call": "detected",
        },
        format="json",
    )

    assert errors_of(response) == {
        "vaf": [
            "is below the assay's limit of detection (0.001) for a call of detected; "
            "give the call below-lod, or correct the VAF or the limit."
        ]
    }
    assert not VariantResult.objects.filter(assay=assay_with_lod).exists()


@pytest.mark.parametrize(
    "gene, text, stored",
    [
        ("ALK", "EML4::ALK", ("EML4", "ALK", "EML4::ALK", "")),
        # Partners in another case take HGNC's, in the order written:
        ("alk", "alk-eml4", ("ALK", "EML4", "ALK::EML4", "partner order differs")),
    ],
)
def test_a_fusion_is_stored_with_its_partners_in_hgnc_case(
    curator_api, biobank, gene, text, stored
):
    data = created(
        curator_api.post(
            "/api/variants/",
            {"assay": biobank.b.assay.pk, "gene": gene, "protein_change": text},
            format="json",
        )
    )

    variant = VariantResult.objects.get(pk=data["id"])
    five, three, name, note = stored
    assert (variant.variant_type, variant.fusion_5prime, variant.fusion_3prime) == (
        "fusion",
        five,
        three,
    )
    assert (variant.note, variant.variant_key) == (name, f"fusion:{name}")
    assert variant.fusion_note.startswith(note)
    assert (variant.protein_change_raw, data["fusion_5prime"]) == (text, five)


def test_curator_creates_and_changes_an_rna_result(curator_api, biobank):
    data = created(
        curator_api.post(
            "/api/rna-results/",
            {
                "sample": biobank.b.sample.pk,
                "transcript": "AR-V7",
                "source": "CTC",
                "call": "positive",
                "value": 3.5,
            },
            format="json",
        )
    )
    changed(
        curator_api.patch(
            f"/api/rna-results/{data['id']}/", {"value": 4.0}, format="json"
        )
    )

    result = CirculatingRNAResult.objects.get(pk=data["id"])
    assert (result.call, result.value) == ("detected", 4.0)


# Each rule gives the importer's message, under the API's field:


def test_a_future_birth_year_gets_the_clinical_importers_message(
    curator_api, project, tmp_path
):
    year = tomorrow().year + 1
    path = write(tmp_path, f"patient_id,birth_year\nP1,{year}\n")
    expected = importer_message(lambda: import_clinical(path, project), "birth_year")

    response = curator_api.post(
        "/api/patients/",
        {"project": "demo", "source_id": "P1", "birth_year": year},
        format="json",
    )

    assert errors_of(response) == {"birth_year": [expected]}
    this_year = timezone.localdate().year
    assert expected == f"must lie between 1880 and {this_year} (this year)."


@pytest.mark.parametrize(
    ("column", "cell", "field", "value"),
    [
        ("birth_year", "1700", "birth_year", 1700),
        ("diagnosis_date", "TOMORROW", "diagnosis_on", "TOMORROW"),
        ("age_at_diagnosis", "131", "age_at_diagnosis_years", "131"),
        ("overall_survival_days", "-1", "overall_survival_days", -1),
        ("cancer_type", "LUNG", "cancer_type", "LUNG"),
        ("sex", "X", "sex", "X"),
        ("stage", "I" * 21, "stage", "I" * 21),
    ],
)
def test_patient_rules_give_the_clinical_importers_messages(
    curator_api, project, tmp_path, column, cell, field, value
):
    cell = cell.replace("TOMORROW", tomorrow().isoformat())
    value = (
        value.replace("TOMORROW", tomorrow().isoformat())
        if isinstance(value, str)
        else value
    )
    path = write(tmp_path, f"patient_id,{column}\nP1,{cell}\n")
    expected = importer_message(lambda: import_clinical(path, project), column)

    response = curator_api.post(
        "/api/patients/",
        {"project": "demo", "source_id": "P1", field: value},
        format="json",
    )

    assert errors_of(response) == {field: [expected]}


def test_a_diagnosis_before_birth_is_refused_as_the_importer_refuses_it(
    curator_api, project, tmp_path
):
    path = write(tmp_path, "patient_id,birth_year,diagnosis_date\nP1,1990,1985-01-01\n")
    expected = importer_message(
        lambda: import_clinical(path, project), "diagnosis_date"
    )

    response = curator_api.post(
        "/api/patients/",
        {
            "project": "demo",
            "source_id": "P1",
            "birth_year": 1990,
            "diagnosis_on": "1985-01-01",
        },
        format="json",
    )

    assert errors_of(response) == {"diagnosis_on": [expected]}


def test_a_bad_or_unknown_project_code_is_refused(curator_api, project):
    bad = curator_api.post(
        "/api/patients/", {"project": "no way", "source_id": "P1"}, format="json"
    )
    unknown = curator_api.post(
        "/api/patients/", {"project": "other", "source_id": "P1"}, format="json"
    )

    assert "letters, digits, hyphens or underscores" in errors_of(bad)["project"][0]
    assert errors_of(unknown)["project"] == [
        "names no project 'other'; an administrator creates projects."
    ]
    assert not Patient.objects.exists()


def test_an_empty_source_identifier_gets_the_importers_message(
    curator_api, project, tmp_path
):
    path = write(tmp_path, "patient_id,sex\n,F\n")
    expected = importer_message(lambda: import_clinical(path, project), "patient_id")

    response = curator_api.post(
        "/api/patients/", {"project": "demo", "source_id": "  "}, format="json"
    )

    assert errors_of(response) == {"source_id": [expected]}


def test_a_known_source_identifier_is_a_duplicate_not_a_new_patient(
    curator_api, project
):
    stored, _ = pseudonymise(project, "HOSP-1")

    response = curator_api.post(
        "/api/patients/", {"project": "demo", "source_id": "HOSP-1"}, format="json"
    )

    assert stored.pseudonym in errors_of(response)["source_id"][0]
    assert Patient.objects.count() == 1


def test_treatment_rules_give_the_clinical_importers_messages(
    curator_api, project, tmp_path
):
    pseudonymise(project, "P1")
    path = write(
        tmp_path,
        "patient_id,kind,line,start_date,end_date\nP1,laser,0,2021-05-01,2021-04-01\n",
    )
    call = lambda: import_clinical(path, project, kind=TREATMENTS)  # noqa: E731
    patient = find_patient(project, "P1")

    response = curator_api.post(
        "/api/treatments/",
        {
            "patient": patient.pk,
            "kind": "laser",
            "line": 0,
            "started_on": "2021-05-01",
            "ended_on": "2021-04-01",
        },
        format="json",
    )
    ends_early = curator_api.post(
        "/api/treatments/",
        {
            "patient": patient.pk,
            "kind": "surgery",
            "started_on": "2021-05-01",
            "ended_on": "2021-04-01",
        },
        format="json",
    )

    assert errors_of(response) == {
        "kind": [importer_message(call, "kind")],
        "line": [importer_message(call, "line")],
    }
    assert errors_of(ends_early) == {"ended_on": [importer_message(call, "end_date")]}


def test_event_rules_give_the_clinical_importers_messages(
    curator_api, project, tmp_path
):
    pseudonymise(project, "P1")
    path = write(
        tmp_path, f"patient_id,kind,recist,date\nP1,response,XX,{tomorrow()}\n"
    )
    call = lambda: import_clinical(path, project, kind=EVENTS)  # noqa: E731

    response = curator_api.post(
        "/api/clinical-events/",
        {
            "patient": find_patient(project, "P1").pk,
            "kind": "response",
            "recist": "XX",
            "occurred_on": tomorrow().isoformat(),
        },
        format="json",
    )

    assert errors_of(response) == {
        "recist": [importer_message(call, "recist")],
        "occurred_on": [importer_message(call, "date")],
    }


def test_a_consent_withdrawn_before_it_was_given_gets_the_models_message(
    curator_api, biobank
):
    response = curator_api.post(
        "/api/consents/",
        {
            "patient": biobank.a.patient.pk,
            "given_on": "2021-01-02",
            "withdrawn_on": "2020-01-01",
        },
        format="json",
    )

    assert errors_of(response) == {
        "withdrawn_on": ["Consent cannot be withdrawn before it was given."]
    }


def test_a_future_draw_gets_the_lab_importers_message(curator_api, project, tmp_path):
    pseudonymise(project, "P1")
    path = write(tmp_path, f"patient_id,draw_date,count\nP1,{tomorrow()},3\n")
    expected = importer_message(lambda: import_ctc(path, project), "draw_date")

    response = curator_api.post(
        "/api/blood-samples/",
        {
            "patient": find_patient(project, "P1").pk,
            "drawn_at": f"{tomorrow()}T09:00:00Z",
        },
        format="json",
    )

    assert errors_of(response) == {"drawn_at": [expected]}


@pytest.mark.parametrize(
    ("cells", "payload"),
    [
        ({"count": "-1"}, {"count": -1}),
        ({"count": "1.5"}, {"count": 1.5}),
        ({"clusters": "-2"}, {"clusters": -2}),
        ({"blood_volume_ml": "0"}, {"blood_volume_ml": 0}),
        ({"blood_volume_ml": "7500"}, {"blood_volume_ml": 7500}),
        ({"enrichment": "magnets"}, {"enrichment": "magnets"}),
    ],
)
def test_ctc_rules_give_the_ctc_importers_messages(
    curator_api, biobank, tmp_path, cells, payload
):
    pseudonymise(biobank.a.patient.project, "P1")
    cells = {"count": "3"} | cells
    header = ",".join(["patient_id", "draw_date", *cells])
    path = write(tmp_path, f"{header}\nP1,2020-01-01,{','.join(cells.values())}\n")
    (field,) = payload
    expected = importer_message(
        lambda: import_ctc(path, biobank.a.patient.project), field
    )

    response = curator_api.post(
        "/api/ctc-counts/",
        {"sample": biobank.a.sample.pk, "platform": "Other", "count": 3} | payload,
        format="json",
    )

    assert errors_of(response) == {field: [expected]}


def test_a_missing_ctc_count_gets_the_importers_message(curator_api, biobank, tmp_path):
    path = write(tmp_path, "patient_id,draw_date,count\nP1,2020-01-01,\n")
    expected = importer_message(
        lambda: import_ctc(path, biobank.a.patient.project, create_patients=True),
        "count",
    )

    response = curator_api.post(
        "/api/ctc-counts/", {"sample": biobank.a.sample.pk}, format="json"
    )

    assert errors_of(response) == {"count": [expected]}


CFDNA_HEADER = "patient_id,draw_date,gene,protein_change,vaf,alt_reads,depth,call"


@pytest.mark.parametrize(
    ("row", "field", "payload"),
    [
        ("EGFR,p.T790M,1.5,,,", "vaf", {"vaf": 1.5}),
        ("EGFR,p.T790M,0.1,,,not detected", "vaf", {"vaf": 0.1, "call": "nd"}),
        ("EGFR,p.T790M,,50,10,", "alt_reads", {"alt_reads": 50, "depth": 10}),
        ("EGFR,p.T790M,,-3,,", "alt_reads", {"alt_reads": -3}),
        ("EGFR,p.T790Mxyz,,,,", "protein_change", {"protein_change": "p.T790Mxyz"}),
        ("1-Mar,p.T790M,,,,", "gene", {"gene": "1-Mar"}),
        ("KRAS G12D,p.T790M,,,,", "gene", {"gene": "KRAS G12D"}),
        # A fusion partner of no HGNC shape, or a word of the report:
        (
            "ALK,AC004943.1::ALK,,,,",
            "protein_change",
            {"gene": "ALK", "protein_change": "AC004943.1::ALK"},
        ),
        (
            "ALK,ALK fusion positive,,,,",
            "protein_change",
            {"gene": "ALK", "protein_change": "ALK fusion positive"},
        ),
        ("EGFR,p.T790M,,,,maybe", "call", {"call": "maybe"}),
    ],
)
def test_variant_rules_give_the_cfdna_importers_messages(
    curator_api, biobank, tmp_path, row, field, payload
):
    project = biobank.a.patient.project
    path = write(tmp_path, f"{CFDNA_HEADER}\nP1,2020-01-01,{row}\n")
    expected = importer_message(
        lambda: import_cfdna(path, project, create_patients=True, vaf_unit="fraction"),
        field,
    )

    response = curator_api.post(
        "/api/variants/",
        {"assay": biobank.a.assay.pk, "gene": "EGFR", "protein_change": "p.T790M"}
        | payload,
        format="json",
    )

    assert errors_of(response) == {field: [expected]}


def test_a_vaf_above_1_says_to_write_a_fraction(curator_api, biobank):
    response = curator_api.post(
        "/api/variants/",
        {
            "assay": biobank.a.assay.pk,
            "gene": "EGFR",
            "protein_change": "L858R",
            "vaf": 12.5,
        },
        format="json",
    )

    assert errors_of(response) == {
        "vaf": ["is not a fraction between 0 and 1 (write 12.5 % as 0.125)."]
    }


@pytest.mark.parametrize(
    ("column", "field", "cell", "value"),
    [
        ("cfdna_ng_per_ml", "cfdna_ng_per_ml", "-1", -1),
        # 1e20 was stored: another unit, never a plasma's cfDNA
        ("cfdna_ng_per_ml", "cfdna_ng_per_ml", "250000", 250_000),
        ("tumour_fraction", "tumour_fraction", "2", 2),
        ("limit_of_detection", "limit_of_detection_vaf", "1.2", 1.2),
        ("method", "method", "sanger", "sanger"),
    ],
)
def test_assay_rules_give_the_cfdna_importers_messages(
    curator_api, biobank, tmp_path, column, field, cell, value
):
    project = biobank.a.patient.project
    header = f"patient_id,draw_date,gene,protein_change,{column}"
    path = write(tmp_path, f"{header}\nP1,2020-01-01,EGFR,p.T790M,{cell}\n")
    expected = importer_message(
        lambda: import_cfdna(path, project, create_patients=True), column
    )

    response = curator_api.post(
        "/api/cfdna-assays/",
        {"sample": biobank.a.sample.pk, "method": "WGS", field: value},
        format="json",
    )

    # A declared fraction column reads as the API reads every fraction:
    if expected.startswith("is above 1"):
        expected = "is not a fraction between 0 and 1 (write 12.5 % as 0.125)."
        if field == "limit_of_detection_vaf":
            expected = LOD_OUT_OF_RANGE
    assert errors_of(response) == {field: [expected]}


# Duplicates and database refusals are 400s naming the field:


@pytest.mark.parametrize(
    ("endpoint", "payload", "field"),
    [
        (
            "treatments",
            lambda b: {
                "patient": b.a.patient.pk,
                "kind": "chemotherapy",
                "agent": "carboplatin",
                "started_on": "2020-02-01",
            },
            "started_on",
        ),
        (
            "clinical-events",
            lambda b: {
                "patient": b.a.patient.pk,
                "kind": "response",
                "occurred_on": "2020-05-01",
            },
            "occurred_on",
        ),
        (
            "blood-samples",
            lambda b: {
                "patient": b.a.patient.pk,
                "drawn_at": b.a.sample.drawn_at.isoformat(),
            },
            "drawn_at",
        ),
        (
            "ctc-counts",
            lambda b: {"sample": b.a.sample.pk, "platform": "CellSearch", "count": 12},
            "platform",
        ),
        (
            "cfdna-assays",
            lambda b: {"sample": b.a.sample.pk, "method": "ddPCR", "panel": "hotspots"},
            "panel",
        ),
        (
            "variants",
            lambda b: {
                "assay": b.a.assay.pk,
                "gene": "EGFR",
                "protein_change": "Thr790Met",
            },
            "protein_change",
        ),
        (
            "rna-results",
            lambda b: {
                "sample": b.a.sample.pk,
                "transcript": "AR-V7",
                "source": "CTC",
                "method": "AdnaTest",
                "call": "detected",
            },
            "transcript",
        ),
    ],
)
def test_a_duplicate_is_a_400_naming_the_field(
    curator_api, biobank, endpoint, payload, field
):
    response = curator_api.post(f"/api/{endpoint}/", payload(biobank), format="json")

    errors = errors_of(response)
    assert list(errors) == [field]
    assert errors[field][0].startswith("is already stored:")


def test_a_database_refusal_after_validation_is_a_400_naming_the_field(
    curator_api, biobank, monkeypatch
):
    # As if another request stored the same count between validation and saving:
    monkeypatch.setattr(api_serializers, "constraint_errors", lambda *args: {})

    response = curator_api.post(
        "/api/ctc-counts/",
        {"sample": biobank.a.sample.pk, "platform": "CellSearch", "count": 12},
        format="json",
    )

    assert list(errors_of(response)) == ["platform"]
    assert CTCCount.objects.filter(sample=biobank.a.sample).count() == 1


def test_a_check_constraint_refusal_gives_the_models_message(biobank):
    error = IntegrityError('new row violates check constraint "variant_vaf_fraction"')

    errors = api_serializers.integrity_errors(error, VariantResult)

    assert errors == {
        "vaf": ["VAF is a fraction between 0 and 1 (write 12.5 % as 0.125)."]
    }


def test_an_update_may_keep_its_own_natural_key(curator_api, biobank):
    treatment = biobank.a.treatment

    response = curator_api.patch(
        f"/api/treatments/{treatment.pk}/", {"line": 2}, format="json"
    )

    assert changed(response)["line"] == 2


# Who may write:

WRITES = [
    ("post", "/api/patients/"),
    ("post", "/api/consents/"),
    ("post", "/api/treatments/"),
    ("post", "/api/clinical-events/"),
    ("post", "/api/blood-samples/"),
    ("post", "/api/ctc-counts/"),
    ("post", "/api/cfdna-assays/"),
    ("post", "/api/variants/"),
    ("post", "/api/rna-results/"),
]


@pytest.mark.parametrize(("method", "url"), WRITES)
def test_a_reader_without_curator_rights_gets_403(api, biobank, method, url):
    response = getattr(api, method)(url, {}, format="json")

    assert response.status_code == 403


@pytest.mark.parametrize(("method", "url"), WRITES)
@pytest.mark.attack
def test_an_anonymous_write_gets_401(biobank, method, url):
    response = getattr(APIClient(), method)(url, {}, format="json")

    assert response.status_code == 401


def test_a_reader_cannot_change_or_delete(api, biobank):
    assert api.patch(f"/api/consents/{biobank.a.consent.pk}/", {}).status_code == 403
    assert api.delete(f"/api/consents/{biobank.a.consent.pk}/").status_code == 403
    assert Consent.objects.filter(pk=biobank.a.consent.pk).exists()


def test_a_curator_writes_in_their_project_only(analyst, api, biobank, project):
    other = Project.objects.create(code="other", name="Other collection")
    foreign = Patient.objects.create(project=other, pseudonym="X-1", source_key="x1")
    grant(analyst, project, "curator")
    grant(analyst, other, "viewer")

    made = api.post(
        "/api/treatments/",
        {
            "patient": biobank.a.patient.pk,
            "kind": "surgery",
            "started_on": "2020-03-01",
        },
        format="json",
    )
    abroad = api.post(
        "/api/treatments/",
        {"patient": foreign.pk, "kind": "surgery", "started_on": "2020-03-01"},
        format="json",
    )
    new_patient = api.post(
        "/api/patients/", {"project": "other", "source_id": "H-9"}, format="json"
    )

    assert made.status_code == 201
    assert abroad.status_code == 400
    assert "patient" in abroad.json()
    assert new_patient.status_code == 400
    assert "may only read" in new_patient.json()["project"][0]
    assert not Treatment.objects.filter(patient=foreign).exists()


@pytest.mark.attack
def test_a_foreign_record_cannot_be_changed_by_a_curator_of_another_project(
    analyst, api, biobank, project
):
    other = Project.objects.create(code="other", name="Other collection")
    foreign = Patient.objects.create(project=other, pseudonym="X-1", source_key="x1")
    treatment = Treatment.objects.create(
        patient=foreign, kind="surgery", started_on="2020-03-01"
    )
    grant(analyst, project, "curator")

    assert api.patch(f"/api/treatments/{treatment.pk}/", {"line": 2}).status_code == 404
    grant(analyst, other, "viewer")
    assert api.patch(f"/api/treatments/{treatment.pk}/", {"line": 2}).status_code == 403
    assert api.delete(f"/api/treatments/{treatment.pk}/").status_code == 403
    treatment.refresh_from_db()
    assert treatment.line is None


def test_consent_is_written_by_the_project_manager(analyst, api, biobank, project):
    url = f"/api/consents/{biobank.a.consent.pk}/"
    grant(analyst, project, "curator")
    assert api.patch(url, {"allows_sharing": True}, format="json").status_code == 403

    grant(analyst, project, "manager")
    assert api.patch(url, {"allows_sharing": True}, format="json").status_code == 200


def test_imaging_and_radiomics_records_stay_read_only(curator_api, biobank):
    for url in (
        "/api/imaging-studies/",
        "/api/image-series/",
        "/api/segmentations/",
        "/api/feature-extractions/",
        "/api/feature-values/",
        "/api/signature-scores/",
        "/api/projects/",
    ):
        assert curator_api.post(url, {}, format="json").status_code == 405, url


def test_patients_samples_and_assays_cannot_be_deleted(curator_api, biobank):
    assert (
        curator_api.delete(f"/api/patients/{biobank.a.patient.pk}/").status_code == 405
    )
    assert (
        curator_api.delete(f"/api/blood-samples/{biobank.a.sample.pk}/").status_code
        == 405
    )
    assert (
        curator_api.delete(f"/api/cfdna-assays/{biobank.a.assay.pk}/").status_code
        == 405
    )


# History: who wrote what.


def test_an_api_create_and_update_are_in_the_history_with_the_user(
    curator_api, curator, biobank
):
    data = created(
        curator_api.post(
            "/api/ctc-counts/",
            {"sample": biobank.b.sample.pk, "platform": "CellSearch", "count": 2},
            format="json",
        )
    )
    changed(
        curator_api.patch(f"/api/ctc-counts/{data['id']}/", {"count": 5}, format="json")
    )

    history = CTCCount.history.filter(id=data["id"]).order_by("history_date")
    assert [(h.history_type, h.count, h.history_user) for h in history] == [
        ("+", 2, curator),
        ("~", 5, curator),
    ]


def test_a_created_patient_is_in_the_history_with_the_user(
    curator_api, curator, project
):
    data = created(
        curator_api.post(
            "/api/patients/", {"project": "demo", "source_id": "S1"}, format="json"
        )
    )

    entry = Patient.history.get(id=data["id"])
    assert (entry.history_type, entry.history_user) == ("+", curator)


def test_a_delete_keeps_the_record_and_the_user_in_the_history(
    curator_api, curator, biobank
):
    variant = biobank.a.variant

    response = curator_api.delete(f"/api/variants/{variant.pk}/")

    assert response.status_code == 204
    assert not VariantResult.objects.filter(pk=variant.pk).exists()
    entry = VariantResult.history.filter(id=variant.pk).latest("history_date")
    assert (entry.history_type, entry.history_user) == ("-", curator)
    assert entry.protein_change == "p.T790M"


def test_a_session_curator_is_in_the_history_too(client, curator, biobank):
    client.force_login(curator)

    response = client.patch(
        f"/api/clinical-events/{biobank.a.event.pk}/",
        {"note": "checked"},
        content_type="application/json",
    )

    assert response.status_code == 200
    entry = ClinicalEvent.history.filter(id=biobank.a.event.pk).latest("history_date")
    assert (entry.note, entry.history_user) == ("checked", curator)


def test_a_draw_before_the_patients_birth_year_is_refused_as_the_importers_do(
    curator_api, biobank
):
    patient = biobank.a.patient
    patient.birth_year = 1960
    patient.save()

    response = curator_api.post(
        "/api/blood-samples/",
        {"patient": patient.pk, "drawn_at": "1959-06-01T09:00:00Z"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["drawn_at"] == ["lies before the patient's birth year."]


@pytest.mark.attack
def test_control_characters_in_text_are_refused_naming_the_field(curator_api, biobank):
    response = curator_api.patch(
        f"/api/blood-samples/{biobank.a.sample.pk}/",
        {"timepoint": "C2\x07D1"},
        format="json",
    )

    assert response.status_code == 400
    assert list(response.json()) == ["timepoint"]


def test_an_object_for_is_time_known_is_a_400_naming_it(curator_api, biobank):
    response = curator_api.post(
        "/api/blood-samples/",
        {
            "patient": biobank.a.patient.pk,
            "drawn_at": "2024-01-02T09:00:00",
            "is_time_known": {},
        },
        format="json",
    )

    assert response.status_code == 400
    assert "is_time_known" in response.json()
