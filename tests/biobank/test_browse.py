"""The dashboard and the patient browser: counts, gaps, filters, sorting, pages."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from liquidbiopsy.models import VariantResult
from patients.models import CancerType, Project
from radiomics.models import Segmentation
from tests.biobank.conftest import Records
from tests.conftest import grant

DAY = dt.date(2024, 3, 1)


def _table_value(html: str, label: str) -> int:
    match = re.search(
        rf'<th scope="row">{re.escape(label)}</th><td class="number">(\d+)</td>', html
    )
    assert match, f"no row {label!r} in the page"
    return int(match.group(1))


def _pseudonyms(response) -> list[str]:
    rows = re.findall(
        r"<tr>\s*<td><a [^>]+>([^<]+)</a></td>", response.content.decode()
    )
    return [row.strip() for row in rows]


@pytest.fixture
def biobank(records: Records):
    """Three patients: imaging and blood, imaging only, blood only."""
    both = records.patient("P-BOTH", CancerType.LUAD)
    study = records.study(both, DAY)
    records.feature(study, "original_firstorder_Mean", 1.0)
    draw = records.draw(both, DAY)
    records.ctc(draw, 6)
    records.variant(draw, "EGFR", "p.T790M")

    imaging_only = records.patient("P-IMG", CancerType.COAD)
    records.study(imaging_only, None, modalities="MR")

    blood_only = records.patient("P-BLOOD", CancerType.PRAD)
    records.draw(blood_only, DAY)
    return records


def test_pages_ask_anonymous_visitors_to_log_in(client):
    for url in ("/", "/patients/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_dashboard_counts_records_and_what_is_missing(logged_in, biobank):
    html = logged_in.get("/").content.decode()

    assert _table_value(html, "Patients") == 3
    assert _table_value(html, "Imaging studies") == 2
    assert _table_value(html, "Segmentations") == 1
    assert _table_value(html, "Blood draws") == 2
    assert _table_value(html, "CTC counts") == 1
    assert _table_value(html, "Variant results") == 1
    assert _table_value(html, "Patients with imaging and blood draws") == 1
    assert _table_value(html, "Patients with imaging but no blood draw") == 1
    assert _table_value(html, "Patients with blood draws but no imaging") == 1
    assert _table_value(html, "Imaging studies without a segmentation") == 1
    assert _table_value(html, "Imaging studies without a date (they never pair)") == 1
    assert _table_value(html, "Blood draws without any result") == 1


def test_dashboard_narrows_to_one_project(logged_in, reader, biobank):
    other = Project.objects.create(code="other", name="Other collection")
    Records(other).patient("X-1")
    grant(reader, other)

    everything = logged_in.get("/").content.decode()
    one = logged_in.get("/?project=other").content.decode()

    assert _table_value(everything, "Patients") == 4
    assert _table_value(one, "Patients") == 1
    assert _table_value(one, "Imaging studies") == 0


@pytest.mark.parametrize("url", ["/", "/patients/?modality=CT"])
def test_page_query_count_does_not_grow_with_records(logged_in, records, url):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert logged_in.get(url).status_code == 200
        return len(captured)

    records.study(records.patient("P-0"), DAY)
    few = queries()
    for n in range(1, 8):
        patient = records.patient(f"P-{n}")
        records.study(patient, DAY)
        records.draw(patient, DAY)
    assert queries() == few


def test_patient_list_filters_by_each_field(logged_in, biobank):
    cases = {
        "q=blo": ["P-BLOOD"],
        "cancer_type=COAD": ["P-IMG"],
        "modality=mr": ["P-IMG"],
        "modality=CT": ["P-BOTH"],
        "gene=egfr": ["P-BOTH"],
        "gene=EGFR&call=detected": ["P-BOTH"],
        "gene=EGFR&call=not-detected": [],
        "project=demo": ["P-BLOOD", "P-BOTH", "P-IMG"],
    }
    for query, expected in cases.items():
        response = logged_in.get(f"/patients/?{query}")
        assert response.status_code == 200, query
        assert _pseudonyms(response) == expected, query


def test_patient_list_filters_by_stage_ignoring_case(logged_in, records):
    records.patient("P-IV").__class__.objects.filter(pseudonym="P-IV").update(
        stage="IVa"
    )
    records.patient("P-I")

    assert _pseudonyms(logged_in.get("/patients/?stage=iva")) == ["P-IV"]


def test_patient_list_lists_a_patient_once_whatever_the_matches(logged_in, records):
    patient = records.patient("P-MANY")
    for day in range(3):
        draw = records.draw(patient, DAY + dt.timedelta(days=day))
        records.variant(draw, "KRAS", "p.G12D")
        records.study(patient, DAY + dt.timedelta(days=day))

    assert _pseudonyms(logged_in.get("/patients/?gene=KRAS&modality=CT")) == ["P-MANY"]


def test_patient_list_explains_a_call_without_gene(logged_in, biobank):
    response = logged_in.get(f"/patients/?call={VariantResult.Call.DETECTED}")

    assert "Name the gene whose call you filter on." in response.content.decode()
    assert _pseudonyms(response) == []


def test_patient_list_sorts_by_counts_both_ways(logged_in, records):
    for name, draws in (("P-A", 2), ("P-B", 0), ("P-C", 1)):
        patient = records.patient(name)
        for day in range(draws):
            records.draw(patient, DAY + dt.timedelta(days=day))

    ascending = _pseudonyms(logged_in.get("/patients/?sort=draws"))
    descending = _pseudonyms(logged_in.get("/patients/?sort=draws&descending=on"))

    assert ascending == ["P-B", "P-C", "P-A"]
    assert descending == ["P-A", "P-C", "P-B"]


def test_patient_list_shows_counts_per_patient(logged_in, biobank):
    html = logged_in.get("/patients/?q=P-BOTH").content.decode()

    assert re.search(r'<td class="number">1</td>\s*<td class="number">1</td>', html)


def test_patient_list_pages_and_keeps_the_filters(logged_in, records, monkeypatch):
    monkeypatch.setattr("biobank.browse.views.PATIENTS_PER_PAGE", 2)
    for n in range(5):
        records.patient(f"P-{n}", CancerType.BRCA)

    first = logged_in.get("/patients/?cancer_type=BRCA")
    last = logged_in.get("/patients/?cancer_type=BRCA&page=3")

    assert _pseudonyms(first) == ["P-0", "P-1"]
    assert 'href="?cancer_type=BRCA&amp;page=2"' in first.content.decode()
    assert _pseudonyms(last) == ["P-4"]


@pytest.mark.parametrize("page", ["abc", "0", "-1", "2.5", "+2", "last"])
def test_patient_list_names_a_page_that_is_no_whole_number(logged_in, records, page):
    records.patient("P-0")

    response = logged_in.get("/patients/", {"page": page})

    assert response.status_code == 400
    html = unescape(response.content.decode())
    assert "page: Give a whole number from 1 (the first page)." in html
    assert 'id="results-heading"' not in html  # not the first page instead


def test_patient_list_names_a_page_past_the_last(logged_in, records, monkeypatch):
    monkeypatch.setattr("biobank.browse.views.PATIENTS_PER_PAGE", 2)
    for n in range(5):
        records.patient(f"P-{n}")

    response = logged_in.get("/patients/?page=4")

    assert response.status_code == 400
    assert (
        "page: Page 4 is past the last page; the list has 5 rows, 3 pages of 2."
        in unescape(response.content.decode())
    )
    assert not _pseudonyms(response)  # not the last page instead


def test_patient_list_cancer_type_includes_the_oncotree_subtypes(logged_in, records):
    records.patient("P-LUAD", CancerType.LUAD)
    records.patient("P-LUSC", CancerType.LUSC)
    records.patient("P-NSCLC", CancerType.NSCLC)
    records.patient("P-COAD", CancerType.COAD)

    response = logged_in.get("/patients/?cancer_type=NSCLC")

    assert _pseudonyms(response) == ["P-LUAD", "P-LUSC", "P-NSCLC"]
    assert "A parent type includes its subtypes" in response.content.decode()
    assert _pseudonyms(logged_in.get("/patients/?cancer_type=LUSC")) == ["P-LUSC"]


def test_patient_list_refuses_bad_filters_with_a_message(logged_in, biobank):
    response = logged_in.get("/patients/?cancer_type=NOPE&sort=name")

    html = response.content.decode()
    assert response.status_code == 400
    assert "Correct the filters marked below." in html
    assert _pseudonyms(response) == []


def test_patient_list_refuses_a_gene_no_readable_variant_has(logged_in, biobank):
    hidden = Records(Project.objects.create(code="hidden", name="Hidden"))
    draw = hidden.draw(hidden.patient("P-HIDDEN"), DAY)
    hidden.variant(draw, "EGFRX", "p.T790M")

    response = logged_in.get("/patients/?gene=EGRF")

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert "No variant you may read is of gene EGRF. Did you mean EGFR?" in html
    assert "EGFRX" not in html
    assert _pseudonyms(response) == []


def test_patient_list_refuses_a_modality_no_readable_series_has(logged_in, records):
    records.study(records.patient("P-CT"), DAY)

    response = logged_in.get("/patients/?modality=XX")

    html = unescape(response.content.decode())
    assert response.status_code == 400
    assert "No series you may read has modality XX. Known: CT." in html
    assert _pseudonyms(response) == []


def test_segmentation_import_marks_a_study_segmented(logged_in, biobank):
    before = _table_value(
        logged_in.get("/").content.decode(), "Imaging studies without a segmentation"
    )
    study = biobank.project.patients.get(pseudonym="P-IMG").imaging_studies.get()
    Segmentation.objects.create(
        series=study.series.get(),
        roi_name="GTV",
        source_kind=Segmentation.SourceKind.RTSTRUCT,
        source_uid_hash="roi-extra",
    )
    after = _table_value(
        logged_in.get("/").content.decode(), "Imaging studies without a segmentation"
    )

    assert (before, after) == (1, 0)


def test_patient_list_puts_unknown_diagnosis_dates_last_both_ways(
    logged_in, reader, project, records
):
    grant(reader, project, "curator")  # viewers do not sort by diagnosis date
    for name, on in (
        ("P-LATE", DAY),
        ("P-NONE", None),
        ("P-EARLY", DAY.replace(year=2020)),
    ):
        patient = records.patient(name)
        patient.diagnosis_on = on
        patient.save()

    ascending = _pseudonyms(logged_in.get("/patients/?sort=diagnosis_on"))
    descending = _pseudonyms(
        logged_in.get("/patients/?sort=diagnosis_on&descending=on")
    )

    assert ascending == ["P-EARLY", "P-LATE", "P-NONE"]
    assert descending == ["P-LATE", "P-EARLY", "P-NONE"]


def test_patient_list_names_a_bad_sort(logged_in, biobank):
    html = logged_in.get("/patients/?sort=bogus").content.decode()

    assert (
        "Sort: Select a valid choice. bogus is not one of the available choices."
        in html
    )


def _heading(response) -> str:
    match = re.search(
        r'<h2 id="results-heading">([^<]+)</h2>', response.content.decode()
    )
    assert match, "no results heading in the page"
    return match.group(1)


def test_patient_list_counts_gene_matches_up_to_the_limit(
    logged_in, records, settings, monkeypatch
):
    settings.BIOBANK_API_COUNT_LIMIT = 2
    monkeypatch.setattr("biobank.browse.views.PATIENTS_PER_PAGE", 1)
    for n in range(4):
        records.variant(records.draw(records.patient(f"P-{n}"), DAY), "KRAS", "p.G12D")
    records.variant(records.draw(records.patient("P-NRAS"), DAY), "NRAS", "p.Q61K")

    capped = logged_in.get("/patients/?gene=KRAS")
    last = logged_in.get("/patients/?gene=KRAS&page=4")
    unfiltered = logged_in.get("/patients/")

    assert _heading(capped) == "More than 2 patients"
    assert "counting stops at 2 patients" in capped.content.decode()
    assert "Page 1;" in capped.content.decode()
    assert 'rel="next"' in capped.content.decode()
    # The last page knows how many there are, and the list without such filter counts all:
    assert _heading(last) == "4 patients"
    assert _pseudonyms(last) == ["P-3"]
    assert _heading(unfiltered) == "5 patients"
    assert "Page 1 of 5;" in unfiltered.content.decode()
    # A page past the end is named, with the pages counted up to the limit:
    past = logged_in.get("/patients/?gene=KRAS&page=99")
    assert past.status_code == 400
    assert (
        "page: Page 99 is past the last page; the list has more than 2 rows (the "
        "count stops there), at least 3 pages of 1." in unescape(past.content.decode())
    )
    assert not _pseudonyms(past)


def test_patient_list_counts_exactly_below_the_limit(logged_in, records, settings):
    settings.BIOBANK_API_COUNT_LIMIT = 2
    for name in ("P-A", "P-B"):
        records.study(records.patient(name), DAY, modalities="MR")
    records.study(records.patient("P-CT"), DAY)

    response = logged_in.get("/patients/?modality=MR")

    assert _heading(response) == "2 patients"
    assert "counting stops" not in response.content.decode()
    assert _pseudonyms(response) == ["P-A", "P-B"]
