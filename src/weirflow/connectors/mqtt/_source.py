"""The MQTT subscribing connector of the service layer.

:class:`MqttSource` is a continuous source: it subscribes to topics on a broker and yields each
message's decoded payload until it is closed (``with_mqtt_connector``). With QoS 1 and a fixed
``client_id`` it delivers *at least once*: it yields :class:`~weirflow.Delivery` objects and
acknowledges a message to the broker only when the flow has stored and sent what came of it;
the broker keeps the session, so a message not acknowledged when the process dies is delivered
again on the next connection. The connection options (:class:`~._options.MqttOptions`), the
client and its network thread (``_client.py``) are shared with :class:`~._sender.MqttSender`;
the buffer, the decoding, the acknowledgements and dead letters, and the connection's health
(outages, takeovers) have modules of their own in this package.

Clients speak MQTT 5 through paho-mqtt 2. paho's network thread is started from a weirflow
thread, so it inherits a signal mask that leaves SIGINT and SIGTERM to the main thread
(:mod:`weirflow._threads`), and ``close()`` always stops and joins it. Options are checked when
the object is made: mistakes surface at build time as :class:`~weirflow.ConfigError` naming the
pipeline and the field. Passwords never appear in a repr, an error or a log line; paho's own
logging is not enabled.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ..._checks import Where, check_flag, is_whole
from ..._errors import InvalidArgumentError, MqttError
from ..._interfaces import Source
from ._acks import Acknowledgements, at_least_once_mode
from ._buffer import END, Buffer
from ._client import (  # first: without paho-mqtt it says which extra to install
    PacketTypes,
    Properties,
    ReasonCode,
    connect_failure,
    is_certificate_error,
    mqtt,
    new_client,
    refusal_hint,
    start_network,
    stop_network,
)
from ._decode import check_decode, decoded, topic_of
from ._health import Health
from ._options import (
    NEVER_EXPIRES,
    TLS_HINT,
    MqttOptions,
    UsesBroker,
    check_client_id,
    check_qos,
    check_topic,
    forwarded,
)

__all__ = ["MqttSource"]

logger = logging.getLogger("weirflow.mqtt")


class MqttSource(UsesBroker, Source):
    """Subscribes to MQTT topics and yields each message's payload until closed.

    ``read`` connects (if :meth:`start` has not), subscribes, and yields the decoded payloads:
    parsed JSON (``decode="json"``), ``str`` (``"text"``) or ``bytes``. A payload that does not
    decode is never fatal: it goes to ``dead_letter(record)`` if given (``record``: ``topic``,
    ``payload`` as text, or base64 when it is not UTF-8, ``encoding`` saying which, ``error``,
    ``pipeline``), otherwise it is logged at WARNING and counted in
    ``statistics()["bad_payloads"]``. ``dead_letter`` runs on the network thread: keep it quick.

    With ``with_topic=True`` each item is ``{"topic": ..., "payload": ...}`` (the topic the
    message came on and its decoded payload), so that one subscription to ``sensors/#`` tells
    which sensor spoke; at-least-once deliveries carry that dict too.

    When the broker goes away the source reconnects with exponential backoff
    (``reconnect_min_delay`` doubling up to ``reconnect_max_delay``) and subscribes again on
    every connection; it keeps running. Each outage is logged once, with its reason (connection
    refused, DNS, timeout, refused credentials...), and "connected again" when it ends. Two
    failures are permanent, because trying again cannot help: the broker's TLS certificate does
    not verify, and another client connected with the same ``client_id`` (the broker
    disconnects the older one; both would take turns for ever). Then ``read`` raises
    :class:`MqttError` saying why (its pipeline fails, or restarts by its policy).

    **At least once.** With ``qos=1`` and a fixed ``client_id``, ``at_least_once`` (on by
    default then) makes ``read`` yield :class:`~weirflow.Delivery` objects whose ``ack()``
    acknowledges the message to the broker; the flow calls it once the item is stored and sent.
    The session is persistent (``clean_start=False``, kept by the broker for ``session_expiry``
    seconds, by default for ever), so a message not acknowledged when the process dies or the
    connection drops is delivered again on the next connection: duplicates are possible, losses
    are not. A bad payload is acknowledged once recorded (it would never decode). QoS 2 cannot
    give this guarantee with paho (it confirms receipt before handing the message over), so
    ``at_least_once=True`` asks for ``qos=1``. When a ``read`` ends without :meth:`close` (its
    pipeline run failed), the connection is restarted so that the broker sends the
    unacknowledged messages again.

    **Backpressure.** Messages wait in a buffer of ``maxsize`` items (0: unbounded) between
    paho's network thread and ``read``. In at-least-once mode the broker is told to keep at most
    ``maxsize`` unacknowledged messages in flight (MQTT 5 *Receive Maximum*), so it stops
    sending while the pipeline is behind and the buffer cannot overflow. Otherwise a full buffer
    makes the network thread wait for room: TCP flow control then holds the broker back (it
    queues or drops QoS 0 messages by its own limits), and a wait longer than 1.5 times
    ``keepalive`` may cost the connection, which is then made again.

    :meth:`close` makes ``read`` return at once (messages still buffered are dropped; unless
    they were acknowledged the broker keeps them) and stops the network thread within about a
    second.

    Args:
        source: the broker's host name or address.
        port: the broker's port (MQTT over TLS is usually 8883).
        topic: a topic filter (``"sensors/+/temperature"``, ``"alerts/#"``) or a list of them.
        qos: the subscription's QoS, 0, 1 or 2.
        username, password: credentials (the password never shows in a repr, error or log).
        tls: None/False, True (the system's CAs) or a dict with ``ca_certs``, ``certfile``,
            ``keyfile``, ``insecure``; see :func:`~weirflow.connectors.mqtt.tls_context`.
        client_id: the MQTT client id; needed for a persistent session.
        clean_start: start a fresh session on connecting; by default True unless at least once.
        keepalive: seconds between the client's pings when idle.
        decode: ``"json"``, ``"text"`` or ``"bytes"``.
        with_topic: yield ``{"topic": topic, "payload": payload}`` instead of the payload.
        at_least_once: see above; None means "when ``qos == 1`` and a ``client_id`` is given".
        dead_letter: called with a record of each payload that does not decode.
        reconnect_min_delay, reconnect_max_delay: the reconnection backoff, in seconds.
        session_expiry: seconds the broker keeps a persistent session while disconnected
            (None: for ever).
        maxsize: how many messages may wait between the network and ``read``.
        pipeline: the pipeline's name, shown in errors and log lines.

    Raises:
        ConfigError: a bad option, at construction.

    Example:
        >>> from weirflow import ConfigError
        >>> source = MqttSource(
        ...     "localhost", topic="plant/+/temperature", client_id="plant-reader", pipeline="plant"
        ... )
        >>> source.at_least_once, source.clean_start
        (True, False)
        >>> "s3cret" in repr(MqttSource(username="bob", password="s3cret"))
        False
        >>> try:
        ...     MqttSource(topic="plant/#", qos=3, pipeline="plant")
        ... except ConfigError as error:
        ...     print(error)
        pipeline 'plant': MqttSource(qos=...): give 0, 1 or 2, got 3

        With a broker at hand (:meth:`start` connects without reading)::

            source.start()
            source.wait_subscribed(5)
            for delivery in source.read({}):
                print(delivery.value)
                delivery.ack()  # the flow does this once the item is stored and sent
    """

    continuous = True

    def __init__(
        self,
        source: str = "localhost",
        *,
        port: int = 1883,
        topic: str | list[str] = "#",
        qos: int = 1,
        username: str | None = None,
        password: str | None = None,
        tls: bool | Mapping[str, Any] | None = None,
        client_id: str | None = None,
        clean_start: bool | None = None,
        keepalive: int = 60,
        decode: str = "json",
        with_topic: bool = False,
        at_least_once: bool | None = None,
        dead_letter: Callable[[dict[str, Any]], None] | None = None,
        reconnect_min_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        session_expiry: int | None = None,
        maxsize: int = 1000,
        pipeline: str = "?",
    ) -> None:
        self._arguments = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        where = Where(pipeline, "MqttSource({name}=...)")
        topics = [topic] if isinstance(topic, str) else topic
        if not isinstance(topics, list | tuple) or not topics:
            raise InvalidArgumentError(
                f"{where.field('topic')}: give a topic filter or a non-empty list of them, "
                f"got {topic!r}"
            )
        self.topics = [check_topic(t, where, "topic", wildcards=True) for t in topics]
        self.decode = check_decode(decode, where)
        self.with_topic = check_flag(with_topic, where, "with_topic")
        for name, value in (("at_least_once", at_least_once), ("clean_start", clean_start)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgumentError(
                    f"{where.field(name)}: give True, False or None, got {value!r}"
                )
        self.at_least_once = at_least_once_mode(
            at_least_once,
            check_qos(qos, where),
            check_client_id(client_id, where),
            clean_start,
            where,
        )
        self.options = MqttOptions.given(
            self._arguments,
            where,
            "source",
            clean_start=(not self.at_least_once) if clean_start is None else clean_start,
        )
        if dead_letter is not None and not callable(dead_letter):
            raise InvalidArgumentError(
                f"{where.field('dead_letter')}: give a function taking a dict, or None, "
                f"got {type(dead_letter).__name__}"
            )
        self.dead_letter = dead_letter
        if session_expiry is not None and (
            not is_whole(session_expiry) or not 0 <= session_expiry < NEVER_EXPIRES
        ):
            raise InvalidArgumentError(
                f"{where.field('session_expiry')}: give a whole number of seconds >= 0, or None "
                f"(for ever), got {session_expiry!r}"
            )
        self.session_expiry = session_expiry
        if not is_whole(maxsize) or maxsize < 0:
            raise InvalidArgumentError(
                f"{where.field('maxsize')}: give a whole number >= 0 (0: unbounded), "
                f"got {maxsize!r}"
            )
        self.maxsize = maxsize
        self.pipeline = pipeline
        self._where = f"pipeline {pipeline!r}: {self.broker}"
        self._acks = Acknowledgements(
            self._where, pipeline, self.decode, dead_letter, manual=self.at_least_once
        )
        self._lock = threading.Lock()
        self._buffer = Buffer(maxsize)
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._subscribe_mid: int | None = None
        self._subscribed = threading.Event()
        self._closed = False
        self._reading = False
        self._health = Health(self._where)
        self._failure: MqttError | None = None  # a permanent failure read() raises
        self._counts = dict.fromkeys(("received", "connections"), 0)

    # -- the Source interface -----------------------------------------------------------------

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        """Yield payloads (or :class:`~weirflow.Delivery` objects) until :meth:`close`."""
        with self._lock:
            if self._reading:
                raise RuntimeError(f"{self._where}: this source is being read already")
            if self._closed:
                return
            self._reading = True
        try:
            if not self._open():
                return  # closed meanwhile
            while True:
                item = self._buffer.get()
                if item is END:
                    if self._failure is not None:
                        raise self._failure
                    return
                yield item
        finally:
            with self._lock:
                self._reading = False
                restart = self.at_least_once and not self._closed
            if restart:  # the run ended early: have the broker resend what was not acknowledged
                self._stop_client()
                logger.info(
                    "%s: reading stopped before close(); the next read reconnects and gets the "
                    "messages not acknowledged",
                    self._where,
                )

    def interrupt_read(self) -> None:
        """Make a ``read`` in progress return without closing the source (a pipeline restart).

        The connection is dropped: the next ``read`` connects again, and the broker sends the
        messages that were not acknowledged once more.
        """
        with self._lock:
            reading = self._reading and not self._closed
        if reading:
            self._stop_client()

    def close(self) -> None:
        """Make ``read`` return, disconnect and stop the network thread (idempotent)."""
        with self._lock:
            self._closed = True
        self._stop_client()

    # -- control and inspection ---------------------------------------------------------------

    def start(self) -> None:
        """Connect and subscribe in the background now (``read`` does it when first called).

        Messages that arrive before ``read`` wait in the buffer.

        Raises:
            RuntimeError: the source is closed.
        """
        if not self._open():
            raise RuntimeError(f"{self._where}: the source is closed")

    def _open(self) -> bool:
        """Make the client and start its network thread unless done already; False if closed."""
        with self._lock:
            if self._closed:
                return False
            if self._client is None:
                client = self._new_client()
                self._client = client
                self._failure = None
                self._health.starting()
                self._buffer.reopen()
                self._thread = start_network(client, f"weirflow mqtt {self.pipeline}")
            return True

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Wait until the broker confirmed the subscription on the current connection.

        Returns False if that did not happen within ``timeout`` seconds.
        """
        return self._subscribed.wait(timeout)

    clean_start = forwarded("clean_start", "Whether a connection starts a fresh session.")
    reconnect_min_delay = forwarded("reconnect_min_delay", "The first wait to reconnect.")
    reconnect_max_delay = forwarded("reconnect_max_delay", "The longest wait to reconnect.")

    @property
    def connected(self) -> bool:
        """Whether the source is connected to the broker right now."""
        client = self._client
        return client is not None and client.is_connected()

    def statistics(self) -> dict[str, Any]:
        """A snapshot: messages ``received``, ``bad_payloads``, ``dead_lettered``, ``acked``,
        ``connections`` made, messages ``buffered``, and whether it is ``connected``."""
        with self._lock:
            counts: dict[str, Any] = dict(self._counts)
        counts.update(self._acks.counts())
        counts["buffered"] = len(self._buffer)
        counts["connected"] = self.connected
        return counts

    # -- the client ---------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = new_client(self.options, manual_ack=self.at_least_once)
        # paho takes float seconds here although its hints say int
        options = self.options
        client.reconnect_delay_set(options.reconnect_min_delay, options.reconnect_max_delay)  # type: ignore[arg-type]
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        if not self.clean_start:
            expiry = NEVER_EXPIRES if self.session_expiry is None else self.session_expiry
            properties.SessionExpiryInterval = expiry
        if self.at_least_once and self.maxsize:
            properties.ReceiveMaximum = min(self.maxsize, 65535)
        client.connect_async(
            self.host,
            self.port,
            self.keepalive,
            clean_start=self.clean_start,
            properties=properties,
        )
        return client

    def _stop_client(self) -> None:
        with self._lock:
            client, thread = self._client, self._thread
            self._client = self._thread = None
            self._acks.renew(None)  # acknowledgements of earlier deliveries are void now
            self._subscribed.clear()
        self._buffer.shut()  # also frees the network thread if it waits for room
        if client is not None:
            stop_network(client, thread)

    # -- paho callbacks (network thread) ------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is not self._client:
            return
        if reason_code.is_failure:
            self._health.outage(
                logging.ERROR,
                "%s: the broker refused the connection (%s%s); retrying every %.1f to %.1fs",
                self._where,
                reason_code,
                refusal_hint(reason_code, self.username),
                self.reconnect_min_delay,
                self.reconnect_max_delay,
            )
            return
        with self._lock:
            self._acks.renew(client)
            self._counts["connections"] += 1
        self._health.connected()
        if not self.clean_start and not flags.session_present:
            logger.info(
                "%s: the broker had no session for %r; a new one starts",
                self._where,
                self.client_id,
            )
        _result, mid = client.subscribe([(topic, self.qos) for topic in self.topics])
        self._subscribe_mid = mid

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if client is not self._client:
            return
        self._health.attempt_failed()
        error = getattr(client, "connect_error", None)
        reason = connect_failure(error, self.broker)
        if is_certificate_error(error):  # trying again cannot help
            self._fail(client, f"cannot connect: {reason}; {TLS_HINT}", error)
            return
        self._health.outage(
            logging.WARNING,
            "%s: cannot connect: %s; retrying every %.1f to %.1fs",
            self._where,
            reason,
            self.reconnect_min_delay,
            self.reconnect_max_delay,
        )
        if error is not None:
            logger.debug("%s: the connection attempt failed", self._where, exc_info=error)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if client is not self._client:
            return  # closed or replaced: nothing to report
        self._subscribed.clear()
        if not self._health.lost():  # no CONNACK on this connection: it was never made
            if reason_code.value != 128:  # "Unspecified error": the socket closed
                return  # a refused CONNACK, logged by _on_connect
            self._health.outage(
                logging.WARNING,
                "%s: cannot connect: the broker closed the connection before answering%s; "
                "retrying every %.1f to %.1fs",
                self._where,
                " (it may require a client certificate: tls certfile and keyfile)"
                if self._tls is not None
                else "",
                self.reconnect_min_delay,
                self.reconnect_max_delay,
            )
            return
        taken = self._health.takeover(reason_code, self.client_id)
        if taken is not None:
            self._fail(client, taken, None)
            return
        self._health.outage(
            logging.WARNING, "%s: lost the connection (%s); reconnecting", self._where, reason_code
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        if client is not self._client or mid != self._subscribe_mid:
            return
        refused = [
            f"{topic!r} ({code})"
            for topic, code in zip(self.topics, reason_codes)
            if code.is_failure
        ]
        if refused:
            logger.error(
                "%s: the broker refused the subscription to %s", self._where, ", ".join(refused)
            )
        if len(refused) < len(self.topics):
            self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if client is not self._client:
            return
        generation = self._acks.generation
        with self._lock:
            self._counts["received"] += 1
        try:
            value = decoded(message.payload, self.decode)
        except (ValueError, RecursionError) as error:
            self._acks.bad_payload(client, message, error, generation)
            return
        item: Any = {"topic": topic_of(message), "payload": value} if self.with_topic else value
        self._buffer.put(self._acks.delivery(client, message, item, generation))

    # -- helpers ------------------------------------------------------------------------------

    def _fail(self, client: mqtt.Client, reason: str, error: BaseException | None) -> None:
        """A permanent failure (network thread): stop connecting; ``read`` raises it."""
        failure = MqttError(f"{self._where}: {reason}", self.pipeline, self.broker)
        if error is not None:
            failure.__cause__ = error
        with self._lock:
            if client is not self._client or self._failure is not None:
                return
            self._failure = failure
        logger.error("%s", failure.message)
        client.disconnect()  # the network loop ends instead of reconnecting
        self._buffer.shut()

    # -- display ------------------------------------------------------------------------------

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username is not None else ""
        return (
            f"MqttSource({self.broker!r}, topic={self.topics!r}, qos={self.qos}, "
            f"client_id={self.client_id!r}{user}, at_least_once={self.at_least_once}, "
            f"pipeline={self.pipeline!r})"
        )
