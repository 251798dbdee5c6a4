"""A sender made of a plain function: ``send(fn)`` calls ``fn(item)`` for each item.

The simplest way to deliver items somewhere weirflow has no sender for: a function that takes
one item. Whatever it returns is ignored; an exception it raises is the pipeline's failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._await import run_awaitable
from .._errors import InvalidArgumentError, InvalidCallableError
from .._interfaces import Sender
from .._runtime._inject import signature_of
from ._payload import payload


class FunctionSender(Sender):
    """Calls ``function(item)`` (or ``function(item[label_to_send])``) for each item.

    Args:
        function: a function taking the item as its first argument; an ``async`` one is
            awaited (on an event loop of its own for each item).
        label_to_send: send only this key of each item (a dict).
        pipeline: the pipeline's name, shown in errors.

    Raises:
        InvalidCallableError: ``function`` is not callable or takes no argument.
        InvalidArgumentError: ``label_to_send`` is not a string.

    Example:
        >>> totals = []
        >>> sender = FunctionSender(totals.append, label_to_send="total", pipeline="reports")
        >>> sender.send({"total": 12, "count": 3})
        >>> totals
        [12]
    """

    def __init__(
        self,
        function: Callable[[Any], Any],
        *,
        label_to_send: str | None = None,
        pipeline: str = "?",
    ) -> None:
        name = str(getattr(function, "__qualname__", None) or repr(function))
        where = f"pipeline {pipeline!r}: send({name})"
        if not callable(function):
            raise InvalidCallableError(
                f"pipeline {pipeline!r}: send() needs a function, got {type(function).__name__}"
            )
        signature = signature_of(function, skip_first=False)
        if signature.positional_slots == 0:
            raise InvalidCallableError(
                f"{where}: the function takes no positional parameter for the item; give it "
                "one, e.g. def deliver(item): ..."
            )
        if label_to_send is not None and not isinstance(label_to_send, str):
            raise InvalidArgumentError(
                f"{where}: label_to_send must be a string (a key of the items), "
                f"got {label_to_send!r}"
            )
        self.function = function
        self.label_to_send = label_to_send
        self.pipeline = pipeline
        self._where = where

    def send(self, item: Any) -> None:
        """Call the function with the item (or its ``label_to_send`` value)."""
        run_awaitable(self.function(payload(item, self.label_to_send, self._where, self.pipeline)))

    def __repr__(self) -> str:
        return f"FunctionSender({self._where})"
