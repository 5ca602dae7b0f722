"""The export log: every export and cohort download, with its definition and row count."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from patients.models import Project


class ExportRecord(models.Model):
    """One export or cohort download: who, when, what, how many rows, with which dates.

    A streamed download is recorded when it starts and completed when its last byte
    has gone out; a client that leaves early leaves the record interrupted, with the
    rows handed out until then.
    """

    class Kind(models.TextChoices):
        MATRIX = "matrix", "Cohort matrix (/api/cohort-matrix/)"
        PAIRS_CSV = "pairs-csv", "Cohort pairs CSV (/cohorts/?format=csv)"
        PAIRS_JSON = "pairs-json", "Cohort pairs JSON (/cohorts/query.json)"
        PAIRS_API = "pairs-api", "Cohort pairs page (/api/cohort-pairs/)"
        SAVED_MATRIX = "saved-matrix", "Matrix of a saved cohort version"
        SAVED_MEMBERS = "saved-members", "Members page of a saved cohort version"
        ANALYSIS = "analysis", "Analysis page (/cohorts/analysis/)"

    class Status(models.TextChoices):
        STARTED = "started", "Started, not finished (the server stopped sending)"
        COMPLETE = "complete", "Complete"
        INTERRUPTED = "interrupted", "Interrupted: the client left before the end"
        FAILED = "failed", "Failed on the server"

    # NB: SET_NULL and a copied username, so that the log outlives the account.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        related_name="export_records",
    )
    username = models.CharField(max_length=150)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    kind = models.CharField(max_length=20, choices=Kind)
    path = models.CharField(max_length=500, help_text="The address asked for.")
    request_id = models.CharField(max_length=64, blank=True)
    definition = models.JSONField(
        encoder=DjangoJSONEncoder,
        help_text="The cohort as normalised: its filters, matrix columns, saved version.",
    )
    format = models.CharField(max_length=20)
    date_mode = models.CharField(
        max_length=10, blank=True, help_text="calendar, relative or shifted."
    )
    row_count = models.PositiveBigIntegerField(
        default=0, help_text="Rows handed out, counted as they were streamed."
    )
    status = models.CharField(max_length=12, choices=Status, default=Status.STARTED)
    projects = models.ManyToManyField(
        Project,
        blank=True,
        related_name="export_records",
        help_text="The projects of the rows exported.",
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["user", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.username} at {self.started_at:%Y-%m-%d %H:%M}"
