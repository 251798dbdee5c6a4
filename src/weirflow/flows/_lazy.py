"""Connectors, storages and senders created where they are used.

A pipeline's stage objects may be needed in another process (``use_threads=False``, process
workers). A :class:`Lazy` holds only how to make the object (a factory and its keyword
arguments: picklable), creates it on first use in each process, and is closed by the flow that
owns it (never by another flow running in the same process).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """Makes ``factory(**options)`` once per process, on first :meth:`get`."""

    def __init__(self, factory: Callable[..., T], **options: Any) -> None:
        self.factory = factory
        self.options = options
        self._instance: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        instance = self._instance
        if instance is None:
            with self._lock:
                if self._instance is None:
                    self._instance = self.factory(**self.options)
                instance = self._instance
        return instance

    @property
    def opened(self) -> T | None:
        return self._instance

    def open(self) -> T:
        """Make the object if needed and call its ``open()`` (when it has one), e.g. when a
        pipeline run starts: a storage connects then rather than on its first item."""
        instance = self.get()
        opener = getattr(instance, "open", None)
        if callable(opener):
            opener()
        return instance

    def interrupt(self) -> None:
        """Call ``interrupt()`` of the object made in this process, if any (never makes one)."""
        interrupter = getattr(self._instance, "interrupt", None)
        if callable(interrupter):
            interrupter()

    def close(self) -> None:
        with self._lock:
            instance, self._instance = self._instance, None
        close = getattr(instance, "close", None)
        if close is not None:
            close()

    def __getstate__(self) -> dict[str, Any]:
        return {"factory": self.factory, "options": self.options}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.factory = state["factory"]
        self.options = state["options"]
        self._instance = None
        self._lock = threading.Lock()


def close_all(lazies: Iterable[Lazy[Any]]) -> None:
    """Close what ``lazies`` made in this process (at the end of a flow), each at most once."""
    seen: set[int] = set()
    for lazy in lazies:
        if id(lazy) not in seen:
            seen.add(id(lazy))
            lazy.close()


def existing(instance: T) -> Lazy[T]:
    """A :class:`Lazy` around an object the user made (it travels by pickling)."""
    return Lazy(_identity, instance=instance)


def _identity(instance: T) -> T:
    return instance
