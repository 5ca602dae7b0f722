"""What the biobank keeps about its own records: the dashboard's stored counts."""

from __future__ import annotations

from django.db import models

from patients.models import Project


class DataGeneration(models.Model):
    """One row: a number that grows each time a write to the counted records commits.

    biobank.core.changes raises it; stored counts of another generation are stale.
    """

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"data generation {self.value}"


class ProjectCounts(models.Model):
    """The dashboard's counts of one project, as of one DataGeneration value.

    Counting a 100,000-patient project takes seconds (13 million variants), so the
    counts are kept until a write to the counted records commits anywhere.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="stored_counts"
    )
    generation = models.BigIntegerField()
    counts = models.JSONField()
    counted_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "project counts"

    def __str__(self) -> str:
        return f"counts of {self.project} at generation {self.generation}"
