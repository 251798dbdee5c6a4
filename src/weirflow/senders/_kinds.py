"""The factories of the built-in sender kinds ``"http_post"``, ``"http_put"`` and ``"mqtt"``.

:mod:`weirflow.senders` registers them by their ``"weirflow.senders._kinds:NAME"`` text, so this
module (and httpx or paho-mqtt with it) is imported only when a pipeline sends with one of them.
Each declares the sender class's ``OPTIONS`` as the names it ``accepts`` (the registry checks
them) and passes the pipeline on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError, InvalidArgumentError
from .._interfaces import Sender


@dataclass(frozen=True)
class HttpKind:
    """``send("http_post" | "http_put", destination=..., ...)``: an :class:`HttpSender`."""

    kind: str
    method: str

    @property
    def accepts(self) -> tuple[str, ...]:
        """The options of :class:`HttpSender` (checked before the call)."""
        from ..connectors.http import HttpSender  # httpx is imported only when a pipeline uses it

        return tuple(HttpSender.OPTIONS)

    def __call__(self, *, pipeline: str, **options: Any) -> Sender:
        from ..connectors.http import HttpSender

        if options.get("destination") is None:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({self.kind!r}) needs the URL to send to; add "
                "destination='http://host:port/path'"
            )
        return HttpSender(method=self.method, pipeline=pipeline, **options)


@dataclass(frozen=True)
class MqttKind:
    """``send("mqtt", destination=..., topic=..., ...)``: an :class:`MqttSender`."""

    @property
    def accepts(self) -> tuple[str, ...] | None:
        """The options of :class:`MqttSender` (checked before the call)."""
        try:
            return tuple(_mqtt_sender_class("send('mqtt')").OPTIONS)
        except ConfigError:  # no paho-mqtt: the call says so, naming the pipeline and stage
            return None

    def __call__(self, *, pipeline: str, **options: Any) -> Sender:
        sender_class = _mqtt_sender_class(f"pipeline {pipeline!r}: send('mqtt')")
        sender: Sender = sender_class(pipeline=pipeline, **options)
        return sender


def _mqtt_sender_class(where: str) -> type[Any]:
    """:class:`MqttSender`, imported when a pipeline publishes; without paho-mqtt, a ConfigError
    saying which extra to install."""
    try:
        from ..connectors.mqtt import MqttSender
    except ImportError as error:
        if "weirflow[mqtt]" not in str(error):
            raise
        raise ConfigError(f"{where}: {error}") from None
    return MqttSender


HTTP_POST = HttpKind("http_post", "POST")
HTTP_PUT = HttpKind("http_put", "PUT")
MQTT = MqttKind()
