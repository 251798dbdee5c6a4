"""What every back end is: the :class:`Executor` protocol and the :class:`Traits` it declares.

An executor starts the workers of one stage (``start_stage``), stops them (``cancel``) and waits
for them, from a thread (``join``) or on the consumer's event loop (``ajoin``). Its frozen
:class:`Traits` say how its workers behave, so the supervisor, the public API and the flows ask
``traits.awaits`` or ``traits.crosses_process`` instead of comparing kind names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

if TYPE_CHECKING:
    from .._channel import Channel
    from .._ports import Mapper
    from .._spec import StageSpec

Report = Callable[[BaseException], None]


@dataclass(frozen=True)
class Traits:
    """How a back end's workers behave.

    Attributes:
        pulled: No workers of its own: a stage is a generator stepped by its consumer.
        awaits: Workers run on an event loop and may ``await`` (coroutine functions allowed).
        shares_memory: Workers see the caller's objects (no pickling on the way in or out).
        crosses_process: Workers live in other processes (functions and items are pickled).
        max_workers: The largest ``workers=`` a stage of this kind accepts.
    """

    pulled: bool = False
    awaits: bool = False
    shares_memory: bool = True
    crosses_process: bool = False
    max_workers: int = 4_096


class Executor(Protocol):
    """A back end: starts a stage's workers and owns them until they are joined."""

    traits: ClassVar[Traits]

    def __init__(self, report: Report, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``report`` hears each worker's failure; ``loop`` is the consumer's, if it has one."""

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        """Start ``spec.workers`` workers reading ``inp`` and writing into every target."""

    def cancel(self) -> None:
        """Ask every worker to stop (channels are cancelled by the supervisor)."""

    def join(self, deadline: float) -> list[str]:
        """Wait until ``deadline`` (monotonic) from a thread; the names still running."""
        ...

    async def ajoin(self, deadline: float) -> list[str]:
        """:meth:`join` on the consumer's event loop."""
        ...


class AsyncSourceStarter(Protocol):
    """What a back end whose ``traits.awaits`` also does: run an async source on its loop."""

    def start_source(self, spec: StageSpec, targets: list[tuple[Channel, Mapper]]) -> None:
        """Start the source ``spec`` (an async iterable) emitting into every target."""


async def join_in_thread(join: Callable[[float], list[str]], deadline: float) -> list[str]:
    """``ajoin`` for a back end whose workers are joined by blocking: ``join`` in a thread."""
    return await asyncio.get_running_loop().run_in_executor(None, join, deadline)
