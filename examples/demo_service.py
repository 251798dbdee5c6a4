"""The demo service: three pipelines, two storages, a report, on embedded defaults.

It starts a local HTTP endpoint of its own (numbers, temperatures, and a reports receiver), then
runs a flow for a few seconds:

* ``numbers`` polls ``/numbers`` every 0.5 s and keeps the readings in a JSON file;
* ``temperatures`` polls ``/temperature`` every 0.7 s into a SQLite table;
* ``report`` reads both storages every second, aggregates them and posts a summary to
  ``/reports``.

Run it with ``make demo``; ``python examples/demo_service.py 10`` runs it for 10 seconds.
``weirflow check examples/demo_service.py`` prints its pipelines; ``weirflow run`` runs the same
flow against endpoints at ``WEIRFLOW_DEMO_URL``.
"""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path
from statistics import mean
from typing import Any

from weirflow import Flow, FlowBuilder
from weirflow.testing import LocalHTTPServer, Request

DATA = Path("data") / "demo"


def start_endpoints() -> LocalHTTPServer:
    """A local HTTP server standing in for the devices and the report receiver."""
    server = LocalHTTPServer()
    readings = random.Random(7)
    server.route("GET", "/numbers", lambda request: {"value": readings.randint(0, 100)})
    server.route(
        "GET", "/temperature", lambda request: {"celsius": round(readings.uniform(-5, 35), 1)}
    )

    def receive(request: Request) -> tuple[int, dict[str, bool]]:
        return 201, {"accepted": True}

    server.route("POST", "/reports", receive)
    return server


def aggregate(db_connectors: Any) -> dict[str, Any] | None:
    """Core logic: read what the two other pipelines stored, and summarise it."""
    numbers = [row["value"] for row in db_connectors["numbers"].load()]
    temperatures = [row["celsius"] for row in db_connectors["temperatures"].load()]
    if not numbers or not temperatures:
        return None  # nothing to report yet: drop
    return {
        "summary": {
            "readings": len(numbers),
            "sum": sum(numbers),
            "temperatures": len(temperatures),
            "mean_celsius": round(mean(temperatures), 2),
        }
    }


def build_flow(base_url: str | None = None, data: Path = DATA) -> Flow:
    """The service's flow, against the endpoint at ``base_url``."""
    base_url = base_url or os.environ.get("WEIRFLOW_DEMO_URL", "http://127.0.0.1:8025")
    builder = FlowBuilder()
    builder.add_pipeline("numbers", timedelta_seconds=0.5).with_http_connector(
        f"{base_url}/numbers", headers={"apikey": "demo-secret-key"}
    ).with_storage("json", path=str(data / "numbers.json"), preprocessing="add_datetime")
    builder.add_pipeline("temperatures", timedelta_seconds=0.7).with_http_connector(
        f"{base_url}/temperature"
    ).with_storage("sql", url=f"sqlite:///{data / 'demo.sqlite'}", table="temperatures")
    builder.add_pipeline("report", timedelta_seconds=1.0, delay_seconds=1.0).with_core_logic(
        aggregate
    ).send("http_post", destination=f"{base_url}/reports", label_to_send="summary")
    return builder.build()


def main(seconds: float = 5.0) -> None:
    shutil.rmtree(DATA, ignore_errors=True)
    with start_endpoints() as server:
        flow = build_flow(server.url)
        print(flow.describe())
        print(f"\nrunning for {seconds:g} s against {server.url} ...")
        flow.launch_flow(execution_seconds=seconds)
        reports = [r.json for r in server.requests if r.path == "/reports"]
    print()
    for name, stats in flow.statistics().items():
        print(f"{name:>13}: {stats['runs']} runs, {stats['items']} items")
    print(f"{'stored':>13}: {len(flow.storage('numbers').load())} numbers in {DATA}/numbers.json,")
    temperatures = len(flow.storage("temperatures").load())
    print(f"{'':>13}  {temperatures} temperatures in {DATA}/demo.sqlite")
    print(
        f"{'reports':>13}: {len(reports)} posted; the last one: {reports[-1] if reports else None}"
    )


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
