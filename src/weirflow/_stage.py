"""``Stage``: a lazy, re-iterable handle on a stage graph; ``Partial``: a stage missing its input.

Nothing runs when a stage is created. Iterating it (``for``, ``list``, ``async for``, ``await``)
starts a fresh run of the whole graph behind it and stops it when the iteration ends, fails or is
abandoned, so a stage can be iterated again and every run cleans up after itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, Generic, TypeVar

from ._runtime._spec import StageSpec
from ._runtime._supervisor import Run, aiterate_values, iterate_values

T = TypeVar("T")
R = TypeVar("R")


class Stage(Generic[T]):
    """The output of a stage: iterate it, pipe it into another stage, or ``await`` it.

    Example:
        >>> import weirflow as wf
        >>> stage = wf.thread.map(lambda x: x * 2, [1, 2, 3], workers=2)
        >>> sorted(stage)
        [2, 4, 6]
    """

    __slots__ = ("_spec",)

    def __init__(self, spec: StageSpec) -> None:
        self._spec = spec

    @property
    def spec(self) -> StageSpec:
        """The immutable description of this stage."""
        return self._spec

    @property
    def name(self) -> str:
        return self._spec.name

    def __iter__(self) -> Iterator[T]:
        return iterate_values(Run(self._spec), self._spec.maxsize, with_index=False)

    def __aiter__(self) -> AsyncIterator[T]:
        run = Run(self._spec, loop=asyncio.get_running_loop())
        return aiterate_values(run, self._spec.maxsize, with_index=False)

    async def _collect(self) -> list[T]:
        return [value async for value in self]

    def __await__(self) -> Generator[Any, None, list[T]]:
        return self._collect().__await__()

    def __or__(self, consumer: Callable[[Stage[T]], R]) -> R:
        return consumer(self)

    def __repr__(self) -> str:
        return f"<Stage {self._spec.name}>"


class Partial(Generic[R]):
    """A stage waiting for its input: call it or pipe into it (``data | partial``).

    Example:
        >>> import weirflow as wf
        >>> double = wf.sync.map(lambda x: x * 2)
        >>> list([1, 2] | double)
        [2, 4]
    """

    __slots__ = ("_make",)

    def __init__(self, make: Callable[[Any], R]) -> None:
        self._make = make

    def __call__(self, stage: Any) -> R:
        return self._make(stage)

    def __ror__(self, stage: Any) -> R:
        return self._make(stage)

    def __or__(self, stage: Any) -> R:
        return self._make(stage)
