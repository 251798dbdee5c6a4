"""Named streams between the pipelines of one flow: ``send("stream", name=...)`` in one,
``with_stream_connector(name)`` as the continuous source of another.

The interface is a broker's (:class:`Broker`: ``publish``, ``subscribe``, ``close``) so the same two
lines can later cross machines through a real broker. Two local brokers exist: one for pipelines
in threads (bounded queues: a full stream blocks its publishers, which is backpressure; closing
wakes them) and one for pipelines in processes (bounded multiprocessing queues; a closed flag in
shared memory, which publishers and subscribers look at every half second while they wait). A
stream ends for its reader once every pipeline writing to it has finished. A subscriber takes
one item at a time, so when its run stops (``interrupt``: a restart) no item is held in it.
Senders and sources find their flow's broker by the flow's id, in whichever process they run.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from .._interfaces import Sender, Source

STREAM_MAXSIZE = 1000
_TAKE = 256  # items a subscription takes at once (handed back if it stops early)
_PUT_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class StreamStatistics:
    """One stream between pipelines: items waiting and its capacity (0: unbounded); with a
    broker that has them, ``pending`` (delivered, not yet acknowledged), ``lag`` (not yet
    delivered to its readers) and ``dead_letters``."""

    name: str
    length: int
    capacity: int
    pending: int | None = None
    lag: int | None = None
    dead_letters: int | None = None


class Broker(ABC):
    """Named, bounded, first-in-first-out streams.

    A stream ends (its subscriber's iteration returns) once every pipeline that writes to it
    has called :meth:`finish`, or when the broker closes.
    """

    @abstractmethod
    def publish(self, stream: str, item: Any) -> None:
        """Add ``item`` to ``stream``, waiting while the stream is full."""

    @abstractmethod
    def subscribe(self, stream: str) -> Iterator[Any]:
        """Items of ``stream`` as they arrive, until the broker closes."""

    @abstractmethod
    def finish(self, stream: str) -> None:
        """One writer of ``stream`` will publish no more."""

    @abstractmethod
    def close(self) -> None:
        """Stop every publisher and subscriber."""

    def interrupt(self, stream: str) -> None:  # noqa: B027 - optional
        """Make the subscription of ``stream`` in progress return soon (it may subscribe again)."""

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        """Every stream's statistics now (safe from any thread; takes no lock a publisher holds
        for long). A broker that cannot tell returns ``()``."""
        return ()


class _StreamQueue:
    """A bounded FIFO with a number of writers; ``interrupt`` wakes the reader, ``close`` all."""

    def __init__(self, maxsize: int, writers: int) -> None:
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        self._writers = writers
        self._closed = False
        self._interrupts = 0
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)

    def __len__(self) -> int:
        return len(self._items)  # no lock: one read of a deque's length

    @property
    def maxsize(self) -> int:
        return self._maxsize

    def put(self, item: Any) -> bool:
        with self._not_full:
            while not self._closed and self._maxsize and len(self._items) >= self._maxsize:
                self._not_full.wait()
            if self._closed:
                return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def get(self, interrupts: int, limit: int) -> list[Any]:
        """Up to ``limit`` items, waiting for one; ``[]``: closed, ended or interrupted."""
        with self._not_empty:
            while (
                not self._items
                and not self._closed
                and self._writers > 0
                and self._interrupts == interrupts
            ):
                self._not_empty.wait()
            if self._closed or not self._items or self._interrupts != interrupts:
                return []
            items = self._items
            taken = [items.popleft() for _ in range(min(limit, len(items)))]
            self._not_full.notify_all()
            return taken

    def unget(self, items: list[Any]) -> None:
        """Put back, first in line, what a subscription took but did not hand over."""
        with self._not_empty:
            self._items.extendleft(reversed(items))
            self._not_empty.notify()

    @property
    def interrupts(self) -> int:
        with self._not_empty:
            return self._interrupts

    def writer_done(self) -> None:
        with self._not_empty:
            self._writers -= 1
            self._not_empty.notify_all()

    def interrupt(self) -> None:
        with self._not_empty:
            self._interrupts += 1
            self._not_empty.notify_all()

    def close(self) -> None:
        with self._not_empty:
            self._closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()


class ThreadBroker(Broker):
    """Streams between pipelines running in threads of one process."""

    def __init__(self, writers: Mapping[str, int], maxsize: int = STREAM_MAXSIZE) -> None:
        self._queues = {name: _StreamQueue(maxsize, n) for name, n in writers.items()}

    def publish(self, stream: str, item: Any) -> None:
        if not self._queues[stream].put(item):
            raise StreamClosed(stream)

    def subscribe(self, stream: str) -> Iterator[Any]:
        target = self._queues[stream]
        return self._subscription(target, target.interrupts)  # interrupts from now on count

    @staticmethod
    def _subscription(target: _StreamQueue, interrupts: int) -> Iterator[Any]:
        taken: list[Any] = []
        position = 0
        try:
            while True:
                taken, position = target.get(interrupts, _TAKE), 0
                if not taken:
                    return
                while position < len(taken):
                    item = taken[position]
                    position += 1
                    yield item
        finally:  # stopped early (a restart): nothing taken is lost
            if position < len(taken):
                target.unget(taken[position:])

    def finish(self, stream: str) -> None:
        self._queues[stream].writer_done()

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        return tuple(
            StreamStatistics(name, len(target), target.maxsize)
            for name, target in self._queues.items()
        )

    def interrupt(self, stream: str) -> None:
        self._queues[stream].interrupt()

    def close(self) -> None:
        for target in self._queues.values():
            target.close()


class ProcessBroker(Broker):
    """Streams between pipelines running in separate processes (made before they start)."""

    def __init__(
        self, writers: Mapping[str, int], context: BaseContext, maxsize: int = STREAM_MAXSIZE
    ) -> None:
        self._queues: dict[str, Any] = {name: context.Queue(maxsize) for name in writers}
        self._maxsize = maxsize
        self._writers = dict(writers)
        self._closed = context.RawValue("b", 0)  # shared memory: no lock, nothing to leak
        self._interrupts: dict[str, int] = {}  # of this process's subscriptions

    def publish(self, stream: str, item: Any) -> None:
        target = self._queues[stream]
        while not self._closed.value:
            try:
                target.put(item, timeout=_PUT_CHECK_SECONDS)
                return
            except queue.Full:
                continue
        raise StreamClosed(stream)

    def subscribe(self, stream: str) -> Iterator[Any]:
        # interrupts from now on count
        return self._subscription(stream, self._interrupts.get(stream, 0))

    def _subscription(self, stream: str, interrupts: int) -> Iterator[Any]:
        source = self._queues[stream]
        while (
            not self._closed.value
            and self._interrupts.get(stream, 0) == interrupts
            and self._writers[stream] > 0  # this process's count: a later subscription keeps it
        ):
            try:
                item = source.get(timeout=_PUT_CHECK_SECONDS)
            except queue.Empty:
                continue  # look at the closed flag again
            if isinstance(item, _EndOfStream):
                self._writers[stream] -= 1
                continue
            yield item

    def finish(self, stream: str) -> None:
        self._queues[stream].put(_EndOfStream())

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        found = []
        for name, target in self._queues.items():
            try:
                length = target.qsize()
            except NotImplementedError:  # macOS has no sem_getvalue
                length = 0
            found.append(StreamStatistics(name, length, self._maxsize))
        return tuple(found)

    def interrupt(self, stream: str) -> None:
        """The subscription sees it within half a second."""
        self._interrupts[stream] = self._interrupts.get(stream, 0) + 1

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_interrupts": {}}

    def close(self) -> None:
        """Publishers and subscribers see the flag within half a second."""
        self._closed.value = 1


class _EndOfStream:
    """Marks the end of one writer in a multiprocessing queue."""


class StreamClosed(Exception):
    """The flow stopped while an item waited to enter a full stream."""

    def __init__(self, stream: str) -> None:
        super().__init__(f"stream {stream!r} closed")


_brokers: dict[str, Broker] = {}
_brokers_lock = threading.Lock()


def register_broker(flow_id: str, broker: Broker) -> None:
    with _brokers_lock:
        _brokers[flow_id] = broker


def unregister_broker(flow_id: str) -> None:
    with _brokers_lock:
        _brokers.pop(flow_id, None)


def _broker(flow_id: str) -> Broker:
    with _brokers_lock:
        try:
            return _brokers[flow_id]
        except KeyError:
            raise RuntimeError("streams are only available while their flow runs") from None


class StreamSender(Sender):
    """Publishes items to a named stream of the flow."""

    def __init__(self, flow_id: str, name: str) -> None:
        self.flow_id = flow_id
        self.name = name

    def send(self, item: Any) -> None:
        _broker(self.flow_id).publish(self.name, item)

    def __repr__(self) -> str:
        return f"StreamSender(stream={self.name!r})"


class StreamSource(Source):
    """Reads a named stream of the flow, for as long as the flow runs."""

    continuous = True

    _unpicklable = ("_lock",)

    def __init__(self, flow_id: str, name: str) -> None:
        self.flow_id = flow_id
        self.name = name
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._closed = False

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        with self._lock:  # a close() cannot fall between the check and the subscription
            if self._closed:
                return iter(())
            return _broker(self.flow_id).subscribe(self.name)

    def interrupt_read(self) -> None:
        """Make a ``read`` in progress return soon (for a restart of its pipeline)."""
        _broker(self.flow_id).interrupt(self.name)

    def close(self) -> None:
        """End a ``read`` in progress (from any thread); a later ``read`` yields nothing."""
        with self._lock:
            self._closed = True
            with _brokers_lock:
                broker = _brokers.get(self.flow_id)
            if broker is not None:
                broker.interrupt(self.name)

    def __repr__(self) -> str:
        return f"StreamSource(stream={self.name!r})"
