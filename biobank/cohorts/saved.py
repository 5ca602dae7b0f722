"""Save a cohort definition, freeze its result as versions, and tell versions apart."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pandas as pd
import pyarrow
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Q, QuerySet
from django.forms import BooleanField
from django.utils import timezone

from biobank.api.access import (
    CURATE,
    VIEW,
    is_site_admin,
    may,
    projects_for,
    visible_to,
)
from biobank.api.cohorts import collect_evidence
from biobank.api.matrix import MOST_LIST_ITEMS
from biobank.cohorts.forms import (
    CohortForm,
    form_messages,
    unknown_parameter_message,
)
from biobank.cohorts.matrix import (
    MatrixSpec,
    MatrixSpecError,
    check_spec,
    iter_matrix_frames,
    resolve_layout,
    write_matrix,
)
from biobank.cohorts.models import CohortMember, CohortVersion, SavedCohort
from biobank.cohorts.query import CohortCriteria, pair_queryset
from biobank.core.storage import StoragePathRefused, StoredFileMissing, stored_file
from biobank.core.validation import InvalidValue, check_text
from biobank.exports.dates import DATED_FIELDS, DateMode, Dater
from patients.models import Project
from radiomics.models import ImagingStudy

logger = logging.getLogger(__name__)

# Pairs handled at once when freezing: evidence costs one query per filter per chunk.
CHUNK_PAIRS = 2000
HASH_CHUNK_BYTES = 1 << 20
FROZEN_FOLDER = "cohorts"

# Values copied onto every member; with the pair key they are the member's columns.
MEMBER_FIELDS = (
    "project_code",
    "patient_pseudonym",
    "study_instance_uid",
    "study_date",
    "modalities",
    "drawn_at",
    "drawn_on",
    "days_apart",
)
PAIR_KEY = ("study_id", "sample_id")
# NB: PostgreSQL text cannot hold NUL, so a NUL must not reach a query:
NUL_MESSAGE = "Remove the NUL character."
FLAG_PARAMETERS = {
    name
    for name, form_field in CohortForm.base_fields.items()
    if isinstance(form_field, BooleanField)
}


class DefinitionInvalid(Exception):
    """A definition that does not validate; `errors` maps each field to its messages."""

    def __init__(self, errors: dict) -> None:
        super().__init__(errors)
        self.errors = errors


class FrozenMatrixDamaged(Exception):
    """The stored file of a version is missing or no longer matches its checksum."""


@dataclass
class Definition:
    """A validated definition: what is stored, and the criteria it stands for."""

    query: dict
    matrix: dict
    criteria: CohortCriteria
    project_code: str

    def as_json(self) -> dict:
        return {"query": self.query, "matrix": self.matrix}


@dataclass
class Snapshot:
    """A cohort result taken now, not yet stored: its members and its matrix file."""

    members: list[dict]
    matrix_file: Path
    matrix_columns: list[list[str]] = field(default_factory=list)


def validate_definition(
    data: object, user: AbstractBaseUser | None = None
) -> Definition:
    """Return the definition in `data`, validated as /api/cohort-pairs/ validates a query.

    Raises
    ------
    DefinitionInvalid
        With the errors under "query" (per filter) or "matrix" (per spec field).
    """
    if not isinstance(data, dict):
        raise DefinitionInvalid(
            {"non_field_errors": ['Give {"query": {...}, "matrix": {...}}.']}
        )
    unknown = sorted(set(data) - {"query", "matrix"})
    if unknown:
        raise DefinitionInvalid(
            {
                name: ["Unknown part of a definition; give query and matrix only."]
                for name in unknown
            }
        )

    errors: dict = {}
    try:
        query, criteria = _validate_query(data.get("query", {}), user)
    except DefinitionInvalid as invalid:
        errors |= invalid.errors
    try:
        matrix = _validate_matrix(data.get("matrix", {}), user)
    except DefinitionInvalid as invalid:
        errors |= invalid.errors
    if errors:
        raise DefinitionInvalid(errors)

    # The extraction's modality is written out too (the modality filter's when not
    # given), so that a changed default cannot change this definition's matrix:
    matrix = MatrixSpec.from_params(matrix).for_cohort(criteria).as_dict()
    return Definition(query, matrix, criteria, criteria.project)


def _validate_query(
    query: object, user: AbstractBaseUser | None
) -> tuple[dict, CohortCriteria]:
    if not isinstance(query, dict):
        raise DefinitionInvalid(
            {"query": ['Give the filters as an object, e.g. {"gene": "EGFR"}.']}
        )

    errors: dict[str, list[str]] = {}
    data: dict[str, str | bool] = {}
    for name, value in query.items():
        if name not in CohortForm.base_fields:
            errors[name] = [unknown_parameter_message(name)]
        elif value is not None and not isinstance(value, str | int | float | bool):
            errors[name] = ["Give one value: text, a number, true or false."]
        elif isinstance(value, bool) and name not in FLAG_PARAMETERS:
            errors[name] = ["Give text or a number here, not true or false."]
        elif _has_nul(name) or _has_nul(value):
            errors[name] = [NUL_MESSAGE]
        elif value is not None:
            # As text, as in a query string: a whole number too large for a float
            # then reads as infinite and is refused, not an OverflowError.
            data[name] = value if isinstance(value, bool | str) else repr(value)
    form = CohortForm(data, user=user)
    if not form.is_valid():
        errors |= form_messages(form)
    if errors:
        raise DefinitionInvalid({"query": errors})

    return form.stored_query(), form.criteria()


def _validate_matrix(matrix: object, user: AbstractBaseUser | None) -> dict:
    """Return the matrix spec as stored: every field, as MatrixSpec.as_dict gives it."""
    if not isinstance(matrix, dict):
        raise DefinitionInvalid(
            {"matrix": ['Give the matrix spec as an object, e.g. {"features": ["*"]}.']}
        )

    errors = {}
    for name, value in matrix.items():
        if _has_nul(name) or _has_nul(value):
            errors[name] = [NUL_MESSAGE]
        elif _items_in(value) > MOST_LIST_ITEMS:
            # As /api/cohort-matrix/: a longer list is a mistake and one huge SQL condition.
            errors[name] = [f"Give at most {MOST_LIST_ITEMS} items in {name}."]
    if errors:
        raise DefinitionInvalid({"matrix": errors})

    try:
        spec = MatrixSpec.from_params(matrix)
        # Unknown features, signatures and genes are refused now, not when the matrix
        # is built:
        resolve_layout(spec, [])
        check_spec(spec, user)
    except MatrixSpecError as error:
        raise DefinitionInvalid({"matrix": {error.field: [error.message]}}) from error
    return spec.as_dict()


def _items_in(value: object) -> int:
    if isinstance(value, list):
        return len(value)
    return str(value).count(",") + 1


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(item) for item in value)
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return False


# Bidirectional controls reorder what follows them, so a name could read as another:
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e") | {
    chr(code) for code in range(0x2066, 0x206A)
}


def check_cohort_name(name: str) -> str:
    """Return a saved cohort's name; raise InvalidValue for characters that disguise it.

    No control character (check_text), nor a bidirectional control (U+202E turns
    "cohort-fdp.csv" around on screen): a name is what a reader trusts to tell cohorts apart.
    """
    check_text(name)
    for character in name:
        if character in BIDI_CONTROLS:
            raise InvalidValue(
                f"holds the bidirectional control U+{ord(character):04X}, which "
                "reorders the text shown; remove it.",
                "bidi-control",
            )
    return name


def check_cohort_description(text: str) -> str:
    """Return a description; its lines are free text, without control characters."""
    for line in re.split(r"\r?\n", text):
        check_text(line)
    return text


@transaction.atomic
def save_cohort(
    *,
    name: str,
    definition: Definition,
    author: AbstractBaseUser,
    description: str = "",
) -> SavedCohort:
    """Store a definition with its author and freeze its first version now."""
    project = None
    if definition.project_code:
        project = Project.objects.get(code=definition.project_code)
    cohort = SavedCohort.objects.create(
        name=name,
        description=description,
        author=author,
        project=project,
        definition=definition.as_json(),
    )

    snapshot = take_snapshot(definition, author)
    store_version(cohort, snapshot, author, definition, changes={})

    logger.info("Saved cohort %s with %s pairs", cohort.pk, len(snapshot.members))
    return cohort


def visible_cohorts(
    user: AbstractBaseUser, cohorts: QuerySet | None = None
) -> QuerySet:
    """The saved cohorts `user` may open: those of projects they view, and their own.

    A cohort without a project spans every project its author could read when saving
    it, so only its author (and site administrators) open it.
    """
    cohorts = SavedCohort.objects.all() if cohorts is None else cohorts
    if is_site_admin(user):
        return cohorts
    if not user.is_authenticated:
        return cohorts.none()
    # NB: an author who has since lost a project role still opens the versions frozen
    # while they held it; roles are checked when the cohort is re-run.
    return cohorts.filter(
        Q(project__in=projects_for(user, VIEW).values("pk"))
        | Q(project__isnull=True, author=user)
    )


def may_rerun(user: AbstractBaseUser, cohort: SavedCohort) -> bool:
    """Return whether `user` may add versions: the author, or a curator of its project."""
    if user == cohort.author:
        return True
    if cohort.project_id is None:
        return is_site_admin(user)
    return may(user, CURATE, cohort.project_id)


@dataclass
class RerunResult:
    version: CohortVersion
    is_new: bool
    diff: dict


def rerun_cohort(cohort: SavedCohort, user: AbstractBaseUser) -> RerunResult:
    """Run the stored definition again; a new version only if anything changed.

    Raises
    ------
    DefinitionInvalid
        When the stored definition no longer validates (a project or feature gone).
    """
    definition = validate_definition(cohort.definition, user=user)
    snapshot = take_snapshot(definition, user)

    try:
        with transaction.atomic():
            # Locked, so that two re-runs at once cannot take the same number:
            locked = SavedCohort.objects.select_for_update().get(pk=cohort.pk)
            latest = locked.versions.latest("number")
            diff = diff_snapshots(
                read_members(latest),
                read_frozen_matrix(latest),
                snapshot.members,
                pd.read_parquet(snapshot.matrix_file),
            )
            diff |= {"from_version": latest.number, "to_version": latest.number}

            locked.checked_at = timezone.now()
            locked.save(update_fields=["checked_at"])
            if not is_changed(diff):
                return RerunResult(latest, is_new=False, diff=diff)

            version = store_version(
                locked, snapshot, user, definition, changes=diff["counts"]
            )
            diff["to_version"] = version.number
    finally:
        # Stored versions moved their file away; what is left here was not needed:
        snapshot.matrix_file.unlink(missing_ok=True)

    logger.info(
        "Saved cohort %s re-run as version %s: %s",
        cohort.pk,
        version.number,
        diff["counts"],
    )
    return RerunResult(version, is_new=True, diff=diff)


def take_snapshot(definition: Definition, user: AbstractBaseUser) -> Snapshot:
    """Run the definition now: its pairs with their evidence, and its matrix file."""
    pairs = list(
        visible_to(user, pair_queryset(definition.criteria), "patient__project")
    )
    members = list(_members_of(definition.criteria, pairs))
    matrix_file, columns = freeze_matrix(pairs, definition)
    return Snapshot(members, matrix_file, columns)


def _members_of(criteria: CohortCriteria, pairs: list[dict]) -> Iterator[dict]:
    # The evidence of /api/cohort-pairs/, so that a frozen pair says why it was in:
    for start in range(0, len(pairs), CHUNK_PAIRS):
        chunk = pairs[start : start + CHUNK_PAIRS]
        evidence = collect_evidence(criteria, chunk)
        patients = {
            pk: (patient, project)
            for pk, patient, project in ImagingStudy.objects.filter(
                pk__in={row["study_id"] for row in chunk}
            ).values_list("pk", "patient_id", "patient__project_id")
        }
        for row in chunk:
            patient, project = patients.get(row["study_id"], (None, None))
            yield {
                **{name: row[name] for name in MEMBER_FIELDS},
                "study_id": row["study_id"],
                "sample_id": row["sample_id"],
                "patient_id": patient,
                "project_id": project,
                # As the database gives it back, so that a re-run compares like with like:
                "evidence": json.loads(
                    json.dumps(evidence(row), cls=DjangoJSONEncoder)
                ),
            }


def freeze_matrix(
    pairs: list[dict], definition: Definition
) -> tuple[Path, list[list[str]]]:
    """Write the matrix of `pairs` as Parquet into a new file of the storage folder.

    Return the file and the [name, dtype] of its columns. The frames are written as
    they are built, so memory holds one chunk of rows at a time.
    """
    folder = storage_folder()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"new-{uuid.uuid4().hex}.parquet.part"

    spec = MatrixSpec.from_params(definition.matrix)
    layout = resolve_layout(spec, pairs)
    try:
        with target.open("wb") as out:
            write_matrix(iter_matrix_frames(pairs, spec, layout=layout), "parquet", out)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target, [[name, dtype] for name, dtype, _ in layout.columns]


def storage_folder() -> Path:
    return Path(settings.BIOBANK_STORAGE_ROOT) / FROZEN_FOLDER


def store_version(
    cohort: SavedCohort,
    snapshot: Snapshot,
    user: AbstractBaseUser,
    definition: Definition,
    changes: dict,
) -> CohortVersion:
    """Store the snapshot as the next version of `cohort`, its file under its checksum."""
    digest, size = hash_file(snapshot.matrix_file)
    relative = PurePosixPath(FROZEN_FOLDER, digest[:2], f"{digest}.parquet")
    target = Path(settings.BIOBANK_STORAGE_ROOT) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    # NB: the same bytes are the same file, so a version never overwrites another's:
    if target.exists():
        snapshot.matrix_file.unlink()
    else:
        os.replace(snapshot.matrix_file, target)

    latest = cohort.versions.order_by("-number").values_list("number", flat=True)
    members = snapshot.members
    version = CohortVersion.objects.create(
        cohort=cohort,
        number=(latest.first() or 0) + 1,
        created_by=user,
        definition=definition.as_json(),
        pair_count=len(members),
        patient_count=len(
            {(m["project_code"], m["patient_pseudonym"]) for m in members}
        ),
        study_count=len({m["study_id"] for m in members}),
        sample_count=len({m["sample_id"] for m in members}),
        matrix_path=str(relative),
        matrix_sha256=digest,
        matrix_bytes=size,
        matrix_columns=snapshot.matrix_columns,
        software={"pandas": pd.__version__, "pyarrow": pyarrow.__version__},
        changes=changes,
    )
    CohortMember.objects.bulk_create(
        (
            CohortMember(
                version=version,
                position=position,
                study_pk=member["study_id"],
                sample_pk=member["sample_id"],
                patient_id=member["patient_id"],
                project_id=member["project_id"],
                study_id=member["study_id"],
                sample_id=member["sample_id"],
                evidence=member["evidence"],
                **{name: member[name] for name in MEMBER_FIELDS},
            )
            for position, member in enumerate(members)
        ),
        batch_size=1000,
    )
    return version


def hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def frozen_matrix_path(version: CohortVersion) -> Path:
    """Return the version's Parquet file after checking it is the one frozen.

    Raises
    ------
    FrozenMatrixDamaged
        When the file is missing or its SHA-256 differs from the recorded one.
    """
    try:
        path = stored_file(version.matrix_path, f"the frozen matrix of {version}")
    except StoragePathRefused as refused:
        raise FrozenMatrixDamaged(str(refused)) from None
    except StoredFileMissing:
        raise FrozenMatrixDamaged(
            f"The frozen matrix of {version} is missing from storage ({version.matrix_path})."
        ) from None
    digest, _ = hash_file(path)
    if digest != version.matrix_sha256:
        logger.error(
            "Frozen matrix of cohort version %s fails its checksum", version.pk
        )
        raise FrozenMatrixDamaged(
            f"The frozen matrix of {version} no longer matches its recorded SHA-256; "
            "it was changed or damaged in storage."
        )
    return path


def read_frozen_matrix(version: CohortVersion) -> pd.DataFrame:
    return pd.read_parquet(frozen_matrix_path(version))


def frozen_projects(*versions: CohortVersion) -> set[int | None]:
    """Return the projects whose rows `versions` (of one cohort) froze, to decide their dates.

    Every member's project counts by the id it keeps, whether the reader may still
    read it or not and whatever its code is now; None stands for a member whose
    project is not known (migration 0002), which allows no calendar dates
    (may_see_calendar). Versions without members stand for their cohort's project,
    or for none when it spans every project of its author: an empty set, which
    allows calendar dates to site administrators only.
    """
    projects: set[int | None] = set(
        CohortMember.objects.filter(version__in=versions)
        .order_by()
        .values_list("project_id", flat=True)
        .distinct()
    )
    if projects:
        return projects
    return {version.cohort.project_id for version in versions} - {None}


def read_members(version: CohortVersion) -> list[dict]:
    rows = version.members.order_by("position").values(
        *MEMBER_FIELDS, "evidence", "study_pk", "sample_pk"
    )
    return [
        {**row, "study_id": row.pop("study_pk"), "sample_id": row.pop("sample_pk")}
        for row in rows
    ]


def diff_versions(
    old: CohortVersion, new: CohortVersion, dater: Dater | None = None
) -> dict:
    """Return what changed from version `old` to version `new` of a cohort.

    With a `dater`, in its date mode (see diff_snapshots).
    """
    diff = diff_snapshots(
        read_members(old),
        read_frozen_matrix(old),
        read_members(new),
        read_frozen_matrix(new),
        dater,
    )
    return diff | {"from_version": old.number, "to_version": new.number}


def is_changed(diff: dict) -> bool:
    return any(diff["counts"].values())


def diff_snapshots(
    old_members: list[dict],
    old_matrix: pd.DataFrame,
    new_members: list[dict],
    new_matrix: pd.DataFrame,
    dater: Dater | None = None,
) -> dict:
    """Return pairs added and removed, and values changed in pairs present in both.

    A pair is its study and draw (their ids when frozen). Values are those of the
    members (copied fields and evidence) and of the matrix columns in both versions;
    a missing value on both sides is no change.

    With a `dater`, both versions are first put in its date mode as their members
    and matrix are served (Dater.row, Dater.frame), then compared: every date is
    moved once or turned into days under its relative name, and birth_year, blank
    in both, is no change.
    """
    dater = dater or Dater(DateMode.CALENDAR)
    old = _keyed_frame(old_members, old_matrix, dater)
    new = _keyed_frame(new_members, new_matrix, dater)

    identity = dater.field_names(IDENTITY, DATED_FIELDS)
    added = _identities(new[~new.index.isin(old.index)], identity)
    removed = _identities(old[~old.index.isin(new.index)], identity)

    shared = new.index[new.index.isin(old.index)]
    columns = [c for c in new.columns if c in old.columns and c not in PAIR_KEY]
    before, after = old.loc[shared], new.loc[shared]
    changed: list[dict] = []
    for column in columns:
        differs = _differs(before[column], after[column])
        for key in shared[differs]:
            changed.append(
                {
                    **_identity(after.loc[key], identity),
                    "column": column,
                    "old": _plain(before.at[key, column]),
                    "new": _plain(after.at[key, column]),
                }
            )

    return {
        "pairs_added": added,
        "pairs_removed": removed,
        "values_changed": changed,
        "columns_added": [c for c in new.columns if c not in old.columns],
        "columns_removed": [c for c in old.columns if c not in new.columns],
        "counts": {
            "pairs_added": len(added),
            "pairs_removed": len(removed),
            "values_changed": len(changed),
            "pairs_changed": len({(c["study_id"], c["sample_id"]) for c in changed}),
        },
    }


def _differs(before: pd.Series, after: pd.Series) -> list[bool]:
    """Return, per row, whether the two values differ; missing on both is the same."""
    return [not _same(was, now) for was, now in zip(before, after, strict=True)]


IDENTITY = (
    "patient_pseudonym",
    "study_id",
    "study_instance_uid",
    "study_date",
    "sample_id",
    "drawn_at",
)


def _identity(row: pd.Series, names: list[str]) -> dict:
    return {name: _plain(row[name]) for name in names}


def _identities(frame: pd.DataFrame, names: list[str]) -> list[dict]:
    return [_identity(row, names) for _, row in frame.iterrows()]


def _keyed_frame(
    members: list[dict], matrix: pd.DataFrame, dater: Dater
) -> pd.DataFrame:
    """Return one row per pair: the member's values, then the matrix columns.

    Both in `dater`'s mode, as the members and the matrix of a version are served.
    """
    members = [
        dater.row((member["project_code"], member["patient_pseudonym"]), member)
        for member in members
    ]
    names = dater.field_names([*PAIR_KEY, *MEMBER_FIELDS, "evidence"], DATED_FIELDS)
    frame = pd.DataFrame(members, columns=names)
    matrix = dater.frame(matrix)
    extra = [c for c in matrix.columns if c not in frame.columns]
    # The matrix has a row per member, in the same order:
    if [list(matrix[key]) for key in PAIR_KEY] != [
        list(frame[key]) for key in PAIR_KEY
    ]:
        raise FrozenMatrixDamaged(
            f"The matrix rows ({len(matrix)}) are not the pairs ({len(frame)}) in order."
        )
    frame = pd.concat([frame, matrix[extra].reset_index(drop=True)], axis=1)
    frame.index = pd.MultiIndex.from_frame(frame[list(PAIR_KEY)])
    return frame


def _same(was: object, now: object) -> bool:
    if _is_missing(was) and _is_missing(now):
        return True
    if _is_missing(was) or _is_missing(now):
        return False
    return _plain(was) == _plain(now)


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def _plain(value: object) -> object:
    """Return `value` as JSON can hold it: no numpy scalars, no NaN."""
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    elif hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    return value
