"""The ``preprocessing`` option every storage takes: what happens to an item before it is saved.

``preprocessing`` is ``None``, one step, or a list of steps applied in order:

* ``"add_datetime"``: save a copy of a dict item (or of each dict of a list item) with a key
  ``datetime`` holding the time of the save, ISO 8601, UTC, timezone-aware
  (``2024-05-01T12:00:00.123456+00:00``);
* ``"overwrite"``: keep only the latest item; ``load()`` then returns that item, or ``None``
  before the first save;
* a function: receives a deep copy of the item and returns what to save.

The caller's item is never modified: the item a storage stage passes on is the one it received.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .._await import run_awaitable
from .._errors import ConfigError
from ._options import check_item_function

Step = str | Callable[[Any], Any]

NAMED_STEPS = ("add_datetime", "overwrite")
_HELP = "use None, 'add_datetime', 'overwrite', a function item -> item, or a list of these"


@dataclass(frozen=True)
class Preprocessing:
    """Checked ``preprocessing``: the steps to apply, and whether to keep only the latest item."""

    steps: tuple[Step, ...] = ()
    overwrite: bool = False

    def apply(self, item: Any) -> Any:
        """What to save for ``item`` (never ``item`` itself modified)."""
        for step in self.steps:
            if step == "add_datetime":
                item = add_datetime(item)
            elif callable(step):
                item = run_awaitable(step(copy.deepcopy(item)))  # async def: awaited
        return item

    def describe(self) -> str:
        """A short text for ``repr``."""
        names = [
            s if isinstance(s, str) else getattr(s, "__name__", "function") for s in self.steps
        ]
        if self.overwrite:
            names.append("overwrite")
        return ", ".join(names)


def add_datetime(item: Any) -> Any:
    """A copy of ``item`` (a dict, or a list of dicts) with ``datetime`` set to now, UTC."""
    stamp = datetime.now(UTC).isoformat()
    if isinstance(item, Mapping):
        return {**item, "datetime": stamp}
    if isinstance(item, list) and all(isinstance(entry, Mapping) for entry in item):
        return [{**entry, "datetime": stamp} for entry in item]
    raise TypeError(
        "preprocessing 'add_datetime' needs a dict item (or a list of dicts), got "
        f"{type(item).__name__}; use a function as preprocessing for other items"
    )


def check_preprocessing(value: Any, where: str) -> Preprocessing:
    """Validate the ``preprocessing`` option; raise ``ConfigError`` saying what to change."""
    if value is None:
        return Preprocessing()
    raw = list(value) if isinstance(value, list | tuple) else [value]
    steps: list[Step] = []
    overwrite = False
    for step in raw:
        if isinstance(step, str):
            if step not in NAMED_STEPS:
                raise ConfigError(f"{where}: unknown preprocessing {step!r}; {_HELP}")
            if step == "overwrite":
                overwrite = True
            else:
                steps.append(step)
        elif callable(step):
            check_item_function(step, where, "a preprocessing function")
            steps.append(step)
        else:
            raise ConfigError(
                f"{where}: preprocessing must be a str or a function, got "
                f"{type(step).__name__} {step!r}; {_HELP}"
            )
    return Preprocessing(tuple(steps), overwrite)
