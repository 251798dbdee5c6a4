"""A first service: measure every second, report every three seconds.

weirflow check first_service.py
weirflow run first_service.py --execution-seconds 10
"""

from __future__ import annotations

import random
from statistics import mean
from typing import Any

from weirflow import FlowBuilder


def measure() -> dict[str, float]:
    """Core logic without an input: called once per run; its result goes to the storage."""
    return {"celsius": round(random.uniform(15.0, 25.0), 1)}


def summarise(db_connectors: Any) -> dict[str, Any] | None:
    """Core logic over another pipeline's storage; returning None sends nothing this time."""
    readings = db_connectors["readings"].load()
    if not readings:
        return None
    return {"readings": len(readings), "mean": round(mean(r["celsius"] for r in readings), 2)}


builder = FlowBuilder()
(
    builder.add_pipeline("readings", timedelta_seconds=1)
    .with_core_logic(measure)
    .with_storage("jsonl", path="data/first/readings.jsonl", preprocessing="add_datetime")
)
(
    builder.add_pipeline("report", timedelta_seconds=3, delay_seconds=1)
    .with_core_logic(summarise)
    .send(print)  # any function is a sender; send("http_post", destination=...) posts it
)
flow = builder.build()

if __name__ == "__main__":
    flow.launch_flow(execution_seconds=10)
