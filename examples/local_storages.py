"""Scenario 4 — the same readings kept in every local storage: JSON, JSON lines, CSV, SQLite.

Four pipelines poll the letters endpoint every second, each into a different storage kind, with
the time of arrival added; afterwards every storage's ``load()`` gives the readings back with
their types intact.

    python examples/local_storages.py [seconds]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _endpoints import start_endpoints

from weirflow import Flow, FlowBuilder

DATA = Path("data") / "local_storages"


def build_flow(base_url: str, data: Path = DATA) -> Flow:
    builder = FlowBuilder()
    for kind, options in (
        ("json", {"path": str(data / "letters.json")}),
        ("jsonl", {"path": str(data / "letters.jsonl")}),
        ("csv", {"path": str(data / "letters.csv")}),
        ("sql", {"url": f"sqlite:///{data / 'letters.sqlite'}", "table": "letters"}),
    ):
        builder.add_pipeline(f"letters_{kind}", timedelta_seconds=1).with_http_connector(
            source=f"{base_url}/letters"
        ).with_storage(kind, preprocessing="add_datetime", **options)
    return builder.build()


def main(seconds: float = 2.5) -> dict[str, list[Any]]:
    with start_endpoints() as server:
        flow = build_flow(server.url)
        flow.launch_flow(execution_seconds=seconds)
    loaded = {p.name: flow.storage(p.name).load() for p in flow.pipelines}
    for name, rows in loaded.items():
        print(f"{name}: {len(rows)} rows, last {rows[-1] if rows else None}")
    return loaded


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 2.5)
