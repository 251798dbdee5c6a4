"""Stages whose workers are threads: for blocking I/O (HTTP calls, database queries, files).

Example:
    >>> import weirflow as wf
    >>> stage = wf.thread.map(lambda x: x + 1, range(10), workers=3, maxsize=4)
    >>> stage = wf.thread.filter(lambda x: x > 3, stage, workers=2)
    >>> sorted(stage)
    [4, 5, 6, 7, 8, 9, 10]
"""

from __future__ import annotations

from ._api import Operators
from ._runtime._batch import Element
from ._runtime._inject import StageStatus, WorkerInfo
from ._stage import Partial, Stage

_operators = Operators("thread")

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
