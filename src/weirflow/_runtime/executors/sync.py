"""The ``sync`` back end: no threads; a stage is a generator stepped by its consumer.

The worker loop's output port suspends the loop's coroutine at each batch and hands the batch to
the consumer (``drive_pull``), so a chain of sync stages runs lazily in the consumer's thread,
one batch at a time, exactly like nested generators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from typing import Any, ClassVar

from .._batch import Batch
from .._channel import Channel
from .._ports import HandoffOutput, Mapper, PullInput
from .._spec import StageSpec
from .._worker import drive_pull
from ._protocol import Report, Traits


class SyncExecutor:
    """Runs a worker inline, pulled by whoever iterates its output."""

    kind = "sync"
    traits: ClassVar[Traits] = Traits(pulled=True)

    def __init__(
        self, report: Report | None = None, loop: asyncio.AbstractEventLoop | None = None
    ) -> None:
        pass

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        """Pulled stages have no workers to start: the supervisor steps them (:meth:`pull`)."""
        raise TypeError(f"stage {spec.name!r}: a pulled stage has no workers to start")

    def cancel(self) -> None:
        """Nothing runs unless its consumer steps it."""

    def join(self, deadline: float) -> list[str]:
        return []

    async def ajoin(self, deadline: float) -> list[str]:
        return []

    def input_port(self, batches: Iterator[Batch]) -> PullInput:
        return PullInput(batches)

    def output_port(self, capacity: int = 0) -> HandoffOutput:
        """An output handing batches of at most ``capacity`` elements (0 = no bound)."""
        return HandoffOutput(capacity)

    def pull(self, worker: Coroutine[Any, Any, None]) -> Iterator[Batch]:
        return drive_pull(worker)


executor_class = SyncExecutor
