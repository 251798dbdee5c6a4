"""``with_topic=True``: core logic gets ``{"topic", "payload"}``, so one subscription to
``sensors/#`` tells which sensor spoke; at-least-once acknowledgements work as without it."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder
from weirflow.connectors.mqtt import MqttSource

Start = Callable[..., Any]  # the reading fixture
Publish = Callable[..., None]


def test_the_source_yields_topic_and_payload(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    source = MqttSource(broker[0], port=broker[1], topic=f"{topic}/#", with_topic=True)
    reader = reading(source)
    publish(broker, f"{topic}/kitchen", {"celsius": 21.5})
    publish(broker, f"{topic}/cellar/north", 7)
    assert reader.take(2) == [
        {"topic": f"{topic}/kitchen", "payload": {"celsius": 21.5}},
        {"topic": f"{topic}/cellar/north", "payload": 7},
    ]


def test_with_topic_must_be_a_bool() -> None:
    with pytest.raises(ConfigError, match=r"MqttSource\(with_topic=...\): give True or False"):
        MqttSource(with_topic="yes")
    with pytest.raises(ConfigError, match=r"with_topic"):
        FlowBuilder().add_pipeline("p").with_mqtt_connector(topic="a/#", with_topic=1)


def test_a_flow_gets_the_topic_and_acknowledges_each_message(
    broker: tuple[str, int], topic: str, publish: Publish, eventually: Callable[..., None]
) -> None:
    stored: list[dict[str, Any]] = []

    def by_sensor(message: dict[str, Any]) -> dict[str, Any]:
        return {"sensor": message["topic"].rsplit("/", 1)[1], **message["payload"]}

    builder = FlowBuilder()
    builder.add_pipeline("sensors").with_mqtt_connector(
        broker[0],
        port=broker[1],
        topic=f"{topic}/+",
        qos=1,
        client_id=f"weirflow-test-{uuid.uuid4().hex}",
        session_expiry=0,
        with_topic=True,
    ).with_core_logic(by_sensor).with_storage(stored.append)
    flow = builder.build()
    lazy = flow.pipelines[0].stages[0].source
    assert lazy is not None
    failures: list[BaseException] = []

    def feed_then_stop() -> None:
        try:
            eventually(lambda: lazy.opened is not None)
            source = lazy.opened
            assert isinstance(source, MqttSource)
            assert source.at_least_once
            assert source.wait_subscribed(5)
            for n, sensor in enumerate(["a", "b", "c"]):
                publish(broker, f"{topic}/{sensor}", {"n": n})
            eventually(lambda: source.statistics()["acked"] == 3)
        except BaseException as error:
            failures.append(error)
        finally:
            flow.stop()

    helper = threading.Thread(target=feed_then_stop, name="test feeder")
    helper.start()
    flow.launch_flow(execution_seconds=20)
    helper.join(5)
    assert not failures
    assert stored == [{"sensor": s, "n": n} for n, s in enumerate(["a", "b", "c"])]
