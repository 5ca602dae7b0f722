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
