"""Prognostic CTC cut-offs by cancer type (CellSearch, CTCs per 7.5 mL of blood)."""

from __future__ import annotations

from django.db.models import Q

from patients.models import CancerType

# At least 5 CTCs per 7.5 mL in metastatic breast (Cristofanilli 2004) and prostate
# cancer (de Bono 2008), at least 3 in metastatic colorectal cancer (Cohen 2008). They
# were established in metastatic disease only, so they are applied to metastatic
# patients only; other cancer types have no established cut-off, so none is drawn.
CELLSEARCH_CUTOFFS: dict[str, float] = {
    CancerType.BRCA: 5,
    CancerType.PRAD: 5,
    CancerType.COAD: 3,
    CancerType.READ: 3,
    CancerType.COADREAD: 3,
}

# A patient is metastatic when the overall stage is IV or the M category M1 (any
# suffix: IVb, M1c). Unknown stage means unknown, not "not metastatic".
METASTATIC = Q(stage__istartswith="IV") | Q(m_stage__istartswith="M1")


def is_metastatic(stage: str, m_stage: str) -> bool | None:
    if stage.strip().upper().startswith("IV") or m_stage.strip().upper().startswith(
        "M1"
    ):
        return True
    if stage.strip() or m_stage.strip().upper().startswith("M0"):
        return False
    return None


def ctc_cutoff(cancer_type: str, metastatic: bool | None = True) -> float | None:
    """Return the established CTC cut-off for a metastatic patient of `cancer_type`."""
    if metastatic is not True:
        return None
    return CELLSEARCH_CUTOFFS.get(cancer_type)
