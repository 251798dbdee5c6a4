"""The checks only storages need: file paths, item functions, names made from a pipeline's.

Storages validate their options when they are constructed, which is when a flow is built, and
raise :class:`~weirflow.ConfigError` naming the field and the fix. The message starts with where
the option was given: the class name when a storage is made directly, ``pipeline 'p':
with_storage('json')`` when :func:`~weirflow.storages.create_storage` makes it (it sets that
place with :func:`weirflow._checks.configuring`). The checks every layer shares (numbers, flags,
names) are in :mod:`weirflow._checks`.
"""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any

from .._errors import ConfigError, InvalidCallableError


def check_path(value: Any, where: str, *, option: str = "path") -> Path:
    """A file path option: ``str`` or ``os.PathLike``, made absolute (no I/O)."""
    if isinstance(value, str | os.PathLike) and str(value).strip():
        return Path(value).absolute()
    raise ConfigError(
        f"{where}: {option} must be a file path (str or pathlib.Path), got "
        f"{type(value).__name__} {value!r}; for example {option}='data/readings.json'"
    )


def safe_file_stem(pipeline: str) -> str:
    """``pipeline`` as a file name: characters other than letters, digits, ``-``, ``_`` and
    ``.`` become ``_``, and it never starts with a dot."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", pipeline).lstrip(".")
    return stem or "storage"


def safe_identifier(pipeline: str) -> str:
    """``pipeline`` as an SQL identifier: lower case ASCII letters, digits and ``_``, not
    starting with a digit, at most 63 characters (PostgreSQL's limit)."""
    name = re.sub(r"[^a-z0-9_]", "_", pipeline.lower())
    if not name or name[0].isdigit():
        name = f"t_{name}"
    return name[:63]


def check_item_function(fn: Any, where: str, role: str) -> None:
    """A function called as ``fn(item)`` (``role`` names it in the message)."""
    if not callable(fn):
        raise InvalidCallableError(
            f"{where}: {role} must be a function taking the item, got {type(fn).__name__} {fn!r}"
        )
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return  # some builtins have no signature; trust them
    try:
        signature.bind(None)
    except TypeError:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
        raise InvalidCallableError(
            f"{where}: {role} is called with one argument (the item), but {name!r} has the "
            f"signature {signature}; make it take exactly one positional parameter"
        ) from None
