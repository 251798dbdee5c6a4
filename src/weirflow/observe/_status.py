"""``/api/status``: everything the status page shows, as JSON.

The flow's :class:`~weirflow.flows._statistics.FlowStatistics` as plain data, with each stage's
latency p50/p95 worked out, each pipeline's readiness and the graph of the flow (drawn by the
page). Only names from the service file, numbers, states and the last errors (redacted) appear.

Example:
    >>> from weirflow import FlowBuilder
    >>> builder = FlowBuilder()
    >>> _ = builder.add_pipeline("p", timedelta_seconds=60).with_core_logic(lambda: 1)
    >>> data = status_json(builder.build())
    >>> data["state"], data["pipelines"][0]["name"], data["pipelines"][0]["stages"][0]["stage"]
    ('idle', 'p', 'core_logic')
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

from .._version import __version__
from ._graph import flow_graph


def _finite(value: Any) -> Any:
    if isinstance(value, float) and math.isinf(value):
        return None  # JSON has no infinity: the last bucket's bound
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def status_json(flow: Any) -> dict[str, Any]:
    """The status page's data for ``flow``."""
    status = flow.status()
    pipelines = []
    for pipeline, raw in zip(status.pipelines, asdict(status)["pipelines"]):
        raw["deliveries"]["in_flight"] = pipeline.deliveries.in_flight
        for stage, stage_raw in zip(pipeline.stages, raw["stages"]):
            stage_raw["ok"] = stage.ok
            stage_raw["p50"] = stage.quantile(0.5)
            stage_raw["p95"] = stage.quantile(0.95)
            del stage_raw["buckets"]
        pipelines.append(raw)
    data = asdict(status)
    data["pipelines"] = pipelines
    data["version"] = __version__
    data["now"] = time.time()
    data["graph"] = flow_graph(flow).as_dict()
    return dict(_finite(data))
