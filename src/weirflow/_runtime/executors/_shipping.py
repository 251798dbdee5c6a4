"""What the ``process`` and ``ray`` back ends send to workers in other processes, pickled.

The stage travels once, by value (:func:`stage_bytes`: cloudpickle through ``_pickling``, so
lambdas and closures from ``__main__`` work), without its upstreams and its iterable, which
stay in this process; elements travel with pickle, in batches (:func:`element_bytes`). What
cannot be pickled is a :class:`~weirflow.SerializationError` naming the stage and where it was
going.
"""

from __future__ import annotations

import dataclasses
import pickle
from typing import Any

from ..._errors import SerializationError
from .._pickling import dumps_by_value
from .._spec import StageSpec


def stage_bytes(spec: StageSpec, receivers: str) -> bytes:
    """The stage's function and hooks for ``receivers`` (e.g. ``"the worker processes"``)."""
    child_spec = dataclasses.replace(spec, upstreams=(), iterable=None)
    try:
        return dumps_by_value(child_spec)
    except Exception as error:
        raise SerializationError(
            f"stage {spec.name!r}: the stage function or its hooks cannot be pickled for "
            f"{receivers}: {error}"
        ) from error


def element_bytes(payload: Any, stage: str, receiver: str) -> bytes:
    """``payload`` (elements of stage ``stage``) pickled to reach ``receiver``.

    Example:
        >>> import pickle
        >>> pickle.loads(element_bytes(("batch", [1, 2]), "square", "the worker process"))
        ('batch', [1, 2])
        >>> try:
        ...     element_bytes(lambda: 1, "square", "the worker process")
        ... except SerializationError as error:
        ...     print(str(error)[:64])
        stage 'square': an element cannot be pickled to reach the worker
    """
    try:
        return pickle.dumps(payload)
    except (pickle.PicklingError, TypeError, AttributeError) as error:
        raise SerializationError(
            f"stage {stage!r}: an element cannot be pickled to reach {receiver}: {error}"
        ) from error
