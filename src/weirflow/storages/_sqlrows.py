"""Rows of the ``sql`` storage: records to rows and statements, rows back to records.

:func:`rows` turns a batch of records into rows with the same columns (one ``executemany``
inserts them all), refusing a record that does not fit the table; :func:`insert_statement` is
the ``INSERT`` (an upsert with ``upsert_on``); :func:`select_statement` the query of ``load``
(equality filters, in the order first saved); :func:`records` the loaded rows as records.
``shown`` is how messages name the storage (its repr, never with a password).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Insert, Select, Table, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from . import _sqltable


def rows(
    table: Table, values: list[Any], upsert_on: tuple[str, ...], to_utc: bool, shown: str
) -> list[dict[str, Any]]:
    """One row per record, all with the same columns (one statement inserts them all).

    A field no record gives is ``NULL``, except in columns the database fills itself (a
    ``SERIAL`` key, a ``DEFAULT``): those are left out, so the database does.
    """
    if _sqltable.holds_values(table):
        return [{_sqltable.VALUE_COLUMN: value} for value in values]
    columns = [column.name for column in _sqltable.data_columns(table)]
    given = {key for value in values if isinstance(value, Mapping) for key in value}
    inserted = [
        column.name
        for column in _sqltable.data_columns(table)
        if column.name in given or not _sqltable.filled_by_database(table, column)
    ]
    extras = _sqltable.EXTRA_COLUMN in table.c
    if extras:
        inserted.append(_sqltable.EXTRA_COLUMN)
    rows: list[dict[str, Any]] = []
    for value in values:
        if not isinstance(value, Mapping):
            raise TypeError(
                f"{shown}: table {table.name!r} holds records (dict items), got "
                f"{type(value).__name__} {value!r}; save dicts, or use another table"
            )
        unknown = [key for key in value if key not in columns]
        if unknown and not extras:
            raise ValueError(
                f"{shown}: field {unknown[0]!r} is not a column of table {table.name!r} "
                f"({', '.join(columns)}); a table's columns are fixed when it is created "
                "(from the first record saved, unless schema= declares them), so records "
                "with other fields are refused: declare the columns with schema=, keep "
                "unknown fields with extra_columns='json' (in a new table), add the column "
                "to the table, or drop the field with a preprocessing function"
            )
        row = {name: _utc(value.get(name)) if to_utc else value.get(name) for name in inserted}
        if extras:
            row[_sqltable.EXTRA_COLUMN] = {key: value[key] for key in unknown} or None
        for key in upsert_on:
            if row[key] is None:
                raise ValueError(
                    f"{shown}: upsert_on column {key!r} is missing or None in {value!r}; "
                    "every record needs a value there"
                )
        rows.append(row)
    if upsert_on:  # the last record of a key wins, as if saved one by one
        rows = list({tuple(row[key] for key in upsert_on): row for row in rows}.values())
    return rows


def insert_statement(
    table: Table, columns: list[str], upsert_on: tuple[str, ...], sqlite_dialect: bool
) -> Insert:
    """An ``INSERT`` of ``columns``; with ``upsert_on``, updating them on a conflict."""
    if not upsert_on:
        return insert(table)
    statement = (sqlite.insert if sqlite_dialect else postgresql.insert)(table)
    updated = {name: statement.excluded[name] for name in columns if name not in upsert_on}
    if not updated:
        return statement.on_conflict_do_nothing(index_elements=list(upsert_on))
    return statement.on_conflict_do_update(index_elements=list(upsert_on), set_=updated)


def select_statement(
    table: Table, where: Mapping[str, Any] | None, limit: int | None, shown: str
) -> Select[Any]:
    """The query of ``load(where=, limit=)``: the records in the order first saved."""
    selected = list(_sqltable.data_columns(table))
    if _sqltable.EXTRA_COLUMN in table.c:
        selected.append(table.c[_sqltable.EXTRA_COLUMN])
    statement = select(*selected)
    for name, value in (where or {}).items():
        statement = statement.where(filter_column(table, name, shown) == value)
    if _sqltable.ID_COLUMN in table.c:
        statement = statement.order_by(table.c[_sqltable.ID_COLUMN])
    if limit is not None:
        statement = statement.limit(limit)
    return statement


def records(table: Table, rows: list[dict[str, Any]]) -> list[Any]:
    """The loaded rows as the records (or values) that were saved."""
    if _sqltable.holds_values(table):
        return [row[_sqltable.VALUE_COLUMN] for row in rows]
    return [_with_extras(row) for row in rows]


def filter_column(table: Table, name: str, shown: str) -> Any:
    columns = _sqltable.data_columns(table)
    if name not in table.c or name == _sqltable.ID_COLUMN:
        raise ValueError(
            f"{shown}: cannot filter on {name!r}: no such column in table {table.name!r} "
            f"({', '.join(column.name for column in columns)})"
        )
    column = table.c[name]
    if isinstance(column.type, JSON):
        raise ValueError(
            f"{shown}: cannot filter on JSON column {name!r}; filter the loaded records"
        )
    return column


def _with_extras(row: dict[str, Any]) -> dict[str, Any]:
    """A loaded row with the fields kept in the JSON column of extras put back."""
    if _sqltable.EXTRA_COLUMN not in row:
        return row
    extra = row.pop(_sqltable.EXTRA_COLUMN)
    if isinstance(extra, Mapping):
        row.update(extra)
    return row


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value
