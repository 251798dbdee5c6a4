"""The tests of my_service.py, as its authors would write them (run with pytest).

Real servers, no mocks: a LocalHTTPServer plays the weather API and the webhook, the
``mqtt_broker`` fixture (weirflow's pytest plugin, no import needed) is a private Mosquitto,
``ListStorage`` stands for the storage, and ``run_once`` runs each pipeline once at its first
start on a virtual clock: the six o'clock report runs at once, in schedule order.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from my_service import build_flow

from weirflow.connectors.mqtt import MqttSource
from weirflow.testing import ListStorage, LocalHTTPServer, Mosquitto, VirtualClock, run_once


def morning() -> VirtualClock:
    """A virtual clock showing ten minutes before six."""
    return VirtualClock(datetime(2030, 7, 1, 5, 50, tzinfo=UTC))


@pytest.fixture
def weather_api() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as server:
        server.route("GET", "/weather", {"name": "Seville", "main": {"temp": 31.5}})
        yield server


@pytest.fixture
def webhook() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as server:
        server.route("POST", "/reports", (201, {"ok": True}))
        yield server


def test_one_morning(weather_api: LocalHTTPServer, webhook: LocalHTTPServer) -> None:
    storage = ListStorage()
    builder = build_flow(
        f"{weather_api.url}/weather", f"{webhook.url}/reports", port=1, storage=storage
    )
    results = run_once(builder, ["weather", "report"], clock=morning())
    assert storage.items == [{"city": "Seville", "temperature": 31.5}]
    assert results["report"].started_at.hour == 6
    (report,) = webhook.requests
    assert report.json == {"readings": 1, "mean": 31.5, "max": 31.5}


def test_no_report_without_readings(webhook: LocalHTTPServer) -> None:
    builder = build_flow("http://127.0.0.1:1/", f"{webhook.url}/reports", storage=ListStorage())
    result = run_once(builder, ["report"])["report"]
    assert result.items == ()
    assert webhook.requests == []


def test_a_hot_reading_is_published(weather_api: LocalHTTPServer, mqtt_broker: Mosquitto) -> None:
    builder = build_flow(
        f"{weather_api.url}/weather",
        "http://127.0.0.1:1/",
        broker=mqtt_broker.host,
        port=mqtt_broker.port,
        storage=ListStorage(),
    )
    with MqttSource(mqtt_broker.host, port=mqtt_broker.port, topic="alerts/heat") as alerts:
        alerts.start()
        assert alerts.wait_subscribed(10)
        results = run_once(builder, ["weather", "alerts"])
        assert results["alerts"].started_at > results["weather"].started_at
        received = next(iter(alerts.read({})))
    assert received == {"alert": "heat", "city": "Seville", "temperature": 31.5}
