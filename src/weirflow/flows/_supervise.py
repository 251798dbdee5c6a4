"""Supervising pipeline runners: what thread mode (``_flow.py``) and process mode
(``_processes.py``) share.

The supervisor's wait (:func:`supervise`: until every pipeline is done, one failed, the time
limit, a signal or :meth:`Flow.stop`), the runner that logs each finished scheduled run, the
grace periods, and the steps of a stop: finishing streams, closing continuous sources, joining
runner threads and raising what failed.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from .._errors import PipelineFailed
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
    """The runner a flow's supervisor uses: each finished scheduled run is one INFO line, and
    the time spent in runs adds up in ``statistics.seconds``."""

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
        super().run_once()
        if self.statistics.runs == runs:
            return  # the flow stopped before the run began
        logger.info(
            "pipeline %r: run %s: %d item(s) in %.3fs",
            self.pipeline.name,
            "cut short" if self._cancelled else "finished",
            self.statistics.items - items,
            time.monotonic() - started,
            extra={"pipeline": self.pipeline.name, "stage": None},
        )


class Supervised(Protocol):
    """What :func:`supervise` reads of a flow: its waker and whether ``stop()`` was called."""

    @property
    def _waker(self) -> Waker: ...

    @property
    def _stop_asked(self) -> bool: ...


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
    while True:
        waker.drain()
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
        waker.wait(remaining)


def run_and_wake(runner: PipelineRunner, waker: Waker, broker: Broker, ended: set[str]) -> None:
    try:
        runner.loop()
    except BaseException as error:  # a bug in a runner must still stop the flow
        runner.report(PipelineFailed(runner.pipeline.name, None, error))
    finally:
        finish_streams(runner.pipeline, broker)
        ended.add(runner.pipeline.name)
        waker.wake()


def finish_streams(pipeline: Pipeline, broker: Broker) -> None:
    """A pipeline that ended writes no more to its streams."""
    names = {
        stage.sender.options.get("name")
        for stage in pipeline.stages
        if stage.sender is not None and stage.sender.factory is StreamSender
    }
    for name in names:
        broker.finish(str(name))


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
