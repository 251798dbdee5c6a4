"""MQTT plumbing shared by the source (``connectors.mqtt``) and the sender (``senders.mqtt``):
argument checks, TLS contexts, client creation, the network thread, and why a connection failed.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

from ._errors import InvalidArgumentError, MqttError
from ._threads import start_thread

try:  # the one place paho is imported first: without it, say which extra to install
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties
    from paho.mqtt.reasoncodes import ReasonCode
except ImportError as error:
    raise ImportError(
        "weirflow's MQTT connector and sender need paho-mqtt 2: pip install 'weirflow[mqtt]'"
    ) from error


# paho names the connector and the sender take from here (explicit re-exports)
__all__ = ["MqttError", "PacketTypes", "Properties", "ReasonCode", "mqtt"]

logger = logging.getLogger("weirflow.mqtt")

DECODES = ("json", "text", "bytes")
TLS_KEYS = ("ca_certs", "certfile", "keyfile", "insecure")
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 Session Expiry Interval meaning "keep the session forever"
_END = object()  # what the buffer hands out once reading must stop


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


def whole_number(value: Any) -> bool:
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
    if not whole_number(port) or not 1 <= port <= 65535:
        raise InvalidArgumentError(
            f"{where.field('port')}: give a port number from 1 to 65535, got {port!r}"
        )
    return int(port)


def check_qos(qos: Any, where: Where) -> int:
    if not whole_number(qos) or qos not in (0, 1, 2):
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
    if not whole_number(keepalive) or not 0 < keepalive <= 65535:
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


# -- why connecting failed -----------------------------------------------------------------------

SESSION_TAKEN_OVER = 142  # MQTT 5 DISCONNECT reason: another client connected with our client id


def connect_failure(error: BaseException | None, broker: str) -> str:
    """Why a connection attempt failed, in a few words: refused, DNS, timeout, TLS...

    Example:
        >>> connect_failure(ConnectionRefusedError(111, "Connection refused"), "mqtt://h:1883")
        'connection refused (is a broker listening at mqtt://h:1883?)'
    """
    if error is None:
        return "no reason given"
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or str(error)
        return f"the broker's TLS certificate does not verify ({detail})"
    if isinstance(error, ssl.CertificateError):
        return f"the broker's TLS certificate does not verify ({error})"
    if isinstance(error, ssl.SSLError):
        return f"the TLS handshake failed ({error.reason or error})"
    if isinstance(error, ConnectionRefusedError):
        return f"connection refused (is a broker listening at {broker}?)"
    if isinstance(error, socket.gaierror):
        return f"the host name does not resolve (DNS: {error.strerror or error})"
    if isinstance(error, TimeoutError | socket.timeout):
        return "no answer in time (a firewall, or the wrong host or port?)"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror.lower()} ({type(error).__name__})"
    return f"{type(error).__name__}: {error}"


def is_certificate_error(error: BaseException | None) -> bool:
    """Whether connecting failed because the broker's certificate does not verify: trying
    again cannot help."""
    return isinstance(error, ssl.SSLCertVerificationError | ssl.CertificateError)


TLS_HINT = "check tls=... (ca_certs, certfile, keyfile, insecure)"


# -- clients and their network thread -----------------------------------------------------------


class Client(mqtt.Client):
    """paho's client, remembering why its last connection attempt failed.

    paho's ``on_connect_fail`` callback is told nothing; the exception is kept here, in
    :attr:`connect_error`, for the log line and to tell a certificate error from an outage.
    """

    connect_error: BaseException | None = None

    def _create_socket(self) -> Any:
        try:
            sock = super()._create_socket()
        except BaseException as error:
            self.connect_error = error
            raise
        self.connect_error = None
        return sock


def new_client(
    client_id: str | None,
    *,
    username: str | None,
    password: str | None,
    context: ssl.SSLContext | None,
    insecure: bool,
    manual_ack: bool = False,
    reconnect_on_failure: bool = True,
) -> Client:
    """An MQTT 5 paho client with the callbacks of API version 2, credentials and TLS set."""
    client = Client(
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


def remake(cls: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``cls(**arguments)``: how sources and senders are unpickled."""
    return cls(**arguments)
