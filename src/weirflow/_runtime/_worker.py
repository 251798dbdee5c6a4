"""The one worker loop (its ports are in ``_ports``).

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

import contextvars
import inspect
import threading
from collections.abc import Callable, Coroutine, Iterator
from time import perf_counter
from typing import Any, Protocol

from .._errors import tag_stage
from .._logcontext import set_log_context
from ._batch import Batch
from ._channel import Cancelled
from ._emit import Emitter, top_level
from ._inject import StageStatus, WorkerInfo, check_resources
from ._invoke import Invoker
from ._ops import OpContext
from ._ports import (
    MAX_BATCH,
    InputPort,
    OutputPort,
    _Handoff,
)
from ._spec import StageSpec
from ._stats import counters_of
from .executors import executor_traits

TARGET_BATCH_SECONDS = 0.002


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
    set_log_context(spec.pipeline, spec.name)  # this worker's context: its thread, task, process
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
            tag_stage(error, spec.name, index, note_only=True)
            raise
        try:
            await _work(runtime, index, inp, out, resources, info)
        except Cancelled:
            raise
        except BaseException as error:
            tag_stage(error, spec.name, index, note_only=True)
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
        awaits=executor_traits(spec.kind).awaits,
        stage=spec.name,
    )
    emitter = emitter_for(out)
    context = OpContext(invoker, emitter, runtime.track_order)
    counters = counters_of(spec)  # the flow's statistics: one row per worker, no lock
    row = None
    if counters is not None:
        invoker.counted = (counters, index)
        row = counters.worker(index)
    target = getattr(inp, "target_batch_seconds", TARGET_BATCH_SECONDS)
    max_batch = getattr(inp, "max_batch", MAX_BATCH)
    # a batch operation costs mostly per call (one transaction): ask for whatever is waiting,
    # so a busy stage gets its whole backlog at once (a quiet one still gets each item at once)
    adaptive = not operation.batched
    limit = 1 if adaptive else max_batch
    bounded = out.bounded
    try:
        while True:
            # bounded output: take no more than it can accept, and reserve that room before
            # calling f, so results computed ahead of the consumer never exceed its maxsize
            ask = max(1, min(limit, int(out.room()))) if bounded else limit
            batch = await inp.get(ask)
            if batch is None:
                break
            if bounded and batch.values:
                await out.reserve(len(batch.values))
            started = perf_counter()
            if row is None:
                await operation.apply(batch, context)
            else:
                row.start()
                try:
                    await operation.apply(batch, context)
                finally:
                    row.done(len(batch.values), perf_counter() - started)
            if bounded:
                out.settle()
            if adaptive and batch.values:
                per_item = (perf_counter() - started) / len(batch.values)
                limit = max_batch if per_item <= 0 else int(target / per_item)
                limit = max(1, min(max_batch, limit))
    finally:
        invoker.close()


def emitter_for(out: OutputPort) -> Emitter:
    """The emitter of everything a worker or a source writes to ``out``."""
    return Emitter(
        out.put, out.limit, out.starving, out.max_chunk_age, out.eager, out.shared, out.room
    )


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
    blocks (``on_done``) in the closing thread. The coroutine runs in a context of its own (as
    an asyncio task does), so what it sets there (the stage its log records name) stays its own.
    """

    def __init__(self, coroutine: Coroutine[Any, Any, None]) -> None:
        self._coroutine = coroutine
        self._context = contextvars.copy_context()

    def __next__(self) -> Batch:
        try:
            handoff = self._context.run(self._coroutine.send, None)
        except BaseException:
            self.close()
            raise
        if not isinstance(handoff, _Handoff):
            self.close()
            raise RuntimeError("a sync worker tried to wait on an event loop")
        return handoff.batch

    def close(self) -> None:
        self._context.run(self._coroutine.close)

    def __del__(self) -> None:
        self.close()


def drive_pull(coroutine: Coroutine[Any, Any, None]) -> Iterator[Batch]:
    """Run a worker coroutine lazily, by its consumer: see :class:`PulledWorker`."""
    return PulledWorker(coroutine)


async def run_source(spec: StageSpec, out: OutputPort) -> None:
    """Emit a source's items as batches of top-level elements."""
    set_log_context(spec.pipeline, spec.name)
    try:
        emitter = emitter_for(out)
        iterable = spec.iterable
        if hasattr(iterable, "__aiter__"):
            await emitter.async_iterable(iterable, top_level)
        else:
            await emitter.iterable(iterable, top_level)
    except Cancelled:
        raise
    except BaseException as error:
        tag_stage(error, spec.name, 0, note_only=True)
        raise
    finally:
        out.done()
