"""A producer's chunk in progress, shared with the consumers of the channel it is attached to.

See ``_channel`` (how consumers take from it) and ``_emit`` (how producers fill it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._batch import Batch, Index

IndexOf = Callable[[int], Index]


class Pending:
    """A producer's chunk in progress: items appended by the producer, visible to consumers.

    Only the producer appends to ``values`` (without the channel's lock: ``list.append`` is
    atomic); taking items (the producer's flush, a consumer's steal) happens under the channel's
    lock and removes them from the front, in place, so the producer's bound ``append`` stays valid.
    """

    __slots__ = ("index_of", "mapper", "start", "values")

    def __init__(
        self, index_of: IndexOf | None, start: int, mapper: Callable[[Batch], Batch] | None
    ) -> None:
        self.values: list[Any] = []
        self.index_of = index_of  # None: top-level positions (a source)
        self.start = start
        self.mapper = mapper

    def take(self, limit: float) -> Batch | None:
        """The first ``limit`` items as a batch, not yet mapped (hold the channel's lock)."""
        values = self.values
        n = len(values)
        if not n:
            return None
        if n > limit:
            n = int(limit)
        taken = values[:n]
        del values[:n]
        start = self.start
        self.start = start + n
        index_of = self.index_of
        if index_of is None:
            indices: list[Index] = list(range(start, start + n))
        else:
            indices = [index_of(position) for position in range(start, start + n)]
        return Batch(indices, taken)
