"""The admin's forms refuse what API writes refuse, and store what they would store.

Each case is a bad value of tests/api/test_writes.py posted on the record's admin
change page (or an inline of its parent's page); the form must refuse it, naming the
field, with the API's message where no model rule spoke first, and store nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from django.contrib import admin
from django.db.models import Model

from biobank.api import serializers as api_serializers
from biobank.api.admin_forms import SERIALIZERS, ApiRulesForm
from liquidbiopsy.models import VariantResult
from tests import test_admin
from tests.api import test_writes
from tests.test_admin import admin_url, edit_in_admin, post_data

# The API's and the admin's curator, as their own tests sign them in:
curator_api = test_writes.curator_api
curator_client = test_admin.curator_client

MAX_INTEGER = 2**31 - 1


@dataclass
class Case:
    """A bad value for `field` of the record `side` (tests/api/conftest.Side)."""

    side: str
    endpoint: str
    api: dict
    field: str
    # The admin's posted names where they differ from the API's:
    posted: dict = field(default_factory=dict)
    # The page to post on: the record's own, or its parent's with the record inline.
    parent: str = ""


CASES = {
    "protein change not HGVS": Case(
        "variant", "variants", {"protein_change": "p.Arg273Hiss"}, "protein_change"
    ),
    "Excel-mangled gene": Case("variant", "variants", {"gene": "1-Mar"}, "gene"),
    "gene of no HGNC shape": Case(
        "variant", "variants", {"gene": "AC004943.1"}, "gene"
    ),
    "VAF of a variant not detected": Case(
        "variant", "variants", {"call": "not-detected", "vaf": 0.18}, "vaf"
    ),
    "VAF above 1": Case("variant", "variants", {"vaf": 1.5}, "vaf"),
    "alt reads beyond depth": Case(
        "variant", "variants", {"alt_reads": 50, "depth": 10}, "alt_reads"
    ),
    "unknown call": Case("variant", "variants", {"call": "maybe"}, "call"),
    "unknown genome build": Case(
        "variant", "variants", {"genome_build": "hg99"}, "genome_build"
    ),
    "CTC count PostgreSQL cannot store": Case(
        "ctc", "ctc-counts", {"count": MAX_INTEGER + 99}, "count"
    ),
    "negative CTC count": Case("ctc", "ctc-counts", {"count": -1}, "count"),
    "CTC clusters PostgreSQL cannot store": Case(
        "ctc", "ctc-counts", {"clusters": 99999999999}, "clusters"
    ),
    "no blood volume": Case(
        "ctc", "ctc-counts", {"blood_volume_ml": 0}, "blood_volume_ml"
    ),
    "blood volume above 100 mL": Case(
        "ctc", "ctc-counts", {"blood_volume_ml": 7500}, "blood_volume_ml"
    ),
    "CTC count inline on the draw's page": Case(
        "ctc", "ctc-counts", {"count": 99999999999}, "count", parent="sample"
    ),
    "negative cfDNA": Case(
        "assay", "cfdna-assays", {"cfdna_ng_per_ml": -1}, "cfdna_ng_per_ml"
    ),
    "tumour fraction above 1": Case(
        "assay", "cfdna-assays", {"tumour_fraction": 2}, "tumour_fraction"
    ),
    "limit of detection above 1": Case(
        "assay",
        "cfdna-assays",
        {"limit_of_detection_vaf": 1.2},
        "limit_of_detection_vaf",
    ),
    "birth year before 1880": Case(
        "patient", "patients", {"birth_year": 1700}, "birth_year"
    ),
    "diagnosis before the birth year": Case(
        "patient", "patients", {"diagnosis_on": "1949-06-01"}, "diagnosis_on"
    ),
    "age above 130": Case(
        "patient",
        "patients",
        {"age_at_diagnosis_years": "131"},
        "age_at_diagnosis_years",
    ),
    "negative survival": Case(
        "patient", "patients", {"overall_survival_days": -1}, "overall_survival_days"
    ),
    "survival PostgreSQL cannot store": Case(
        "patient",
        "patients",
        {"overall_survival_days": 99999999999},
        "overall_survival_days",
    ),
    "treatment line 100": Case("treatment", "treatments", {"line": 100}, "line"),
    "treatment ending before it starts": Case(
        "treatment", "treatments", {"ended_on": "2020-01-01"}, "ended_on"
    ),
    "draw before birth, inline on the patient's page": Case(
        "sample",
        "blood-samples",
        {"drawn_at": "1900-01-01T09:00:00Z"},
        "drawn_at",
        posted={"drawn_at_0": "1900-01-01", "drawn_at_1": "09:00:00"},
        parent="patient",
    ),
    "draw before birth": Case(
        "sample",
        "blood-samples",
        {"drawn_at": "1900-01-01T09:00:00Z"},
        "drawn_at",
        posted={"drawn_at_0": "1900-01-01", "drawn_at_1": "09:00:00"},
    ),
    "no plasma": Case(
        "sample", "blood-samples", {"plasma_volume_ml": 0}, "plasma_volume_ml"
    ),
    "plasma above 100 mL": Case(
        "sample", "blood-samples", {"plasma_volume_ml": 4000}, "plasma_volume_ml"
    ),
    "processing after 14 days": Case(
        "sample", "blood-samples", {"hours_to_processing": 1440}, "hours_to_processing"
    ),
}


def form_of(page, record: Model):
    """Return the form of `record` on a posted admin page: its own, or its inline's."""
    form = page.context["adminform"].form
    if form.instance.pk == record.pk and type(form.instance) is type(record):
        return form
    for inline in page.context["inline_admin_formsets"]:
        for inline_form in inline.formset.forms:
            if type(inline_form.instance) is type(record):
                if inline_form.instance.pk == record.pk:
                    return inline_form
    raise AssertionError(f"no form of {record!r} on the page")


def admin_post(client, record: Model, parent: Model | None, case: Case):
    page_of = parent or record
    url = admin_url(type(page_of), "change", page_of.pk)
    data = post_data(client.get(url))
    prefix = ""
    if parent is not None:
        prefix = form_of(client.get(url), record).prefix + "-"
    posted = case.posted or {name: str(value) for name, value in case.api.items()}
    return client.post(
        url, data | {prefix + name: value for name, value in posted.items()}
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_admin_refuses_what_api_writes_refuse(
    biobank, curator_client, curator_api, case
):
    record = getattr(biobank.a, case.side)
    parent = getattr(biobank.a, case.parent) if case.parent else None
    before = type(record).objects.filter(pk=record.pk).values().get()

    page = admin_post(curator_client, record, parent, case)
    api = curator_api.patch(
        f"/api/{case.endpoint}/{record.pk}/", case.api, format="json"
    )

    assert page.status_code == 200, f"the admin stored {case.api}"
    errors = form_of(page, record).errors
    assert errors.get(case.field), errors
    assert api.status_code == 400, api.content[:300]
    # Where only the API's rule refuses the value, its message is given after the label:
    (api_message, *_) = api.json()[case.field]
    if not any(api_message in message for message in errors[case.field]):
        assert errors.as_data()[case.field][0].code in {
            "invalid",
            "invalid_choice",
            "max_value",
            "min_value",
            "max_length",
            "constraint",
            None,
        }, (errors, api_message)
    assert type(record).objects.filter(pk=record.pk).values().get() == before


def test_the_admin_stores_a_protein_change_and_gene_as_the_api_does(
    biobank, curator_client
):
    variant = biobank.a.variant

    response = edit_in_admin(
        curator_client, variant, gene="sept9", protein_change="p.Arg273His"
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    variant.refresh_from_db()
    assert (variant.gene, variant.gene_hgnc) == ("sept9", "SEPTIN9")
    assert variant.protein_change == "p.R273H"
    assert variant.protein_change_raw == "p.Arg273His"
    found = curator_client.get(admin_url(VariantResult, "changelist"), {"q": "p.R273H"})
    assert list(found.context["cl"].result_list) == [variant]


def test_the_admin_stores_a_gene_in_another_case_with_its_hgnc_case(
    biobank, curator_client
):
    variant = biobank.a.variant

    response = edit_in_admin(curator_client, variant, gene="c9ORF72")

    assert response.status_code == 302, response.context["adminform"].form.errors
    variant.refresh_from_db()
    assert (variant.gene, variant.gene_hgnc) == ("c9ORF72", "C9orf72")


def test_a_ctc_count_changed_in_the_admin_is_stored_as_the_api_stores_it(
    biobank, curator_client
):
    count = biobank.a.ctc

    response = edit_in_admin(curator_client, count, count="30", platform="cell search")

    assert response.status_code == 302, response.context["adminform"].form.errors
    count.refresh_from_db()
    assert (count.count, count.platform) == (30, "CellSearch")


def test_a_treatment_agent_differing_only_in_capitals_is_refused_as_a_repeat(
    biobank, curator_client, curator_api
):
    """PT-A's chemotherapy of carboplatin from 2020-02-01 is the one stored."""
    patient, stored = biobank.a.patient, biobank.a.treatment
    url = admin_url(type(patient), "change", patient.pk)
    data = post_data(curator_client.get(url))
    prefix = "treatments"
    added = {
        f"{prefix}-TOTAL_FORMS": str(int(data[f"{prefix}-TOTAL_FORMS"]) + 1),
        f"{prefix}-1-patient": str(patient.pk),
        f"{prefix}-1-kind": "chemotherapy",
        f"{prefix}-1-agent": "Carboplatin",
        f"{prefix}-1-started_on": "2020-02-01",
    }

    page = curator_client.post(url, data | added)
    api = curator_api.post(
        "/api/treatments/",
        {
            "patient": patient.pk,
            "kind": "chemotherapy",
            "agent": "Carboplatin",
            "started_on": "2020-02-01",
        },
        format="json",
    )

    (api_message,) = api.json()["agent"]
    assert api_message.startswith('is already stored as "carboplatin"')
    (form,) = [
        inline.formset.forms[1]
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.prefix == prefix
    ]
    assert form.errors["agent"] == [f"Agent {api_message}"]
    assert list(patient.treatments.values_list("agent", flat=True)) == [stored.agent]


def test_two_new_treatments_whose_agents_differ_in_capitals_are_refused(
    biobank, curator_client
):
    patient = biobank.a.patient
    url = admin_url(type(patient), "change", patient.pk)
    data = post_data(curator_client.get(url))
    prefix = "treatments"
    added = {f"{prefix}-TOTAL_FORMS": str(int(data[f"{prefix}-TOTAL_FORMS"]) + 2)}
    for number, agent in [(1, "doxorubicin"), (2, "Doxorubicin")]:
        added |= {
            f"{prefix}-{number}-patient": str(patient.pk),
            f"{prefix}-{number}-kind": "chemotherapy",
            f"{prefix}-{number}-agent": agent,
            f"{prefix}-{number}-started_on": "2021-05-01",
        }

    page = curator_client.post(url, data | added)

    assert page.status_code == 200
    assert not patient.treatments.filter(agent__iexact="doxorubicin").exists()
    formset = next(
        inline.formset
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.prefix == prefix
    )
    (message,) = formset.forms[2].errors["agent"]
    assert message.startswith('Agent "Doxorubicin" repeats "doxorubicin" of this page')


def curated_serializers() -> dict[type[Model], type]:
    """Return the API's write serializer of each patient and liquid-biopsy model."""
    found, waiting = {}, [api_serializers.CuratedSerializer]
    while waiting:
        serializer = waiting.pop()
        waiting.extend(serializer.__subclasses__())
        model = getattr(getattr(serializer, "Meta", None), "model", None)
        if model is not None and model._meta.app_label in ("patients", "liquidbiopsy"):
            found[model] = serializer
    return found


def test_every_admin_form_of_a_record_written_through_the_api_applies_its_rules(
    rf, curator
):
    request = rf.get("/admin/")
    request.user = curator
    serializers = curated_serializers()

    forms = {}
    for model, model_admin in admin.site._registry.items():
        if model in serializers:
            forms[model_admin] = model_admin.get_form(request)
        for inline in model_admin.get_inline_instances(request):
            if inline.model in serializers:
                forms[inline] = inline.get_formset(request).form

    assert SERIALIZERS == serializers
    assert {type(owner).__name__ for owner in forms} >= {
        "PatientAdmin",
        "TreatmentInline",
        "BloodSampleInline",
        "CTCCountInline",
        "VariantResultAdmin",
    }
    for owner, form in forms.items():
        assert issubclass(form, ApiRulesForm), type(owner).__name__
        assert form.serializer_class is serializers[form._meta.model]


def test_the_vaf_is_named_vaf_in_the_admins_messages(biobank, curator_client):
    """ "Vaf is given for a call of not-detected" read as a typo of the field's name."""
    case = CASES["VAF of a variant not detected"]
    record = biobank.a.variant

    page = admin_post(curator_client, record, None, case)

    (message, *_) = form_of(page, record).errors["vaf"]
    assert message.startswith("VAF ")


# A VCF without CSQ/ANN annotation stores its variants with an empty gene
# (docs/liquid_biopsy_imports.md); curators still change their other fields.


@pytest.fixture
def unannotated(biobank) -> VariantResult:
    """A variant as import_vcf stores a record of a VCF without annotation."""
    return VariantResult.objects.create(
        assay=biobank.a.assay,
        gene="",
        variant_key="7:140453136 A>T",
        variant_type=VariantResult.Type.SNV,
        genomic_change="7:140453136 A>T",
        genome_build="GRCh37",
        call="detected",
        vaf=0.2,
        alt_reads=20,
        depth=100,
    )


def test_a_variant_without_gene_is_changed_in_the_admin_as_through_the_api(
    unannotated, curator_client, curator_api
):
    page = edit_in_admin(curator_client, unannotated, note="checked")
    api = curator_api.patch(
        f"/api/variants/{unannotated.pk}/", {"note": "checked by API"}, format="json"
    )

    assert page.status_code == 302, page.context["adminform"].form.errors
    assert api.status_code == 200, api.content[:300]
    unannotated.refresh_from_db()
    assert (unannotated.gene, unannotated.note) == ("", "checked by API")
    notes = unannotated.history.order_by("history_date").values_list("note", flat=True)
    assert list(notes) == ["", "checked", "checked by API"]


def test_an_assay_with_variants_without_gene_inline_is_changed_in_the_admin(
    biobank, unannotated, curator_client
):
    assay = biobank.a.assay

    page = edit_in_admin(curator_client, assay, cfdna_ng_per_ml="9.5")

    assert page.status_code == 302, [
        form.errors
        for inline in page.context["inline_admin_formsets"]
        for form in inline.formset.forms
        if form.errors
    ]
    assay.refresh_from_db()
    assert assay.cfdna_ng_per_ml == 9.5
    unannotated.refresh_from_db()
    assert unannotated.gene == ""


def test_a_gene_cannot_be_emptied_in_the_admin_nor_through_the_api(
    biobank, curator_client, curator_api
):
    """Only an import without annotation leaves a gene empty; a curator names one."""
    variant = biobank.a.variant

    page = edit_in_admin(curator_client, variant, gene="")
    api = curator_api.patch(f"/api/variants/{variant.pk}/", {"gene": ""}, format="json")

    assert page.status_code == 200
    message = "is empty; every variant needs its gene."
    assert page.context["adminform"].form.errors["gene"] == [f"Gene {message}"]
    assert api.json() == {"gene": [message]}
    variant.refresh_from_db()
    assert variant.gene == "EGFR"
