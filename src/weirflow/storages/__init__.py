"""Storages: where a pipeline keeps its items, and where other pipelines read them back.

``.with_storage(kind, **options)`` ends a pipeline with a storage made by :func:`create_storage`;
``kind`` is a name registered with :func:`~weirflow.register_storage` (the built-ins below
register themselves at the end of this module, one line each):

=========  ==========================  ====================================================
kind       class                       keeps
=========  ==========================  ====================================================
``json``   :class:`JsonStorage`        one JSON array, rewritten atomically (small data)
``jsonl``  :class:`JsonLinesStorage`   JSON Lines, appended (any JSON value)
``csv``    :class:`CsvStorage`         dict items as rows under a typed header
``sql``    :class:`SqlStorage`         rows of a table, through SQLAlchemy (SQLite, PostgreSQL...)
function   :class:`FunctionStorage`    nothing: calls the function with each item
=========  ==========================  ====================================================

A ``sql`` storage on a database server retries a call that lost its connection, then raises
:class:`DatabaseUnavailableError` naming the pipeline, the table and the URL (password masked).

Every storage takes ``preprocessing`` (``"add_datetime"``, ``"overwrite"``, a function, or a
list of these) and is safe with concurrent writers, threads and processes alike: a ``save`` is
durable when it returns and a crash never loses what an earlier ``save`` committed.

Example:
    >>> import os, tempfile
    >>> from weirflow.storages import create_storage
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     latest = create_storage("json", pipeline="weather", options={
    ...         "path": os.path.join(tmp, "weather.json"), "preprocessing": "overwrite"})
    ...     latest.save({"temperature": 21.5})
    ...     latest.save({"temperature": 22.0})
    ...     latest.load()
    {'temperature': 22.0}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._registry import register_storage
from ._factory import FileKind, SqlKind
from ._factory import create_storage as create_storage
from .csv import CsvStorage as CsvStorage
from .function import FunctionStorage as FunctionStorage
from .json import JsonStorage as JsonStorage
from .jsonl import JsonLinesStorage as JsonLinesStorage

if TYPE_CHECKING:
    from .sql import DatabaseUnavailableError as DatabaseUnavailableError
    from .sql import SqlStorage as SqlStorage
    from .sql import SqlStorageStatistics as SqlStorageStatistics

__all__ = [
    "CsvStorage",
    "DatabaseUnavailableError",
    "FunctionStorage",
    "JsonLinesStorage",
    "JsonStorage",
    "SqlStorage",
    "SqlStorageStatistics",
    "create_storage",
]

register_storage("json", FileKind(JsonStorage, "json"))
register_storage("jsonl", FileKind(JsonLinesStorage, "jsonl"))
register_storage("csv", FileKind(CsvStorage, "csv"))
register_storage("sql", SqlKind())

_SQL_NAMES = ("DatabaseUnavailableError", "SqlStorage", "SqlStorageStatistics")


def __getattr__(name: str) -> Any:
    # SQLAlchemy takes a while to import: only pay for it when the sql storage is used.
    if name in _SQL_NAMES:
        from . import sql

        return getattr(sql, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
