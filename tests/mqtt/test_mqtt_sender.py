"""MqttSender: what it publishes, its connection, its errors, and ``send("mqtt", ...)``."""

from __future__ import annotations

import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from weirflow import ConfigError
from weirflow.connectors.mqtt import MqttError, MqttSource
from weirflow.senders import PayloadError, create_sender
from weirflow.senders.mqtt import MqttSender

Start = Callable[..., Any]  # the reading fixture


def test_publishes_json_the_label_and_raw_bytes(
    broker: tuple[str, int], topic: str, reading: Start
) -> None:
    reader = reading(MqttSource(broker[0], topic=topic, decode="bytes"))
    whole = MqttSender(broker[0], topic=topic, pipeline="reports")
    label = MqttSender(broker[0], topic=topic, label_to_send="summary", qos=2, pipeline="reports")
    try:
        whole.send({"summary": {"mean": 4.5}, "raw": [4, 5], "name": "ünï"})
        label.send({"summary": {"mean": 4.5}, "raw": [4, 5]})
        whole.send(b"\x00\xffraw")
    finally:
        whole.close()
        label.close()
    assert reader.take(3) == [
        '{"summary":{"mean":4.5},"raw":[4,5],"name":"ünï"}'.encode(),
        b'{"mean":4.5}',
        b"\x00\xffraw",
    ]


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_every_qos(broker: tuple[str, int], topic: str, reading: Start, qos: int) -> None:
    reader = reading(MqttSource(broker[0], topic=topic, qos=2))
    sender = MqttSender(broker[0], topic=topic, qos=qos)
    try:
        for n in range(3):
            sender.send({"n": n})
    finally:
        sender.close()
    assert reader.take(3) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_retained_messages_reach_later_subscribers(
    broker: tuple[str, int], topic: str, reading: Start
) -> None:
    sender = MqttSender(broker[0], topic=f"{topic}/state", retain=True)
    try:
        sender.send({"state": "on"})
        reader = reading(MqttSource(broker[0], topic=f"{topic}/#"))
        assert reader.take(1) == [{"state": "on"}]
        sender.send(b"")  # an empty retained message clears it on the broker
    finally:
        sender.close()


def test_one_connection_shared_by_threads(
    broker: tuple[str, int], topic: str, reading: Start
) -> None:
    reader = reading(MqttSource(broker[0], topic=topic))
    sender = MqttSender(broker[0], topic=topic, pipeline="busy")
    errors: list[BaseException] = []

    def send_many(worker: int) -> None:
        try:
            for n in range(25):
                sender.send({"worker": worker, "n": n})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=send_many, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    try:
        assert not errors
        network = [t for t in threading.enumerate() if t.name == "weirflow mqtt busy"]
        assert len(network) == 1  # one client, one network thread
    finally:
        sender.close()
    got = reader.take(100)
    assert sorted((item["worker"], item["n"]) for item in got) == [
        (w, n) for w in range(4) for n in range(25)
    ]


def test_reconnects_after_losing_its_broker(mosquitto: Callable[..., Any], topic: str) -> None:
    broker = mosquitto()
    sender = MqttSender("127.0.0.1", port=broker.port, topic=topic, retries=3, backoff=0.05)
    try:
        sender.send({"n": 1})
        broker.stop()
        broker.start()
        sender.send({"n": 2})  # the lost connection is noticed and made again
    finally:
        sender.close()


def test_an_unreachable_broker_is_a_clear_error_after_the_retries(
    closed_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    sender = MqttSender(
        "127.0.0.1",
        port=closed_port,
        topic="plant/summary",
        retries=2,
        backoff=0.01,
        username="bob",
        password="hunter2",
        pipeline="reports",
    )
    started = time.monotonic()
    with pytest.raises(MqttError) as caught:
        sender.send({"n": 1})
    assert time.monotonic() - started < 5
    sender.close()
    error = caught.value
    message = str(error)
    assert "pipeline 'reports'" in message
    assert f"mqtt://127.0.0.1:{closed_port}" in message
    assert "'plant/summary'" in message
    assert "after 3 attempts" in message
    assert "Connection refused" in message
    assert (error.pipeline, error.topic, error.attempts) == ("reports", "plant/summary", 3)
    assert isinstance(error.__cause__, ConnectionRefusedError)
    assert "hunter2" not in message
    assert "hunter2" not in caplog.text
    assert caplog.text.count("retry") == 2
    copy = pickle.loads(pickle.dumps(error))
    assert (str(copy), copy.broker) == (message, error.broker)


def test_a_closed_sender_refuses_to_send(broker: tuple[str, int], topic: str) -> None:
    sender = MqttSender(broker[0], topic=topic, retries=3)
    sender.send({"n": 1})
    sender.close()
    sender.close()
    with pytest.raises(MqttError, match="closed"):
        sender.send({"n": 2})
    assert not [t for t in threading.enumerate() if t.name.startswith("weirflow mqtt")]


def test_items_that_cannot_be_sent() -> None:
    sender = MqttSender("localhost", topic="t", label_to_send="summary", pipeline="reports")
    with pytest.raises(PayloadError, match=r"pipeline 'reports'.*no key 'summary'"):
        sender.send({"other": 1})
    with pytest.raises(PayloadError, match="as JSON"):
        sender.send({"summary": {1, 2}})
    with pytest.raises(PayloadError, match="as JSON"):
        sender.send({"summary": float("nan")})
    sender.close()


def test_send_mqtt_is_a_registered_kind() -> None:
    sender = create_sender(
        "mqtt",
        pipeline="reports",
        options={"destination": "broker.example", "port": 8883, "topic": "a/b", "tls": True},
    )
    assert isinstance(sender, MqttSender)
    assert (sender.broker, sender.topic, sender.pipeline) == (
        "mqtts://broker.example:8883",
        "a/b",
        "reports",
    )
    with pytest.raises(ConfigError, match=r"pipeline 'p': send\('mqtt'\) got unknown option"):
        create_sender("mqtt", pipeline="p", options={"url": "mqtt://x"})
    with pytest.raises(ConfigError, match=r"pipeline 'p': send\('mqtt', qos=...\)"):
        create_sender("mqtt", pipeline="p", options={"qos": 5})


def test_pickles_as_its_options() -> None:
    sender = MqttSender("broker.example", topic="a/b", qos=0, password="x", username="u")
    copy = pickle.loads(pickle.dumps(sender))
    assert (copy.host, copy.topic, copy.qos, copy.username) == ("broker.example", "a/b", 0, "u")
