"""A patient's dated records gathered for the timeline page, in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils import timezone

from biobank.cohorts.query import CohortCriteria, pair_queryset
from liquidbiopsy.cutoffs import ctc_cutoff, is_metastatic
from liquidbiopsy.models import BloodSample, CfDNAAssay, VariantResult
from patients.models import Patient


@dataclass(frozen=True)
class GeneResult:
    """What one draw says about one variant: its VAF, or why there is none.

    `gene` names the line the result belongs to: the variant ("EGFR p.T790M"), so
    that a resistance mutation is never hidden behind another variant of its gene;
    a gene tested as a whole keeps the gene's name. Several results of the same
    variant in one draw (two assays) keep the highest VAF.
    """

    gene: str
    sample_id: int
    drawn_at: dt.datetime
    # The moment of the draw, or its day alone when no time was given (BloodSample.drawn):
    drawn: dt.datetime | dt.date
    call: str
    vaf: float | None
    limit_of_detection: float | None
    label: str


@dataclass
class Timeline:
    patient: Patient
    window_days: int
    studies: list = field(default_factory=list)
    undated_studies: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    treatments: list = field(default_factory=list)
    events: list = field(default_factory=list)
    pairs: list[dict] = field(default_factory=list)
    gene_results: list[GeneResult] = field(default_factory=list)
    ctc_cutoff: float | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.studies or self.samples or self.treatments or self.events)

    def genes(self) -> list[str]:
        return sorted({result.gene for result in self.gene_results})

    def pair_rows(self) -> list[dict]:
        """The pairs, each with its study, which tells apart studies of the same day."""
        studies = {study.pk: study for study in self.studies}
        return [pair | {"study": studies[pair["study_id"]]} for pair in self.pairs]

    def rows(self) -> list[dict]:
        """Every dated record, oldest first, as the table beside the chart lists them."""
        rows = [
            {"on": study.study_date, "kind": "Imaging study", "anchor": f"study-{study.pk}", "record": study}
            for study in self.studies
        ] + [
            {"on": timezone.localdate(sample.drawn_at), "kind": "Blood draw", "anchor": f"sample-{sample.pk}", "record": sample}
            for sample in self.samples
        ] + [
            {"on": treatment.started_on, "kind": "Treatment", "anchor": f"treatment-{treatment.pk}", "record": treatment}
            for treatment in self.treatments
        ] + [
            {"on": event.occurred_on, "kind": "Clinical event", "anchor": f"event-{event.pk}", "record": event}
            for event in self.events
        ]  # fmt: skip
        return sorted(rows, key=lambda row: (row["on"], row["kind"], row["record"].pk))


def load_timeline(patient: Patient, window_days: int) -> Timeline:
    """Return everything the timeline shows for `patient`; seven queries whatever its size."""
    studies = list(patient.imaging_studies.prefetch_related("series"))
    samples = list(
        patient.blood_samples.prefetch_related(
            "ctc_counts",
            Prefetch(
                "cfdna_assays",
                queryset=CfDNAAssay.objects.prefetch_related("variants"),
            ),
        )
    )
    pairs = list(
        pair_queryset(CohortCriteria(window_days=window_days)).filter(patient=patient)
    )
    return Timeline(
        patient=patient,
        window_days=window_days,
        studies=[study for study in studies if study.study_date],
        undated_studies=[study for study in studies if not study.study_date],
        samples=samples,
        treatments=list(patient.treatments.all()),
        events=list(patient.events.all()),
        pairs=pairs,
        gene_results=_gene_results(samples),
        ctc_cutoff=ctc_cutoff(
            patient.cancer_type, is_metastatic(patient.stage, patient.m_stage)
        ),
    )


# A detected variant outranks a value below the limit, which outranks a plain
# "not detected"; a failed test says nothing about the gene:
_CALL_RANK = {
    VariantResult.Call.DETECTED: 3,
    VariantResult.Call.BELOW_LOD: 2,
    VariantResult.Call.NOT_DETECTED: 1,
    VariantResult.Call.FAILED: 0,
}


def _gene_results(samples: list[BloodSample]) -> list[GeneResult]:
    results = []
    for sample in samples:
        by_variant: dict[str, list[tuple[CfDNAAssay, VariantResult]]] = {}
        for assay in sample.cfdna_assays.all():
            for variant in assay.variants.all():
                by_variant.setdefault(_variant_name(variant), []).append(
                    (assay, variant)
                )

        for gene, tested in sorted(by_variant.items()):
            call = max((variant.call for _, variant in tested), key=_CALL_RANK.get)
            chosen = [(a, v) for a, v in tested if v.call == call]
            vafs = [v.vaf for _, v in chosen if v.vaf is not None]
            lods = [a.limit_of_detection_vaf for a, _ in chosen if a.limit_of_detection_vaf is not None]  # fmt: skip
            names = sorted({_variant_name(v) for _, v in chosen})
            results.append(
                GeneResult(
                    gene=gene,
                    sample_id=sample.pk,
                    drawn_at=sample.drawn_at,
                    drawn=sample.drawn,
                    call=call,
                    vaf=max(vafs)
                    if call == VariantResult.Call.DETECTED and vafs
                    else None,
                    limit_of_detection=min(lods) if lods else None,
                    label=", ".join(name for name in names if name) or gene,
                )
            )
    return results


def _variant_name(variant: VariantResult) -> str:
    if variant.fusion_5prime:
        return f"{variant.fusion_5prime}::{variant.fusion_3prime}"
    # A variant of no gene (a VCF without CSQ/ANN annotation) by its genomic change:
    return f"{variant.gene} {variant.protein_change}".strip() or variant.genomic_change
