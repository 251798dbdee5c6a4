"""``use_threads=False``: every pipeline runs in a process of its own.

The parent sends each process its pipeline (cloudpickle: lambdas and closures work), the storage
directory (storages are made lazily in each process) and the flow's stream broker
(multiprocessing queues), and keeps two pipes to it. On the *results* pipe the process reports
failures (pickled, with the original traceback as the cause), its log records (handled by the
parent's handlers, ``weirflow/_logforward.py``), its last error and "done"; a pipe that closes
without "done" means the process died, which fails the flow. Its counters live in shared memory,
so :meth:`~weirflow.flows.Flow.statistics` is live and stays true even for a process that was
killed. The *stop* pipe is how the parent says stop: ``"graceful"`` (no new runs, continuous
sources closed, the run in progress may finish: 5 s after a signal, half a second at the time
limit) or ``"cancel"`` (the run in progress is cancelled); a parent that dies closes it, which
cancels too.

Pipeline processes are spawned (see :func:`_pipeline_context`) and each leads a session of its
own: Ctrl-C and ``systemd``'s stop signal the flow's process group, and only the parent, which
decides, receives them (pipeline processes also ignore SIGINT and SIGTERM: systemd signals every
process of its cgroup). Whatever a pipeline process started (worker processes of
``kind="process"`` stages, their forkserver) is in its group, which the parent kills once the
process has ended, so nothing outlives the flow or holds the caller's stdout. Each process runs
the same runner as the threaded mode.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import fields
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .._errors import PipelineFailed, WorkerDied
from .._heap import freeze_startup_heap
from .._logforward import forward_logging, handle_forwarded, logging_levels
from .._runtime._pickling import dumps_by_value
from .._runtime._stats import StageCounters
from .._runtime.executors import get_executor_class
from .._runtime.executors.process import (
    _context,
    _exception_payload,
    _main_module_not_reimported,
    _rebuild_exception,
    end_process,
)
from .._threads import make_thread, start_thread
from ._lazy import close_all
from ._pipeline import PipelineStatistics
from ._schedule import SystemClock
from ._signals import Waker, handling_signals, kill_group, signals_held
from ._stages import StorageDirectory
from ._statistics import source_connected
from ._streams import Broker, register_broker, unregister_broker
from ._supervise import (
    STOP_JOIN_SECONDS,
    SupervisedRunner,
    close_continuous_sources,
    grace_seconds,
    raise_failures,
    run_leased,
    supervise,
)

if TYPE_CHECKING:
    from ._flow import Flow

_TEXTS = ("last_error", "last_error_type", "last_error_stage")  # sent over the results pipe
_FLOATS = ("seconds",)
_COUNTERS = {
    name: index
    for index, name in enumerate(f.name for f in fields(PipelineStatistics) if f.name not in _TEXTS)
}


class SharedCounters:
    """A pipeline's counters in shared memory (written by its process, read by the parent)."""

    def __init__(self, context: Any) -> None:
        self.array = context.RawArray("d", len(_COUNTERS))  # exact for counts below 2**53
        self.texts: dict[str, str | None] = dict.fromkeys(_TEXTS)
        self.connected: bool | None = None  # its continuous source's, as last asked
        self.answered = threading.Event()

    def snapshot(self) -> PipelineStatistics:
        values: dict[str, Any] = {
            name: value if name in _FLOATS else int(value)
            for name, value in zip(_COUNTERS, self.array[:])
        }
        values.update(self.texts)
        return PipelineStatistics(**values)


class _CountingStatistics(PipelineStatistics):
    """The process side: every counter set is written to the shared array."""

    _array: Any
    _send: Any

    def __init__(self, array: Any, send: Any) -> None:
        object.__setattr__(self, "_array", array)
        object.__setattr__(self, "_send", send)
        super().__init__()

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        index = _COUNTERS.get(name)
        if index is not None:
            self._array[index] = value
        elif name in _TEXTS:
            self._send("text", (name, value))


class _Child:
    """A pipeline's process and the parent's ends of its two pipes."""

    def __init__(self, name: str, process: Any, results: Connection, stop: Connection) -> None:
        self.name = name
        self.process = process
        self.results = results
        self.stop = stop
        self.done = False
        self._lock = threading.Lock()  # the supervisor and a status request both say things

    def say(self, word: str) -> None:
        with self._lock, contextlib.suppress(OSError):
            self.stop.send(word)

    def say_cancel(self) -> None:
        with self._lock, contextlib.suppress(OSError):
            self.stop.send("cancel")
            self.stop.close()


ASK_SECONDS = 1.0


def _asking(
    children: list[_Child], counters: dict[str, SharedCounters], continuous: set[str]
) -> Any:
    """A reader of each continuous pipeline's source connection: it asks the processes."""

    def connections() -> dict[str, bool | None]:
        asked = [c for c in children if c.name in continuous and not c.done]
        for child in asked:
            counters[child.name].answered.clear()
            counters[child.name].connected = False  # until it answers
            child.say("status")
        deadline = time.monotonic() + ASK_SECONDS
        for child in asked:
            counters[child.name].answered.wait(max(0.0, deadline - time.monotonic()))
        return {name: counters[name].connected for name in continuous}

    return connections


def _pipeline_context() -> Any:
    """``spawn`` where worker processes use the forkserver, else their start method.

    The forkserver is in the flow's process group: a group SIGTERM kills it, and the parent
    would then lose track of the children it forked. Spawned pipeline processes are the
    parent's own children; the forkserver stays the fast way to start their worker processes.
    """
    context = _context()
    if context.get_start_method() == "forkserver":
        return multiprocessing.get_context("spawn")
    return context


def _prepare_back_ends(flow: Flow) -> dict[str, str]:
    """Let back ends that need it (Ray: one cluster for all) prepare before processes start;
    the environment variables they give are for the pipeline processes only."""
    environment: dict[str, str] = {}
    for kind in sorted({stage.kind for pipeline in flow.pipelines for stage in pipeline.stages}):
        prepare = getattr(get_executor_class(kind), "prepare_processes", None)
        if prepare is not None:
            environment.update(prepare())
    return environment


@contextlib.contextmanager
def _environment(variables: dict[str, str]) -> Iterator[None]:
    """``variables`` set while the pipeline processes start (they copy the environment), then
    put back: the program's own environment is left as it was."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def launch_in_processes(
    flow: Flow, execution_seconds: float | None, handle_signals: bool = True
) -> None:
    environment = _prepare_back_ends(flow)
    context = _pipeline_context()
    broker = flow.make_broker(context)
    broker.start([pipeline.name for pipeline in flow.pipelines])
    failures: list[PipelineFailed] = []
    stop = threading.Event()
    counters = {p.name: SharedCounters(context) for p in flow.pipelines}
    flow._statistics = {name: shared.snapshot for name, shared in counters.items()}
    flow._broker = broker
    stage_counters = flow._counters
    assert stage_counters is not None
    levels = logging_levels()
    children: list[_Child] = []
    child_ends: list[Connection] = []
    for pipeline in flow.pipelines:
        payload = dumps_by_value((pipeline, flow._storages))
        results_receiver, results_sender = context.Pipe(duplex=False)
        stop_receiver, stop_sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_pipeline_main,
            args=(
                payload,
                flow.flow_id,
                stop_receiver,
                results_sender,
                broker,
                counters[pipeline.name].array,
                levels,
                stage_counters.of(pipeline.name),
            ),
            name=f"weirflow pipeline {pipeline.name}",
            daemon=False,  # it may start worker processes of its own
        )
        children.append(_Child(pipeline.name, process, results_receiver, stop_sender))
        child_ends.extend((results_sender, stop_receiver))
    collected: list[bool] = []  # marked before the wake-up: the thread may still be alive
    collector = make_thread(
        _collect,
        children,
        failures,
        counters,
        stop,
        flow._waker,
        collected,
        name="weirflow flow results",
    )
    flow._connections = _asking(
        children, counters, {p.name for p in flow.pipelines if p.continuous}
    )
    reason = "interrupted"  # unless supervise returns: a signal handler's exception
    with handling_signals(flow._waker, handle_signals) as signals:
        try:
            with _main_module_not_reimported(), _environment(environment):
                for child in children:
                    child.process.start()
                    signals.processes.append(child.process.pid)
            for end in child_ends:
                end.close()
            with signals_held():
                collector.start()
            reason = supervise(flow, signals, stop, lambda: not collected, execution_seconds)
        finally:
            stop.set()
            broker.close()
            _stop_children(children, grace_seconds(reason) if not failures else None)
            if collector.ident is not None:
                collector.join(5)
            flow._connections = flow._local_connections
            broker.release()
            flow.close_resources()
    raise_failures(failures)


def _stop_children(children: list[_Child], grace: float | None) -> None:
    """Stop the pipeline processes: gracefully first unless ``grace`` is None, then cancel,
    then kill their groups (they, if still there, their workers, their forkserver)."""
    started = [child for child in children if child.process.pid is not None]
    if grace is not None:
        for child in started:
            child.say("graceful")
        _join(started, grace)  # let runs in progress finish
    for child in children:
        child.say_cancel()
    _join(started, STOP_JOIN_SECONDS + 1)
    for child in started:
        kill_group(child.process.pid)
        child.process.join(1)
        end_process(child.process)  # if it never led a group of its own


def _join(children: list[_Child], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        child.process.join(max(0.0, deadline - time.monotonic()))


def _collect(
    children: list[_Child],
    failures: list[PipelineFailed],
    counters: dict[str, SharedCounters],
    stop: threading.Event,
    waker: Waker,
    collected: list[bool],
) -> None:
    """Read every child's results until all their pipes have closed."""
    try:
        _collect_until_closed(children, failures, counters, stop, waker)
    finally:
        collected.append(True)
        waker.wake()


def _collect_until_closed(
    children: list[_Child],
    failures: list[PipelineFailed],
    counters: dict[str, SharedCounters],
    stop: threading.Event,
    waker: Waker,
) -> None:
    open_pipes = {child.results: child for child in children}
    while open_pipes:
        for ready in wait(list(open_pipes)):
            assert isinstance(ready, Connection)
            child = open_pipes[ready]
            try:
                kind, payload = pickle.loads(ready.recv_bytes())
            except (EOFError, OSError):
                del open_pipes[ready]
                ready.close()
                if not child.done and not stop.is_set():
                    child.process.join(5)
                    died = WorkerDied(f"pipeline {child.name}", child.process.exitcode)
                    failures.append(PipelineFailed(child.name, None, died))
                    stop.set()
                waker.wake()
                continue
            if kind == "log":
                handle_forwarded(payload)
                continue
            if kind == "failure":
                stage, error_payload = payload
                error = _rebuild_exception(error_payload)
                failures.append(PipelineFailed(child.name, stage, error))
                stop.set()
            elif kind == "connected":
                counters[child.name].connected = payload
                counters[child.name].answered.set()
                continue
            elif kind == "text":
                name, text = payload
                counters[child.name].texts[name] = text
            elif kind == "done":
                child.done = True
            waker.wake()


def _pipeline_main(
    payload: bytes,
    flow_id: str,
    stop: Connection,
    results: Connection,
    broker: Broker,
    counters: Any,
    levels: dict[str, int],
    stage_counters: dict[str, StageCounters],
) -> None:
    """Entry point of a pipeline's process."""
    with contextlib.suppress(OSError):
        os.setsid()  # group signals reach only the parent; our descendants share our group
    # the parent decides when to stop, also when systemd signals every process of its cgroup
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    results_lock = threading.Lock()

    def send(kind: str, message: Any) -> None:
        data = pickle.dumps((kind, message))
        with results_lock, contextlib.suppress(OSError):
            results.send_bytes(data)

    forward_logging(send, levels)
    pipeline, storages = pickle.loads(payload)
    register_broker(flow_id, broker)
    freeze_startup_heap()
    local_stop = threading.Event()

    def report(failure: PipelineFailed) -> None:
        cause = failure.__cause__ or failure
        send("failure", (failure.stage, _exception_payload(cause)))
        local_stop.set()

    runner = SupervisedRunner(
        pipeline,
        StorageDirectory(storages),
        SystemClock(),
        local_stop,
        report,
        statistics=_CountingStatistics(counters, send),
        stage_counters=stage_counters,
    )

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            while (word := stop.recv()) in ("graceful", "status"):
                if word == "status":
                    send("connected", source_connected(pipeline))
                    continue
                local_stop.set()  # no new run; the run in progress may finish
                close_continuous_sources((pipeline,))
        local_stop.set()  # "cancel", or the parent's end
        runner.cancel()
        close_continuous_sources((pipeline,))

    start_thread(watch, name="weirflow stop watcher")
    try:
        run_leased(runner, broker)
    except BaseException as error:
        report(PipelineFailed(pipeline.name, None, error))
    finally:
        send("done", None)
        unregister_broker(flow_id)
        broker.release()
        close_all([*storages.values(), *pipeline.resources()])
        results.close()
