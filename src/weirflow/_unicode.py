"""Finding the text in a value that UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``).

Storages and senders write UTF-8; Python strings may hold lone surrogates (from
``surrogateescape`` decoding, or JSON like ``"\\ud800"``) that UTF-8 cannot store.
:func:`unencodable_text` says where in an item the bad text is, for an error message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["unencodable_text"]


def unencodable_text(value: Any, owner: str, doing: str = "save the item") -> str:
    """The message for text in ``value`` that UTF-8 cannot encode (a lone surrogate).

    Example:
        >>> print(unencodable_text({"name": "a\\ud800"}, "JsonLinesStorage('x.jsonl')"))
        ... # doctest: +ELLIPSIS
        JsonLinesStorage('x.jsonl'): cannot save the item: item['name'] holds a lone surrogate ...
    """
    where, text = _find_unencodable(value, "item")
    try:
        text.encode()
    except UnicodeEncodeError as error:
        detail = f"{text[error.start : error.end]!r} at position {error.start}"
    else:  # pragma: no cover - found only when it does not encode
        detail = "?"
    return (
        f"{owner}: cannot {doing}: {where} holds a lone surrogate ({detail}), which "
        "UTF-8 cannot store; clean the text first, e.g. with "
        "text.encode('utf-8', 'replace').decode() in a preprocessing or core-logic function"
    )


def _find_unencodable(value: Any, where: str) -> tuple[str, str]:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return where, value
        return "", ""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            if isinstance(key, str) and _find_unencodable(key, "")[1]:
                return f"a key of {where} ({key!r})", key
            found = _find_unencodable(inner, f"{where}[{key!r}]")
            if found[1]:
                return found
    elif isinstance(value, list | tuple):
        for index, inner in enumerate(value):
            found = _find_unencodable(inner, f"{where}[{index}]")
            if found[1]:
                return found
    return "", ""
