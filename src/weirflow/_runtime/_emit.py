"""Turning an iterable into batches: used by sources and by ``flat_map``.

Items are gathered into a chunk and emitted when the chunk is full, when the consumer downstream
is idle (waiting for work), or when the iterable was slow to produce the last item (a stream, not
a list): fast iterables move in batches, slow ones element by element, and nothing waits for a
chunk to fill. Known in-memory containers (list, tuple, range, ...) skip the per-item checks.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from itertools import islice
from time import perf_counter
from typing import Any

from ._batch import Batch, Index

Emit = Callable[[Batch], Awaitable[None]]
IndexOf = Callable[[int], Index]

SLOW_ITEM_SECONDS = 0.0005
_CONTAINERS = (list, tuple, range, str, bytes, dict, set, frozenset)


class Emitter:
    """Emits chunks to ``emit``; ``limit`` caps a chunk, ``starving`` says a consumer waits."""

    def __init__(self, emit: Emit, limit: int, starving: Callable[[], bool]) -> None:
        self.emit = emit
        self.limit = max(1, limit)
        self.starving = starving

    async def iterable(self, items: Iterable[Any], index_of: IndexOf, start: int = 0) -> int:
        """Emit every item of ``items``; return how many there were."""
        if isinstance(items, _CONTAINERS):
            return await self._container(items, index_of, start)
        limit, starving = self.limit, self.starving
        indices: list[Index] = []
        values: list[Any] = []
        position = start
        before = perf_counter()
        for value in items:
            now = perf_counter()
            indices.append(index_of(position))
            values.append(value)
            position += 1
            if len(values) >= limit or now - before > SLOW_ITEM_SECONDS or starving():
                await self.emit(Batch(indices, values))
                indices, values = [], []
                now = perf_counter()
            before = now
        if values:
            await self.emit(Batch(indices, values))
        return position - start

    async def async_iterable(
        self, items: AsyncIterable[Any], index_of: IndexOf, start: int = 0
    ) -> int:
        """Emit every item of an async iterable; return how many there were."""
        limit, starving = self.limit, self.starving
        indices: list[Index] = []
        values: list[Any] = []
        position = start
        before = perf_counter()
        async for value in items:
            now = perf_counter()
            indices.append(index_of(position))
            values.append(value)
            position += 1
            if len(values) >= limit or now - before > SLOW_ITEM_SECONDS or starving():
                await self.emit(Batch(indices, values))
                indices, values = [], []
                now = perf_counter()
            before = now
        if values:
            await self.emit(Batch(indices, values))
        return position - start

    async def _container(self, items: Iterable[Any], index_of: IndexOf, start: int) -> int:
        iterator = iter(items)
        position = start
        while True:
            values = list(islice(iterator, self.limit))
            if not values:
                return position - start
            end = position + len(values)
            if index_of is top_level:
                indices: list[Index] = list(range(position, end))
            else:
                indices = [index_of(p) for p in range(position, end)]
            position = end
            await self.emit(Batch(indices, values))


def top_level(position: int) -> Index:
    """Index function of a source: the position itself."""
    return position
