"""Retries: HTTP requests, core logic, storages and senders try again before they fail.

A local server answers ``/prices`` with two 503s before the price, and ``/alerts`` with one 502
before it accepts; the core logic fails on its first call. Every stage recovers by itself.

    python retries.py
"""

from __future__ import annotations

from typing import Any

from weirflow import FlowBuilder, Retry
from weirflow.testing import LocalHTTPServer, Response

# --8<-- [start:flow]
calls = {"convert": 0}


def convert(price: dict[str, Any]) -> dict[str, Any]:
    calls["convert"] += 1
    if calls["convert"] == 1:
        raise ConnectionError("the rates service blinked")  # tried again, then fine
    return {"eur": round(price["usd"] * 0.92, 2)}


def build_flow(base_url: str) -> Any:
    builder = FlowBuilder()
    (
        builder.add_pipeline("prices", on_failure="restart")
        # connection errors, timeouts and 5xx answers: tried again, waiting 0.1, 0.2, 0.4 s
        .with_http_connector(f"{base_url}/prices", retries=3, backoff=0.1)
        # an exception in your function: the item is tried again (Retry: attempts in all)
        .with_core_logic(convert, retries=Retry(attempts=3, backoff=0.1, cap=2.0))
        # a batch that cannot be saved: tried again
        .with_storage("jsonl", path="data/retries/prices.jsonl", retries=2, retry_backoff=0.1)
        # the HTTP senders retry like the connector
        .send("http_post", destination=f"{base_url}/alerts", retries=2, backoff=0.1)
    )
    return builder.build()


# --8<-- [end:flow]


def main() -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/prices", {"usd": 100.0}, statuses=[503, 503])
        server.route("POST", "/alerts", Response(201), statuses=[502])
        flow = build_flow(server.url)
        flow.launch_flow()  # no schedule: one run
        requests = [(r.method, r.path) for r in server.requests]
    stored = flow.storage("prices").load()
    print(f"stored {stored} after {requests.count(('GET', '/prices'))} requests")
    assert stored == [{"eur": 92.0}]
    assert requests.count(("GET", "/prices")) == 3
    assert requests.count(("POST", "/alerts")) == 2
    assert calls["convert"] == 2
    assert flow.statistics()["prices"]["failures"] == 0


if __name__ == "__main__":
    main()
