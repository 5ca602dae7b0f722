"""Flag patients for closer follow-up: a high-risk signature and a positive blood test close in time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from biobank.core.importing import counted
from liquidbiopsy.cutoffs import CELLSEARCH_CUTOFFS, METASTATIC
from liquidbiopsy.markers import RESISTANCE_TRANSCRIPTS, resistance_meaning
from liquidbiopsy.models import CirculatingRNAResult, CTCCount, VariantResult
from patients.consent import COHORT_SCOPES, consent_allows
from patients.models import Patient
from radiomics.models import SignatureScore


@dataclass(frozen=True)
class FollowUpRule:
    """When a patient is flagged; every part is the researcher's to change.

    `ctc_cutoffs` maps a cancer type to the CTCs per 7.5 mL that count as positive;
    a type without an entry has no CTC criterion. `signature` empty means any
    signature with a cut-off.
    """

    window_days: int = 30
    signature: str = ""
    ctc_cutoffs: dict[str, float] = field(
        default_factory=lambda: dict(CELLSEARCH_CUTOFFS)
    )
    use_cfdna: bool = True
    # The CellSearch cut-offs were established in metastatic disease:
    metastatic_only: bool = True

    def describe(self, cancer_type: str) -> str:
        """Say the rule as it applies to a patient of `cancer_type`."""
        signature = f"signature {self.signature!r}" if self.signature else "a signature"
        blood = []
        cutoff = self.ctc_cutoffs.get(cancer_type)
        if cutoff is not None:
            where = (
                f"{cancer_type}, metastatic" if self.metastatic_only else cancer_type
            )
            blood.append(f"CTCs ≥ {cutoff:g} per 7.5 mL ({where})")
        if self.use_cfdna:
            blood.append("a cfDNA variant detected")
        either = " or ".join(blood) or "no blood criterion"
        return (
            f"{signature} at or above its cut-off, and {either}, "
            f"within {counted(self.window_days, 'days')}"
        )


@dataclass(frozen=True)
class Finding:
    """One dated result that makes part of a flag, with the record it comes from."""

    kind: str
    on: dt.date
    text: str
    record_id: int
    sample_id: int | None = None
    study_id: int | None = None
    resistance: str = ""
    # A resistance marker drawn more than the window from every flagged score:
    outside_window: bool = False


@dataclass
class Flag:
    patient: Patient
    rule_text: str
    scores: list[Finding] = field(default_factory=list)
    positives: list[Finding] = field(default_factory=list)
    # Every resistance marker of the patient, whatever its date: one found months
    # before still tells which treatment will not work. Those drawn outside the window
    # of every flagged score say so (`outside_window`), so that none is read as part
    # of the flag.
    resistance: list[Finding] = field(default_factory=list)
    window_days: int = 0

    @property
    def nearest_days(self) -> int:
        return min(abs((p.on - s.on).days) for s in self.scores for p in self.positives)


def flag_patients(patients: QuerySet[Patient], rule: FollowUpRule) -> list[Flag]:
    """Return the patients of `patients` the rule flags, with the findings behind each.

    At most five queries whatever the number of patients. A high-risk score is dated
    by its study; a draw by its local calendar day, as in the cohort query.
    """
    # As in cohorts: no flag for a patient whose consent was withdrawn or lacks scope.
    patients = patients.filter(consent_allows(COHORT_SCOPES))
    scores = _high_risk_scores(patients, rule)
    if not scores:
        return []

    # Only a patient with a high-risk score can be flagged, so only their variants
    # are read: every detected variant of a 100,000-patient project took 14 s to
    # read and describe for a page that flags none (issue 7). The other results are
    # few; narrowed by these ids too, the CTC query took 18 times as long.
    scored = patients.filter(pk__in=list(scores))
    variants = [_variant_finding(row) for row in _detected_variants(scored)]
    positives = _positive_results(patients, rule, variants)
    resistance = _resistance_findings(patients, variants)

    flags = []
    by_id = {patient.pk: patient for patient in scored}
    for patient_id, patient_scores in scores.items():
        window = dt.timedelta(days=rule.window_days)
        close_scores = [
            s for s in patient_scores
            if any(abs(p.on - s.on) <= window for p in positives.get(patient_id, []))
        ]  # fmt: skip
        if not close_scores:
            continue
        close_positives = [
            p for p in positives[patient_id]
            if any(abs(p.on - s.on) <= window for s in close_scores)
        ]  # fmt: skip
        patient = by_id[patient_id]
        markers = [
            replace(
                marker,
                outside_window=not any(
                    abs(marker.on - s.on) <= window for s in close_scores
                ),
            )
            for marker in resistance.get(patient_id, [])
        ]
        flags.append(
            Flag(
                patient=patient,
                rule_text=rule.describe(patient.cancer_type),
                scores=close_scores,
                positives=close_positives,
                resistance=markers,
                window_days=rule.window_days,
            )
        )
    flags.sort(key=lambda flag: (flag.nearest_days, flag.patient.pseudonym))
    return flags


def _high_risk_scores(
    patients: QuerySet[Patient], rule: FollowUpRule
) -> dict[int, list[Finding]]:
    scores = SignatureScore.objects.filter(
        extraction__patient__in=patients,
        signature__cutoff__isnull=False,
        score__gte=F("signature__cutoff"),
        extraction__segmentation__series__study__study_date__isnull=False,
    )
    if rule.signature:
        scores = scores.filter(signature__name=rule.signature)
    found: dict[int, list[Finding]] = defaultdict(list)
    for row in scores.values(
        "pk",
        "score",
        "label",
        patient_id=F("extraction__patient_id"),
        name=F("signature__name"),
        cutoff=F("signature__cutoff"),
        study_id=F("extraction__segmentation__series__study_id"),
        on=F("extraction__segmentation__series__study__study_date"),
    ).order_by("on", "pk"):
        found[row["patient_id"]].append(
            Finding(
                kind="signature",
                on=row["on"],
                text=f"{row['name']} {row['score']:.3g} ≥ {row['cutoff']:g} ({row['label'] or 'high risk'})",
                record_id=row["pk"],
                study_id=row["study_id"],
            )
        )
    return found


def _positive_results(
    patients: QuerySet[Patient], rule: FollowUpRule, variants: list[tuple[int, Finding]]
) -> dict[int, list[Finding]]:
    found: dict[int, list[Finding]] = defaultdict(list)

    positive_ctc = Q(pk__in=[])
    for cancer_type, cutoff in rule.ctc_cutoffs.items():
        positive_ctc |= Q(
            sample__patient__cancer_type=cancer_type, count_per_7_5ml__gte=cutoff
        )
    counts = CTCCount.objects.filter(positive_ctc, sample__patient__in=patients)
    if rule.metastatic_only:
        metastatic = patients.filter(METASTATIC).values("pk")
        counts = counts.filter(sample__patient__in=metastatic)
    for row in counts.values(
        "pk", "count", "count_per_7_5ml", "sample_id",
        patient_id=F("sample__patient_id"), drawn_at=F("sample__drawn_at"),
    ).order_by("drawn_at", "pk"):  # fmt: skip
        found[row["patient_id"]].append(
            Finding(
                kind="ctc",
                on=timezone.localdate(row["drawn_at"]),
                text=f"CTC {row['count_per_7_5ml']:g} per 7.5 mL",
                record_id=row["pk"],
                sample_id=row["sample_id"],
            )
        )

    if rule.use_cfdna:
        for patient_id, finding in variants:
            found[patient_id].append(finding)
    for findings in found.values():
        findings.sort(key=lambda finding: (finding.on, finding.kind, finding.record_id))
    return found


def _detected_variants(patients: QuerySet[Patient]):
    return (
        VariantResult.objects.detected()
        .filter(assay__sample__patient__in=patients)
        .values(
            "pk", "gene", "protein_change", "fusion_5prime", "fusion_3prime", "vaf",
            "genomic_change",
            sample_id=F("assay__sample_id"),
            patient_id=F("assay__sample__patient_id"),
            drawn_at=F("assay__sample__drawn_at"),
        )
        .order_by("drawn_at", "pk")
    )  # fmt: skip


def _variant_finding(row: dict) -> tuple[int, Finding]:
    if row["fusion_5prime"]:
        name = f"{row['fusion_5prime']}::{row['fusion_3prime']}"
    else:
        # A variant without gene (an unannotated VCF) is named by its genomic change:
        name = f"{row['gene']} {row['protein_change']}".strip() or row["genomic_change"]
    vaf = f", VAF {row['vaf'] * 100:.3g} %" if row["vaf"] is not None else ""
    return row["patient_id"], Finding(
        kind="cfdna",
        on=timezone.localdate(row["drawn_at"]),
        text=f"cfDNA {name} detected{vaf}",
        record_id=row["pk"],
        sample_id=row["sample_id"],
        resistance=resistance_meaning(row["gene"], row["protein_change"]),
    )


def _resistance_findings(
    patients: QuerySet[Patient], variants: list[tuple[int, Finding]]
) -> dict[int, list[Finding]]:
    """Every detected resistance marker of the patients, whatever the window."""
    found: dict[int, list[Finding]] = defaultdict(list)
    for patient_id, finding in variants:
        if finding.resistance:
            found[patient_id].append(finding)

    transcripts = CirculatingRNAResult.objects.filter(
        sample__patient__in=patients,
        call=VariantResult.Call.DETECTED,
        transcript__in=RESISTANCE_TRANSCRIPTS,
    ).values(
        "pk",
        "transcript",
        "sample_id",
        patient_id=F("sample__patient_id"),
        drawn_at=F("sample__drawn_at"),
    )
    for row in transcripts.order_by("drawn_at", "pk"):
        found[row["patient_id"]].append(
            Finding(
                kind="rna",
                on=timezone.localdate(row["drawn_at"]),
                text=f"{row['transcript']} detected",
                record_id=row["pk"],
                sample_id=row["sample_id"],
                resistance=RESISTANCE_TRANSCRIPTS[row["transcript"]],
            )
        )
    return found
