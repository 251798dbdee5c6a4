"""The MQTT sender: ``send("mqtt", destination="broker", topic="plant/summary")``.

Each item (or its ``label_to_send`` value) is published as JSON; ``bytes`` are published as
they are. With QoS 1 or 2 a publication counts only once the broker has acknowledged it (and,
over MQTT 5, did not refuse it); with QoS 0 once it is written to the connection. Failures
(no connection, no acknowledgement within ``timeout``; not a refusal) are retried on a fresh
connection as a :class:`~weirflow.Retry` says (the one retry loop, :meth:`Retry.run`), then
raised as :class:`~weirflow.MqttError` naming the pipeline, the broker and the topic. A retry
after a lost acknowledgement may deliver a message twice (MQTT's at-least-once); nothing is
dropped silently. The connection options are an :class:`~._options.MqttOptions`, as the
source's.
"""

from __future__ import annotations

import logging
import ssl
import threading
from typing import Any

from ..._checks import Where, check_flag, check_seconds
from ..._errors import MqttError
from ..._interfaces import Sender
from ..._retry import Retry, retry_policy
from ...senders._payload import check_label, json_bytes, payload
from ._client import (  # first: without paho-mqtt it says which extra to install
    Properties,
    ReasonCode,
    mqtt,
    new_client,
    start_network,
    stop_network,
)
from ._options import TLS_HINT, MqttOptions, UsesBroker, check_topic

__all__ = ["MqttSender"]

logger = logging.getLogger("weirflow.mqtt")


class _Failed(Exception):
    """One attempt failed; ``retry`` says whether another attempt can help."""

    def __init__(self, reason: str, retry: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class _Connection:
    """One connected paho client, its network thread and the refusals the broker sent."""

    def __init__(self, client: mqtt.Client, thread: threading.Thread | None) -> None:
        self.client = client
        self.thread = thread
        self.refused: dict[int, ReasonCode] = {}  # mid -> a PUBACK/PUBREC failure code

    def on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.refused[mid] = reason_code

    def close(self) -> None:
        stop_network(self.client, self.thread)


class MqttSender(UsesBroker, Sender):
    """Publishes each item as JSON to ``topic`` on the broker ``destination``.

    One connection per sender, made on the first ``send`` and shared by the worker threads
    that send through it; it is made again when lost, and closed by :meth:`close`.

    Args:
        destination: the broker's host name or address.
        port: the broker's port (MQTT over TLS is usually 8883).
        topic: the topic to publish to (no wildcards).
        qos: 0, 1 or 2; with 1 or 2 ``send`` waits for the broker's acknowledgement.
        retain: ask the broker to keep the last message for future subscribers.
        label_to_send: publish only this key of each item (a dict); without it, the whole item.
        username, password: credentials (the password never shows in a repr, error or log).
        tls: None/False, True (the system's CAs) or a dict with ``ca_certs``, ``certfile``,
            ``keyfile``, ``insecure``; see :func:`weirflow.connectors.mqtt.tls_context`.
        client_id: the MQTT client id (by default the broker assigns one).
        timeout: seconds allowed to connect, and for each acknowledgement; > 0.
        retries: how many times a failed publication is tried again (>= 0), or the whole
            policy as a :class:`~weirflow.Retry` (leave ``backoff`` out then).
        backoff: seconds before the first retry, doubled for each next one up to 30 s (or
            ``backoff``, if longer); >= 0.
        keepalive: seconds between the client's pings when idle.
        pipeline: the pipeline's name, shown in errors and log lines.

    Raises:
        ConfigError: a bad option, at construction.

    Example:
        >>> sender = MqttSender("localhost", topic="plant/summary", label_to_send="mean")
        >>> sender
        MqttSender('mqtt://localhost:1883', topic='plant/summary', qos=1, pipeline='?')
        >>> from weirflow import ConfigError
        >>> try:
        ...     MqttSender(topic="plant/#", pipeline="plant")
        ... except ConfigError as error:
        ...     print(error)  # doctest: +ELLIPSIS
        pipeline 'plant': send('mqtt', topic=...): messages are published to one topic; ...

        With a broker at hand::

            sender.send({"mean": 21.5, "raw": [21, 22]})  # publishes 21.5
            sender.close()
    """

    OPTIONS = (
        "destination",
        "port",
        "topic",
        "qos",
        "retain",
        "label_to_send",
        "username",
        "password",
        "tls",
        "client_id",
        "timeout",
        "retries",
        "backoff",
        "keepalive",
    )
    """The options ``send("mqtt", ...)`` accepts."""

    def __init__(
        self,
        destination: str = "localhost",
        *,
        port: int = 1883,
        topic: str = "demo/sorted",
        qos: int = 1,
        retain: bool = False,
        label_to_send: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: bool | dict[str, Any] | None = None,
        client_id: str | None = None,
        timeout: float = 10.0,
        retries: int | Retry = 2,
        backoff: float = 0.5,
        keepalive: int = 60,
        pipeline: str = "?",
    ) -> None:
        self._arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        where = Where(pipeline, "send('mqtt', {name}=...)")
        self.options = MqttOptions.given(self._arguments, where, "destination")
        self.topic = check_topic(topic, where, "topic", wildcards=False)
        self.retain = check_flag(retain, where, "retain")
        self.label_to_send = check_label(label_to_send, where)
        self.timeout = check_seconds(timeout, where, "timeout", positive=True)
        self.retry = retry_policy(retries, backoff, where)
        self.pipeline = pipeline
        self._where = f"pipeline {pipeline!r}: send('mqtt')"
        self._lock = threading.Lock()  # guards the connection
        self._connection: _Connection | None = None
        self._closed = threading.Event()

    def send(self, item: Any) -> None:
        """Publish one item; raise if the broker did not take it after the retries.

        Raises:
            PayloadError: the item lacks ``label_to_send`` or is not JSON-serialisable.
            MqttError: the publication failed (the message names the broker and topic).
        """
        body = payload(item, self.label_to_send, self._where, self.pipeline)
        if isinstance(body, bytes | bytearray):  # raw bytes go as they are
            data = bytes(body)
        else:
            data = json_bytes(body, self._where, self.pipeline, "publish")

        def before_wait(error: Exception, attempt: int, delay: float) -> None:
            logger.warning(
                "%s: publishing to %s topic %r failed (%s); retry %d of %d in %.1fs",
                self._where,
                self.broker,
                self.topic,
                error,
                attempt,
                self.retry.attempts - 1,
                delay,
            )

        attempts = [0]

        def attempt(number: int) -> None:
            attempts[0] = number
            self._publish(data)

        try:
            self.retry.run(
                attempt,
                retryable=lambda error: isinstance(error, _Failed) and error.retry,
                before_wait=before_wait,
                wait=self._closed.wait,
            )
        except _Failed as failed:
            if failed.retry and attempts[0] < self.retry.attempts:  # closed during a wait
                raise self._error(_Failed("the sender was closed"), attempts[0]) from None
            raise self._error(failed, attempts[0]) from failed.__cause__

    @property
    def retries(self) -> int:
        """How many times a failed publication is tried again."""
        return self.retry.attempts - 1

    @property
    def backoff(self) -> float:
        """Seconds before the first retry."""
        return self.retry.backoff

    def close(self) -> None:
        """Disconnect and stop the network thread; later sends fail."""
        self._closed.set()
        with self._lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    # -- one attempt --------------------------------------------------------------------------

    def _publish(self, data: bytes) -> None:
        connection = self._connected()
        try:
            info = connection.client.publish(self.topic, data, qos=self.qos, retain=self.retain)
            info.wait_for_publish(self.timeout)
            published = info.is_published()
        except (RuntimeError, ValueError) as error:  # not queued, or the connection was lost
            self._discard(connection)
            raise _Failed(str(error)) from error
        if not published:
            self._discard(connection)
            what = "an acknowledgement" if self.qos else "the message to be written"
            raise _Failed(f"no connection or {what} within {self.timeout:g}s")
        refused = connection.refused.pop(info.mid, None)
        if refused is not None:
            raise _Failed(f"the broker refused the message: {refused}", retry=False)

    def _connected(self) -> _Connection:
        """The live connection, made now if there is none (one thread connects at a time)."""
        with self._lock:
            if self._closed.is_set():
                raise _Failed("the sender is closed", retry=False)
            connection = self._connection
            if connection is not None and connection.client.is_connected():
                return connection
            self._connection = None
            if connection is not None:
                connection.close()
            connection = self._connect()
            self._connection = connection
            return connection

    def _connect(self) -> _Connection:
        client = new_client(
            self.options,
            reconnect_on_failure=False,  # a lost connection is made again by the next send
        )
        client.connect_timeout = self.timeout
        answered = threading.Event()
        refusal: list[str] = []

        def on_connect(
            client: mqtt.Client,
            userdata: Any,
            flags: mqtt.ConnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            if reason_code.is_failure:
                refusal.append(f"the broker refused the connection: {reason_code}")
            answered.set()

        def on_disconnect(
            client: mqtt.Client,
            userdata: Any,
            flags: mqtt.DisconnectFlags,
            reason_code: ReasonCode,
            properties: Properties | None,
        ) -> None:
            if not answered.is_set():  # e.g. a TLS broker that rejects the client certificate
                refusal.append(f"the broker closed the connection before answering ({reason_code})")
                answered.set()

        client.on_connect = on_connect
        client.on_disconnect = on_disconnect
        try:
            client.connect(self.host, self.port, self.keepalive, clean_start=True)
        except ssl.SSLCertVerificationError as error:  # trying again cannot help
            raise _Failed(_describe(error), retry=False) from error
        except (OSError, ValueError) as error:
            raise _Failed(_describe(error)) from error
        connection = _Connection(client, start_network(client, f"weirflow mqtt {self.pipeline}"))
        client.on_publish = connection.on_publish
        if not answered.wait(self.timeout) or refusal:
            connection.close()
            raise _Failed(
                refusal[0]
                if refusal
                else f"the broker did not answer the connection within {self.timeout:g}s"
            )
        return connection

    def _discard(self, connection: _Connection) -> None:
        """Drop a connection that failed (unless another thread replaced it already)."""
        with self._lock:
            if self._connection is not connection:
                return
            self._connection = None
        connection.close()

    def _error(self, failed: _Failed, attempts: int) -> MqttError:
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        message = (
            f"{self._where}: publishing to {self.broker} topic {self.topic!r} failed{tries}: "
            f"{failed.reason}"
        )
        if "CERTIFICATE" in failed.reason or "SSL" in failed.reason:
            message += f"; {TLS_HINT}"
        return MqttError(message, self.pipeline, self.broker, self.topic, attempts)

    # -- display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username is not None else ""
        return (
            f"MqttSender({self.broker!r}, topic={self.topic!r}, qos={self.qos}{user}, "
            f"pipeline={self.pipeline!r})"
        )


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"cannot connect ({type(error).__name__}: {text})"
