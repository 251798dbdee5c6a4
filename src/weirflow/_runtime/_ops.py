"""The operations a transform stage can run on a batch: map, filter, flat_map, each.

Each operation turns one input batch into output batches through ``ctx.emit``. ``map`` and
``filter`` are the two 1-to-1 kinds; ``flat_map`` (1-to-n, streaming) is the general one; ``each``
is a ``filter`` that keeps nothing. All of them are picklable (the function is the only state),
so the same objects run in threads, tasks and worker processes.

When the stage feeds an ``ordered`` stage (``ctx.track_order``), elements that leave no output
are reported as marks (see ``_batch``) so ``ordered`` never waits for them.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass
from itertools import compress
from typing import Any

from ._batch import DROPPED, Batch, Index, Mark, child_index
from ._emit import Emitter
from ._invoke import TIMED_OUT, Invoker


@dataclass
class OpContext:
    """What an operation needs from the worker running it."""

    invoker: Invoker
    emitter: Emitter
    track_order: bool


@dataclass(frozen=True)
class Operation:
    """Base class: ``f`` plus how to apply it to a batch."""

    f: Callable[..., Any]
    name: str = "map"
    batched = False  # True: ``f`` takes a whole batch; workers then take all that waits

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.f) or inspect.isasyncgenfunction(self.f)

    async def apply(self, batch: Batch, ctx: OpContext) -> None:
        raise NotImplementedError


def _dropped(indices: list[Index], keep: list[bool]) -> list[Mark]:
    return [(index, DROPPED) for index, kept in zip(indices, keep) if not kept]


def _with_marks(batch: Batch, extra: list[Mark]) -> list[Mark] | None:
    if batch.marks:
        return batch.marks + extra
    return extra or None


@dataclass(frozen=True)
class Map(Operation):
    """One output per element."""

    async def apply(self, batch: Batch, ctx: OpContext) -> None:
        results = await ctx.invoker.call_batch(batch)
        if ctx.invoker.timeout and TIMED_OUT in results:
            keep = [result is not TIMED_OUT for result in results]
            _report_timeouts(ctx.invoker, batch.indices, keep)
            marks = _with_marks(batch, _dropped(batch.indices, keep) if ctx.track_order else [])
            batch = Batch(list(compress(batch.indices, keep)), list(compress(results, keep)), marks)
            await ctx.emitter.emit(batch)
            return
        await ctx.emitter.emit(Batch(batch.indices, results, batch.marks))


@dataclass(frozen=True)
class MapBatch(Operation):
    """One call per batch: ``f(values, **resources)`` returns one output per value.

    For work that is cheaper in bulk (a storage writing one transaction per batch). Batches are
    sized by the worker like any other: one element at a time when the stage is idle, many when
    it is busy. ``timeout`` and ``element_index`` do not apply.
    """

    name: str = "map_batch"
    batched = True

    async def apply(self, batch: Batch, ctx: OpContext) -> None:
        if not batch.values:
            if batch.marks:
                await ctx.emitter.emit(batch)
            return
        results = self.f(batch.values, **ctx.invoker.kwargs)
        if inspect.isawaitable(results):
            results = await results
        results = list(results)
        if len(results) != len(batch.values):
            raise ValueError(
                f"{getattr(self.f, '__name__', self.f)!s} returned {len(results)} results for "
                f"{len(batch.values)} values; a batch function returns one result per value"
            )
        await ctx.emitter.emit(Batch(batch.indices, results, batch.marks))


@dataclass(frozen=True)
class Filter(Operation):
    """The elements for which ``f`` is true."""

    name: str = "filter"
    emits: bool = True

    async def apply(self, batch: Batch, ctx: OpContext) -> None:
        results = await ctx.invoker.call_batch(batch)
        if ctx.invoker.timeout and TIMED_OUT in results:
            _report_timeouts(ctx.invoker, batch.indices, [r is not TIMED_OUT for r in results])
        keep = [bool(r) and r is not TIMED_OUT and self.emits for r in results]
        marks = _with_marks(batch, _dropped(batch.indices, keep) if ctx.track_order else [])
        if not self.emits:
            if marks:
                await ctx.emitter.emit(Batch([], [], marks))
            return
        values = list(compress(batch.values, keep))
        if values or marks:
            await ctx.emitter.emit(Batch(list(compress(batch.indices, keep)), values, marks))


@dataclass(frozen=True)
class FlatMap(Operation):
    """Any number of outputs per element, streamed as ``f``'s iterable produces them."""

    name: str = "flat_map"

    async def apply(self, batch: Batch, ctx: OpContext) -> None:
        invoker, emitter = ctx.invoker, ctx.emitter
        marks: list[Mark] = list(batch.marks) if batch.marks else []
        # a plain call is made here, not in a coroutine of the invoker's per element
        direct, f, kwargs = invoker.plain, invoker.f, invoker.kwargs
        for index, value in zip(batch.indices, batch.values):
            if direct:
                produced = f(value, **kwargs) if kwargs else f(value)
            else:
                produced = await invoker.call_one(value, index, collect=bool(invoker.timeout))
            if produced is TIMED_OUT:
                invoker.skipped(index)
                marks.append((index, DROPPED))
                continue
            if produced is None or produced == ():  # nothing came of it (a dropped item)
                count = 0
            elif type(produced) is not tuple and isinstance(produced, AsyncIterable):
                count = await emitter.async_iterable(produced, _children_of(index))
            else:
                count = await emitter.iterable(produced, _children_of(index))
            marks.append((index, count))
        if ctx.track_order and marks:
            await emitter.emit(Batch([], [], marks))


def _children_of(parent: Index) -> Callable[[int], Index]:
    return lambda position: child_index(parent, position)


def _report_timeouts(invoker: Invoker, indices: list[Index], kept: list[bool]) -> None:
    for index, ok in zip(indices, kept):
        if not ok:
            invoker.skipped(index)
