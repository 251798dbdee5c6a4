"""MqttOptions: the one checked value the MQTT source and sender connect with."""

from __future__ import annotations

import pickle
import ssl
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError, PayloadError, Retry
from weirflow._checks import Where
from weirflow.connectors.mqtt import MqttOptions, MqttSender, MqttSource


def test_the_source_and_the_sender_share_one_options_value() -> None:
    given: dict[str, Any] = {"port": 8883, "client_id": "plant", "username": "bob"}
    source = MqttSource("broker.example", password="s3cret", pipeline="plant", **given)
    sender = MqttSender("broker.example", password="s3cret", pipeline="plant", **given)
    assert isinstance(source.options, MqttOptions)
    assert source.options.host == sender.options.host == "broker.example"
    assert (source.host, source.port, source.client_id, source.username) == (
        "broker.example",
        8883,
        "plant",
        "bob",
    )
    assert source.options.clean_start is False  # at least once: a persistent session
    assert sender.options.clean_start is True
    assert source.broker == sender.broker == "mqtt://broker.example:8883"


def test_options_hide_the_password_and_pickle_as_their_fields(certificates: Any) -> None:
    tls = {"ca_certs": str(certificates.ca)}
    options = MqttOptions("h", username="bob", password="s3cret", tls=tls, keepalive=30)
    assert "s3cret" not in repr(options)
    assert options.context is not None
    assert options.context.verify_mode == ssl.CERT_REQUIRED
    copy = pickle.loads(pickle.dumps(options))
    assert copy == options
    assert copy.password == "s3cret"
    assert copy.context is not None
    assert copy.context is not options.context
    assert copy.broker == "mqtts://h:1883"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"host": "mqtt://h"}, "send('mqtt', destination=...): give only the broker's host name"),
        ({"port": 0}, "send('mqtt', port=...): give a port number from 1 to 65535"),
        ({"qos": 3}, "send('mqtt', qos=...): give 0, 1 or 2"),
        ({"keepalive": 0}, "send('mqtt', keepalive=...): give a whole number from 1 to 65535"),
        ({"clean_start": False}, "clean_start=...): a persistent session (clean_start=False)"),
        ({"reconnect_min_delay": float("inf")}, "reconnect_min_delay=...): give a number of"),
        ({"password": "x"}, "send('mqtt', password=...): a password needs a username"),
        ({"tls": {"cafile": "x"}}, "send('mqtt', tls=...): unknown key(s) cafile"),
    ],
)
def test_every_field_is_checked_in_one_place_naming_the_caller_s_field(
    given: dict[str, Any], message: str
) -> None:
    where = Where("reports", "send('mqtt', {name}=...)")
    with pytest.raises(ConfigError) as caught:
        MqttOptions(**given, where=where, host_field="destination")
    assert str(caught.value).startswith("pipeline 'reports': send('mqtt', "), str(caught.value)
    assert message in str(caught.value)


def test_the_sender_takes_a_retry_policy_as_retries() -> None:
    sender = MqttSender("h", retries=Retry(attempts=4, backoff=0.1, cap=0.2), pipeline="p")
    assert (sender.retries, sender.backoff, sender.retry.cap) == (3, 0.1, 0.2)
    assert MqttSender("h", retries=1, backoff=2.0).retry == Retry(attempts=2, backoff=2.0, cap=30)


def test_text_utf8_cannot_encode_is_a_payload_error_before_connecting(tmp_path: Path) -> None:
    sender = MqttSender("broker.invalid", topic="t", pipeline="reports")
    with pytest.raises(PayloadError, match="pipeline 'reports': send\\('mqtt'\\): cannot publish"):
        sender.send({"name": "a\ud800"})
    with pytest.raises(PayloadError, match="cannot publish float as JSON"):
        sender.send(float("nan"))
    sender.close()
