"""Scenario 1 — a single pipeline polling an HTTP endpoint into a JSON file.

Every 2 seconds, GET the integers endpoint with an API key and keep each answer, with the time it
arrived, in ``data/simple_http/integers.json``.

    python examples/simple_http.py [seconds]
"""

from __future__ import annotations

import sys
from pathlib import Path

from _endpoints import start_endpoints

from weirflow import Flow, FlowBuilder

DATA = Path("data") / "simple_http"


def build_flow(base_url: str, data: Path = DATA) -> Flow:
    builder = FlowBuilder()
    builder.add_pipeline("integers", timedelta_seconds=2).with_http_connector(
        source=f"{base_url}/integers",
        headers={"accept": "application/json", "apikey": "custom_key_1234"},
    ).with_storage("json", path=str(data / "integers.json"), preprocessing="add_datetime")
    return builder.build()


def main(seconds: float = 5.0) -> list[dict[str, object]]:
    with start_endpoints() as server:
        flow = build_flow(server.url)
        flow.launch_flow(execution_seconds=seconds)
    stored = flow.storage("integers").load()
    print(f"stored {len(stored)} readings, e.g. {stored[:2]}")
    return stored


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0)
