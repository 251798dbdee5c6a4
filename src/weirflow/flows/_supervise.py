"""Supervising pipeline runners: what thread mode (``_flow.py``) and process mode
(``_processes.py``) share.

The supervisor's wait (:func:`supervise`: until every pipeline is done, one failed, the time
limit, a signal or :meth:`Flow.stop`; it wakes for the flow's observers too), the runner that
logs each finished scheduled run, the grace periods, and the steps of a stop: finishing
streams, closing continuous sources, joining runner threads and raising what failed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .._errors import PipelineFailed
from .._runtime._supervisor import Run
from ._pipeline import Pipeline, PipelineRunner
from ._signals import SignalStop, Waker
from ._streams import Broker, StreamSender

logger = logging.getLogger("weirflow")

STOP_JOIN_SECONDS = 1.0
SIGNAL_GRACE_SECONDS = 5.0
FINISH_SECONDS = 0.5  # at the time limit or stop(): a run in progress that ends now is kept


def grace_seconds(reason: str) -> float:
    """How long runs in progress may finish before they are cancelled."""
    graces = {"signal": SIGNAL_GRACE_SECONDS, "failure": 0.0, "done": 0.0, "interrupted": 0.0}
    return graces.get(reason, FINISH_SECONDS)


class SupervisedRunner(PipelineRunner):
    """The runner a flow's supervisor uses: each finished scheduled run is one INFO line.

    The line names the pipeline, the items that passed, the duration and the outcome
    (``finished``, ``cut short`` by a stop, ``failed``: the failure itself is logged as the
    pipeline's policy says), also as record fields (``items``, ``duration_seconds``,
    ``outcome``) for JSON logs. The time spent in runs adds up in ``statistics.seconds``.
    """

    def run_once(self) -> None:
        started = time.monotonic()
        try:
            self._run_once_logged()
        finally:
            self.statistics.seconds += time.monotonic() - started

    def _run_once_logged(self) -> None:
        if self.pipeline.continuous:
            super().run_once()
            return
        runs, items, started = self.statistics.runs, self.statistics.items, time.monotonic()
        outcome = "failed"
        try:
            super().run_once()
            outcome = "cut short" if self._cancelled else "finished"
        finally:
            if self.statistics.runs != runs or outcome == "failed":  # else: stopped before
                self._log_run(outcome, self.statistics.items - items, started)

    def _log_run(self, outcome: str, items: int, started: float) -> None:
        duration = time.monotonic() - started
        logger.info(
            "pipeline %r: run %s: %d item(s) in %.3fs",
            self.pipeline.name,
            outcome,
            items,
            duration,
            extra={
                "pipeline": self.pipeline.name,
                "stage": None,
                "items": items,
                "duration_seconds": round(duration, 6),
                "outcome": outcome.replace(" ", "_"),
            },
        )

    def current(self) -> Run | None:
        """The run in progress (for live displays: read it, never drive it)."""
        return self._current


class Observer(Protocol):
    """Called by the supervisor's thread every ``every`` seconds while a flow runs (progress
    lines, summary logs). ``tick`` must return quickly; what it raises is logged, once."""

    @property
    def every(self) -> float: ...

    def tick(self) -> None: ...


class Supervised(Protocol):
    """What :func:`supervise` reads of a flow: its waker and whether ``stop()`` was called."""

    @property
    def _waker(self) -> Waker: ...

    @property
    def _stop_asked(self) -> bool: ...

    @property
    def observers(self) -> list[Observer]: ...

    def _heartbeat(self) -> None: ...


def supervise(
    flow: Supervised,
    signals: SignalStop,
    stop: threading.Event,
    running: Callable[[], bool],
    execution_seconds: float | None,
) -> str:
    """Wait until the flow must stop; log why; return ``"done"``, ``"failure"``,
    ``"time limit"``, ``"signal"`` or ``"stopped"`` (:meth:`Flow.stop`)."""
    deadline = None if execution_seconds is None else time.monotonic() + execution_seconds
    waker = flow._waker
    ticks = Ticks(flow.observers)
    while True:
        waker.drain()
        flow._heartbeat()  # a health check waiting for the supervisor gets its answer
        ticks.run_due()
        if signals.received is not None:
            logger.info(
                "received %s: stopping the flow (runs in progress get %gs to finish; "
                "Ctrl-C again exits at once)",
                signals.name,
                SIGNAL_GRACE_SECONDS,
            )
            return "signal"
        if flow._stop_asked:
            logger.info("stop() called: stopping the flow")
            return "stopped"
        if stop.is_set():
            return "failure"
        if not running():
            return "done"
        remaining = None if deadline is None else deadline - time.monotonic()
        if remaining is not None and remaining <= 0:
            logger.info("time limit of %gs reached: stopping the flow", execution_seconds)
            return "time limit"
        waker.wait(ticks.wait_at_most(remaining))


class Ticks:
    """When each observer is due next; the supervisor wakes for the first one."""

    def __init__(self, observers: list[Observer]) -> None:
        now = time.monotonic()
        self._due = [(now + observer.every, observer) for observer in observers]
        self._broken: set[int] = set()

    def run_due(self) -> None:
        now = time.monotonic()
        for position, (due, observer) in enumerate(self._due):
            if now >= due:
                self._due[position] = (now + observer.every, observer)
                try:
                    observer.tick()
                except Exception:
                    if id(observer) not in self._broken:  # once: a display must not flood
                        self._broken.add(id(observer))
                        logger.warning("%r failed; going on", observer, exc_info=True)

    def wait_at_most(self, remaining: float | None) -> float | None:
        if not self._due:
            return remaining
        first = max(0.0, min(due for due, _ in self._due) - time.monotonic())
        return first if remaining is None else min(first, remaining)


def run_and_wake(runner: PipelineRunner, waker: Waker, broker: Broker, ended: set[str]) -> None:
    try:
        run_leased(runner, broker)
    except BaseException as error:  # a bug in a runner must still stop the flow
        runner.report(PipelineFailed(runner.pipeline.name, None, error))
    finally:
        ended.add(runner.pipeline.name)
        waker.wake()


def run_leased(runner: PipelineRunner, broker: Broker) -> None:
    """Run ``runner`` while it holds its pipeline's lease (a broker shared by instances hands
    scheduled and once pipelines to one instance at a time); its streams end with it."""
    try:
        with broker.lease(runner.pipeline.name, runner.stop) as held:
            if held:
                runner.loop()
    finally:
        finish_streams(runner.pipeline, broker)


def stream_names(pipeline: Pipeline) -> list[str]:
    """The streams ``pipeline`` writes to."""
    names = {
        str(stage.sender.options.get("name"))
        for stage in pipeline.stages
        if stage.sender is not None and stage.sender.factory is StreamSender
    }
    return sorted(names)


def finish_streams(pipeline: Pipeline, broker: Broker) -> None:
    """A pipeline that ended writes no more to its streams."""
    for name in stream_names(pipeline):
        broker.finish(name, pipeline.name)


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
