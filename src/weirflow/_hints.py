"""Helpers for configuration messages: "did you mean" suggestions and short reprs of values.

Every layer's :class:`~weirflow.ConfigError` messages use these, so a misspelt name gets the same
kind of hint everywhere (a builder keyword, a storage option, a sender option, an injected
parameter name) and a huge or odd value never floods a message: :func:`shown` cuts its repr.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

ALIASES: Mapping[str, tuple[str, ...]] = {
    "url": ("source", "destination"),
    "uri": ("source", "destination"),
    "endpoint": ("source", "destination"),
    "host": ("source",),
    "broker": ("source",),
    "topics": ("topic",),
    "interval": ("timedelta_seconds",),
    "seconds": ("timedelta_seconds",),
    "every": ("timedelta_seconds",),
    "minutes": ("timedelta_minutes",),
    "schedule": ("cron",),
    "tz": ("timezone",),
    "time_zone": ("timezone",),
    "file": ("path",),
    "filename": ("path",),
    "file_path": ("path",),
    "filepath": ("path",),
    "table_name": ("table",),
    "threads": ("workers",),
    "num_workers": ("workers",),
    "n_workers": ("workers",),
    "concurrency": ("workers",),
    "max_size": ("maxsize",),
    "queue_size": ("maxsize",),
    "retry": ("retries",),
    "backoff": ("reconnect_min_delay",),
    "reconnect_delay": ("reconnect_min_delay",),
    "label": ("label_to_send",),
    "key": ("label_to_send",),
    "policy": ("on_failure",),
}
"""Names people write for a parameter that has another name here (``url`` for ``destination``)."""


def did_you_mean(name: object, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the choice closest to ``name``, ``""`` if none is close.

    Example:
        >>> did_you_mean("paht", ["path", "preprocessing"])
        " (did you mean 'path'?)"
        >>> did_you_mean("url", ["destination", "label_to_send"])
        " (did you mean 'destination'?)"
        >>> did_you_mean("colour", ["path"])
        ''
    """
    if not isinstance(name, str):
        return ""
    choices = list(choices)
    for alias in ALIASES.get(name.lower(), ()):
        if alias in choices:
            return f" (did you mean {alias!r}?)"
    folded = {_fold(choice): choice for choice in choices}
    if _fold(name) in folded:
        return f" (did you mean {folded[_fold(name)]!r}?)"
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""


def one_typo_away(name: str, target: str) -> bool:
    """True if ``name`` is ``target`` with one typo, or differs only in case and underscores.

    One typo is one letter inserted, deleted or changed, or two neighbours swapped (the
    Damerau-Levenshtein distance of the lower-case names without underscores is at most 1).

    Example:
        >>> one_typo_away("pipline_name", "pipeline_name"), one_typo_away("dbConnectors", "db_connectors")
        (True, True)
        >>> one_typo_away("db_connection", "db_connectors"), one_typo_away("pipeline", "pipeline_name")
        (False, False)
    """  # noqa: E501
    return name != target and _distance(_fold(name), _fold(target)) <= 1


def shown(value: object, limit: int = 60) -> str:
    """``repr(value)``, cut to about ``limit`` characters (huge values never flood a message).

    Example:
        >>> print(shown("5" * 1000, limit=20))
        '555555555555555… (1002 characters)
    """
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the configuration error
        text = f"<{type(value).__name__} object>"
    if len(text) <= limit:
        return text
    return f"{text[: limit - 4]}… ({len(text)} characters)"


def shorten_quotes(message: str, limit: int = 100) -> str:
    """``message`` with every quoted text longer than ``limit`` characters cut (see :func:`shown`).

    For messages made elsewhere that quote a value in full (a 2,000-character URL).

    A quote opens only where no letter or digit stands before it and closes only where none
    follows, so the closing quote of a short name is never taken for the opening of a long one.

    Example:
        >>> shorten_quotes("got '" + "x" * 500 + "'", limit=10)
        "got 'xxxxxxxxxx…' (500 characters)"
        >>> shorten_quotes("stage 'p.s': timeout, got '" + "5" * 500 + "'", limit=10)
        "stage 'p.s': timeout, got '5555555555…' (500 characters)"
    """
    pattern = re.compile(r"(?<!\w)(['\"])([^'\"\n]{" + str(limit + 1) + r",})\1(?!\w)")

    def cut(match: re.Match[str]) -> str:
        quote, text = match.group(1), match.group(2)
        return f"{quote}{text[:limit]}…{quote} ({len(text)} characters)"

    return pattern.sub(cut, message)


def _fold(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (edits, adjacent swaps count as one)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (char_a != char_b),
            )
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]
