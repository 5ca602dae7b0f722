"""Writes of blood draws and their results that never change what is already stored."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import TypeVar

from django.db import models

from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import Patient

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=models.Model)


@dataclass(frozen=True)
class Difference:
    """A value of an incoming record that differs from the stored record's."""

    field: str
    stored: object
    given: object


class StoredRecordDiffers(Exception):
    """A record with the same natural key is stored with other values; nothing was changed."""

    def __init__(self, record: models.Model, differences: list[Difference]) -> None:
        self.record = record
        self.differences = differences
        names = ", ".join(d.field for d in differences)
        super().__init__(
            f"{type(record).__name__} {record.pk} is stored with other {names}."
        )


def differences(record: models.Model, values: dict[str, object]) -> list[Difference]:
    """Return the given values that differ from the record's; floats compare to 1e-9."""
    found = []
    for name, given in values.items():
        stored = getattr(record, name)
        if isinstance(stored, float) and isinstance(given, float | int):
            if abs(stored - given) <= 1e-9:
                continue
        elif stored == given:
            continue
        found.append(Difference(name, stored, given))
    return found


def find_or_create_sample(
    patient: Patient,
    drawn_at: dt.datetime,
    is_time_known: bool,
    external_sample_id: str = "",
    **details: object,
) -> tuple[BloodSample, bool]:
    """Return the patient's blood draw at that moment (or that day), creating it if new.

    A draw given by its date only matches a stored draw of that day; a draw with a
    time matches the same moment or a stored draw of that day without a time. The
    external sample ID, when given, must match too. A stored draw is never changed:
    `details` (timepoint, tube type, ...) only fill a new draw.
    """
    candidates = BloodSample.objects.filter(
        patient=patient, external_sample_id=external_sample_id
    )
    if is_time_known:
        found = (
            candidates.filter(drawn_at=drawn_at).first()
            or candidates.filter(drawn_on=drawn_at.date(), is_time_known=False).first()
        )
    else:
        found = candidates.filter(drawn_on=drawn_at.date()).order_by("drawn_at").first()
    if found is not None:
        return found, False

    sample = BloodSample(
        patient=patient,
        drawn_at=drawn_at,
        is_time_known=is_time_known,
        external_sample_id=external_sample_id,
        **details,
    )
    sample.save()
    logger.info("Blood sample %s created for %s", sample.pk, patient.pseudonym)
    return sample, True


def store_ctc_count(sample: BloodSample, **values: object) -> tuple[CTCCount, bool]:
    """Store a CTC count of a draw; return (count, created).

    The key is draw + platform. An identical stored count is returned as is (a
    duplicate); a stored count with another value raises StoredRecordDiffers. An
    optional value left empty on either side (clusters) is no difference.
    """
    key = {"sample": sample, "platform": values.pop("platform")}
    return _store_once(CTCCount, key, values, lenient=True)


def find_or_create_assay(
    sample: BloodSample, method: str, panel: str, **values: object
) -> tuple[CfDNAAssay, bool]:
    """Return the cfDNA assay of a draw by method and panel, creating it if new.

    A stored assay whose concentration, tumour fraction or limit of detection differs
    from a given one raises StoredRecordDiffers; an empty value on either side is no
    difference, and a stored empty value stays empty, since nothing stored changes.
    """
    key = {"sample": sample, "method": method, "panel": panel}
    return _store_once(CfDNAAssay, key, values, lenient=True)


def store_variant(
    assay: CfDNAAssay, variant_key: str, **values: object
) -> tuple[VariantResult, bool]:
    """Store a variant result of an assay; return (variant, created).

    The key is assay + `variant_key`. A stored result with the same measurement is a
    duplicate, whatever the spelling of its protein change; one whose call, VAF, reads
    or flags differ in any way raises StoredRecordDiffers.
    """
    key = {"assay": assay, "variant_key": variant_key}
    return _store_once(VariantResult, key, values, lenient=False, compared=MEASURED)


# What a variant result measures; a re-import that differs only in spelling is the same:
MEASURED = (
    "call",
    "vaf",
    "alt_reads",
    "depth",
    "supporting_reads",
    "is_clonal_haematopoiesis",
    "is_germline",
    "is_seen_in_ctc",
)


def _store_once(
    model: type[M],
    key: dict,
    values: dict,
    lenient: bool,
    compared: tuple[str, ...] | None = None,
) -> tuple[M, bool]:
    stored = model.objects.filter(**key).first()
    if stored is None:
        record = model(
            **key, **{k: v for k, v in values.items() if v is not None or not lenient}
        )
        record.save()
        return record, True

    if compared is not None:
        values = {name: values[name] for name in compared if name in values}
    found = differences(stored, values)
    if lenient:
        found = [d for d in found if d.stored is not None and d.given is not None]
    if found:
        raise StoredRecordDiffers(stored, found)
    return stored, False
