"""System checks that warn before real patients are handled with development settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

DEVELOPMENT_KEY = "dev-only-insecure-key-change-me"


@register()
def pseudonym_key_check(app_configs, **kwargs) -> list:
    """Warn while pseudonyms hang on the public development key.

    Whoever knows the key can test a guessed patient identifier against the stored
    hashes, so real identifiers must never be imported under the public default.
    """
    if settings.BIOBANK_PSEUDONYM_KEY != DEVELOPMENT_KEY:
        return []
    return [
        Warning(
            "BIOBANK_PSEUDONYM_KEY is the public development default.",
            hint="Set BIOBANK_PSEUDONYM_KEY (or BIOBANK_PSEUDONYM_KEY_FILE) to a long "
            "random secret before importing real patients; keep it, since changing it "
            "unlinks stored patients from later imports.",
            id="biobank.W001",
        )
    ]


@register(Tags.security, deploy=True)
def pseudonym_key_deploy_check(app_configs, **kwargs) -> list:
    if settings.BIOBANK_PSEUDONYM_KEY != settings.SECRET_KEY:
        return []
    return [
        Error(
            "BIOBANK_PSEUDONYM_KEY is the SECRET_KEY.",
            hint="Give pseudonyms a key of their own: rotating SECRET_KEY would "
            "otherwise unlink every stored patient from later imports.",
            id="biobank.E001",
        )
    ]
