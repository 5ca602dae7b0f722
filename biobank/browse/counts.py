"""The dashboard's counts of each project, counted once per change of the data.

Counting a 100,000-patient project reads millions of rows (13 million variants: about
9 s on two cores), so each project's counts are stored with the DataGeneration they
were counted at and counted again only once a write to the counted records has
committed (biobank.core.changes). The counts of several projects add up, since every
record belongs to one project.
"""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from biobank.core.changes import current_generation, writes_pending
from biobank.models import ProjectCounts
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CirculatingRNAResult,
    CTCCount,
    VariantResult,
)
from patients.models import Patient, Project
from radiomics.models import FeatureExtraction, ImagingStudy, Segmentation

# What is counted, in the order the dashboard shows it:
TOTALS = [
    ("patients", "Patients"),
    ("studies", "Imaging studies"),
    ("segmentations", "Segmentations"),
    ("extractions", "Feature extractions"),
    ("draws", "Blood draws"),
    ("ctc_counts", "CTC counts"),
    ("variants", "Variant results"),
]
GAPS = [
    ("both", "Patients with imaging and blood draws"),
    ("imaging_only", "Patients with imaging but no blood draw"),
    ("blood_only", "Patients with blood draws but no imaging"),
    ("unsegmented", "Imaging studies without a segmentation"),
    ("undated", "Imaging studies without a date (they never pair)"),
    ("without_result", "Blood draws without any result"),
]


def count_project(project: Project) -> dict[str, int]:
    """Count one project's records and what is missing, now."""
    patients = Patient.objects.filter(project=project)
    has_study = Exists(ImagingStudy.objects.filter(patient=OuterRef("pk")))
    has_draw = Exists(BloodSample.objects.filter(patient=OuterRef("pk")))
    counts = patients.aggregate(
        patients=Count("pk"),
        imaging_only=Count("pk", filter=Q(has_study) & ~Q(has_draw)),
        blood_only=Count("pk", filter=~Q(has_study) & Q(has_draw)),
        both=Count("pk", filter=Q(has_study) & Q(has_draw)),
    )

    # What is missing is counted in a query of its own, with NOT EXISTS in the WHERE
    # clause: PostgreSQL then reads the other table once (an anti-join) instead of
    # looking into it once per study or draw, as in an aggregate's FILTER (issue 7).
    studies = ImagingStudy.objects.filter(patient__project=project)
    counts.update(
        studies.aggregate(
            studies=Count("pk"), undated=Count("pk", filter=Q(study_date__isnull=True))
        )
    )
    segmented = Segmentation.objects.filter(series__study=OuterRef("pk"))
    counts["unsegmented"] = studies.filter(~Exists(segmented)).count()

    draws = BloodSample.objects.filter(patient__project=project)
    counts["draws"] = draws.count()
    counts["without_result"] = draws.filter(
        ~Exists(CTCCount.objects.filter(sample=OuterRef("pk"))),
        ~Exists(CfDNAAssay.objects.filter(sample=OuterRef("pk"))),
        ~Exists(CirculatingRNAResult.objects.filter(sample=OuterRef("pk"))),
    ).count()

    records = {
        "segmentations": Segmentation.objects.filter(
            series__study__patient__project=project
        ),
        "extractions": FeatureExtraction.objects.filter(patient__project=project),
        "ctc_counts": CTCCount.objects.filter(sample__patient__project=project),
        "variants": VariantResult.objects.filter(
            assay__sample__patient__project=project
        ),
    }
    counts.update({key: queryset.count() for key, queryset in records.items()})
    return counts


def counts_of(projects: list[Project]) -> dict[str, int]:
    """Return the summed counts of `projects`, from storage where still current.

    A project counted again is stored under the generation read before counting:
    a write committed meanwhile raises the generation past it, so nothing counted
    before that write is kept as current. Counts read inside a transaction that has
    written counted rows itself are counted afresh and not stored (nobody else sees
    those rows yet).
    """
    pending = writes_pending()
    generation = current_generation()
    stored = {}
    if not pending:
        stored = {
            row.project_id: row.counts
            for row in ProjectCounts.objects.filter(
                project__in=projects, generation=generation
            )
        }
    total = dict.fromkeys([key for key, _ in TOTALS + GAPS], 0)
    for project in projects:
        counts = stored.get(project.pk)
        if counts is None:
            counts = count_project(project)
            if not pending:
                ProjectCounts.objects.update_or_create(
                    project=project,
                    defaults={
                        "generation": generation,
                        "counts": counts,
                        "counted_at": timezone.now(),
                    },
                )
        for key in total:
            total[key] += counts.get(key, 0)
    return total
