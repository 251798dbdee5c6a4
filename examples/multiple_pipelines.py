"""Scenario 3 — several sources, core logic over their storages, and notifications.

Two pipelines poll integers and letters every second into local storages (a JSON file and a
SQLite table). A third, every 1.5 seconds, reads both through ``db_connectors``: for an upper-case
letter it adds the integers, for a lower-case one it subtracts them, and sends the result with an
HTTP PUT. Run it with ``use_threads=False`` (``--processes``) to put each pipeline in a process.

    python examples/multiple_pipelines.py [seconds] [--processes]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from _endpoints import start_endpoints

from weirflow import Flow, FlowBuilder

DATA = Path("data") / "multiple_pipelines"


def calculate(**parameters: Any) -> dict[str, Any] | None:
    """wiredflow-style core logic: everything arrives as keyword arguments."""
    db_connectors = parameters["db_connectors"]
    integers = [row["Generated random number"] for row in db_connectors["integers"].load()]
    letter = db_connectors["letters"].load()  # "overwrite": only the latest letter
    if letter is None or not integers:
        return None
    if letter["Generated random letter"].isupper():
        return {"mode": "upper case: sum", "value": sum(integers)}
    return {"mode": "lower case: negated sum", "value": -sum(integers)}


def build_flow(base_url: str, data: Path = DATA, use_threads: bool = True) -> Flow:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("integers", timedelta_seconds=1).with_http_connector(
        source=f"{base_url}/integers", headers={"apikey": "custom_key_1234"}
    ).with_storage("sql", url=f"sqlite:///{data / 'integers.sqlite'}", table="integers")
    builder.add_pipeline("letters", timedelta_seconds=1).with_http_connector(
        source=f"{base_url}/letters"
    ).with_storage("json", path=str(data / "letters.json"), preprocessing="overwrite")
    builder.add_pipeline("core_logic", timedelta_seconds=1.5, delay_seconds=0.5).with_core_logic(
        calculate
    ).send("http_put", destination=f"{base_url}/notifications")
    return builder.build()


def main(seconds: float = 4.0, use_threads: bool = True) -> list[Any]:
    with start_endpoints() as server:
        flow = build_flow(server.url, use_threads=use_threads)
        flow.launch_flow(execution_seconds=seconds)
        sent = [r.json for r in server.requests if r.path == "/notifications"]
    print(f"sent {len(sent)} notifications, e.g. {sent[:2]}")
    return sent


if __name__ == "__main__":
    seconds = next((float(a) for a in sys.argv[1:] if not a.startswith("--")), 4.0)
    main(seconds, use_threads="--processes" not in sys.argv)
