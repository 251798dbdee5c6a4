"""What a sender sends for an item: :func:`payload` (the item, or one key of it) and its error.

Every sender module imports this one (not the :mod:`weirflow.senders` package), so the package
can import its submodules without an import circle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._errors import PayloadError

__all__ = ["PayloadError", "payload"]


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


def short(value: Any) -> str:
    """``repr(value)``, cut to 80 characters."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
