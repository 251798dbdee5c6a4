"""``create_storage``: what ``.with_storage(kind, **options)`` turns into, checked at build time.

``kind`` is a storage kind name (looked up in :data:`weirflow._registry.STORAGES`), a
:class:`~weirflow.Storage` object (used as is) or a plain function (wrapped in a
:class:`FunctionStorage`). Every mistake — an unknown kind, an unknown option, an option of the
wrong type or value — is a :class:`~weirflow.ConfigError` naming the pipeline, the field and
the fix. This module also holds the factories of the built-in kinds (:class:`FileKind`,
:class:`SqlKind`), which derive default locations from the pipeline's name:
``data/<pipeline>.json`` (``.jsonl``, ``.csv``) and, for ``sql``, the table ``<pipeline>`` in
``sqlite:///data/weirflow.sqlite``; a ``sql`` storage is also told its pipeline, which its
errors and log lines name.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import configuring
from .._errors import ConfigError
from .._hints import shown
from .._interfaces import Storage
from .._registry import STORAGES, check_options
from ._filebase import FileStorage
from ._options import safe_file_stem, safe_identifier
from .function import FunctionStorage

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
        kind: a registered kind (``"json"``, ``"jsonl"``, ``"csv"``, ``"sql"``, or one added
            with :func:`~weirflow.register_storage`), a ``Storage`` object (returned as is) or
            a function called with each item (wrapped in a ``FunctionStorage``).
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
        weirflow.InvalidArgumentError: pipeline 'readings': with_storage('jsonn'): unknown storage kind 'jsonn' (did you mean 'json'?); use one of 'json', 'jsonl', 'csv', 'sql', a Storage object or a function
    """  # noqa: E501
    if not isinstance(pipeline, str) or not pipeline:
        raise ConfigError(f"create_storage: pipeline must be a non-empty str, got {pipeline!r}")
    context = storage_context(kind, pipeline)
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
        return STORAGES.recipe(kind, pipeline=pipeline, context=context)(**options)
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


def _kinds() -> str:
    return ", ".join(repr(kind) for kind in STORAGES)


def storage_context(kind: Any, pipeline: str) -> str:
    """Where storage options come from, for messages: ``pipeline 'p': with_storage('json')``."""
    return f"pipeline {pipeline!r}: with_storage({_label(kind)})"


@dataclass(frozen=True)
class FileKind:
    """The factory of a file storage kind: ``path`` defaults to ``data/<pipeline>.<suffix>``."""

    storage: type[FileStorage]
    suffix: str

    @property
    def accepts(self) -> tuple[str, ...]:
        """The option names of the storage class."""
        return _names(self.storage)

    def __call__(self, *, pipeline: str, **options: Any) -> Storage:
        context = storage_context(self.suffix, pipeline)
        options.setdefault("path", DEFAULT_DIRECTORY / f"{safe_file_stem(pipeline)}.{self.suffix}")
        with configuring(context):
            return self.storage(**options)


@dataclass(frozen=True)
class SqlKind:
    """The factory of ``"sql"``: SQLAlchemy is imported only when a pipeline uses it."""

    @property
    def accepts(self) -> tuple[str, ...]:
        """The option names of :class:`~weirflow.storages.SqlStorage`."""
        from .sql import SqlStorage

        return _names(SqlStorage)

    def __call__(self, *, pipeline: str, **options: Any) -> Storage:
        from .sql import SqlStorage

        context = storage_context("sql", pipeline)
        options.setdefault("url", DEFAULT_SQL_URL)
        options.setdefault("table", safe_identifier(pipeline))
        with configuring(context):
            return SqlStorage(pipeline=pipeline, **options)  # named in its errors and logs


def _names(cls: type[Storage]) -> tuple[str, ...]:
    return tuple(
        name
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        and name not in _GIVEN_BY_WEIRFLOW
    )


def _check_names(options: Mapping[str, Any], cls: type[Storage], what: str, context: str) -> None:
    check_options(options, _names(cls), context, what)


def _label(kind: Any) -> str:
    if isinstance(kind, str | Storage):
        return shown(kind)
    return str(getattr(kind, "__qualname__", None) or type(kind).__name__)
