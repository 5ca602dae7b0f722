"""Circulating markers of acquired resistance to targeted treatment, shown as such."""

from __future__ import annotations

# (gene, canonical one-letter protein change) -> what the finding means. Kept short
# on purpose: only markers with an established treatment meaning in the cancers the
# biobank collects; anything else is shown as a plain detected variant.
RESISTANCE_VARIANTS: dict[tuple[str, str], str] = {
    ("EGFR", "p.T790M"): "EGFR T790M: resistance to first- and second-generation EGFR inhibitors",
    ("EGFR", "p.C797S"): "EGFR C797S: resistance to osimertinib",
    ("ESR1", "p.D538G"): "ESR1 D538G: resistance to aromatase inhibitors",
    ("ESR1", "p.Y537S"): "ESR1 Y537S: resistance to aromatase inhibitors",
    ("ESR1", "p.Y537N"): "ESR1 Y537N: resistance to aromatase inhibitors",
    ("ESR1", "p.Y537C"): "ESR1 Y537C: resistance to aromatase inhibitors",
}  # fmt: skip

# Transcripts detected in circulating RNA (CTC-derived):
RESISTANCE_TRANSCRIPTS: dict[str, str] = {
    "AR-V7": "AR-V7: resistance to enzalutamide and abiraterone",
}


def resistance_meaning(gene: str, protein_change: str) -> str:
    """Return what a detected variant means for treatment, or "" if nothing known."""
    return RESISTANCE_VARIANTS.get((gene.upper(), protein_change), "")
