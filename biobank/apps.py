from __future__ import annotations

from django.apps import AppConfig


class BiobankConfig(AppConfig):
    name = "biobank"
    verbose_name = "Imaging biobank"

    def ready(self) -> None:
        from django.db import connections
        from django.db.backends.signals import connection_created

        from biobank import checks  # noqa: F401 -- registers the system checks
        from biobank.core import changes

        connection_created.connect(changes.install)
        for connection in connections.all(initialized_only=True):
            changes.install(None, connection)
