"""IBSI permanent codes of features and texture aggregation methods, by IBSI-style tag."""

from __future__ import annotations

import re

# Keyed by the tag stem that the IBSI compliance sheet and MIRP share ("morph_volume",
# "cm_joint_max"); the codes are those of the IBSI reference manual, chapter 3.
FEATURE_CODES: dict[str, str] = {
    # Morphology
    "morph_volume": "RNU0",
    "morph_vol_approx": "YEKZ",
    "morph_area_mesh": "C0JK",
    "morph_av": "2PR5",
    "morph_comp_1": "SKGS",
    "morph_comp_2": "BQWJ",
    "morph_sph_dispr": "KRCK",
    "morph_sphericity": "QCFX",
    "morph_asphericity": "25C7",
    "morph_com": "KLMA",
    "morph_diam": "L0JK",
    "morph_pca_maj_axis": "TDIC",
    "morph_pca_min_axis": "P9VJ",
    "morph_pca_least_axis": "7J51",
    "morph_pca_elongation": "Q3CK",
    "morph_pca_flatness": "N17B",
    "morph_vol_dens_aabb": "PBX1",
    "morph_area_dens_aabb": "R59B",
    "morph_vol_dens_ombb": "ZH1A",
    "morph_area_dens_ombb": "IQYR",
    "morph_vol_dens_aee": "6BDE",
    "morph_area_dens_aee": "RDD2",
    "morph_vol_dens_mvee": "SWZ1",
    "morph_area_dens_mvee": "BRI8",
    "morph_vol_dens_conv_hull": "R3ER",
    "morph_area_dens_conv_hull": "7T7F",
    "morph_integ_int": "99N0",
    "morph_moran_i": "N365",
    "morph_geary_c": "NPT7",
    # Local intensity
    "loc_peak_loc": "VJGA",
    "loc_peak_glob": "0F91",
    # Intensity-based statistics
    "stat_mean": "Q4LE",
    "stat_var": "ECT3",
    "stat_skew": "KE2A",
    "stat_kurt": "IPH6",
    "stat_median": "Y12H",
    "stat_min": "1GSF",
    "stat_p10": "QG58",
    "stat_p90": "8DWT",
    "stat_max": "84IY",
    "stat_iqr": "SALO",
    "stat_range": "2OJQ",
    "stat_mad": "4FUA",
    "stat_rmad": "1128",
    "stat_medad": "N72L",
    "stat_cov": "7TET",
    "stat_qcod": "9S40",
    "stat_energy": "N8CA",
    "stat_rms": "5ZWQ",
    # Intensity histogram
    "ih_mean": "X6K6",
    "ih_var": "CH89",
    "ih_skew": "88K1",
    "ih_kurt": "C3I7",
    "ih_median": "WIFQ",
    "ih_min": "1PR8",
    "ih_p10": "GPMT",
    "ih_p90": "OZ0C",
    "ih_max": "3NCY",
    "ih_mode": "AMMC",
    "ih_iqr": "WR0O",
    "ih_range": "5Z3W",
    "ih_mad": "D2ZX",
    "ih_rmad": "WRZB",
    "ih_medad": "4RNL",
    "ih_cov": "CWYJ",
    "ih_qcod": "SLWD",
    "ih_entropy": "TLU2",
    "ih_uniformity": "BJ5W",
    "ih_max_grad": "12CE",
    "ih_max_grad_g": "8E6O",
    "ih_min_grad": "VQB3",
    "ih_min_grad_g": "RHQZ",
    # Intensity-volume histogram (the fractions are parameters of one feature each)
    "ivh_v": "BC2M",
    "ivh_i": "GBPN",
    "ivh_diff_v": "DDTU",
    "ivh_diff_i": "CNV2",
    "ivh_auc": "9CMM",
    # Grey level co-occurrence matrix
    "cm_joint_max": "GYBY",
    "cm_joint_avg": "60VM",
    "cm_joint_var": "UR99",
    "cm_joint_entr": "TU9B",
    "cm_diff_avg": "TF7R",
    "cm_diff_var": "D3YU",
    "cm_diff_entr": "NTRS",
    "cm_sum_avg": "ZGXS",
    "cm_sum_var": "OEEB",
    "cm_sum_entr": "P6QZ",
    "cm_energy": "8ZQL",
    "cm_contrast": "ACUI",
    "cm_dissimilarity": "8S9J",
    "cm_inv_diff": "IB1Z",
    "cm_inv_diff_norm": "NDRX",
    "cm_inv_diff_mom": "WF0Z",
    "cm_inv_diff_mom_norm": "1QCO",
    "cm_inv_var": "E8JP",
    "cm_corr": "NI2N",
    "cm_auto_corr": "QWB0",
    "cm_clust_tend": "DG8W",
    "cm_clust_shade": "7NFM",
    "cm_clust_prom": "AE86",
    "cm_info_corr1": "R8DG",
    "cm_info_corr2": "JN9H",
    # Grey level run length matrix
    "rlm_sre": "22OV",
    "rlm_lre": "W4KF",
    "rlm_lgre": "V3SW",
    "rlm_hgre": "G3QZ",
    "rlm_srlge": "HTZT",
    "rlm_srhge": "GD3A",
    "rlm_lrlge": "IVPO",
    "rlm_lrhge": "3KUM",
    "rlm_glnu": "R5YN",
    "rlm_glnu_norm": "OVBL",
    "rlm_rlnu": "W92Y",
    "rlm_rlnu_norm": "IC23",
    "rlm_r_perc": "9ZK5",
    "rlm_gl_var": "8CE5",
    "rlm_rl_var": "SXLW",
    "rlm_rl_entr": "HJ9O",
    # Grey level size zone matrix
    "szm_sze": "5QRC",
    "szm_lze": "48P8",
    "szm_lgze": "XMSY",
    "szm_hgze": "5GN9",
    "szm_szlge": "5RAI",
    "szm_szhge": "HW1V",
    "szm_lzlge": "YH51",
    "szm_lzhge": "J17V",
    "szm_glnu": "JNSA",
    "szm_glnu_norm": "Y1RO",
    "szm_zsnu": "4JP3",
    "szm_zsnu_norm": "VB3A",
    "szm_z_perc": "P30P",
    "szm_gl_var": "BYLV",
    "szm_zs_var": "3NSA",
    "szm_zs_entr": "GU8N",
    # Grey level distance zone matrix
    "dzm_sde": "0GBI",
    "dzm_lde": "MB4I",
    "dzm_lgze": "S1RA",
    "dzm_hgze": "K26C",
    "dzm_sdlge": "RUVG",
    "dzm_sdhge": "DKNJ",
    "dzm_ldlge": "A7WM",
    "dzm_ldhge": "KLTH",
    "dzm_glnu": "VFT7",
    "dzm_glnu_norm": "7HP3",
    "dzm_zdnu": "V294",
    "dzm_zdnu_norm": "IATH",
    "dzm_z_perc": "VIWW",
    "dzm_gl_var": "QK93",
    "dzm_zd_var": "7WT1",
    "dzm_zd_entr": "GBDU",
    # Neighbourhood grey tone difference matrix
    "ngt_coarseness": "QCDE",
    "ngt_contrast": "65HE",
    "ngt_busyness": "NQ30",
    "ngt_complexity": "HDEZ",
    "ngt_strength": "1X9X",
    # Neighbouring grey level dependence matrix
    "ngl_lde": "SODN",
    "ngl_hde": "IMOQ",
    "ngl_lgce": "TL9H",
    "ngl_hgce": "OAE7",
    "ngl_ldlge": "EQ3F",
    "ngl_ldhge": "JA6D",
    "ngl_hdlge": "NBZI",
    "ngl_hdhge": "9QMG",
    "ngl_glnu": "FP8K",
    "ngl_glnu_norm": "5SPA",
    "ngl_dcnu": "Z87G",
    "ngl_dcnu_norm": "OKJI",
    "ngl_dc_perc": "6XV8",
    "ngl_gl_var": "1PFV",
    "ngl_dc_var": "DNX2",
    "ngl_dc_entr": "FCBV",
    "ngl_dc_energy": "CAS9",
}

# Tag suffix -> IBSI code of the texture aggregation method (manual, chapter 4).
AGGREGATION_CODES: dict[str, str] = {
    "2D_avg": "BTW3",  # per slice and direction, averaged
    "2D_comb": "SUJT",  # directions merged per slice, averaged over slices
    "2_5D_avg": "JJUI",  # merged per direction over slices, averaged over directions
    "2_5D_comb": "ZW7Z",  # all 2D directional matrices merged
    "3D_avg": "ITBB",  # per 3D direction, averaged
    "3D_comb": "IAZD",  # all 3D directional matrices merged
    "2D": "8QNN",  # one matrix per slice, averaged over slices
    "2_5D": "62GR",  # all slice matrices merged
    "3D": "KOBO",  # one 3D matrix
}

_IVH_STEM = re.compile(r"^(ivh_(?:diff_)?[vi])\d+(?:_[vi]\d+)?$")


def split_tag(tag: str) -> tuple[str, str]:
    """Split an IBSI-style tag such as "cm_joint_max_3D_avg" into stem and aggregation."""
    for suffix in sorted(AGGREGATION_CODES, key=len, reverse=True):
        if tag.endswith("_" + suffix):
            return tag[: -len(suffix) - 1], suffix
    return tag, ""


def feature_code(tag: str) -> str:
    """Return the IBSI code of the feature a tag names, or "" when IBSI defines none."""
    stem, _ = split_tag(tag)
    ivh = _IVH_STEM.match(stem)
    return FEATURE_CODES.get(ivh.group(1) if ivh else stem, "")


def aggregation_code(tag: str) -> str:
    return AGGREGATION_CODES.get(split_tag(tag)[1], "")
