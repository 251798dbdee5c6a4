"""``use_threads=False``: every pipeline runs in a process of its own.

The parent sends each process its pipeline (cloudpickle: lambdas and closures work), the storage
directory (storages are made lazily in each process) and the flow's stream broker
(multiprocessing queues), and keeps two pipes to it. On the *results* pipe the process reports
failures (pickled, with the original traceback as the cause), its statistics and "done"; a pipe
that closes without "done" means the process died, which fails the flow. The *stop* pipe is how
the parent says stop: a thread in the process waits on it and cancels the run in progress. A
parent that dies closes it too, so no pipeline process outlives its flow. Each process runs the
same :class:`~weirflow.flows._pipeline.PipelineRunner` as the threaded mode.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import threading
import time
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any

from .._errors import PipelineFailed, WorkerDied
from .._runtime._pickling import dumps_by_value
from .._runtime.executors.process import (
    _context,
    _exception_payload,
    _main_module_not_reimported,
    _rebuild_exception,
    end_process,
)
from .._threads import make_thread, start_thread
from ._flow import (
    SIGNAL_GRACE_SECONDS,
    STOP_JOIN_SECONDS,
    close_continuous_sources,
    finish_streams,
    raise_failures,
    signals_stop,
)
from ._lazy import close_all
from ._pipeline import PipelineRunner, PipelineStatistics
from ._schedule import SystemClock
from ._stages import StorageDirectory
from ._streams import ProcessBroker, register_broker, unregister_broker

if TYPE_CHECKING:
    from ._flow import Flow


class _Child:
    """A pipeline's process and the parent's ends of its two pipes."""

    def __init__(self, name: str, process: Any, results: Connection, stop: Connection) -> None:
        self.name = name
        self.process = process
        self.results = results
        self.stop = stop
        self.done = False

    def say_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.stop.send(True)
        self.stop.close()


def launch_in_processes(flow: Flow, execution_seconds: float | None) -> None:
    context = _context()
    broker = ProcessBroker(flow._streams, context)
    failures: list[PipelineFailed] = []
    statistics = {p.name: PipelineStatistics() for p in flow.pipelines}
    flow._statistics = statistics
    wake = threading.Event()
    stop = threading.Event()
    flow._stop = stop
    flow._wake = wake
    children: list[_Child] = []
    child_ends: list[Connection] = []
    for pipeline in flow.pipelines:
        payload = dumps_by_value((pipeline, flow._storages))
        results_receiver, results_sender = context.Pipe(duplex=False)
        stop_receiver, stop_sender = context.Pipe(duplex=False)
        process = context.Process(  # type: ignore[attr-defined]
            target=_pipeline_main,
            args=(payload, flow.flow_id, stop_receiver, results_sender, broker),
            name=f"weirflow pipeline {pipeline.name}",
            daemon=False,  # it may start worker processes of its own
        )
        children.append(_Child(pipeline.name, process, results_receiver, stop_sender))
        child_ends.extend((results_sender, stop_receiver))
    collector = make_thread(
        _collect, children, failures, statistics, stop, wake, name="weirflow flow results"
    )
    graceful = threading.Event()
    with signals_stop(stop, wake, graceful):
        with _main_module_not_reimported():
            for child in children:
                child.process.start()
        for end in child_ends:
            end.close()
        collector.start()
        deadline = None if execution_seconds is None else time.monotonic() + execution_seconds
        while not stop.is_set() and collector.is_alive():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wake.wait(remaining)
            wake.clear()
        stop.set()
        broker.close()
        if graceful.is_set() and not failures:
            _join(children, SIGNAL_GRACE_SECONDS)  # let runs in progress finish
        for child in children:
            child.say_stop()
        _join(children, STOP_JOIN_SECONDS + 1)
        for child in children:
            end_process(child.process)
        collector.join(5)
    flow.close_resources()
    raise_failures(failures)


def _join(children: list[_Child], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for child in children:
        child.process.join(max(0.0, deadline - time.monotonic()))


def _collect(
    children: list[_Child],
    failures: list[PipelineFailed],
    statistics: dict[str, PipelineStatistics],
    stop: threading.Event,
    wake: threading.Event,
) -> None:
    """Read every child's results until all their pipes have closed."""
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
                    failure = PipelineFailed(child.name, None, died)
                    failure.__cause__ = died
                    failures.append(failure)
                    stop.set()
                wake.set()
                continue
            if kind == "failure":
                stage, error_payload = payload
                error = _rebuild_exception(error_payload)
                failure = PipelineFailed(child.name, stage, error)
                failure.__cause__ = error
                failures.append(failure)
                stop.set()
            elif kind == "statistics":
                statistics[child.name] = PipelineStatistics(**payload)
            elif kind == "done":
                child.done = True
            wake.set()


def _pipeline_main(
    payload: bytes, flow_id: str, stop: Connection, results: Connection, broker: ProcessBroker
) -> None:
    """Entry point of a pipeline's process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipeline, storages = pickle.loads(payload)
    register_broker(flow_id, broker)
    local_stop = threading.Event()
    results_lock = threading.Lock()

    def send(kind: str, message: Any) -> None:
        with results_lock, contextlib.suppress(OSError):
            results.send_bytes(pickle.dumps((kind, message)))

    def report(failure: PipelineFailed) -> None:
        cause = failure.__cause__ or failure
        send("failure", (failure.stage, _exception_payload(cause)))
        local_stop.set()

    runner = PipelineRunner(pipeline, StorageDirectory(storages), SystemClock(), local_stop, report)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            stop.recv()  # a word from the parent, or its end
        local_stop.set()
        runner.cancel()
        close_continuous_sources((pipeline,))

    start_thread(watch, name="weirflow stop watcher")
    try:
        runner.loop()
    except BaseException as error:
        failure = PipelineFailed(pipeline.name, None, error)
        failure.__cause__ = error
        report(failure)
    finally:
        finish_streams(pipeline, broker)
        send("statistics", vars(runner.statistics))
        send("done", None)
        results.close()
        unregister_broker(flow_id)
        close_all([*storages.values(), *pipeline.resources()])
