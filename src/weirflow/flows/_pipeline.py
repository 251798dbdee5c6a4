"""A pipeline: a named chain of stages on a schedule, and the loop that runs it.

:class:`Pipeline` is frozen data. :class:`PipelineRunner` runs it in one thread (of the flow's
process, or of a process of its own): it waits for the next start time on the flow's stop event,
runs the stages once on the engine (a run can be cancelled from another thread), and applies the
pipeline's failure policy: ``stop`` (report and end), ``restart`` (back off exponentially, at most
``max_restarts`` times in a row, then stop) or ``continue`` (log, count, wait for the next run).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .._api import Operators
from .._errors import ConfigError, PipelineFailed
from .._runtime._ops import Map
from .._runtime._supervisor import Run, iterate_values
from ._lazy import Lazy
from ._schedule import Clock, Schedule
from ._stages import StageDef, StorageDirectory, engine_stage, finish, tag_stage, track

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

    def resources(self) -> list[Lazy[Any]]:
        """The connectors, storages and senders of this pipeline's stages."""
        found: list[Lazy[Any]] = []
        for stage in self.stages:
            found.extend(x for x in (stage.source, stage.storage, stage.sender) if x is not None)
        return found

    @property
    def continuous(self) -> bool:
        return bool(self.stages) and self.stages[0].continuous

    def describe(self) -> str:
        when = "continuous" if self.continuous else self.schedule.describe()
        lines = [f"pipeline {self.name!r}: {when}, on_failure={self.on_failure}"]
        for stage in self.stages:
            lines.append(
                f"  {self.name}.{stage.label}: {stage.description or stage.role}"
                f" [{stage.kind}, workers={stage.workers}, maxsize={stage.maxsize}]"
            )
        return "\n".join(lines)


@dataclass
class PipelineStatistics:
    """Counters of one pipeline in one launch of a flow."""

    runs: int = 0
    failures: int = 0
    restarts: int = 0
    items: int = 0
    last_error: str | None = None


@dataclass
class PipelineRunner:
    """Runs one pipeline until the flow stops, it fails (policy ``stop``) or its runs end."""

    pipeline: Pipeline
    directory: StorageDirectory
    clock: Clock
    stop: threading.Event
    report: Callable[[PipelineFailed], None]
    statistics: PipelineStatistics = field(default_factory=PipelineStatistics)
    _current: Run | None = None
    _cancelled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def loop(self) -> None:
        pipeline, clock, stop = self.pipeline, self.clock, self.stop
        next_start: float | None = pipeline.schedule.first(clock)
        restarts_in_a_row = 0
        while next_start is not None:
            if clock.wait(stop, next_start - clock.monotonic()):
                return
            started = clock.monotonic()
            try:
                self.run_once()
                restarts_in_a_row = 0
            except BaseException as error:
                if stop.is_set():
                    return
                failure = self._failure(error)
                if pipeline.on_failure == "continue":
                    logger.warning(
                        "%s; continuing with the next run", failure, extra=failure_fields(failure)
                    )
                elif pipeline.on_failure == "restart" and restarts_in_a_row < pipeline.max_restarts:
                    restarts_in_a_row += 1
                    self.statistics.restarts += 1
                    backoff = min(
                        pipeline.restart_backoff_seconds * 2 ** (restarts_in_a_row - 1),
                        RESTART_BACKOFF_CAP_SECONDS,
                    )
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
                    self.report(failure)
                    return
            if pipeline.continuous:
                return
            next_start = pipeline.schedule.following(clock, started)

    def _failure(self, error: BaseException) -> PipelineFailed:
        self.statistics.failures += 1
        self.statistics.last_error = f"{type(error).__name__}: {error}"
        stage = getattr(error, "weirflow_stage", None)
        failure = PipelineFailed(self.pipeline.name, stage, error)
        failure.__cause__ = error
        return failure

    def run_once(self) -> None:
        """One run of the stages on the engine; returns early if :meth:`cancel` is called."""
        pipeline = self.pipeline
        open_storages(pipeline)  # connected before the source is read, not on the first item
        upstream: Any = [None]
        stages = pipeline.stages
        if pipeline.continuous:
            first = stages[0]
            assert first.source is not None
            _check_acknowledgements(pipeline)
            upstream = Operators(first.kind).from_iterable(
                _continuous_items(first, pipeline.name), maxsize=first.maxsize
            )
            stages = stages[1:]
        for stage in stages:
            upstream = engine_stage(upstream, stage, pipeline.name, self.directory)
        if pipeline.continuous:  # items from at-least-once sources are acknowledged here
            upstream = Operators("thread").named(
                Map(finish), upstream, name=f"{pipeline.name}.acknowledge"
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
            for _ in iterate_values(run, 0, with_index=False):
                self.statistics.items += 1
        finally:
            with self._lock:
                self._current = None
                cancelled = self._cancelled
        if not cancelled:
            self.statistics.runs += 1

    def cancel(self) -> None:
        """Stop the run in progress, if any (its workers are cancelled and joined)."""
        with self._lock:
            run = self._current
            self._cancelled = run is not None
        if run is not None:
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
        if stage.storage is not None and stage.kind != "process":
            try:
                stage.storage.open()
            except BaseException as error:
                tag_stage(error, f"{pipeline.name}.{stage.label}")
                raise


def _check_acknowledgements(pipeline: Pipeline) -> None:
    source = pipeline.stages[0].source
    assert source is not None
    if getattr(source.get(), "at_least_once", False):
        for stage in pipeline.stages[1:]:
            if stage.kind == "process":
                raise ConfigError(
                    f"pipeline {pipeline.name!r}: stage '{pipeline.name}.{stage.label}' runs in "
                    "worker processes, which cannot report back when an item is done; with an "
                    "at-least-once source use kind='thread', 'task' or 'sync' (or "
                    "at_least_once=False)"
                )


def _continuous_items(stage: StageDef, pipeline: str) -> Any:
    assert stage.source is not None
    try:
        for item in stage.source.get().read({}):
            yield track(item)
    except BaseException as error:
        tag_stage(error, f"{pipeline}.{stage.label}")
        raise
