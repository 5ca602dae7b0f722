"""The authorization matrix: every URL, every role, and nothing of a foreign project.

Two projects hold one patient each with a record of every kind. Users hold each role
in the home project only (viewer, curator, manager); an outsider holds none; a site
administrator sees both. Every URL pattern the resolver knows is filled with the ids
of home records and of foreign records (the parameter's model is read from the view,
so a new endpoint is walked without anyone adding it) and requested as each of them.

Asserted: no body shown to anyone but the site administrator holds a foreign marker
(the foreign patient's pseudonym, its project's code and name, its saved cohort's
name); a foreign record's URL is never a 200; the home URLs answer members as they
answer the site administrator (admin pages for curators and managers only); and
posting to every foreign URL changes no foreign record.
"""

from __future__ import annotations

import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from biobank.api.access import PROJECT_PATHS
from biobank.cohorts import saved
from biobank.cohorts.models import CohortVersion, SavedCohort
from patients.models import ImportRun, Patient, Project, Role
from radiomics.models import ImagingStudy
from tests.biobank.conftest import Records
from tests.conftest import grant
from tests.test_admin import add_patient_with_everything
from tests.test_url_access import PUBLIC

# Every test here tries access that a role must not have, or checks that it is refused:
pytestmark = pytest.mark.attack

HOME, FOREIGN = "HOME-SEEN-2210", "FOREIGN-LEAK-7731"
FOREIGN_PROJECT = ("forn", "Foreign Secret Collection")
ROLES = ["outsider", Role.VIEWER, Role.CURATOR, Role.MANAGER]
ABSENT_ID = 987654321  # an id no record has

# Parameters that name no record, and what they are filled with:
PLAIN = {"format": "json", "number": "1", "app_label": "patients"}
# Browse pages name their record through the URL name:
PAGE_MODELS = {
    ("patient", "pk"): Patient,
    ("report", "pk"): Patient,
    ("report", "study_pk"): ImagingStudy,
    ("study", "pk"): ImagingStudy,
    ("rerun", "pk"): SavedCohort,
    ("version", "pk"): SavedCohort,
    ("version-analysis", "pk"): SavedCohort,
    ("imports-run", "pk"): ImportRun,
    ("imports-run-issues", "pk"): ImportRun,
    ("radiomics_deidentifiedattribute_report", "run_id"): ImportRun,
}
# Admin parameters other than a record of the URL's model:
# (view_on_site redirects to a record's own page, which is walked itself.)
ADMIN_OTHER = {"content_type_id", "id", "url"}
GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)|<(?:\w+:)?(\w+)>")


def patterns(resolvers, prefix: str = ""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            yield from patterns(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def model_of(template: str, pattern: URLPattern, parameter: str) -> type[Model] | None:
    """The model whose record `parameter` names, or None for a plain parameter."""
    if parameter in PLAIN:
        return None
    view = getattr(pattern.callback, "cls", None)
    if view is not None and parameter == "pk":
        # Views that build their queryset per request name their model here:
        return {"SavedCohortViewSet": SavedCohort}.get(view.__name__) or (
            view.queryset.model
        )
    if (pattern.name, parameter) in PAGE_MODELS:
        return PAGE_MODELS[pattern.name, parameter]
    if pattern.name == "view_on_site":
        return None
    if template.startswith("admin/") and parameter == "object_id":
        _, app_label, model_name, *_ = template.split("/")
        return apps.get_model(app_label, model_name)
    if template.startswith("admin/") and parameter in ADMIN_OTHER:
        return None
    raise AssertionError(f"{template}: which record does {parameter!r} name?")


def fill(template: str, pattern: URLPattern, ids: dict[type[Model], int]) -> str | None:
    """The URL with every record parameter given the id in `ids`; None if one lacks."""
    missing = False

    def value(match: re.Match) -> str:
        nonlocal missing
        parameter = match.group(1) or match.group(2)
        model = model_of(template, pattern, parameter)
        if model is None:
            return PLAIN.get(parameter, "1")
        if model not in ids:
            missing = True
            return "0"
        return str(ids[model])

    path = GROUP.sub(value, template)
    path = path.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    return None if missing else "/" + path.replace("\\", "")


def has_record_parameter(template: str, pattern: URLPattern) -> bool:
    return any(
        model_of(template, pattern, m.group(1) or m.group(2)) is not None
        for m in GROUP.finditer(template)
    )


def stored_ids(project: Project) -> dict[type[Model], int]:
    """One record of every scoped model in `project` (and users, tokens: none)."""
    ids = {}
    for label, path in PROJECT_PATHS.items():
        model = apps.get_model(label)
        if path is None:
            continue
        lookup = {f"{path}__pk" if path else "pk": project.pk}
        record = model.objects.filter(**lookup).order_by("pk").first()
        if record is not None:
            ids[model] = record.pk
    return ids


def save_cohort_of(project: Project, name: str, author) -> SavedCohort:
    definition = saved.validate_definition(
        {"query": {"project": project.code, "window_days": 30}, "matrix": {}}
    )
    return saved.save_cohort(
        name=name, description="", definition=definition, author=author
    )


@pytest.fixture
def world(db, django_user_model):
    home = Project.objects.create(code="home", name="Home collection")
    foreign = Project.objects.create(code=FOREIGN_PROJECT[0], name=FOREIGN_PROJECT[1])
    add_patient_with_everything(Records(home), HOME)
    add_patient_with_everything(Records(foreign), FOREIGN)
    site_admin = django_user_model.objects.create_superuser("site-admin")
    save_cohort_of(home, f"cohort {HOME}", site_admin)
    save_cohort_of(foreign, f"cohort {FOREIGN}", site_admin)
    users = {
        "admin": site_admin,
        "outsider": django_user_model.objects.create_user("out"),
    }
    for role in (Role.VIEWER, Role.CURATOR, Role.MANAGER):
        users[role] = grant(django_user_model.objects.create_user(role), home, role)
    return {
        "users": users,
        "home": stored_ids(home),
        "foreign": stored_ids(foreign),
        "foreign_project": foreign,
    }


def every_pattern(suffixes: bool = True) -> list[tuple[str, URLPattern]]:
    """Every URL pattern; without the API's format-suffix twins (`.json`) if asked.

    The twins answer as their plain forms do; the foreign-record walk keeps them.
    """
    return [
        (template, pattern)
        for template, pattern in patterns(get_resolver().url_patterns)
        if "logout" not in template
        and (
            suffixes or not re.search(r"\\.\(\?P<format>|<drf_format_suffix", template)
        )
    ]


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def body_of(response) -> str:
    if response.streaming:
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


def leaks(response) -> list[str]:
    text = body_of(response)
    return [marker for marker in (FOREIGN, *FOREIGN_PROJECT) if marker in text]


def snapshot(project: Project) -> dict[str, list[tuple]]:
    """Every stored value of every record of `project`, to see that nothing changed."""
    state = {}
    for label, path in PROJECT_PATHS.items():
        if path is None:
            continue
        model = apps.get_model(label)
        lookup = {f"{path}__pk" if path else "pk": project.pk}
        state[label] = sorted(map(repr, model.objects.filter(**lookup).values_list()))
    return state


def test_every_model_states_how_it_leads_to_its_project():
    """A model missing from PROJECT_PATHS would go unscoped: none may be missing."""
    ours = [
        model._meta.label_lower
        for label in ("patients", "radiomics", "liquidbiopsy", "cohorts")
        for model in apps.get_app_config(label).get_models()
        if not model.__name__.startswith("Historical")
    ]

    assert sorted(set(ours) - set(PROJECT_PATHS)) == []


def test_every_admin_of_our_models_is_scoped_by_project():
    from django.contrib import admin

    from biobank.core.scoped_admin import ProjectScopedAdmin

    unscoped = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.label_lower not in PROJECT_PATHS:
            continue  # users, groups, tokens: Django's own permissions, site admins
        if not isinstance(model_admin, ProjectScopedAdmin):
            unscoped.append(model.__name__)
        for inline in model_admin.inlines:
            if not issubclass(inline, ProjectScopedAdmin):
                unscoped.append(inline.__name__)

    assert unscoped == []


@pytest.mark.parametrize("role", ROLES)
def test_foreign_records_never_show_and_never_change(world, role):
    client = client_of(world["users"][role])
    before = snapshot(world["foreign_project"])
    shown, leaked, told = [], [], []

    for template, pattern in every_pattern():
        if not has_record_parameter(template, pattern):
            continue  # lists: test_lists_and_pages_without_ids_show_nothing_foreign
        url = fill(template, pattern, world["foreign"])
        if url is None:
            continue
        # A foreign record answers as one never stored: its existence is not told.
        absent = fill(template, pattern, dict.fromkeys(world["foreign"], ABSENT_ID))
        if client.get(url).status_code != client.get(absent).status_code:
            told.append(url)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            found = leaks(response)
            if found:
                leaked.append((method, url, found))
            if response.status_code < 300 or response.status_code >= 500:
                shown.append((method, url, response.status_code))

    assert leaked == []
    assert shown == []
    assert told == []
    assert snapshot(world["foreign_project"]) == before


@pytest.mark.parametrize("role", ROLES)
def test_lists_and_pages_without_ids_show_nothing_foreign(world, role):
    client = client_of(world["users"][role])
    leaked, refused = [], []

    for template, pattern in every_pattern(suffixes=False):
        if has_record_parameter(template, pattern):
            continue
        url = fill(template, pattern, {})
        if url is None or url in PUBLIC:
            continue
        # The API as a browser asks for it too: its HTML page holds forms (filters)
        # that JSON does not.
        accepts = ["*/*", "text/html"] if url.startswith("/api/") else ["*/*"]
        for accept in accepts:
            response = client.get(url, HTTP_ACCEPT=accept)
            body = body_of(response)
            found = [m for m in (FOREIGN, *FOREIGN_PROJECT) if m in body]
            if role == "outsider" and HOME in body:
                found.append(HOME)
            if found:
                leaked.append((url, accept, found))
            if response.status_code >= 500:
                refused.append((url, accept, response.status_code))

    assert leaked == []
    assert refused == []


def expected_for(role: str, template: str, admin_status: int) -> set[int]:
    """What `role` may get for a home URL that gave the site administrator `admin_status`."""
    if template.startswith("admin/"):
        if role in ("outsider", Role.VIEWER):
            return {302}  # to the admin's sign-in page: the admin is for curators
        view = template.rstrip("/").rsplit("/", 1)[-1]
        if view in ("add", "delete") or "auth/" in template or "authtoken/" in template:
            # Shared records, users, tokens and consent need more than curating:
            return {admin_status, 403}
        return {admin_status, 403} if "password" in template else {admin_status}
    if role == "outsider":
        return {302, 401, 403, 404, 405, 400} if admin_status == 200 else {admin_status}
    return {admin_status}


@pytest.mark.parametrize("role", ROLES)
def test_home_records_answer_members_as_they_answer_the_site_admin(world, role):
    admin, client = client_of(world["users"]["admin"]), client_of(world["users"][role])
    unexpected = []

    for template, pattern in every_pattern(suffixes=False):
        if not has_record_parameter(template, pattern):
            continue
        url = fill(template, pattern, world["home"])
        if url is None:
            continue
        status = client.get(url).status_code
        if template.startswith("admin/") and role in ("outsider", Role.VIEWER):
            admin_status = 200  # the admin is closed to them whatever it holds
        else:
            admin_status = admin.get(url).status_code
        if role == "outsider" and admin_status == 200 and status == 200:
            unexpected.append((url, status, "outsider"))
        elif status not in expected_for(role, template, admin_status):
            unexpected.append((url, status, admin_status))

    assert unexpected == []


def test_the_site_admin_sees_both_projects(world):
    admin = client_of(world["users"]["admin"])

    body = admin.get("/api/patients/").content.decode()

    assert HOME in body and FOREIGN in body


def test_a_saved_cohort_version_of_a_foreign_project_is_not_served(world):
    viewer = client_of(world["users"][Role.VIEWER])
    version = CohortVersion.objects.get(cohort__project__code=FOREIGN_PROJECT[0])

    response = viewer.get(
        f"/api/saved-cohorts/{version.cohort_id}/versions/1/matrix/?format=csv"
    )

    assert response.status_code == 404
    assert leaks(response) == []


def test_roles_take_effect_at_once(world):
    """Granting and withdrawing a role changes the very next request."""
    user = get_user_model().objects.create_user("newcomer")
    client = client_of(user)
    home = Project.objects.get(code="home")
    patient = Patient.objects.get(pseudonym=HOME)

    assert client.get(f"/patients/{patient.pk}/").status_code == 404
    membership = grant(user, home).project_memberships.get()
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    membership.delete()
    assert client.get(f"/patients/{patient.pk}/").status_code == 404


CLINICAL = "patient_id,sex,birth_year,cancer_type,stage,diagnosis_date\nH-1,F,1960,LUAD,IIB,2021-03-04\n"


@pytest.fixture
def clinical_csv(tmp_path):
    path = tmp_path / "clinical.csv"
    path.write_text(CLINICAL)
    return path


@pytest.mark.parametrize(
    ("role", "refusal"),
    [
        (Role.VIEWER, "is not a curator of project home"),
        ("outsider", "is not a curator of project home"),
        ("nobody", "no active account is named 'nobody'"),
    ],
)
def test_an_import_on_behalf_of_a_non_curator_stores_nothing(
    world, clinical_csv, role, refusal
):
    username = world["users"][role].username if role in world["users"] else role
    patients = Patient.objects.count()

    with pytest.raises(CommandError, match=re.escape(refusal)):
        call_command(
            "import_clinical",
            str(clinical_csv),
            "--project",
            "home",
            "--as-user",
            username,
        )

    assert Patient.objects.count() == patients
    assert not ImportRun.objects.filter(source_name="clinical.csv").exists()


def test_an_import_on_behalf_of_a_curator_records_them(world, clinical_csv):
    curator = world["users"][Role.CURATOR]

    call_command(
        "import_clinical",
        str(clinical_csv),
        "--project",
        "home",
        "--as-user",
        "curator",
    )

    run = ImportRun.objects.get(source_name="clinical.csv")
    assert run.user == curator
    patient = Patient.objects.get(project__code="home", stage="IIB")
    assert patient.history.get().history_user == curator


def test_only_a_site_admin_creates_a_project_on_import(world, clinical_csv):
    with pytest.raises(CommandError, match="a site administrator creates projects"):
        call_command(
            "import_clinical",
            str(clinical_csv),
            "--project",
            "brand-new",
            "--as-user",
            "manager",
        )
    call_command(
        "import_clinical",
        str(clinical_csv),
        "--project",
        "brand-new",
        "--as-user",
        "site-admin",
    )

    assert Project.objects.filter(code="brand-new").exists()


def test_a_manager_adds_members_to_their_project_only(world):
    manager = client_of(world["users"][Role.MANAGER])
    get_user_model().objects.create_user("colleague")
    home = Project.objects.get(code="home")
    url = "/admin/patients/projectmembership/add/"

    added = manager.post(
        url, {"user": "colleague", "project": home.pk, "role": "viewer"}
    )
    abroad = manager.post(
        url,
        {
            "user": "colleague",
            "project": world["foreign_project"].pk,
            "role": "manager",
        },
    )

    assert added.status_code == 302
    assert abroad.status_code == 200  # the form again, naming the refused project
    assert "Select a valid choice" in abroad.content.decode()
    roles = set(
        get_user_model()
        .objects.get(username="colleague")
        .project_memberships.values_list("project__code", "role")
    )
    assert roles == {("home", "viewer")}


def test_a_curator_may_not_give_roles(world):
    curator = client_of(world["users"][Role.CURATOR])
    home = Project.objects.get(code="home")

    response = curator.post(
        "/admin/patients/projectmembership/add/",
        {"user": "outsider-2", "project": home.pk, "role": "manager"},
    )

    assert response.status_code == 403


def test_changes_by_a_user_are_listed_with_before_and_after(world):
    curator_user = world["users"][Role.CURATOR]
    curator = client_of(curator_user)
    patient = Patient.objects.get(pseudonym=HOME)
    changed = curator.patch(
        f"/api/patients/{patient.pk}/",
        {"stage": "IVA"},
        content_type="application/json",
    )
    assert changed.status_code == 200
    foreign = Patient.objects.get(pseudonym=FOREIGN)
    foreign._history_user = curator_user  # as if made before a role was withdrawn
    foreign.stage = "IB"
    foreign.save()

    manager_page = client_of(world["users"][Role.MANAGER]).get(
        "/admin/audit/changes/", {"user": "curator"}
    )
    admin_page = client_of(world["users"]["admin"]).get(
        "/admin/audit/changes/", {"user": "curator"}
    )
    curator_page = curator.get("/admin/audit/changes/", {"user": "curator"})

    body = manager_page.content.decode()
    assert manager_page.status_code == 200
    assert re.search(r"stage: [^<]* &rarr; IVA", body)
    assert HOME in body
    assert FOREIGN not in body  # the manager audits the home project only
    assert FOREIGN in admin_page.content.decode()
    assert curator_page.status_code == 403
