"""A variant's genome build is GRCh37 or GRCh38 in API writes and the admin."""

from __future__ import annotations

import pytest

from liquidbiopsy.models import VariantResult
from tests import test_admin
from tests.api import test_writes
from tests.api.test_writes import changed, errors_of
from tests.test_admin import edit_in_admin

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client


@pytest.mark.parametrize(
    "written, stored",
    [("hg19", "GRCh37"), ("GRCh37.p13", "GRCh37"), ("hg38", "GRCh38"), ("", "")],
)
def test_a_build_written_in_a_known_spelling_is_stored_by_its_name(
    curator_api, biobank, written, stored
):
    variant = biobank.a.variant

    changed(
        curator_api.patch(
            f"/api/variants/{variant.pk}/", {"genome_build": written}, format="json"
        )
    )

    assert VariantResult.objects.get(pk=variant.pk).genome_build == stored


def test_an_unknown_build_is_refused_listing_the_accepted_ones(curator_api, biobank):
    variant = biobank.a.variant

    response = curator_api.patch(
        f"/api/variants/{variant.pk}/", {"genome_build": "hg99"}, format="json"
    )

    (message,) = errors_of(response)["genome_build"]
    assert message.startswith("is not a genome build the biobank knows; give GRCh37")
    assert "GRCh38 (hg38" in message
    assert VariantResult.objects.get(pk=variant.pk).genome_build == ""


def test_a_genomic_change_written_with_its_build_is_told_where_the_build_goes(
    curator_api, biobank
):
    variant = biobank.a.variant

    response = curator_api.patch(
        f"/api/variants/{variant.pk}/",
        {"genomic_change": "GRCh37:chr7:g.55249071C>T"},
        format="json",
    )

    assert errors_of(response) == {
        "genomic_change": [
            "writes the genome build GRCh37 in the genomic change; give the change "
            "alone (7:55249071 C>T) and its build under genome_build, as GRCh37."
        ]
    }


def test_the_admin_refuses_an_unknown_build_naming_the_builds(curator_client, biobank):
    variant = biobank.a.variant

    page = edit_in_admin(curator_client, variant, genome_build="hg99")

    assert page.status_code == 200
    (message,) = page.context["adminform"].form.errors["genome_build"]
    assert message.startswith("Genome build hg99 is not one the biobank stores")
    assert "GRCh37 or GRCh38" in message
    assert VariantResult.objects.get(pk=variant.pk).genome_build == ""
