"""The factories of the built-in sender kinds ``"http_post"``, ``"http_put"`` and ``"mqtt"``.

:mod:`weirflow.senders` registers them by their ``"weirflow.senders._kinds:NAME"`` text, so this
module (and httpx or paho-mqtt with it) is imported only when a pipeline sends with one of them.
Each checks its option names against the sender class's ``OPTIONS`` and passes the pipeline on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .._errors import InvalidArgumentError
from .._hints import did_you_mean
from .._interfaces import Sender
from ._payload import short


@dataclass(frozen=True)
class HttpKind:
    """``send("http_post" | "http_put", destination=..., ...)``: an :class:`HttpSender`."""

    kind: str
    method: str

    def __call__(self, *, pipeline: str, **options: Any) -> Sender:
        from .http import HttpSender  # httpx is imported only when a pipeline uses it

        check_sender_options(repr(self.kind), pipeline, options, HttpSender.OPTIONS)
        if options.get("destination") is None:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({self.kind!r}) needs the URL to send to; add "
                "destination='http://host:port/path'"
            )
        return HttpSender(method=self.method, pipeline=pipeline, **options)


@dataclass(frozen=True)
class MqttKind:
    """``send("mqtt", destination=..., topic=..., ...)``: an :class:`MqttSender`."""

    def __call__(self, *, pipeline: str, **options: Any) -> Sender:
        from .mqtt import MqttSender  # paho-mqtt is imported only when a pipeline publishes

        check_sender_options("'mqtt'", pipeline, options, MqttSender.OPTIONS)
        return MqttSender(pipeline=pipeline, **options)


HTTP_POST = HttpKind("http_post", "POST")
HTTP_PUT = HttpKind("http_put", "PUT")
MQTT = MqttKind()


def check_sender_options(
    shown: str, pipeline: str, options: Mapping[str, Any], valid: Iterable[str]
) -> None:
    """Refuse an option not in ``valid``: ``send('http_post') got unknown option 'url' ...``.

    Example:
        >>> check_sender_options("'x'", "p", {"destinaton": "h"}, ["destination"])
        Traceback (most recent call last):
        ...
        weirflow._errors.InvalidArgumentError: pipeline 'p': send('x') got unknown option 'destinaton' (did you mean 'destination'?); it takes destination
    """  # noqa: E501
    valid = sorted(set(valid))
    for name in options:
        if name not in valid:
            raise InvalidArgumentError(
                f"pipeline {pipeline!r}: send({shown}) got unknown option {short(name)}"
                f"{did_you_mean(name, valid)}; it takes {', '.join(valid)}"
            )
