"""TLS options reach the connection: CA certificates, client certificates, ``insecure``.

A private mosquitto listens with TLS only and requires a client certificate; the certificates
are made with the ``openssl`` command (see the ``certificates`` fixture), so every check below
is a real handshake.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError
from weirflow.connectors.mqtt import MqttError, MqttSource
from weirflow.senders.mqtt import MqttSender

Start = Callable[..., Any]  # the reading fixture


@pytest.fixture
def tls_broker(mosquitto: Callable[..., Any], certificates: Any) -> Any:
    return mosquitto(
        f"cafile {certificates.ca}\n"
        f"certfile {certificates.server_cert}\n"
        f"keyfile {certificates.server_key}\n"
        "require_certificate true\n"
    )


def client_tls(certificates: Any, **more: Any) -> dict[str, Any]:
    return {
        "ca_certs": str(certificates.ca),
        "certfile": certificates.client_cert,  # a Path works too
        "keyfile": str(certificates.client_key),
        **more,
    }


def test_round_trip_over_tls_with_client_certificates(
    tls_broker: Any, certificates: Any, reading: Start, topic: str
) -> None:
    tls = client_tls(certificates)
    source = MqttSource("127.0.0.1", port=tls_broker.port, topic=topic, tls=tls)
    assert source.broker == f"mqtts://127.0.0.1:{tls_broker.port}"
    reader = reading(source)
    sender = MqttSender("127.0.0.1", port=tls_broker.port, topic=topic, tls=tls, retries=0)
    try:
        sender.send({"secure": True})
    finally:
        sender.close()
    assert reader.take(1) == [{"secure": True}]


def test_a_server_the_ca_does_not_vouch_for_is_refused(tls_broker: Any, certificates: Any) -> None:
    tls = client_tls(certificates, ca_certs=certificates.other_ca)
    sender = MqttSender("127.0.0.1", port=tls_broker.port, topic="t", tls=tls, retries=0)
    with pytest.raises(MqttError, match=r"CERTIFICATE_VERIFY_FAILED.*check tls=") as caught:
        sender.send({"n": 1})
    sender.close()
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_the_host_name_is_checked_unless_insecure(tls_broker: Any, certificates: Any) -> None:
    """The server's certificate names 127.0.0.1 only; "localhost" does not match it."""
    strict = MqttSender("localhost", port=tls_broker.port, topic="t", tls=client_tls(certificates))
    with pytest.raises(MqttError, match=r"Hostname mismatch") as caught:
        strict.send({"n": 1})  # not retried: it cannot get better
    strict.close()
    assert caught.value.attempts == 1
    lax = MqttSender(
        "localhost", port=tls_broker.port, topic="t", tls=client_tls(certificates, insecure=True)
    )
    try:
        lax.send({"n": 1})
    finally:
        lax.close()


def test_the_broker_requires_a_client_certificate(tls_broker: Any, certificates: Any) -> None:
    sender = MqttSender(
        "127.0.0.1",
        port=tls_broker.port,
        topic="t",
        tls={"ca_certs": certificates.ca},
        retries=0,
        timeout=3,
    )
    with pytest.raises(MqttError, match=f"mqtts://127.0.0.1:{tls_broker.port}") as caught:
        sender.send({"n": 1})
    sender.close()
    assert "closed the connection before answering" in str(caught.value)


def test_tls_true_uses_the_system_cas() -> None:
    source = MqttSource("broker.example", port=8883, tls=True)
    context = source._tls
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert source.broker == "mqtts://broker.example:8883"
    assert MqttSource("broker.example", tls=False)._tls is None


def test_tls_settings_are_what_the_client_gets(certificates: Any) -> None:
    source = MqttSource("127.0.0.1", tls=client_tls(certificates, insecure=True))
    client = source._new_client()
    assert client._ssl_context is source._tls
    assert client._tls_insecure
    assert source._tls is not None
    assert not source._tls.check_hostname
    assert source._tls.verify_mode == ssl.CERT_REQUIRED
    assert [cert["subject"] for cert in source._tls.get_ca_certs()] == [
        ((("commonName", "test-ca"),),)
    ]


@pytest.mark.parametrize(
    ("tls", "match"),
    [
        ("yes", r"tls=...\): give True, False, None or a dict"),
        ({"ca": "x"}, r"unknown key\(s\) ca; the keys are ca_certs"),
        ({"ca_certs": "/nonexistent/ca.pem"}, r"cannot load the CA certificates"),
        ({"ca_certs": 3}, r"tls\['ca_certs'\] must be a file path"),
        ({"keyfile": "/nonexistent/key.pem"}, r"needs tls\['certfile'\]"),
        ({"certfile": "/nonexistent/c.pem"}, r"cannot load the client certificate"),
        ({"insecure": "yes"}, r"tls\['insecure'\] must be True or False"),
    ],
)
def test_bad_tls_options_are_config_errors(tls: Any, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pipeline 'secure': MqttSource\(tls=...\)"):
        MqttSource(tls=tls, pipeline="secure")
    with pytest.raises(ConfigError, match=match):
        MqttSender(tls=tls, pipeline="secure")


def test_a_source_whose_broker_certificate_does_not_verify_fails_at_once(
    tls_broker: Any, certificates: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Trying again cannot make the certificate verify: one clear error, no retry loop."""
    source = MqttSource(
        "127.0.0.1",
        port=tls_broker.port,
        topic="t",
        tls=client_tls(certificates, ca_certs=certificates.other_ca),
        reconnect_min_delay=0.01,
        reconnect_max_delay=0.02,
        pipeline="secure",
    )
    try:
        with caplog.at_level(logging.DEBUG, logger="weirflow"), pytest.raises(MqttError) as caught:
            list(source.read({}))
        thread = source._thread
        assert thread is not None
        thread.join(5)  # the network loop ended by itself: no reconnection
        assert not thread.is_alive()
    finally:
        source.close()
    message = str(caught.value)
    assert message.startswith(f"pipeline 'secure': mqtts://127.0.0.1:{tls_broker.port}: ")
    assert "cannot connect: the broker's TLS certificate does not verify (" in message
    assert message.endswith("check tls=... (ca_certs, certfile, keyfile, insecure)")
    assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in errors] == [message]
    assert errors[0].exc_info is None  # one line, no traceback
    assert source.statistics()["connections"] == 0


def test_a_flow_whose_broker_certificate_does_not_verify_fails_with_the_reason(
    tls_broker: Any, certificates: Any
) -> None:
    from weirflow import FlowBuilder, PipelineFailed

    builder = FlowBuilder()
    builder.add_pipeline("secure").with_mqtt_connector(
        "127.0.0.1",
        port=tls_broker.port,
        topic="t",
        tls=client_tls(certificates, ca_certs=certificates.other_ca),
    ).with_core_logic(lambda item: item)
    with pytest.raises(PipelineFailed) as caught:
        builder.build().launch_flow(execution_seconds=30)
    assert caught.value.stage == "secure.mqtt_connector"
    assert isinstance(caught.value.__cause__, MqttError)
    assert "TLS certificate does not verify" in str(caught.value)
