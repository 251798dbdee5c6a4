"""The ``sync`` back end: no threads; a stage is a generator stepped by its consumer.

The worker loop's output port suspends the loop's coroutine at each batch and hands the batch to
the consumer (``drive_pull``), so a chain of sync stages runs lazily in the consumer's thread,
one batch at a time, exactly like nested generators.
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterator
from typing import Any

from .._batch import Batch
from .._ports import HandoffOutput, PullInput
from .._worker import drive_pull


class SyncExecutor:
    """Runs a worker inline, pulled by whoever iterates its output."""

    kind = "sync"

    def input_port(self, batches: Iterator[Batch]) -> PullInput:
        return PullInput(batches)

    def output_port(self, capacity: int = 0) -> HandoffOutput:
        """An output handing batches of at most ``capacity`` elements (0 = no bound)."""
        return HandoffOutput(capacity)

    def pull(self, worker: Coroutine[Any, Any, None]) -> Iterator[Batch]:
        return drive_pull(worker)
