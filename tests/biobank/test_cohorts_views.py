"""The cohort page, its CSV download and the JSON endpoint."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from html import unescape

import pytest

from biobank.cohorts import views
from biobank.cohorts.forms import CohortForm
from biobank.exports.dates import DateMode, Dater
from liquidbiopsy.models import VariantResult
from patients.models import Project
from tests.biobank.conftest import Records
from tests.conftest import grant

STUDY_ON = dt.date(2024, 3, 10)


@pytest.fixture
def pairs(records: Records):
    """One patient: a CT study with an EGFR T790M draw 2 days before and a plain one after."""
    patient = records.patient("DEMO-00001")
    study = records.study(patient, STUDY_ON)
    with_variant = records.draw(patient, STUDY_ON - dt.timedelta(days=2))
    records.variant(with_variant, "EGFR", "p.T790M")
    plain = records.draw(patient, STUDY_ON + dt.timedelta(days=3))
    return study, with_variant, plain


def csv_rows(response) -> list[dict]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


# Page:


def test_home_is_the_dashboard_and_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/")

    assert (response.status_code, response["Location"]) == (
        302,
        "/accounts/login/?next=/",
    )


def test_cohort_page_sends_anonymous_visitors_to_the_login_page(client):
    response = client.get("/cohorts/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/cohorts/"


def test_login_page_logs_a_user_in_and_returns_to_the_cohorts(client, reader):
    reader.set_password("research-pass-123")
    reader.save()

    page = client.get("/accounts/login/?next=/cohorts/")
    response = client.post(
        "/accounts/login/",
        {
            "username": "researcher",
            "password": "research-pass-123",
            "next": "/cohorts/",
        },
    )

    assert page.status_code == 200
    assert b'<label for="id_username">' in page.content
    assert (response.status_code, response["Location"]) == (302, "/cohorts/")


def test_cohort_page_shows_the_filters_and_no_table_before_a_search(logged_in, pairs):
    response = logged_in.get("/cohorts/")

    assert response.status_code == 200
    for name in (
        "window_days",
        "mode",
        "project",
        "cancer_type",
        "modality",
        "gene",
        "variant",
        "min_ctc",
        "feature",
        "feature_min",
        "feature_max",
        "before_treatment",
    ):
        assert f'name="{name}"'.encode() in response.content
    assert b"<table" not in response.content


def test_cohort_page_says_the_nearest_draw_is_of_those_that_pass_the_filters(
    logged_in, pairs
):
    html = logged_in.get("/cohorts/").content.decode()

    assert re.search(
        r'value="nearest"[^>]*>\s*Only the nearest draw per study among those that '
        r"pass the filters</label>",
        html,
    )


def test_cohort_page_lists_the_matching_pairs(logged_in, reader, project, pairs):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    study, with_variant, _plain = pairs

    response = logged_in.get("/cohorts/", {"window_days": 5, "gene": "EGFR"})

    assert response.status_code == 200
    assert [row.sample_id for row in response.context["rows"]] == [with_variant.pk]
    content = response.content.decode()
    assert "1 pair</h2>" in content.replace("\n", "").replace("  ", "")
    assert study.study_instance_uid in content
    assert "2024-03-08 09:00" in content


@pytest.fixture
def five_pairs(records: Records):
    """One patient: a study with a draw on each of the five days after it."""
    patient = records.patient("DEMO-00001")
    records.study(patient, STUDY_ON)
    return [records.draw(patient, STUDY_ON + dt.timedelta(days=n)) for n in range(5)]


def page_of(response) -> list[int]:
    return [row.sample_id for row in response.context["rows"]]


def test_cohort_page_shows_the_pairs_a_page_at_a_time(
    logged_in, five_pairs, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_ROWS", 2)
    query = {"window_days": 7, "dates": "relative"}
    draws = [draw.pk for draw in five_pairs]

    first = logged_in.get("/cohorts/", query)
    second = logged_in.get("/cohorts/", query | {"page": "2"})
    last = logged_in.get("/cohorts/", query | {"page": "3"})

    assert [page_of(first), page_of(second), page_of(last)] == [
        draws[:2],
        draws[2:4],
        draws[4:],
    ]
    assert (first.context["previous_url"], first.context["next_url"]) == (
        "",
        "?window_days=7&dates=relative&page=2",
    )
    assert (second.context["previous_url"], second.context["next_url"]) == (
        "?window_days=7&dates=relative",
        "?window_days=7&dates=relative&page=3",
    )
    assert last.context["next_url"] == ""
    text = " ".join(unescape(second.content.decode()).split())
    assert "Pairs 3 to 4 </h2>" in text
    assert 'rel="next">Next 2 pairs</a>' in text
    assert text.count('aria-label="Pages of pairs"') == 1
    # The download holds every pair, whatever the page:
    assert second.context["csv_url"] == "?window_days=7&dates=relative&format=csv"
    assert len(csv_rows(logged_in.get("/cohorts/" + second.context["csv_url"]))) == 5


def test_cohort_page_past_the_last_pair_is_not_found_and_links_the_first(
    logged_in, five_pairs, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_ROWS", 2)

    response = logged_in.get("/cohorts/", {"window_days": 7, "page": "4"})
    huge = logged_in.get("/cohorts/", {"window_days": 7, "page": "9" * 40})

    assert response.status_code == huge.status_code == 404
    text = " ".join(unescape(response.content.decode()).split())
    assert "Page 4 is past the last pair of these filters" in text
    assert '<a href="?window_days=7">see the first page</a>' in text


@pytest.mark.parametrize("page", ["0", "-1", "two", " 2", "last"])
def test_cohort_page_refuses_a_page_that_is_no_whole_number_from_one(
    logged_in, five_pairs, page
):
    response = logged_in.get("/cohorts/", {"window_days": 7, "page": page})

    assert response.status_code == 400
    assert response.context["form"].non_field_errors() == [
        "page: Give a whole number from 1 (the first page)."
    ]


def test_cohort_page_links_curators_to_the_study_page_then_the_admin(
    client, curator, pairs
):
    study, with_variant, _plain = pairs
    client.force_login(curator)

    response = client.get("/cohorts/", {"gene": "EGFR"})

    content = response.content.decode()
    cell = re.search(r"<td><a [^>]*>2024-03-10</a>.*?</td>", content).group(0)
    study_page, admin_page = re.findall(r'href="([^"]+)"', cell)
    assert study_page == f"/studies/{study.pk}/"
    assert admin_page == f"/admin/radiomics/imagingstudy/{study.pk}/change/"
    assert (
        f'href="/admin/liquidbiopsy/bloodsample/{with_variant.pk}/change/"' in content
    )


def test_cohort_page_links_viewers_to_the_study_page_in_their_date_mode(
    logged_in, pairs
):
    study, _with_variant, _plain = pairs

    response = logged_in.get("/cohorts/", {"gene": "EGFR", "dates": "relative"})

    content = response.content.decode()
    assert f'href="/studies/{study.pk}/?dates=relative"' in content
    assert "/admin/" not in content
    assert logged_in.get(f"/studies/{study.pk}/?dates=relative").status_code == 200


def pair_cells(response) -> list[list[str]]:
    """The cells of the page's pair table, row by row, as HTML."""
    table = re.search(r"<tbody>(.*?)</tbody>", response.content.decode(), re.S)
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]


def text_of(cell: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", cell))


SAMPLE, DRAWN_AT = 5, 6


def test_cohort_page_names_each_draw_by_its_sample_id_day_and_timepoint(
    logged_in, reader, project, pairs
):
    grant(reader, project, "curator")  # calendar dates, and the admin's links
    study, with_variant, plain = pairs
    with_variant.external_sample_id, with_variant.timepoint = "PL-7", "Baseline"
    with_variant.save()

    rows = pair_cells(logged_in.get("/cohorts/", {"window_days": 5}))

    first, second = rows[0][SAMPLE], rows[1][SAMPLE]
    patient = study.patient_id
    assert (
        text_of(first) == "PL-7, drawn 2024-03-08 (Baseline) open the draw in the admin"
    )
    assert re.findall(r'href="([^"]+)"', first) == [
        f"/patients/{patient}/#sample-{with_variant.pk}",
        f"/admin/liquidbiopsy/bloodsample/{with_variant.pk}/change/",
    ]
    assert text_of(second) == "Drawn 2024-03-13 open the draw in the admin"
    assert text_of(rows[0][2]) == "2024-03-10 open the study in the admin"


def test_only_curators_of_the_pair_s_project_see_its_admin_links(
    client, django_user_model, project, records, pairs
):
    other = records.__class__(Project.objects.create(code="other", name="Other"))
    elsewhere = other.patient("OTHER-1")
    other.study(elsewhere, STUDY_ON)
    other.draw(elsewhere, STUDY_ON)
    # A staff flag alone opens no record of the admin (its lists are scoped by role):
    staff_viewer = django_user_model.objects.create_user("staff", is_staff=True)
    grant(staff_viewer, project)
    curator = grant(django_user_model.objects.create_user("cur"), project, "curator")
    grant(curator, Project.objects.get(code="other"))

    client.force_login(staff_viewer)
    as_staff = client.get("/cohorts/", {"window_days": 5})
    client.force_login(curator)
    rows = pair_cells(client.get("/cohorts/", {"window_days": 5}))

    assert len(pair_cells(as_staff)) == 2
    assert not any("/admin/" in cell for row in pair_cells(as_staff) for cell in row)
    # Per row: the links to the study and to the draw in the admin, or none:
    links = sorted((row[0], "".join(row).count('href="/admin/')) for row in rows)
    assert links == [("demo", 2), ("demo", 2), ("other", 0)]


@pytest.mark.parametrize("mode", ["shifted", "relative"])
def test_a_viewer_sees_no_calendar_date_in_a_draw_s_name(
    logged_in, pairs, records, mode
):
    study, with_variant, _plain = pairs
    # A lab's sample ID and timepoint may spell the day; the draw's own day is shown
    # in the mode, the one in the lab's text as [date] (it need not be the draw's):
    with_variant.external_sample_id = "PL-2024-03-08"
    with_variant.timepoint = "2024-03-08 pre-op"
    with_variant.save()
    day = Dater(DateMode(mode)).value(("demo", "DEMO-00001"), dt.date(2024, 3, 8))
    shown = day.isoformat() if mode == "shifted" else f"day {day}"

    response = logged_in.get("/cohorts/", {"window_days": 5, "dates": mode})

    sample = pair_cells(response)[0][SAMPLE]
    assert text_of(sample) == f"PL-[date], drawn {shown} ([date] pre-op)"
    assert f"?dates={mode}#sample-{with_variant.pk}" in sample
    page = response.content.decode()
    for real in ("2024-03-08", "2024-03-10", "2024-03-13"):
        assert real not in page


@pytest.mark.parametrize(
    ("sample_id", "timepoint", "shown_id", "shown_timepoint"),
    [
        ("CAIRO5_2024-03-08_T1", "C1D1 08.03.2024", "CAIRO5_[date]_T1", "C1D1 [date]"),
        ("PL-20240308", "8 Mar 2024", "PL-[date]", "[date]"),
        ("S2024-03-08", "Mar 8, 2024 pre-op", "S[date]", "[date] pre-op"),
    ],
)
def test_a_viewer_sees_no_calendar_date_however_the_lab_spells_it(
    logged_in, pairs, sample_id, timepoint, shown_id, shown_timepoint
):
    study, with_variant, _plain = pairs
    with_variant.external_sample_id, with_variant.timepoint = sample_id, timepoint
    with_variant.save()
    day = Dater(DateMode.SHIFTED).value(("demo", "DEMO-00001"), dt.date(2024, 3, 8))

    response = logged_in.get("/cohorts/", {"window_days": 5})

    sample = text_of(pair_cells(response)[0][SAMPLE])
    shown = day.isoformat()
    assert sample == (
        f"{shown_id.format(day=shown)}, drawn {shown} "
        f"({shown_timepoint.format(day=shown)})"
    )
    page = response.content.decode()
    for real in ("2024-03-08", "20240308", "08.03.2024", "8 Mar 2024", "Mar 8, 2024"):
        assert real not in page


def test_cohort_page_explains_an_invalid_filter_next_to_its_field(logged_in, pairs):
    response = logged_in.get("/cohorts/", {"window_days": "-1", "variant": "p.T790M"})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "window_days": ["Ensure this value is greater than or equal to 0."],
        "gene": [
            "Give the gene of the protein change, e.g. EGFR for p.T790M (a variant "
            "of no gene is asked for by its genomic change, e.g. 17:7578263 G>A)."
        ],
    }
    assert b"<table" not in response.content


def test_cohort_page_finds_a_variant_of_no_gene_by_the_change_it_shows(
    logged_in, pairs
):
    study, with_variant, _plain = pairs
    variant = with_variant.cfdna_assays.get().variants.get()
    variant.gene = variant.gene_hgnc = variant.protein_change = ""
    variant.genomic_change = "7:55249071 C>T"
    variant.save()

    response = logged_in.get("/cohorts/", {"variant": "chr7:55249071 C>T"})

    assert response.status_code == 200
    assert [row.sample_id for row in response.context["rows"]] == [with_variant.pk]


@pytest.mark.parametrize(
    "spelling",
    ["chr7 55249071 C>T", "7:55249071", "7:55,249,071 C>T", "7:55249071 C=>T"],
)
def test_cohort_page_names_the_variant_field_of_a_misspelt_genomic_change(
    logged_in, pairs, spelling
):
    response = logged_in.get("/cohorts/", {"variant": spelling})

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "variant": [f"{spelling} is not a genomic change such as chr17:7578263 G>A."]
    }
    # Shown under the field's own label, and tied to its input for screen readers:
    html = unescape(response.content.decode())
    field = re.search(r'<label for="id_variant">Variant:</label>.*?<input', html, re.S)
    assert f"{spelling} is not a genomic change" in field.group(0)
    assert 'aria-describedby="id_variant_helptext id_variant_error"' in html


def test_cohort_page_asks_for_the_build_of_a_change_stored_in_two(
    logged_in, records, pairs
):
    study, with_variant, plain = pairs
    for draw, build in ((with_variant, "hg19"), (plain, "GRCh38")):
        variant = records.variant(draw, "", f"{build}-change")
        VariantResult.objects.filter(pk=variant.pk).update(
            protein_change="", genomic_change="7:55249071 C>T", genome_build=build
        )

    refused = logged_in.get("/cohorts/", {"variant": "7:55249071 C>T"})
    chosen = logged_in.get("/cohorts/", {"variant": "7:55249071 C>T hg38"})

    assert refused.status_code == 400
    assert refused.context["form"].errors == {
        "variant": [
            "7:55249071 C>T is stored in more than one genome build (GRCh37, "
            "GRCh38); add the one you mean after the change, e.g. 7:55249071 C>T "
            "GRCh37."
        ]
    }
    assert chosen.status_code == 200
    assert [row.sample_id for row in chosen.context["rows"]] == [plain.pk]


def test_cohort_page_names_the_changes_stored_where_a_reference_base_is_wrong(
    logged_in, records, pairs
):
    study, with_variant, plain = pairs
    variant = records.variant(with_variant, "TP53", "")
    VariantResult.objects.filter(pk=variant.pk).update(
        genomic_change="17:7579312 C>A", genome_build="hg19"
    )

    refused = logged_in.get("/cohorts/", {"variant": "17-7579312-G-A"})
    found = logged_in.get("/cohorts/", {"variant": "17-7579312-C-A"})

    assert refused.status_code == 400
    assert refused.context["form"].errors == {
        "variant": [
            "No variant you may read is 17-7579312-G-A; the changes stored at "
            "17:7579312 are C>A (GRCh37), none of reference base G. Check the "
            "reference base and the genome build of the change."
        ]
    }
    assert b"<table" not in refused.content
    assert found.status_code == 200
    assert [row.sample_id for row in found.context["rows"]] == [with_variant.pk]


def test_a_form_of_nobody_checks_genomic_changes_against_every_stored_variant(
    records, pairs
):
    # As a stored definition is checked on nobody's behalf (user None):
    study, with_variant, plain = pairs
    for build, sample in (("hg19", with_variant), ("GRCh38", plain)):
        variant = records.variant(sample, "TP53", "")
        VariantResult.objects.filter(pk=variant.pk).update(
            genomic_change="17:7579312 C>A", genome_build=build
        )

    def errors(variant: str) -> dict:
        form = CohortForm({"variant": variant}, user=None)
        form.is_valid()
        return form.errors

    assert "more than one genome build" in errors("17:7579312 C>A")["variant"][0]
    assert "none of reference base G" in errors("17:7579312 G>A hg19")["variant"][0]
    assert errors("17:7579312 C>A hg19") == {}


@pytest.mark.parametrize(
    ("variant", "build"),
    [
        ("NC_000007.13:g.55249071C>T", "hg19"),
        ("NC_000007.14:g.55249071C>T", "GRCh38"),
        ("chr7:g.55249071C>T hg38", "GRCh38"),
    ],
)
def test_cohort_page_reads_an_hgvs_change_with_the_build_of_its_accession(
    logged_in, records, pairs, variant, build
):
    study, with_variant, plain = pairs
    stored = {}
    for draw, stored_build in ((with_variant, "hg19"), (plain, "GRCh38")):
        row = records.variant(draw, "", f"{stored_build}-change")
        VariantResult.objects.filter(pk=row.pk).update(
            protein_change="",
            genomic_change="7:55249071 C>T",
            genome_build=stored_build,
        )
        stored[stored_build] = draw

    response = logged_in.get("/cohorts/", {"variant": variant})

    assert response.status_code == 200
    assert [row.sample_id for row in response.context["rows"]] == [stored[build].pk]


@pytest.mark.parametrize(
    ("variant", "message"),
    [
        (
            "NC_000007.12:g.55249071C>T",
            "NC_000007.12:g.55249071C>T is on NC_000007.12, a version of no build "
            "the biobank stores: chromosome 7 is NC_000007.13 in GRCh37 and "
            "NC_000007.14 in GRCh38.",
        ),
        (
            "NC_000007.14:g.55249071C>T hg19",
            "NC_000007.14:g.55249071C>T hg19 names GRCh38 by its accession and "
            "GRCh37 after it; give one build.",
        ),
    ],
)
@pytest.mark.parametrize("gene", ["", "EGFR"])
def test_cohort_form_refuses_an_accession_of_another_build_by_its_reason(
    pairs, variant, message, gene
):
    """Not with "give the gene", which a text read as a protein change gets."""
    form = CohortForm({"gene": gene, "variant": variant}, user=None)

    assert not form.is_valid()
    assert form.errors == {"variant": [message]}


# A build written before the change (review cur2: the curator's GRCh37:chr7:... got
# "give the gene of the protein change"), or one of no known name after it:
BUILD_REFUSALS = {
    "GRCh37:chr7:g.55249071C>T": (
        "GRCh37:chr7:g.55249071C>T writes its genome build GRCh37 before the change; "
        "write the build after it (chr7:g.55249071C>T GRCh37), or give an HGVS change "
        "on the chromosome's RefSeq accession, which names its build "
        "(NC_000007.13:g.55249071C>T is GRCh37)."
    ),
    "hg38 7:55249071 C>T": (
        "hg38 7:55249071 C>T writes its genome build hg38 before the change; write "
        "the build after it (7:55249071 C>T GRCh38), or give an HGVS change on the "
        "chromosome's RefSeq accession, which names its build "
        "(NC_000007.13:g.55249071C>T is GRCh37)."
    ),
    "7:55249071 C>T hg99": (
        "7:55249071 C>T hg99 names the genome build hg99, which the biobank does not "
        "know; write GRCh37 (also written hg19, b37, hs37d5, 37, or with its patch: "
        "GRCh37.p13) or GRCh38 (hg38, 38, GRCh38.p14) after the change "
        "(7:55249071 C>T GRCh37), or leave the build out."
    ),
}


@pytest.mark.parametrize("variant", sorted(BUILD_REFUSALS))
@pytest.mark.parametrize("gene", ["", "EGFR"])
def test_cohort_form_says_where_the_build_of_a_genomic_change_goes(
    pairs, variant, gene
):
    form = CohortForm({"gene": gene, "variant": variant}, user=None)

    assert not form.is_valid()
    assert form.errors == {"variant": [BUILD_REFUSALS[variant]]}


@pytest.mark.parametrize("gene", ["", "EGFR"])
def test_cohort_page_finds_a_variant_by_its_dbsnp_id(logged_in, pairs, gene):
    study, with_variant, _plain = pairs
    VariantResult.objects.filter(assay__sample=with_variant).update(
        dbsnp_id="rs121434569"
    )

    response = logged_in.get("/cohorts/", {"gene": gene, "variant": "rs121434569"})
    other = logged_in.get("/cohorts/", {"variant": "rs121434568"})

    assert response.status_code == 200
    assert [row.sample_id for row in response.context["rows"]] == [with_variant.pk]
    # An ID no variant carries is refused, saying where IDs come from:
    assert other.status_code == 400
    [message] = other.context["form"].errors["variant"]
    assert message.startswith(
        "No variant you may read has the dbSNP ID rs121434568 stored (others are "
        "stored). IDs are stored from a MAF's dbSNP_RS or a VCF's ID column only"
    )


def test_cohort_page_refuses_a_change_in_a_build_nothing_is_stored_in(
    logged_in, records, pairs
):
    study, with_variant, plain = pairs
    variant = records.variant(with_variant, "", "hg19-change")
    VariantResult.objects.filter(pk=variant.pk).update(
        protein_change="", genomic_change="7:55249071 C>T", genome_build="hg19"
    )
    VariantResult.objects.exclude(pk=variant.pk).update(genome_build="")

    refused = logged_in.get("/cohorts/", {"variant": "NC_000007.14:g.55191822T>G"})
    stored = logged_in.get("/cohorts/", {"variant": "7:55249072 C>T hg19"})

    assert refused.status_code == 400
    assert refused.context["form"].errors == {
        "variant": [
            "No variant is stored in GRCh38, the genome build of "
            "NC_000007.14:g.55191822T>G (stored: GRCh37); give the change in "
            "GRCh37 — positions are not lifted over."
        ]
    }
    # A stored build with nothing at the position is an empty cohort:
    assert stored.status_code == 200
    assert list(stored.context["rows"]) == []


# CSV download:


def test_csv_download_holds_every_pair_of_the_same_filters(
    logged_in, reader, project, pairs
):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    study, with_variant, plain = pairs

    response = logged_in.get("/cohorts/", {"window_days": 5, "format": "csv"})

    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="cohort.csv"'
    assert csv_rows(response) == [
        {
            "project_code": "demo",
            "patient_pseudonym": "DEMO-00001",
            "study_id": str(study.pk),
            "study_instance_uid": study.study_instance_uid,
            "study_date": "2024-03-10",
            "modalities": "CT",
            "sample_id": str(with_variant.pk),
            "drawn_at": "2024-03-08T09:00:00Z",
            "drawn_on": "2024-03-08",
            "days_apart": "-2",
            "abs_days_apart": "2",
        },
        {
            "project_code": "demo",
            "patient_pseudonym": "DEMO-00001",
            "study_id": str(study.pk),
            "study_instance_uid": study.study_instance_uid,
            "study_date": "2024-03-10",
            "modalities": "CT",
            "sample_id": str(plain.pk),
            "drawn_at": "2024-03-13T09:00:00Z",
            "drawn_on": "2024-03-13",
            "days_apart": "3",
            "abs_days_apart": "3",
        },
    ]


def test_csv_download_applies_the_filters(logged_in, pairs):
    _study, with_variant, _plain = pairs

    response = logged_in.get(
        "/cohorts/", {"gene": "EGFR", "variant": "p.Thr790Met", "format": "csv"}
    )

    assert [row["sample_id"] for row in csv_rows(response)] == [str(with_variant.pk)]


def test_page_links_its_csv_download_with_the_same_filters(logged_in, pairs):
    response = logged_in.get("/cohorts/", {"gene": "EGFR", "window_days": "5"})

    assert response.context["csv_url"] == "?gene=EGFR&window_days=5&format=csv"


def test_csv_download_of_invalid_filters_is_a_bad_request(logged_in, pairs):
    response = logged_in.get("/cohorts/", {"min_ctc": "many", "format": "csv"})

    assert response.status_code == 400
    assert response.context["form"].errors == {"min_ctc": ["Enter a number."]}


# JSON endpoint:


def test_json_endpoint_refuses_anonymous_requests(client, pairs):
    response = client.get("/cohorts/query.json")

    assert response.status_code == 403
    assert "rows" not in response.json()


def test_json_endpoint_returns_pairs_for_the_filters(logged_in, reader, project, pairs):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    study, with_variant, _plain = pairs

    response = logged_in.get(
        "/cohorts/query.json", {"window_days": "5", "gene": "EGFR", "mode": "nearest"}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == [
        {
            "project_code": "demo",
            "patient_pseudonym": "DEMO-00001",
            "study_id": study.pk,
            "study_instance_uid": study.study_instance_uid,
            "study_date": "2024-03-10",
            "modalities": "CT",
            "sample_id": with_variant.pk,
            "drawn_at": "2024-03-08T09:00:00Z",
            "drawn_on": "2024-03-08",
            "days_apart": -2,
            "abs_days_apart": 2,
        }
    ]
    assert body["criteria"]["mode"] == "nearest"
    assert body["next_offset"] is None


def test_json_endpoint_pages_with_limit_and_offset(logged_in, pairs):
    _study, with_variant, plain = pairs

    first = logged_in.get("/cohorts/query.json", {"limit": "1"}).json()
    second = logged_in.get("/cohorts/query.json", {"limit": "1", "offset": "1"}).json()

    assert [row["sample_id"] for row in first["rows"]] == [with_variant.pk]
    assert first["next_offset"] == 1
    assert [row["sample_id"] for row in second["rows"]] == [plain.pk]
    assert second["next_offset"] is None


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        (
            {"window_days": "a week"},
            {"window_days": ["Enter a whole number."]},
        ),
        (
            {"window_days": "3651"},
            {"window_days": ["Ensure this value is less than or equal to 3650."]},
        ),
        (
            {"mode": "closest"},
            {
                "mode": [
                    "Select a valid choice. closest is not one of the available choices."
                ]
            },
        ),
        (
            {"project": "nowhere"},
            {"project": ["No project you may read has the code nowhere. Known: demo."]},
        ),
        (
            {"modality": "C T"},
            {"modality": ["Give a DICOM modality code such as CT, MR or PT."]},
        ),
        (
            {"gene": "EGFR", "variant": "p.Thr79OMet"},
            {
                "variant": [
                    "p.Thr79OMet is not an HGVS protein change: it has the letter O "
                    "where a digit is expected (write 0, zero)."
                ]
            },
        ),
        (
            {"min_ctc": "-1"},
            {"min_ctc": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            {"feature_min": "1"},
            {"feature": ["Name the feature that the value range applies to."]},
        ),
        (
            {"feature": "original_glcm_Nothing", "feature_min": "1"},
            {
                "feature": [
                    "No radiomic feature is named or coded original_glcm_Nothing. "
                    "None is stored that you may read."
                ]
            },
        ),
        (
            {"before_treatment": "maybe"},
            {
                "before_treatment": [
                    "Use true or false (or 1 or 0, on or off, yes or no)."
                ]
            },
        ),
        (
            {"feature": "original_glcm_Contrast", "feature_min": "nan"},
            {
                # One message for nan, not also "Give a lower or an upper bound":
                "feature_min": ["Enter a number."],
                "feature": [
                    "No radiomic feature is named or coded original_glcm_Contrast. "
                    "None is stored that you may read."
                ],
            },
        ),
        (
            {"windw_days": "5"},
            {"windw_days": ["Unknown parameter; check its spelling."]},
        ),
        (
            {"limit": "0", "offset": "-1"},
            {
                "limit": ["Ensure this value is greater than or equal to 1."],
                "offset": ["Ensure this value is greater than or equal to 0."],
            },
        ),
    ],
)
def test_json_endpoint_names_each_invalid_parameter(logged_in, pairs, params, errors):
    response = logged_in.get("/cohorts/query.json", params)

    assert response.status_code == 400
    assert response.json() == {"errors": errors}


@pytest.mark.parametrize(
    ("name", "given", "read"),
    [
        ("cancer_type", "luad", "LUAD"),
        ("cancer_type", "Luad", "LUAD"),
        ("mode", "NEAREST", "nearest"),
        ("before_treatment", "on", True),  # the page's checkbox
        ("before_treatment", "yes", True),
        ("before_treatment", "0", False),
    ],
)
def test_cohort_form_reads_a_choice_in_any_case_as_its_code(db, name, given, read):
    form = CohortForm({name: given}, user=None)

    assert form.is_valid(), form.errors
    assert form.cleaned_data[name] == read


def test_json_endpoint_checks_the_feature_range_bounds(logged_in, records):
    study = records.study(records.patient("DEMO-00001"), STUDY_ON)
    records.feature(study, "original_glcm_Contrast", 2.0, ibsi_code="ACUI")

    no_bound = logged_in.get("/cohorts/query.json", {"feature": "ACUI"})
    reversed_bounds = logged_in.get(
        "/cohorts/query.json",
        {"feature": "ACUI", "feature_min": "3", "feature_max": "1"},
    )

    assert no_bound.json() == {
        "errors": {"feature_min": ["Give a lower or an upper bound, or both."]}
    }
    assert reversed_bounds.json() == {
        "errors": {
            "feature_max": ["The upper bound must not be below the lower bound."]
        }
    }


def test_json_endpoint_reads_true_and_false_flags(logged_in, records):
    patient = records.patient("DEMO-00001")
    records.study(patient, STUDY_ON)
    records.draw(patient, STUDY_ON + dt.timedelta(days=2))
    records.treatment(patient, STUDY_ON)

    treated = logged_in.get("/cohorts/query.json", {"before_treatment": "true"}).json()
    everyone = logged_in.get(
        "/cohorts/query.json", {"before_treatment": "false"}
    ).json()

    assert (len(treated["rows"]), len(everyone["rows"])) == (0, 1)


@pytest.mark.parametrize("offset", ["2000000001", "18446744073709551615"])
def test_an_offset_beyond_any_table_is_a_form_error_not_a_server_error(
    logged_in, offset
):
    response = logged_in.get("/cohorts/query.json", {"offset": offset})

    assert response.status_code == 400
    assert "offset" in response.json()["errors"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"gene": "EGRF"},
            "gene",
            "No variant you may read is of gene EGRF. Did you mean EGFR?",
        ),
        (
            {"modality": "XX"},
            "modality",
            "No series you may read has modality XX. Known: CT.",
        ),
    ],
)
@pytest.mark.parametrize(
    "page", ["/cohorts/", "/cohorts/count.json", "/cohorts/query.json"]
)
def test_a_name_nothing_stored_has_is_named_with_the_closest_one(
    logged_in, pairs, page, params, field, message
):
    response = logged_in.get(page, params)

    assert response.status_code == 400
    if page.endswith(".json"):
        assert response.json()["errors"][field] == [message]
    else:
        assert response.context["form"].errors[field] == [message]
        assert b"<table" not in response.content


def test_cohort_page_gives_a_draw_without_a_time_as_its_day(
    logged_in, reader, project, pairs, records
):
    grant(reader, project, "curator")  # a viewer's dates are shifted
    study, _with_variant, _plain = pairs
    records.draw(study.patient, STUDY_ON + dt.timedelta(days=1), at=None)

    content = logged_in.get("/cohorts/", {"window_days": 5}).content.decode()

    assert "<td>2024-03-11</td>" in content
    assert "<td>2024-03-13 09:00</td>" in content
    assert "00:00" not in content
