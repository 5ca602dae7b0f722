"""Writes of blood draws and their results that never change what is already stored."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import models
from simple_history.utils import bulk_create_with_history

from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from liquidbiopsy.validation import is_below_lod
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
    found = find_sample(patient, drawn_at, is_time_known, external_sample_id)
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


def find_sample(
    patient: Patient,
    drawn_at: dt.datetime,
    is_time_known: bool,
    external_sample_id: str = "",
    exclude_pk: int | None = None,
) -> BloodSample | None:
    """Return the stored draw that a draw at this moment (or on this day) is the same as.

    The rules are find_or_create_sample's; `exclude_pk` leaves out the draw being edited.
    """
    candidates = BloodSample.objects.filter(
        patient=patient, external_sample_id=external_sample_id
    ).exclude(pk=exclude_pk)
    if is_time_known:
        return (
            candidates.filter(drawn_at=drawn_at).first()
            or candidates.filter(drawn_on=drawn_at.date(), is_time_known=False).first()
        )
    return candidates.filter(drawn_on=drawn_at.date()).order_by("drawn_at").first()


def store_ctc_count(sample: BloodSample, **values: object) -> tuple[CTCCount, bool]:
    """Store a CTC count of a draw; return (count, created).

    The key is draw + platform. An identical stored count is returned as is (a
    duplicate); a stored count with another value raises StoredRecordDiffers. An
    optional value left empty on either side (clusters) is no difference.
    """
    key = {"sample": sample, "platform": values.pop("platform")}
    return _store_once(CTCCount, key, values)


def find_or_create_assay(
    sample: BloodSample, method: str, panel: str, **values: object
) -> tuple[CfDNAAssay, bool]:
    """Return the cfDNA assay of a draw by method and panel, creating it if new.

    A stored assay whose concentration, tumour fraction or limit of detection differs
    from a given one raises StoredRecordDiffers; an empty value on either side is no
    difference, and a stored empty value stays empty here, since nothing stored
    changes. NB: the importers then fill an empty limit of detection when the
    assay's stored calls agree with it (importers.variants._limit_of).
    """
    key = {"sample": sample, "method": method, "panel": panel}
    return _store_once(CfDNAAssay, key, values)


def store_variants(
    assay: CfDNAAssay,
    variants: list[tuple[str, dict[str, object]]],
    formers: Sequence[dict[str, object]] = (),
) -> list[tuple[VariantResult | StoredRecordDiffers, bool]]:
    """Store variant results of an assay, given as (variant key, values); one result each.

    Each result is (variant, created) or (StoredRecordDiffers, False). The key is
    assay + variant key. A result with the same measurement as a stored one (or an
    earlier one of the list) is a duplicate, whatever the spelling of its protein
    change; one whose call, VAF, reads or flags differ is a conflict and is not
    stored. `formers`, one per variant, gives values an earlier version of the
    importer stored for it, where they differ: a stored result with those is a
    duplicate too. New results are written in bulk, each with its history row.
    """
    keys = [key for key, _values in variants]
    known = {
        variant.variant_key: variant
        for variant in VariantResult.objects.filter(assay=assay, variant_key__in=keys)
    }
    new: list[VariantResult] = []
    results: list[tuple[VariantResult | StoredRecordDiffers, bool]] = []
    for index, (key, values) in enumerate(variants):
        stored = known.get(key)
        if stored is None:
            known[key] = VariantResult(assay=assay, variant_key=key, **values)
            new.append(known[key])
            results.append((known[key], True))
            continue
        found = differences(stored, _measured(values))
        former = formers[index] if index < len(formers) else {}
        if found and former and not differences(stored, _measured(values | former)):
            found = []
        if not found:
            _fill_dbsnp_id(stored, values)
        results.append((StoredRecordDiffers(stored, found) if found else stored, False))

    bulk_create_with_history(new, VariantResult, batch_size=500)
    return results


def _fill_dbsnp_id(stored: VariantResult, values: dict[str, object]) -> None:
    """Give a stored duplicate the dbSNP ID its file gives, when it has none.

    Variants imported before the ID was stored (migration 0023) get it so when their
    file is imported again; an ID stored already is kept, as any stored value.
    """
    given = values.get("dbsnp_id")
    if given and not stored.dbsnp_id:
        stored.dbsnp_id = str(given)
        # A repeat of a row of the same file: the bulk insert writes it (review rev3b):
        if stored.pk is not None:
            stored.save(update_fields=["dbsnp_id"])


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


def _measured(values: dict[str, object]) -> dict[str, object]:
    return {name: values[name] for name in MEASURED if name in values}


def _store_once(model: type[M], key: dict, values: dict) -> tuple[M, bool]:
    """Return the record of `key`, created from `values` if new; an empty value is no difference."""
    stored = model.objects.filter(**key).first()
    if stored is None:
        record = model(**key, **{k: v for k, v in values.items() if v is not None})
        record.save()
        return record, True

    found = [
        d
        for d in differences(stored, values)
        if d.stored is not None and d.given is not None
    ]
    if found:
        raise StoredRecordDiffers(stored, found)
    return stored, False


def detected_under(assay: CfDNAAssay, limit: float) -> list[VariantResult]:
    """Return the assay's stored calls of detected whose VAF is below `limit`, lowest first.

    validation.is_below_lod decides, as it does for the importers and variant writes:
    a call that a limit of `limit` contradicts.
    """
    candidates = VariantResult.objects.filter(
        assay=assay.pk, call=VariantResult.Call.DETECTED, vaf__lt=limit
    )
    return [
        variant
        for variant in candidates.order_by("vaf", "pk")
        if is_below_lod(variant.vaf, limit)
    ]
