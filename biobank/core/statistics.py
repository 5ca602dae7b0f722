"""Planner statistics that PostgreSQL's defaults get wrong on the biobank's biggest tables.

ANALYZE estimates a column's number of distinct values from a sample of 300 rows per
unit of the column's statistics target (30,000 rows by default). On a table of tens of
millions of rows whose foreign key repeats tens to thousands of times, that sample
underestimates the distinct values about tenfold (54 million feature values of 540,605
extractions: 55,984 estimated), so PostgreSQL expects ten times the rows of each
extraction and reads the whole table where the index would answer in a fraction
(issue 7: the feature values of 2,000 extractions, 1.7 s instead of 0.15 s). A target
of 5,000 samples 1.5 million rows, which estimated 540,682; ANALYZE of that column
takes about 7 s on two cores.
"""

from __future__ import annotations

from django.db import migrations

LARGE_TARGET = 5000
DEFAULT_TARGET = -1  # the server's default_statistics_target


def sample_more(
    app_label: str, model_name: str, field_name: str
) -> migrations.RunPython:
    """A migration operation: raise one column's statistics target on PostgreSQL.

    Other databases have no such setting; there it does nothing. The next ANALYZE
    (autovacuum's, or generate_biobank's at its end) reads the larger sample.
    """

    def set_target(target: int):
        def run(apps, schema_editor) -> None:
            if schema_editor.connection.vendor != "postgresql":
                return
            field = apps.get_model(app_label, model_name)._meta.get_field(field_name)
            quote = schema_editor.quote_name
            table = quote(field.model._meta.db_table)
            schema_editor.execute(
                f"ALTER TABLE {table} ALTER COLUMN {quote(field.column)} "
                f"SET STATISTICS {int(target)}"
            )

        return run

    return migrations.RunPython(set_target(LARGE_TARGET), set_target(DEFAULT_TARGET))


def columns_together(
    table: str, statistics: dict[str, str], target: int = 1000
) -> migrations.RunPython:
    """A migration operation: statistics of columns or expressions taken together.

    `statistics` maps each statistics object's name to its expressions. PostgreSQL
    takes columns for independent unless such statistics (CREATE STATISTICS, a list of
    their most common combinations) say otherwise. Expressions need PostgreSQL 14;
    other databases have no such statistics. The table is analysed at once: until then
    the statistics are empty, and autovacuum analyses a large table only after a tenth
    of it has changed.
    """

    def create(apps, schema_editor) -> None:
        connection = schema_editor.connection
        if connection.vendor != "postgresql" or connection.pg_version < 140000:
            return
        for name, expressions in statistics.items():
            schema_editor.execute(
                f"CREATE STATISTICS IF NOT EXISTS {name} (mcv) "
                f"ON {expressions} FROM {table}"
            )
            schema_editor.execute(
                f"ALTER STATISTICS {name} SET STATISTICS {int(target)}"
            )
        schema_editor.execute(f"ANALYZE {table}")

    def drop(apps, schema_editor) -> None:
        if schema_editor.connection.vendor != "postgresql":
            return
        for name in statistics:
            schema_editor.execute(f"DROP STATISTICS IF EXISTS {name}")

    return migrations.RunPython(create, drop)
