"""MQTT for the service layer: the subscribing connector and what the MQTT sender shares.

:class:`MqttSource` is a continuous source: it subscribes to topics on a broker and yields each
message's decoded payload until it is closed (``with_mqtt_connector``). With QoS 1 and a fixed
``client_id`` it delivers *at least once*: it yields :class:`~weirflow.Delivery` objects and
acknowledges a message to the broker only when the flow has stored and sent what came of it;
the broker keeps the session, so a message not acknowledged when the process dies is delivered
again on the next connection. The helpers below (validation, TLS, the client and its network
thread) are shared with :class:`weirflow.senders.mqtt.MqttSender`.

Clients speak MQTT 5 through paho-mqtt 2. paho's network thread is started from a weirflow
thread, so it inherits a signal mask that leaves SIGINT and SIGTERM to the main thread
(:mod:`weirflow._threads`), and ``close()`` always stops and joins it. Options are checked when
the object is made: mistakes surface at build time as :class:`~weirflow.ConfigError` naming the
pipeline and the field. Passwords never appear in a repr, an error or a log line; paho's own
logging is not enabled.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .._errors import InvalidArgumentError, WeirflowError
from .._interfaces import Delivery, Source
from .._threads import start_thread

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode
except ImportError as error:  # pragma: no cover - depends on the installation
    raise ImportError(
        "weirflow's MQTT connector and sender need paho-mqtt 2: pip install 'weirflow[mqtt]'"
    ) from error

__all__ = ["DECODES", "MqttError", "MqttSource"]

logger = logging.getLogger("weirflow.mqtt")

DECODES = ("json", "text", "bytes")
TLS_KEYS = ("ca_certs", "certfile", "keyfile", "insecure")
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 Session Expiry Interval meaning "keep the session forever"
_END = object()  # what the buffer hands out once reading must stop


class MqttError(WeirflowError):
    """An MQTT operation failed for good (after its retries, or at once when retrying is useless).

    The paho or socket exception, when there is one, is the ``__cause__``.

    Attributes:
        pipeline: the pipeline that talked to the broker.
        broker: ``mqtt://host:port`` (``mqtts://`` with TLS); never a password.
        topic: the topic published to, or ``None``.
        attempts: how many times the operation was tried.
    """

    def __init__(
        self, message: str, pipeline: str, broker: str, topic: str | None = None, attempts: int = 1
    ) -> None:
        super().__init__(message)
        self.message = message
        self.pipeline = pipeline
        self.broker = broker
        self.topic = topic
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.message, self.pipeline, self.broker, self.topic, self.attempts),
        )


# -- checks shared with the sender --------------------------------------------------------------


class Where:
    """Where options were given, for messages: ``pipeline 'p': MqttSource(qos=...)``."""

    def __init__(self, pipeline: str, template: str) -> None:
        self.pipeline = pipeline
        self.template = template

    def __str__(self) -> str:
        return f"pipeline {self.pipeline!r}"

    def field(self, name: str) -> str:
        return f"pipeline {self.pipeline!r}: {self.template.format(name=name)}"


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_host(host: Any, where: Where, field: str) -> str:
    """``host`` if it is a host name or address (not a URL), else :class:`InvalidArgumentError`."""
    if not isinstance(host, str) or not host.strip():
        raise InvalidArgumentError(
            f"{where.field(field)}: give the broker's host name or address, e.g. 'localhost', "
            f"got {host!r}"
        )
    if "://" in host or "/" in host or "@" in host:
        raise InvalidArgumentError(
            f"{where.field(field)}: give only the broker's host name (e.g. 'broker.example.com')"
            "; the port, credentials and TLS are options of their own (port=..., username=..., "
            "password=..., tls=...)"
        )
    return host


def check_port(port: Any, where: Where) -> int:
    if not _whole(port) or not 1 <= port <= 65535:
        raise InvalidArgumentError(
            f"{where.field('port')}: give a port number from 1 to 65535, got {port!r}"
        )
    return int(port)


def check_qos(qos: Any, where: Where) -> int:
    if not _whole(qos) or qos not in (0, 1, 2):
        raise InvalidArgumentError(f"{where.field('qos')}: give 0, 1 or 2, got {qos!r}")
    return int(qos)


def check_topic(topic: Any, where: Where, field: str, *, wildcards: bool) -> str:
    """A valid topic name (``wildcards=False``, for publishing) or filter (for subscribing)."""
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentError(
            f"{where.field(field)}: give a non-empty topic string, e.g. 'sensors/+/temperature'"
            f", got {topic!r}"
        )
    if "\0" in topic or len(topic.encode()) > 65535:
        raise InvalidArgumentError(
            f"{where.field(field)}: {topic!r} is not a valid MQTT topic (a NUL character, or "
            "longer than 65535 bytes)"
        )
    levels = topic.split("/")
    if not wildcards:
        if "+" in topic or "#" in topic:
            raise InvalidArgumentError(
                f"{where.field(field)}: messages are published to one topic; {topic!r} holds "
                "the wildcard '+' or '#', which only subscriptions may use"
            )
        return topic
    for position, level in enumerate(levels):
        if ("#" in level and (level != "#" or position != len(levels) - 1)) or (
            "+" in level and level != "+"
        ):
            raise InvalidArgumentError(
                f"{where.field(field)}: {topic!r} is not a valid topic filter: '+' must be a "
                "whole level ('a/+/c') and '#' the whole last level ('a/#')"
            )
    return topic


def check_credentials(username: Any, password: Any, where: Where) -> None:
    if username is not None and not isinstance(username, str):
        raise InvalidArgumentError(
            f"{where.field('username')}: give a string or None, got {type(username).__name__}"
        )
    if password is not None and not isinstance(password, str):
        raise InvalidArgumentError(
            f"{where.field('password')}: give a string or None, got {type(password).__name__}"
        )
    if password is not None and username is None:
        raise InvalidArgumentError(
            f"{where.field('password')}: a password needs a username; add username=..."
        )


def check_client_id(client_id: Any, where: Where) -> str | None:
    if client_id is not None and (not isinstance(client_id, str) or not client_id):
        raise InvalidArgumentError(
            f"{where.field('client_id')}: give a non-empty string or None, got {client_id!r}"
        )
    return client_id


def check_seconds(value: Any, where: Where, field: str, *, zero: bool = False) -> float:
    if not _number(value) or not (value >= 0 if zero else value > 0):
        bound = ">= 0" if zero else "> 0"
        raise InvalidArgumentError(
            f"{where.field(field)}: give a number of seconds {bound}, got {value!r}"
        )
    return float(value)


def check_keepalive(keepalive: Any, where: Where) -> int:
    if not _whole(keepalive) or not 0 < keepalive <= 65535:
        raise InvalidArgumentError(
            f"{where.field('keepalive')}: give a whole number of seconds from 1 to 65535, "
            f"got {keepalive!r}"
        )
    return int(keepalive)


class _ClosingSocket(ssl.SSLSocket):
    """An SSL socket that closes itself when its handshake fails.

    paho makes the socket and does the handshake, and drops the socket without closing it when
    the handshake fails (a certificate that does not verify): each attempt would leave an open
    file descriptor for the garbage collector, and a ResourceWarning.
    """

    def do_handshake(self, block: bool = False) -> None:
        try:
            super().do_handshake(block)
        except BaseException:
            self.close()
            raise


def tls_context(tls: Any, where: Where) -> tuple[ssl.SSLContext | None, bool]:
    """The TLS context for ``tls=...`` and whether the host name goes unchecked; files read now.

    ``tls`` is None or False (no TLS), True (TLS, the server checked against the system's
    trusted CAs), or a dict with ``ca_certs`` (a CA bundle file or directory), ``certfile`` and
    ``keyfile`` (a client certificate and its key) and ``insecure`` (True: do not check that the
    certificate names the host; the certificate itself is still verified). The context is what
    paho's ``tls_set`` would make from the same files: TLS 1.2 or newer, certificates required.
    """
    if tls is None or tls is False:
        return None, False
    if tls is True:
        context = ssl.create_default_context()
        context.sslsocket_class = _ClosingSocket
        return context, False
    if not isinstance(tls, Mapping):
        raise InvalidArgumentError(
            f"{where.field('tls')}: give True, False, None or a dict with "
            f"{', '.join(TLS_KEYS)}, got {type(tls).__name__}"
        )
    unknown = sorted(str(key) for key in set(tls) - set(TLS_KEYS))
    if unknown:
        raise InvalidArgumentError(
            f"{where.field('tls')}: unknown key(s) {', '.join(unknown)}; the keys are "
            f"{', '.join(TLS_KEYS)}"
        )
    paths: dict[str, str | None] = {}
    for key in ("ca_certs", "certfile", "keyfile"):
        value = tls.get(key)
        if value is not None and not isinstance(value, str | os.PathLike):
            raise InvalidArgumentError(
                f"{where.field('tls')}: tls[{key!r}] must be a file path, "
                f"got {type(value).__name__}"
            )
        paths[key] = None if value is None else os.fspath(value)
    insecure = tls.get("insecure", False)
    if not isinstance(insecure, bool):
        raise InvalidArgumentError(
            f"{where.field('tls')}: tls['insecure'] must be True or False, got {insecure!r}"
        )
    ca_certs, certfile, keyfile = paths["ca_certs"], paths["certfile"], paths["keyfile"]
    try:
        if ca_certs is None:
            context = ssl.create_default_context()
        elif os.path.isdir(ca_certs):
            context = ssl.create_default_context(capath=ca_certs)
        else:
            context = ssl.create_default_context(cafile=ca_certs)
    except (OSError, ssl.SSLError) as error:
        raise InvalidArgumentError(
            f"{where.field('tls')}: cannot load the CA certificates tls['ca_certs']="
            f"{ca_certs!r} ({error}); give the path of a PEM file or directory"
        ) from None
    if keyfile is not None and certfile is None:
        raise InvalidArgumentError(
            f"{where.field('tls')}: tls['keyfile'] needs tls['certfile'] (the client certificate)"
        )
    if certfile is not None:
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as error:
            raise InvalidArgumentError(
                f"{where.field('tls')}: cannot load the client certificate tls['certfile']="
                f"{certfile!r} with tls['keyfile']={keyfile!r} ({error})"
            ) from None
    if insecure:
        context.check_hostname = False
    context.sslsocket_class = _ClosingSocket
    return context, insecure


def broker_url(host: str, port: int, tls: bool) -> str:
    """How errors and logs name a broker: ``mqtt://host:port`` (``mqtts://`` with TLS)."""
    shown = f"[{host}]" if ":" in host else host
    return f"{'mqtts' if tls else 'mqtt'}://{shown}:{port}"


# -- clients and their network thread -----------------------------------------------------------


def new_client(
    client_id: str | None,
    *,
    username: str | None,
    password: str | None,
    context: ssl.SSLContext | None,
    insecure: bool,
    manual_ack: bool = False,
    reconnect_on_failure: bool = True,
) -> mqtt.Client:
    """An MQTT 5 paho client with the callbacks of API version 2, credentials and TLS set."""
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id or "",  # "": the broker assigns one
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=reconnect_on_failure,
        manual_ack=manual_ack,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if context is not None:
        client.tls_set_context(context)
        client.tls_insecure_set(insecure)
    return client


def start_network(client: mqtt.Client, name: str) -> threading.Thread | None:
    """Run paho's network loop (``loop_start``) in a thread deaf to SIGINT and SIGTERM.

    A thread inherits the signal mask of the thread that makes it, so paho's thread is made
    from a weirflow thread (which blocks both signals): a signal always reaches the main thread.
    The thread is returned so that :func:`stop_network` can join it even after paho forgot it
    (paho drops its reference as its loop ends).
    """
    started: list[threading.Thread | None] = []
    failed: list[BaseException] = []

    def begin() -> None:
        try:
            client.loop_start()
            started.append(client._thread)
        except BaseException as error:  # handed to the caller below
            failed.append(error)

    start_thread(begin, name=f"{name} (starting)").join()
    if failed:
        raise failed[0]
    thread = started[0] if started else None
    if thread is not None:
        thread.name = name
    return thread


def stop_network(client: mqtt.Client, thread: threading.Thread | None) -> None:
    """Disconnect and stop paho's network thread; returns once it has ended.

    ``disconnect`` wakes the loop (or ends a wait before reconnecting, within a second) and
    ``loop_stop`` makes sure the loop ends even if a connection attempt was under way.
    """
    client.disconnect()
    client.loop_stop()
    if thread is not None and thread is not threading.current_thread():
        thread.join()


# -- the source ---------------------------------------------------------------------------------


class _Buffer:
    """A bounded FIFO between paho's network thread and the reader; ``shut`` wakes both sides."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[Any] = deque()
        self._maxsize = maxsize
        lock = threading.Lock()
        self._not_empty = threading.Condition(lock)
        self._not_full = threading.Condition(lock)
        self._open = True

    def put(self, item: Any) -> bool:
        """Add ``item``, waiting while the buffer is full; False if it was shut meanwhile."""
        with self._not_full:
            while self._open and self._maxsize and len(self._items) >= self._maxsize:
                self._not_full.wait()
            if not self._open:
                return False
            self._items.append(item)
            self._not_empty.notify()
            return True

    def get(self) -> Any:
        """The oldest item, waiting for one; ``_END`` once the buffer is shut."""
        with self._not_empty:
            while self._open and not self._items:
                self._not_empty.wait()
            if not self._open:
                return _END
            item = self._items.popleft()
            self._not_full.notify()
            return item

    def shut(self) -> None:
        """Drop what is held and wake everyone: ``get`` answers ``_END``, ``put`` False."""
        with self._not_empty:
            self._open = False
            self._items.clear()
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def reopen(self) -> None:
        with self._not_empty:
            self._open = True

    def __len__(self) -> int:
        with self._not_empty:
            return len(self._items)


class MqttSource(Source):
    """Subscribes to MQTT topics and yields each message's payload until closed.

    ``read`` connects (if :meth:`start` has not), subscribes, and yields the decoded payloads:
    parsed JSON (``decode="json"``), ``str`` (``"text"``) or ``bytes``. A payload that does not
    decode is never fatal: it goes to ``dead_letter(record)`` if given (``record``: ``topic``,
    ``payload`` as text, or base64 when it is not UTF-8, ``encoding`` saying which, ``error``,
    ``pipeline``), otherwise it is logged at WARNING and counted in
    ``statistics()["bad_payloads"]``. ``dead_letter`` runs on the network thread: keep it quick.

    When the broker goes away the source reconnects with exponential backoff
    (``reconnect_min_delay`` doubling up to ``reconnect_max_delay``) and subscribes again on
    every connection; it keeps running.

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
            ``keyfile``, ``insecure``; see :func:`tls_context`.
        client_id: the MQTT client id; needed for a persistent session.
        clean_start: start a fresh session on connecting; by default True unless at least once.
        keepalive: seconds between the client's pings when idle.
        decode: ``"json"``, ``"text"`` or ``"bytes"``.
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
        self.host = check_host(source, where, "source")
        self.port = check_port(port, where)
        topics = [topic] if isinstance(topic, str) else topic
        if not isinstance(topics, list | tuple) or not topics:
            raise InvalidArgumentError(
                f"{where.field('topic')}: give a topic filter or a non-empty list of them, "
                f"got {topic!r}"
            )
        self.topics = [check_topic(t, where, "topic", wildcards=True) for t in topics]
        self.qos = check_qos(qos, where)
        check_credentials(username, password, where)
        self.username = username
        self._password = password
        self._tls, self._insecure = tls_context(tls, where)
        self.client_id = check_client_id(client_id, where)
        self.keepalive = check_keepalive(keepalive, where)
        if decode not in DECODES:
            raise InvalidArgumentError(
                f"{where.field('decode')}: give one of {', '.join(DECODES)}, got {decode!r}"
            )
        self.decode = decode
        for name, value in (("at_least_once", at_least_once), ("clean_start", clean_start)):
            if value is not None and not isinstance(value, bool):
                raise InvalidArgumentError(
                    f"{where.field(name)}: give True, False or None, got {value!r}"
                )
        if at_least_once is None:
            at_least_once = self.qos == 1 and self.client_id is not None and not clean_start
        elif at_least_once:
            if self.qos != 1:
                raise InvalidArgumentError(
                    f"{where.field('at_least_once')}: at-least-once delivery needs qos=1 (got "
                    f"qos={self.qos}): with QoS 0 the broker never redelivers, and with QoS 2 "
                    "the client confirms receipt before the message is handed over"
                )
            if self.client_id is None:
                raise InvalidArgumentError(
                    f"{where.field('client_id')}: at-least-once delivery needs a fixed "
                    "client_id, so that the broker keeps the session (and the messages not yet "
                    "acknowledged) for the next connection; add client_id='my-service'"
                )
            if clean_start:
                raise InvalidArgumentError(
                    f"{where.field('clean_start')}: clean_start=True discards the messages not "
                    "yet acknowledged on every connection, which at-least-once delivery relies "
                    "on; leave clean_start unset"
                )
        self.at_least_once = at_least_once
        self.clean_start = (not at_least_once) if clean_start is None else clean_start
        if self.client_id is None and not self.clean_start:
            raise InvalidArgumentError(
                f"{where.field('clean_start')}: a persistent session (clean_start=False) needs "
                "a fixed client_id"
            )
        if dead_letter is not None and not callable(dead_letter):
            raise InvalidArgumentError(
                f"{where.field('dead_letter')}: give a function taking a dict, or None, "
                f"got {type(dead_letter).__name__}"
            )
        self.dead_letter = dead_letter
        self.reconnect_min_delay = check_seconds(reconnect_min_delay, where, "reconnect_min_delay")
        self.reconnect_max_delay = check_seconds(reconnect_max_delay, where, "reconnect_max_delay")
        if self.reconnect_max_delay < self.reconnect_min_delay:
            raise InvalidArgumentError(
                f"{where.field('reconnect_max_delay')}: must be >= reconnect_min_delay "
                f"({self.reconnect_min_delay}), got {self.reconnect_max_delay}"
            )
        if session_expiry is not None and (
            not _whole(session_expiry) or not 0 <= session_expiry < NEVER_EXPIRES
        ):
            raise InvalidArgumentError(
                f"{where.field('session_expiry')}: give a whole number of seconds >= 0, or None "
                f"(for ever), got {session_expiry!r}"
            )
        self.session_expiry = session_expiry
        if not _whole(maxsize) or maxsize < 0:
            raise InvalidArgumentError(
                f"{where.field('maxsize')}: give a whole number >= 0 (0: unbounded), "
                f"got {maxsize!r}"
            )
        self.maxsize = maxsize
        self.pipeline = pipeline
        self.broker = broker_url(self.host, self.port, self._tls is not None)
        self._where = f"pipeline {pipeline!r}: {self.broker}"
        self._lock = threading.Lock()
        self._buffer = _Buffer(maxsize)
        self._client: mqtt.Client | None = None
        self._thread: threading.Thread | None = None
        self._generation = 0  # which connection deliveries belong to (see _ack)
        self._subscribe_mid: int | None = None
        self._subscribed = threading.Event()
        self._closed = False
        self._reading = False
        self._outage = False  # a connection problem was logged and not yet resolved
        self._counts = dict.fromkeys(
            ("received", "bad_payloads", "dead_lettered", "acked", "connections"), 0
        )

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
                if item is _END:
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
                self._buffer.reopen()
                self._thread = start_network(client, f"weirflow mqtt {self.pipeline}")
            return True

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Wait until the broker confirmed the subscription on the current connection.

        Returns False if that did not happen within ``timeout`` seconds.
        """
        return self._subscribed.wait(timeout)

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
        counts["buffered"] = len(self._buffer)
        counts["connected"] = self.connected
        return counts

    # -- the client ---------------------------------------------------------------------------

    def _new_client(self) -> mqtt.Client:
        client = new_client(
            self.client_id,
            username=self.username,
            password=self._password,
            context=self._tls,
            insecure=self._insecure,
            manual_ack=self.at_least_once,
        )
        # paho takes float seconds here although its hints say int
        client.reconnect_delay_set(self.reconnect_min_delay, self.reconnect_max_delay)  # type: ignore[arg-type]
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
            self._generation += 1  # acknowledgements of earlier deliveries are void now
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
            self._log_outage(
                logging.ERROR,
                "%s: the broker refused the connection (%s); retrying",
                self._where,
                reason_code,
            )
            return
        with self._lock:
            self._generation += 1
            self._counts["connections"] += 1
            outage, self._outage = self._outage, False
        if outage:
            logger.warning("%s: connected again", self._where)
        else:
            logger.info("%s: connected", self._where)
        if not self.clean_start and not flags.session_present:
            logger.info(
                "%s: the broker had no session for %r; a new one starts",
                self._where,
                self.client_id,
            )
        _result, mid = client.subscribe([(topic, self.qos) for topic in self.topics])
        self._subscribe_mid = mid

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        if client is self._client:
            self._log_outage(
                logging.WARNING,
                "%s: cannot connect; retrying every %.1f to %.1fs",
                self._where,
                self.reconnect_min_delay,
                self.reconnect_max_delay,
            )

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
        self._log_outage(
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
        generation = self._generation
        with self._lock:
            self._counts["received"] += 1
        try:
            value = self._decoded(message.payload)
        except (ValueError, RecursionError) as error:
            self._bad_payload(client, message, error, generation)
            return
        item: Any = value
        if self.at_least_once:
            mid, qos = message.mid, message.qos

            def acknowledge() -> None:
                self._ack(client, mid, qos, generation)

            item = Delivery(value, acknowledge)
        self._buffer.put(item)

    # -- helpers ------------------------------------------------------------------------------

    def _decoded(self, payload: bytes | bytearray) -> Any:
        if self.decode == "bytes":
            return bytes(payload)
        if self.decode == "text":
            return payload.decode("utf-8")
        return json.loads(payload)

    def _bad_payload(
        self, client: mqtt.Client, message: mqtt.MQTTMessage, error: BaseException, generation: int
    ) -> None:
        topic = _topic(message)
        with self._lock:
            self._counts["bad_payloads"] += 1
        reason = f"{type(error).__name__}: {error}"
        if self.dead_letter is None:
            logger.warning(
                "%s: a message on topic %r is not %s (%s); skipped (bad_payloads: %d)",
                self._where,
                topic,
                self.decode.upper() if self.decode == "json" else "UTF-8 text",
                reason,
                self._counts["bad_payloads"],
            )
        else:
            try:
                payload = message.payload.decode("utf-8")
                encoding = "utf-8"
            except UnicodeDecodeError:
                payload = base64.b64encode(message.payload).decode("ascii")
                encoding = "base64"
            record = {
                "topic": topic,
                "payload": payload,
                "encoding": encoding,
                "error": reason,
                "pipeline": self.pipeline,
            }
            try:
                self.dead_letter(record)
            except Exception:
                logger.exception(
                    "%s: dead_letter failed for a bad payload on topic %r; the message is left "
                    "unacknowledged",
                    self._where,
                    topic,
                )
                return
            with self._lock:
                self._counts["dead_lettered"] += 1
        if self.at_least_once:  # it will never decode: do not have it sent again
            self._ack(client, message.mid, message.qos, generation)

    def _ack(self, client: mqtt.Client, mid: int, qos: int, generation: int) -> None:
        """Acknowledge a message, unless it came on an earlier connection.

        After a reconnection the broker resends what was not acknowledged, and may reuse the
        packet id of a message that was for a new one: acknowledging the old delivery could
        then confirm a message nobody has stored. So it is skipped; the resent copy gets its
        own acknowledgement.
        """
        if qos == 0:
            return
        with self._lock:
            current = client is self._client and generation == self._generation
            if current:
                self._counts["acked"] += 1
        if current:
            client.ack(mid, qos)
        else:
            logger.debug(
                "%s: acknowledgement of message %d skipped (older connection)", self._where, mid
            )

    def _log_outage(self, level: int, message: str, *args: Any) -> None:
        """Log a connection problem once; while it lasts, repeats go to DEBUG."""
        with self._lock:
            first, self._outage = not self._outage, True
        logger.log(level if first else logging.DEBUG, message, *args)

    # -- pickling and display -----------------------------------------------------------------

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the options only: a copy made in another process connects on its own."""
        return (remake, (type(self), dict(self._arguments)))

    def __repr__(self) -> str:
        user = f", username={self.username!r}" if self.username is not None else ""
        return (
            f"MqttSource({self.broker!r}, topic={self.topics!r}, qos={self.qos}, "
            f"client_id={self.client_id!r}{user}, at_least_once={self.at_least_once}, "
            f"pipeline={self.pipeline!r})"
        )


def remake(cls: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``cls(**arguments)``: how sources and senders are unpickled."""
    return cls(**arguments)


def _topic(message: mqtt.MQTTMessage) -> str:
    try:
        return message.topic
    except UnicodeDecodeError:  # a broker should not let it through; show it anyway
        return repr(message._topic)
