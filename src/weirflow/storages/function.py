"""The storage made from a plain function: ``with_storage(fn)`` calls ``fn(item)`` per item.

A function is the first way to extend weirflow; write a :class:`~weirflow.Storage` subclass
only when you need state or ``load``. A function storage cannot be loaded: other pipelines
cannot read it back through ``db_connectors``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._await import run_awaitable
from .._checks import place
from .._errors import ConfigError, WeirflowError
from .._interfaces import Storage
from ._options import check_item_function
from ._preprocess import Preprocessing, check_preprocessing


class FunctionStorage(Storage):
    """A storage whose ``save`` calls a function with the item.

    The function must make the item durable before returning, as ``save`` promises; it is
    called from several worker threads or processes at once if the stage has several workers.

    Args:
        fn: called as ``fn(item)``; its result is ignored (an ``async`` function is awaited).
        preprocessing: ``None``, ``"add_datetime"``, a function, or a list of these
            (``"overwrite"`` needs a storage that keeps items, so it is refused here).

    Example:
        >>> from weirflow.storages import FunctionStorage
        >>> kept = []
        >>> storage = FunctionStorage(kept.append, preprocessing=lambda item: item * 10)
        >>> storage.save_many([1, 2])
        >>> kept
        [10, 20]
    """

    def __init__(self, fn: Callable[[Any], Any], *, preprocessing: Any = None) -> None:
        context = place(type(self).__name__)
        check_item_function(fn, context, "a storage function")
        self.fn = fn
        self.preprocessing: Preprocessing = check_preprocessing(preprocessing, context)
        if self.preprocessing.overwrite:
            raise ConfigError(
                f"{context}: preprocessing 'overwrite' keeps only the latest item, which a "
                "function storage cannot do (it keeps nothing itself); remove 'overwrite', or "
                "use a 'json' storage"
            )

    def save(self, item: Any) -> None:
        """Call the function with the (preprocessed) item."""
        run_awaitable(self.fn(self.preprocessing.apply(item)))

    def load(self, **query: Any) -> Any:
        """Always raises: a function storage keeps nothing weirflow can read back."""
        raise WeirflowError(
            f"{self!r} cannot be loaded: a storage made from a function only passes items to "
            "it; give the pipeline a storage that keeps items ('json', 'jsonl', 'csv', 'sql', "
            "or a Storage subclass with a load method) to read them back"
        )

    def __repr__(self) -> str:
        name = getattr(self.fn, "__qualname__", None) or type(self.fn).__name__
        return f"FunctionStorage({name})"
