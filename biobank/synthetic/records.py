"""One chunk of synthetic patients with all their records, as rows still to write.

Each chunk draws from its own random generator, seeded by the run's seed and the
chunk's number, so the same seed gives the same rows whatever the run's size.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass, field

import numpy as np
from django.conf import settings
from django.db import models

from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import (
    ClinicalEvent,
    Consent,
    Patient,
    Project,
    Sex,
    Treatment,
)
from radiomics.models import (
    FeatureDefinition,
    FeatureExtraction,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)

from .distributions import (
    BODY_PART,
    CANCER_MIX,
    CH_GENES,
    CT_STORAGE,
    CTC_DISPERSION,
    CTC_MEAN,
    DRIVERS,
    FIRST_DIAGNOSIS,
    FIRST_LINE,
    HOTSPOTS,
    LAST_DAY,
    MR_STORAGE,
    PET_STORAGE,
    SCANNER_SHARE,
    SCANNERS,
    SECOND_LINE,
    SLICE_SHARE,
    SLICE_THICKNESSES,
    SOFTWARE,
    STAGE_SHARE,
    STAGES,
)
from .features import feature_matrix


@dataclass
class Chunk:
    """Rows of one chunk, per model: dicts keyed by attname, ids still to assign.

    Parents are referred to by their index in their own list (`*_index` keys),
    replaced by ids when the chunk is written.
    """

    rows: dict[type[models.Model], list[dict]] = field(default_factory=dict)
    feature_values: np.ndarray | None = None  # extractions x features
    feature_ids: list[int] = field(default_factory=list)

    def add(self, model: type[models.Model], row: dict) -> int:
        rows = self.rows.setdefault(model, [])
        rows.append(row)
        return len(rows) - 1


def generate_chunk(
    project: Project,
    seed: int,
    number: int,
    first: int,
    size: int,
    features: list[FeatureDefinition],
) -> Chunk:
    rng = np.random.default_rng([seed, number])
    chunk = Chunk(feature_ids=[feature.pk for feature in features])
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    now = dt.datetime.now(dt.UTC)
    # Per extraction, what its feature values depend on: (tumour size, scanner).
    latents: list[tuple[float, int]] = []

    for offset in range(size):
        index = first + offset
        patient = generate_patient(chunk, rng, project, seed, index, now)
        generate_clinical(chunk, rng, patient)
        studies = generate_studies(chunk, rng, project, seed, index, patient, now)
        latents += [(patient["tumour_size"], scanner) for _day, scanner in studies]
        generate_draws(chunk, rng, patient, [day for day, _s in studies], zone, now)

    chunk.feature_values = feature_matrix(rng, features, latents)
    for row in chunk.rows[Patient]:
        del row["tumour_size"], row["index"]
    return chunk


def uid(seed: int, project: Project, kind: str, key: str) -> str:
    """Return a DICOM UID under 2.25 (a UUID as one integer), unique per record."""
    digest = hashlib.sha256(f"{project.code}:{seed}:{kind}:{key}".encode()).digest()
    return f"2.25.{int.from_bytes(digest[:16], 'big')}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def generate_patient(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    index: int,
    now: dt.datetime,
) -> dict:
    kinds = [kind for kind, _share, _sex in CANCER_MIX]
    shares = np.array([share for _kind, share, _sex in CANCER_MIX])
    kind_number = rng.choice(len(kinds), p=shares / shares.sum())
    cancer_type, sex_only = kinds[kind_number], CANCER_MIX[kind_number][2]
    sex = sex_only or (Sex.FEMALE if rng.random() < 0.5 else Sex.MALE)

    span_days = (LAST_DAY - FIRST_DIAGNOSIS).days - 365
    diagnosis_on = FIRST_DIAGNOSIS + dt.timedelta(days=int(rng.integers(0, span_days)))
    age = float(np.clip(rng.normal(66, 10), 25, 95))
    birth_year = diagnosis_on.year - int(age)
    stage = STAGES[rng.choice(len(STAGES), p=STAGE_SHARE)]
    survival = int(rng.exponential(400 if stage == "IV" else 1500)) + 30
    is_deceased = diagnosis_on + dt.timedelta(days=survival) <= LAST_DAY

    row = {
        "id": None,
        "project_id": project.pk,
        "pseudonym": f"SYNTH-{index + 1:07d}",
        "source_key": sha256(f"synthetic\x00{project.code}\x00{seed}\x00{index}"),
        "sex": sex,
        "birth_year": birth_year,
        "cancer_type": cancer_type,
        "histology": "",
        "stage": stage,
        "t_stage": f"T{rng.integers(1, 5)}",
        "n_stage": f"N{rng.integers(0, 4)}",
        "m_stage": "M1" if stage == "IV" else "M0",
        "diagnosis_on": diagnosis_on,
        "age_at_diagnosis_years": f"{age:.3f}",
        "overall_survival_days": survival if is_deceased else None,
        "is_deceased": is_deceased,
        "created_at": now,
        # Not stored: drives tumour volume and CTC counts of this patient.
        "tumour_size": float(rng.lognormal(0, 0.8) * (2.0 if stage == "IV" else 1.0)),
    }
    row["index"] = chunk.add(Patient, row)
    return row


def generate_clinical(chunk: Chunk, rng: np.random.Generator, patient: dict) -> None:
    diagnosis_on = patient["diagnosis_on"]
    chunk.add(
        Consent,
        {
            "id": None,
            "patient_index": patient["index"],
            "allows_imaging": True,
            "allows_genomics": bool(rng.random() < 0.97),
            "allows_sharing": bool(rng.random() < 0.6),
            "given_on": diagnosis_on + dt.timedelta(days=int(rng.integers(0, 14))),
            "withdrawn_on": None,
        },
    )

    kind, agent = FIRST_LINE[patient["cancer_type"]]
    start = diagnosis_on + dt.timedelta(days=int(rng.integers(14, 45)))
    lines = [(kind, agent, start)]
    if rng.random() < 0.4:
        lines.append(
            (*SECOND_LINE, start + dt.timedelta(days=int(rng.integers(150, 400))))
        )
    for line, (kind, agent, started_on) in enumerate(lines, start=1):
        if started_on > LAST_DAY:
            break
        ended_on = started_on + dt.timedelta(days=int(rng.integers(60, 240)))
        chunk.add(
            Treatment,
            {
                "id": None,
                "patient_index": patient["index"],
                "kind": kind,
                "agent": agent,
                "line": line,
                "started_on": started_on,
                "ended_on": ended_on if ended_on <= LAST_DAY else None,
            },
        )
        response_on = started_on + dt.timedelta(days=84)
        if response_on <= LAST_DAY:
            chunk.add(
                ClinicalEvent,
                {
                    "id": None,
                    "patient_index": patient["index"],
                    "kind": ClinicalEvent.Kind.RESPONSE,
                    "recist": str(
                        rng.choice(["CR", "PR", "SD", "PD"], p=[0.05, 0.35, 0.35, 0.25])
                    ),
                    "occurred_on": response_on,
                    "note": "",
                },
            )
    if patient["is_deceased"]:
        chunk.add(
            ClinicalEvent,
            {
                "id": None,
                "patient_index": patient["index"],
                "kind": ClinicalEvent.Kind.DEATH,
                "recist": "",
                "occurred_on": diagnosis_on
                + dt.timedelta(days=patient["overall_survival_days"]),
                "note": "",
            },
        )


def generate_studies(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    index: int,
    patient: dict,
    now: dt.datetime,
) -> list[tuple[dt.date, int]]:
    """Add the patient's imaging studies: baseline, then follow-ups every 2 to 4 months.

    Each study has two series (two CT reconstructions, CT with PET, or two MR
    sequences) and one GTV segmented on the first, with one extraction. Returns
    (study date, scanner number) per study.
    """
    count = int(np.clip(rng.poisson(4.0) + 1, 1, 12))
    day = patient["diagnosis_on"] + dt.timedelta(days=int(rng.integers(-21, 7)))
    scanner = int(rng.choice(len(SCANNERS), p=SCANNER_SHARE))
    studies = []
    for number in range(count):
        if number:
            day += dt.timedelta(days=int(rng.gamma(6.0, 15.0)) + 30)
            if rng.random() < 0.15:  # a scan on another machine of the network
                scanner = int(rng.choice(len(SCANNERS), p=SCANNER_SHARE))
        if day > LAST_DAY:
            break
        key = f"{index}.{number}"
        add_study(chunk, rng, project, seed, key, patient, day, scanner, now)
        studies.append((day, scanner))
    return studies


def add_study(
    chunk: Chunk,
    rng: np.random.Generator,
    project: Project,
    seed: int,
    key: str,
    patient: dict,
    day: dt.date,
    scanner: int,
    now: dt.datetime,
) -> int:
    kind = rng.choice(["CT", "PETCT", "MR"], p=[0.7, 0.2, 0.1])
    modalities = {"CT": "CT", "PETCT": "CT,PT", "MR": "MR"}[kind]
    age = day.year - patient["birth_year"]
    study_uid = uid(seed, project, "study", key)
    study_index = chunk.add(
        ImagingStudy,
        {
            "id": None,
            "patient_index": patient["index"],
            "study_instance_uid": study_uid,
            "source_uid_hash": sha256(f"synthetic:{study_uid}"),
            "study_date": day,
            "study_time": dt.time(int(rng.integers(7, 19)), int(rng.integers(0, 60))),
            "date_source": ImagingStudy.DateSource.STUDY,
            "modalities": modalities,
            "body_part": BODY_PART[patient["cancer_type"]],
            "description": {
                "CT": "CT with contrast",
                "PETCT": "FDG PET-CT",
                "MR": "MR staging",
            }[kind],
            "patient_age_raw": f"{age:03d}Y",
            "patient_age_value": age,
            "patient_age_unit": "Y",
            "patient_age_years": f"{age:.2f}",
            "is_age_unit_assumed": False,
            "created_at": now,
        },
    )

    frame = uid(seed, project, "frame", key)
    series = [series_values(rng, kind, number, scanner) for number in (1, 2)]
    series_indexes = []
    for number, values in enumerate(series, start=1):
        series_uid = uid(seed, project, f"series{number}", key)
        series_indexes.append(
            chunk.add(
                ImageSeries,
                {
                    "id": None,
                    "study_index": study_index,
                    "series_instance_uid": series_uid,
                    "source_uid_hash": sha256(f"synthetic:{series_uid}"),
                    "frame_of_reference_uid": frame,
                    "series_number": number,
                    "series_date": day,
                    "storage_path": "",
                    **values,
                },
            )
        )

    rtstruct_uid = uid(seed, project, "rtstruct", key)
    segmentation_index = chunk.add(
        Segmentation,
        {
            "id": None,
            "series_index": series_indexes[0],
            "roi_name": "GTV-1",
            "roi_number": 1,
            "method": str(rng.choice(["manual", "semi-automatic"], p=[0.7, 0.3])),
            "reader": f"reader-{rng.integers(1, 4)}",
            "roi_type": "GTV",
            "source_kind": Segmentation.SourceKind.RTSTRUCT,
            "source_sop_instance_uid": rtstruct_uid,
            "source_uid_hash": sha256(f"synthetic:{rtstruct_uid}"),
            "content_sha256": "",
            "linkage": Segmentation.Linkage.SERIES,
            "storage_path": "",
            "created_at": now,
        },
    )
    chunk.add(
        FeatureExtraction,
        {
            "id": None,
            "patient_index": patient["index"],
            "segmentation_index": segmentation_index,
            "software": SOFTWARE,
            "software_version": "1",
            "parameters": "{}",
            "diagnostics": "{}",
            "fingerprint": sha256(f"synthetic:{project.code}:{seed}:extraction:{key}"),
            "source_name": "",
            "image_reference": "",
            "mask_reference": "",
            "preset": "",
            "label": 1.0,
            "status": FeatureExtraction.Status.DONE,
            "progress": 100,
            "task_id": "",
            "attempts": 0,
            "error": "",
            "created_at": now,
            "started_at": now,
            "finished_at": now,
        },
    )
    return study_index


def series_values(
    rng: np.random.Generator, kind: str, number: int, scanner: int
) -> dict:
    """Return the acquisition parameters of series `number` (1 or 2) of a study."""
    manufacturer, model_name, kernels = SCANNERS[scanner]
    blank = {
        "contrast_agent": "", "mr_sequence": "", "magnetic_field_strength_t": None,
        "echo_time_ms": None, "repetition_time_ms": None, "pet_units": "",
        "radiopharmaceutical": "", "kvp": None, "exposure_mas": None,
        "tube_current_ma": None, "ctdi_vol_mgy": None, "injected_activity_mbq": None,
        "uptake_time_min": None,
    }  # fmt: skip
    if kind == "MR":
        sequence = ["T1 VIBE post-contrast", "T2 TSE"][number - 1]
        thickness = float(rng.choice([3.0, 4.0, 5.0]))
        return blank | {
            "modality": "MR",
            "sop_class_uid": MR_STORAGE,
            "description": sequence,
            "manufacturer": "SIEMENS" if scanner < 2 else "GE MEDICAL SYSTEMS",
            "manufacturer_model_name": "MAGNETOM Vida"
            if scanner < 2
            else "SIGNA Premier",
            "convolution_kernel": "",
            "slice_thickness_mm": thickness,
            "spacing_between_slices_mm": thickness,
            "pixel_spacing_row_mm": 0.9,
            "pixel_spacing_column_mm": 0.9,
            "rows": 384,
            "columns": 384,
            "mr_sequence": sequence,
            "magnetic_field_strength_t": float(rng.choice([1.5, 3.0])),
            "echo_time_ms": [2.5, 95.0][number - 1],
            "repetition_time_ms": [5.0, 4000.0][number - 1],
            "instance_count": int(200 / thickness),
        }
    if kind == "PETCT" and number == 2:
        return blank | {
            "modality": "PT",
            "sop_class_uid": PET_STORAGE,
            "description": "PET AC",
            "manufacturer": manufacturer,
            "manufacturer_model_name": model_name,
            "convolution_kernel": "",
            "slice_thickness_mm": 3.27,
            "spacing_between_slices_mm": 3.27,
            "pixel_spacing_row_mm": 4.07,
            "pixel_spacing_column_mm": 4.07,
            "rows": 200,
            "columns": 200,
            "pet_units": "BQML",
            "radiopharmaceutical": "Fludeoxyglucose",
            # Fixed, so that the generator's random stream stays as it was:
            "injected_activity_mbq": 370.0,
            "uptake_time_min": 60.0,
            "instance_count": 300,
        }

    thickness = float(rng.choice(SLICE_THICKNESSES, p=SLICE_SHARE))
    spacing = round(float(rng.uniform(0.6, 0.98)), 4)
    kvp = float(rng.choice([100.0, 120.0, 140.0], p=[0.25, 0.65, 0.1]))
    exposure = round(float(rng.lognormal(np.log(180), 0.4)), 1)
    kernel = kernels[0] if number == 1 else kernels[1]
    return blank | {
        "modality": "CT",
        "sop_class_uid": CT_STORAGE,
        "description": "Soft tissue" if number == 1 else "Lung / bone",
        "manufacturer": manufacturer,
        "manufacturer_model_name": model_name,
        "convolution_kernel": kernel,
        "slice_thickness_mm": thickness,
        "spacing_between_slices_mm": thickness,
        "pixel_spacing_row_mm": spacing,
        "pixel_spacing_column_mm": spacing,
        "rows": 512,
        "columns": 512,
        "kvp": kvp,
        "exposure_mas": exposure,
        "tube_current_ma": round(exposure / 0.5, 1),
        # About 7 mGy per 100 mAs at 120 kV, rising with the kV:
        "ctdi_vol_mgy": round(exposure * 0.07 * (kvp / 120) ** 2.5, 2),
        "contrast_agent": "Iohexol" if rng.random() < 0.8 else "",
        "instance_count": int(350 / thickness),
    }


def generate_draws(
    chunk: Chunk,
    rng: np.random.Generator,
    patient: dict,
    study_dates: list[dt.date],
    zone: zoneinfo.ZoneInfo,
    now: dt.datetime,
) -> None:
    """Add about 8 blood draws: one near most scans (within a week), others every
    three weeks of treatment, each with a CTC count and a cfDNA panel."""
    wanted = int(np.clip(rng.poisson(8.0), 2, 20))
    days = {
        day + dt.timedelta(days=int(rng.integers(-7, 8)))
        for day in study_dates
        if rng.random() < 0.6
    }
    cycle = patient["diagnosis_on"] + dt.timedelta(days=int(rng.integers(14, 45)))
    while len(days) < wanted:
        days.add(cycle)
        cycle += dt.timedelta(days=int(rng.integers(19, 24)))
    days = {day for day in days if day <= LAST_DAY}

    panel = panel_of(patient["cancer_type"])
    panel_name = f"SYNTH-{patient['cancer_type']}-{len(panel)}"
    drivers = [
        hotspot for hotspot in panel
        if hotspot[0] in DRIVERS[patient["cancer_type"]] and rng.random() < 0.25
    ]  # fmt: skip
    mean_ctc = CTC_MEAN[patient["stage"]] * patient["tumour_size"]

    for number, day in enumerate(sorted(days), start=1):
        local = dt.datetime.combine(
            day, dt.time(int(rng.integers(7, 13)), int(rng.integers(0, 60))), zone
        )
        sample_index = chunk.add(
            BloodSample,
            {
                "id": None,
                "patient_index": patient["index"],
                "drawn_at": local.astimezone(dt.UTC),
                "drawn_on": day,
                "is_time_known": True,
                "timepoint": "Baseline" if number == 1 else f"V{number}",
                "tube_type": "CellSave",
                "plasma_volume_ml": round(float(rng.uniform(2.5, 5.0)), 1),
                "hours_to_processing": round(float(rng.gamma(2.0, 12.0)), 1),
                "external_sample_id": f"SYNTH-S{patient['pseudonym'][6:]}-{number:02d}",
                "created_at": now,
            },
        )
        add_ctc_count(chunk, rng, sample_index, mean_ctc)
        add_cfdna_panel(chunk, rng, sample_index, panel, panel_name, drivers)


def add_ctc_count(
    chunk: Chunk, rng: np.random.Generator, sample_index: int, mean: float
) -> None:
    volume = 7.5 if rng.random() < 0.9 else round(float(rng.uniform(5.0, 7.4)), 1)
    # Negative binomial with mean m and dispersion k: n = k, p = k / (k + m).
    count = int(
        rng.negative_binomial(
            CTC_DISPERSION, CTC_DISPERSION / (CTC_DISPERSION + mean * volume / 7.5)
        )
    )
    chunk.add(
        CTCCount,
        {
            "id": None,
            "sample_index": sample_index,
            "platform": "CellSearch",
            "enrichment": CTCCount.Enrichment.EPCAM,
            "blood_volume_ml": volume,
            "count": count,
            "count_per_7_5ml": count * 7.5 / volume,
            "clusters": int(rng.binomial(count, 0.05)) if count else 0,
        },
    )


def panel_of(cancer_type: str) -> list[tuple[str, str]]:
    """Return the hotspots of the cancer type's panel: its drivers, then others.

    The panel is the same for every patient and seed: 10 to 30 genes.
    """
    drivers = DRIVERS[cancer_type]
    size = 10 + int(sha256(cancer_type)[:4], 16) % 21
    genes = list(drivers)
    for gene, _change in HOTSPOTS:
        if len(genes) >= size:
            break
        if gene not in genes:
            genes.append(gene)
    hotspots = {}
    for gene, change in HOTSPOTS:
        hotspots.setdefault(gene, (gene, change))
    return [hotspots[gene] for gene in genes]


def add_cfdna_panel(
    chunk: Chunk,
    rng: np.random.Generator,
    sample_index: int,
    panel: list[tuple[str, str]],
    panel_name: str,
    drivers: list[tuple[str, str]],
) -> None:
    """Add a targeted-NGS assay with one result per panel gene.

    Most genes are not detected; a patient's drivers are detected in most draws with
    a log-normal VAF (median 0.4 %, mostly under 1 %); a VAF under the assay's limit
    of detection is reported below LOD, without a VAF.
    """
    lod = float(rng.choice([0.001, 0.0025, 0.005], p=[0.5, 0.3, 0.2]))
    is_failed = rng.random() < 0.01
    assay_index = chunk.add(
        CfDNAAssay,
        {
            "id": None,
            "sample_index": sample_index,
            "method": CfDNAAssay.Method.TARGETED_NGS,
            "panel": panel_name,
            "cfdna_ng_per_ml": round(float(rng.lognormal(np.log(8), 0.7)), 2),
            "tumour_fraction": round(
                float(np.clip(rng.lognormal(np.log(0.01), 1.2), 0, 0.9)), 4
            ),
            "limit_of_detection_vaf": lod,
        },
    )
    vafs = rng.lognormal(np.log(0.004), 1.0, size=len(panel))
    depths = rng.integers(2_000, 20_000, size=len(panel))
    for (gene, change), vaf, depth in zip(panel, vafs, depths, strict=True):
        is_present = (gene, change) in drivers and rng.random() < 0.8
        is_present = is_present or (gene in CH_GENES and rng.random() < 0.05)
        vaf = float(min(vaf, 0.6))
        if is_failed:
            call, vaf_value, alt = VariantResult.Call.FAILED, None, None
            depth = 0
        elif not is_present:
            call, vaf_value, alt = VariantResult.Call.NOT_DETECTED, None, 0
        elif vaf < lod:
            call, vaf_value, alt = VariantResult.Call.BELOW_LOD, None, None
        else:
            call, vaf_value, alt = VariantResult.Call.DETECTED, round(vaf, 5), None
            alt = int(round(vaf * depth))
        chunk.add(
            VariantResult,
            {
                "id": None,
                "assay_index": assay_index,
                "gene": gene,
                "gene_hgnc": gene,
                "variant_key": f"{gene}:{change}",
                "variant_type": VariantResult.Type.SNV,
                "protein_change": change,
                "protein_change_raw": change,
                "is_protein_change_predicted": False,
                "protein_accession": "",
                "cdna_change": "",
                "genomic_change": "",
                "genome_build": "",
                "dbsnp_id": "",
                "fusion_5prime": "",
                "fusion_3prime": "",
                "fusion_note": "",
                "vaf": vaf_value,
                "alt_reads": alt,
                "depth": int(depth),
                "supporting_reads": None,
                "call": call,
                "is_clonal_haematopoiesis": gene in CH_GENES and call == "detected",
                "is_germline": False,
                "is_seen_in_ctc": False,
                "note": "",
            },
        )
