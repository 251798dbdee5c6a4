"""``Flow``: many pipelines under one supervisor.

``launch_flow`` starts one runner per pipeline (a thread each, or with ``use_threads=False`` a
process each, see ``_processes.py``) and waits for the first of: every pipeline done, a pipeline
failing under the ``stop`` policy, the time limit, SIGINT/SIGTERM, or :meth:`Flow.stop`. Then it
stops taking new work, cancels the runs in progress (at once for a failure or the time limit;
after a grace period for a signal), joins the runners, closes storages, senders and sources, and
raises the failure if there was one: a :class:`~weirflow.PipelineFailed` naming the pipeline and
stage with the original exception as ``__cause__`` (an ``ExceptionGroup`` when several failed
together). The supervisor waits on a self-pipe that signal handlers and threads write to, never
on a lock a handler could need (``_signals.py``). Every launch has its own state: nothing leaks
from one flow, or one launch, to the next. It logs at INFO a start banner, one line per finished
scheduled run and why the flow stopped.
"""

from __future__ import annotations

import contextlib
import logging
import math
import numbers
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from typing import Any

from .._errors import ConfigError, PipelineFailed
from .._interfaces import Storage
from .._threads import make_thread
from ._lazy import Lazy, close_all
from ._pipeline import Pipeline, PipelineStatistics
from ._processes import launch_in_processes
from ._schedule import Clock, SystemClock
from ._signals import Waker, handling_signals, signals_held
from ._stages import StorageDirectory
from ._streams import ThreadBroker, register_broker, unregister_broker
from ._supervise import (
    STOP_JOIN_SECONDS,
    SupervisedRunner,
    close_continuous_sources,
    grace_seconds,
    join_all,
    raise_failures,
    run_and_wake,
    supervise,
)
from ._targets import describe_flow

logger = logging.getLogger("weirflow")

_deferred: list[tuple[Flow, float | None]] | None = None


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
        self._statistics: dict[str, Callable[[], PipelineStatistics]] = {}
        self._waker = Waker()
        self._stop_asked = False
        self._launch_lock = threading.Lock()

    # -- inspection ---------------------------------------------------------------------------

    def describe(self) -> str:
        """The pipelines, their stages and what each talks to, as ``weirflow check`` prints."""
        return describe_flow(self)

    def storage(self, pipeline: str) -> Storage:
        """The storage of ``pipeline`` (to read what the flow saved)."""
        return StorageDirectory(self._storages)[pipeline]

    def statistics(self) -> dict[str, dict[str, Any]]:
        """Runs, failures, restarts and items per pipeline: live while the flow runs.

        ``runs`` counts runs that did not fail (a run cut short by the time limit or a stop
        included), ``items`` the items that passed the pipeline's last stage (for continuous
        pipelines too: their one run lasts as long as the flow).
        """
        return {name: asdict(read()) for name, read in self._statistics.items()}

    def close_resources(self) -> None:
        """Close this flow's connectors, storages and senders opened in this process."""
        close_all([*self._storages.values(), *(r for p in self.pipelines for r in p.resources())])

    def stop(self) -> None:
        """Ask a running :meth:`launch_flow` to stop gracefully (any thread; takes no lock)."""
        self._stop_asked = True
        self._waker.wake()

    # -- running ------------------------------------------------------------------------------

    def launch_flow(
        self, execution_seconds: float | None = None, *, handle_signals: bool = True
    ) -> None:
        """Run the flow until it finishes, fails, the time limit passes or it is stopped.

        While ``weirflow run`` or ``weirflow check`` loads a service file, a call at the file's
        top level does not run the flow: the command line runs it (``run``, with this
        ``execution_seconds`` unless ``--execution-seconds`` is given) or only checks it.

        Args:
            execution_seconds: a hard limit (a finite number of seconds > 0); the call returns
                within about 1.5 s after it, even with a run in progress (a run that ends
                within half a second is kept; others are cancelled; a pipeline process whose
                user code does not return is killed 2 s after that). ``None``: run
                until every pipeline is done or the flow is stopped (SIGINT/SIGTERM, or
                :meth:`stop`).
            handle_signals: stop gracefully on SIGINT/SIGTERM (the default, for a service of
                its own). ``False`` leaves signals to the program around the flow (an
                orchestrator's task): no handler is installed, and whatever the program's
                handler raises (``KeyboardInterrupt`` included) cancels the runs in progress,
                closes everything and comes out of this call.

        Raises:
            ConfigError: ``execution_seconds`` is not a finite number > 0.
            PipelineFailed: a pipeline failed under the ``stop`` policy (an ``ExceptionGroup``
                of them when several failed together).
        """
        execution_seconds = check_execution_seconds(execution_seconds)
        if _deferred is not None:
            _deferred.append((self, execution_seconds))
            return
        if not self._launch_lock.acquire(blocking=False):
            raise RuntimeError("this flow is already running")
        try:
            self._stop_asked = False
            self._waker.drain()
            started = time.monotonic()
            logger.info("%s", self._banner())
            if self.use_threads:
                self._launch_in_threads(execution_seconds, handle_signals)
            else:
                launch_in_processes(self, execution_seconds, handle_signals)
            logger.info("flow stopped after %.1fs", time.monotonic() - started)
        finally:
            self._launch_lock.release()

    def _banner(self) -> str:
        mode = "threads" if self.use_threads else "processes"
        parts = [
            f"{p.name} ({'continuous' if p.continuous else p.schedule.describe()})"
            for p in self.pipelines
        ]
        return f"flow starting: {len(self.pipelines)} pipeline(s) in {mode}: {', '.join(parts)}"

    def _launch_in_threads(self, execution_seconds: float | None, handle_signals: bool) -> None:
        stop = threading.Event()
        failures: list[PipelineFailed] = []
        failures_lock = threading.Lock()
        waker = self._waker

        def report(failure: PipelineFailed) -> None:
            with failures_lock:
                failures.append(failure)
            logger.error(
                "%s", failure, extra={"pipeline": failure.pipeline, "stage": failure.stage}
            )
            stop.set()
            waker.wake()

        broker = ThreadBroker(self._streams)
        register_broker(self.flow_id, broker)
        directory = StorageDirectory(self._storages)
        runners = [
            SupervisedRunner(pipeline, directory, self.clock, stop, report)
            for pipeline in self.pipelines
        ]
        self._statistics = {r.pipeline.name: _reader(r.statistics) for r in runners}
        ended: set[str] = set()  # marked before the wake-up: a thread may still be alive
        threads = [
            make_thread(
                run_and_wake,
                runner,
                waker,
                broker,
                ended,
                name=f"weirflow pipeline {runner.pipeline.name}",
            )
            for runner in runners
        ]
        reason = "interrupted"  # unless supervise returns: a signal handler's exception
        with handling_signals(waker, handle_signals) as signals:
            try:
                with signals_held():
                    for thread in threads:
                        thread.start()
                reason = supervise(
                    self, signals, stop, lambda: len(ended) < len(threads), execution_seconds
                )
            finally:
                stop.set()
                broker.close()
                close_continuous_sources(self.pipelines)
                if not failures:
                    join_all(threads, grace_seconds(reason))  # let runs in progress finish
                for runner in runners:
                    runner.cancel()
                left = join_all(threads, STOP_JOIN_SECONDS)
                unregister_broker(self.flow_id)
                self.close_resources()
        if left:
            logger.warning("pipelines still busy in user code after stopping: %s", ", ".join(left))
        raise_failures(failures)


def _reader(statistics: PipelineStatistics) -> Callable[[], PipelineStatistics]:
    return lambda: statistics


def check_execution_seconds(value: Any) -> float | None:
    """``value`` as a time limit: ``None``, or a finite number of seconds > 0.

    Raises:
        ConfigError: anything else (``nan``, ``inf``, ``-1``, ``0``, ``"60"``, ``True``).

    Example:
        >>> check_execution_seconds(60)
        60.0
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(
            f"execution_seconds must be a number of seconds (or None: run until stopped), "
            f"got {value!r}"
        )
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(
            f"execution_seconds must be a finite number of seconds > 0 (or None: run until "
            f"stopped), got {value!r}"
        )
    return seconds


@contextlib.contextmanager
def deferring_launches() -> Iterator[list[tuple[Flow, float | None]]]:
    """While inside, ``launch_flow`` records ``(flow, execution_seconds)`` instead of running."""
    global _deferred
    saved, _deferred = _deferred, []
    try:
        yield _deferred
    finally:
        _deferred = saved
