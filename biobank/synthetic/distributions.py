"""What the synthetic patients look like: the shares, ranges and vocabularies drawn from.

Cancer types and stages, treatment lines, CTC means, cfDNA hotspots and panel drivers,
scanners, reconstruction kernels and slice thicknesses. Changing a value here changes
the data every seed gives.
"""

from __future__ import annotations

import datetime as dt

from patients.models import CancerType, Sex, Treatment

# Every record lies on or before this day, so that no record is in the future and
# the data do not depend on the day of the run:
LAST_DAY = dt.date(2025, 6, 30)
FIRST_DIAGNOSIS = dt.date(2012, 1, 1)
SOFTWARE = "synthetic"

# Cancer types with their share of the cohort and the sex they allow:
CANCER_MIX: list[tuple[str, float, str | None]] = [
    (CancerType.LUAD, 0.22, None),
    (CancerType.LUSC, 0.08, None),
    (CancerType.COAD, 0.14, None),
    (CancerType.READ, 0.05, None),
    (CancerType.BRCA, 0.20, Sex.FEMALE),
    (CancerType.PRAD, 0.14, Sex.MALE),
    (CancerType.PAAD, 0.06, None),
    (CancerType.SKCM, 0.06, None),
    (CancerType.HNSC, 0.05, None),
]
STAGES = ["I", "II", "IIIa", "IIIb", "IV"]
STAGE_SHARE = [0.12, 0.18, 0.15, 0.15, 0.40]
# Mean CTCs per 7.5 mL by stage; counts are negative binomial around it (dispersion
# 0.25: most draws have none, a few have dozens, as CellSearch series report).
CTC_MEAN = {"I": 0.3, "II": 0.6, "IIIa": 1.2, "IIIb": 2.0, "IV": 6.0}
CTC_DISPERSION = 0.25

# cfDNA hotspots a targeted panel reports: (gene, canonical protein change).
HOTSPOTS: list[tuple[str, str]] = [
    ("EGFR", "p.L858R"), ("EGFR", "p.T790M"), ("KRAS", "p.G12C"), ("KRAS", "p.G12D"),
    ("KRAS", "p.G12V"), ("NRAS", "p.Q61K"), ("BRAF", "p.V600E"), ("PIK3CA", "p.H1047R"),
    ("PIK3CA", "p.E545K"), ("TP53", "p.R175H"), ("TP53", "p.R248Q"), ("TP53", "p.R273H"),
    ("ESR1", "p.D538G"), ("ESR1", "p.Y537S"), ("AR", "p.T878A"), ("AR", "p.L702H"),
    ("SMAD4", "p.R361H"), ("APC", "p.R1450*"), ("PTEN", "p.R130Q"), ("CTNNB1", "p.S45F"),
    ("IDH1", "p.R132H"), ("ERBB2", "p.V777L"), ("KIT", "p.D816V"), ("PDGFRA", "p.D842V"),
    ("HRAS", "p.G12V"), ("FGFR3", "p.S249C"), ("GNAS", "p.R201H"), ("STK11", "p.Q37*"),
    ("KEAP1", "p.G333C"), ("CDKN2A", "p.R80*"), ("NFE2L2", "p.R34G"), ("DNMT3A", "p.R882H"),
    ("SF3B1", "p.K700E"), ("FBXW7", "p.R465C"), ("POLE", "p.P286R"), ("ALK", "p.F1174L"),
    ("RET", "p.M918T"), ("MAP2K1", "p.K57N"), ("NRAS", "p.Q61R"), ("BRAF", "p.G469A"),
]  # fmt: skip
# The drivers each cancer type's panel always holds; the panel is filled from the
# other hotspots to a size of 10 to 30 genes.
DRIVERS: dict[str, list[str]] = {
    CancerType.LUAD: ["EGFR", "KRAS", "TP53", "STK11", "KEAP1", "ALK", "BRAF"],
    CancerType.LUSC: ["TP53", "PIK3CA", "CDKN2A", "NFE2L2", "KEAP1"],
    CancerType.COAD: ["KRAS", "NRAS", "BRAF", "APC", "TP53", "PIK3CA", "SMAD4"],
    CancerType.READ: ["KRAS", "NRAS", "APC", "TP53", "SMAD4"],
    CancerType.BRCA: ["PIK3CA", "ESR1", "TP53", "ERBB2", "PTEN"],
    CancerType.PRAD: ["AR", "TP53", "PTEN", "CTNNB1"],
    CancerType.PAAD: ["KRAS", "TP53", "SMAD4", "CDKN2A", "GNAS"],
    CancerType.SKCM: ["BRAF", "NRAS", "KIT", "CDKN2A"],
    CancerType.HNSC: ["TP53", "PIK3CA", "CDKN2A", "HRAS", "FBXW7"],
}
# Clonal haematopoiesis genes: found in blood whatever the tumour.
CH_GENES = {"DNMT3A", "SF3B1"}

FIRST_LINE: dict[str, tuple[str, str]] = {
    CancerType.LUAD: (Treatment.Kind.TARGETED, "osimertinib"),
    CancerType.LUSC: (Treatment.Kind.CHEMOTHERAPY, "carboplatin-paclitaxel"),
    CancerType.COAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFOX"),
    CancerType.READ: (Treatment.Kind.CHEMORADIOTHERAPY, "capecitabine-RT"),
    CancerType.BRCA: (Treatment.Kind.HORMONAL, "letrozole"),
    CancerType.PRAD: (Treatment.Kind.HORMONAL, "enzalutamide"),
    CancerType.PAAD: (Treatment.Kind.CHEMOTHERAPY, "FOLFIRINOX"),
    CancerType.SKCM: (Treatment.Kind.IMMUNOTHERAPY, "pembrolizumab"),
    CancerType.HNSC: (Treatment.Kind.CHEMORADIOTHERAPY, "cisplatin-RT"),
}
SECOND_LINE = (Treatment.Kind.CHEMOTHERAPY, "docetaxel")

# Scanners: manufacturer, model, reconstruction kernels (soft tissue first).
SCANNERS: list[tuple[str, str, list[str]]] = [
    ("SIEMENS", "SOMATOM Definition AS", ["B30f", "B70f"]),
    ("SIEMENS", "SOMATOM Force", ["Br40", "Bl57"]),
    ("GE MEDICAL SYSTEMS", "Discovery CT750 HD", ["STANDARD", "LUNG"]),
    ("GE MEDICAL SYSTEMS", "Revolution CT", ["SOFT", "BONEPLUS"]),
    ("Philips", "iCT 256", ["B", "YA"]),
    ("TOSHIBA", "Aquilion ONE", ["FC03", "FC51"]),
]
SCANNER_SHARE = [0.22, 0.13, 0.22, 0.10, 0.18, 0.15]
SLICE_THICKNESSES = [0.625, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0]
SLICE_SHARE = [0.10, 0.22, 0.15, 0.12, 0.10, 0.10, 0.11, 0.10]
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PET_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
BODY_PART = {
    CancerType.LUAD: "CHEST", CancerType.LUSC: "CHEST", CancerType.COAD: "ABDOMEN",
    CancerType.READ: "PELVIS", CancerType.BRCA: "BREAST", CancerType.PRAD: "PELVIS",
    CancerType.PAAD: "ABDOMEN", CancerType.SKCM: "WHOLEBODY", CancerType.HNSC: "NECK",
}  # fmt: skip
