"""Stages whose workers are asyncio tasks: for asynchronous I/O with ``async def`` functions.

Iterated from ordinary code, the tasks run on an event loop of the run's own; consumed with
``async for`` or ``await stage`` inside a running loop, they run on that loop.

Example:
    >>> import asyncio, weirflow as wf
    >>> async def add1(x):
    ...     await asyncio.sleep(0)
    ...     return x + 1
    >>> sorted(wf.task.map(add1, range(5), workers=5))
    [1, 2, 3, 4, 5]
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

from ._api import UNDEFINED, Operators
from ._runtime._batch import Element
from ._runtime._inject import StageStatus, WorkerInfo
from ._runtime._supervisor import Run, aiterate_values
from ._stage import Partial, Stage

_operators = Operators("task")

map = _operators.map
filter = _operators.filter
flat_map = _operators.flat_map
each = _operators.each
ordered = _operators.ordered
concat = _operators.concat
from_iterable = _operators.from_iterable
to_iterable = _operators.to_iterable
run = _operators.run


def to_async_iterable(
    stage: Any = UNDEFINED, maxsize: int = 0, return_index: bool = False
) -> AsyncIterator[Any] | Partial[AsyncIterator[Any]]:
    """An async iterator over the stage's elements, run on the current event loop.

    Example:
        >>> import asyncio, weirflow as wf
        >>> async def main():
        ...     return [x async for x in wf.task.to_async_iterable(wf.task.map(abs, [-1]))]
        >>> asyncio.run(main())
        [1]
    """
    if stage is UNDEFINED:
        return Partial(
            lambda s: cast(AsyncIterator[Any], to_async_iterable(s, maxsize, return_index))
        )
    spec = _operators._to_spec(stage, maxsize, "task.to_async_iterable")
    run = Run(spec, loop=asyncio.get_running_loop())
    return aiterate_values(run, maxsize, with_index=return_index)


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
    "to_async_iterable",
    "to_iterable",
]
