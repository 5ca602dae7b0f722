from __future__ import annotations

from django.apps import AppConfig


class BiobankConfig(AppConfig):
    name = "biobank"
    verbose_name = "Imaging biobank"

    def ready(self) -> None:
        from biobank import checks  # noqa: F401 -- registers the system checks
