"""Connectors: the sources a pipeline's items come from (``with_connector(kind, **options)``).

One package per technology, both directions together (source, sender, shared plumbing):
:mod:`weirflow.connectors.http` polls an HTTP endpoint each run (``"http"``,
``with_http_connector``) and holds the HTTP senders; :mod:`weirflow.connectors.mqtt` subscribes
to MQTT topics (``"mqtt"``, ``with_mqtt_connector``) and holds the MQTT sender. They register
themselves here, one line each, by the ``"module:name"`` text of their class, so a module (and
httpx or paho-mqtt with it) is imported only when a pipeline uses it;
:func:`~weirflow.register_connector` adds your own.
"""

from __future__ import annotations

from .._registry import CONNECTORS, register_connector

__all__ = ["CONNECTORS", "register_connector"]

register_connector("http", "weirflow.connectors.http:HttpSource")
register_connector("mqtt", "weirflow.connectors.mqtt:MqttSource")
