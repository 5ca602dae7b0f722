"""Saved cohorts: a definition with its author, and immutable versions of its result."""

from __future__ import annotations

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from liquidbiopsy.models import BloodSample
from patients.models import Patient, Project
from radiomics.models import ImagingStudy


class SavedCohort(models.Model):
    """A cohort definition (the filters of /api/cohort-pairs/ and a matrix spec).

    The definition never changes once saved: re-running it adds a version. To ask
    something else, save another cohort.
    """

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    # NB: PROTECT, so that deleting a user cannot take a paper's cohort with it.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="saved_cohorts",
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="saved_cohorts",
        help_text="The project the definition is limited to; empty when it spans all.",
    )
    definition = models.JSONField(
        encoder=DjangoJSONEncoder,
        help_text='{"query": cohort filters as validated, "matrix": matrix spec}.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    checked_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Last re-run, including one that found nothing changed.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["author", "name"], name="saved_cohort_name_per_author"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CohortVersion(models.Model):
    """One frozen result of a saved cohort: its members and its matrix as they were."""

    cohort = models.ForeignKey(
        SavedCohort, on_delete=models.PROTECT, related_name="versions"
    )
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="cohort_versions",
    )
    definition = models.JSONField(
        encoder=DjangoJSONEncoder, help_text="The definition this version ran."
    )
    pair_count = models.PositiveIntegerField()
    patient_count = models.PositiveIntegerField()
    study_count = models.PositiveIntegerField()
    sample_count = models.PositiveIntegerField()
    matrix_path = models.CharField(
        max_length=300, help_text="Frozen Parquet file, under BIOBANK_STORAGE_ROOT."
    )
    matrix_sha256 = models.CharField(max_length=64)
    matrix_bytes = models.PositiveBigIntegerField()
    matrix_columns = models.JSONField(
        help_text="[name, dtype] of every column of the frozen matrix, in order."
    )
    software = models.JSONField(
        default=dict, help_text="Versions of the libraries that wrote the matrix."
    )
    changes = models.JSONField(
        default=dict,
        help_text="Counts of pairs added and removed and values changed since the previous version.",
    )

    class Meta:
        ordering = ["cohort", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["cohort", "number"], name="cohort_version_number"
            ),
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="cohort_version_from_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cohort} v{self.number}"


class CohortMember(models.Model):
    """One study-draw pair of a version, with its identifying values copied.

    The links may be emptied when a record is deleted; the copied values and the
    frozen evidence stay, so the snapshot reads the same afterwards.
    """

    version = models.ForeignKey(
        CohortVersion, on_delete=models.CASCADE, related_name="members"
    )
    position = models.PositiveIntegerField(help_text="Row of the pair in the result.")
    project_code = models.CharField(max_length=40)
    patient_pseudonym = models.CharField(max_length=40)
    study_pk = models.BigIntegerField(help_text="Id of the study when frozen.")
    study_instance_uid = models.CharField(max_length=64)
    study_date = models.DateField()
    modalities = models.CharField(max_length=100, blank=True)
    sample_pk = models.BigIntegerField(help_text="Id of the blood draw when frozen.")
    drawn_at = models.DateTimeField()
    drawn_on = models.DateField()
    days_apart = models.IntegerField(help_text="Draw day minus study day.")
    evidence = models.JSONField(
        encoder=DjangoJSONEncoder,
        default=dict,
        help_text="The records and values that met each filter when frozen.",
    )
    # NB: the project by its id, which decides the dates the pair is shown in:
    # project_code is the code as it was when frozen, and a code may change since.
    # Empty only for a pair frozen before the id was kept whose project could not
    # be told (migration 0002); such a pair is shown in calendar dates to no one
    # but site administrators.
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The patient's project when frozen.",
    )
    patient = models.ForeignKey(
        Patient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    study = models.ForeignKey(
        ImagingStudy,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    sample = models.ForeignKey(
        BloodSample,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "position"], name="cohort_member_position"
            ),
            models.UniqueConstraint(
                fields=["version", "study_pk", "sample_pk"],
                name="cohort_member_pair",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.patient_pseudonym} {self.study_date} / {self.drawn_on}"
