"""The stage graph as data: immutable specs that say what to run, never how.

A :class:`StageSpec` is one node: a *source* (an iterable), a *transform* (an operation run by
``workers`` workers of one ``kind``), a *concat* (several upstreams merged) or an *ordered*
(re-sequencing). Specs are frozen and compared by identity, so one spec can feed several
downstream stages (its output is then broadcast to each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._inject import Signature
from .executors import KINDS, Kind, executor_traits

if TYPE_CHECKING:
    from ._ops import Operation

Role = Literal["source", "transform", "concat", "ordered"]

__all__ = ["KINDS", "Kind", "Role", "StageSpec", "min_capacity"]


@dataclass(frozen=True, eq=False)
class StageSpec:
    """One node of the stage graph."""

    name: str
    kind: Kind
    role: Role
    upstreams: tuple[StageSpec, ...] = ()
    operation: Operation | None = None
    iterable: Any = None
    use_thread: bool = True
    workers: int = 1
    maxsize: int = 0
    timeout: float = 0
    on_start: Callable[..., Any] | None = None
    on_done: Callable[..., Any] | None = None
    signature: Signature | None = None
    on_start_signature: Signature | None = None
    on_done_signature: Signature | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    pipeline: str | None = None  # the flow's pipeline it runs for: its workers' log records say so

    @property
    def is_push(self) -> bool:
        """Workers of their own (threads, tasks, processes) rather than pulled by the consumer."""
        return self.role == "transform" and not executor_traits(self.kind).pulled

    def __repr__(self) -> str:
        return f"<stage {self.name}>"


def min_capacity(*sizes: int) -> int:
    """The tightest of several ``maxsize`` values, where 0 means unbounded."""
    bounded = [size for size in sizes if size > 0]
    return min(bounded) if bounded else 0
