"""Back ends: how workers of each kind are started, fed, cancelled and joined; the kind registry.

Each back end is one module here, ``executors/<kind>.py``, defining ``executor_class``: a class
implementing :class:`~._protocol.Executor` (``start_stage``, ``cancel``, ``join``, ``ajoin``)
whose ``traits`` say how its workers behave. The worker loop itself is shared
(``_worker.run_worker``). ``Kind`` below is the registry: a kind is found by name, in one place,
with ``import_module`` (as anyio finds its back ends), so adding a back end is its module plus its
name in ``Kind``. Nobody compares kind names: they ask :func:`executor_traits`.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import Literal, get_args

from ._protocol import AsyncSourceStarter, Executor, Report, Traits

__all__ = [
    "KINDS",
    "AsyncSourceStarter",
    "Executor",
    "Kind",
    "Report",
    "Traits",
    "executor_traits",
    "get_executor_class",
]

Kind = Literal["sync", "thread", "task", "process", "ray"]
KINDS: tuple[Kind, ...] = get_args(Kind)


@cache
def get_executor_class(kind: str) -> type[Executor]:
    """The executor class of ``kind``, imported from ``executors/<kind>.py`` on first use."""
    if kind not in KINDS:
        raise LookupError(f"no worker kind {kind!r}; the kinds are {', '.join(KINDS)}")
    cls: type[Executor] = import_module(f"{__name__}.{kind}").executor_class
    return cls


def executor_traits(kind: str) -> Traits:
    """The traits of ``kind``'s back end (see :class:`Traits`)."""
    return get_executor_class(kind).traits
