"""``Flow``: many pipelines under one supervisor.

``launch_flow`` starts one runner per pipeline (a thread each, or with ``use_threads=False`` a
process each) and waits for the first of: every pipeline done, a pipeline failing under the
``stop`` policy, the time limit, or SIGINT/SIGTERM. Then it stops taking new work, cancels the
runs in progress (at once for a failure or the time limit; after a grace period for a signal),
joins the runners, closes storages, senders and sources, and raises the failure if there was
one: a :class:`~weirflow.PipelineFailed` naming the pipeline and stage with the original
exception as ``__cause__`` (an ``ExceptionGroup`` when several failed together). Every launch
has its own state: nothing leaks from one flow, or one launch, to the next.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from types import FrameType
from typing import Any

from .._errors import PipelineFailed
from .._interfaces import Storage
from .._threads import make_thread
from ._lazy import Lazy, close_all
from ._pipeline import Pipeline, PipelineRunner, PipelineStatistics
from ._schedule import Clock, SystemClock
from ._stages import StorageDirectory
from ._streams import Broker, StreamSender, ThreadBroker, register_broker, unregister_broker

logger = logging.getLogger("weirflow")

STOP_JOIN_SECONDS = 1.0
SIGNAL_GRACE_SECONDS = 5.0


class Flow:
    """A built, validated service; run it with :meth:`launch_flow`."""

    def __init__(
        self,
        pipelines: tuple[Pipeline, ...],
        storages: Mapping[str, Lazy[Storage]],
        streams: Mapping[str, int],
        use_threads: bool,
        flow_id: str,
        clock: Clock | None = None,
    ) -> None:
        self.pipelines = pipelines
        self.use_threads = use_threads
        self.flow_id = flow_id
        self.clock: Clock = clock or SystemClock()
        self._storages = dict(storages)
        self._streams = dict(streams)  # stream name -> number of pipelines writing to it
        self._statistics: dict[str, PipelineStatistics] = {}
        self._stop: threading.Event | None = None
        self._wake: threading.Event | None = None
        self._launch_lock = threading.Lock()

    # -- inspection ---------------------------------------------------------------------------

    def describe(self) -> str:
        """The pipelines and their stages, as ``weirflow check`` prints them."""
        mode = "threads" if self.use_threads else "processes"
        lines = [f"flow with {len(self.pipelines)} pipeline(s), run in {mode}"]
        lines.extend(pipeline.describe() for pipeline in self.pipelines)
        return "\n".join(lines)

    def storage(self, pipeline: str) -> Storage:
        """The storage of ``pipeline`` (to read what the flow saved)."""
        return StorageDirectory(self._storages)[pipeline]

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Runs, failures, restarts and items per pipeline, for the last launch."""
        return {name: asdict(stats) for name, stats in self._statistics.items()}

    def close_resources(self) -> None:
        """Close this flow's connectors, storages and senders opened in this process."""
        close_all([*self._storages.values(), *(r for p in self.pipelines for r in p.resources())])

    def stop(self) -> None:
        """Ask a running :meth:`launch_flow` to stop gracefully (thread-safe)."""
        if self._stop is not None:
            self._stop.set()
        if self._wake is not None:
            self._wake.set()

    # -- running ------------------------------------------------------------------------------

    def launch_flow(self, execution_seconds: float | None = None) -> None:
        """Run the flow until it finishes, fails, the time limit passes or it is stopped.

        Args:
            execution_seconds: a hard limit; the call returns within about a second after it,
                even with a run in progress. ``None``: run until every pipeline is done or
                the flow is stopped (SIGINT/SIGTERM, or :meth:`stop`).
        """
        if not self._launch_lock.acquire(blocking=False):
            raise RuntimeError("this flow is already running")
        try:
            if self.use_threads:
                self._launch_in_threads(execution_seconds)
            else:
                from ._processes import launch_in_processes

                launch_in_processes(self, execution_seconds)
        finally:
            self._launch_lock.release()

    def _launch_in_threads(self, execution_seconds: float | None) -> None:
        stop = threading.Event()
        self._stop = stop
        wake = threading.Event()
        self._wake = wake
        failures: list[PipelineFailed] = []
        failures_lock = threading.Lock()

        def report(failure: PipelineFailed) -> None:
            with failures_lock:
                failures.append(failure)
            logger.error(
                "%s", failure, extra={"pipeline": failure.pipeline, "stage": failure.stage}
            )
            stop.set()
            wake.set()

        broker = ThreadBroker(self._streams)
        register_broker(self.flow_id, broker)
        directory = StorageDirectory(self._storages)
        self._statistics = {}
        runners = []
        for pipeline in self.pipelines:
            runner = PipelineRunner(pipeline, directory, self.clock, stop, report)
            self._statistics[pipeline.name] = runner.statistics
            runners.append(runner)
        threads = [
            make_thread(
                run_and_wake, runner, wake, broker, name=f"weirflow pipeline {runner.pipeline.name}"
            )
            for runner in runners
        ]
        graceful = threading.Event()
        with signals_stop(stop, wake, graceful):
            for thread in threads:
                thread.start()
            wait_for_end(wake, stop, threads, execution_seconds)
            stop.set()
            broker.close()
            close_continuous_sources(self.pipelines)
            if graceful.is_set() and not failures:
                join_all(threads, SIGNAL_GRACE_SECONDS)  # let runs in progress finish
            for runner in runners:
                runner.cancel()
            left = join_all(threads, STOP_JOIN_SECONDS)
        unregister_broker(self.flow_id)
        self.close_resources()
        if left:
            logger.warning("pipelines still busy in user code after stopping: %s", ", ".join(left))
        raise_failures(failures)


def run_and_wake(runner: PipelineRunner, wake: threading.Event, broker: Broker) -> None:
    try:
        runner.loop()
    except BaseException as error:  # a bug in a runner must still stop the flow
        failure = PipelineFailed(runner.pipeline.name, None, error)
        failure.__cause__ = error
        runner.report(failure)
    finally:
        finish_streams(runner.pipeline, broker)
        wake.set()


def finish_streams(pipeline: Pipeline, broker: Broker) -> None:
    """A pipeline that ended writes no more to its streams."""
    names = {
        stage.sender.options.get("name")
        for stage in pipeline.stages
        if stage.sender is not None and stage.sender.factory is StreamSender
    }
    for name in names:
        broker.finish(str(name))


def wait_for_end(
    wake: threading.Event,
    stop: threading.Event,
    threads: list[threading.Thread],
    execution_seconds: float | None,
) -> None:
    deadline = None if execution_seconds is None else time.monotonic() + execution_seconds
    while not stop.is_set() and any(thread.is_alive() for thread in threads):
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            return
        wake.wait(remaining)
        wake.clear()


def join_all(threads: list[threading.Thread], seconds: float) -> list[str]:
    deadline = time.monotonic() + seconds
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [thread.name for thread in threads if thread.is_alive()]


def close_continuous_sources(pipelines: tuple[Pipeline, ...]) -> None:
    """Make continuous sources return (their pipelines' runs end)."""
    for pipeline in pipelines:
        for stage in pipeline.stages:
            if stage.continuous and stage.source is not None and stage.source.opened is not None:
                with contextlib.suppress(Exception):
                    stage.source.close()


def raise_failures(failures: list[PipelineFailed]) -> None:
    if len(failures) == 1:
        raise failures[0]
    if failures:
        raise ExceptionGroup("several pipelines failed", failures)


@contextlib.contextmanager
def signals_stop(
    stop: threading.Event, wake: threading.Event, graceful: threading.Event
) -> Iterator[None]:
    """SIGINT/SIGTERM stop the flow gracefully; a second SIGINT exits at once with 130."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        if graceful.is_set():
            if signum == signal.SIGINT:
                os._exit(130)
            return
        graceful.set()  # first: a second signal may interrupt this handler
        stop.set()
        wake.set()
        logger.warning("received %s: stopping the flow", signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
