"""What a sender sends for an item: :func:`payload` (the item, or one key of it), its JSON
(:func:`json_bytes`), and the error for an item that cannot be sent.

Every sender module imports this one (not the :mod:`weirflow.senders` package), so the package
can import its submodules without an import circle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .._checks import Where
from .._errors import InvalidArgumentError, PayloadError
from .._unicode import unencodable_text

__all__ = ["PayloadError", "check_label", "json_bytes", "payload"]


def check_label(label_to_send: Any, where: Where) -> str | None:
    """A sender's ``label_to_send`` option: the key of the items to send, or None (all of it)."""
    if label_to_send is not None and not isinstance(label_to_send, str):
        raise InvalidArgumentError(
            f"{where.field('label_to_send')}: give the key of the items to send, "
            f"got {label_to_send!r}"
        )
    return label_to_send


def payload(item: Any, label_to_send: str | None, where: str, pipeline: str | None = None) -> Any:
    """What to send for ``item``: ``item[label_to_send]``, or the whole item without a label.

    ``where`` names the pipeline and the sender in the error raised for an item that is not
    a dict or lacks the label; ``pipeline`` is the error's :attr:`~weirflow.PayloadError.pipeline`.

    Example:
        >>> payload({"summary": 7, "raw": [1, 2]}, "summary", "pipeline 'p'")
        7
    """
    if label_to_send is None:
        return item
    if not isinstance(item, Mapping):
        raise PayloadError(
            f"{where}: label_to_send={label_to_send!r} needs items that are dicts, "
            f"got {type(item).__name__}: {short(item)}",
            pipeline,
        )
    if label_to_send not in item:
        keys = ", ".join(repr(key) for key in list(item)[:10]) or "no keys"
        raise PayloadError(
            f"{where}: the item has no key {label_to_send!r} (label_to_send); it has {keys}",
            pipeline,
        )
    return item[label_to_send]


def json_bytes(body: Any, where: str, pipeline: str | None, doing: str) -> bytes:
    """``body`` as compact UTF-8 JSON; NaN, objects JSON cannot hold and text UTF-8 cannot
    encode (a lone surrogate) are a :class:`PayloadError` saying ``where`` could not ``doing``.

    Example:
        >>> json_bytes({"mean": 21.5, "unit": "C"}, "pipeline 'p': send('mqtt')", "p", "publish")
        b'{"mean":21.5,"unit":"C"}'
        >>> json_bytes(float("nan"), "pipeline 'p': send('mqtt')", "p", "publish")
        Traceback (most recent call last):
        ...
        weirflow.PayloadError: pipeline 'p': send('mqtt'): cannot publish float as JSON (Out of range float values are not JSON compliant)
    """  # noqa: E501
    try:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise PayloadError(
            f"{where}: cannot {doing} {type(body).__name__} as JSON ({error})", pipeline
        ) from error
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise PayloadError(unencodable_text(body, where, f"{doing} it"), pipeline) from None


def short(value: Any) -> str:
    """``repr(value)``, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
