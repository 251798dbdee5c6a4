"""Restoring source order while streaming.

Element indices form a tree: top-level positions ``(0,), (1,), ...`` and, below each ``flat_map``,
children ``(3, 0), (3, 1), ...``. :class:`OrderBuffer` walks that tree depth-first with a cursor
and releases an element as soon as everything before it has been released or is known to be
gone. It knows this from *marks*: an element was dropped (``(i, -1)``), or an element expanded
into exactly ``k`` children (``(i, k)``). Memory holds only the elements that overtook a slower
one; nothing waits for the end of the input (pypeln's ``ordered`` sorts the whole input).
"""

from __future__ import annotations

from typing import Any

from ._batch import DROPPED, Batch, Index, as_tuple

_SKIP: Any = object()
Key = tuple[int, ...]


class OrderBuffer:
    """Holds out-of-order elements and releases them in source order."""

    def __init__(self) -> None:
        self._leaves: dict[Key, Any] = {}
        self._child_counts: dict[Key, int] = {}
        self._expanded: set[Key] = set()
        self._cursor: Key = (0,)
        self._originals: dict[Key, Index] = {}

    def add(self, batch: Batch) -> None:
        leaves, expanded, originals = self._leaves, self._expanded, self._originals
        for index, value in zip(batch.indices, batch.values):
            key = as_tuple(index)
            leaves[key] = value
            originals[key] = index
            for depth in range(1, len(key)):
                expanded.add(key[:depth])
        for index, count in batch.marks or ():
            key = as_tuple(index)
            if count == DROPPED:
                leaves[key] = _SKIP
            else:
                self._child_counts[key] = count
                expanded.add(key)
            for depth in range(1, len(key)):
                expanded.add(key[:depth])

    def ready(self) -> Batch:
        """Take every element whose predecessors have all been released."""
        leaves, counts, expanded = self._leaves, self._child_counts, self._expanded
        indices: list[Index] = []
        values: list[Any] = []
        cursor = self._cursor
        while True:
            if len(cursor) > 1:
                parent = cursor[:-1]
                count = counts.get(parent)
                if count is not None and cursor[-1] >= count:
                    del counts[parent]
                    expanded.discard(parent)
                    cursor = (*parent[:-1], parent[-1] + 1)
                    continue
            if cursor in leaves:
                value = leaves.pop(cursor)
                if value is not _SKIP:
                    indices.append(self._originals.pop(cursor))
                    values.append(value)
                cursor = (*cursor[:-1], cursor[-1] + 1)
                continue
            if cursor in expanded:
                cursor = (*cursor, 0)
                continue
            break
        self._cursor = cursor
        return Batch(indices, values)

    def rest(self) -> Batch:
        """At end of input: everything still held, in order (only unbalanced ``concat``s)."""
        ready = self.ready()
        keys = sorted(key for key, value in self._leaves.items() if value is not _SKIP)
        ready.indices.extend(self._originals[key] for key in keys)
        ready.values.extend(self._leaves[key] for key in keys)
        self._leaves.clear()
        self._originals.clear()
        return ready
