"""Filters that name a feature, gene, modality, project...: an unknown name is a 400.

tests/api/test_filters.py refuses one unknown value of every such filter; these tests
check the hints the refusal gives and that it tells nothing of other projects.
"""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from liquidbiopsy.models import VariantResult
from patients.models import Patient, Project
from tests.api.conftest import B_VALUES, add_side


def refusal(response, parameter: str) -> str:
    assert response.status_code == 400, response.content[:300]
    return response.json()[parameter][0]


def test_a_misspelt_gene_is_refused_with_the_stored_gene_it_resembles(api, biobank):
    response = api.get("/api/variants/?gene=EGRF")

    message = refusal(response, "gene")

    assert message.startswith("No variant you may read is of gene EGRF.")
    assert "Did you mean EGFR?" in message


def test_a_former_gene_symbol_of_a_stored_gene_is_not_refused(api, biobank):
    VariantResult.objects.filter(pk=biobank.a.variant.pk).update(
        gene="SEPTIN9", gene_hgnc="SEPTIN9"
    )

    response = api.get("/api/variants/?gene=SEPT9")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [biobank.a.variant.pk]


def test_an_unknown_feature_is_refused_as_the_matrix_refuses_it(api, biobank):
    values = api.get("/api/feature-values/?feature=nonexistent_feature")
    wrong_case = api.get("/api/feature-values/?feature=original_firstorder_mean")

    assert "No radiomic feature is named or coded nonexistent_feature." in refusal(
        values, "feature"
    )
    assert "Did you mean original_firstorder_Mean" in refusal(wrong_case, "feature")


def test_an_ibsi_code_is_known_in_any_case(api, biobank):
    response = api.get("/api/feature-values/?feature=q4le")

    assert response.status_code == 200


def test_a_small_vocabulary_is_listed_when_nothing_is_close(api, biobank):
    message = refusal(api.get("/api/image-series/?modality=PT"), "modality")

    assert message == "No series you may read has modality PT. Known: CT, MR."


def test_another_projects_code_gets_the_answer_of_a_code_never_stored(
    api, biobank, django_user_model
):
    hidden = Project.objects.create(code="lung-b", name="Hidden collection")
    add_side(hidden, "PT-H", biobank.mean, biobank.signature, **B_VALUES)
    hidden_gene = VariantResult.objects.filter(assay__sample__patient__project=hidden)
    hidden_gene.update(gene="NTRK1", gene_hgnc="NTRK1")

    foreign = refusal(api.get("/api/patients/?project=lung-b"), "project")
    near_foreign = refusal(api.get("/api/patients/?project=lung-c"), "project")
    gene = refusal(api.get("/api/variants/?gene=NTRK1"), "gene")

    assert foreign == "No project you may read has the code lung-b. Known: demo."
    assert "lung-b" not in near_foreign
    assert "NTRK1" in gene and "Did you mean" not in gene
    assert Patient.objects.filter(project=hidden).exists()


def test_the_matrix_refuses_genes_no_variant_the_user_may_read_is_of(api, biobank):
    hidden = Project.objects.create(code="lung-b", name="Hidden collection")
    add_side(hidden, "PT-H", biobank.mean, biobank.signature, **B_VALUES)
    hidden_gene = VariantResult.objects.filter(assay__sample__patient__project=hidden)
    hidden_gene.update(gene="NTRK1", gene_hgnc="NTRK1")

    known = api.get("/api/cohort-matrix/?genes=egfr,KRAS")
    message = refusal(api.get("/api/cohort-matrix/?genes=EGFR,EGRF,NTRK1"), "genes")

    assert known.status_code == 200
    assert message.startswith(
        "No variant you may read is of gene EGRF. Did you mean EGFR? "
        "No variant you may read is of gene NTRK1."
    )
    assert "lung-b" not in message


def test_a_matrix_with_many_unknown_genes_names_the_first_and_counts_the_others(
    api, biobank
):
    genes = ",".join(f"NOGENE{number}" for number in range(10))

    message = refusal(api.get(f"/api/cohort-matrix/?genes={genes}"), "genes")

    assert message.count("No variant you may read is of gene NOGENE") == 3
    assert message.endswith(" 7 more genes are unknown too.")


def test_an_unknown_name_is_reported_with_the_other_problems_of_the_request(
    api, biobank
):
    response = api.get("/api/variants/?gene=EGRF&vaf_min=5&call=maybe")

    assert response.status_code == 400
    assert set(response.json()) == {"gene", "vaf_min", "call"}


def test_the_schema_says_which_parameters_must_name_something_stored(api, biobank):
    schema = api.get("/api/schema/?format=json").json()

    parameters = {
        parameter["name"]: parameter.get("description", "")
        for parameter in schema["paths"]["/api/variants/"]["get"]["parameters"]
    }

    assert "closest names" in parameters["gene"]
    assert "closest names" in parameters["project"]
    assert "closest names" not in parameters["variant"]


def test_a_gene_checked_reads_distinct_genes_only_when_unknown_and_unordered(
    api, biobank
):
    # The model's ordering (assay, gene, change) made DISTINCT send every variant,
    # and a known gene read every distinct gene (1.5 s at 410,000 variants):
    with CaptureQueriesContext(connection) as known:
        assert api.get("/api/cohort-matrix/?genes=EGFR,KRAS").status_code == 200
    with CaptureQueriesContext(connection) as unknown:
        refusal(api.get("/api/variants/?gene=EGRF"), "gene")

    # (PostgreSQL reads them from the indexes, with ORDER BY and no DISTINCT.)
    sent = [query["sql"] for query in unknown]
    assert not [sql for sql in sent if "DISTINCT" in sql and "ORDER BY" in sql]
    assert not [q for q in known if "DISTINCT" in q["sql"] and "gene" in q["sql"]]


def test_a_long_list_of_genes_is_checked_as_a_few(api, biobank):
    genes = ["EGFR", "kras"] * 15 + ["EGRF"]

    message = refusal(api.get(f"/api/cohort-matrix/?genes={','.join(genes)}"), "genes")

    assert message == "No variant you may read is of gene EGRF. Did you mean EGFR?"


def _client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_a_site_administrator_is_told_the_gene_from_every_project(
    biobank, django_user_model
):
    # On PostgreSQL a site administrator's genes are walked from the indexes:
    admin = django_user_model.objects.create_superuser("vocabulary-admin")

    message = refusal(_client_of(admin).get("/api/variants/?gene=EGRF"), "gene")

    assert message == "No variant you may read is of gene EGRF. Did you mean EGFR?"


def test_a_user_of_no_project_is_refused_a_gene_not_given_an_error(
    biobank, django_user_model
):
    # The index walk restricted to no project failed to compile (EmptyResultSet: a
    # 500 on PostgreSQL; review rv7):
    nobody = django_user_model.objects.create_user("vocabulary-nobody")

    message = refusal(_client_of(nobody).get("/api/variants/?gene=EGRF"), "gene")

    assert message.startswith("No variant you may read is of gene EGRF.")
    assert "EGFR" not in message
