"""PyRadiomics feature names: their parts, and the IBSI code of the feature they compute."""

from __future__ import annotations

import re
from dataclasses import dataclass

# PyRadiomics names a feature <imageType>_<featureClass>_<name>, e.g.
# original_glcm_Contrast, wavelet-LLH_firstorder_Mean, log-sigma-1-0-mm-3D_glszm_ZoneEntropy.
# Image types as imageoperations.get*Image names them; "wavelet2-LLH" is level 2.
IMAGE_TYPE = (
    r"original"
    r"|wavelet\d*-[LH]{1,3}"
    r"|log-sigma-\d+-\d+-mm-[23]D"
    r"|square|squareroot|logarithm|exponential|gradient"
    r"|lbp-2D|lbp-3D-(?:m\d+|k)"
)
FEATURE_CLASS = r"shape|shape2D|firstorder|glcm|glrlm|glszm|gldm|ngtdm"
FEATURE_COLUMN = re.compile(
    rf"^(?P<image_filter>{IMAGE_TYPE})_(?P<family>{FEATURE_CLASS})_(?P<feature_name>[A-Za-z0-9]+)$"
)


@dataclass(frozen=True)
class ParsedFeature:
    name: str
    image_filter: str
    family: str
    feature_name: str

    @property
    def ibsi_code(self) -> str:
        return IBSI_CODES.get((self.family, self.feature_name), ("", ""))[0]

    @property
    def ibsi_name(self) -> str:
        return IBSI_CODES.get((self.family, self.feature_name), ("", ""))[1]


def parse_feature_name(column: str) -> ParsedFeature | None:
    """Return the parts of a PyRadiomics feature column, or None if it is none.

    `diagnostics_*` columns and unknown image types or classes give None.
    """
    match = FEATURE_COLUMN.match(column)
    if match is None:
        return None
    return ParsedFeature(column, **match.groupdict())


# (PyRadiomics class, feature) -> (IBSI code, IBSI name), from the IBSI-1 reference
# manual (Zwanenburg et al. 2020); the codes and names were checked against the IBSI
# concept list that PyRadiomics ships (ibsi_concepts.csv) and the definitions in the
# manual. The code names the computation only: the image filter is stored apart, in
# FeatureDefinition.image_filter.
#
# NB: PyRadiomics' own table (featuresDict_IBSIv7.tsv) misfiles several size-zone
# features, so it is not copied as is:
# - it files Small/Large Area Low/High GrayLevel Emphasis under glcm, not glszm;
# - it gives GLSZM Low/High GrayLevel Zone Emphasis the codes of the distance-zone
#   matrix (GLDZM S1RA, K26C) instead of XMSY, 5GN9, and spells them "Grey";
# - it names ZoneSizeVariance and ZoneSizeEntropy, where PyRadiomics computes
#   ZoneVariance and ZoneEntropy.
# Autocorrelation, Imc1 and Imc2 are left unmapped there; their PyRadiomics formulas
# are IBSI's (QWB0, R8DG, JN9H), so they are mapped here.
# Left out on purpose: firstorder Kurtosis (PyRadiomics reports kurtosis, IBSI IPH6 is
# excess kurtosis, 3 lower), TotalEnergy, the 2D diameters, glcm MCC and every
# shape2D feature: IBSI-1 defines no such feature.
IBSI_CODES: dict[tuple[str, str], tuple[str, str]] = {
    # Morphology (HCUG)
    ("shape", "MeshVolume"): ("RNU0", "Volume"),
    ("shape", "VoxelVolume"): ("YEKZ", "Approximate volume"),
    ("shape", "SurfaceArea"): ("C0JK", "Surface area"),
    ("shape", "SurfaceVolumeRatio"): ("2PR5", "Surface to volume ratio"),
    ("shape", "Compactness1"): ("SKGS", "Compactness 1"),
    ("shape", "Compactness2"): ("BQWJ", "Compactness 2"),
    ("shape", "SphericalDisproportion"): ("KRCK", "Spherical disproportion"),
    ("shape", "Sphericity"): ("QCFX", "Sphericity"),
    ("shape", "Maximum3DDiameter"): ("L0JK", "Maximum 3D diameter"),
    ("shape", "MajorAxisLength"): ("TDIC", "Major axis length"),
    ("shape", "MinorAxisLength"): ("P9VJ", "Minor axis length"),
    ("shape", "LeastAxisLength"): ("7J51", "Least axis length"),
    ("shape", "Elongation"): ("Q3CK", "Elongation"),
    ("shape", "Flatness"): ("N17B", "Flatness"),
    # Intensity-based statistics (UHIW) and intensity histogram (ZVCW)
    ("firstorder", "Mean"): ("Q4LE", "Mean"),
    ("firstorder", "Variance"): ("ECT3", "Variance"),
    ("firstorder", "Skewness"): ("KE2A", "Skewness"),
    ("firstorder", "Median"): ("Y12H", "Median"),
    ("firstorder", "Minimum"): ("1GSF", "Minimum grey level"),
    ("firstorder", "10Percentile"): ("QG58", "10th percentile"),
    ("firstorder", "90Percentile"): ("8DWT", "90th percentile"),
    ("firstorder", "Maximum"): ("84IY", "Maximum grey level"),
    ("firstorder", "InterquartileRange"): ("SALO", "Interquartile range"),
    ("firstorder", "Range"): ("2OJQ", "Range"),
    ("firstorder", "MeanAbsoluteDeviation"): ("4FUA", "Mean absolute deviation"),
    ("firstorder", "RobustMeanAbsoluteDeviation"): (
        "1128",
        "Robust mean absolute deviation",
    ),
    ("firstorder", "Energy"): ("N8CA", "Energy"),
    ("firstorder", "RootMeanSquared"): ("5ZWQ", "Root mean square"),
    ("firstorder", "Entropy"): ("TLU2", "Intensity histogram entropy"),
    ("firstorder", "Uniformity"): ("BJ5W", "Intensity histogram uniformity"),
    # Grey level co-occurrence matrix (LFYI)
    ("glcm", "MaximumProbability"): ("GYBY", "Joint maximum"),
    ("glcm", "JointAverage"): ("60VM", "Joint average"),
    ("glcm", "SumSquares"): ("UR99", "Joint variance"),
    ("glcm", "JointEntropy"): ("TU9B", "Joint entropy"),
    ("glcm", "DifferenceAverage"): ("TF7R", "Difference average"),
    ("glcm", "DifferenceVariance"): ("D3YU", "Difference variance"),
    ("glcm", "DifferenceEntropy"): ("NTRS", "Difference entropy"),
    ("glcm", "SumAverage"): ("ZGXS", "Sum average"),
    ("glcm", "SumVariance"): ("OEEB", "Sum variance"),
    ("glcm", "SumEntropy"): ("P6QZ", "Sum entropy"),
    ("glcm", "JointEnergy"): ("8ZQL", "Angular second moment"),
    ("glcm", "Contrast"): ("ACUI", "Contrast"),
    ("glcm", "Dissimilarity"): ("8S9J", "Dissimilarity"),
    ("glcm", "Id"): ("IB1Z", "Inverse difference"),
    ("glcm", "Idn"): ("NDRX", "Normalised inverse difference"),
    ("glcm", "Idm"): ("WF0Z", "Inverse difference moment"),
    ("glcm", "Idmn"): ("1QCO", "Normalised inverse difference moment"),
    ("glcm", "InverseVariance"): ("E8JP", "Inverse variance"),
    ("glcm", "Correlation"): ("NI2N", "Correlation"),
    ("glcm", "Autocorrelation"): ("QWB0", "Autocorrelation"),
    ("glcm", "ClusterTendency"): ("DG8W", "Cluster tendency"),
    ("glcm", "ClusterShade"): ("7NFM", "Cluster shade"),
    ("glcm", "ClusterProminence"): ("AE86", "Cluster prominence"),
    ("glcm", "Imc1"): ("R8DG", "First measure of information correlation"),
    ("glcm", "Imc2"): ("JN9H", "Second measure of information correlation"),
    # Grey level run length matrix (TP0I)
    ("glrlm", "ShortRunEmphasis"): ("22OV", "Short runs emphasis"),
    ("glrlm", "LongRunEmphasis"): ("W4KF", "Long runs emphasis"),
    ("glrlm", "LowGrayLevelRunEmphasis"): ("V3SW", "Low grey level run emphasis"),
    ("glrlm", "HighGrayLevelRunEmphasis"): ("G3QZ", "High grey level run emphasis"),
    ("glrlm", "ShortRunLowGrayLevelEmphasis"): (
        "HTZT",
        "Short run low grey level emphasis",
    ),
    ("glrlm", "ShortRunHighGrayLevelEmphasis"): (
        "GD3A",
        "Short run high grey level emphasis",
    ),
    ("glrlm", "LongRunLowGrayLevelEmphasis"): (
        "IVPO",
        "Long run low grey level emphasis",
    ),
    ("glrlm", "LongRunHighGrayLevelEmphasis"): (
        "3KUM",
        "Long run high grey level emphasis",
    ),
    ("glrlm", "GrayLevelNonUniformity"): ("R5YN", "Grey level non-uniformity"),
    ("glrlm", "GrayLevelNonUniformityNormalized"): (
        "OVBL",
        "Normalised grey level non-uniformity",
    ),
    ("glrlm", "RunLengthNonUniformity"): ("W92Y", "Run length non-uniformity"),
    ("glrlm", "RunLengthNonUniformityNormalized"): (
        "IC23",
        "Normalised run length non-uniformity",
    ),
    ("glrlm", "RunPercentage"): ("9ZK5", "Run percentage"),
    ("glrlm", "GrayLevelVariance"): ("8CE5", "Grey level variance"),
    ("glrlm", "RunVariance"): ("SXLW", "Run length variance"),
    ("glrlm", "RunEntropy"): ("HJ9O", "Run entropy"),
    # Grey level size zone matrix (9SAK)
    ("glszm", "SmallAreaEmphasis"): ("5QRC", "Small zone emphasis"),
    ("glszm", "LargeAreaEmphasis"): ("48P8", "Large zone emphasis"),
    ("glszm", "LowGrayLevelZoneEmphasis"): ("XMSY", "Low grey level zone emphasis"),
    ("glszm", "HighGrayLevelZoneEmphasis"): ("5GN9", "High grey level zone emphasis"),
    ("glszm", "SmallAreaLowGrayLevelEmphasis"): (
        "5RAI",
        "Small zone low grey level emphasis",
    ),
    ("glszm", "SmallAreaHighGrayLevelEmphasis"): (
        "HW1V",
        "Small zone high grey level emphasis",
    ),
    ("glszm", "LargeAreaLowGrayLevelEmphasis"): (
        "YH51",
        "Large zone low grey level emphasis",
    ),
    ("glszm", "LargeAreaHighGrayLevelEmphasis"): (
        "J17V",
        "Large zone high grey level emphasis",
    ),
    ("glszm", "GrayLevelNonUniformity"): ("JNSA", "Grey level non-uniformity"),
    ("glszm", "GrayLevelNonUniformityNormalized"): (
        "Y1RO",
        "Normalised grey level non-uniformity",
    ),
    ("glszm", "SizeZoneNonUniformity"): ("4JP3", "Zone size non-uniformity"),
    ("glszm", "SizeZoneNonUniformityNormalized"): (
        "VB3A",
        "Normalised zone size non-uniformity",
    ),
    ("glszm", "ZonePercentage"): ("P30P", "Zone percentage"),
    ("glszm", "GrayLevelVariance"): ("BYLV", "Grey level variance"),
    ("glszm", "ZoneVariance"): ("3NSA", "Zone size variance"),
    ("glszm", "ZoneEntropy"): ("GU8N", "Zone size entropy"),
    # Neighbourhood grey tone difference matrix (IPET)
    ("ngtdm", "Coarseness"): ("QCDE", "Coarseness"),
    ("ngtdm", "Contrast"): ("65HE", "Contrast"),
    ("ngtdm", "Busyness"): ("NQ30", "Busyness"),
    ("ngtdm", "Complexity"): ("HDEZ", "Complexity"),
    ("ngtdm", "Strength"): ("1X9X", "Strength"),
    # Neighbouring grey level dependence matrix (REK0); PyRadiomics' GLDM with alpha 0
    ("gldm", "SmallDependenceEmphasis"): ("SODN", "Low dependence emphasis"),
    ("gldm", "LargeDependenceEmphasis"): ("IMOQ", "High dependence emphasis"),
    ("gldm", "LowGrayLevelEmphasis"): ("TL9H", "Low grey level count emphasis"),
    ("gldm", "HighGrayLevelEmphasis"): ("OAE7", "High grey level count emphasis"),
    ("gldm", "SmallDependenceLowGrayLevelEmphasis"): (
        "EQ3F",
        "Low dependence low grey level emphasis",
    ),
    ("gldm", "SmallDependenceHighGrayLevelEmphasis"): (
        "JA6D",
        "Low dependence high grey level emphasis",
    ),
    ("gldm", "LargeDependenceLowGrayLevelEmphasis"): (
        "NBZI",
        "High dependence low grey level emphasis",
    ),
    ("gldm", "LargeDependenceHighGrayLevelEmphasis"): (
        "9QMG",
        "High dependence high grey level emphasis",
    ),
    ("gldm", "GrayLevelNonUniformity"): ("FP8K", "Grey level non-uniformity"),
    ("gldm", "GrayLevelNonUniformityNormalized"): (
        "5SPA",
        "Normalised grey level non-uniformity",
    ),
    ("gldm", "DependenceNonUniformity"): ("Z87G", "Dependence count non-uniformity"),
    ("gldm", "DependenceNonUniformityNormalized"): (
        "OKJI",
        "Dependence count non-uniformity normalised",
    ),
    ("gldm", "DependencePercentage"): ("6XV8", "Dependence count percentage"),
    ("gldm", "GrayLevelVariance"): ("1PFV", "Grey level variance"),
    ("gldm", "DependenceVariance"): ("DNX2", "Dependence count variance"),
    ("gldm", "DependenceEntropy"): ("FCBV", "Dependence count entropy"),
}
