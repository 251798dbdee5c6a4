"""The bounded buffer between paho's network thread and the MQTT source's reader.

:class:`Buffer` is a FIFO of at most ``maxsize`` messages (0: unbounded): ``put`` waits while it
is full (TCP flow control then holds the broker back), ``get`` waits for a message, and
``shut`` wakes both sides, ``get`` answering :data:`END` from then on until ``reopen``.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

END = object()
"""What :meth:`Buffer.get` hands out once reading must stop."""


class Buffer:
    """A bounded FIFO between paho's network thread and the reader; ``shut`` wakes both sides."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)
        self._open = True

    def put(self, item: Any) -> bool:
        """Add ``item``, waiting while the buffer is full; False if it was shut meanwhile."""
        with self._not_full:
            while self._open and self._maxsize and len(self._items) >= self._maxsize:
                self._not_full.wait()
            if not self._open:
                return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def get(self) -> Any:
        """The oldest item, waiting for one; ``END`` once the buffer is shut."""
        with self._not_empty:
            while self._open and not self._items:
                self._not_empty.wait()
            if not self._open:
                return END
            item = self._items.popleft()
            self._not_full.notify()
            return item

    def shut(self) -> None:
        """Drop what is held and wake everyone: ``get`` answers ``END``, ``put`` False."""
        with self._not_empty:
            self._open = False
            self._items.clear()
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def reopen(self) -> None:
        with self._not_empty:
            self._open = True

    def __len__(self) -> int:
        with self._not_empty:
            return len(self._items)
