"""The options of the ``sql`` storage: defaults and checks, run when the storage is made.

Each check raises :class:`~weirflow.ConfigError` naming where the option was given (the class,
or ``pipeline 'p': with_storage('sql')``) and the field; the checks every layer shares (flags,
whole numbers, seconds, names) are :mod:`weirflow._checks`'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.engine import URL

from .._checks import check_seconds
from .._errors import ConfigError
from . import _sqltable
from ._preprocess import Preprocessing

UPSERT_BACKENDS = ("sqlite", "postgresql")
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 2
DEFAULT_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_STATEMENT_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_WARN_AFTER = 5.0


def optional_seconds(value: Any, context: str, option: str) -> float | None:
    return None if value is None else check_seconds(value, context, option)


def seconds_text(value: float | None) -> str:
    return "none" if value is None else f"{value:g} s"


def check_combination(
    url: URL,
    upsert_on: tuple[str, ...],
    preprocessing: Preprocessing,
    schema: dict[str, str] | None,
    context: str,
) -> None:
    """Options that contradict each other, or ask what the database cannot do."""
    if upsert_on and url.get_backend_name() not in UPSERT_BACKENDS:
        raise ConfigError(
            f"{context}: upsert_on needs SQLite or PostgreSQL (INSERT ... ON CONFLICT); "
            f"{url.get_backend_name()!r} is not supported: remove upsert_on"
        )
    if upsert_on and preprocessing.overwrite:
        raise ConfigError(
            f"{context}: upsert_on and preprocessing 'overwrite' contradict each other "
            "(overwrite keeps one row); remove one of them"
        )
    if schema is not None:
        for key in upsert_on:
            if key not in schema:
                raise ConfigError(
                    f"{context}: upsert_on column {key!r} is not in schema "
                    f"({', '.join(schema)}); add it to the schema"
                )


def check_schema(schema: Any, context: str) -> dict[str, str] | None:
    if schema is None:
        return None
    names = ", ".join(repr(name) for name in _sqltable.SCHEMA_TYPES)
    if not isinstance(schema, Mapping) or not schema:
        raise ConfigError(
            f"{context}: schema must be a non-empty dict of column name to type ({names}), "
            f"got {schema!r}; e.g. schema={{'sensor': 'str', 'value': 'float'}}"
        )
    for column, kind in schema.items():
        if not isinstance(column, str) or not column.strip():
            raise ConfigError(
                f"{context}: schema column names must be non-empty str, got {column!r}"
            )
        if column in _sqltable.RESERVED:
            raise ConfigError(
                f"{context}: schema column {column!r} is reserved for weirflow; rename it"
            )
        if kind not in _sqltable.SCHEMA_TYPES:
            raise ConfigError(
                f"{context}: schema column {column!r} has type {kind!r}; use one of {names}"
            )
    return dict(schema)


def check_upsert_on(upsert_on: Any, context: str) -> tuple[str, ...]:
    if upsert_on is None:
        return ()
    if (
        isinstance(upsert_on, str)
        or not isinstance(upsert_on, Sequence)
        or not upsert_on
        or not all(isinstance(key, str) and key.strip() for key in upsert_on)
    ):
        raise ConfigError(
            f"{context}: upsert_on must be a non-empty list of column names, got "
            f"{upsert_on!r}; e.g. upsert_on=['sensor']"
        )
    if len(set(upsert_on)) != len(upsert_on):
        raise ConfigError(f"{context}: upsert_on names a column twice: {list(upsert_on)!r}")
    return tuple(upsert_on)
