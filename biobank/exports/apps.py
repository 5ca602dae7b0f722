from __future__ import annotations

from django.apps import AppConfig


class ExportsConfig(AppConfig):
    """The export log: who downloaded which cohort, how many rows, with which dates."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "biobank.exports"
    label = "exports"
    verbose_name = "Exports"
