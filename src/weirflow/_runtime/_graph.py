"""The shape of a stage graph: what the supervisor reads off it before running anything.

Walks of the frozen graph (how many consumers each stage has, which stages feed an ``ordered``
and must report dropped elements) and the pulled combinators that ``ordered`` and ``concat``
become when they run in their consumer's thread (re-sequencing, chaining with re-indexed
elements). Nothing here starts a worker: :mod:`._supervisor` builds and runs the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ._batch import Batch
from ._ordered import OrderBuffer
from ._ports import Mapper
from ._spec import StageSpec


def ordered_batches(upstream: Iterator[Batch], keep_marks: bool) -> Iterator[Batch]:
    buffer = OrderBuffer()
    try:
        for batch in upstream:
            buffer.add(batch)
            ready = buffer.ready()
            if keep_marks and batch.marks:
                ready.marks = batch.marks
            if ready.values or ready.marks:
                yield ready
        rest = buffer.rest()
        if rest.values:
            yield rest
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()


def chain(parts: list[Iterator[Batch]]) -> Iterator[Batch]:
    try:
        for position, part in enumerate(parts):
            mapper = concat_mapper(position)
            for batch in part:
                yield mapper(batch)
    finally:
        for part in parts:
            close = getattr(part, "close", None)
            if close is not None:
                close()


def concat_mapper(position: int) -> Callable[[Batch], Batch]:
    """Re-index the ``position``-th input of a concat: ``(i, ...)`` → ``(i, position, ...)``."""

    def reindex(index: Any) -> Any:
        if isinstance(index, int):
            return (index, position)
        return (index[0], position, *index[1:])

    def mapper(batch: Batch) -> Batch:
        marks = [(reindex(i), n) for i, n in batch.marks] if batch.marks else None
        return Batch([reindex(i) for i in batch.indices], batch.values, marks)

    return mapper


def compose(outer: Mapper, inner: Callable[[Batch], Batch]) -> Callable[[Batch], Batch]:
    if outer is None:
        return inner
    return lambda batch: outer(inner(batch))


def count_consumers(final: StageSpec) -> dict[StageSpec, int]:
    counts: dict[StageSpec, int] = {}
    seen: set[int] = set()
    stack = [final]
    while stack:
        spec = stack.pop()
        if id(spec) in seen:
            continue
        seen.add(id(spec))
        for upstream in spec.upstreams:
            counts[upstream] = counts.get(upstream, 0) + 1
            stack.append(upstream)
    return counts


def order_tracking(final: StageSpec) -> dict[StageSpec, bool]:
    """Which stages feed an ``ordered`` downstream (and must report dropped elements)."""
    tracking: dict[StageSpec, bool] = {}
    stack = [(final, False)]
    while stack:
        spec, tracked = stack.pop()
        if spec in tracking and (tracking[spec] or not tracked):
            continue
        tracking[spec] = tracked
        below = True if spec.role == "ordered" else tracked
        stack.extend((upstream, below) for upstream in spec.upstreams)
    return tracking
