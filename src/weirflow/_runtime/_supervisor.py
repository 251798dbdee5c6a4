"""The supervisor: turns a stage graph into a running set of workers, and owns all of them.

A :class:`Run` is made each time a stage is iterated. It walks the graph from the consumer up:

* a stage with workers of its own (thread, task, process) gets an input channel and its output
  channels (one per downstream consumer: a stage feeding two stages broadcasts to both);
* a ``sync`` stage, a sync source, ``ordered`` and ``concat`` of such stages stay *pulled*:
  generators stepped by whoever consumes them;
* where a pulled part must feed a channel (a sync stage upstream of a thread stage, a source of a
  thread stage, a pulled stage with two consumers) a *pump* thread iterates it into the channel.

Each edge's channel holds at most ``min(upstream.maxsize, downstream.maxsize)`` elements, so a
fast stage never runs more than its bound ahead of a slow one.

Structured concurrency: the first failure is recorded and every channel is cancelled, which
wakes every blocked worker; the consumer re-raises the original exception. Closing the run
(end of stream, an error, ``break``, Ctrl-C) cancels what is left and joins every worker, so
``on_done`` has run and no thread or task outlives the iteration.

Each kind's workers are started and joined by its back end (``executors/``, found by name in
the registry); the supervisor asks a kind's traits, never its name. The seam: reading the
graph's shape (consumer counts, order tracking, the pulled ``ordered``/``concat`` combinators)
is in ``_graph.py``; this module builds the channels and runs the workers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast

from ._async_consumer import AsyncValues
from ._batch import Batch, Element, as_tuple
from ._channel import Cancelled, Channel
from ._graph import chain, compose, concat_mapper, count_consumers, order_tracking, ordered_batches
from ._ports import MAX_BATCH, Mapper, OutputPort
from ._spec import StageSpec, min_capacity
from ._stats import counters_of
from ._tracebacks import trim_to_user_code
from ._worker import StageRuntime, drive_pull, run_source, run_worker
from .executors import AsyncSourceStarter, Executor, executor_traits, get_executor_class
from .executors.sync import SyncExecutor
from .executors.thread import ThreadExecutor

logger = logging.getLogger("weirflow")

SHUTDOWN_GRACE_SECONDS = 5.0
INTERRUPT_GRACE_SECONDS = 1.0


class _Node:
    """A stage that writes into channels: its targets and how many producers it counts as."""

    def __init__(self, spec: StageSpec, producers: int, start: Callable[[_Node], None]) -> None:
        self.spec = spec
        self.producers = producers
        self.targets: list[tuple[Channel, Mapper]] = []
        self.start = start
        self.input: Channel | None = None
        self.batches: Iterator[Batch] | None = None


class Run:
    """One execution of a stage graph."""

    def __init__(self, final: StageSpec, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._final = final
        self._lock = threading.Lock()
        self._error: BaseException | None = None
        self._cancelled = False
        self._channels: list[Channel] = []
        self._nodes: dict[StageSpec, _Node] = {}
        self._consumers = count_consumers(final)
        self._tracking = order_tracking(final)
        self._loop = loop
        # the supervisor's own helper: threads pumping pulled parts and sync sources into channels
        self._pumps = ThreadExecutor(self.fail)
        self._sync = SyncExecutor()
        self._executors: dict[str, Executor] = {}  # one per kind with stages started

    def _executor(self, kind: str) -> Executor:
        """The back end running this run's stages of ``kind``, made when first needed."""
        with self._lock:
            executor = self._executors.get(kind)
            if executor is None:
                executor = get_executor_class(kind)(self.fail, self._loop)
                self._executors[kind] = executor
                if self._cancelled:
                    executor.cancel()
        return executor

    def _owned(self) -> list[Executor]:
        with self._lock:
            return [*self._executors.values(), self._pumps]

    # -- failure and shutdown --------------------------------------------------------------

    @property
    def error(self) -> BaseException | None:
        return self._error

    def fail(self, error: BaseException) -> None:
        """Record the first failure and stop everything.

        The error's traceback is cut to start at the user's code (the engine's frames are
        logged at DEBUG with the full traceback).
        """
        with self._lock:
            first = self._error is None
            if first:
                self._error = error
        if first:
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("a stage failed; the full traceback", exc_info=error)
            trim_to_user_code(error)
        self.cancel()

    def cancel(self) -> None:
        with self._lock:
            if self._cancelled:
                return
            self._cancelled = True
            channels = list(self._channels)
        for channel in channels:
            channel.cancel()
        for executor in self._owned():
            executor.cancel()

    def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Cancel what still runs and join every worker (from a thread, not an event loop)."""
        self.cancel()
        deadline = time.monotonic() + grace
        left = [name for executor in self._owned() for name in executor.join(deadline)]
        self._warn_left(left)

    async def aclose(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """:meth:`close` for a run consumed on an event loop: tasks awaited, the rest joined."""
        self.cancel()
        deadline = time.monotonic() + grace
        left: list[str] = []
        for executor in self._owned():
            left += await executor.ajoin(deadline)
        self._warn_left(left)

    def _warn_left(self, left: list[str]) -> None:
        if left:
            logger.warning(
                "stage %r: %d worker(s) still busy in user code after shutdown: %s",
                self._final.name,
                len(left),
                ", ".join(left),
            )

    def queues(self) -> list[tuple[StageSpec, Channel]]:
        """Each stage with workers of its own and its input channel, sources first.

        Read-only and cheap (for progress displays): the stages are known once iteration has
        started; call it from the consuming thread.
        """
        return [(n.spec, n.input) for n in list(self._nodes.values()) if n.input is not None]

    # -- building ---------------------------------------------------------------------------

    def batches(self, maxsize: int) -> Iterator[Batch]:
        """Build the graph and start every worker; iterate the final stage's batches."""
        batches = self._pull(self._final, maxsize)
        self._start_all()
        return batches

    def channel(self, maxsize: int) -> Channel:
        """Build the graph for a consumer that reads a channel (async consumers)."""
        channel = self._edge(self._final, maxsize)
        self._start_all()
        return channel

    def _start_all(self) -> None:
        for node in list(self._nodes.values()):
            node.start(node)

    def _new_channel(self, capacity: int) -> Channel:
        channel = Channel(capacity, producers=0)
        with self._lock:
            self._channels.append(channel)
            if self._cancelled:
                channel.cancel()
        return channel

    def _edge(self, upstream: StageSpec, consumer_maxsize: int) -> Channel:
        channel = self._new_channel(min_capacity(upstream.maxsize, consumer_maxsize))
        self._wire(upstream, channel, None)
        return channel

    def _wire(self, spec: StageSpec, channel: Channel, mapper: Mapper) -> None:
        """Make everything ``spec`` outputs flow into ``channel``."""
        if spec.role == "concat":
            for position, upstream in enumerate(spec.upstreams):
                self._wire(upstream, channel, compose(mapper, concat_mapper(position)))
            return
        node = self._nodes.get(spec)
        if node is None:
            node = self._make_node(spec)
            self._nodes[spec] = node
        node.targets.append((channel, mapper))
        channel.add_producers(node.producers)

    def _make_node(self, spec: StageSpec) -> _Node:
        if spec.is_push:
            node = _Node(spec, spec.workers, self._start_workers)
            node.input = self._edge(spec.upstreams[0], spec.maxsize)
            counters = counters_of(spec)
            if counters is not None:  # the flow's statistics show this stage's queue
                node.input.gauge = counters
                capacity = node.input.capacity
                counters.set_capacity(0 if capacity == math.inf else int(capacity))
        else:
            node = _Node(spec, 1, self._start_pump)
            if spec.role != "source":
                node.batches = self._inline(spec, spec.maxsize)
        return node

    def _pulled(self, spec: StageSpec) -> bool:
        """Whether ``spec`` can run as a generator in its consumer's thread."""
        if spec.is_push or self._consumers.get(spec, 0) > 1:
            return False
        if spec.role == "source":
            return executor_traits(spec.kind).pulled
        if spec.role == "concat":
            return all(self._pulled(upstream) for upstream in spec.upstreams)
        return True

    def _pull(self, spec: StageSpec, consumer_maxsize: int) -> Iterator[Batch]:
        if not self._pulled(spec):
            return self._read(self._edge(spec, consumer_maxsize))
        return self._inline(spec, consumer_maxsize)

    def _inline(self, spec: StageSpec, consumer_maxsize: int) -> Iterator[Batch]:
        """``spec`` as a generator of batches, run by whoever iterates it.

        Its batches hold at most ``min(spec.maxsize, consumer_maxsize)`` elements, as the channel
        between them would if there were one.
        """
        capacity = min_capacity(spec.maxsize, consumer_maxsize)
        if spec.role == "source":
            return drive_pull(run_source(spec, self._sync.output_port(capacity)))
        if spec.role == "ordered":
            upstream = self._pull(spec.upstreams[0], spec.maxsize)
            return ordered_batches(upstream, keep_marks=self._tracking.get(spec, False))
        if spec.role == "concat":
            return chain(
                [self._pull(upstream, spec.maxsize) for upstream in spec.upstreams],
            )
        runtime = StageRuntime(spec, self._tracking.get(spec, False))
        # pulled: each input batch is computed at once, so it is bounded like the output
        inp = self._sync.input_port(self._pull(spec.upstreams[0], capacity))
        out = self._sync.output_port(capacity)
        return self._sync.pull(run_worker(runtime, 0, inp, out))

    def _read(self, channel: Channel) -> Iterator[Batch]:
        limit = consumer_limit(channel)
        while (batch := channel.get(limit, hold=True)) is not None:
            yield batch

    # -- starting ---------------------------------------------------------------------------

    def _start_workers(self, node: _Node) -> None:
        spec = node.spec
        assert node.input is not None
        tracking = self._tracking.get(spec, False)
        self._executor(spec.kind).start_stage(spec, node.input, node.targets, tracking)

    def _start_pump(self, node: _Node) -> None:
        spec = node.spec
        if spec.role == "source" and executor_traits(spec.kind).awaits and _is_async_source(spec):
            # on the kind's own back end (its event loop), beside the stage's workers
            executor = cast(AsyncSourceStarter, self._executor(spec.kind))
            executor.start_source(spec, node.targets)
            return
        out = self._pumps.output_port(node.targets)
        if spec.role == "source":
            self._pumps.start(f"{spec.name} source", run_source(spec, out))
            return
        assert node.batches is not None
        self._pumps.start(f"{spec.name} pump", _pump(node.batches, out))


def _is_async_source(spec: StageSpec) -> bool:
    return hasattr(spec.iterable, "__aiter__") or not spec.use_thread


async def _pump(batches: Iterator[Batch], out: OutputPort) -> None:
    try:
        for batch in batches:
            await out.put(batch)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        out.done()


def iterate_values(run: Run, maxsize: int, with_index: bool) -> Iterator[Any]:
    """The consumer side: yield values, re-raise a worker's error, always close the run.

    The error is looked at once every worker has been joined: a worker that fails ends its
    output (which can end the stream here) before the supervisor hears of its failure.
    """
    grace = SHUTDOWN_GRACE_SECONDS
    try:
        for batch in run.batches(maxsize):
            if with_index:
                for index, value in zip(batch.indices, batch.values):
                    yield Element(as_tuple(index), value)
            else:
                yield from batch.values
    except Cancelled:
        pass
    except KeyboardInterrupt:
        grace = INTERRUPT_GRACE_SECONDS
        raise
    finally:
        run.close(grace)
    if run.error is not None:
        raise run.error


def aiterate_values(run: Run, maxsize: int, with_index: bool) -> AsyncValues:
    """:func:`iterate_values` for ``async for`` and ``await``, on the running loop."""
    return AsyncValues(run, maxsize, with_index, consumer_limit)


def consumer_limit(channel: Channel) -> int:
    """How much the final consumer takes at once: at most half a bounded channel.

    What it takes stays counted against the bound until it asks again (``hold``), so taking
    only half leaves the stage room to work while the consumer hands out its batch.
    """
    if not channel.bounded:
        return MAX_BATCH
    return max(1, min(MAX_BATCH, -(-int(channel.capacity) // 2)))
