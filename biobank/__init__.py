"""Imaging biobank project package; loads the Celery app so tasks find it."""

from __future__ import annotations

from biobank.celery import app as celery_app

__all__ = ["celery_app"]
