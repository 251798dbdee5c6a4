"""What the senders that trigger work elsewhere share (Airflow DAG runs, Prefect flow runs).

Each item becomes a JSON object for the other system (:func:`object_from`: the whole item, one
of its keys, or what a function makes of it) and a deterministic key (:func:`item_key`: a
hash of the item's canonical JSON, or one of its keys), so an item delivered again, as
at-least-once sources do, triggers nothing new: the other system sees the same run id or
idempotency key and keeps the run it has. What they read from the other system's answers
(:func:`answer_text`, :func:`answered_without`) and the token they send (:func:`bearer`) are
here too.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from .._errors import HttpRequestError, InvalidArgumentError, PayloadError
from .._hints import shown

Picker = str | Callable[[Any], Any] | None
"""How to take a value from an item: ``None`` (the item), a key, or a function of the item."""

_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.~:+-]{1,200}$")


def check_picker(picker: Any, where: str, field: str) -> Picker:
    """``picker`` if it is ``None``, a key (str) or a function; else an InvalidArgumentError."""
    if picker is None or callable(picker) or (isinstance(picker, str) and picker):
        return picker  # type: ignore[no-any-return]
    raise InvalidArgumentError(
        f"{where}: {field} takes a key of the items, a function of an item or None (the "
        f"whole item), got {shown(picker)}"
    )


def picked(item: Any, picker: Picker, where: str, field: str, pipeline: str) -> Any:
    """The value ``picker`` takes from ``item``.

    Raises:
        PayloadError: a key picker and an item that is not a dict or lacks the key.
    """
    if picker is None:
        return item
    if callable(picker):
        return picker(item)
    if not isinstance(item, Mapping) or picker not in item:
        keys = ", ".join(map(repr, list(item)[:10])) if isinstance(item, Mapping) else ""
        has = f"it has {keys or 'no keys'}" if isinstance(item, Mapping) else "it is not a dict"
        raise PayloadError(
            f"{where}: {field}={picker!r}: the item has no key {picker!r}; {has}", pipeline
        )
    return item[picker]


def object_from(item: Any, picker: Picker, where: str, field: str, pipeline: str) -> dict[str, Any]:
    """The JSON object ``picker`` takes from ``item`` (checked: a dict that JSON can carry).

    Example:
        >>> object_from({"day": "2030-01-01", "n": 3}, None, "p", "conf_from", "p")
        {'day': '2030-01-01', 'n': 3}
        >>> object_from({"conf": {"n": 3}}, "conf", "p", "conf_from", "p")
        {'n': 3}
    """
    value = picked(item, picker, where, field, pipeline)
    if not isinstance(value, Mapping):
        raise PayloadError(
            f"{where}: {field} must give a dict (a JSON object), got {type(value).__name__} "
            f"{shown(value)}",
            pipeline,
        )
    value = dict(value)
    canonical(value, where, pipeline)
    return value


def canonical(value: Any, where: str, pipeline: str) -> str:
    """``value`` as canonical JSON (sorted keys, no spaces), the same for equal values.

    Raises:
        PayloadError: ``value`` is not JSON (a set, a datetime, NaN...).
    """
    try:
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as error:
        raise PayloadError(
            f"{where}: cannot send {type(value).__name__} as JSON ({error})", pipeline
        ) from error


def item_key(
    item: Any, picker: Picker, prefix: str, scope: str, where: str, field: str, pipeline: str
) -> str:
    """A deterministic key for ``item``: ``picker``'s value, or ``prefix`` and a hash.

    Without ``picker`` the key is ``f"{prefix}__{hash}"``, the hash (SHA-256, 32 hex digits)
    taken over ``scope`` (the DAG or deployment) and the item's canonical JSON, so equal items
    get equal keys in every process and on every machine. A picked key must be 1 to 200
    characters of letters, digits and ``_.~:+-`` (what Airflow accepts in a run id).

    Example:
        >>> item_key({"day": "2030-01-01"}, None, "weirflow", "daily", "p", "run_id_from", "p")
        'weirflow__3259e379cbc67c94420eafaffbe13129'
        >>> item_key({"id": "day-1"}, "id", "weirflow", "daily", "p", "run_id_from", "p")
        'day-1'
    """
    if picker is not None:
        value = picked(item, picker, where, field, pipeline)
        if not isinstance(value, str) or not _SAFE_KEY.match(value):
            raise PayloadError(
                f"{where}: {field} must give 1 to 200 characters of letters, digits and "
                f"_.~:+- , got {shown(value)}",
                pipeline,
            )
        return value
    text = f"{scope}\n{canonical(item, where, pipeline)}"
    return f"{prefix}__{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def bearer(token: str | None) -> dict[str, str]:
    """The ``authorization`` header for ``token`` (none without one).

    Example:
        >>> bearer("t0ken"), bearer(None)
        ({'authorization': 'Bearer t0ken'}, {})
    """
    return {} if token is None else {"authorization": f"Bearer {token}"}


def answer_text(answer: Any, key: str) -> str | None:
    """The non-empty text at ``key`` of a JSON object answer; None if there is none."""
    try:
        value = answer.json().get(key)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value else None


def answered_without(
    where: str, pipeline: str, method: str, url: str, what: str, hint: str, answer: Any
) -> HttpRequestError:
    """The error for an answer to ``method url`` (redacted) that lacks ``what``."""
    return HttpRequestError(
        f"{where}: {method} {url} answered without {what}; {hint}",
        pipeline,
        method,
        url,
        answer.status_code,
    )
