"""A viewer cannot filter or order by the dates it is not shown (docs/access.md#dates).

Viewers see each patient's dates shifted by a secret offset and no birth year; a
filter or an order on the stored dates would let them bisect each real date, and so
the offset. Every such parameter of every list is walked, found by the type of its
form field (a date or a moment) or its name (birth year), so that a date filter added
later without the rule fails here; curators keep them.

The contrasting pair of tests/api/conftest.py: A (CT study 2020-01-20, draw
2020-01-22) and B (MR study 2021-06-10, draw 2021-06-12); both in project "demo".
"""

from __future__ import annotations

import pytest
from django import forms
from django.db import connection, models
from django.test.utils import CaptureQueriesContext
from django_filters.utils import get_model_field

from biobank.api.filters import is_patient_text, parameters_of_field
from biobank.exports.dates import BIRTH_YEAR
from patients.models import Project
from tests.api.conftest import results
from tests.conftest import grant

# A value of each kind a stored-date parameter takes:
DAY, MOMENT, YEAR = "2020-01-20", "2020-01-22T09:00:00Z", "1960"
REFUSAL = "Viewers see shifted dates"


def patient_lists() -> list[tuple[str, type]]:
    """Every API list of a patient's records, by URL prefix (not projects, not shared
    records such as feature definitions, whose dates no one shifts)."""
    from biobank.api.urls import router

    return [
        (prefix, viewset)
        for prefix, viewset, _ in router.registry
        if getattr(viewset, "project_path", None)
    ]


def is_dated_field(field: forms.Field) -> bool:
    """Whether a form field reads a date or a moment (one bound of a range is enough)."""
    if isinstance(field, forms.MultiValueField):
        return any(is_dated_field(part) for part in field.fields)
    return isinstance(field, forms.DateField | forms.DateTimeField)


def stored_date_parameters() -> list[tuple[str, str, str]]:
    """Return (list, parameter, value) for every parameter that reads a stored date."""
    found = []
    for prefix, viewset in patient_lists():
        filterset = viewset.filterset_class(data={}, queryset=viewset.queryset.none())
        for name, field in filterset.form.fields.items():
            if name == BIRTH_YEAR:
                value = YEAR
            elif is_dated_field(field):
                moment = isinstance(field, forms.DateTimeField) or (
                    isinstance(field, forms.MultiValueField)
                    and isinstance(field.fields[0], forms.DateTimeField)
                )
                value = MOMENT if moment else DAY
            else:
                continue
            for parameter in parameters_of_field(name, field):
                found.append((prefix, parameter, value))
    return found


def stored_date_orderings() -> list[tuple[str, str, bool]]:
    """Return (list, ordering field, whether it is a stored date or free text that
    may spell one, such as roi_name) for every list."""
    found = []
    for prefix, viewset in patient_lists():
        model = viewset.queryset.model
        for name in viewset.ordering_fields:
            field = get_model_field(model, name)
            dated = (
                isinstance(field, models.DateField)
                or name == BIRTH_YEAR
                or is_patient_text(model, name)
            )
            found.append((prefix, name, dated))
    return found


PARAMETERS = stored_date_parameters()
ORDERINGS = stored_date_orderings()


def test_the_walk_finds_the_stored_dates_of_every_kind_of_list():
    # The leaks found first are among them; the walk does not come back empty:
    walked = {(prefix, parameter) for prefix, parameter, _ in PARAMETERS}
    assert {
        ("blood-samples", "drawn_on_after"),
        ("imaging-studies", "study_date_before"),
        ("patients", "diagnosis_on_after"),
        ("patients", "birth_year_min"),
        ("variants", "drawn_at_after"),
        ("feature-extractions", "created_at_before"),
    } <= walked
    assert ("patients", "birth_year", True) in ORDERINGS
    assert ("ctc-counts", "sample__drawn_at", True) in ORDERINGS
    assert ("segmentations", "roi_name", True) in ORDERINGS


def test_the_schema_says_which_filters_a_viewer_is_refused():
    from biobank.api.filters import CALENDAR_NOTE

    described = {
        (prefix, name): one.extra.get("help_text") or ""
        for prefix, viewset in patient_lists()
        for name, one in viewset.filterset_class.base_filters.items()
    }
    walked = {
        (prefix, parameter.removesuffix("_after").removesuffix("_before"))
        for prefix, parameter, _ in PARAMETERS
        if not parameter.startswith(BIRTH_YEAR)
    }

    assert walked
    assert {key for key in walked if CALENDAR_NOTE not in described[key]} == set()
    assert CALENDAR_NOTE in described[("patients", BIRTH_YEAR)]
    assert CALENDAR_NOTE not in described[("consents", "is_withdrawn")]


@pytest.mark.parametrize(
    ("prefix", "parameter", "value"),
    PARAMETERS,
    ids=[f"{prefix}?{parameter}" for prefix, parameter, _ in PARAMETERS],
)
def test_a_viewer_is_refused_every_stored_date_filter_a_curator_uses(
    prefix, parameter, value, api, analyst, project, biobank
):
    # With the project named too: the viewer's role there decides.
    query = {parameter: value, "project": "demo"}

    refused = api.get(f"/api/{prefix}/", query)
    grant(analyst, project, "curator")
    allowed = api.get(f"/api/{prefix}/", query)

    assert refused.status_code == 400, refused.content[:300]
    [message] = refused.json()[parameter]
    assert REFUSAL in message and "curator" in message
    assert allowed.status_code == 200, allowed.content[:300]


@pytest.mark.parametrize(
    ("prefix", "field", "dated"),
    ORDERINGS,
    ids=[f"{prefix}?ordering={field}" for prefix, field, _ in ORDERINGS],
)
def test_a_viewer_is_refused_every_order_by_a_stored_date(
    prefix, field, dated, api, analyst, project, biobank
):
    rising = api.get(f"/api/{prefix}/", {"ordering": field})
    falling = api.get(f"/api/{prefix}/", {"ordering": f"id,-{field}"})
    grant(analyst, project, "curator")
    allowed = api.get(f"/api/{prefix}/", {"ordering": f"-{field}"})

    assert allowed.status_code == 200, allowed.content[:300]
    if not dated:
        assert rising.status_code == falling.status_code == 200
        return
    for refused in (rising, falling):
        assert refused.status_code == 400, refused.content[:300]
        [message] = refused.json()["ordering"]
        assert REFUSAL in message and field in message


@pytest.mark.parametrize(("prefix", "viewset"), patient_lists())
def test_no_list_starts_its_default_order_with_a_stored_date(prefix, viewset):
    # A patient key first (then dates within the patient, which shifting keeps):
    queryset = viewset.queryset
    order = (
        list(getattr(viewset, "ordering", None) or ())
        or list(queryset.query.order_by)
        or list(queryset.model._meta.ordering)
    )
    first = str(order[0]).lstrip("-") if order else "id"

    field = get_model_field(queryset.model, first)
    assert not isinstance(field, models.DateField), f"{prefix} starts with {first}"


def test_the_real_day_of_a_draw_finds_nothing_for_a_viewer(api, biobank):
    # The leak reported: the real day found the draw the viewer is shown elsewhere.
    sample = biobank.a.sample
    real = sample.drawn_on.isoformat()

    response = api.get(
        "/api/blood-samples/",
        {"project": "demo", "drawn_on_after": real, "drawn_on_before": real},
    )

    assert response.status_code == 400
    assert str(sample.pk) not in response.content.decode()
    assert set(response.json()) == {"drawn_on_after", "drawn_on_before"}


def test_the_shifted_day_shown_is_refused_too_rather_than_finding_nothing(api, biobank):
    sample = biobank.a.sample
    [shown] = [
        row["drawn_on"]
        for row in results(api.get("/api/blood-samples/"))
        if row["id"] == sample.pk
    ]
    assert shown != sample.drawn_on.isoformat()

    response = api.get("/api/blood-samples/", {"drawn_on_after": shown})

    assert response.status_code == 400
    assert REFUSAL in response.json()["drawn_on_after"][0]


def test_other_filters_still_work_for_a_viewer_beside_the_refused_ones(api, biobank):
    rows = results(api.get("/api/imaging-studies/", {"modality": "CT"}))
    both = api.get(
        "/api/imaging-studies/", {"modality": "CT", "study_date_after": DAY, "gen": "x"}
    )

    assert [row["id"] for row in rows] == [biobank.a.study.pk]
    # Every problem at once, each under its parameter:
    assert both.status_code == 400
    assert set(both.json()) == {"study_date_after", "gen"}


def test_the_strictest_role_among_the_projects_listed_decides(api, analyst, biobank):
    curated = Project.objects.create(code="own", name="Own collection")
    grant(analyst, curated, "curator")

    # Every project read, demo as a viewer among them:
    everywhere = api.get("/api/imaging-studies/", {"study_date_after": DAY})
    demo = api.get(
        "/api/imaging-studies/", {"study_date_after": DAY, "project": "demo"}
    )
    own = api.get("/api/imaging-studies/", {"study_date_after": DAY, "project": "own"})
    ordered = api.get(
        "/api/imaging-studies/", {"ordering": "study_date", "project": "own"}
    )

    assert everywhere.status_code == demo.status_code == 400
    assert own.status_code == ordered.status_code == 200


def test_a_curator_asking_for_shifted_dates_is_told_to_leave_dates_out(
    api, analyst, project, biobank
):
    grant(analyst, project, "curator")

    response = api.get("/api/patients/", {"dates": "shifted", "birth_year_min": YEAR})
    calendar = api.get("/api/patients/", {"birth_year_min": YEAR})

    assert response.status_code == 400
    [message] = response.json()["birth_year_min"]
    assert "dates=shifted" in message and "leave dates out" in message
    assert calendar.status_code == 200


def test_a_viewer_asking_for_calendar_dates_is_refused_as_before(api, biobank):
    response = api.get(
        "/api/patients/", {"dates": "calendar", "diagnosis_on_after": DAY}
    )

    assert response.status_code == 403
    assert list(response.json()) == ["dates"]


def test_the_role_is_read_only_for_a_stored_date_parameter(api, biobank):
    # Other filters and orders cost the queries they did:
    with CaptureQueriesContext(connection) as plain:
        results(api.get("/api/patients/"))
    with CaptureQueriesContext(connection) as filtered:
        results(api.get("/api/patients/", {"ordering": "pseudonym", "sex": "F"}))

    assert len(filtered) == len(plain)


@pytest.mark.parametrize(("prefix", "viewset"), patient_lists())
def test_each_list_keeps_the_stored_date_parameters_the_walk_finds(
    prefix, viewset, api, biobank
):
    # After a request, what the list's filterset keeps for its class:
    api.get(f"/api/{prefix}/")
    kept = viewset.filterset_class.__dict__["_stored_date_parameters"]

    walked = [parameter for listed, parameter, _ in PARAMETERS if listed == prefix]
    assert sorted(kept) == sorted(walked)


def test_the_stored_date_parameters_are_found_once_per_filterset_class(
    api, biobank, monkeypatch
):
    from biobank.api import filters
    from biobank.api.views import BloodSampleViewSet

    filterset_class = BloodSampleViewSet.filterset_class
    monkeypatch.delattr(filterset_class, "_stored_date_parameters", raising=False)
    calls = []
    find = filters.stored_date_filters

    def counted(model, found):
        calls.append(model)
        return find(model, found)

    monkeypatch.setattr(filters, "stored_date_filters", counted)

    first = api.get("/api/blood-samples/", {"drawn_on_after": DAY})
    again = api.get("/api/blood-samples/", {"drawn_on_before": DAY})

    assert calls == [filterset_class._meta.model]
    # Still refused on the second request, read from the class:
    assert first.status_code == again.status_code == 400
    assert REFUSAL in again.json()["drawn_on_before"][0]
