"""Writes of blood draws and their results that never change what is already stored."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import connection, models, transaction
from simple_history.utils import bulk_create_with_history

from biobank.core.dates import local_day
from liquidbiopsy.models import (
    BloodSample,
    CfDNAAssay,
    CTCCount,
    VariantResult,
    sample_id_taken_message,
)
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


class SampleIdTaken(Exception):
    """A new draw's lab sample ID is carried by another draw of its project; nothing was stored."""

    def __init__(self, other: BloodSample) -> None:
        self.other = other
        super().__init__(sample_id_taken_message(other))


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

    Raises
    ------
    SampleIdTaken
        When the draw is new and another draw of the project carries its lab
        sample ID.
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
    other = sample.same_sample_id_draw()
    if other is not None:
        raise SampleIdTaken(other)
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
    day = local_day(drawn_at)  # as stored in drawn_on, not in the moment's offset
    if is_time_known:
        return (
            candidates.filter(drawn_at=drawn_at).first()
            or candidates.filter(drawn_on=day, is_time_known=False).first()
        )
    return candidates.filter(drawn_on=day).order_by("drawn_at").first()


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


@dataclass
class StoredVariants:
    """What store_variants did: one (variant, created) or (StoredRecordDiffers, False)
    a variant given, and how many variants stored before got their dbSNP ID."""

    results: list[tuple[VariantResult | StoredRecordDiffers, bool]]
    dbsnp_ids_filled: int = 0


def store_variants(
    assay: CfDNAAssay,
    variants: list[tuple[str, dict[str, object]]],
    formers: Sequence[dict[str, object]] = (),
) -> StoredVariants:
    """Store variant results of an assay, given as (variant key, values); one result each.

    The key is assay + variant key. A result with the same measurement as a stored
    one (or an earlier one of the list) is a duplicate, whatever the spelling of its
    protein change; one whose call, VAF, reads or flags differ is a conflict and is
    not stored. `formers`, one per variant, gives values an earlier version of the
    importer stored for it, where they differ: a stored result with those is a
    duplicate too. New results are written in bulk, each with its history row, and
    so are the dbSNP IDs given to duplicates stored without one (_fill_dbsnp_id).
    """
    keys = [key for key, _values in variants]
    known = {
        variant.variant_key: variant
        for variant in VariantResult.objects.filter(assay=assay, variant_key__in=keys)
    }
    new: list[VariantResult] = []
    filled: list[VariantResult] = []
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
        # A repeat of a row of the same file is written by the bulk insert (rev3b):
        if not found and _fill_dbsnp_id(stored, values) and stored.pk is not None:
            filled.append(stored)
        results.append((StoredRecordDiffers(stored, found) if found else stored, False))

    bulk_create_with_history(new, VariantResult, batch_size=500)
    with transaction.atomic():
        write_dbsnp_ids(filled)
        VariantResult.history.bulk_history_create(filled, update=True, batch_size=500)
    return StoredVariants(results, len(filled))


def write_dbsnp_ids(variants: list[VariantResult]) -> None:
    """Write the dbsnp_id of each of `variants`, 500 to a statement.

    NB: not bulk_update: its CASE of one WHEN a variant took 3 s of Python to build
    for 3,000 variants, more than the rest of their MAF's re-import. UPDATE ... FROM
    VALUES runs on PostgreSQL and on SQLite from 3.33; it sends no signals, as
    bulk_update would not, and biobank.core.changes notices the write.
    """
    table = connection.ops.quote_name(VariantResult._meta.db_table)
    with connection.cursor() as cursor:
        for start in range(0, len(variants), 500):
            batch = variants[start : start + 500]
            rows = ", ".join(["(%s, %s)"] * len(batch))
            cursor.execute(
                f"UPDATE {table} SET dbsnp_id = given.column2 FROM (VALUES {rows}) "  # noqa: S608 - names from model meta
                f"AS given WHERE {table}.id = given.column1",
                [cell for variant in batch for cell in (variant.pk, variant.dbsnp_id)],
            )


def _fill_dbsnp_id(stored: VariantResult, values: dict[str, object]) -> bool:
    """Give a duplicate the dbSNP ID its file gives, when it has none; return whether.

    Variants imported before the ID was stored (migration 0023) get it so when their
    file is imported again; an ID stored already is kept, as any stored value (the
    importer warns when the file gives another).
    """
    given = values.get("dbsnp_id")
    if not given or stored.dbsnp_id:
        return False
    stored.dbsnp_id = str(given)
    return True


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
