"""What a message's payload becomes: decoded JSON, text or bytes, never evaluated.

:func:`decoded` turns a payload into the item the source yields (``decode="json"``, ``"text"``
or ``"bytes"``); one that does not decode raises ``ValueError`` (or ``RecursionError`` for JSON
nested too deeply), which the source hands to its dead letters (:mod:`._acks`).
:func:`dead_letter_record` is what a dead letter gets: the topic, the payload as text (or base64
when it is not UTF-8), the error and the pipeline.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from ..._checks import Where
from ..._errors import InvalidArgumentError
from ._client import mqtt

DECODES = ("json", "text", "bytes")


def check_decode(decode: Any, where: Where) -> str:
    """``decode`` if it is one of :data:`DECODES`."""
    if decode not in DECODES:
        raise InvalidArgumentError(
            f"{where.field('decode')}: give one of {', '.join(DECODES)}, got {decode!r}"
        )
    return str(decode)


def decoded(payload: bytes | bytearray, decode: str) -> Any:
    """The item for ``payload``: parsed JSON, ``str`` or ``bytes``.

    Example:
        >>> decoded(b'{"t": 21.5}', "json"), decoded(b"on", "text"), decoded(b"\\x00", "bytes")
        ({'t': 21.5}, 'on', b'\\x00')
    """
    if decode == "bytes":
        return bytes(payload)
    if decode == "text":
        return payload.decode("utf-8")
    return json.loads(payload)


def expected(decode: str) -> str:
    """What a payload that failed to decode was expected to be, for the log line."""
    return decode.upper() if decode == "json" else "UTF-8 text"


def topic_of(message: mqtt.MQTTMessage) -> str:
    """The message's topic (its repr if it is not UTF-8)."""
    try:
        return message.topic
    except UnicodeDecodeError:  # a broker should not let it through; show it anyway
        return repr(message._topic)


def dead_letter_record(message: mqtt.MQTTMessage, reason: str, pipeline: str) -> dict[str, Any]:
    """The record a dead letter gets for a payload that does not decode."""
    try:
        payload = message.payload.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        payload = base64.b64encode(message.payload).decode("ascii")
        encoding = "base64"
    return {
        "topic": topic_of(message),
        "payload": payload,
        "encoding": encoding,
        "error": reason,
        "pipeline": pipeline,
    }
