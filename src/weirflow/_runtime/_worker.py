"""The one worker loop, and the ports it reads from and writes to.

:func:`run_worker` is written once, as a coroutine, and every back end drives it its own way:

* a thread or a worker process runs it to completion with :func:`drive_blocking` (its ports
  block, so it never suspends);
* an asyncio task awaits it (its ports await);
* the ``sync`` back end steps it from the consumer with :func:`drive_pull`: its output port
  *suspends* the coroutine and hands each batch to the consumer, so a sync stage is a lazy
  generator that runs in the consumer's thread.

The loop: start the worker's resources (``on_start``), take batches from the input port (sized
adaptively: ~2 ms of work per batch, one element at a time for slow functions), apply the
operation, and always finish with ``on_done`` and an end-of-stream for the output.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Coroutine, Generator, Iterator
from time import perf_counter
from typing import Any, Protocol

from ._batch import Batch
from ._channel import Cancelled, Channel
from ._emit import PULLED_CHUNK_AGE_SECONDS, Emitter
from ._inject import StageStatus, WorkerInfo, check_resources
from ._invoke import Invoker
from ._ops import OpContext
from ._spec import StageSpec

TARGET_BATCH_SECONDS = 0.002
MAX_BATCH = 1024
Mapper = Callable[[Batch], Batch] | None


class InputPort(Protocol):
    async def get(self, limit: int) -> Batch | None: ...

    def close(self) -> None: ...


class OutputPort(Protocol):
    limit: int
    max_chunk_age: float | None  # set for pulled outputs: see ``Emitter``
    eager: bool  # emit each item of a generic iterable at once: see ``Emitter``

    def starving(self) -> bool: ...

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
    """Reads a channel from an asyncio task."""

    async def get(self, limit: int) -> Batch | None:
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
    """Writes to every downstream channel (broadcast), blocking while one is full."""

    max_chunk_age: float | None = None
    eager = True

    def __init__(self, targets: list[tuple[Channel, Mapper]]) -> None:
        self._targets = targets
        self.limit = _capacity_limit(targets)

    def starving(self) -> bool:
        return any(channel.starving for channel, _ in self._targets)

    async def put(self, batch: Batch) -> None:
        for channel, mapper in self._targets:
            channel.put(mapper(batch) if mapper else batch)

    def done(self) -> None:
        for channel, _ in self._targets:
            channel.producer_done()


class AsyncOutput(BlockingOutput):
    """Writes to every downstream channel from an asyncio task."""

    async def put(self, batch: Batch) -> None:
        for channel, mapper in self._targets:
            await channel.aput(mapper(batch) if mapper else batch)


class _Handoff:
    __slots__ = ("batch",)

    def __init__(self, batch: Batch) -> None:
        self.batch = batch

    def __await__(self) -> Generator[_Handoff, None, None]:
        yield self


class HandoffOutput:
    """Suspends the worker coroutine and hands the batch to whoever drives it.

    The consumer is pulling whenever the worker runs, so "starving" says nothing here; iterables
    are chunked by the ramp and the age limit of a pulled :class:`Emitter` instead.
    """

    max_chunk_age: float | None = PULLED_CHUNK_AGE_SECONDS
    eager = False

    def __init__(self, capacity: int = 0) -> None:
        self.limit = min(capacity, MAX_BATCH) if capacity > 0 else MAX_BATCH

    def starving(self) -> bool:
        return False

    async def put(self, batch: Batch) -> None:
        await _Handoff(batch)

    def done(self) -> None:
        pass


class ActiveCounter(Protocol):
    """How many workers of a stage are still running (shared across processes if need be)."""

    def decrement(self) -> None: ...

    def value(self) -> int: ...


class LocalCounter:
    """An :class:`ActiveCounter` for workers that share memory (threads, tasks)."""

    def __init__(self, workers: int) -> None:
        self._active = workers
        self._lock = threading.Lock()

    def decrement(self) -> None:
        with self._lock:
            self._active -= 1

    def value(self) -> int:
        return self._active


class StageRuntime:
    """Per-run state of one stage shared by its workers."""

    def __init__(
        self, spec: StageSpec, track_order: bool, active: ActiveCounter | None = None
    ) -> None:
        self.spec = spec
        self.track_order = track_order
        self.active = active if active is not None else LocalCounter(spec.workers)
        self.status = StageStatus(self.active.value)

    def worker_finished(self) -> None:
        self.active.decrement()


async def run_worker(runtime: StageRuntime, index: int, inp: InputPort, out: OutputPort) -> None:
    """The worker loop: resources, batches through the operation, clean finish."""
    spec = runtime.spec
    operation = spec.operation
    assert operation is not None
    info = WorkerInfo(index)
    try:
        try:
            resources = await _maybe_await(_call_hook(spec.on_start, spec, {"worker_info": info}))
            if resources is None:
                resources = {}
            elif not isinstance(resources, dict):
                raise TypeError(
                    f"stage {spec.name!r}: on_start must return a dict of resources or None, "
                    f"got {type(resources).__name__}"
                )
        except BaseException as error:
            runtime.worker_finished()
            _annotate(error, spec, index)
            raise
        try:
            await _work(runtime, index, inp, out, resources, info)
        except Cancelled:
            raise
        except BaseException as error:
            _annotate(error, spec, index)
            raise
        finally:
            runtime.worker_finished()
            hook_args = {**resources, "worker_info": info, "stage_status": runtime.status}
            await _maybe_await(_call_hook(spec.on_done, spec, hook_args))
    finally:
        inp.close()
        out.done()


async def _work(
    runtime: StageRuntime,
    index: int,
    inp: InputPort,
    out: OutputPort,
    resources: dict[str, Any],
    info: WorkerInfo,
) -> None:
    spec = runtime.spec
    operation = spec.operation
    signature = spec.signature
    assert operation is not None
    assert signature is not None
    available = {**resources, "worker_info": info}
    check_resources(signature, [*available, "element_index"], "the stage function", spec.name)
    kwargs = signature.select(available)
    kwargs.pop("element_index", None)
    invoker = Invoker(
        operation.f,
        kwargs,
        wants_index="element_index" in signature.names,
        timeout=spec.timeout,
        awaits=spec.kind == "task",
        stage=spec.name,
    )
    emitter = Emitter(out.put, out.limit, out.starving, out.max_chunk_age, out.eager)
    context = OpContext(invoker, emitter, runtime.track_order)
    target = getattr(inp, "target_batch_seconds", TARGET_BATCH_SECONDS)
    max_batch = getattr(inp, "max_batch", MAX_BATCH)
    # a batch operation costs mostly per call (one transaction): ask for whatever is waiting,
    # so a busy stage gets its whole backlog at once (a quiet one still gets each item at once)
    adaptive = not operation.batched
    limit = 1 if adaptive else max_batch
    try:
        while (batch := await inp.get(limit)) is not None:
            started = perf_counter()
            await operation.apply(batch, context)
            if adaptive and batch.values:
                per_item = (perf_counter() - started) / len(batch.values)
                limit = max_batch if per_item <= 0 else int(target / per_item)
                limit = max(1, min(max_batch, limit))
    finally:
        invoker.close()


def _call_hook(hook: Callable[..., Any] | None, spec: StageSpec, available: dict[str, Any]) -> Any:
    if hook is None:
        return None
    signature = spec.on_start_signature if hook is spec.on_start else spec.on_done_signature
    assert signature is not None
    which = "on_start" if hook is spec.on_start else "on_done"
    check_resources(signature, available, which, spec.name)
    return hook(**signature.select(available))


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _annotate(error: BaseException, spec: StageSpec, index: int) -> None:
    note = f"weirflow: raised in worker {index} of stage '{spec.name}'"
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


def drive_blocking(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine whose awaits never suspend (blocking ports) to completion."""
    try:
        coroutine.send(None)
    except StopIteration:
        return
    coroutine.close()
    raise RuntimeError("a blocking worker tried to suspend; this is a bug in weirflow")


class PulledWorker(Iterator[Batch]):
    """Steps a worker coroutine with a :class:`HandoffOutput`, yielding each batch it emits.

    Closing it (or dropping it) closes the coroutine, which runs the worker's ``finally``
    blocks (``on_done``) in the closing thread.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._coroutine = coroutine

    def __next__(self) -> Batch:
        try:
            handoff = self._coroutine.send(None)
        except BaseException:
            self._coroutine.close()
            raise
        if not isinstance(handoff, _Handoff):
            self._coroutine.close()
            raise RuntimeError("a sync worker tried to wait on an event loop")
        return handoff.batch

    def close(self) -> None:
        self._coroutine.close()

    def __del__(self) -> None:
        self._coroutine.close()


def drive_pull(coroutine: Coroutine[Any, Any, None]) -> Iterator[Batch]:
    """Run a worker coroutine lazily, by its consumer: see :class:`PulledWorker`."""
    return PulledWorker(coroutine)
