"""paho plumbing the MQTT source and sender share: the client, its network thread, failures.

paho-mqtt is imported here first (the guard names the extra to install without it). A
:class:`Client` remembers why its last connection attempt failed, :func:`new_client` makes one
from :class:`~._options.MqttOptions` (MQTT 5, credentials, TLS), :func:`start_network` runs
paho's network loop in a thread deaf to SIGINT and SIGTERM and :func:`stop_network` joins it;
:func:`connect_failure` says in a few words why connecting failed.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

from ..._threads import start_thread
from ._options import MqttOptions

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
__all__ = ["PacketTypes", "Properties", "ReasonCode", "mqtt"]


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


def refusal_hint(reason_code: ReasonCode, username: str | None) -> str:
    """What to check when the broker refused the connection (MQTT 5 CONNACK reason)."""
    hints = {
        134: "; check username= and password=",  # Bad user name or password
        135: "; the broker's access rules do not let this client in"  # Not authorized
        + ("" if username is None else f" as {username!r}"),
        133: "; the broker refuses this client_id",  # Client identifier not valid
    }
    return hints.get(reason_code.value, "")


def is_certificate_error(error: BaseException | None) -> bool:
    """Whether connecting failed because the broker's certificate does not verify: trying
    again cannot help."""
    return isinstance(error, ssl.SSLCertVerificationError | ssl.CertificateError)


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
    options: MqttOptions,
    *,
    client_id: str | None = None,
    manual_ack: bool = False,
    reconnect_on_failure: bool = True,
) -> Client:
    """An MQTT 5 paho client with the callbacks of API version 2, credentials and TLS set.

    The client id is ``options.client_id`` unless ``client_id`` is given.
    """
    client = Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id or options.client_id or "",  # "": the broker assigns one
        protocol=MQTTProtocolVersion.MQTTv5,
        reconnect_on_failure=reconnect_on_failure,
        manual_ack=manual_ack,
    )
    if options.username is not None:
        client.username_pw_set(options.username, options.password)
    if options.context is not None:
        client.tls_set_context(options.context)
        client.tls_insecure_set(options.insecure)
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
