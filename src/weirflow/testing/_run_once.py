"""One run of each scheduled pipeline, on a virtual clock: :func:`run_once` and its results.

A test of a service wants to know what one run of each pipeline does, without waiting for its
schedule: :func:`run_once` puts every pipeline's first start on a :class:`VirtualClock` (an
hourly pipeline with ``delay_seconds=60`` starts at minute one, a ``cron="0 6 * * *"`` one at
six), runs them in that order in the calling thread, one run each, and returns what passed
each pipeline's last stage with its counters, as frozen values (:class:`PipelineResult`,
:class:`RunStatistics`). Worker kinds are what the flow says (``kind="process"`` stages run in
worker processes); pipelines run in this process even for ``FlowBuilder(use_threads=False)``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .._errors import ConfigError, PipelineFailed, stage_of
from ..flows import Flow, Pipeline, PipelineStatistics, VirtualClock, select_pipelines
from ..flows._pipeline import PipelineRunner
from ..flows._selection import as_flow
from ..flows._stages import StorageDirectory
from ..flows._streams import StreamSender

__all__ = ["PipelineResult", "RunStatistics", "run_once"]


@dataclass(frozen=True)
class RunStatistics:
    """The counters of one pipeline's run under :func:`run_once`.

    Attributes:
        runs: 1 if the run ended without failing, else 0.
        failures: 1 if the run failed, else 0.
        items: the items that passed the pipeline's last stage.
        failed_items: items set aside under ``on_failure="continue"`` (kept as dead letters
            when the pipeline has ``dead_letter``).
        dead_letters: the failed items kept as dead letters.
        seconds: how long the run took (real time, not the virtual clock's).
        last_error: ``"ValueError: ..."`` for the last failure, or ``None``.
    """

    runs: int
    failures: int
    items: int
    failed_items: int
    dead_letters: int
    seconds: float
    last_error: str | None


@dataclass(frozen=True)
class PipelineResult:
    """What one run of a pipeline did under :func:`run_once`.

    Attributes:
        pipeline: the pipeline's name.
        items: what passed its last stage, in the order it came out (a storage or a sender
            passes its items on, so these are what was stored or sent).
        started_at: when it started on the virtual clock (its schedule's first start).
        statistics: its counters.
        error: the :class:`~weirflow.PipelineFailed` of a failed run (with
            ``raise_failures=False``), else ``None``.
    """

    pipeline: str
    items: tuple[Any, ...]
    started_at: datetime
    statistics: RunStatistics
    error: PipelineFailed | None = None


def run_once(
    flow_or_builder: Any,
    pipelines: Iterable[str] | str | None = None,
    *,
    clock: VirtualClock | None = None,
    raise_failures: bool = True,
) -> Mapping[str, PipelineResult]:
    """Run every scheduled pipeline once, at its first start on a virtual clock.

    Pipelines start in the order of their schedules' first starts (the flow's order for the
    same start), one after the other, so a report over other pipelines' storages sees what
    they stored when its schedule puts it after them. Failure policies do not apply: a run
    that fails is that pipeline's result (``on_failure="continue"`` still sets failed items
    aside, item by item). Continuous pipelines (MQTT, streams) and pipelines writing to a
    stream have no single run and are left out, unless named, which is an error.

    Args:
        flow_or_builder: a :class:`~weirflow.FlowBuilder` (built here) or a
            :class:`~weirflow.Flow`.
        pipelines: the names of the pipelines to run; all scheduled ones when ``None``.
        clock: the virtual clock (give ``VirtualClock(datetime(...))`` for cron schedules
            that depend on the date); a fresh one, starting 2030-01-01 00:00 UTC, by default.
        raise_failures: raise a failed run's :class:`~weirflow.PipelineFailed` once every
            pipeline has run (an ``ExceptionGroup`` for several); ``False``: return it as
            :attr:`PipelineResult.error`.

    Returns:
        A read-only mapping of pipeline names to their :class:`PipelineResult`, in the order
        they ran.

    Raises:
        ConfigError: an unknown name, a continuous or stream-writing pipeline named, or a
            flow with no scheduled pipeline.
        PipelineFailed: a run failed (with ``raise_failures``).

    Example:
        >>> from weirflow import FlowBuilder
        >>> from weirflow.testing import ListStorage, run_once
        >>> storage = ListStorage()
        >>> builder = FlowBuilder()
        >>> _ = builder.add_pipeline("report", cron="0 6 * * *").with_core_logic(
        ...     lambda db_connectors: len(db_connectors["hourly"].load()))
        >>> _ = builder.add_pipeline("hourly", timedelta_seconds=3600).with_core_logic(
        ...     lambda: iter([1, 2, 3])).with_storage(storage)
        >>> results = run_once(builder)
        >>> list(results)  # hourly starts at once, report at 06:00
        ['hourly', 'report']
        >>> results["hourly"].items, results["report"].items
        ((1, 2, 3), (3,))
        >>> results["report"].started_at.isoformat()
        '2030-01-01T06:00:00+00:00'
        >>> results["hourly"].statistics.runs, results["hourly"].statistics.failures
        (1, 0)
    """
    flow = select_pipelines(as_flow(flow_or_builder, "run_once()"), pipelines)
    chosen = _runnable(flow, named=pipelines is not None)
    clock = clock if clock is not None else VirtualClock()
    if not isinstance(clock, VirtualClock):
        raise ConfigError(f"run_once(clock=...) takes a VirtualClock, got {type(clock).__name__}")
    starts = sorted(
        (pipeline.schedule.first(clock), order, pipeline) for order, pipeline in enumerate(chosen)
    )
    directory = StorageDirectory(flow._storages)
    results: dict[str, PipelineResult] = {}
    try:
        for start, _, pipeline in starts:
            clock.advance(start - clock.monotonic())
            results[pipeline.name] = _run(pipeline, directory, clock)
    finally:
        flow.close_resources()
    failures = [result.error for result in results.values() if result.error is not None]
    if raise_failures and len(failures) == 1:
        raise failures[0]
    if raise_failures and failures:
        raise ExceptionGroup("several pipelines failed", failures)
    return MappingProxyType(results)


def _runnable(flow: Flow, named: bool) -> list[Pipeline]:
    """The pipelines that have one run: scheduled, not writing to a stream."""
    chosen = []
    for pipeline in flow.pipelines:
        why = _why_not(pipeline)
        if why is None:
            chosen.append(pipeline)
        elif named:
            raise ConfigError(
                f"run_once(): pipeline {pipeline.name!r} {why}, so it has no single run; test "
                "it with launch_flow(execution_seconds=...) and a ListSource(continuous=True)"
            )
    if not chosen:
        raise ConfigError(
            "run_once(): the flow has no scheduled pipeline (continuous pipelines and "
            "pipelines writing to a stream are left out)"
        )
    return chosen


def _why_not(pipeline: Pipeline) -> str | None:
    if pipeline.continuous:
        return "reads a continuous source"
    for stage in pipeline.stages:
        if stage.sender is not None and stage.sender.factory is StreamSender:
            return "writes to a stream"
    return None


def _run(pipeline: Pipeline, directory: StorageDirectory, clock: VirtualClock) -> PipelineResult:
    items: list[Any] = []
    lock = threading.Lock()

    def keep(item: Any) -> None:
        with lock:
            items.append(item)

    statistics = PipelineStatistics()
    runner = PipelineRunner(
        pipeline, directory, clock, threading.Event(), _never, statistics, on_item=keep
    )
    started_at, started = clock.now(), time.monotonic()
    error: PipelineFailed | None = None
    try:
        runner.run_once()
    except Exception as failure:
        statistics.failures += 1
        statistics.last_error = f"{type(failure).__name__}: {failure}"
        error = PipelineFailed(pipeline.name, stage_of(failure), failure)
    counts = RunStatistics(
        runs=statistics.runs,
        failures=statistics.failures,
        items=statistics.items,
        failed_items=statistics.failed_items,
        dead_letters=statistics.dead_letters,
        seconds=time.monotonic() - started,
        last_error=statistics.last_error,
    )
    return PipelineResult(pipeline.name, tuple(items), started_at, counts, error)


def _never(failure: PipelineFailed) -> None:  # a runner's report; run_once reports itself
    raise AssertionError(f"unexpected report: {failure}")  # pragma: no cover
