"""The ``thread`` back end: each worker is a thread that runs the worker loop to completion."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ..._threads import make_thread
from .._channel import Cancelled, Channel
from .._ports import BlockingInput, BlockingOutput, Mapper
from .._worker import drive_blocking

Report = Callable[[BaseException], None]


class ThreadExecutor:
    """Starts workers as threads, reports their failures, and joins them."""

    kind = "thread"

    def __init__(self, report: Report) -> None:
        self._report = report
        self._threads: list[threading.Thread] = []

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
