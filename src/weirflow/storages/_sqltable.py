"""Tables of the ``sql`` storage: column types, creation and reflection.

A table made by weirflow has a surrogate key ``_weirflow_id`` (auto-incremented, so ``load``
returns rows in the order they were first saved; it is not part of the loaded records) and one
column per record field, typed from a declared schema or from the first record saved:

======================  =========================  =====================
Python value            schema name                column type
======================  =========================  =====================
``int``                 ``"int"``                  ``BigInteger``
``float``               ``"float"``                ``Float``
``bool``                ``"bool"``                 ``Boolean``
``str``                 ``"str"``                  ``Text``
``datetime``            ``"datetime"``             ``DateTime(timezone=True)``
dict, list, ``None``    ``"json"``                 ``JSON`` (``JSONB`` on PostgreSQL)
======================  =========================  =====================

Items that are not dicts are stored in a single JSON column ``value``. With
``extra_columns="json"`` the table also gets a JSON column ``_weirflow_extra`` that keeps the
fields of a record that are not columns (loaded back into the record). Creation uses
``CREATE TABLE IF NOT EXISTS`` (and a unique index ``IF NOT EXISTS`` for ``upsert_on``), so
processes racing to create the same table all succeed (PostgreSQL can still fail the loser of
such a race; the winner's table or index is then used). An existing table is reflected, never
altered.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    inspect,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import DBAPIError
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlalchemy.types import TypeEngine

ID_COLUMN = "_weirflow_id"
VALUE_COLUMN = "value"
EXTRA_COLUMN = "_weirflow_extra"
RESERVED = (ID_COLUMN, EXTRA_COLUMN)

SCHEMA_TYPES: dict[str, TypeEngine[Any]] = {
    "int": BigInteger(),
    "float": Float(),
    "bool": Boolean(),
    "str": Text(),
    "datetime": DateTime(timezone=True),
    "json": JSON().with_variant(postgresql.JSONB(), "postgresql"),
}


def schema_type_of(value: Any) -> str | None:
    """The schema name for a value's column, or ``None`` if no column type fits it."""
    for name, types in (
        ("bool", bool),
        ("int", int),
        ("float", float),
        ("str", str),
        ("datetime", datetime),
        ("json", (dict, list, type(None))),
    ):
        if isinstance(value, types):
            return name
    return None


def infer_schema(first: Any, table: str) -> dict[str, str]:
    """Column types from the first record saved (``{"value": "json"}`` for non-dict items)."""
    if not isinstance(first, Mapping):
        return {VALUE_COLUMN: "json"}
    schema: dict[str, str] = {}
    for key, value in first.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"table {table!r}: column names must be non-empty str, got {key!r}")
        if key in RESERVED:
            raise ValueError(f"table {table!r}: the field name {key!r} is reserved")
        kind = schema_type_of(value)
        if kind is None:
            raise TypeError(
                f"table {table!r}: no column type fits field {key!r} "
                f"({type(value).__name__} {value!r}); convert it with a preprocessing "
                f"function, or declare the column, e.g. schema={{{key!r}: 'str'}}"
            )
        schema[key] = kind
    return schema


def define_table(
    name: str, schema: Mapping[str, str], upsert_on: Sequence[str], extra: bool = False
) -> Table:
    """The table weirflow creates for ``schema`` (``extra``: with the JSON column of extras)."""
    columns = [
        Column(
            ID_COLUMN,
            BigInteger().with_variant(Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        *(Column(column, SCHEMA_TYPES[kind]) for column, kind in schema.items()),
        *([Column(EXTRA_COLUMN, SCHEMA_TYPES["json"])] if extra else []),
    ]
    table = Table(name, MetaData(), *columns)
    if upsert_on:
        Index(upsert_index_name(name, upsert_on), *(table.c[key] for key in upsert_on), unique=True)
    return table


def upsert_index_name(table: str, keys: Sequence[str]) -> str:
    """``uq_<table>_<keys>``, made a valid identifier of at most 63 characters."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"uq_{table}_{'_'.join(keys)}")
    if len(name) > 63:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[:52]}_{digest}"
    return name


def reflect(connection: Connection, name: str) -> Table | None:
    """The existing table ``name``, or ``None``.

    Catalog queries are preparation, as DDL is: a busy server may take longer over them than a
    save may take, so they run without ``statement_timeout`` (in a transaction of their own)."""
    with _catalog(connection):
        if not inspect(connection).has_table(name):
            return None
        return Table(name, MetaData(), autoload_with=connection)


def create(engine: Engine, table: Table) -> None:
    """Create ``table`` and its indexes unless they exist (safe when processes race)."""
    try:
        with engine.begin() as connection:
            _no_statement_timeout(connection)
            connection.execute(CreateTable(table, if_not_exists=True))
    except DBAPIError:
        # PostgreSQL can still fail when two sessions create the same table at once; the
        # winner's table is as good as ours.
        with engine.connect() as connection, _catalog(connection):
            if not inspect(connection).has_table(table.name):
                raise
    for index in table.indexes:
        create_index(engine, table, index)


def create_index(engine: Engine, table: Table, index: Index) -> None:
    """Create ``index`` unless it exists (safe when processes race, as :func:`create` is)."""
    try:
        with engine.begin() as connection:
            _no_statement_timeout(connection)
            connection.execute(CreateIndex(index, if_not_exists=True))
    except DBAPIError:
        # Two PostgreSQL sessions creating the same index at once: one of them fails.
        with engine.connect() as connection, _catalog(connection):
            names = {found["name"] for found in inspect(connection).get_indexes(table.name)}
        if index.name not in names:
            raise


@contextmanager
def _catalog(connection: Connection) -> Iterator[None]:
    """A transaction without ``statement_timeout`` for reading the catalog (ended after)."""
    if connection.in_transaction():  # the caller's transaction: leave its settings alone
        yield
        return
    with connection.begin():
        _no_statement_timeout(connection)
        yield


def _no_statement_timeout(connection: Connection) -> None:
    """DDL may rightly run long (a unique index on a big table): no statement_timeout for it."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL statement_timeout = 0"))


def ensure_unique_index(engine: Engine, table: Table, keys: Sequence[str]) -> None:
    """Make ``keys`` unique in an existing table, as ``INSERT ... ON CONFLICT`` needs."""
    index = Index(upsert_index_name(table.name, keys), *(table.c[key] for key in keys), unique=True)
    create_index(engine, table, index)


def data_columns(table: Table) -> list[Column[Any]]:
    """The columns that hold record fields (all but weirflow's surrogate key and extras)."""
    return [column for column in table.columns if column.name not in RESERVED]


def filled_by_database(table: Table, column: Column[Any]) -> bool:
    """Whether the database gives ``column`` a value when an insert leaves it out.

    True for an auto-incremented key (``SERIAL``, an identity, SQLite's ``INTEGER PRIMARY
    KEY``) and for a column with a server-side ``DEFAULT``.
    """
    return (
        column.server_default is not None
        or column.identity is not None
        or column is table.autoincrement_column
    )


def holds_values(table: Table) -> bool:
    """Whether the table stores non-dict items (its only field is a JSON column ``value``)."""
    columns = data_columns(table)
    return (
        len(columns) == 1 and columns[0].name == VALUE_COLUMN and isinstance(columns[0].type, JSON)
    )
