"""A pipeline: a named chain of stages on a schedule, and the loop that runs it.

:class:`Pipeline` is frozen data. :class:`PipelineRunner` runs it in one thread (of the flow's
process, or of a process of its own): it waits for the next start time on the flow's stop event,
runs the stages once on the engine (a run can be cancelled from another thread), and applies the
pipeline's failure policy: ``stop`` (report and end), ``restart`` (back off exponentially, at most
``max_restarts`` times in a row, then stop) or ``continue`` (log, count, wait for the next run).

Under ``continue``, failures of a continuous pipeline (and of any pipeline with a
``dead_letter``) are item-level: an item that fails in a stage becomes a record that goes on to
the run's end (:mod:`~weirflow.flows._ends`), where it is logged, counted and kept as a dead
letter, while every other item goes on. A restart reads the source again after closing the
last read; a restart counts as "in a row" only if no item passed since the previous one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from .._api import Operators
from .._errors import PipelineFailed, stage_of, tag_stage
from .._logcontext import reset_log_context, set_log_context
from .._retry import Retry
from .._runtime._ops import Map
from .._runtime._stats import StageCounters
from .._runtime._supervisor import Run, iterate_values
from .._runtime.executors import executor_traits
from .._stage import Stage
from ._dead_letters import DeadLetters
from ._ends import NOT_AN_ITEM, Pending, PipelineEnd, SourceRead
from ._lazy import Lazy
from ._schedule import Clock, Schedule
from ._stages import (
    StageDef,
    StorageDirectory,
    engine_stage,
    run_starts,
    stop_retrying,
)

logger = logging.getLogger("weirflow")

Policy = Literal["stop", "restart", "continue"]
POLICIES: tuple[Policy, ...] = ("stop", "restart", "continue")
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_CAP_SECONDS = 60.0


@dataclass(frozen=True)
class Pipeline:
    """A named chain of stages and when to run it."""

    name: str
    schedule: Schedule
    stages: tuple[StageDef, ...]
    on_failure: Policy = "stop"
    max_restarts: int = 5
    restart_backoff_seconds: float = RESTART_BACKOFF_SECONDS
    dead_letter: DeadLetters | None = None

    @property
    def restart_backoff(self) -> Retry:
        """The waits between restarts: from ``restart_backoff_seconds``, doubling up to
        :data:`RESTART_BACKOFF_CAP_SECONDS` (how many restarts is ``max_restarts``' call)."""
        return Retry(backoff=self.restart_backoff_seconds, cap=RESTART_BACKOFF_CAP_SECONDS)

    def resources(self) -> list[Lazy[Any]]:
        """The connectors, storages and senders of this pipeline's stages, and dead letters."""
        found: list[Lazy[Any]] = []
        for stage in self.stages:
            found.extend(x for x in (stage.source, stage.storage, stage.sender) if x is not None)
        if self.dead_letter is not None:
            found.extend(self.dead_letter.resources())
        return found

    @property
    def continuous(self) -> bool:
        return bool(self.stages) and self.stages[0].continuous

    @property
    def item_level(self) -> bool:
        """Whether a failing item is set aside (and the run goes on) instead of failing the run."""
        return self.on_failure == "continue" and (self.continuous or self.dead_letter is not None)

    def describe(self, target: Callable[[StageDef], str] | None = None) -> str:
        """The pipeline and its stages, one line each; ``target(stage)`` says what it talks to."""
        when = "continuous" if self.continuous else self.schedule.describe()
        lines = [f"pipeline {self.name!r}: {when}, on_failure={self.on_failure}"]
        if self.dead_letter is not None:
            lines[0] += f", {self.dead_letter.describe()}"
        for stage in self.stages:
            retries = stage.retry.attempts - 1
            talks_to = target(stage) if target is not None else ""
            lines.append(
                f"  {self.name}.{stage.label}: {stage.description or stage.role}"
                f"{f' -> {talks_to}' if talks_to else ''}"
                f" [{stage.kind}, workers={stage.workers}, maxsize={stage.maxsize}"
                f"{f', retries={retries}' if retries else ''}]"
            )
        return "\n".join(lines)


@dataclass
class PipelineStatistics:
    """Counters of one pipeline in one launch of a flow (written by its runner).

    ``state`` is one of :data:`STATES` by position; times are nanoseconds since the epoch (0:
    never); ``seconds`` is the time spent in its runs. ``delivered``/``acked``/``redelivered``
    count the deliveries of a source that acknowledges (at least once): in flight are the
    others.
    """

    runs: int = 0
    failures: int = 0
    restarts: int = 0
    items: int = 0
    failed_items: int = 0
    dead_letters: int = 0
    seconds: float = 0.0
    state: int = 0
    last_outcome: int = 0
    last_run_started_ns: int = 0
    last_run_ended_ns: int = 0
    last_success_ns: int = 0
    next_run_ns: int = 0
    delivered: int = 0
    acked: int = 0
    redelivered: int = 0
    last_error: str | None = None
    last_error_type: str | None = None
    last_error_stage: str | None = None


#: A pipeline's states, in the order of ``PipelineStatistics.state``.
STATES = ("starting", "waiting", "running", "restarting", "failed", "done")
#: The outcomes of a pipeline's last run, in the order of ``PipelineStatistics.last_outcome``.
OUTCOMES = ("none", "ok", "error", "cut short")
_WAITING, _RUNNING, _RESTARTING, _FAILED, _DONE = range(1, 6)


@dataclass
class PipelineRunner:
    """Runs one pipeline until the flow stops, it fails (policy ``stop``) or its runs end."""

    pipeline: Pipeline
    directory: StorageDirectory
    clock: Clock
    stop: threading.Event
    report: Callable[[PipelineFailed], None]
    statistics: PipelineStatistics = field(default_factory=PipelineStatistics)
    stage_counters: Mapping[str, StageCounters] = field(default_factory=dict)  # by label
    _current: Run | None = None
    _cancelled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pending: Pending | None = None
    on_item: Callable[[Any], None] | None = None
    """Called with each item that passed the last stage (``weirflow.testing.run_once``)."""

    def __post_init__(self) -> None:
        if self.pipeline.continuous and _replays(self.pipeline):
            self._pending = Pending()

    def loop(self) -> None:
        token = set_log_context(self.pipeline.name, None)  # the runner's records name it
        try:
            self._loop()
        finally:
            reset_log_context(token)
            if self.statistics.state != _FAILED:
                self.statistics.state = _DONE
            self.statistics.next_run_ns = 0

    def _waiting(self, next_start: float) -> None:
        statistics = self.statistics
        delay = max(0.0, next_start - self.clock.monotonic())
        statistics.next_run_ns = time.time_ns() + int(delay * 1e9)
        if statistics.state != _RESTARTING:
            statistics.state = _WAITING

    def _started(self) -> None:
        self.statistics.state = _RUNNING
        self.statistics.next_run_ns = 0
        self.statistics.last_run_started_ns = time.time_ns()

    def _ended(self) -> None:
        statistics, now = self.statistics, time.time_ns()
        statistics.last_run_ended_ns = now
        statistics.last_outcome = OUTCOMES.index("cut short" if self._cancelled else "ok")
        statistics.last_success_ns = now

    def _loop(self) -> None:
        pipeline, clock, stop = self.pipeline, self.clock, self.stop
        next_start: float | None = pipeline.schedule.first(clock)
        restarts_in_a_row = 0
        while next_start is not None:
            self._waiting(next_start)
            if clock.wait(stop, next_start - clock.monotonic()):
                return
            started = clock.monotonic()
            items_before = self.statistics.items
            self._started()
            try:
                self.run_once()
                restarts_in_a_row = 0
                self._ended()
            except BaseException as error:
                if stop.is_set():
                    return
                if self.statistics.items > items_before:
                    restarts_in_a_row = 0  # the run made progress: a new series of failures
                failure = self._failure(error)
                if pipeline.on_failure == "continue" and pipeline.continuous:
                    # not an item's failure (the source, the engine): read again, as restart
                    # does, but when the restarts run out only this pipeline ends
                    if restarts_in_a_row >= pipeline.max_restarts:
                        self.statistics.state = _FAILED
                        logger.error(
                            "%s; the pipeline ends after %d restarts in a row",
                            failure,
                            restarts_in_a_row,
                            extra=failure_fields(failure),
                        )
                        return
                    restarts_in_a_row += 1
                    backoff = pipeline.restart_backoff.delay(restarts_in_a_row)
                    self.statistics.restarts += 1
                    self.statistics.state = _RESTARTING
                    logger.warning(
                        "%s; reading again in %.1fs (restart %d of %d)",
                        failure,
                        backoff,
                        restarts_in_a_row,
                        pipeline.max_restarts,
                        extra=failure_fields(failure),
                    )
                    if clock.wait(stop, backoff):
                        return
                    next_start = clock.monotonic()
                    continue
                if pipeline.on_failure == "continue":
                    logger.warning(
                        "%s; continuing with the next run", failure, extra=failure_fields(failure)
                    )
                elif pipeline.on_failure == "restart" and restarts_in_a_row < pipeline.max_restarts:
                    restarts_in_a_row += 1
                    self.statistics.restarts += 1
                    self.statistics.state = _RESTARTING
                    backoff = pipeline.restart_backoff.delay(restarts_in_a_row)
                    logger.warning(
                        "%s; restart %d of %d in %.1fs",
                        failure,
                        restarts_in_a_row,
                        pipeline.max_restarts,
                        backoff,
                        extra=failure_fields(failure),
                    )
                    if clock.wait(stop, backoff):
                        return
                    next_start = clock.monotonic()
                    continue
                else:
                    self.statistics.state = _FAILED
                    self.report(failure)
                    return
            if pipeline.continuous:
                return
            next_start = pipeline.schedule.following(clock, started)

    def _failure(self, error: BaseException) -> PipelineFailed:
        statistics, stage = self.statistics, stage_of(error)
        statistics.failures += 1
        statistics.last_run_ended_ns = time.time_ns()
        statistics.last_outcome = OUTCOMES.index("error")
        statistics.last_error_type = type(error).__name__
        statistics.last_error_stage = stage
        statistics.last_error = f"{type(error).__name__}: {error}"
        return PipelineFailed(self.pipeline.name, stage, error)

    def run_once(self) -> None:
        """One run of the stages on the engine; returns early if :meth:`cancel` is called."""
        pipeline = self.pipeline
        open_storages(pipeline)  # connected before the source is read, not on the first item
        upstream: Any = [None]
        stages = pipeline.stages
        read: SourceRead | None = None
        if pipeline.continuous:
            first = stages[0]
            read = SourceRead(
                first,
                pipeline.name,
                self._pending,
                self.statistics,
                self.stage_counters.get(first.label),
            )
            upstream = Operators(first.kind).from_iterable(read.items(), maxsize=first.maxsize)
            # the read's log records name the pipeline and its source stage
            where = {"name": f"{pipeline.name}.{first.label}", "pipeline": pipeline.name}
            upstream = Stage(replace(upstream.spec, **where))
            stages = stages[1:]
        ending = run_starts(pipeline.name)
        try:
            self._run(upstream, stages, read)
        finally:
            ending.set()
            if read is not None:
                read.close()

    def _run(self, upstream: Any, stages: tuple[StageDef, ...], read: SourceRead | None) -> None:
        pipeline = self.pipeline
        item_level = pipeline.item_level
        for stage in stages:
            counters = self.stage_counters.get(stage.label)
            upstream = engine_stage(
                upstream, stage, pipeline.name, self.directory, item_level, counters
            )
        if pipeline.continuous or item_level:  # acknowledgements and failed items, here
            end = PipelineEnd(
                pipeline.name,
                pipeline.dead_letter,
                self.statistics,
                read.stop if read is not None else None,
            )
            upstream = Operators("thread").named(
                Map(end),
                upstream,
                name=f"{pipeline.name}.end",
                on_done=end.done,
                pipeline=pipeline.name,
            )
        spec = upstream.spec if hasattr(upstream, "spec") else None
        if spec is None:
            return
        run = Run(spec)
        with self._lock:
            if self.stop.is_set():
                return
            self._current = run
            self._cancelled = False
        try:
            logger.debug(
                "pipeline %r: run started",
                pipeline.name,
                extra={"pipeline": pipeline.name, "stage": None},
            )
            for value in iterate_values(run, 0, with_index=False):
                if value is not NOT_AN_ITEM:
                    self.statistics.items += 1
                    if self.on_item is not None:
                        self.on_item(value)
        finally:
            with self._lock:
                self._current = None
        self.statistics.runs += 1  # a run cut short by the time limit or a stop counts too

    def cancel(self) -> None:
        """Stop the run in progress, if any (its workers are cancelled and joined)."""
        with self._lock:
            run = self._current
            self._cancelled = run is not None
        if run is not None:
            stop_retrying(self.pipeline.name)
            run.cancel()
        for stage in self.pipeline.stages:  # a save blocked in a driver gives up too
            if stage.storage is not None:
                stage.storage.interrupt()


def failure_fields(failure: PipelineFailed) -> dict[str, Any]:
    """Log record fields naming where a failure happened (``record.pipeline``, ``record.stage``)."""
    return {"pipeline": failure.pipeline, "stage": failure.stage}


def open_storages(pipeline: Pipeline) -> None:
    """Open the storages of ``pipeline`` that run in this process (``Storage.open``)."""
    for stage in pipeline.stages:
        if stage.storage is not None and not executor_traits(stage.kind).crosses_process:
            try:
                stage.storage.open()
            except BaseException as error:
                tag_stage(error, f"{pipeline.name}.{stage.label}")
                raise


def _replays(pipeline: Pipeline) -> bool:
    """Whether this continuous pipeline keeps its items until they passed, for a restart.

    Only under ``restart`` (``stop`` ends the flow, ``continue`` sets failed items aside) and
    only for sources that do not redeliver themselves: tracking costs a ticket per item.
    """
    if pipeline.on_failure != "restart":
        return False
    source = pipeline.stages[0].source
    assert source is not None
    return not getattr(source.get(), "at_least_once", False)
