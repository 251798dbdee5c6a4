"""Bounded channels between workers, usable from threads and from asyncio tasks alike.

A :class:`Channel` is a FIFO of elements with a capacity counted in elements (0 = unbounded).
Producers put whole batches; consumers take *what is there*, up to a limit, so a busy stage moves
many elements per lock round-trip while an idle one still gets each element at once (batching
never waits to fill a batch).

End of stream: every producer calls :meth:`Channel.producer_done`; once all have and the channel
is empty, ``get`` returns ``None``. Cancellation: :meth:`Channel.cancel` wakes every waiter on both
sides with :class:`Cancelled`; the supervisor cancels all channels of a run when anything fails
or the consumer stops early, which is how workers blocked on a full or empty channel get out.

Blocked callers wait on a private lock (threads) or future (tasks), so a thread, an asyncio task
in any event loop, and the consumer can share one channel; nothing polls.

Exact bounds: the capacity covers the elements in the channel, the room a producing worker has
*reserved* for the results of the batch in its hands (:meth:`Channel.reserve`, before it calls
the user's function), and what the final consumer *holds*: a batch it took with ``hold=True``
counts, but for the element it is handing out, until it asks again. So ``maxsize`` bounds
everything a stage has computed ahead of its consumer.

Pending chunks: a producer that reads a generator gathers its items in a :class:`Pending` chunk
attached to the channel and puts the chunk when it is full or when a consumer waits. A consumer
that finds the channel empty takes ("steals") what a pending chunk holds instead of waiting, so
items gathered just before the generator paused (a quiet stream) are never held back, while a
fast generator still moves in chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ._batch import Batch, Index, Mark
from ._pending import Pending
from ._stats import StageCounters


class Cancelled(Exception):
    """The run this channel belongs to was stopped; the waiter should unwind quietly."""


class _ThreadWaiter:
    __slots__ = ("_lock", "woken")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()
        self.woken = False

    def wake(self) -> None:
        self.woken = True
        self._lock.release()

    def wait(self) -> None:
        self._lock.acquire()


class _TaskWaiter:
    __slots__ = ("_future", "_loop", "woken")

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._future: asyncio.Future[None] = self._loop.create_future()
        self.woken = False

    def wake(self) -> None:
        self.woken = True
        if asyncio._get_running_loop() is self._loop:
            self._resolve()
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                self._loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self._future.done():
            self._future.set_result(None)

    async def wait(self) -> None:
        await self._future


_Waiter = _ThreadWaiter | _TaskWaiter


class Channel:
    """A bounded, cancellable, multi-producer multi-consumer queue of elements.

    Args:
        capacity: how many elements (and marks) it holds before ``put`` blocks; 0 = unbounded.
        producers: how many producers will call ``producer_done``.
        mapper: optional function applied to each batch as it is put (used by ``concat``).
    """

    def __init__(
        self,
        capacity: int,
        producers: int,
        mapper: Callable[[Batch], Batch] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._chunks: deque[tuple[list[Index], list[Any]]] = deque()
        self._head = 0
        self._count = 0
        self._reserved = 0
        self._held = 0
        self._pending: list[Pending] = []
        self._marks: list[Mark] = []
        self._capacity = capacity if capacity > 0 else math.inf
        self._producers = producers
        self._getters: deque[_Waiter] = deque()
        self._putters: deque[_Waiter] = deque()
        self.getters = self._getters  # read by producers: a consumer is waiting when non-empty
        self._cancelled = False
        self.mapper = mapper
        self.taken = 0  # elements handed to consumers so far (read without the lock: a hint)
        self.gauge: StageCounters | None = None  # its consumer's counters: the queue's fill

    # -- state ---------------------------------------------------------------------------

    @property
    def capacity(self) -> float:
        """The capacity in elements (``math.inf`` when unbounded)."""
        return self._capacity

    @property
    def starving(self) -> bool:
        """True while a consumer is blocked waiting for elements (a hint to flush early)."""
        return bool(self._getters)

    @property
    def bounded(self) -> bool:
        return self._capacity != math.inf

    def __len__(self) -> int:
        return self._count + len(self._marks)

    def occupied(self) -> float:
        """How much of the capacity is in use (queued, reserved, held): a hint, read without
        the lock; equal to :attr:`capacity` while producers wait for room."""
        return self._count + len(self._marks) + self._reserved + self._held

    def room(self) -> float:
        """How many elements could be put or reserved now (a hint: read without the lock)."""
        return self._capacity - self._count - len(self._marks) - self._reserved - self._held

    def _room(self) -> float:
        return self._capacity - self._count - len(self._marks) - self._reserved - self._held

    def add_producers(self, n: int) -> None:
        """Register ``n`` more producers (before any of them starts)."""
        with self._lock:
            self._producers += n

    def producer_done(self) -> None:
        """One producer has finished; the last one ends the stream."""
        with self._lock:
            self._producers -= 1
            if self._producers <= 0:
                self._wake_all(self._getters)

    def cancel(self) -> None:
        """Stop the channel: every blocked or future ``get``/``put`` raises :class:`Cancelled`."""
        with self._lock:
            self._cancelled = True
            self._wake_all(self._getters)
            self._wake_all(self._putters)

    # -- put ---------------------------------------------------------------------------

    def put(self, batch: Batch, reserved: int = 0) -> None:
        """Put a whole batch, blocking while the channel is full.

        ``reserved``: how many of the batch's elements go into room reserved before
        (:meth:`reserve`); those never wait.
        """
        if self.mapper is not None:
            batch = self.mapper(batch)
        position = 0
        while True:
            position, waiter = self._put_or_wait(batch, position, _ThreadWaiter, reserved)
            if waiter is None:
                return
            reserved = 0
            self._wait_blocking(waiter, self._putters)

    async def aput(self, batch: Batch, reserved: int = 0) -> None:
        """Put a whole batch, waiting (without blocking the event loop) while full."""
        if self.mapper is not None:
            batch = self.mapper(batch)
        position = 0
        while True:
            position, waiter = self._put_or_wait(batch, position, _TaskWaiter, reserved)
            if waiter is None:
                return
            reserved = 0
            await self._wait_async(waiter, self._putters)

    def _put_or_wait(
        self,
        batch: Batch,
        position: int,
        make_waiter: Callable[[], _Waiter],
        reserved: int = 0,
    ) -> tuple[int, _Waiter | None]:
        values = batch.values
        with self._lock:
            if self._cancelled:
                raise Cancelled
            if reserved:
                self._reserved -= reserved
            room = self._room()
            if room > 0:
                remaining = len(values) - position
                if remaining > 0:
                    take = remaining if remaining <= room else int(room)
                    if position == 0 and take == remaining:
                        self._chunks.append((batch.indices, values))
                    else:
                        end = position + take
                        self._chunks.append((batch.indices[position:end], values[position:end]))
                    self._count += take
                    if self.gauge is not None:
                        self.gauge.set_queue(self._count)
                    position += take
                    self._wake_some(self._getters, take)
                if position >= len(values):
                    if batch.marks:
                        self._marks.extend(batch.marks)
                        self._wake_some(self._getters, 1)
                    return position, None
            waiter = make_waiter()
            self._putters.append(waiter)
            return position, waiter

    # -- reserving room ------------------------------------------------------------------

    def reserve(self, n: int) -> None:
        """Reserve room for ``n`` elements (at most the capacity), blocking until there is."""
        while (waiter := self._reserve_or_wait(n, _ThreadWaiter)) is not None:
            self._wait_blocking(waiter, self._putters)

    async def areserve(self, n: int) -> None:
        """Async form of :meth:`reserve`."""
        while (waiter := self._reserve_or_wait(n, _TaskWaiter)) is not None:
            await self._wait_async(waiter, self._putters)

    def _reserve_or_wait(self, n: int, make_waiter: Callable[[], _Waiter]) -> _Waiter | None:
        with self._lock:
            if self._cancelled:
                raise Cancelled
            if n <= 0 or self._room() >= min(n, self._capacity):
                self._reserved += n
                return None
            waiter = make_waiter()
            self._putters.append(waiter)
            return waiter

    def release(self, n: int) -> None:
        """Give back ``n`` reserved elements' room that will not be used."""
        if n <= 0:
            return
        with self._lock:
            self._reserved -= n
            self._wake_all(self._putters)

    # -- pending chunks ------------------------------------------------------------------

    def attach(self, pending: Pending) -> None:
        """Make a producer's chunk in progress visible to this channel's consumers."""
        with self._lock:
            self._pending.append(pending)

    def detach(self, pending: Pending) -> Batch | None:
        """The producer is done with ``pending``: return (and forget) what is left in it."""
        with self._lock:
            with contextlib.suppress(ValueError):
                self._pending.remove(pending)
            return pending.take(math.inf)

    def take_pending(self, pending: Pending) -> Batch | None:
        """The producer flushes its chunk: everything in it, or ``None`` if consumers took it."""
        with self._lock:
            return pending.take(math.inf)

    # -- get ---------------------------------------------------------------------------

    def get(self, limit: int, share: int = 1, hold: bool = False) -> Batch | None:
        """Take up to ``limit`` elements (and all pending marks); ``None`` at end of stream.

        ``share`` is the number of consumers of this channel: a consumer takes at most its fair
        share of what is there, so one worker does not swallow work its siblings could run.
        ``hold`` (the final consumer, which hands elements out one by one): the batch taken
        keeps occupying room, but for the element handed out first, until the next ``get``.
        """
        while True:
            batch, waiter = self._get_or_wait(limit, share, _ThreadWaiter, hold)
            if waiter is None:
                return batch
            self._wait_blocking(waiter, self._getters)

    async def aget(self, limit: int, share: int = 1, hold: bool = False) -> Batch | None:
        """Async form of :meth:`get`."""
        while True:
            batch, waiter = self._get_or_wait(limit, share, _TaskWaiter, hold)
            if waiter is None:
                return batch
            await self._wait_async(waiter, self._getters)

    def _get_or_wait(
        self, limit: int, share: int, make_waiter: Callable[[], _Waiter], hold: bool = False
    ) -> tuple[Batch | None, _Waiter | None]:
        with self._lock:
            if self._cancelled:
                raise Cancelled
            if hold and self._held:
                self._held = 0
                self._wake_all(self._putters)
            batch: Batch | None = None
            if self._count or self._marks:
                wanted = min(limit, max(1, -(-self._count // share))) if share > 1 else limit
                batch = self._take(wanted)
                self._wake_all(self._putters)
                if self._count and self._getters:
                    self._wake_some(self._getters, 1)
            elif self._pending:
                batch = self._steal(limit, share)
            if batch is not None:
                self.taken += len(batch.values)
                if hold and batch.values:
                    self._held = len(batch.values) - 1
                return batch, None
            if self._producers <= 0:
                return None, None
            waiter = make_waiter()
            self._getters.append(waiter)
            return None, waiter

    def _steal(self, limit: int, share: int) -> Batch | None:
        """Take from a producer's pending chunk (the channel itself is empty)."""
        for pending in self._pending:
            n = len(pending.values)
            if n:
                wanted = min(limit, max(1, -(-n // share))) if share > 1 else limit
                batch = pending.take(wanted)
                if batch is not None and pending.mapper is not None:
                    batch = pending.mapper(batch)
                return batch
        return None

    def _take(self, wanted: int) -> Batch:
        chunks = self._chunks
        indices: list[Index] = []
        values: list[Any] = []
        need = min(wanted, self._count)
        self._count -= need
        if self.gauge is not None:
            self.gauge.set_queue(self._count)
        while need:
            chunk_indices, chunk_values = chunks[0]
            head = self._head
            available = len(chunk_values) - head
            if available <= need:
                if head == 0 and not values:
                    indices, values = chunk_indices, chunk_values
                    if need > available:
                        indices, values = list(indices), list(values)
                else:
                    indices.extend(chunk_indices[head:])
                    values.extend(chunk_values[head:])
                chunks.popleft()
                self._head = 0
                need -= available
            else:
                indices.extend(chunk_indices[head : head + need])
                values.extend(chunk_values[head : head + need])
                self._head = head + need
                need = 0
        marks = self._marks
        if marks:
            self._marks = []
            return Batch(indices, values, marks)
        return Batch(indices, values)

    # -- waiting -----------------------------------------------------------------------

    def _wake_some(self, waiters: deque[_Waiter], n: int) -> None:
        while waiters and n > 0:
            waiters.popleft().wake()
            n -= 1

    def _wake_all(self, waiters: deque[_Waiter]) -> None:
        while waiters:
            waiters.popleft().wake()

    def _abandon(self, waiter: _Waiter, waiters: deque[_Waiter]) -> None:
        """A waiter gave up (KeyboardInterrupt, task cancelled): pass on a wake-up it got."""
        with self._lock:
            if waiter.woken:
                self._wake_some(waiters, 1)
            else:
                with contextlib.suppress(ValueError):
                    waiters.remove(waiter)

    def _wait_blocking(self, waiter: _Waiter, waiters: deque[_Waiter]) -> None:
        assert isinstance(waiter, _ThreadWaiter)
        try:
            waiter.wait()
        except BaseException:
            self._abandon(waiter, waiters)
            raise

    async def _wait_async(self, waiter: _Waiter, waiters: deque[_Waiter]) -> None:
        assert isinstance(waiter, _TaskWaiter)
        try:
            await waiter.wait()
        except BaseException:
            self._abandon(waiter, waiters)
            raise
