"""Options are checked when a source or sender is made: ConfigError naming pipeline and field."""

from __future__ import annotations

from typing import Any

import pytest

from weirflow import ConfigError
from weirflow.connectors.mqtt import MqttSource
from weirflow.senders.mqtt import MqttSender


@pytest.mark.parametrize(
    ("options", "field", "hint"),
    [
        ({"source": ""}, "source", "host name"),
        ({"source": "mqtt://broker:1883"}, "source", "only the broker's host name"),
        ({"port": 0}, "port", "1 to 65535"),
        ({"port": 70000}, "port", "1 to 65535"),
        ({"port": "1883"}, "port", "1 to 65535"),
        ({"topic": ""}, "topic", "non-empty topic"),
        ({"topic": []}, "topic", "non-empty list"),
        ({"topic": ["a/#", ""]}, "topic", "non-empty topic"),
        ({"topic": "a/#/b"}, "topic", "not a valid topic filter"),
        ({"topic": "a/b+"}, "topic", "not a valid topic filter"),
        ({"topic": 5}, "topic", "non-empty list"),
        ({"qos": 3}, "qos", "0, 1 or 2"),
        ({"qos": True}, "qos", "0, 1 or 2"),
        ({"decode": "xml"}, "decode", "json, text, bytes"),
        ({"keepalive": 0}, "keepalive", "1 to 65535"),
        ({"keepalive": 1.5}, "keepalive", "whole number"),
        ({"tls": "yes"}, "tls", "True, False, None or a dict"),
        ({"username": 3}, "username", "a string"),
        ({"password": "x"}, "password", "needs a username"),
        ({"client_id": ""}, "client_id", "non-empty string"),
        ({"at_least_once": True}, "client_id", "needs a fixed client_id"),
        ({"at_least_once": True, "client_id": "c", "qos": 0}, "at_least_once", "qos=1"),
        ({"at_least_once": True, "client_id": "c", "qos": 2}, "at_least_once", "qos=1"),
        (
            {"at_least_once": True, "client_id": "c", "clean_start": True},
            "clean_start",
            "leave clean_start unset",
        ),
        ({"clean_start": False}, "clean_start", "needs a fixed client_id"),
        ({"at_least_once": "yes"}, "at_least_once", "True, False or None"),
        ({"dead_letter": "log"}, "dead_letter", "a function"),
        ({"reconnect_min_delay": 0}, "reconnect_min_delay", "> 0"),
        ({"reconnect_min_delay": 5, "reconnect_max_delay": 1}, "reconnect_max_delay", ">="),
        ({"session_expiry": -1}, "session_expiry", ">= 0"),
        ({"maxsize": -1}, "maxsize", ">= 0"),
    ],
)
def test_source_options(options: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MqttSource(pipeline="sensors", **options)
    message = str(caught.value)
    assert message.startswith(f"pipeline 'sensors': MqttSource({field}=...)"), message
    assert hint in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("options", "field", "hint"),
    [
        ({"destination": "tcp://h"}, "destination", "only the broker's host name"),
        ({"port": -1}, "port", "1 to 65535"),
        ({"topic": "a/+/c"}, "topic", "only subscriptions"),
        ({"topic": ""}, "topic", "non-empty topic"),
        ({"qos": -1}, "qos", "0, 1 or 2"),
        ({"retain": "no"}, "retain", "True or False"),
        ({"label_to_send": 3}, "label_to_send", "the key"),
        ({"timeout": 0}, "timeout", "> 0"),
        ({"retries": -1}, "retries", ">= 0"),
        ({"backoff": -1}, "backoff", ">= 0"),
        ({"password": "x"}, "password", "needs a username"),
        ({"tls": {"cafile": "x"}}, "tls", "unknown key"),
        ({"keepalive": -5}, "keepalive", "1 to 65535"),
    ],
)
def test_sender_options(options: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MqttSender(pipeline="reports", **options)
    message = str(caught.value)
    assert message.startswith(f"pipeline 'reports': send('mqtt', {field}=...)"), message
    assert hint in message


def test_defaults() -> None:
    source = MqttSource()
    assert (source.host, source.port, source.topics, source.qos) == ("localhost", 1883, ["#"], 1)
    assert not source.at_least_once  # no client_id: no persistent session
    assert source.clean_start
    durable = MqttSource(client_id="plant")
    assert durable.at_least_once
    assert not durable.clean_start
    assert not MqttSource(client_id="plant", qos=2).at_least_once
    assert not MqttSource(client_id="plant", at_least_once=False).at_least_once
    sender = MqttSender()
    assert (sender.host, sender.port, sender.topic, sender.qos) == (
        "localhost",
        1883,
        "demo/sorted",
        1,
    )
    assert (sender.retain, sender.timeout, sender.retries) == (False, 10.0, 2)


def test_a_source_made_and_closed_without_reading_starts_nothing() -> None:
    source = MqttSource("broker.invalid", client_id="x")
    source.close()
    source.close()
    assert source.statistics()["connected"] is False
