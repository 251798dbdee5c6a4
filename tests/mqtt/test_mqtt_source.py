"""MqttSource against a real Mosquitto: decoding, wildcards, bad payloads, closing, pickling."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from weirflow import Delivery
from weirflow.connectors.mqtt import MqttSource
from weirflow.senders.mqtt import MqttSender

Start = Callable[..., Any]  # the reading fixture
Publish = Callable[..., None]  # the publish fixture


def test_json_round_trip(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    reader = reading(MqttSource(broker[0], port=broker[1], topic=f"{topic}/#", pipeline="p"))
    items = [{"t": 21.5, "room": "lab"}, [1, 2, 3], "text", 7, None]
    publish(broker, f"{topic}/readings", *items)
    assert reader.take(len(items)) == items


def test_text_and_bytes(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    text = reading(MqttSource(broker[0], topic=f"{topic}/t", decode="text", pipeline="t"))
    raw = reading(MqttSource(broker[0], topic=f"{topic}/b", decode="bytes", pipeline="b"))
    publish(broker, f"{topic}/t", "héllo".encode(), {"a": 1})
    publish(broker, f"{topic}/b", b"\x00\xff\x10", {"a": 1})
    assert text.take(2) == ["héllo", '{"a":1}']
    assert raw.take(2) == [b"\x00\xff\x10", b'{"a":1}']


def test_wildcards_and_several_filters(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    source = MqttSource(
        broker[0], topic=[f"{topic}/+/temperature", f"{topic}/alerts/#"], qos=0, pipeline="w"
    )
    reader = reading(source)
    for path in ("a/temperature", "b/temperature", "a/humidity", "alerts/x/y", "alerts", "end"):
        publish(broker, f"{topic}/{path}", {"path": path})
    publish(broker, f"{topic}/alerts/end", {"path": "done"})
    got = reader.take_until(lambda item: item["path"] == "done")
    assert [item["path"] for item in got] == [
        "a/temperature",
        "b/temperature",
        "alerts/x/y",
        "alerts",
        "done",
    ]


def test_bad_payload_is_counted_and_logged_and_the_source_goes_on(
    broker: tuple[str, int],
    topic: str,
    reading: Start,
    publish: Publish,
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = reading(MqttSource(broker[0], topic=topic, pipeline="sensors"))
    with caplog.at_level(logging.WARNING, logger="weirflow"):
        publish(broker, topic, {"n": 1}, b"{not json", b"\xff\xfe\x00", {"n": 2})
        assert reader.take(2) == [{"n": 1}, {"n": 2}]
    statistics = reader.source.statistics()
    assert statistics["bad_payloads"] == 2
    assert statistics["received"] == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert all("'sensors'" in message and topic in message for message in warnings)


def test_bad_payload_goes_to_dead_letter(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    dead: list[dict[str, Any]] = []
    source = MqttSource(broker[0], topic=topic, dead_letter=dead.append, pipeline="sensors")
    reader = reading(source)
    publish(broker, topic, b"{not json", b"\xff\xfe", {"n": 3})
    assert reader.take(1) == [{"n": 3}]
    assert [(r["topic"], r["payload"], r["encoding"]) for r in dead] == [
        (topic, "{not json", "utf-8"),
        (topic, "//4=", "base64"),
    ]
    assert all("JSONDecodeError" in r["error"] or "Unicode" in r["error"] for r in dead)
    assert dead[0]["pipeline"] == "sensors"
    assert source.statistics()["dead_lettered"] == 2


def test_a_failing_dead_letter_does_not_stop_the_source(
    broker: tuple[str, int],
    topic: str,
    reading: Start,
    publish: Publish,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def dead_letter(record: dict[str, Any]) -> None:
        raise OSError("disk full")

    reader = reading(MqttSource(broker[0], topic=topic, qos=0, dead_letter=dead_letter))
    with caplog.at_level(logging.ERROR, logger="weirflow"):
        publish(broker, topic, b"oops", {"n": 1})
        assert reader.take(1) == [{"n": 1}]
    assert "dead_letter failed" in caplog.text


def test_plain_values_without_at_least_once(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    source = MqttSource(broker[0], topic=topic, qos=1, client_id=None, pipeline="p")
    assert not source.at_least_once
    reader = reading(source)
    publish(broker, topic, {"n": 1})
    [item] = reader.take(1)
    assert not isinstance(item, Delivery)


def test_close_makes_read_return_promptly(
    broker: tuple[str, int], topic: str, reading: Start
) -> None:
    source = MqttSource(broker[0], topic=topic)
    reader = reading(source, subscribed=False)  # read() connects
    assert source.wait_subscribed(5)
    started = time.monotonic()
    reader.close()
    assert time.monotonic() - started < 1.0
    assert list(source.read({})) == []  # a closed source yields nothing
    with pytest.raises(RuntimeError, match="closed"):
        source.start()


def test_close_frees_a_network_thread_waiting_for_room(
    broker: tuple[str, int], topic: str, publish: Publish, eventually: Callable[..., None]
) -> None:
    """With the buffer full and nobody reading, close() still stops paho's thread."""
    source = MqttSource(broker[0], topic=topic, qos=0, maxsize=1, pipeline="slow")
    source.start()
    assert source.wait_subscribed(5)
    publish(broker, topic, 1, 2, 3)
    eventually(lambda: source.statistics()["received"] == 2)  # the 2nd waits for room
    assert source.statistics()["buffered"] == 1
    before = {t for t in threading.enumerate() if t.name.startswith("weirflow mqtt")}
    assert before
    source.close()
    assert not any(t.is_alive() for t in before)


def test_only_one_read_at_a_time(
    broker: tuple[str, int], topic: str, reading: Start, publish: Publish
) -> None:
    reader = reading(MqttSource(broker[0], topic=topic))
    publish(broker, topic, 1)
    reader.take(1)  # the reader is inside read()
    with pytest.raises(RuntimeError, match="being read already"):
        next(iter(reader.source.read({})))


def test_pickles_as_its_options() -> None:
    source = MqttSource("broker.example", port=1884, topic=["a/+", "b/#"], decode="text")
    copy = pickle.loads(pickle.dumps(source))
    assert isinstance(copy, MqttSource)
    assert (copy.host, copy.port, copy.topics, copy.decode) == (
        "broker.example",
        1884,
        ["a/+", "b/#"],
        "text",
    )


def test_repr_and_errors_never_show_the_password() -> None:
    source = MqttSource("localhost", username="bob", password="hunter2", pipeline="p")
    assert "hunter2" not in repr(source)
    assert "bob" in repr(source)
    sender = MqttSender("localhost", username="bob", password="hunter2", pipeline="p")
    assert "hunter2" not in repr(sender)


def test_credentials_are_sent(broker: tuple[str, int], topic: str, reading: Start) -> None:
    """Anonymous access is allowed on the test broker: credentials must simply not break it."""
    source = MqttSource(broker[0], topic=topic, username="reader", password="s3cret")
    reader = reading(source)
    sender = MqttSender(broker[0], topic=topic, username="writer", password="s3cret")
    try:
        sender.send({"n": 1})
    finally:
        sender.close()
    assert reader.take(1) == [{"n": 1}]
