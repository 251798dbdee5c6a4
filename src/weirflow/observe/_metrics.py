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
from collections.abc import Iterator
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
        restarts = CounterMetricFamily(
            "weirflow_pipeline_restarts", "Restarts of a pipeline", labels=["pipeline"]
        )
        success = GaugeMetricFamily(
            "weirflow_pipeline_last_success_timestamp_seconds",
            "When the pipeline's last successful run ended (seconds since the epoch; 0: never)",
            labels=["pipeline"],
        )
        state = GaugeMetricFamily(
            "weirflow_pipeline_state",
            "1 for the pipeline's state now",
            labels=["pipeline", "state"],
        )
        failed = CounterMetricFamily(
            "weirflow_pipeline_failed_items", "Items set aside after failing", labels=["pipeline"]
        )
        dead = CounterMetricFamily(
            "weirflow_pipeline_dead_letters", "Items kept as dead letters", labels=["pipeline"]
        )
        in_flight = GaugeMetricFamily(
            "weirflow_deliveries_in_flight",
            "Deliveries handed to the pipeline, not yet acknowledged",
            labels=["pipeline"],
        )
        acked = CounterMetricFamily(
            "weirflow_deliveries_acked", "Deliveries acknowledged", labels=["pipeline"]
        )
        redelivered = CounterMetricFamily(
            "weirflow_deliveries_redelivered",
            "Items left unacknowledged so the source delivers them again",
            labels=["pipeline"],
        )
        for pipeline in status.pipelines:
            name = [pipeline.name]
            runs.add_metric([pipeline.name, "ok"], pipeline.runs)
            runs.add_metric([pipeline.name, "error"], pipeline.failures)
            restarts.add_metric(name, pipeline.restarts)
            success.add_metric(name, pipeline.last_success or 0)
            for known in STATES:
                state.add_metric([pipeline.name, known], 1 if pipeline.state == known else 0)
            failed.add_metric(name, pipeline.failed_items)
            dead.add_metric(name, pipeline.dead_letters)
            in_flight.add_metric(name, pipeline.deliveries.in_flight)
            acked.add_metric(name, pipeline.deliveries.acked)
            redelivered.add_metric(name, pipeline.deliveries.redelivered)
        yield from (runs, restarts, success, state, failed, dead, in_flight, acked, redelivered)

    def _streams(self, status: FlowStatistics) -> Iterator[Metric]:
        length = GaugeMetricFamily(
            "weirflow_stream_items", "Items waiting in a stream", labels=["stream"]
        )
        capacity = GaugeMetricFamily(
            "weirflow_stream_capacity", "Capacity of a stream (0: unbounded)", labels=["stream"]
        )
        lag = GaugeMetricFamily(
            "weirflow_stream_lag",
            "Entries not yet delivered to the stream's readers",
            labels=["stream"],
        )
        pending = GaugeMetricFamily(
            "weirflow_stream_pending", "Entries delivered, not yet acknowledged", labels=["stream"]
        )
        dead = GaugeMetricFamily(
            "weirflow_stream_dead_letters",
            "Entries moved to the stream's dead letters",
            labels=["stream"],
        )
        for stream in status.streams:
            length.add_metric([stream.name], stream.length)
            capacity.add_metric([stream.name], stream.capacity)
            for family, value in (
                (lag, stream.lag),
                (pending, stream.pending),
                (dead, stream.dead_letters),
            ):
                if value is not None:
                    family.add_metric([stream.name], value)
        yield from (length, capacity)
        yield from (family for family in (lag, pending, dead) if family.samples)


def new_registry(flow: Any) -> CollectorRegistry:
    """A registry of the flow's own with its :class:`FlowCollector` (never the global one)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FlowCollector(flow))
    return registry


def metrics_text(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition of ``registry``."""
    return generate_latest(registry)
