"""``use_threads=False``: every pipeline runs in a process of its own.

The parent sends each process its pipeline (cloudpickle: lambdas and closures work), the storage
directory (storages are made lazily in each process), a stop pipe, a results queue and the
flow's stream broker (multiprocessing queues). Each process runs the same
:class:`~weirflow.flows._pipeline.PipelineRunner` as the threaded mode and reports failures
(pickled, with the original traceback as the cause) and its statistics on the results queue.
Stopping: the parent writes to (and closes) each process's stop pipe; a thread there cancels the
run in progress. A parent that dies closes the pipes too, so no pipeline process outlives it.
The parent then joins the processes and terminates any still busy after a second.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import threading
import time
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import cloudpickle

from .._errors import PipelineFailed
from .._runtime.executors.process import (
    _context,
    _exception_payload,
    _main_module_not_reimported,
    _rebuild_exception,
)
from ._flow import (
    SIGNAL_GRACE_SECONDS,
    STOP_JOIN_SECONDS,
    close_continuous_sources,
    finish_streams,
    raise_failures,
    signals_stop,
)
from ._lazy import close_all_opened
from ._pipeline import PipelineRunner, PipelineStatistics
from ._schedule import SystemClock
from ._stages import StorageDirectory
from ._streams import ProcessBroker, register_broker, unregister_broker

if TYPE_CHECKING:
    from ._flow import Flow


def launch_in_processes(flow: Flow, execution_seconds: float | None) -> None:
    context = _context()
    results: Any = context.Queue()
    broker = ProcessBroker(flow._streams, context)
    failures: list[PipelineFailed] = []
    statistics: dict[str, PipelineStatistics] = {
        p.name: PipelineStatistics() for p in flow.pipelines
    }
    flow._statistics = statistics
    wake = threading.Event()
    local_stop = threading.Event()
    flow._stop = local_stop
    processes = []
    stop_senders = []
    for pipeline in flow.pipelines:
        payload = cloudpickle.dumps((pipeline, flow._storages))
        stop_receiver, stop_sender = context.Pipe(duplex=False)
        process = context.Process(  # type: ignore[attr-defined]
            target=_pipeline_main,
            args=(payload, flow.flow_id, stop_receiver, results, broker),
            name=f"weirflow pipeline {pipeline.name}",
            daemon=False,  # it may start worker processes of its own
        )
        processes.append(process)
        stop_senders.append((stop_receiver, stop_sender))
    collector = threading.Thread(
        target=_collect,
        args=(results, failures, statistics, local_stop, wake, len(processes)),
        name="weirflow flow results",
        daemon=True,
    )
    graceful = threading.Event()
    with signals_stop(local_stop, wake, graceful):
        with _main_module_not_reimported():
            for process in processes:
                process.start()
        for stop_receiver, _ in stop_senders:
            stop_receiver.close()
        collector.start()
        deadline = None if execution_seconds is None else time.monotonic() + execution_seconds
        while not local_stop.is_set() and collector.is_alive():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                break
            wake.wait(remaining)
            wake.clear()
        if graceful.is_set() and not failures:
            broker.close()
            _join(processes, SIGNAL_GRACE_SECONDS)
        for _, stop_sender in stop_senders:  # closing says "stop" too (and if we die)
            with contextlib.suppress(OSError):
                stop_sender.send(True)
            stop_sender.close()
        broker.close()
        _join(processes, STOP_JOIN_SECONDS + 1)
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join(1)
            if process.is_alive():
                process.kill()
                process.join(1)
        results.put(None)
        collector.join(5)
    broker.release()
    results.cancel_join_thread()
    results.close()
    close_all_opened()
    raise_failures(failures)


def _join(processes: list[Any], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))


def _collect(
    results: Any,
    failures: list[PipelineFailed],
    statistics: dict[str, PipelineStatistics],
    stop: threading.Event,
    wake: threading.Event,
    count: int,
) -> None:
    done = 0
    while done < count:
        message = results.get()
        if message is None:
            return
        kind, pipeline, payload = message
        if kind == "failure":
            stage, error_payload = payload
            error = _rebuild_exception(error_payload)
            failure = PipelineFailed(pipeline, stage, error)
            failure.__cause__ = error
            failures.append(failure)
            stop.set()
        elif kind == "statistics":
            statistics[pipeline] = PipelineStatistics(**payload)
        elif kind == "done":
            done += 1
        wake.set()


def _pipeline_main(
    payload: bytes, flow_id: str, stop: Connection, results: Any, broker: ProcessBroker
) -> None:
    """Entry point of a pipeline's process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pipeline, storages = pickle.loads(payload)
    register_broker(flow_id, broker)
    local_stop = threading.Event()

    def report(failure: PipelineFailed) -> None:
        cause = failure.__cause__ or failure
        results.put(("failure", pipeline.name, (failure.stage, _exception_payload(cause))))
        local_stop.set()

    runner = PipelineRunner(pipeline, StorageDirectory(storages), SystemClock(), local_stop, report)

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            stop.recv()  # a word from the parent, or its end
        local_stop.set()
        runner.cancel()
        close_continuous_sources((pipeline,))

    threading.Thread(target=watch, name="weirflow stop watcher", daemon=True).start()
    try:
        runner.loop()
    except BaseException as error:
        failure = PipelineFailed(pipeline.name, None, error)
        failure.__cause__ = error
        report(failure)
    finally:
        finish_streams(pipeline, broker)
        with contextlib.suppress(Exception):
            results.put(("statistics", pipeline.name, vars(runner.statistics)))
            results.put(("done", pipeline.name, None))
        unregister_broker(flow_id)
        close_all_opened()
