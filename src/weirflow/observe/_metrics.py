"""Prometheus metrics of one flow, built at scrape time from its statistics.

:class:`FlowCollector` reads :meth:`Flow.status() <weirflow.flows.Flow.status>` on every
scrape and turns it into metric families; each server registers it in a ``CollectorRegistry``
of its own (never the global one), so a relaunched flow, or two flows in one process, each
serve their own numbers. Pipelines in processes are counted too: their counters are in shared
memory. Labels come only from the service file (``pipeline``, ``stage``, ``stream``) and from
fixed sets (``outcome``, ``state``): never from payloads, URLs or error messages. The names
are listed in ``docs/reference/metrics.md``.

Example:
    >>> from weirflow import FlowBuilder
    >>> builder = FlowBuilder()
    >>> _ = builder.add_pipeline("p", timedelta_seconds=60).with_core_logic(lambda: 1)
    >>> text = metrics_text(new_registry(builder.build())).decode()
    >>> 'weirflow_items_total{outcome="ok",pipeline="p",stage="core_logic"} 0.0' in text
    True
"""

from __future__ import annotations

import math
import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from .._version import __version__
from ..flows._pipeline import STATES
from ..flows._statistics import FlowStatistics

ITEM_OUTCOMES = ("ok", "error", "dropped", "timeout")
STAGE = ["pipeline", "stage"]


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(float(value))


class FlowCollector(Collector):
    """Metric families of one flow, read from its statistics at each scrape."""

    def __init__(self, flow: Any) -> None:
        self.flow = flow

    def collect(self) -> Iterator[Metric]:
        status: FlowStatistics = self.flow.status()
        yield from self._flow(status)
        yield from self._stages(status)
        yield from self._pipelines(status)
        yield from self._streams(status)

    def _flow(self, status: FlowStatistics) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "weirflow_build_info", "weirflow's version (always 1)", labels=["version", "python"]
        )
        info.add_metric([__version__, platform.python_version()], 1)
        yield info
        uptime = GaugeMetricFamily("weirflow_flow_uptime_seconds", "Seconds the flow has run")
        uptime.add_metric([], status.uptime_seconds)
        yield uptime

    def _stages(self, status: FlowStatistics) -> Iterator[Metric]:
        items = CounterMetricFamily(
            "weirflow_items", "Elements a stage handled, by outcome", labels=[*STAGE, "outcome"]
        )
        seconds = HistogramMetricFamily(
            "weirflow_stage_seconds", "Seconds a stage spent per element", labels=STAGE
        )
        workers = GaugeMetricFamily("weirflow_stage_workers", "Workers of a stage", labels=STAGE)
        busy = GaugeMetricFamily(
            "weirflow_stage_busy_workers", "Workers inside a batch now", labels=STAGE
        )
        queued = GaugeMetricFamily(
            "weirflow_channel_items", "Elements waiting in a stage's input queue", labels=STAGE
        )
        capacity = GaugeMetricFamily(
            "weirflow_channel_capacity",
            "Capacity of a stage's input queue (0: unbounded or none)",
            labels=STAGE,
        )
        for pipeline in status.pipelines:
            for stage in pipeline.stages:
                labels = [pipeline.name, stage.stage]
                counts = (stage.ok, stage.errors, stage.dropped, stage.timeouts)
                for outcome, count in zip(ITEM_OUTCOMES, counts):
                    items.add_metric([*labels, outcome], count)
                seconds.add_metric(
                    labels,
                    [(_bound(bound), count) for bound, count in stage.buckets],
                    sum_value=stage.seconds_sum,
                )
                workers.add_metric(labels, stage.workers)
                busy.add_metric(labels, stage.busy_workers)
                queued.add_metric(labels, stage.queue_items)
                capacity.add_metric(labels, stage.queue_capacity)
        yield from (items, seconds, workers, busy, queued, capacity)

    def _pipelines(self, status: FlowStatistics) -> Iterator[Metric]:
        runs = CounterMetricFamily(
            "weirflow_pipeline_runs",
            "Runs of a pipeline, by outcome",
            labels=["pipeline", "outcome"],
        )
        state = GaugeMetricFamily(
            "weirflow_pipeline_state",
            "1 for the pipeline's state now",
            labels=["pipeline", "state"],
        )
        for pipeline in status.pipelines:
            runs.add_metric([pipeline.name, "ok"], pipeline.runs)
            runs.add_metric([pipeline.name, "error"], pipeline.failures)
            for known in STATES:
                state.add_metric([pipeline.name, known], 1 if pipeline.state == known else 0)
        restarts, success, *rest = _families(PIPELINE_NUMBERS, "pipeline", status.pipelines)
        yield from (runs, restarts, success, state, *rest)

    def _streams(self, status: FlowStatistics) -> Iterator[Metric]:
        yield from _families(STREAM_NUMBERS, "stream", status.streams)


@dataclass(frozen=True)
class _Number:
    """A metric family with one label (the pipeline's or the stream's name) and its value."""

    family: type[CounterMetricFamily] | type[GaugeMetricFamily]
    name: str
    documentation: str
    value: Callable[[Any], float | None]
    optional: bool = False  # a family without samples (every value None) is left out


PIPELINE_NUMBERS = (
    _Number(
        CounterMetricFamily,
        "weirflow_pipeline_restarts",
        "Restarts of a pipeline",
        lambda pipeline: pipeline.restarts,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_pipeline_last_success_timestamp_seconds",
        "When the pipeline's last successful run ended (seconds since the epoch; 0: never)",
        lambda pipeline: pipeline.last_success or 0,
    ),
    _Number(
        CounterMetricFamily,
        "weirflow_pipeline_failed_items",
        "Items set aside after failing",
        lambda pipeline: pipeline.failed_items,
    ),
    _Number(
        CounterMetricFamily,
        "weirflow_pipeline_dead_letters",
        "Items kept as dead letters",
        lambda pipeline: pipeline.dead_letters,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_deliveries_in_flight",
        "Deliveries handed to the pipeline, not yet acknowledged",
        lambda pipeline: pipeline.deliveries.in_flight,
    ),
    _Number(
        CounterMetricFamily,
        "weirflow_deliveries_acked",
        "Deliveries acknowledged",
        lambda pipeline: pipeline.deliveries.acked,
    ),
    _Number(
        CounterMetricFamily,
        "weirflow_deliveries_redelivered",
        "Items left unacknowledged so the source delivers them again",
        lambda pipeline: pipeline.deliveries.redelivered,
    ),
)
"""The pipeline families with the pipeline's name as their only label, in the order served."""

STREAM_NUMBERS = (
    _Number(
        GaugeMetricFamily,
        "weirflow_stream_items",
        "Items waiting in a stream",
        lambda stream: stream.length,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_stream_capacity",
        "Capacity of a stream (0: unbounded)",
        lambda stream: stream.capacity,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_stream_lag",
        "Entries not yet delivered to the stream's readers",
        lambda stream: stream.lag,
        optional=True,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_stream_pending",
        "Entries delivered, not yet acknowledged",
        lambda stream: stream.pending,
        optional=True,
    ),
    _Number(
        GaugeMetricFamily,
        "weirflow_stream_dead_letters",
        "Entries moved to the stream's dead letters",
        lambda stream: stream.dead_letters,
        optional=True,
    ),
)
"""The stream families (the stream's name their label); a broker without a number omits it."""


def _families(numbers: tuple[_Number, ...], label: str, rows: Iterable[Any]) -> list[Metric]:
    """One family per number, with a sample per row (a pipeline or a stream) labelled by name."""
    rows = list(rows)
    families: list[Metric] = []
    for number in numbers:
        family = number.family(number.name, number.documentation, labels=[label])
        for row in rows:
            value = number.value(row)
            if value is not None:
                family.add_metric([row.name], value)
        if family.samples or not number.optional:
            families.append(family)
    return families


def new_registry(flow: Any) -> CollectorRegistry:
    """A registry of the flow's own with its :class:`FlowCollector` (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowCollector(flow))
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
