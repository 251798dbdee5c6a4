"""How to reach an MQTT broker: :class:`MqttOptions`, checked in one place, and the topic checks.

The MQTT source and sender connect the same way, so what they share is one frozen value: the
broker's host and port, the client id, the credentials, the keepalive, the TLS options (read
once, into an ``ssl.SSLContext``), the QoS, the session (``clean_start``) and the reconnection
backoff. :class:`MqttOptions` checks every field when it is made, naming the pipeline and the
field as the caller writes it (``MqttSource(qos=...)``, ``send('mqtt', qos=...)``,
``with_mqtt_connector(qos=...)``: a :class:`~weirflow._checks.Where`), so a mistake is a
:class:`~weirflow.ConfigError` at build time. Topics are checked here too (a filter to
subscribe to, a name to publish to). Nothing here imports paho: the client is
:mod:`._client`'s.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field, fields
from typing import Any

from ..._checks import Where, check_flag, check_seconds, check_whole, is_whole
from ..._errors import InvalidArgumentError
from ..._tls import ca_context

TLS_KEYS = ("ca_certs", "certfile", "keyfile", "insecure")
TLS_HINT = "check tls=... (ca_certs, certfile, keyfile, insecure)"
NEVER_EXPIRES = 0xFFFFFFFF  # MQTT 5 Session Expiry Interval meaning "keep the session forever"


@dataclass(frozen=True)
class MqttOptions:
    """How to connect to a broker, checked: shared by :class:`MqttSource` and :class:`MqttSender`.

    Attributes:
        host: the broker's host name or address (not a URL).
        port: the broker's port, 1 to 65535 (MQTT over TLS is usually 8883).
        client_id: the MQTT client id; None lets the broker assign one.
        username, password: credentials (the password never shows in a repr, error or log).
        tls: None/False, True (the system's CAs) or a dict with ``ca_certs``, ``certfile``,
            ``keyfile``, ``insecure``; see :func:`tls_context`.
        keepalive: seconds between the client's pings when idle, 1 to 65535.
        qos: 0, 1 or 2.
        clean_start: start a fresh session on connecting (False needs a ``client_id``).
        reconnect_min_delay, reconnect_max_delay: the reconnection backoff, in seconds.
        context: the TLS context made from ``tls`` (None without TLS); ``insecure``: whether
            the host name goes unchecked.

    ``where`` (not kept) says how messages name a field, ``host_field`` the host's name there.

    Example:
        >>> from weirflow._checks import Where
        >>> options = MqttOptions("broker.example", port=8883, tls=True, username="bob",
        ...                       password="s3cret")
        >>> options.broker, options.context is not None
        ('mqtts://broker.example:8883', True)
        >>> "s3cret" in repr(options)
        False
        >>> MqttOptions(port=0, where=Where("plant", "send('mqtt', {name}=...)"))
        Traceback (most recent call last):
        ...
        weirflow.InvalidArgumentError: pipeline 'plant': send('mqtt', port=...): give a port number from 1 to 65535, got 0
    """  # noqa: E501

    host: str = "localhost"
    port: int = 1883
    client_id: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool | Mapping[str, Any] | None = field(default=None, repr=False)
    keepalive: int = 60
    qos: int = 1
    clean_start: bool = True
    reconnect_min_delay: float = 0.5
    reconnect_max_delay: float = 30.0
    where: InitVar[Where | None] = None
    host_field: InitVar[str] = "host"
    context: ssl.SSLContext | None = field(init=False, repr=False, compare=False)
    insecure: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self, where: Where | None, host_field: str) -> None:
        place = where if where is not None else Where("?", "MqttOptions({name}=...)")
        check_host(self.host, place, host_field)
        check_port(self.port, place)
        check_qos(self.qos, place)
        check_credentials(self.username, self.password, place)
        context, insecure = tls_context(self.tls, place)
        object.__setattr__(self, "context", context)
        object.__setattr__(self, "insecure", insecure)
        check_client_id(self.client_id, place)
        check_whole(self.keepalive, place, "keepalive", minimum=1, maximum=65535, note=" (seconds)")
        check_flag(self.clean_start, place, "clean_start")
        if self.client_id is None and not self.clean_start:
            raise InvalidArgumentError(
                f"{place.field('clean_start')}: a persistent session (clean_start=False) needs "
                "a fixed client_id"
            )
        low = check_seconds(self.reconnect_min_delay, place, "reconnect_min_delay", positive=True)
        high = check_seconds(self.reconnect_max_delay, place, "reconnect_max_delay", positive=True)
        if high < low:
            raise InvalidArgumentError(
                f"{place.field('reconnect_max_delay')}: must be >= reconnect_min_delay "
                f"({low}), got {high}"
            )
        object.__setattr__(self, "reconnect_min_delay", low)
        object.__setattr__(self, "reconnect_max_delay", high)

    @classmethod
    def given(
        cls, arguments: Mapping[str, Any], where: Where, host_field: str, **fixed: Any
    ) -> MqttOptions:
        """The options among a source's or sender's constructor ``arguments`` (by name), the
        host being ``arguments[host_field]``; ``fixed`` values replace given ones."""
        names = [f.name for f in fields(cls) if f.init and f.name != "host"]
        chosen = {name: arguments[name] for name in names if name in arguments} | fixed
        return cls(host=arguments[host_field], **chosen, where=where, host_field=host_field)

    @property
    def broker(self) -> str:
        """How errors and logs name the broker: ``mqtt://host:port`` (``mqtts://`` with TLS)."""
        return broker_url(self.host, self.port, self.context is not None)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the fields given (a TLS context cannot cross): the copy reads the files again."""
        fields = (
            self.host,
            self.port,
            self.client_id,
            self.username,
            self.password,
            self.tls,
            self.keepalive,
            self.qos,
            self.clean_start,
            self.reconnect_min_delay,
            self.reconnect_max_delay,
        )
        return (type(self), fields)


def forwarded(name: str, doc: str) -> Any:
    """A read-only property giving ``self.options.<name>``."""
    return property(lambda self: getattr(self.options, name), doc=doc)


class UsesBroker:
    """What the source and the sender share: their :class:`MqttOptions` (``self.options``),
    shown as attributes, and pickling as the arguments they were made with (``_arguments``):
    a copy made in another process connects on its own."""

    options: MqttOptions
    _arguments: dict[str, Any]

    host = forwarded("host", "The broker's host name or address.")
    port = forwarded("port", "The broker's port.")
    qos = forwarded("qos", "The QoS of subscriptions or publications.")
    client_id = forwarded("client_id", "The MQTT client id (None: the broker assigns one).")
    username = forwarded("username", "The user name, if any (never the password).")
    keepalive = forwarded("keepalive", "Seconds between pings when idle.")
    broker = forwarded("broker", "``mqtt://host:port`` (``mqtts://`` with TLS).")
    _tls = forwarded("context", "The TLS context (None without TLS).")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the options only: a copy made in another process connects on its own."""
        return (remake, (type(self), dict(self._arguments)))


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
    if not is_whole(port) or not 1 <= port <= 65535:
        raise InvalidArgumentError(
            f"{where.field('port')}: give a port number from 1 to 65535, got {port!r}"
        )
    return int(port)


def check_qos(qos: Any, where: Where) -> int:
    if not is_whole(qos) or qos not in (0, 1, 2):
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
        context = ca_context(ca_certs)
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


def remake(cls: Callable[..., Any], arguments: dict[str, Any]) -> Any:
    """``cls(**arguments)``: how sources and senders are unpickled."""
    return cls(**arguments)
