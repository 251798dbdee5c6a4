"""What the source says when it cannot connect, and when two clients share a client_id.

Every failure is one line at WARNING or ERROR that says why (refused, DNS, not authorised);
the traceback goes to DEBUG. "connected again" is said only after a first connection. Two
sources sharing a client_id make the broker disconnect the older one ("Session taken over"):
that one fails with a clear error instead of both taking turns for ever.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from weirflow.connectors.mqtt import MqttError, MqttSource

Start = Callable[..., Any]  # the reading fixture


class Lines(logging.Handler):
    """The records of the ``weirflow`` loggers; a test can wait for one holding a text."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(self, text: str, timeout: float = 10.0) -> logging.LogRecord:
        with self._changed:
            found: list[logging.LogRecord] = []

            def seen() -> bool:
                found[:] = [r for r in self.records if text in r.getMessage()]
                return bool(found)

            assert self._changed.wait_for(seen, timeout), [r.getMessage() for r in self.records]
            return found[0]

    def at(self, level: int) -> list[str]:
        with self._changed:
            return [r.getMessage() for r in self.records if r.levelno == level]


@pytest.fixture
def lines() -> Iterator[Lines]:
    logger = logging.getLogger("weirflow")
    handler = Lines()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def source_at(host: str, port: int, **options: Any) -> MqttSource:
    options.setdefault("reconnect_min_delay", 0.02)
    options.setdefault("reconnect_max_delay", 0.05)
    options.setdefault("topic", "t/#")
    return MqttSource(host, port=port, pipeline="plant", **options)


def test_a_refused_connection_says_so_once_with_the_traceback_at_debug(
    closed_port: int, lines: Lines
) -> None:
    source = source_at("127.0.0.1", closed_port)
    try:
        source.start()
        warning = lines.wait_for("cannot connect")
        lines.wait_for("the connection attempt failed")  # DEBUG, with the traceback
    finally:
        source.close()
    assert warning.levelno == logging.WARNING
    assert warning.getMessage() == (
        f"pipeline 'plant': mqtt://127.0.0.1:{closed_port}: cannot connect: connection refused "
        f"(is a broker listening at mqtt://127.0.0.1:{closed_port}?); retrying every 0.0 to 0.1s"
    )
    assert warning.exc_info is None
    assert len([m for m in lines.at(logging.WARNING) if "cannot connect" in m]) == 1
    debug = [r for r in lines.records if r.levelno == logging.DEBUG and r.exc_info]
    assert isinstance(debug[0].exc_info[1], ConnectionRefusedError)  # type: ignore[index]


def test_a_host_name_that_does_not_resolve_says_dns(lines: Lines) -> None:
    source = source_at("no-such-broker.invalid", 1883)
    try:
        source.start()
        warning = lines.wait_for("cannot connect")
    finally:
        source.close()
    assert "cannot connect: the host name does not resolve (DNS: " in warning.getMessage()


def test_a_broker_that_refuses_the_client_says_not_authorised(
    mosquitto: Callable[..., Any], lines: Lines
) -> None:
    broker = mosquitto("allow_anonymous false")
    source = source_at("127.0.0.1", broker.port)
    try:
        source.start()
        error = lines.wait_for("refused the connection")
    finally:
        source.close()
    assert error.levelno == logging.ERROR
    assert "the broker refused the connection (Not authorized; the broker's access rules" in (
        error.getMessage()
    )


def test_connected_again_only_after_a_first_connection(
    mosquitto: Callable[..., Any], lines: Lines
) -> None:
    broker = mosquitto(start=False)
    source = source_at("127.0.0.1", broker.port, topic=f"t/{uuid.uuid4().hex}")
    try:
        source.start()
        lines.wait_for("cannot connect")  # nothing listens yet
        broker.start()
        assert source.wait_subscribed(10)
        first = lines.wait_for(": connected")
        broker.stop()
        lines.wait_for("lost the connection")
        broker.start()
        again = lines.wait_for("connected again")
    finally:
        source.close()
    assert first.getMessage().endswith(": connected")
    assert first.levelno == logging.INFO
    assert again.levelno == logging.WARNING


def test_two_sources_sharing_a_client_id_the_older_one_fails_clearly(
    broker: tuple[str, int], topic: str, reading: Start, publish: Callable[..., None], lines: Lines
) -> None:
    client_id = f"shared-{uuid.uuid4().hex[:8]}"
    older = source_at(*broker, client_id=client_id, topic=topic, session_expiry=0)
    newer = source_at(*broker, client_id=client_id, topic=topic, session_expiry=0)
    failed: list[BaseException] = []

    def read_older() -> None:
        try:
            for _ in older.read({}):
                pass
        except BaseException as error:
            failed.append(error)

    older.start()
    assert older.wait_subscribed(5)
    thread = threading.Thread(target=read_older, name="test older reader")
    thread.start()
    try:
        reader = reading(newer)  # connects with the same client id: the broker drops the older
        thread.join(10)
        assert not thread.is_alive(), "the older source kept reading"
        assert newer.wait_subscribed(5)  # it keeps its connection now
        publish(broker, topic, {"n": 1})
        [delivery] = reader.take(1)
        assert delivery.value == {"n": 1}  # the newer one goes on
    finally:
        older.close()
        thread.join(5)
    [error] = failed
    assert isinstance(error, MqttError)
    assert "another client probably connected with the same client_id" in str(error)
    assert f"clients sharing client_id {client_id!r} would take turns for ever" in str(error)
    assert "give each one its own client_id" in str(error)
    assert lines.at(logging.ERROR) == [str(error)]  # one error, from the one that gave up


def test_a_broker_that_closes_before_answering_is_not_a_lost_connection(
    mosquitto: Callable[..., Any], certificates: Any, lines: Lines
) -> None:
    """A TLS broker that wants a client certificate closes the connection before its CONNACK."""
    broker = mosquitto(
        f"cafile {certificates.ca}\n"
        f"certfile {certificates.server_cert}\n"
        f"keyfile {certificates.server_key}\n"
        "require_certificate true\n"
    )
    source = source_at("127.0.0.1", broker.port, tls={"ca_certs": str(certificates.ca)})
    try:
        source.start()
        warning = lines.wait_for("cannot connect")
    finally:
        source.close()
    assert warning.getMessage().startswith(
        f"pipeline 'plant': mqtts://127.0.0.1:{broker.port}: cannot connect: the broker closed "
        "the connection before answering (it may require a client certificate: tls certfile "
        "and keyfile); retrying"
    )
    assert not [m for m in lines.at(logging.WARNING) if "lost the connection" in m]
