"""Making the ``sql`` storage's table ready to write: reflected, or created, and checked.

:func:`prepare_table` reflects the table; one that does not exist is created (from the schema,
or from the first record's fields) unless ``create=False``; ``upsert_on`` gets its unique
index; a table that cannot hold what the options ask (an ``upsert_on`` column it lacks, no JSON
column for ``extra_columns='json'``) is an error naming the storage. Creating a table or an
index is DDL, which may rightly take long: the call's watch does not give it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table

from .._errors import WeirflowError
from . import _sqltable
from ._sqlcall import Attempt


@dataclass(frozen=True)
class TableWanted:
    """The table a storage writes to, as its options describe it."""

    name: str
    schema: dict[str, str] | None
    upsert_on: tuple[str, ...]
    create: bool
    extra_columns: str | None


def prepare_table(
    engine: Engine,
    attempt: Attempt,
    wanted: TableWanted,
    first: Any,
    shown: str,
    *,
    opening: bool = False,
) -> Table | None:
    """The table, ready to write ``first`` (the first record to save) and those after it.

    When ``opening`` (no record yet) a table to be made without a schema is left for the first
    save, and None returned. ``shown`` names the storage in errors.
    """
    with engine.connect() as connection:
        attempt.watch(connection)
        table = _sqltable.reflect(connection, wanted.name)
    if table is None:
        if opening and wanted.schema is None:
            return None  # created from the first record saved
        table = _create(engine, attempt, wanted, first, shown)
    elif wanted.upsert_on:
        missing = [key for key in wanted.upsert_on if key not in table.c]
        if missing:
            raise WeirflowError(
                f"{shown}: upsert_on column(s) {missing} are not columns of the "
                f"existing table {wanted.name!r}; change upsert_on"
            )
        attempt.unbounded()
        _sqltable.ensure_unique_index(engine, table, wanted.upsert_on)
    if (
        wanted.extra_columns == "json"
        and _sqltable.EXTRA_COLUMN not in table.c
        and not _sqltable.holds_values(table)
    ):
        raise WeirflowError(
            f"{shown}: extra_columns='json' needs a JSON column "
            f"{_sqltable.EXTRA_COLUMN!r}, which the existing table {wanted.name!r} lacks "
            "(weirflow never alters a table); add it, or use a new table"
        )
    return table


def _create(engine: Engine, attempt: Attempt, wanted: TableWanted, first: Any, shown: str) -> Table:
    if not wanted.create:
        raise WeirflowError(
            f"{shown}: table {wanted.name!r} does not exist; create it, or pass "
            "create=True to let weirflow create it"
        )
    schema = wanted.schema or _sqltable.infer_schema(first, wanted.name)
    missing = [key for key in wanted.upsert_on if key not in schema]
    if missing:
        raise ValueError(
            f"{shown}: upsert_on column(s) {missing} are not fields of the first "
            f"record ({', '.join(schema)}); include them, or declare a schema"
        )
    attempt.unbounded()  # DDL may rightly take long (an index on a big table)
    definition = _sqltable.define_table(
        wanted.name, schema, wanted.upsert_on, extra=wanted.extra_columns == "json"
    )
    _sqltable.create(engine, definition)
    with engine.connect() as connection:
        attempt.watch(connection)
        table = _sqltable.reflect(connection, wanted.name)
    assert table is not None
    return table
