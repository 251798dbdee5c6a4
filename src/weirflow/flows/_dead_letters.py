"""Item-level failures: the record of an item that failed, and where such records go.

Under ``on_failure="continue"`` an item that fails in a stage (after that stage's retries) does
not end its pipeline's run: the stage turns it into an :class:`ItemFailure` that travels down
the rest of the pipeline untouched (storages and senders pass it on) to the pipeline's end,
where the runner logs it, counts it and, when the pipeline has a ``dead_letter``, writes it
there. Records are plain data (strings and the item), so they cross worker processes.

``add_pipeline(..., dead_letter=...)`` takes a path (a JSON-lines file, appended with fsync and
locked like the ``jsonl`` storage), a :class:`~weirflow.Storage`, or a function called in the
pipeline's process (its own process with ``use_threads=False``) with each record, a dict:
``pipeline``, ``stage``, ``error_type``, ``error``, ``item`` (``item_repr`` when the item is not
JSON), ``time``, ``attempts``.
"""

from __future__ import annotations

import datetime
import json
import os
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._interfaces import Storage
from ._lazy import Lazy, existing


@dataclass(frozen=True)
class ItemFailure:
    """An item that failed in a stage, on its way to the pipeline's end (picklable)."""

    pipeline: str
    stage: str
    error_type: str
    error: str
    traceback: str
    item: Any
    attempts: int
    time: str

    @classmethod
    def of(cls, pipeline: str, stage: str, item: Any, error: BaseException, attempts: int) -> Any:
        return cls(
            pipeline,
            stage,
            type(error).__qualname__,
            str(error),
            "".join(traceback.format_exception(error)),
            item,
            attempts,
            datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        )

    def record(self) -> dict[str, Any]:
        """The dead letter: JSON-safe; the item as JSON, or its ``repr`` when it is not JSON."""
        record: dict[str, Any] = {
            "pipeline": self.pipeline,
            "stage": self.stage,
            "error_type": self.error_type,
            "error": _text(self.error),
            "time": self.time,
            "attempts": self.attempts,
        }
        try:
            json.dumps(self.item, allow_nan=False, ensure_ascii=False).encode("utf-8")
            record["item"] = self.item
        except (TypeError, ValueError, RecursionError):
            record["item"] = None
            record["item_repr"] = _text(repr(self.item))
        return record


def _text(value: str) -> str:
    """``value`` with lone surrogates escaped, so it encodes as UTF-8."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


DeadLetterTarget = str | os.PathLike[str] | Storage | Callable[[dict[str, Any]], Any]


@dataclass
class DeadLetters:
    """Where a pipeline's failed items go: a storage made lazily, or a function."""

    storage: Lazy[Storage] | None = None
    function: Callable[[dict[str, Any]], Any] | None = None

    def write(self, failure: ItemFailure) -> None:
        """Keep the failure's record durably, or raise."""
        record = failure.record()
        if self.function is not None:
            from .._await import run_awaitable

            run_awaitable(self.function(record))
            return
        assert self.storage is not None
        self.storage.get().save(record)

    def resources(self) -> list[Lazy[Any]]:
        return [self.storage] if self.storage is not None else []

    def describe(self) -> str:
        if self.function is not None:
            return f"dead letters ({getattr(self.function, '__name__', self.function)!s})"
        assert self.storage is not None
        path = self.storage.options.get("options", {}).get("path")
        return f"dead letters ({path})" if path else "dead letters (a storage)"


def dead_letters(target: DeadLetterTarget | None, pipeline: str) -> DeadLetters | None:
    """``add_pipeline(dead_letter=...)`` checked at build time."""
    if target is None:
        return None
    if isinstance(target, Storage):
        return DeadLetters(storage=existing(target))
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        if not str(target).strip() or path.is_dir():
            raise ConfigError(
                f"pipeline {pipeline!r}: dead_letter must name a file (JSON lines), got {target!r}"
            )
        from ..storages import create_storage

        lazy: Lazy[Storage] = Lazy(
            create_storage, kind="jsonl", pipeline=pipeline, options={"path": str(path)}
        )
        try:
            lazy.get()  # its own checks, now
        except (TypeError, ValueError) as error:
            raise ConfigError(f"pipeline {pipeline!r}: dead_letter: {error}") from error
        finally:
            lazy.close()
        return DeadLetters(storage=lazy)
    if callable(target):
        return DeadLetters(function=target)
    raise ConfigError(
        f"pipeline {pipeline!r}: dead_letter must be a path (a JSON-lines file), a Storage or "
        f"a function taking a dict, got {type(target).__name__}"
    )
