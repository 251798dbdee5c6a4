"""Helpers for the observability tests: a flow launched in a thread with its server on."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from weirflow import Flow


def wait_for(condition: Callable[[], Any], seconds: float = 20.0, what: str = "") -> Any:
    """Poll ``condition`` until it returns something true (or fail after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.02)


@contextmanager
def serving(flow: Flow, seconds: float | None = None) -> Iterator[str]:
    """Launch ``flow`` with ``http="127.0.0.1:0"`` in a thread; yield its base URL; stop it."""
    errors: list[BaseException] = []

    def launch() -> None:
        try:
            flow.launch_flow(execution_seconds=seconds, http="127.0.0.1:0")
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=launch, name="test flow")
    thread.start()
    try:
        url = wait_for(lambda: flow.status_url or (errors and "failed"), what="the status server")
        if errors:
            raise errors[0]
        yield url.rstrip("/")
    finally:
        flow.stop()
        thread.join(30)
        assert not thread.is_alive(), "the flow did not stop"


def scrape(url: str) -> dict[str, Any]:
    """``/metrics`` parsed by prometheus_client: family name -> family."""
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {family.name: family for family in text_string_to_metric_families(response.text)}


def sample(families: dict[str, Any], name: str, **labels: str) -> float:
    """The value of the one sample of ``name`` with ``labels`` (a family name or sample name)."""
    for family in families.values():
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    raise AssertionError(f"no sample {name}{labels}")
