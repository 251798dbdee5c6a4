"""``create_storage``: what ``.with_storage(kind, **options)`` turns into, checked at build time.

``kind`` is a storage kind name, a :class:`~weirflow.Storage` object (used as is) or a plain
function (wrapped in a :class:`FunctionStorage`). Every mistake — an unknown kind, an unknown
option, an option of the wrong type or value — is a :class:`~weirflow.ConfigError` naming the
pipeline, the field and the fix. Default locations derive from the pipeline's name:
``data/<pipeline>.json`` (``.jsonl``, ``.csv``) and, for ``sql``, the table ``<pipeline>`` in
``sqlite:///data/weirflow.sqlite``; a ``sql`` storage is also told its pipeline, which its
errors and log lines name.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._hints import did_you_mean, shown
from .._interfaces import Storage
from ._filebase import FileStorage
from ._options import configuring, safe_file_stem, safe_identifier
from .csv import CsvStorage
from .function import FunctionStorage
from .json import JsonStorage
from .jsonl import JsonLinesStorage

KINDS = ("json", "jsonl", "csv", "sql")
_FILE_KINDS: dict[str, type[FileStorage]] = {
    "json": JsonStorage,
    "jsonl": JsonLinesStorage,
    "csv": CsvStorage,
}
DEFAULT_DIRECTORY = Path("data")
DEFAULT_SQL_URL = "sqlite:///data/weirflow.sqlite"
_GIVEN_BY_WEIRFLOW = ("fn", "pipeline")  # parameters that are not options of with_storage


def create_storage(
    kind: str | Storage | Callable[[Any], Any],
    *,
    pipeline: str,
    options: Mapping[str, Any] | None = None,
) -> Storage:
    """Make the storage of ``pipeline`` from ``with_storage(kind, **options)``.

    Args:
        kind: ``"json"``, ``"jsonl"``, ``"csv"``, ``"sql"``, a ``Storage`` object (returned
            as is) or a function called with each item (wrapped in a ``FunctionStorage``).
        pipeline: the pipeline's name, for messages and default locations.
        options: the storage's options (see each class); functions take ``preprocessing``
            only, ``Storage`` objects none.

    Raises:
        ConfigError: naming the pipeline, the field and what to change.

    Example:
        >>> import os, tempfile
        >>> from weirflow.storages import create_storage
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     storage = create_storage("jsonl", pipeline="readings",
        ...                              options={"path": os.path.join(tmp, "r.jsonl")})
        ...     storage.save({"value": 1})
        ...     storage.load()
        [{'value': 1}]
        >>> create_storage("jsonn", pipeline="readings")
        Traceback (most recent call last):
        ...
        weirflow._errors.ConfigError: pipeline 'readings': with_storage('jsonn'): unknown storage kind 'jsonn' (did you mean 'json'?); use one of 'json', 'jsonl', 'csv', 'sql', a Storage object or a function
    """  # noqa: E501
    if not isinstance(pipeline, str) or not pipeline:
        raise ConfigError(f"create_storage: pipeline must be a non-empty str, got {pipeline!r}")
    context = f"pipeline {pipeline!r}: with_storage({_label(kind)})"
    if options is None:
        options = {}
    elif not isinstance(options, Mapping):
        raise ConfigError(f"{context}: options must be a dict, got {type(options).__name__}")
    if isinstance(kind, Storage):
        if options:
            raise ConfigError(
                f"{context}: options {sorted(options)} cannot be given with a Storage object; "
                "pass them when you create the object"
            )
        return kind
    if isinstance(kind, str):
        return _from_kind(kind, pipeline, dict(options), context)
    if isinstance(kind, type):
        raise ConfigError(
            f"{context}: got the class {kind.__name__}, not a storage; pass an instance "
            f"(with_storage({kind.__name__}(...))) or a kind name"
        )
    if callable(kind):
        _check_names(options, FunctionStorage, "a storage function", context)
        with configuring(context):
            return FunctionStorage(kind, **options)
    raise ConfigError(
        f"{context}: expected a storage kind ({_kinds()}), a Storage object or a function, "
        f"got {type(kind).__name__} {shown(kind)}"
    )


def _from_kind(kind: str, pipeline: str, options: dict[str, Any], context: str) -> Storage:
    cls: type[Storage]
    if kind == "sql":
        from .sql import SqlStorage  # SQLAlchemy is imported only when it is used

        cls = SqlStorage
        options.setdefault("url", DEFAULT_SQL_URL)
        options.setdefault("table", safe_identifier(pipeline))
    elif kind in _FILE_KINDS:
        cls = _FILE_KINDS[kind]
        options.setdefault("path", DEFAULT_DIRECTORY / f"{safe_file_stem(pipeline)}.{kind}")
    else:
        raise ConfigError(
            f"{context}: unknown storage kind {shown(kind)}{did_you_mean(kind, KINDS)}; "
            f"use one of {_kinds()}, a Storage object or a function"
        )
    _check_names(options, cls, f"{kind!r} storages", context)
    if kind == "sql":
        options["pipeline"] = pipeline  # named in its errors and log lines
    with configuring(context):
        return cls(**options)


def _check_names(options: Mapping[str, Any], cls: type[Storage], what: str, context: str) -> None:
    accepted = [
        name
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and name not in _GIVEN_BY_WEIRFLOW
    ]
    for name in options:
        if name not in accepted:
            close = difflib.get_close_matches(str(name), accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(
                f"{context}: unknown option {name!r}; {hint}options of {what}: "
                f"{', '.join(accepted)}"
            )


def _kinds() -> str:
    return ", ".join(repr(kind) for kind in KINDS)


def _label(kind: Any) -> str:
    if isinstance(kind, str | Storage):
        return shown(kind)
    return str(getattr(kind, "__qualname__", None) or type(kind).__name__)
