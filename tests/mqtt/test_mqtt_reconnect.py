"""The source survives its broker: it connects once the broker is up, and again after a restart.

Each test runs a private mosquitto (no persistence: a restart forgets every session and
subscription, so receiving anything afterwards proves the source subscribed again).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from weirflow.connectors.mqtt import MqttSource
from weirflow.senders.mqtt import MqttSender

Start = Callable[..., Any]  # the reading fixture


def quick_source(port: int, topic: str) -> MqttSource:
    return MqttSource(
        "127.0.0.1",
        port=port,
        topic=topic,
        reconnect_min_delay=0.05,
        reconnect_max_delay=0.2,
        pipeline="resilient",
    )


def test_the_source_keeps_trying_until_the_broker_is_up(
    mosquitto: Callable[..., Any], reading: Start, topic: str
) -> None:
    broker = mosquitto(start=False)
    source = quick_source(broker.port, topic)
    source.start()  # nothing listens yet
    assert not source.wait_subscribed(0.2)
    broker.start()
    assert source.wait_subscribed(5)
    reader = reading(source)
    sender = MqttSender("127.0.0.1", port=broker.port, topic=topic, pipeline="p")
    try:
        sender.send({"n": 1})
    finally:
        sender.close()
    assert reader.take(1) == [{"n": 1}]


def test_the_source_reconnects_and_subscribes_again_after_a_broker_restart(
    mosquitto: Callable[..., Any],
    reading: Start,
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = mosquitto()
    reader = reading(quick_source(broker.port, topic))
    before = MqttSender("127.0.0.1", port=broker.port, topic=topic, pipeline="p")
    try:
        before.send({"phase": "before"})
    finally:
        before.close()
    assert reader.take(1) == [{"phase": "before"}]

    with caplog.at_level(logging.WARNING, logger="weirflow"):
        broker.stop()
        broker.start()  # same port; it waits until the port accepts connections
        after = MqttSender(
            "127.0.0.1", port=broker.port, topic=topic, retries=5, backoff=0.05, pipeline="p"
        )
        try:
            # Messages published before the source has subscribed again are lost (the broker
            # forgot everything): publish until one arrives, a bounded number of times.
            received = None
            for attempt in range(50):
                after.send({"phase": "after", "attempt": attempt})
                received = reader.poll(0.2)
                if received is not None:
                    break
        finally:
            after.close()
    assert received is not None, "nothing arrived after the restart"
    assert received["phase"] == "after"
    assert reader.source.statistics()["connections"] >= 2
    assert "lost the connection" in caplog.text
    assert "connected again" in caplog.text
