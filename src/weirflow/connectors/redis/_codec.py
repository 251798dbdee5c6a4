"""Items as bytes for a Redis stream: JSON (the default) or msgpack, never pickle.

JSON has no dates, decimals or bytes, so they travel as one-key objects in the style of
MongoDB's extended JSON: ``{"$datetime": "2024-05-01T12:00:00+00:00"}``, ``{"$date": ...}``,
``{"$decimal": "1.10"}``, ``{"$bytes": "<base64>"}``, ``{"$uuid": ...}``; tuples become lists.
Anything else (a set, an object of your own) does not serialise: :class:`UnserializableItem`,
which the broker turns into an error naming the pipeline, the stage and the stream. msgpack
(``serializer="msgpack"``, extra ``weirflow[msgpack]``) uses the same objects for the same
types. The decoder looks for the marks only in payloads that contain one (``{"$``), so plain
items decode at the JSON parser's speed.
"""

from __future__ import annotations

import base64
import datetime
import decimal
import json
import json.scanner
import uuid
from collections.abc import Callable
from typing import Any

SERIALIZERS = ("json", "msgpack")
_MARK = b'"$'


def _scanning(decoder: json.JSONDecoder) -> Callable[[str], Any]:
    """``decoder.decode`` without its two whitespace regex matches per call: the JSON
    scanner itself, for text with nothing around the value (what :class:`Codec` writes);
    anything else goes to ``decoder.decode``, which raises its usual error."""
    scan, decode = json.scanner.make_scanner(decoder), decoder.decode  # type: ignore[arg-type]

    def scanned(text: str) -> Any:
        try:
            value, end = scan(text, 0)
        except StopIteration:
            return decode(text)
        return value if end == len(text) else decode(text)

    return scanned


_plain = _scanning(json.JSONDecoder())
_marked = _scanning(json.JSONDecoder(object_hook=lambda value: _decode_extra(value)))


class UnserializableItem(TypeError):
    """An item (or something in it) has no JSON or msgpack form."""


def _encode_extra(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"$date": value.isoformat()}
    if isinstance(value, datetime.time):
        return {"$time": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    raise UnserializableItem(
        f"{type(value).__name__} {value!r:.60} has no JSON form (use dicts, lists, str, "
        "numbers, bools, None, datetimes, dates, decimals, bytes or UUIDs)"
    )


_DECODERS: dict[str, Callable[[str], Any]] = {
    "$datetime": datetime.datetime.fromisoformat,
    "$date": datetime.date.fromisoformat,
    "$time": datetime.time.fromisoformat,
    "$decimal": decimal.Decimal,
    "$bytes": base64.b64decode,
    "$uuid": uuid.UUID,
}


def _decode_extra(value: dict[str, Any]) -> Any:
    if len(value) == 1:
        key, text = next(iter(value.items()))
        decoder = _DECODERS.get(key)
        if decoder is not None and isinstance(text, str):
            return decoder(text)
    return value


class Codec:
    """Encodes items for a stream entry and decodes them back.

    The entry's one field is named after the serializer (``json`` or ``msgpack``), so a reader
    decodes whatever a writer chose.

    Example:
        >>> import datetime, decimal
        >>> codec = Codec("json")
        >>> field, data = codec.encode({"at": datetime.date(2024, 5, 1), "price": decimal.Decimal("1.10")})
        >>> field, data
        ('json', b'{"at":{"$date":"2024-05-01"},"price":{"$decimal":"1.10"}}')
        >>> Codec.decode({b"json": data})
        {'at': datetime.date(2024, 5, 1), 'price': Decimal('1.10')}
        >>> codec.encode({1, 2})
        Traceback (most recent call last):
        ...
        weirflow.connectors.redis._codec.UnserializableItem: set {1, 2} has no JSON form (use dicts, lists, str, numbers, bools, None, datetimes, dates, decimals, bytes or UUIDs)
    """  # noqa: E501

    def __init__(self, serializer: str = "json") -> None:
        if serializer not in SERIALIZERS:
            raise ValueError(f"serializer must be one of {', '.join(SERIALIZERS)}")
        self.serializer = serializer
        if serializer == "msgpack":
            import msgpack

            packer = msgpack.Packer(default=_encode_extra, use_bin_type=True)
            self._encode: Callable[[Any], bytes] = packer.pack
        else:
            dumps = json.JSONEncoder(
                default=_encode_extra, separators=(",", ":"), ensure_ascii=False
            ).encode
            self._encode = lambda item: dumps(item).encode()

    def encode(self, item: Any) -> tuple[str, bytes]:
        """``(field, bytes)`` of ``item``; raises :class:`UnserializableItem`."""
        try:
            return self.serializer, self._encode(item)
        except UnserializableItem:
            raise
        except (TypeError, ValueError, OverflowError) as error:  # keys, NaN-free... recursion
            raise UnserializableItem(str(error)) from error

    @staticmethod
    def decode(fields: dict[bytes, bytes]) -> Any:
        """The item of an entry's fields (``ValueError`` if it has none weirflow wrote)."""
        data = fields.get(b"json")
        if data is not None:
            return (_marked if _MARK in data else _plain)(data.decode())
        data = fields.get(b"msgpack")
        if data is not None:
            import msgpack

            return msgpack.unpackb(data, object_hook=_decode_extra, raw=False)
        raise ValueError(f"not a weirflow stream entry (fields {sorted(fields)!r:.80})")
