"""Stages whose workers are processes: for CPU-heavy work, in parallel across cores.

Functions, lambdas and closures (also those defined in ``__main__`` or a notebook) are sent to
the workers with cloudpickle; elements and results cross in batches sized to the work, so cheap
functions on small items are not drowned in inter-process overhead. ``on_start`` and ``on_done``
run inside each worker process. Workers start with ``forkserver`` by default (``spawn`` where
that is missing); :func:`set_start_method` (or ``WEIRFLOW_START_METHOD``) changes it.

Example:
    >>> import weirflow as wf
    >>> sorted(wf.process.map(lambda x: x * x, range(6), workers=2))
    [0, 1, 4, 9, 16, 25]
"""

from __future__ import annotations

from ._api import Operators
from ._runtime._batch import Element
from ._runtime._inject import StageStatus, WorkerInfo
from ._runtime.executors.process import get_start_method, set_start_method
from ._stage import Partial, Stage

_operators = Operators("process")

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
    "get_start_method",
    "map",
    "ordered",
    "run",
    "set_start_method",
    "to_iterable",
]
