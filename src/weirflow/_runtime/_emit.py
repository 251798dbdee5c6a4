"""Turning an iterable into batches: used by sources and by ``flat_map``.

Items are gathered into a chunk and emitted when the chunk is full, when the consumer downstream
is idle (waiting for work), or when the iterable was slow to produce the last item (a stream, not
a list): fast iterables move in batches, slow ones element by element, and nothing waits for a
chunk to fill. Known in-memory containers (list, tuple, range, ...) skip the per-item checks.

An *eager* output (a channel in this process: thread and task stages, pumps) must never hold an
item of a generic iterable (a generator, a stream) back: a chunk gathered from an iterable that
then blocks (a quiet MQTT topic, a slow socket) would otherwise wait for its next item, with no
upper bound. With one target channel the emitter gathers the items in a :class:`Pending` chunk
*attached* to the channel: it leaves when full or as soon as a consumer waits, and a consumer that
finds the channel empty takes whatever the chunk holds (see ``_channel``). So a fast generator
moves in chunks, and the items of a burst are there for the consumer the moment it asks, however
long the generator then pauses. An output to several channels (a broadcast) puts each item as it
is yielded instead.

A *pulled* output (a ``sync`` stage, stepped by its consumer) cannot see its consumer wait: the
consumer is always waiting while the stage runs. Its emitter instead *ramps*: the first chunk is
one item, each full chunk doubles the next one up to ``limit``, and a slow item starts again from
one; a chunk that has gathered for ``max_age`` also leaves. So the first item of a stream, and the
first one after every pause, pass at once, and a fast generator moves in chunks of up to
``limit``. As with every chunk here, one in progress leaves only when the iterable yields its next
item or ends: a stream that blocks right after a burst holds back the burst's last items (those
gathered within ``max_age``; fewer than half of a burst that followed a pause) until it yields
again.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator
from itertools import chain, islice
from time import perf_counter
from typing import Any

from ._batch import Batch, Index
from ._channel import Channel
from ._pending import Pending

Emit = Callable[[Batch], Awaitable[None]]
IndexOf = Callable[[int], Index]

SLOW_ITEM_SECONDS = 0.0005
PULLED_CHUNK_AGE_SECONDS = 0.002
_CONTAINERS = (list, tuple, range, str, bytes, dict, set, frozenset)


class Emitter:
    """Emits chunks to ``emit``; ``limit`` caps a chunk, ``starving`` says a consumer waits.

    ``max_age`` (pulled outputs, which have no ``starving`` signal) turns on the ramp and the
    age limit described in the module docstring. ``shared`` (eager outputs to one channel) is
    that channel and its mapper, for pending chunks; ``room`` says how much that output can take.
    """

    def __init__(
        self,
        emit: Emit,
        limit: int,
        starving: Callable[[], bool],
        max_age: float | None = None,
        eager: bool = False,
        shared: tuple[Channel, Callable[[Batch], Batch] | None] | None = None,
        room: Callable[[], float] | None = None,
    ) -> None:
        self.emit = emit
        self.limit = max(1, limit)
        self.starving = starving
        self.max_age = max_age
        self.eager = eager
        self.shared = shared if eager else None
        self.room = room
        self._ramp = 1

    async def iterable(self, items: Iterable[Any], index_of: IndexOf, start: int = 0) -> int:
        """Emit every item of ``items``; return how many there were."""
        if isinstance(items, _CONTAINERS):
            return await self._container(items, index_of, start)
        if self.max_age is not None:
            return await self._pulled(items, index_of, start, self.max_age)
        if self.shared is not None:
            return await self._shared(items, index_of, start, self.shared)
        if self.eager:
            position = start
            for value in items:
                await self.emit(Batch([index_of(position)], [value]))
                position += 1
            return position - start
        limit, starving = self.limit, self.starving
        values: list[Any] = []
        append = values.append
        position = start
        before = perf_counter()
        for value in items:
            now = perf_counter()
            append(value)
            if len(values) >= limit or now - before > SLOW_ITEM_SECONDS or starving():
                end = position + len(values)
                await self.emit(Batch(_indices(index_of, position, end), values))
                position = end
                values = []
                append = values.append
                now = perf_counter()
            before = now
        end = position + len(values)
        if values:
            await self.emit(Batch(_indices(index_of, position, end), values))
        return end - start

    def _chunk_limit(self) -> int:
        """A chunk holds no more than the output can take now (its bound counts the chunk)."""
        if self.room is None:
            return self.limit
        return max(1, min(self.limit, int(min(self.room(), self.limit))))

    async def _shared(
        self,
        items: Iterable[Any],
        index_of: IndexOf,
        start: int,
        shared: tuple[Channel, Callable[[Batch], Batch] | None],
    ) -> int:
        """:meth:`iterable` into one channel, through a pending chunk its consumers can take."""
        channel, mapper = shared
        pending = Pending(None if index_of is top_level else index_of, start, mapper)
        values = pending.values
        # each item is appended to the pending chunk by C code as the iterable yields it (so a
        # consumer can take it at once); the loop below only checks for a waiting consumer
        exhausted: list[bool] = []
        appended = map(values.append, chain(items, _note_end(exhausted)))
        getters = channel.getters
        emit = self.emit
        channel.attach(pending)
        try:
            while not exhausted:
                for _ in islice(appended, max(1, self._chunk_limit() - len(values))):
                    if getters:
                        break
                batch = channel.take_pending(pending)  # full, a consumer waits, or the end
                if batch is not None:
                    await emit(batch)
        finally:
            rest = channel.detach(pending)
        if rest is not None:
            await emit(rest)
        return pending.start - start

    async def _pulled(
        self, items: Iterable[Any], index_of: IndexOf, start: int, max_age: float
    ) -> int:
        """:meth:`iterable` for a pulled output: ramping chunks, none older than ``max_age``."""
        limit = self.limit
        values: list[Any] = []
        append = values.append
        position = start
        before = first = perf_counter()
        for value in items:
            now = perf_counter()
            append(value)
            if now - before > SLOW_ITEM_SECONDS:
                self._ramp = 1
            elif len(values) >= self._ramp:
                self._ramp = min(limit, 2 * self._ramp)
            elif now - first <= max_age:
                before = now
                continue
            end = position + len(values)
            await self.emit(Batch(_indices(index_of, position, end), values))
            position = end
            values = []
            append = values.append
            before = first = perf_counter()
        end = position + len(values)
        if values:
            await self.emit(Batch(_indices(index_of, position, end), values))
        return end - start

    async def async_iterable(
        self, items: AsyncIterable[Any], index_of: IndexOf, start: int = 0
    ) -> int:
        """Emit every item of an async iterable; return how many there were."""
        if self.eager:
            position = start
            async for value in items:
                await self.emit(Batch([index_of(position)], [value]))
                position += 1
            return position - start
        limit, starving = self.limit, self.starving
        values: list[Any] = []
        position = start
        before = perf_counter()
        async for value in items:
            now = perf_counter()
            values.append(value)
            if len(values) >= limit or now - before > SLOW_ITEM_SECONDS or starving():
                end = position + len(values)
                await self.emit(Batch(_indices(index_of, position, end), values))
                position = end
                values = []
                now = perf_counter()
            before = now
        end = position + len(values)
        if values:
            await self.emit(Batch(_indices(index_of, position, end), values))
        return end - start

    async def _container(self, items: Iterable[Any], index_of: IndexOf, start: int) -> int:
        iterator = iter(items)
        position = start
        while True:
            values = list(islice(iterator, self.limit))
            if not values:
                return position - start
            end = position + len(values)
            indices = _indices(index_of, position, end)
            position = end
            await self.emit(Batch(indices, values))


def _note_end(exhausted: list[bool]) -> Iterator[Any]:
    """An empty iterator that notes, when it is reached, that the one before it has ended."""
    exhausted.append(True)
    yield from ()


def _indices(index_of: IndexOf, start: int, end: int) -> list[Index]:
    """The indices of positions ``start`` to ``end`` (excluded)."""
    if index_of is top_level:
        return list(range(start, end))
    return [index_of(position) for position in range(start, end)]


def top_level(position: int) -> Index:
    """Index function of a source: the position itself."""
    return position
