"""Prognostic CTC cut-offs by cancer type (CellSearch, CTCs per 7.5 mL of blood)."""

from __future__ import annotations

from patients.models import CancerType

# At least 5 CTCs per 7.5 mL in metastatic breast (Cristofanilli 2004) and prostate
# cancer (de Bono 2008), at least 3 in metastatic colorectal cancer (Cohen 2008).
# Other cancer types have no established cut-off, so none is drawn or applied.
CELLSEARCH_CUTOFFS: dict[str, float] = {
    CancerType.BRCA: 5,
    CancerType.PRAD: 5,
    CancerType.COAD: 3,
    CancerType.READ: 3,
    CancerType.COADREAD: 3,
}


def ctc_cutoff(cancer_type: str) -> float | None:
    """Return the established CTC positivity cut-off for `cancer_type`, if any."""
    return CELLSEARCH_CUTOFFS.get(cancer_type)
