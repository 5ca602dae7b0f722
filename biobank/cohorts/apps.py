from __future__ import annotations

from django.apps import AppConfig


class CohortsConfig(AppConfig):
    """Saved cohorts: stored definitions with frozen, versioned memberships and matrices."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "biobank.cohorts"
    label = "cohorts"
    verbose_name = "Saved cohorts"
