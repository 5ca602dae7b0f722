"""The database side of a run: deleting, locking and analysing tables, rebuilding
indexes, and writing chunks (binary COPY on PostgreSQL, batched INSERTs on SQLite)."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING

import numpy as np
from django.db import connection, models

from biobank.core.changes import data_changed
from liquidbiopsy.models import BloodSample, CfDNAAssay, CTCCount, VariantResult
from patients.models import ClinicalEvent, Consent, Patient, Project, Treatment
from radiomics.models import (
    FeatureExtraction,
    FeatureValue,
    ImageSeries,
    ImagingStudy,
    Segmentation,
)

from .records import Chunk

if TYPE_CHECKING:
    from . import GenerationSummary


class SyntheticProjectExists(Exception):
    """The project holds records that this run may not replace."""


def delete_project_records(project: Project) -> None:
    """Delete the project's patients and every record hanging on them, in SQL.

    NB: not QuerySet.delete(): the history receivers would load and copy each of
    millions of rows. Reverse foreign keys are followed from the model metadata, so a
    model added later is covered; a protected reference stops the deletion.
    """
    table = connection.ops.quote_name(Patient._meta.db_table)
    project_column = connection.ops.quote_name(
        Patient._meta.get_field("project").column
    )
    with connection.cursor() as cursor:
        patients = f"SELECT id FROM {table} WHERE {project_column} = %s"  # noqa: S608 - names from model meta
        delete_rows(cursor, Patient, patients, [project.pk])
        if connection.vendor == "postgresql":
            # Run the checks the deletes queued now: a table with pending checks
            # cannot be altered (see indexes_rebuilt_after).
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


def delete_rows(cursor, model: type[models.Model], ids_sql: str, params: list) -> None:
    quote = connection.ops.quote_name
    for relation in model._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        remote = relation.remote_field
        if not getattr(remote, "db_constraint", True):
            continue  # e.g. history rows, which keep the deleted ids on purpose
        child = relation.related_model
        child_table = quote(child._meta.db_table)
        column = quote(relation.field.column)
        child_ids = f"SELECT id FROM {child_table} WHERE {column} IN ({ids_sql})"  # noqa: S608 - names from model meta
        if relation.on_delete is models.SET_NULL:
            cursor.execute(
                f"UPDATE {child_table} SET {column} = NULL WHERE {column} IN ({ids_sql})",  # noqa: S608
                params,
            )
        elif relation.on_delete is models.CASCADE:
            delete_rows(cursor, child, child_ids, params)
        else:
            cursor.execute(
                f"SELECT 1 FROM {child_table} WHERE {column} IN ({ids_sql}) LIMIT 1",  # noqa: S608
                params,
            )
            if cursor.fetchone():
                raise SyntheticProjectExists(
                    f"{child._meta.verbose_name_plural} refer to the project's "
                    f"{model._meta.verbose_name_plural}; remove them first."
                )
    table = quote(model._meta.db_table)
    cursor.execute(f"DELETE FROM {table} WHERE id IN ({ids_sql})", params)  # noqa: S608


WRITTEN_MODELS: list[type[models.Model]] = [
    Patient, Consent, Treatment, ClinicalEvent, ImagingStudy, ImageSeries,
    Segmentation, FeatureExtraction, FeatureValue, BloodSample, CTCCount,
    CfDNAAssay, VariantResult,
]  # fmt: skip


def lock_tables() -> None:
    """Keep other writers out of the tables until commit, so reserved ids stay ours.

    Readers are not blocked. SQLite's write transaction already excludes writers.
    """
    _on_written_tables("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE")


def analyse_tables() -> None:
    """Refresh the planner's statistics of the tables written, on PostgreSQL.

    NB: without it, queries right after a large run are planned for empty tables
    (autovacuum catches up only minutes later): a cohort query took 47 s, not 0.2 s.
    """
    _on_written_tables("ANALYZE {}")


def _on_written_tables(statement: str) -> None:
    """Run `statement` with the written tables in place of {}, on PostgreSQL only."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in WRITTEN_MODELS
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.format(tables))


# Rows expected per patient in the two biggest tables (5 x 100 values, 8 x 20 genes):
BULK_ROWS_PER_PATIENT = {FeatureValue: 500, VariantResult: 160}


def bulk_models_outgrown(patients: int) -> list[type[models.Model]]:
    """Return the big tables that this run will more than double, on PostgreSQL.

    Their indexes and constraints are cheaper built once afterwards than kept up to
    date row by row: for 10,000 patients, a third of the run's time went on them.
    """
    if connection.vendor != "postgresql":
        return []
    outgrown = []
    with connection.cursor() as cursor:
        for model, per_patient in BULK_ROWS_PER_PATIENT.items():
            cursor.execute(
                "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = %s::regclass",
                [model._meta.db_table],
            )
            if patients * per_patient > cursor.fetchone()[0]:
                outgrown.append(model)
    return outgrown


@contextmanager
def indexes_rebuilt_after(bulk_models: list[type[models.Model]]) -> Iterator[None]:
    """Drop the models' indexes, unique and foreign-key constraints, then add them back.

    Adding them back checks every row, so the data meet every constraint as if they
    had been kept all along; inside the run's transaction, a violation undoes all.
    Other sessions wait for the tables meanwhile (they are locked anyway).
    """
    if not bulk_models:
        yield
        return

    foreign_keys = {
        model: [
            f for f in model._meta.concrete_fields if f.is_relation and f.db_constraint
        ]
        for model in bulk_models
    }
    # NB: foreign keys first: dropping one fires the checks that deletes (--replace)
    # left pending, which need the unique index to be quick.
    with connection.schema_editor(atomic=False) as editor:
        for model in bulk_models:
            for key in foreign_keys[model]:
                editor.alter_field(model, key, without_constraint(key))
            for constraint in model._meta.constraints:
                editor.remove_constraint(model, constraint)
            for index in model._meta.indexes:
                editor.remove_index(model, index)
    yield
    with connection.schema_editor(atomic=False) as editor:
        for model in bulk_models:
            for index in model._meta.indexes:
                editor.add_index(model, index)
            for constraint in model._meta.constraints:
                editor.add_constraint(model, constraint)
            for key in foreign_keys[model]:
                editor.alter_field(model, without_constraint(key), key)


def without_constraint(key: models.ForeignKey) -> models.ForeignKey:
    """Return a copy of the foreign key that has no database constraint."""
    copy = key.clone()
    copy.remote_field.model = key.remote_field.model
    copy.db_constraint = False
    copy.set_attributes_from_name(key.name)
    copy.model = key.model
    return copy


class TableWriter:
    """Assign ids and write a chunk's rows: COPY on PostgreSQL, batched INSERTs else."""

    def __init__(self, summary: GenerationSummary) -> None:
        self.summary = summary
        self.is_postgresql = connection.vendor == "postgresql"

    def write_chunk(self, chunk: Chunk) -> None:
        ids: dict[type[models.Model], list[int]] = {}
        parents = {
            "patient_index": Patient, "study_index": ImagingStudy,
            "series_index": ImageSeries, "segmentation_index": Segmentation,
            "sample_index": BloodSample, "assay_index": CfDNAAssay,
        }  # fmt: skip
        for model in WRITTEN_MODELS:
            if model is FeatureValue:
                self.write_feature_values(chunk, ids[FeatureExtraction])
                continue
            rows = chunk.rows.get(model, [])
            first = self.reserve_ids(model, len(rows))
            ids[model] = list(range(first, first + len(rows)))
            for row, row_id in zip(rows, ids[model], strict=True):
                row["id"] = row_id
                for key, parent in parents.items():
                    if key in row:
                        row[key.replace("_index", "_id")] = ids[parent][row.pop(key)]
            self.write_rows(model, rows)

    def reserve_ids(self, model: type[models.Model], count: int) -> int:
        """Return the first of `count` new consecutive ids of `model`'s table."""
        table = model._meta.db_table
        quoted = connection.ops.quote_name(table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quoted}")  # noqa: S608 - name from model meta
            after = cursor.fetchone()[0]
            if not self.is_postgresql or not count:
                return after + 1
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT nextval(%s)", [sequence])
            first = max(cursor.fetchone()[0], after + 1)
            cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
        return first

    def write_rows(self, model: type[models.Model], rows: list[dict]) -> None:
        if not rows:
            return
        fields = model._meta.concrete_fields
        columns = [field.attname for field in fields]
        if set(rows[0]) != set(columns):
            raise ValueError(
                f"Generated {model.__name__} rows have {sorted(set(rows[0]) ^ set(columns))} "
                "different from the model's columns; update biobank/synthetic/records.py."
            )
        values = map(itemgetter(*columns), rows)
        if self.is_postgresql:
            self.copy_rows(model, columns, values)
        else:
            self.insert_rows(model, fields, values)
        self.summary.add(str(model._meta.verbose_name_plural), len(rows))

    def copy_rows(self, model, columns: list[str], values: Iterable[tuple]) -> None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(model._meta.get_field(c).column) for c in columns)
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
        # COPY goes around Django's statement wrappers, which notice other writes:
        data_changed()

    def insert_rows(self, model, fields, values: Iterable[tuple]) -> None:
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        names = ", ".join(quote(field.column) for field in fields)
        adapters = [database_adapter(field) for field in fields]
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({names}) VALUES ({placeholders})"  # noqa: S608 - names from model meta
        rows = [
            tuple(
                adapt(value) if adapt and value is not None else value
                for adapt, value in zip(adapters, row, strict=True)
            )
            for row in values
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)

    def write_feature_values(self, chunk: Chunk, extraction_ids: list[int]) -> None:
        """Write the value matrix: binary COPY built by numpy, or batched INSERTs."""
        matrix = chunk.feature_values
        if matrix is None or not matrix.size:
            return
        extractions = np.repeat(
            np.array(extraction_ids, dtype=np.int64), matrix.shape[1]
        )
        features = np.tile(np.array(chunk.feature_ids, dtype=np.int64), matrix.shape[0])
        values = matrix.ravel()
        table, names = FeatureValue.bulk_target()
        with connection.cursor() as cursor:
            if self.is_postgresql:
                with cursor.cursor.copy(
                    f"COPY {table} ({names}) FROM STDIN WITH (FORMAT BINARY)"
                ) as copy:
                    copy.write(binary_copy(extractions, features, values))
            else:
                sql = f"INSERT INTO {table} ({names}) VALUES (%s, %s, %s)"  # noqa: S608 - names from model meta
                cursor.executemany(
                    sql,
                    zip(
                        extractions.tolist(),
                        features.tolist(),
                        values.tolist(),
                        strict=True,
                    ),
                )
        self.summary.add("feature values", len(values))


BINARY_ROW = np.dtype(
    [
        ("fields", ">i2"), ("extraction_length", ">i4"), ("extraction", ">i8"),
        ("feature_length", ">i4"), ("feature", ">i8"), ("value_length", ">i4"),
        ("value", ">f8"),
    ]
)  # fmt: skip


def binary_copy(
    extractions: np.ndarray, features: np.ndarray, values: np.ndarray
) -> bytes:
    """Return PostgreSQL binary COPY data of (bigint, bigint, double precision) rows."""
    rows = np.empty(len(values), dtype=BINARY_ROW)
    rows["fields"] = 3
    rows["extraction_length"] = rows["feature_length"] = rows["value_length"] = 8
    rows["extraction"], rows["feature"], rows["value"] = extractions, features, values
    header = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
    return header + rows.tobytes() + struct.pack(">h", -1)


def database_adapter(field: models.Field) -> Callable | None:
    """Return how SQLite stores a value of this field, or None when as it is."""
    ops = connection.ops
    if isinstance(field, models.DateTimeField):
        return ops.adapt_datetimefield_value
    if isinstance(field, models.DateField):
        return ops.adapt_datefield_value
    if isinstance(field, models.TimeField):
        return ops.adapt_timefield_value
    if isinstance(field, models.DecimalField):
        return str
    return None
