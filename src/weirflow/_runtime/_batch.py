"""Batches: the unit that moves between workers.

A batch is two parallel lists (element indices and values) plus optional *marks*, which carry
ordering information for ``ordered`` without carrying values: ``(index, -1)`` says the element
at ``index`` was dropped (a filter said no, a timeout skipped it), ``(index, k)`` says the
element at ``index`` expanded into exactly ``k`` children (a ``flat_map`` finished it).

Indices are source positions: a plain ``int`` at the top level (cheap), a tuple below a
``flat_map`` (``(3, 0)``, ``(3, 1)``, ...). ``as_tuple`` gives the public form.
"""

from __future__ import annotations

from typing import Any, NamedTuple

Index = int | tuple[int, ...]
Mark = tuple[Index, int]

DROPPED = -1


class Element(NamedTuple):
    """A value with its position in the source, as yielded by ``to_iterable(return_index=True)``.

    Example:
        >>> import weirflow as wf
        >>> list(wf.sync.to_iterable([10, 20], return_index=True))
        [Element(index=(0,), value=10), Element(index=(1,), value=20)]
    """

    index: tuple[int, ...]  # type: ignore[assignment]  # pypeln's field name
    value: Any


class Batch:
    """Values with their indices, and the marks that travel with them."""

    __slots__ = ("indices", "marks", "values")

    def __init__(
        self, indices: list[Index], values: list[Any], marks: list[Mark] | None = None
    ) -> None:
        self.indices = indices
        self.values = values
        self.marks = marks

    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        return f"Batch(indices={self.indices!r}, values={self.values!r}, marks={self.marks!r})"


def as_tuple(index: Index) -> tuple[int, ...]:
    """The public, tuple form of an index."""
    return (index,) if isinstance(index, int) else index


def child_index(parent: Index, position: int) -> tuple[int, ...]:
    """The index of the ``position``-th element a ``flat_map`` made from ``parent``."""
    return (parent, position) if isinstance(parent, int) else (*parent, position)
