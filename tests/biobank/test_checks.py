"""System checks that guard the pseudonym key."""

from __future__ import annotations

from biobank.checks import (
    DEVELOPMENT_KEY,
    pseudonym_key_check,
    pseudonym_key_deploy_check,
)


def test_the_public_development_key_is_warned_about(settings):
    settings.BIOBANK_PSEUDONYM_KEY = DEVELOPMENT_KEY

    assert [w.id for w in pseudonym_key_check(None)] == ["biobank.W001"]


def test_a_key_of_its_own_passes_both_checks(settings):
    settings.SECRET_KEY = "s" * 50
    settings.BIOBANK_PSEUDONYM_KEY = "p" * 50

    assert pseudonym_key_check(None) == []
    assert pseudonym_key_deploy_check(None) == []


def test_deployment_refuses_the_secret_key_as_pseudonym_key(settings):
    settings.SECRET_KEY = settings.BIOBANK_PSEUDONYM_KEY = "x" * 50

    assert [e.id for e in pseudonym_key_deploy_check(None)] == ["biobank.E001"]


def test_production_settings_pass_the_deployment_checks_without_warnings(tmp_path):
    """`manage.py check --deploy` with DEBUG off and the keys set: no issue at all."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "deploy-check-" + "s" * 50,
        "BIOBANK_PSEUDONYM_KEY": "deploy-check-" + "p" * 50,
        "BIOBANK_VAR_DIR": str(tmp_path),
    }
    # Browser tests allow sync ORM calls beside Playwright's loop; a deployment never:
    for name in ("DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"):
        env.pop(name, None)
    result = subprocess.run(  # noqa: S603 -- our own manage.py, fixed arguments
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
