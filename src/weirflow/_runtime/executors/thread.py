"""The ``thread`` back end: each worker is a thread that runs the worker loop to completion."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, ClassVar

from ..._threads import make_thread
from .._channel import Cancelled, Channel
from .._ports import BlockingInput, BlockingOutput, Mapper
from .._spec import StageSpec
from .._worker import StageRuntime, drive_blocking, run_worker
from ._protocol import Report, Traits, join_in_thread

if TYPE_CHECKING:
    from .task import TaskExecutor


class ThreadExecutor:
    """Starts workers as threads, reports their failures, and joins them."""

    kind = "thread"
    traits: ClassVar[Traits] = Traits()

    def __init__(self, report: Report, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._report = report
        self._threads: list[threading.Thread] = []

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        start_workers(self, spec, inp, targets, track_order)

    def input_port(self, channel: Channel, share: int) -> BlockingInput:
        return BlockingInput(channel, share)

    def output_port(self, targets: list[tuple[Channel, Mapper]]) -> BlockingOutput:
        return BlockingOutput(targets)

    def start(self, name: str, worker: Coroutine[Any, Any, None]) -> None:
        thread = make_thread(self._guarded, worker, name=name)
        self._threads.append(thread)
        thread.start()

    def _guarded(self, worker: Coroutine[Any, Any, None]) -> None:
        try:
            drive_blocking(worker)
        except Cancelled:
            pass
        except BaseException as error:  # handed to the supervisor, raised by the consumer
            self._report(error)

    def cancel(self) -> None:
        """Threads stop through their channels being cancelled; nothing is raised into them."""

    def join(self, deadline: float) -> list[str]:
        """Wait for every thread until ``deadline`` (monotonic); return those still running."""
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        return [
            t.name for t in self._threads if t.is_alive() and t is not threading.current_thread()
        ]

    async def ajoin(self, deadline: float) -> list[str]:
        return await join_in_thread(self.join, deadline)


def start_workers(
    executor: ThreadExecutor | TaskExecutor,
    spec: StageSpec,
    inp: Channel,
    targets: list[tuple[Channel, Mapper]],
    track_order: bool,
) -> None:
    """Start ``spec.workers`` copies of the shared worker loop on ``executor`` (in this process)."""
    runtime = StageRuntime(spec, track_order)
    port = executor.input_port(inp, spec.workers)
    for index in range(spec.workers):
        out = executor.output_port(targets)  # one per worker: it keeps reservations
        executor.start(f"{spec.name}[{index}]", run_worker(runtime, index, port, out))


executor_class = ThreadExecutor
