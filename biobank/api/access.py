"""Who may do what with which project's records: the one place that decides.

Every path to the data (web pages, REST API, admin, cohort results, matrix exports and
management commands run on behalf of a user) narrows its querysets with `visible_to` and
asks `may` before a change, so project roles are enforced here only.

Roles are per project and ordered: a viewer browses and exports pseudonymised data, a
curator also edits and imports, a project manager also manages members and consent. A site
administrator (an active superuser) may do everything in every project. Anonymous users and
inactive accounts may do nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model, QuerySet
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse

from patients.models import Project, ProjectMembership, Role

VIEW = "view"
CURATE = "curate"
MANAGE = "manage"

# How each model's records lead to their project: "" for projects themselves, None
# for records every project shares (feature definitions, signatures), which every
# signed-in user reads and only site administrators change. A model missing here is
# an error, so a new model cannot go unscoped (tests/test_authorization.py).
PROJECT_PATHS: dict[str, str | None] = {
    "patients.project": "",
    "patients.projectmembership": "project",
    "patients.patient": "project",
    "patients.consent": "patient__project",
    "patients.treatment": "patient__project",
    "patients.clinicalevent": "patient__project",
    "patients.importrun": "project",
    "patients.dataissue": "project",
    "radiomics.imagingstudy": "patient__project",
    "radiomics.imageseries": "study__patient__project",
    "radiomics.imageinstance": "series__study__patient__project",
    "radiomics.segmentation": "series__study__patient__project",
    "radiomics.featureextraction": "patient__project",
    "radiomics.featurevalue": "extraction__patient__project",
    "radiomics.signaturescore": "extraction__patient__project",
    "radiomics.deidentifiedattribute": "import_run__project",
    "radiomics.featuredefinition": None,
    "radiomics.radiomicsignature": None,
    "radiomics.signatureterm": None,
    "radiomics.featurerobustness": None,
    "liquidbiopsy.bloodsample": "patient__project",
    "liquidbiopsy.ctccount": "sample__patient__project",
    "liquidbiopsy.cfdnaassay": "sample__patient__project",
    "liquidbiopsy.variantresult": "assay__sample__patient__project",
    "liquidbiopsy.circulatingrnaresult": "sample__patient__project",
    "cohorts.savedcohort": "project",
    "cohorts.cohortversion": "cohort__project",
    "cohorts.cohortmember": "version__cohort__project",
}


def project_path(model: type[Model]) -> str | None:
    """The path from `model` to its Project (see PROJECT_PATHS)."""
    return PROJECT_PATHS[model._meta.label_lower]


def project_id_of(record: Model, path: str | None) -> int | None:
    """The id of the project `record` belongs to, following `path` attribute by attribute.

    Works for records no longer stored (a deleted record's history), as long as the
    records on the way still are; None when the way is broken or there is no project.
    """
    if path is None:
        return None
    if path == "":
        return record.pk
    *steps, last = path.split("__")
    for step in steps:
        try:
            record = getattr(record, step)
        except ObjectDoesNotExist:
            return None
        if record is None:
            return None
    return getattr(record, f"{last}_id", None)


# The roles that allow each action:
ROLES_FOR = {
    VIEW: (Role.VIEWER, Role.CURATOR, Role.MANAGER),
    CURATE: (Role.CURATOR, Role.MANAGER),
    MANAGE: (Role.MANAGER,),
}

User = AbstractBaseUser | AnonymousUser


def is_site_admin(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_superuser)


def _signed_in(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active)


def projects_for(user: User, action: str = VIEW) -> QuerySet[Project]:
    """The projects in which `user` may do `action`."""
    if is_site_admin(user):
        return Project.objects.all()
    if not _signed_in(user):
        return Project.objects.none()
    return Project.objects.filter(
        memberships__user=user, memberships__role__in=ROLES_FOR[action]
    )


def project_codes_for(user: User, action: str = VIEW) -> dict[int, str]:
    """The codes of the projects in which `user` may do `action`, by id, in code order.

    Within a request, from the memberships read once (RolesOncePerRequestMiddleware).
    """
    roles = _request_roles_of(user)
    if roles is None:
        return dict(projects_for(user, action).values_list("pk", "code"))
    allowed = ROLES_FOR[action]
    return {pk: code for pk, (code, role) in roles.items() if role in allowed}


def project_ids_for(user: User, action: str = VIEW) -> list[int]:
    """The ids of the projects in which `user` may do `action`, in code order."""
    return list(project_codes_for(user, action))


def may(user: User, action: str, project: Project | int | None) -> bool:
    """Whether `user` may do `action` in `project` (None: in at least one project)."""
    if is_site_admin(user):
        return True
    if not _signed_in(user):
        return False
    allowed = project_ids_for(user, action)
    if project is None:
        return bool(allowed)
    return getattr(project, "pk", project) in allowed


def role_in(user: User, project: Project | int) -> str | None:
    """The role of `user` in `project`: a Role value, "admin" for site administrators."""
    if is_site_admin(user):
        return "admin"
    if not _signed_in(user):
        return None
    pk = getattr(project, "pk", project)
    roles = _request_roles_of(user)
    if roles is not None:
        return roles[pk][1] if pk in roles else None
    membership = ProjectMembership.objects.filter(user=user, project=pk).first()
    return membership.role if membership else None


# The memberships of the request's users, read once per request: a cohort page asked
# for them four times (the rows it may read, a gene checked against the readable
# variants, the projects and the date mode of its export record), each list twice.
@dataclass
class _RequestRoles:
    # Transactions open when the request began: inside one the request opened, a
    # membership written and rolled back would leave a role behind, so the database
    # is asked there, as outside a request.
    depth: int
    by_user: dict[int, dict[int, tuple[str, str]]] = field(default_factory=dict)


_request_roles: ContextVar[_RequestRoles | None] = ContextVar(
    "request_roles", default=None
)


def _request_roles_of(user: User) -> dict[int, tuple[str, str]] | None:
    """Return the code of each project of `user` and its role there, as read in this request.

    None outside a request, inside a transaction the request opened, and for site
    administrators and users signed out or inactive (who need no membership).
    """
    memo = _request_roles.get()
    if memo is None or not _signed_in(user) or is_site_admin(user):
        return None
    if len(connections[DEFAULT_DB_ALIAS].atomic_blocks) != memo.depth:
        return None
    if user.pk not in memo.by_user:
        memberships = ProjectMembership.objects.filter(user=user).order_by(
            "project__code"
        )
        memo.by_user[user.pk] = {
            project: (code, role)
            for project, code, role in memberships.values_list(
                "project_id", "project__code", "role"
            )
        }
    return memo.by_user[user.pk]


class RolesOncePerRequestMiddleware:
    """Read each user's project roles at most once per request (see _RequestRoles)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        depth = len(connections[DEFAULT_DB_ALIAS].atomic_blocks)
        token = _request_roles.set(_RequestRoles(depth))
        try:
            return self.get_response(request)
        finally:
            _request_roles.reset(token)


@receiver(post_save, sender=ProjectMembership, dispatch_uid="roles-membership-saved")
@receiver(post_delete, sender=ProjectMembership, dispatch_uid="roles-membership-gone")
@receiver(post_save, sender=Project, dispatch_uid="roles-project-saved")
@receiver(post_delete, sender=Project, dispatch_uid="roles-project-gone")
def forget_request_roles(**kwargs) -> None:
    """A membership or project written in this request: read the roles again."""
    memo = _request_roles.get()
    if memo is not None:
        memo.by_user.clear()


def visible_to(
    user: User,
    queryset: QuerySet,
    project_path: str | None,
    action: str = VIEW,
) -> QuerySet:
    """Return the records of `queryset` that `user` may `action` (read by default).

    `project_path` leads from the queryset's model to its Project (for example
    "sample__patient__project"), "" when the records are projects; None marks records
    shared by every project, such as feature definitions and signatures, which every
    signed-in user may read and only site administrators may change.
    """
    if not _signed_in(user):
        return queryset.none()
    if project_path is None:
        if action == VIEW or is_site_admin(user):
            return queryset
        return queryset.none()
    if is_site_admin(user):
        return queryset
    # The project ids as numbers, read now (one small query): with a subquery in their
    # place PostgreSQL cannot tell how many rows pass, guessed one, and chose plans
    # that join every row of a big list before sorting out its first page.
    lookup = f"{project_path}_id__in" if project_path else "pk__in"
    return queryset.filter(**{lookup: project_ids_for(user, action)})


class ProjectChoicesOfUser:
    """A form mixin: every choice of project is one the `user` keyword may read.

    `user` must be given, so that no form forgets it; None (for code that validates a
    stored definition on nobody's behalf) leaves every project a choice. A project
    the user may not read is then refused as if it did not exist. The form keeps
    `user`, to check other names against what it may read (Vocabulary.check).
    """

    def __init__(self, *args, user: User | None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        for choice in self._project_fields():
            _refuse_codes_by_name(choice, user)
            if user is not None:
                choice.queryset = projects_for(user)

    def _project_fields(self) -> list[ModelChoiceField]:
        return [
            field
            for field in self.fields.values()
            if isinstance(field, ModelChoiceField) and field.queryset.model is Project
        ]


def unknown_project(code: str, user: User | None) -> str:
    """Return what a project choice says of a `code` it refuses.

    The same words for a code nobody has and one this user may not read, with the
    closest codes among the user's own projects only (as the API's project filters).
    """
    if user is None:
        return f"No project has the code {code}."
    # Imported here: the vocabularies scope their records with this module.
    from biobank.api.vocabulary import PROJECTS

    return PROJECTS.refusal(code, user)


def _refuse_codes_by_name(field: ModelChoiceField, user: User | None) -> None:
    """Make `field` name the code it refuses, and the user's projects closest to it.

    Django's message for an invalid choice is fixed text, so the field's reading of
    the code is wrapped instead; each form has its own copy of the field.
    """
    read_choice = field.to_python

    def read_code(value: object) -> Project | None:
        try:
            return read_choice(value)
        except ValidationError as error:
            if error.code != "invalid_choice":
                raise
            message = unknown_project(str(value), user)
            raise ValidationError(message, code="invalid_choice") from None

    field.to_python = read_code
