"""What the JSON, JSON Lines and CSV storages share: options, locking, the overwrite mode.

A :class:`FileStorage` turns items into bytes and leaves the format to its subclass. Appends run
under the target's exclusive lock (:func:`~weirflow.storages._files.exclusive`); in ``overwrite``
mode every save atomically replaces the file with the latest item. ``load`` takes no lock:
appends and atomic replaces never show a reader a half-written record.

A storage holds no open file between calls, so it is cheap to make at build time, safe to
share between threads, and picklable (it travels to worker processes as its path).
"""

from __future__ import annotations

import os
from abc import abstractmethod
from pathlib import Path
from typing import Any

from .._checks import place
from ..abc import Storage
from . import _files
from ._options import check_path
from ._preprocess import Preprocessing, check_preprocessing


class FileStorage(Storage):
    """A storage that keeps its items in one file (see the subclasses)."""

    def __init__(self, path: str | os.PathLike[str], *, preprocessing: Any = None) -> None:
        context = place(type(self).__name__)
        self.path: Path = check_path(path, context)
        self.preprocessing: Preprocessing = check_preprocessing(preprocessing, context)
        self._target: Path | None = None

    # -- writing -------------------------------------------------------------------------------

    def save(self, item: Any) -> None:
        """Save one item; it is durable (fsynced) when this returns."""
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        """Save several items with one lock and one fsync.

        A process killed during the call may have kept a prefix of the batch (never a part
        of an item); what earlier calls saved is never lost.
        """
        values = [self.preprocessing.apply(item) for item in items]
        if not values:
            return
        target = self._prepared_target()
        if self.preprocessing.overwrite:
            data = self._encode_latest(values[-1])
            with _files.exclusive(target):
                _files.atomic_replace(target, data)
        else:
            encoded = self._encode(values)
            with _files.exclusive(target):
                self._append(target, encoded)

    def _prepared_target(self) -> Path:
        target = self._target
        if target is None:
            target = self.path.resolve()
            _files.ensure_parent(target)
            with _files.exclusive(target):
                _files.remove_stale_temporaries(target)
            self._target = target
        return target

    @abstractmethod
    def _encode(self, values: list[Any]) -> Any:
        """Encode values for :meth:`_append`, before the lock is taken (errors write nothing)."""

    @abstractmethod
    def _append(self, target: Path, encoded: Any) -> None:
        """Add encoded values to ``target`` durably; called holding the target's lock."""

    @abstractmethod
    def _encode_latest(self, value: Any) -> bytes:
        """The whole file content holding only ``value`` (``overwrite`` mode)."""

    # -- reading -------------------------------------------------------------------------------

    def load(self, **query: Any) -> Any:
        """Every saved item, in the order saved; in ``overwrite`` mode the latest item or None.

        File storages take no query arguments.
        """
        if query:
            raise TypeError(
                f"{type(self).__name__}.load() takes no query arguments, got {sorted(query)}; "
                "filter the returned list, or use the 'sql' storage to query"
            )
        data = _files.read_bytes(self.path)
        if self.preprocessing.overwrite:
            return None if data is None else self._decode_latest(data)
        return [] if data is None else self._decode(data)

    @abstractmethod
    def _decode(self, data: bytes) -> list[Any]:
        """Every item in the file's content."""

    @abstractmethod
    def _decode_latest(self, data: bytes) -> Any:
        """The single item of a file written in ``overwrite`` mode (``None`` if there is none)."""

    # -- the rest ------------------------------------------------------------------------------

    def close(self) -> None:
        """Nothing to release: no file stays open between calls. Idempotent."""

    def __repr__(self) -> str:
        described = self.preprocessing.describe()
        extra = f", preprocessing=[{described}]" if described else ""
        return f"{type(self).__name__}({str(self.path)!r}{extra})"

    def _error_at(self, detail: str) -> ValueError:
        return ValueError(f"{type(self).__name__} {str(self.path)!r}: {detail}")
