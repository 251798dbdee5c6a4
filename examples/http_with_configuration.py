"""Scenario 2 — a configuration stage decides each run's request.

If nothing is stored yet, ask the SQL endpoint for 5 rows, otherwise for 1 row at a time; the
answers are stored as JSON lines with the time they arrived.

    python examples/http_with_configuration.py [seconds]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _endpoints import start_endpoints

from weirflow import Flow, FlowBuilder

DATA = Path("data") / "http_with_configuration"


def configure_request(db_connectors: Any) -> dict[str, Any]:
    """Parameters for the next stage: the POST body of this run's request."""
    if not db_connectors["rows"].load():
        return {"json": {"data": "select * from demo_table limit 5"}}
    return {"json": {"data": "select * from demo_table limit 1"}}


def build_flow(base_url: str, data: Path = DATA) -> Flow:
    builder = FlowBuilder()
    builder.add_pipeline("rows", timedelta_seconds=1).with_configuration(
        configure_request
    ).with_http_connector(source=f"{base_url}/sql", method="POST").with_core_logic(
        lambda answer: iter(answer)  # one item per row
    ).with_storage("jsonl", path=str(data / "rows.jsonl"), preprocessing="add_datetime")
    return builder.build()


def main(seconds: float = 3.5) -> list[dict[str, Any]]:
    with start_endpoints() as server:
        flow = build_flow(server.url)
        flow.launch_flow(execution_seconds=seconds)
    stored = flow.storage("rows").load()
    print(f"stored {len(stored)} rows over {flow.statistics()['rows']['runs']} runs")
    return stored


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 3.5)
