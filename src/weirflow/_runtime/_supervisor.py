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
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._batch import Batch, Element, as_tuple
from ._channel import Cancelled, Channel
from ._emit import Emitter, top_level
from ._ordered import OrderBuffer
from ._spec import StageSpec, min_capacity
from ._tracebacks import trim_to_user_code
from ._worker import (
    MAX_BATCH,
    Mapper,
    OutputPort,
    StageRuntime,
    _annotate,
    drive_pull,
    run_worker,
)
from .executors.sync import SyncExecutor
from .executors.task import TaskExecutor
from .executors.thread import ThreadExecutor

if TYPE_CHECKING:
    from .executors.process import ProcessExecutor

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
        self._consumers = _count_consumers(final)
        self._tracking = _order_tracking(final)
        self._threads = ThreadExecutor(self.fail)
        self._tasks = TaskExecutor(self.fail, loop)
        self._processes: ProcessExecutor | None = None
        self._sync = SyncExecutor()

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
        self._tasks.cancel()
        if self._processes is not None:
            self._processes.cancel()

    def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Cancel what still runs and join every worker (from a thread, not an event loop)."""
        self.cancel()
        deadline = time.monotonic() + grace
        left = self._join_processes(deadline)
        left += self._threads.join(deadline) + self._tasks.join(deadline)
        self._warn_left(left)

    def _join_processes(self, deadline: float) -> list[str]:
        return [] if self._processes is None else self._processes.join(deadline)

    async def aclose(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """:meth:`close` for a run consumed on an event loop."""
        self.cancel()
        deadline = time.monotonic() + grace
        left = await self._tasks.ajoin(deadline)
        left += await asyncio.get_running_loop().run_in_executor(None, self._threads.join, deadline)
        self._warn_left(left)

    def _warn_left(self, left: list[str]) -> None:
        if left:
            logger.warning(
                "stage %r: %d worker(s) still busy in user code after shutdown: %s",
                self._final.name,
                len(left),
                ", ".join(left),
            )

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
                self._wire(upstream, channel, _compose(mapper, _concat_mapper(position)))
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
            return spec.kind == "sync"
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
            return drive_pull(_run_source(spec, self._sync.output_port(capacity)))
        if spec.role == "ordered":
            upstream = self._pull(spec.upstreams[0], spec.maxsize)
            return _ordered(upstream, keep_marks=self._tracking.get(spec, False))
        if spec.role == "concat":
            return _chain(
                [self._pull(upstream, spec.maxsize) for upstream in spec.upstreams],
            )
        runtime = StageRuntime(spec, self._tracking.get(spec, False))
        inp = self._sync.input_port(self._pull(spec.upstreams[0], spec.maxsize))
        out = self._sync.output_port(capacity)
        return self._sync.pull(run_worker(runtime, 0, inp, out))

    def _read(self, channel: Channel) -> Iterator[Batch]:
        while (batch := channel.get(MAX_BATCH)) is not None:
            yield batch

    # -- starting ---------------------------------------------------------------------------

    def _start_workers(self, node: _Node) -> None:
        spec = node.spec
        assert node.input is not None
        tracking = self._tracking.get(spec, False)
        if spec.kind == "process":
            if self._processes is None:
                from .executors.process import ProcessExecutor

                self._processes = ProcessExecutor(self.fail)
                if self._cancelled:
                    self._processes.cancel()
            self._processes.start_stage(spec, node.input, node.targets, tracking)
            return
        executor = self._threads if spec.kind == "thread" else self._tasks
        runtime = StageRuntime(spec, tracking)
        inp = executor.input_port(node.input, spec.workers)
        out = executor.output_port(node.targets)
        for index in range(spec.workers):
            executor.start(f"{spec.name}[{index}]", run_worker(runtime, index, inp, out))

    def _start_pump(self, node: _Node) -> None:
        spec = node.spec
        if spec.role == "source" and spec.kind == "task" and _is_async_source(spec):
            self._tasks.start(spec.name, _run_source(spec, self._tasks.output_port(node.targets)))
            return
        out = self._threads.output_port(node.targets)
        if spec.role == "source":
            self._threads.start(f"{spec.name} source", _run_source(spec, out))
            return
        assert node.batches is not None
        self._threads.start(f"{spec.name} pump", _pump(node.batches, out))


def _is_async_source(spec: StageSpec) -> bool:
    return hasattr(spec.iterable, "__aiter__") or not spec.use_thread


async def _run_source(spec: StageSpec, out: OutputPort) -> None:
    """Emit a source's items as batches of top-level elements."""
    try:
        emitter = Emitter(out.put, out.limit, out.starving, out.max_chunk_age, out.eager)
        iterable = spec.iterable
        if hasattr(iterable, "__aiter__"):
            await emitter.async_iterable(iterable, top_level)
        else:
            await emitter.iterable(iterable, top_level)
    except Cancelled:
        raise
    except BaseException as error:
        _annotate(error, spec, 0)
        raise
    finally:
        out.done()


async def _pump(batches: Iterator[Batch], out: OutputPort) -> None:
    try:
        for batch in batches:
            await out.put(batch)
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
        out.done()


def _ordered(upstream: Iterator[Batch], keep_marks: bool) -> Iterator[Batch]:
    buffer = OrderBuffer()
    try:
        for batch in upstream:
            buffer.add(batch)
            ready = buffer.ready()
            if keep_marks and batch.marks:
                ready.marks = batch.marks
            if ready.values or ready.marks:
                yield ready
        rest = buffer.rest()
        if rest.values:
            yield rest
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()


def _chain(parts: list[Iterator[Batch]]) -> Iterator[Batch]:
    try:
        for position, part in enumerate(parts):
            mapper = _concat_mapper(position)
            for batch in part:
                yield mapper(batch)
    finally:
        for part in parts:
            close = getattr(part, "close", None)
            if close is not None:
                close()


def _concat_mapper(position: int) -> Callable[[Batch], Batch]:
    """Re-index the ``position``-th input of a concat: ``(i, ...)`` → ``(i, position, ...)``."""

    def reindex(index: Any) -> Any:
        if isinstance(index, int):
            return (index, position)
        return (index[0], position, *index[1:])

    def mapper(batch: Batch) -> Batch:
        marks = [(reindex(i), n) for i, n in batch.marks] if batch.marks else None
        return Batch([reindex(i) for i in batch.indices], batch.values, marks)

    return mapper


def _compose(outer: Mapper, inner: Callable[[Batch], Batch]) -> Callable[[Batch], Batch]:
    if outer is None:
        return inner
    return lambda batch: outer(inner(batch))


def _count_consumers(final: StageSpec) -> dict[StageSpec, int]:
    counts: dict[StageSpec, int] = {}
    seen: set[int] = set()
    stack = [final]
    while stack:
        spec = stack.pop()
        if id(spec) in seen:
            continue
        seen.add(id(spec))
        for upstream in spec.upstreams:
            counts[upstream] = counts.get(upstream, 0) + 1
            stack.append(upstream)
    return counts


def _order_tracking(final: StageSpec) -> dict[StageSpec, bool]:
    """Which stages feed an ``ordered`` downstream (and must report dropped elements)."""
    tracking: dict[StageSpec, bool] = {}
    stack = [(final, False)]
    while stack:
        spec, tracked = stack.pop()
        if spec in tracking and (tracking[spec] or not tracked):
            continue
        tracking[spec] = tracked
        below = True if spec.role == "ordered" else tracked
        stack.extend((upstream, below) for upstream in spec.upstreams)
    return tracking


def iterate_values(run: Run, maxsize: int, with_index: bool) -> Iterator[Any]:
    """The consumer side: yield values, re-raise a worker's error, always close the run."""
    grace = SHUTDOWN_GRACE_SECONDS
    finished = False
    try:
        for batch in run.batches(maxsize):
            if with_index:
                for index, value in zip(batch.indices, batch.values):
                    yield Element(as_tuple(index), value)
            else:
                yield from batch.values
        finished = True
    except Cancelled:
        finished = True
    except KeyboardInterrupt:
        grace = INTERRUPT_GRACE_SECONDS
        raise
    finally:
        run.close(grace)
    # A worker that fails sends its end of stream before its failure is recorded: once every
    # worker is joined, the run's error is final, whether the stream ended or was cancelled.
    if finished and run.error is not None:
        raise run.error


async def aiterate_values(run: Run, maxsize: int, with_index: bool) -> AsyncIterator[Any]:
    """:func:`iterate_values` for ``async for`` and ``await``, on the running loop."""
    finished = False
    try:
        channel = run.channel(maxsize)
        while (batch := await channel.aget(MAX_BATCH)) is not None:
            if with_index:
                for index, value in zip(batch.indices, batch.values):
                    yield Element(as_tuple(index), value)
            else:
                for value in batch.values:
                    yield value
        finished = True
    except Cancelled:
        finished = True
    finally:
        await run.aclose()
    if finished and run.error is not None:  # final once every worker is joined (see above)
        raise run.error
