"""Seeing a running service: the status server of a launch, scraped once, then the statistics.

The flow serves its status page, metrics and health checks on a free port (``port 0``); a thread
waits for the first run, reads ``/metrics``, ``/healthz``, ``/readyz`` and ``/api/status`` with
httpx, and stops the flow. Then ``flow.status()`` tells the same numbers in Python.

    python seeing_a_service.py
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from weirflow import Flow, FlowBuilder


def read_sensor() -> dict[str, Any]:
    return {"sensor": "t1", "celsius": round(random.uniform(15, 25), 1)}


def build_flow() -> Flow:
    builder = FlowBuilder()
    (
        builder.add_pipeline("readings", timedelta_seconds=60)
        .with_core_logic(read_sensor)
        .with_storage("jsonl", path="data/seeing/readings.jsonl")
    )
    return builder.build()


def wait_until(done: Callable[[], bool], deadline: float = 30.0) -> None:
    """Return once ``done()`` (asked every 20 ms); fail after ``deadline`` seconds."""
    give_up = time.monotonic() + deadline
    while not done():
        assert time.monotonic() < give_up, "the flow did not get there in time"
        time.sleep(0.02)


# --8<-- [start:launch]
def scrape(flow: Flow, seen: dict[str, Any]) -> None:
    """Read the running flow's endpoints once, then stop it."""
    try:
        wait_until(lambda: flow.status_url is not None)  # the real address of port 0
        wait_until(lambda: flow.statistics()["readings"]["runs"] >= 1)  # a first run done
        with httpx.Client(base_url=str(flow.status_url), timeout=10) as http:
            seen["metrics"] = http.get("/metrics").text  # Prometheus text
            seen["healthz"] = http.get("/healthz")  # liveness
            seen["readyz"] = http.get("/readyz")  # readiness
            seen["status"] = http.get("/api/status").json()  # what the page shows
            seen["page"] = http.get("/")  # the page itself
    finally:
        flow.stop()


flow = build_flow()
seen: dict[str, Any] = {}
scraper = threading.Thread(target=scrape, args=(flow, seen))
scraper.start()
flow.launch_flow(http="127.0.0.1:0")  # port 0 picks a free port: see flow.status_url
scraper.join()
# --8<-- [end:launch]

print(next(line for line in seen["metrics"].splitlines() if 'outcome="ok"' in line))
print(seen["readyz"].status_code, seen["readyz"].json())
assert 'weirflow_pipeline_runs_total{outcome="ok",pipeline="readings"} 1.0' in seen["metrics"]
assert 'weirflow_items_total{outcome="ok",pipeline="readings",stage="storage"}' in seen["metrics"]
assert seen["healthz"].status_code == 200, seen["healthz"].text
assert seen["readyz"].status_code == 200, seen["readyz"].text
assert seen["readyz"].json()["checks"][0] == {
    "name": "flow",
    "ok": True,
    "detail": "flow is running",
}
assert "text/html" in seen["page"].headers["content-type"]
assert flow.status_url is None  # the server stopped with the launch

# --8<-- [start:status]
status = flow.status()  # FlowStatistics
for pipeline in status.pipelines:  # PipelineStatus
    print(pipeline.name, pipeline.state, pipeline.runs, pipeline.last_error)
    for stage in pipeline.stages:  # StageStatistics
        print(
            f"  {stage.stage}: {stage.ok} ok, {stage.errors} error(s),",
            f"{stage.busy_workers}/{stage.workers} worker(s) busy,",
            f"queue {stage.queue_items}/{stage.queue_capacity}, p95 {stage.quantile(0.95)}s",
        )
# --8<-- [end:status]

readings = status.pipelines[0]
assert (readings.name, readings.runs, readings.last_error) == ("readings", 1, None)
assert (status.state, readings.state) == ("stopped", "done")
assert [stage.stage for stage in readings.stages] == ["core_logic", "storage"]
assert readings.stages[-1].ok == 1  # one reading saved
assert readings.stages[-1].quantile(0.95) is not None  # its latency
