"""Sending functions by value to worker processes, with their file names intact.

cloudpickle serialises functions that cannot be imported by name (lambdas, closures, anything
from ``__main__``) by value: their code objects travel with them. Since cloudpickle 3.1.3 those
code objects arrive with ``co_filename = "<dynamic-code>"``, so a traceback from a worker process
would show neither the user's file nor the source line. :func:`dumps_by_value` is cloudpickle with
one change: a code object travels as ``marshal`` data, which keeps every field, the file name
included. Worker processes run the same interpreter as their parent (that is what ``marshal``
needs); a code object ``marshal`` cannot write (constants built at run time) falls back to
cloudpickle's own reduction.

Example:
    >>> import pickle
    >>> square = lambda x: x * x
    >>> copy = pickle.loads(dumps_by_value(square))
    >>> copy(7), copy.__code__.co_filename == square.__code__.co_filename
    (49, True)
"""

from __future__ import annotations

import io
import marshal
import pickle
import types
from typing import Any

import cloudpickle

PROTOCOL = pickle.HIGHEST_PROTOCOL


class _FileNamePreservingPickler(cloudpickle.Pickler):  # type: ignore[misc]
    """cloudpickle's pickler, sending code objects with ``marshal`` (their file names kept)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.CodeType:
            try:
                return marshal.loads, (marshal.dumps(obj),)
            except ValueError:  # a constant marshal cannot write: cloudpickle's reduction
                pass
        return super().reducer_override(obj)


def dumps_by_value(obj: Any) -> bytes:
    """Pickle ``obj`` with cloudpickle, keeping the file names of the code it carries."""
    buffer = io.BytesIO()
    _FileNamePreservingPickler(buffer, protocol=PROTOCOL).dump(obj)
    return buffer.getvalue()
