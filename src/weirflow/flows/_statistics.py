"""What a running flow says about itself: frozen ``*Statistics`` snapshots, read live.

:meth:`Flow.status() <weirflow.flows.Flow.status>` returns a :class:`FlowStatistics`: per
pipeline a :class:`PipelineStatus` (state, schedule, next and last run, counts, restarts, the
last error with its message redacted, deliveries in flight), per stage a
:class:`StageStatistics` (workers busy, items by outcome, a latency histogram, its input
queue's fill: the backpressure view) and per stream a :class:`StreamStatistics` (from the
broker's :meth:`~weirflow.flows._streams.Broker.stream_status`). The stage numbers come from
:class:`FlowCounters`: one shared block of per-worker counters for a launch, which worker
threads, worker processes and pipeline processes write into and the flow's process reads
(``_runtime/_stats.py``). Snapshots are values: taking one changes nothing and costs no lock
of the engine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .._redact import RedactingFilter
from .._runtime._stats import BUCKETS, CounterFile, StageCounters, forget
from ._pipeline import OUTCOMES, STATES, Pipeline, PipelineStatistics
from ._streams import StreamStatistics


@dataclass(frozen=True)
class StageStatistics:
    """One stage of a pipeline, now.

    Attributes:
        pipeline: the pipeline's name.
        stage: the stage's label (``source``, ``core_logic``, ``storage``...).
        role: what the stage does (``configuration``, ``source``, ``core_logic``, ``storage``,
            ``sender``).
        kind: its worker kind (``thread``, ``task``, ``process``, ``sync``).
        workers: how many workers it has.
        busy_workers: how many are inside a batch right now.
        items: elements the stage took in (a continuous source: items it read).
        errors: elements that failed (after the stage's retries).
        dropped: elements its function returned ``None`` for.
        timeouts: elements skipped because a call overran the stage's timeout.
        seconds_sum: seconds its workers spent on batches, all added up.
        buckets: the latency histogram per element: ``(upper bound in seconds, count of
            elements at most that slow)``, cumulative, the last bound ``inf``.
        queue_items: elements waiting in its input queue.
        queue_capacity: that queue's capacity (0: unbounded, or no queue: a pulled stage).
    """

    pipeline: str
    stage: str
    role: str
    kind: str
    workers: int
    busy_workers: int
    items: int
    errors: int
    dropped: int
    timeouts: int
    seconds_sum: float
    buckets: tuple[tuple[float, int], ...]
    queue_items: int
    queue_capacity: int

    @property
    def ok(self) -> int:
        """Elements that went through without an error, drop or time-out."""
        return max(0, self.items - self.errors - self.dropped - self.timeouts)

    def quantile(self, q: float) -> float | None:
        """The latency at quantile ``q`` (0..1), interpolated in the histogram; None if empty.

        Example:
            >>> s = StageStatistics("p", "s", "core_logic", "thread", 1, 0, 4, 0, 0, 0, 0.0,
            ...     ((0.001, 2), (0.01, 4), (math.inf, 4)), 0, 0)
            >>> s.quantile(0.5)
            0.001
        """
        total = self.buckets[-1][1] if self.buckets else 0
        if not total:
            return None
        rank = q * total
        lower, below = 0.0, 0
        for bound, count in self.buckets:
            if count >= rank:
                if math.isinf(bound):
                    return lower
                if count == below:
                    return bound
                return lower + (bound - lower) * (rank - below) / (count - below)
            lower, below = bound, count
        return lower


@dataclass(frozen=True)
class ErrorStatistics:
    """The last error of a pipeline: its type, the stage it came from, its message (credentials
    in URLs and headers masked)."""

    type: str
    stage: str | None
    message: str


@dataclass(frozen=True)
class DeliveryStatistics:
    """Deliveries of an acknowledging (at-least-once) source: handed to the pipeline,
    acknowledged, left unacknowledged to be delivered again, and the others still in flight."""

    delivered: int
    acked: int
    redelivered: int

    @property
    def in_flight(self) -> int:
        return max(0, self.delivered - self.acked - self.redelivered)


@dataclass(frozen=True)
class PipelineStatus:
    """One pipeline, now.

    ``state``: ``starting``, ``waiting`` (for its next run), ``running``, ``restarting``
    (backing off after a failure), ``failed`` or ``done``. ``last_outcome``: ``none``, ``ok``,
    ``error`` or ``cut short``. Times are seconds since the epoch, ``None`` when it never
    happened. ``connected``: whether its continuous source is connected (``None``: the source
    does not say, or the pipeline has none).
    """

    name: str
    schedule: str
    continuous: bool
    on_failure: str
    state: str
    runs: int
    failures: int
    restarts: int
    items: int
    failed_items: int
    dead_letters: int
    last_outcome: str
    last_run_started: float | None
    last_run_ended: float | None
    last_success: float | None
    next_run: float | None
    last_error: ErrorStatistics | None
    deliveries: DeliveryStatistics
    connected: bool | None
    stages: tuple[StageStatistics, ...]


@dataclass(frozen=True)
class FlowStatistics:
    """A flow, now: ``state`` (``idle``: not launched, ``running``, ``stopped``), threads or
    processes, when it started (seconds since the epoch) and for how long it has run."""

    flow_id: str
    state: str
    mode: str
    started: float | None
    uptime_seconds: float
    pipelines: tuple[PipelineStatus, ...]
    streams: tuple[StreamStatistics, ...]


class FlowCounters:
    """The stage counters of one launch of a flow (a shared block; see ``_runtime/_stats.py``)."""

    def __init__(self, pipelines: tuple[Pipeline, ...]) -> None:
        layout: dict[tuple[str, str], tuple[int, int]] = {}
        offset = 0
        for pipeline in pipelines:
            for stage in pipeline.stages:
                layout[pipeline.name, stage.label] = (offset, stage.workers)
                offset += StageCounters.size(stage.workers)
        self.block = CounterFile(offset)
        self._stages = {
            key: StageCounters(self.block.path, start, workers)
            for key, (start, workers) in layout.items()
        }

    def of(self, pipeline: str) -> dict[str, StageCounters]:
        """The counters of ``pipeline``'s stages, by label (picklable: for its process)."""
        return {label: c for (name, label), c in self._stages.items() if name == pipeline}

    def stage(self, pipeline: str, label: str) -> StageCounters | None:
        return self._stages.get((pipeline, label))

    def release(self) -> None:
        """Remove the shared file (this process keeps reading its mapping)."""
        self.block.close()

    def discard(self) -> None:
        """Forget the mapping too (a new launch has new counters)."""
        self.block.close()
        forget(self.block.path)


def stage_statistics(
    pipeline: Pipeline, counters: FlowCounters | None
) -> tuple[StageStatistics, ...]:
    """The statistics of ``pipeline``'s stages (zeros before the first launch)."""
    found = []
    for stage in pipeline.stages:
        handle = counters.stage(pipeline.name, stage.label) if counters is not None else None
        totals = handle.read() if handle is not None else None
        cumulative, running = [], 0
        counts = totals.buckets if totals else (0,) * (len(BUCKETS) + 1)
        for bound, count in zip((*BUCKETS, math.inf), counts):
            running += count
            cumulative.append((bound, running))
        found.append(
            StageStatistics(
                pipeline=pipeline.name,
                stage=stage.label,
                role=stage.role,
                kind=stage.kind,
                workers=stage.workers,
                busy_workers=totals.busy_workers if totals else 0,
                items=totals.items if totals else 0,
                errors=totals.errors if totals else 0,
                dropped=totals.dropped if totals else 0,
                timeouts=totals.timeouts if totals else 0,
                seconds_sum=totals.seconds_sum if totals else 0.0,
                buckets=tuple(cumulative),
                queue_items=totals.queue_items if totals else 0,
                queue_capacity=totals.queue_capacity if totals else 0,
            )
        )
    return tuple(found)


def _seconds(nanoseconds: int) -> float | None:
    return nanoseconds / 1e9 if nanoseconds else None


_REDACT = RedactingFilter()


def pipeline_status(
    pipeline: Pipeline,
    counts: PipelineStatistics,
    stages: tuple[StageStatistics, ...],
    connected: bool | None,
) -> PipelineStatus:
    """A :class:`PipelineStatus` from the runner's counters and its stages' statistics."""
    error = None
    if counts.last_error is not None:
        kind = counts.last_error_type or counts.last_error.partition(":")[0]
        message = counts.last_error
        if message.startswith(f"{kind}: "):
            message = message[len(kind) + 2 :]
        error = ErrorStatistics(kind, counts.last_error_stage, _REDACT.redact(message))
    return PipelineStatus(
        name=pipeline.name,
        schedule="continuous" if pipeline.continuous else pipeline.schedule.describe(),
        continuous=pipeline.continuous,
        on_failure=pipeline.on_failure,
        state=STATES[counts.state] if 0 <= counts.state < len(STATES) else "starting",
        runs=counts.runs,
        failures=counts.failures,
        restarts=counts.restarts,
        items=counts.items,
        failed_items=counts.failed_items,
        dead_letters=counts.dead_letters,
        last_outcome=OUTCOMES[counts.last_outcome]
        if 0 <= counts.last_outcome < len(OUTCOMES)
        else "none",
        last_run_started=_seconds(counts.last_run_started_ns),
        last_run_ended=_seconds(counts.last_run_ended_ns),
        last_success=_seconds(counts.last_success_ns),
        next_run=_seconds(counts.next_run_ns),
        last_error=error,
        deliveries=DeliveryStatistics(counts.delivered, counts.acked, counts.redelivered),
        connected=connected,
        stages=stages,
    )


def source_connected(pipeline: Pipeline) -> bool | None:
    """Whether ``pipeline``'s continuous source, opened in this process, says it is connected
    (``False`` before it is opened; ``None`` when it cannot tell or there is none)."""
    if not pipeline.continuous:
        return None
    lazy = pipeline.stages[0].source
    source = lazy.opened if lazy is not None else None
    if source is None:
        return False  # not opened yet
    if getattr(type(source), "connected", None) is None:
        return None
    connected: Any = getattr(source, "connected", None)
    return bool(connected() if callable(connected) else connected)


def connections(pipelines: tuple[Pipeline, ...]) -> Mapping[str, bool | None]:
    """:func:`source_connected` of every pipeline, by name."""
    return {pipeline.name: source_connected(pipeline) for pipeline in pipelines}
