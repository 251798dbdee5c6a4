"""Stages that run in the consumer's thread, lazily, one batch at a time: no concurrency.

Useful for cheap steps, for debugging a pipeline, and as the reference behaviour of the others.
``workers`` is accepted for compatibility and ignored (a sync stage has one worker).

Example:
    >>> import weirflow as wf
    >>> list(wf.sync.map(str.upper, ["a", "b"]))
    ['A', 'B']
"""

from __future__ import annotations

from ._api import Operators
from ._runtime._batch import Element
from ._runtime._inject import StageStatus, WorkerInfo
from ._stage import Partial, Stage

_operators = Operators("sync")

map = _operators.map
filter = _operators.filter
flat_map = _operators.flat_map
each = _operators.each
ordered = _operators.ordered
concat = _operators.concat
from_iterable = _operators.from_iterable
to_iterable = _operators.to_iterable
run = _operators.run

__all__ = [
    "Element",
    "Partial",
    "Stage",
    "StageStatus",
    "WorkerInfo",
    "concat",
    "each",
    "filter",
    "flat_map",
    "from_iterable",
    "map",
    "ordered",
    "run",
    "to_iterable",
]
