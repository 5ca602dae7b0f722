"""Fixtures shared by the whole suite: stored-file root, shared data, projects."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("BIOBANK_SHARED_DIR", REPO.parent / "shared"))
DATA = SHARED / "data"
CASES = SHARED / "cases"


def shared_path(*parts: str, root: Path = DATA) -> Path:
    """Return a path inside ../shared, or skip the test with the reason it is absent."""
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data {path} is absent (set BIOBANK_SHARED_DIR)")
    return path


def case_path(*parts: str) -> Path:
    return shared_path(*parts, root=CASES)


def run_in_repo(
    command: list[str | Path], home: Path, **environ: str
) -> subprocess.CompletedProcess[str]:
    """Run one of our own programs in the repository, in a bare environment.

    HOME and BIOBANK_VAR_DIR are `home`, so nothing is read from or left in the
    user's folders or var/; `environ` adds the variables under test. Fails on a
    non-zero exit status.
    """
    return subprocess.run(  # noqa: S603 -- our own programs, arguments from the tests
        command,
        cwd=REPO,
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "BIOBANK_VAR_DIR": str(home),
            **environ,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path: Path) -> Path:
    """Every test stores de-identified files under its own temporary folder."""
    root = tmp_path / "storage"
    settings.BIOBANK_STORAGE_ROOT = root
    return root


@pytest.fixture
def project(db):
    from patients.models import Project

    return Project.objects.create(code="demo", name="Demo collection")


def grant(user, project, role: str = "viewer"):
    """Give `user` `role` in `project` (a Role value); return the user."""
    from patients.models import ProjectMembership

    ProjectMembership.objects.update_or_create(
        user=user, project=project, defaults={"role": role}
    )
    return user


@pytest.fixture
def reader(db, django_user_model, project):
    """A viewer of the `project` fixture: what a researcher signed in to it sees."""
    # No password: hashing one is slow, and force_login and tokens need none.
    return grant(django_user_model.objects.create_user("researcher"), project)


@pytest.fixture
def logged_in(client, reader):
    """The test client, signed in as `reader`."""
    client.force_login(reader)
    return client


@pytest.fixture
def curator(db, django_user_model):
    return django_user_model.objects.create_user(
        "curator", password="curator-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Hash test passwords with a cheap hasher: PBKDF2's 1,000,000 rounds cost about
    0.3 s per account here, paid by every test that creates one. Production settings
    keep Django's default hashers; nothing in the suite tests the hash's strength."""
    from django.test import override_settings

    with override_settings(
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
    ):
        yield


@pytest.fixture(autouse=True)
def empty_cache():
    """Each test starts with an empty cache, so that throttle counts do not carry over."""
    from django.core.cache import cache

    cache.clear()
    yield
