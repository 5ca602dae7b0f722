"""Researcher pages name a query parameter they do not read instead of ignoring it."""

from __future__ import annotations

import html
import re

import pytest

from biobank.cohorts.forms import UNKNOWN_PARAMETER


@pytest.fixture
def signed_in(client, django_user_model):
    """An administrator, who sees every project whatever the access rules."""
    client.force_login(django_user_model.objects.create_superuser("admin", None))
    return client


def _alert(response) -> str:
    match = re.search(r'role="alert">(.*?)</div>', response.content.decode(), re.S)
    assert match, "no alert on the page"
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1)))


def _misspelt(patient, page: str) -> tuple[str, str, str | None]:
    """A page's address with a misspelt parameter, that parameter, and a field shown."""
    study = patient.imaging_studies.get().pk
    return {
        "dashboard": ("/?projct=demo", "projct", "project"),
        "patients": ("/patients/?cancer_typ=LUAD", "cancer_typ", "cancer_type"),
        "timeline": (f"/patients/{patient.pk}/?windw=90", "windw", "window_days"),
        # The study page has no form, only links choosing an extraction:
        "study": (f"/studies/{study}/?extraction=&gen=EGFR", "gen", None),
        # The report reads the window only, not the timeline's VAF axis:
        "report": (
            f"/patients/{patient.pk}/report/{study}/?vaf_scale=log",
            "vaf_scale",
            "window_days",
        ),
        "follow-up": ("/follow-up/?ctc_brest=3", "ctc_brest", "ctc_brca"),
        "cohort builder": ("/cohorts/?window_days=5&gen=EGFR", "gen", "gene"),
        "analysis": ("/cohorts/analysis/?features=ACUI&gen=EGFR", "gen", "gene"),
    }[page]


@pytest.mark.parametrize(
    "page",
    [
        "dashboard",
        "patients",
        "timeline",
        "study",
        "report",
        "follow-up",
        "cohort builder",
        "analysis",
    ],
)
def test_each_page_names_a_misspelt_parameter_above_its_form(signed_in, paired, page):
    url, misspelt, field = _misspelt(paired, page)

    response = signed_in.get(url)

    assert response.status_code == 400
    assert f"{misspelt}: {UNKNOWN_PARAMETER}" in _alert(response)
    if field is not None:
        assert f'name="{field}"' in response.content.decode()


def test_a_misnamed_project_withholds_the_dashboards_counts(signed_in, paired):
    response = signed_in.get("/?project=nowhere")

    assert response.status_code == 400
    assert "No project you may read has the code nowhere." in _alert(response)
    assert 'id="counts-heading"' not in response.content.decode()


def test_a_misspelt_filter_withholds_the_list_it_would_widen(signed_in, records):
    records.patient("P-LUNG")
    records.patient("P-BREAST", "BRCA")

    response = signed_in.get("/patients/?cancer_typ=BRCA")

    assert 'id="results-heading"' not in response.content.decode()
    assert "P-LUNG" not in response.content.decode()


def test_the_timeline_still_draws_beside_the_message(signed_in, paired):
    response = signed_in.get(f"/patients/{paired.pk}/?vaf_scal=log")

    assert response.status_code == 400
    assert "vaf_scal" in _alert(response)
    assert response.context["chart"] is not None


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/?project=demo&project=other", "project"),
        ("/patients/?descending=on&sort=draws&sort=pseudonym", "sort"),
        ("/cohorts/?window_days=5&window_days=30", "window_days"),
        ("/cohorts/count.json?gene=EGFR&gene=KRAS", "gene"),
    ],
)
def test_a_field_given_twice_is_named_not_read_as_its_last_value(
    signed_in, paired, url, field
):
    response = signed_in.get(url)

    assert response.status_code == 400
    if url.startswith("/cohorts/count.json"):
        assert response.json()["errors"][field][0] == "given 2 times; give it once."
    else:
        assert f"{field}: given 2 times; give it once." in _alert(response)


def test_every_parameter_a_page_reads_is_accepted(signed_in, paired):
    study = paired.imaging_studies.get()
    extraction = study.series.get().segmentations.get().extractions.get()
    urls = [
        "/?project=demo",
        "/patients/?q=P&sort=draws&descending=on&page=1&dates=relative",
        f"/patients/{paired.pk}/?window_days=10&vaf_scale=log&dates=relative",
        f"/studies/{study.pk}/?extraction={extraction.pk}&dates=relative",
        f"/patients/{paired.pk}/report/{study.pk}/?window_days=10&dates=relative",
        "/follow-up/?window_days=30&ctc_brca=5&use_cfdna=on&dates=relative",
        "/cohorts/?window_days=5&gene=EGFR&features=ACUI&genes=EGFR&format=csv"
        "&dates=relative",
        "/cohorts/analysis/?window_days=5&features=ACUI&genes=EGFR"
        "&box_feature=ACUI&box_gene=EGFR&dates=relative",
    ]

    for url in urls:
        response = signed_in.get(url)

        assert response.status_code == 200, url
        assert UNKNOWN_PARAMETER.encode() not in b"".join(response), url


def test_links_between_the_pages_carry_only_parameters_they_read(
    signed_in, paired, records, monkeypatch
):
    monkeypatch.setattr("biobank.browse.views.PATIENTS_PER_PAGE", 1)
    records.patient("P-2")  # a second page of patients
    start = [
        "/patients/?q=P&sort=draws",
        "/cohorts/?window_days=5&gene=EGFR&features=ACUI&genes=EGFR",
    ]
    followed: set[str] = set()
    followed_links: list[str] = []

    for url in start:
        page = signed_in.get(url).content.decode()
        for link in re.findall(r'href="([^"]*\?[^"]*)"', page):
            link = html.unescape(link)
            if link.startswith("/api/"):
                continue  # the API refuses unknown parameters itself
            target = link if link.startswith("/") else url.split("?")[0] + link
            response = signed_in.get(target)
            assert UNKNOWN_PARAMETER.encode() not in b"".join(response), target
            followed.add(target.split("?")[0])
            followed_links.append(target)

    assert {"/patients/", "/cohorts/", "/cohorts/analysis/"} <= followed
    assert any("page=2" in link for link in followed_links)


# Views that answer only POST refuse a GET (405) before reading any parameter; the
# save form's own fields are checked by test_saving_refuses_a_misspelt_filter.
POST_ONLY = {"cohorts:save", "cohorts:rerun"}


def _named_patterns() -> list[str]:
    """Every URL name of the browse and cohorts apps, as reverse() takes it."""
    from biobank.browse import urls as browse_urls
    from biobank.cohorts import urls as cohorts_urls

    return [
        f"{module.app_name}:{pattern.name}"
        for module in (browse_urls, cohorts_urls)
        for pattern in module.urlpatterns
    ]


def _version_of_a_saved_cohort(author) -> dict[str, int]:
    """Save a cohort of the 7-day window; return its first version's path parameters."""
    from biobank.cohorts.saved import save_cohort, validate_definition

    definition = validate_definition({"query": {"window_days": 7}, "matrix": {}})
    cohort = save_cohort(name="saved", definition=definition, author=author)
    return {"pk": cohort.pk, "number": cohort.versions.get().number}


def _address(name: str, patient, user=None) -> str:
    """The address of a named pattern, its path parameters taken from `patient`."""
    from django.urls import reverse

    if name in ("cohorts:version", "cohorts:version-analysis"):
        return reverse(name, kwargs=_version_of_a_saved_cohort(user))
    study = patient.imaging_studies.get().pk
    # A pattern added without an entry here fails, so that it is walked too:
    kwargs = {
        "browse:patient": {"pk": patient.pk},
        "browse:report": {"pk": patient.pk, "study_pk": study},
        "browse:study": {"pk": study},
        "cohorts:rerun": {"pk": 1},
    }.get(name, {})
    return reverse(name, kwargs=kwargs)


@pytest.mark.parametrize("name", _named_patterns())
def test_every_page_and_download_refuses_an_unknown_parameter(
    signed_in, paired, name, django_user_model
):
    admin = django_user_model.objects.get(username="admin")
    response = signed_in.get(f"{_address(name, paired, admin)}?gen=EGFR")

    if name in POST_ONLY:
        assert response.status_code == 405
        return
    assert response.status_code == 400, name
    assert b"gen" in b"".join(response), name


@pytest.mark.parametrize("extra", ["format=csv", "format=csv&features=ACUI"])
def test_the_csv_download_refuses_an_unknown_parameter(signed_in, paired, extra):
    response = signed_in.get(f"/cohorts/?{extra}&gen=EGFR")

    assert response.status_code == 400
    assert "text/csv" not in response["Content-Type"]


def test_the_live_count_refuses_a_misspelt_filter(signed_in, paired):
    response = signed_in.get("/cohorts/count.json?gen=EGFR&features=ACUI&dates=")

    assert response.status_code == 400
    assert response.json() == {"errors": {"gen": [UNKNOWN_PARAMETER]}}


def test_the_live_count_reads_the_whole_builder_form(signed_in, paired):
    response = signed_in.get(
        "/cohorts/count.json?gene=EGFR&features=ACUI&genes=EGFR&dates=relative"
    )

    assert response.status_code == 200
    assert response.json()["pairs"] == 1


def test_saving_refuses_a_misspelt_filter(signed_in, paired):
    from biobank.cohorts.models import SavedCohort

    response = signed_in.post(
        "/cohorts/save/", {"name": "wide", "gen": "EGFR"}, follow=True
    )

    assert not SavedCohort.objects.exists()
    assert f"gen: {UNKNOWN_PARAMETER}" in response.content.decode()


BOTH_WINDOWS = (
    "window: window is the old name of window_days, which is given too; they are "
    "one setting, so give only one of them."
)
NOT_READ_HERE = (
    "Unknown parameter here; give window_days (window, its old name, is read by the "
    "patient timeline and report only)."
)


@pytest.mark.parametrize("page", ["timeline", "report"])
def test_the_old_window_beside_window_days_is_named_as_the_same_setting(
    signed_in, paired, page
):
    study = paired.imaging_studies.get().pk
    url = {
        "timeline": f"/patients/{paired.pk}/",
        "report": f"/patients/{paired.pk}/report/{study}/",
    }[page]

    alone = signed_in.get(f"{url}?window=10")
    both = signed_in.get(f"{url}?window=10&window_days=10")

    assert alone.status_code == 200
    assert both.status_code == 400
    assert BOTH_WINDOWS in _alert(both)
    assert UNKNOWN_PARAMETER not in _alert(both)


@pytest.mark.parametrize("query", ["window=10", "window=10&window_days=10"])
def test_the_cohort_pages_point_the_old_window_to_window_days(signed_in, paired, query):
    page = signed_in.get(f"/cohorts/?{query}")
    count = signed_in.get(f"/cohorts/count.json?{query}")
    pairs = signed_in.get(f"/api/cohort-pairs/?{query}")
    matrix = signed_in.get(f"/api/cohort-matrix/?{query}")

    assert page.status_code == 400
    assert f"window: {NOT_READ_HERE}" in _alert(page)
    for response in (count, pairs, matrix):
        assert response.status_code == 400
    assert count.json() == {"errors": {"window": [NOT_READ_HERE]}}
    assert pairs.json() == {"window": [NOT_READ_HERE]}
    assert matrix.json() == {"window": [NOT_READ_HERE]}


def test_a_saved_cohort_points_the_old_window_to_window_days(signed_in, paired):
    from biobank.cohorts.models import SavedCohort

    api = signed_in.post(
        "/api/saved-cohorts/",
        {"name": "old window", "query": {"window": 10}},
        content_type="application/json",
    )
    page = signed_in.post(
        "/cohorts/save/", {"name": "old window", "window": "10"}, follow=True
    )

    assert api.status_code == 400
    assert api.json() == {"query": {"window": [NOT_READ_HERE]}}
    assert f"window: {NOT_READ_HERE}" in page.content.decode()
    assert not SavedCohort.objects.exists()
