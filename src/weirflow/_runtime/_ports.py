"""The ports a worker reads from and writes to: channels (blocking or async), or its consumer.

* :class:`BlockingInput` / :class:`AsyncInput` read a channel from a thread or an asyncio task;
  :class:`PullInput` pulls batches from an iterator (the ``sync`` back end).
* :class:`BlockingOutput` / :class:`AsyncOutput` write to every downstream channel (broadcast).
  One per worker: it keeps the room the worker reserved for the results of its batch in hand.
* :class:`HandoffOutput` suspends the worker coroutine and hands each batch to whoever drives it.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Generator, Iterator
from time import perf_counter
from typing import Protocol

from ._batch import Batch
from ._channel import Channel
from ._emit import PULLED_CHUNK_AGE_SECONDS

MAX_BATCH = 1024
TASK_SLICE_SECONDS = 0.002
Mapper = Callable[[Batch], Batch] | None


class InputPort(Protocol):
    async def get(self, limit: int) -> Batch | None: ...

    def close(self) -> None: ...


class OutputPort(Protocol):
    limit: int
    max_chunk_age: float | None  # set for pulled outputs: see ``Emitter``
    eager: bool  # emit each item of a generic iterable at once: see ``Emitter``
    bounded: bool  # some target has a capacity: reserve room before computing results
    shared: tuple[Channel, Mapper] | None  # the one target channel, for pending chunks

    def starving(self) -> bool: ...

    def room(self) -> float: ...

    async def reserve(self, n: int) -> None: ...

    def settle(self) -> None: ...

    async def put(self, batch: Batch) -> None: ...

    def done(self) -> None: ...


class BlockingInput:
    """Reads a channel, blocking the calling thread."""

    def __init__(self, channel: Channel, share: int) -> None:
        self._channel = channel
        self._share = share

    async def get(self, limit: int) -> Batch | None:
        return self._channel.get(limit, self._share)

    def close(self) -> None:
        """Channels are closed by the supervisor."""


class AsyncInput(BlockingInput):
    """Reads a channel from an asyncio task.

    A task whose input always has work (a fast source, a pending chunk to take) would never
    suspend, and starve every other task of its loop (the consumer of ``async for`` among them):
    it yields to the loop once per :data:`TASK_SLICE_SECONDS` (2 ms).
    """

    def __init__(self, channel: Channel, share: int) -> None:
        super().__init__(channel, share)
        self._slice_started = perf_counter()

    async def get(self, limit: int) -> Batch | None:
        if perf_counter() - self._slice_started > TASK_SLICE_SECONDS:
            await asyncio.sleep(0)  # at most once per slice, suspended in between or not
            self._slice_started = perf_counter()
        return await self._channel.aget(limit, self._share)


class PullInput:
    """Pulls batches from an iterator (the ``sync`` back end)."""

    def __init__(self, batches: Iterator[Batch]) -> None:
        self._batches = batches

    async def get(self, limit: int) -> Batch | None:
        return next(self._batches, None)

    def close(self) -> None:
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


def _capacity_limit(targets: list[tuple[Channel, Mapper]]) -> int:
    capacity = min((channel.capacity for channel, _ in targets), default=MAX_BATCH)
    return int(min(capacity, MAX_BATCH))


class BlockingOutput:
    """Writes to every downstream channel (broadcast), blocking while one is full.

    One per worker: it remembers the room the worker reserved (:meth:`reserve`) for the results
    of the batch in its hands, which its puts then use; :meth:`settle` gives back the rest.
    """

    max_chunk_age: float | None = None
    eager = True

    def __init__(self, targets: list[tuple[Channel, Mapper]]) -> None:
        self._targets = targets
        self.limit = _capacity_limit(targets)
        self.bounded = any(channel.bounded for channel, _ in targets)
        self.shared = targets[0] if len(targets) == 1 else None
        self._reserved = 0

    def starving(self) -> bool:
        return any(channel.starving for channel, _ in self._targets)

    def room(self) -> float:
        return min((channel.room() for channel, _ in self._targets), default=math.inf)

    async def reserve(self, n: int) -> None:
        self.reserve_blocking(n)
        self._reserved += n

    def reserve_blocking(self, n: int) -> None:
        """Reserve room for ``n`` results in every target (the caller keeps the count)."""
        done: list[Channel] = []
        try:
            for channel, _ in self._targets:
                if channel.bounded:
                    channel.reserve(n)
                    done.append(channel)
        except BaseException:
            for channel in done:
                channel.release(n)
            raise

    def release(self, n: int) -> None:
        """Give back ``n`` reserved results' room in every target."""
        for channel, _ in self._targets:
            if channel.bounded:
                channel.release(n)

    def settle(self) -> None:
        if self._reserved:
            self.release(self._reserved)
            self._reserved = 0

    def _use(self, batch: Batch) -> int:
        use = min(self._reserved, reserved_need(batch))
        self._reserved -= use
        return use

    async def put(self, batch: Batch) -> None:
        self.put_blocking(batch, self._use(batch))

    def put_blocking(self, batch: Batch, reserved: int = 0) -> None:
        """Put ``batch`` in every target, ``reserved`` of its elements into reserved room."""
        for channel, mapper in self._targets:
            channel.put(mapper(batch) if mapper else batch, reserved if channel.bounded else 0)

    def done(self) -> None:
        self.settle()
        for channel, _ in self._targets:
            channel.producer_done()


def reserved_need(batch: Batch) -> int:
    """How much reserved room a put of ``batch`` can use: a batch of marks alone needs a slot
    (marks count against the capacity), which must not wait on the producer's own reservation."""
    return len(batch.values) or (1 if batch.marks else 0)


class AsyncOutput(BlockingOutput):
    """Writes to every downstream channel from an asyncio task."""

    async def reserve(self, n: int) -> None:
        done: list[Channel] = []
        try:
            for channel, _ in self._targets:
                if channel.bounded:
                    await channel.areserve(n)
                    done.append(channel)
        except BaseException:
            for channel in done:
                channel.release(n)
            raise
        self._reserved += n

    async def put(self, batch: Batch) -> None:
        reserved = self._use(batch)
        for channel, mapper in self._targets:
            await channel.aput(
                mapper(batch) if mapper else batch, reserved if channel.bounded else 0
            )


class _Handoff:
    __slots__ = ("batch",)

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __await__(self) -> Generator[_Handoff, None, None]:
        yield self


class UnreservedOutput:
    """An output with no room to reserve: whatever takes its batches bounds the work ahead.

    The base of outputs whose batches are taken by a consumer that is always pulling (a handoff)
    or that reserves room downstream itself (a worker process's parent).
    """

    eager = False
    bounded = False
    shared: tuple[Channel, Mapper] | None = None

    def starving(self) -> bool:
        return False

    def room(self) -> float:
        return math.inf

    async def reserve(self, n: int) -> None:
        pass

    def settle(self) -> None:
        pass


class HandoffOutput(UnreservedOutput):
    """Suspends the worker coroutine and hands the batch to whoever drives it.

    The consumer is pulling whenever the worker runs, so "starving" says nothing here; iterables
    are chunked by the ramp and the age limit of a pulled :class:`Emitter` instead. Nothing is
    computed ahead of the consumer: it pulls each batch.
    """

    max_chunk_age: float | None = PULLED_CHUNK_AGE_SECONDS

    def __init__(self, capacity: int = 0) -> None:
        self.limit = min(capacity, MAX_BATCH) if capacity > 0 else MAX_BATCH

    async def put(self, batch: Batch) -> None:
        await _Handoff(batch)

    def done(self) -> None:
        pass
