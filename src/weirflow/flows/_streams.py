"""Named streams between the pipelines of one flow: ``send("stream", name=...)`` in one,
``with_stream_connector(name)`` as the continuous source of another.

The interface is a broker's (:class:`Broker`: ``publish``, ``subscribe``, ``finish``, ``close``)
so the same two lines cross machines through a real broker (``_redis_broker.py``). Two local
brokers live here: one for pipelines in threads (bounded queues: a full stream blocks its
publishers, which is backpressure; closing wakes them) and one for pipelines in processes
(bounded multiprocessing queues; a closed flag in shared memory, which publishers and
subscribers look at every half second while they wait). Every pipeline reading a stream gets
every item (fan-out: one queue per reader). A stream ends for its readers once every pipeline
writing to it has finished. A subscriber takes one item at a time, so when its run stops
(``interrupt``: a restart) no item is held in it. Senders and sources find their flow's broker
by the flow's id, in whichever process they run.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from typing import Any

from .._errors import PayloadError
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


@dataclass(frozen=True)
class ReadOptions:
    """How a pipeline reads a stream through a broker that redelivers (Redis).

    Attributes:
        claim_idle_seconds: an entry another consumer took and has not acknowledged for this
            long is claimed (its consumer died); a live consumer keeps its claims fresh.
        max_deliveries: an entry is tried at most this many times, then it goes to the
            stream's dead letters.
        in_flight: the most entries this consumer holds unacknowledged.
        adapt_in_flight: hold fewer while the pipeline is slow, about 0.05 s of its work (at
            least ``least_in_flight``), so the consumers of a group share a backlog evenly;
            ``False`` when the stream connector was given ``maxsize=``.
        least_in_flight: the fewest an adapting reader holds: two per worker of the
            pipeline's stages (set when the flow is built), 16 at least.
    """

    claim_idle_seconds: float = 30.0
    max_deliveries: int = 5
    in_flight: int = 1000
    adapt_in_flight: bool = False
    least_in_flight: int = 0


class Broker(ABC):
    """Named, bounded, first-in-first-out streams; each reading pipeline gets every item.

    A stream ends (its subscriber's iteration returns) once every pipeline that writes to it
    has called :meth:`finish`, or when the broker closes. ``reader`` names the pipeline that
    subscribes: readers of one stream each get every item.
    """

    at_least_once = False  # whether subscriptions yield Delivery objects to acknowledge

    @abstractmethod
    def publish(self, stream: str, item: Any) -> None:
        """Add ``item`` to ``stream``, waiting while the stream is full."""

    def publish_many(self, stream: str, items: Sequence[Any]) -> None:
        """Add ``items`` in order (a broker across machines sends them as one batch)."""
        for item in items:
            self.publish(stream, item)

    @abstractmethod
    def subscribe(
        self, stream: str, reader: str = "", options: ReadOptions | None = None
    ) -> Iterator[Any]:
        """Items of ``stream`` for the pipeline ``reader`` as they arrive, until it ends."""

    @abstractmethod
    def finish(self, stream: str, writer: str = "") -> None:
        """One writer of ``stream`` (the pipeline ``writer``) will publish no more."""

    @abstractmethod
    def close(self) -> None:
        """Stop every publisher and subscriber."""

    def interrupt(self, stream: str, reader: str = "") -> None:  # noqa: B027 - optional
        """Make the subscription of ``stream`` in progress return soon (it may subscribe again)."""

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        """Every stream's statistics now (safe from any thread; takes no lock a publisher holds
        for long). A broker that cannot tell returns ``()``."""
        return ()

    def start(self, pipelines: Sequence[str]) -> None:  # noqa: B027 - optional
        """The flow's ``pipelines`` are about to run in this process (the supervisor's)."""

    def lease(self, pipeline: str, stop: threading.Event) -> AbstractContextManager[bool]:
        """While inside, ``pipeline`` may run here (``True``); a local broker always agrees.

        A broker shared by instances on several machines hands one instance at a time the
        lease of a pipeline that must not run twice (scheduled and once pipelines).
        """
        return nullcontext(True)

    def release(self) -> None:  # noqa: B027 - optional
        """After the runners of this process ended: hand in what is left, let connections go."""


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


def _readers(
    writers: Mapping[str, int], readers: Mapping[str, Sequence[str]] | None
) -> dict[str, tuple[str, ...]]:
    """Each stream's reading pipelines (one unnamed reader when not told)."""
    return {name: tuple((readers or {}).get(name, ("",))) for name in writers}


class ThreadBroker(Broker):
    """Streams between pipelines running in threads of one process (a queue per reader)."""

    def __init__(
        self,
        writers: Mapping[str, int],
        maxsize: int = STREAM_MAXSIZE,
        readers: Mapping[str, Sequence[str]] | None = None,
        maxsizes: Mapping[str, int] | None = None,
    ) -> None:
        self._queues = {
            (name, reader): _StreamQueue((maxsizes or {}).get(name, maxsize), writers[name])
            for name, names in _readers(writers, readers).items()
            for reader in names
        }
        self._by_stream: dict[str, list[_StreamQueue]] = {}
        for (name, _reader), target in self._queues.items():
            self._by_stream.setdefault(name, []).append(target)

    def publish(self, stream: str, item: Any) -> None:
        for target in self._by_stream[stream]:
            if not target.put(item):
                raise StreamClosed(stream)

    def subscribe(
        self, stream: str, reader: str = "", options: ReadOptions | None = None
    ) -> Iterator[Any]:
        target = self._queue(stream, reader)
        return self._subscription(target, target.interrupts)  # interrupts from now on count

    def _queue(self, stream: str, reader: str) -> _StreamQueue:
        found = self._queues.get((stream, reader))
        if found is None and len(self._by_stream[stream]) == 1:
            return self._by_stream[stream][0]  # one reader: whoever asks
        if found is None:
            raise KeyError(f"pipeline {reader!r} does not read stream {stream!r}")
        return found

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

    def finish(self, stream: str, writer: str = "") -> None:
        for target in self._by_stream[stream]:
            target.writer_done()

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        return tuple(  # what its slowest reader has waiting
            StreamStatistics(
                name,
                max(len(target) for target in targets),
                targets[0].maxsize,
            )
            for name, targets in self._by_stream.items()
        )

    def interrupt(self, stream: str, reader: str = "") -> None:
        self._queue(stream, reader).interrupt()

    def close(self) -> None:
        for target in self._queues.values():
            target.close()


class ProcessBroker(Broker):
    """Streams between pipelines running in separate processes (made before they start)."""

    def __init__(
        self,
        writers: Mapping[str, int],
        context: BaseContext,
        maxsize: int = STREAM_MAXSIZE,
        readers: Mapping[str, Sequence[str]] | None = None,
        maxsizes: Mapping[str, int] | None = None,
    ) -> None:
        self._readers = _readers(writers, readers)
        self._capacity = {name: (maxsizes or {}).get(name, maxsize) for name in self._readers}
        self._queues: dict[tuple[str, str], Any] = {
            (name, reader): context.Queue(self._capacity[name])
            for name, names in self._readers.items()
            for reader in names
        }
        self._writers = {key: writers[key[0]] for key in self._queues}
        self._closed = context.RawValue("b", 0)  # shared memory: no lock, nothing to leak
        self._interrupts: dict[tuple[str, str], int] = {}  # of this process's subscriptions

    def _key(self, stream: str, reader: str) -> tuple[str, str]:
        names = self._readers[stream]
        return (stream, names[0]) if reader not in names and len(names) == 1 else (stream, reader)

    def publish(self, stream: str, item: Any) -> None:
        for reader in self._readers[stream]:
            self._put(self._queues[stream, reader], stream, item)

    def _put(self, target: Any, stream: str, item: Any) -> None:
        while not self._closed.value:
            try:
                target.put(item, timeout=_PUT_CHECK_SECONDS)
                return
            except queue.Full:
                continue
        raise StreamClosed(stream)

    def subscribe(
        self, stream: str, reader: str = "", options: ReadOptions | None = None
    ) -> Iterator[Any]:
        key = self._key(stream, reader)
        return self._subscription(key, self._interrupts.get(key, 0))  # interrupts from now on

    def _subscription(self, key: tuple[str, str], interrupts: int) -> Iterator[Any]:
        source = self._queues[key]
        while (
            not self._closed.value
            and self._interrupts.get(key, 0) == interrupts
            and self._writers[key] > 0  # this process's count: a later subscription keeps it
        ):
            try:
                item = source.get(timeout=_PUT_CHECK_SECONDS)
            except queue.Empty:
                continue  # look at the closed flag again
            if isinstance(item, _EndOfStream):
                self._writers[key] -= 1
                continue
            yield item

    def finish(self, stream: str, writer: str = "") -> None:
        for reader in self._readers[stream]:
            self._queues[stream, reader].put(_EndOfStream())

    def stream_status(self) -> tuple[StreamStatistics, ...]:
        found = []
        for name, readers in self._readers.items():
            length = 0
            for reader in readers:
                with contextlib.suppress(NotImplementedError):  # macOS has no sem_getvalue
                    length = max(length, self._queues[name, reader].qsize())
            found.append(StreamStatistics(name, length, self._capacity[name]))
        return tuple(found)

    def interrupt(self, stream: str, reader: str = "") -> None:
        """The subscription sees it within half a second."""
        key = self._key(stream, reader)
        self._interrupts[key] = self._interrupts.get(key, 0) + 1

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
    """Publishes items to a named stream of the flow (``send_many``: one batch)."""

    def __init__(self, flow_id: str, name: str, pipeline: str = "", stage: str = "") -> None:
        self.flow_id = flow_id
        self.name = name
        self.pipeline = pipeline
        self.stage = stage

    def send(self, item: Any) -> None:
        self.send_many([item])

    def send_many(self, items: Sequence[Any]) -> None:
        """Publish ``items`` in order; an item without a JSON form is a ``PayloadError``."""
        try:
            _broker(self.flow_id).publish_many(self.name, items)
        except TypeError as error:  # the broker's serializer refused an item
            raise PayloadError(
                f"pipeline {self.pipeline!r}, stage {self.stage!r}: an item for stream "
                f"{self.name!r} does not serialise: {error}",
                self.pipeline or None,
            ) from error

    def __repr__(self) -> str:
        return f"StreamSender(stream={self.name!r})"


class StreamSource(Source):
    """Reads a named stream of the flow, for as long as the flow runs.

    ``reader`` is the reading pipeline (each reading pipeline gets every item); the other
    options are for a broker that redelivers (:class:`ReadOptions`).
    """

    continuous = True

    _unpicklable = ("_lock",)

    def __init__(
        self,
        flow_id: str,
        name: str,
        reader: str = "",
        claim_idle_seconds: float = 30.0,
        max_deliveries: int = 5,
        in_flight: int = 1000,
        adapt_in_flight: bool = False,
        least_in_flight: int = 0,
    ) -> None:
        self.flow_id = flow_id
        self.name = name
        self.reader = reader
        self.options = ReadOptions(
            claim_idle_seconds, max_deliveries, in_flight, adapt_in_flight, least_in_flight
        )
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._closed = False

    @property
    def at_least_once(self) -> bool:
        """Whether the flow's broker redelivers what was not acknowledged (Redis does)."""
        with _brokers_lock:
            broker = _brokers.get(self.flow_id)
        return broker is not None and broker.at_least_once

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        with self._lock:  # a close() cannot fall between the check and the subscription
            if self._closed:
                return iter(())
            return _broker(self.flow_id).subscribe(self.name, self.reader, self.options)

    def interrupt_read(self) -> None:
        """Make a ``read`` in progress return soon (for a restart of its pipeline)."""
        _broker(self.flow_id).interrupt(self.name, self.reader)

    def close(self) -> None:
        """End a ``read`` in progress (from any thread); a later ``read`` yields nothing."""
        with self._lock:
            self._closed = True
            with _brokers_lock:
                broker = _brokers.get(self.flow_id)
            if broker is not None:
                broker.interrupt(self.name, self.reader)

    def __repr__(self) -> str:
        return f"StreamSource(stream={self.name!r})"
