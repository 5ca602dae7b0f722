"""An assay's limit of detection is a fraction 0 < lod < 1 that its stored calls obey.

A call of detected under its assay's limit is refused by the importers and by
variant writes (validation.resolve_call); changing the limit afterwards must not
make the stored calls say it after all, through the API or the admin.
"""

from __future__ import annotations

import pytest

from liquidbiopsy.models import CfDNAAssay, VariantResult
from tests import test_admin
from tests.api import test_writes
from tests.api.test_admin_rules import form_of
from tests.test_admin import admin_url, edit_in_admin, post_data

curator_api = test_writes.curator_api
curator_client = test_admin.curator_client
errors_of, changed = test_writes.errors_of, test_writes.changed

OUT_OF_RANGE = (
    "must lie above 0 and under 1 (100 %): a limit of 0 calls nothing below LOD and "
    "one of 1 every variant; give the assay's limit, such as 0.005 for 0.5 %."
)


def add_call(assay: CfDNAAssay, change: str, call: str, vaf: float | None):
    return VariantResult.objects.create(
        assay=assay,
        gene="KRAS",
        gene_hgnc="KRAS",
        variant_key=f"KRAS:{change}",
        variant_type=VariantResult.Type.SNV,
        protein_change=change,
        call=call,
        vaf=vaf,
    )


@pytest.fixture
def assay(biobank) -> CfDNAAssay:
    """PT-A's ddPCR assay, without a limit: EGFR p.T790M detected at 0.12 and more."""
    assay = biobank.a.assay
    add_call(assay, "p.G12C", "detected", 0.1)
    add_call(assay, "p.G13D", "detected", 0.6)
    add_call(assay, "p.Q61H", "below-lod", None)
    add_call(assay, "p.G12V", "not-detected", None)
    return assay


def contradiction(count: int, calls: str, lowest: str) -> str:
    return (
        f"is above the VAF of {count} call{'s' * (count > 1)} of detected of this "
        f"assay ({calls}); a "
        "call of detected under its assay's limit contradicts it, as imports and "
        "variant writes refuse. Change those calls first (to below-lod), or give a "
        f"limit of at most {lowest}."
    )


def named(assay: CfDNAAssay, *changes: str) -> str:
    variants = {v.protein_change: v for v in assay.variants.all()}
    return "; ".join(
        f"variant {variants[change].pk} {variants[change]} at VAF {variants[change].vaf:g}"
        for change in changes
    )


def test_a_limit_above_stored_detected_calls_is_refused_naming_them(curator_api, assay):
    response = curator_api.patch(
        f"/api/cfdna-assays/{assay.pk}/", {"limit_of_detection_vaf": 0.5}, format="json"
    )

    calls = named(assay, "p.G12C", "p.T790M")
    assert errors_of(response) == {
        "limit_of_detection_vaf": [contradiction(2, calls, "0.1")]
    }
    assay.refresh_from_db()
    assert assay.limit_of_detection_vaf is None


def test_a_limit_above_one_stored_detected_call_names_it(curator_api, assay):
    response = curator_api.patch(
        f"/api/cfdna-assays/{assay.pk}/",
        {"limit_of_detection_vaf": 0.11},
        format="json",
    )

    calls = named(assay, "p.G12C")
    assert errors_of(response) == {
        "limit_of_detection_vaf": [contradiction(1, calls, "0.1")]
    }


def test_a_limit_no_stored_call_contradicts_is_stored(curator_api, assay):
    """A VAF at the limit is not under it (validation.is_below_lod)."""
    changed(
        curator_api.patch(
            f"/api/cfdna-assays/{assay.pk}/",
            {"limit_of_detection_vaf": 0.1},
            format="json",
        )
    )
    assay.refresh_from_db()
    assert assay.limit_of_detection_vaf == 0.1

    # Lowered or removed, a limit leaves every detected call above it:
    for limit in (0.001, None):
        changed(
            curator_api.patch(
                f"/api/cfdna-assays/{assay.pk}/",
                {"limit_of_detection_vaf": limit},
                format="json",
            )
        )
        assay.refresh_from_db()
        assert assay.limit_of_detection_vaf == limit


def test_a_long_list_of_contradicting_calls_is_cut_short(curator_api, assay):
    for position in range(1, 8):
        add_call(assay, f"p.A{position}V", "detected", position / 1000)

    response = curator_api.patch(
        f"/api/cfdna-assays/{assay.pk}/", {"limit_of_detection_vaf": 0.2}, format="json"
    )

    (message,) = errors_of(response)["limit_of_detection_vaf"]
    shown = named(assay, *(f"p.A{position}V" for position in range(1, 6)))
    assert message == contradiction(9, f"{shown} and 4 more", "0.001")


@pytest.mark.parametrize("limit", [0, 1, 0.0, 1.0])
def test_a_limit_of_0_or_1_is_refused(curator_api, assay, limit):
    response = curator_api.patch(
        f"/api/cfdna-assays/{assay.pk}/",
        {"limit_of_detection_vaf": limit},
        format="json",
    )

    assert errors_of(response) == {"limit_of_detection_vaf": [OUT_OF_RANGE]}


def test_a_new_assay_with_a_limit_of_0_is_refused(curator_api, biobank):
    response = curator_api.post(
        "/api/cfdna-assays/",
        {
            "sample": biobank.a.sample.pk,
            "method": "WGS",
            "limit_of_detection_vaf": 0,
        },
        format="json",
    )

    assert errors_of(response) == {"limit_of_detection_vaf": [OUT_OF_RANGE]}
    assert not CfDNAAssay.objects.filter(method="WGS").exists()


def test_the_admin_refuses_a_limit_stored_calls_contradict(curator_client, assay):
    page = edit_in_admin(curator_client, assay, limit_of_detection_vaf="0.5")

    assert page.status_code == 200
    calls = named(assay, "p.G12C", "p.T790M")
    assert page.context["adminform"].form.errors["limit_of_detection_vaf"] == [
        f"Limit of detection (VAF) {contradiction(2, calls, '0.1')}"
    ]
    assay.refresh_from_db()
    assert assay.limit_of_detection_vaf is None


@pytest.mark.parametrize("limit", ["0", "1"])
def test_the_admin_refuses_a_limit_of_0_or_1(curator_client, assay, limit):
    page = edit_in_admin(curator_client, assay, limit_of_detection_vaf=limit)

    assert page.status_code == 200
    assert page.context["adminform"].form.errors["limit_of_detection_vaf"] == [
        f"Limit of detection (VAF) {OUT_OF_RANGE}"
    ]


def test_the_draws_page_refuses_a_contradicted_limit_of_its_assay_inline(
    curator_client, biobank, assay
):
    url = admin_url(type(biobank.a.sample), "change", biobank.a.sample.pk)
    prefix = form_of(curator_client.get(url), assay).prefix
    data = post_data(curator_client.get(url))

    page = curator_client.post(url, data | {f"{prefix}-limit_of_detection_vaf": "0.5"})

    assert page.status_code == 200
    (message,) = form_of(page, assay).errors["limit_of_detection_vaf"]
    assert message.startswith("Limit of detection (VAF) is above the VAF of 2 calls")
    assay.refresh_from_db()
    assert assay.limit_of_detection_vaf is None
