"""The admin reads a variant's call with its VAF as the page shows them, as the API
reads a write giving both: a contradiction is refused under `vaf`, never rewritten.

A change of the VAF alone was sent to the API's rules without the call the page
showed, and re-called from the VAF: "detected" at VAF 0.0005 under a limit of
0.001 was stored below-lod with the VAF emptied, and VAF 0.30 on a below-lod call
stored as detected, with no message.
"""

from __future__ import annotations

import pytest

from liquidbiopsy.models import VariantResult
from tests import test_admin
from tests.api import test_writes
from tests.api.test_admin_rules import form_of
from tests.test_admin import admin_url, post_data

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client

EDITS = {
    "detected under the assay's limit": (
        {"call": "detected", "vaf": 0.12, "alt_reads": 245, "depth": 2045},
        "0.0005",
        "limit of detection",
    ),
    "a VAF on a below-LOD call": (
        {"call": "below-lod", "vaf": None, "alt_reads": 16, "depth": 2045},
        "0.30",
        "has no VAF",
    ),
}


@pytest.fixture
def variant(biobank) -> VariantResult:
    assay = biobank.a.assay
    assay.limit_of_detection_vaf = 0.001
    assay.save()
    return biobank.a.variant


def posted_vaf(client, variant: VariantResult, on_assay_page: bool, vaf: str):
    page_of = variant.assay if on_assay_page else variant
    url = admin_url(type(page_of), "change", page_of.pk)
    shown = client.get(url)
    prefix = form_of(shown, variant).prefix
    name = f"{prefix}-vaf" if on_assay_page else "vaf"
    return client.post(url, post_data(shown) | {name: vaf})


@pytest.mark.parametrize("on_assay_page", [False, True], ids=["own page", "inline"])
@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_a_vaf_contradicting_the_call_shown_is_refused_as_the_api_refuses_it(
    variant, curator_client, curator_api, edit, on_assay_page
):
    stored, vaf, said = edit
    VariantResult.objects.filter(pk=variant.pk).update(**stored)

    page = posted_vaf(curator_client, variant, on_assay_page, vaf)
    api = curator_api.patch(
        f"/api/variants/{variant.pk}/",
        {"call": stored["call"], "vaf": float(vaf)},
        format="json",
    )

    assert page.status_code == 200, f"the admin stored VAF {vaf} over {stored}"
    (message,) = form_of(page, variant).errors["vaf"]
    assert message.startswith("VAF ") and said in message, message
    assert api.status_code == 400, api.content[:300]
    assert said in api.json()["vaf"][0]
    kept = VariantResult.objects.filter(pk=variant.pk).values(*stored).get()
    assert kept == stored


def test_a_vaf_agreeing_with_the_call_shown_is_stored(variant, curator_client):
    page = posted_vaf(curator_client, variant, False, "0.15")

    assert page.status_code == 302, form_of(page, variant).errors
    variant.refresh_from_db()
    assert (variant.call, variant.vaf) == ("detected", 0.15)
