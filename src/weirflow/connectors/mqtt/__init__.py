"""MQTT, both directions: the subscribing connector, the sender, their options and plumbing.

Install the extra: ``pip install 'weirflow[mqtt]'`` (paho-mqtt 2; without it, importing this
package raises an ``ImportError`` saying so, and ``send("mqtt")`` is a ``ConfigError``). Clients
speak MQTT 5. What lives here, one job per module:

- :class:`MqttSource` (``_source.py``): the subscription, a continuous source
  (``with_mqtt_connector(...)``): reconnects with backoff, resubscribes on every connection,
  reports an outage once, and fails for good on a certificate that does not verify or a
  ``client_id`` taken by another client; with QoS 1 and a ``client_id``, at least once.
- ``_buffer.py``: the bounded buffer between paho's network thread and the reader.
- ``_decode.py``: payloads decoded as JSON, text or bytes (never evaluated), dead-letter records.
- ``_acks.py``: acknowledgements (only on the connection a message came on) and dead letters.
- :class:`MqttSender` (``_sender.py``): publishes each item as JSON behind ``send("mqtt", ...)``,
  waiting for the broker's acknowledgement, retried as a :class:`~weirflow.Retry` says.
- :class:`MqttOptions` (``_options.py``): how to reach a broker (host, port, client id,
  credentials, keepalive, TLS, QoS, session, reconnection), one frozen value checked in one place
  and shared by both directions; topic checks; :func:`tls_context`.
- ``_client.py``: paho (imported there first), the client, its network thread deaf to SIGINT
  and SIGTERM, and why a connection failed.
- :class:`MqttError` is defined in :mod:`weirflow._errors` (the one error tree), re-exported here.

Example:
    >>> from weirflow.connectors.mqtt import MqttOptions, MqttSender, MqttSource
    >>> MqttSource("localhost", topic="plant/#", pipeline="plant").options.broker
    'mqtt://localhost:1883'
    >>> MqttSender("localhost", topic="plant/summary", pipeline="plant").options == MqttOptions()
    True
"""

from __future__ import annotations

from ..._errors import MqttError as MqttError
from ._client import mqtt as mqtt  # first: without paho-mqtt it says which extra to install
from ._decode import DECODES as DECODES
from ._options import MqttOptions as MqttOptions
from ._options import broker_url as broker_url
from ._options import tls_context as tls_context
from ._sender import MqttSender as MqttSender
from ._source import MqttSource as MqttSource

__all__ = [
    "DECODES",
    "MqttError",
    "MqttOptions",
    "MqttSender",
    "MqttSource",
    "broker_url",
    "tls_context",
]
