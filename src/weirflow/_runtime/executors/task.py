"""The ``task`` back end: each worker is an asyncio task.

Workers run on the consumer's event loop when the stage is consumed with ``async for`` or
``await``; otherwise on an event loop of the run's own, in one thread, started when the first
task worker is and closed with the run. On Linux that loop's timers fire on time (see
:class:`_PreciseEpollSelector`), unless an event loop policy of the user's says which loop to use.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import select
import selectors
import sys
import threading
import time
from collections.abc import Coroutine
from typing import Any, ClassVar

from ..._threads import make_thread
from .._channel import Cancelled, Channel
from .._ports import AsyncInput, AsyncOutput, Mapper
from .._spec import StageSpec
from .._worker import run_source
from ._protocol import Report, Traits
from .thread import start_workers


class TaskExecutor:
    """Starts workers as asyncio tasks, reports their failures, cancels and joins them."""

    kind = "task"
    traits: ClassVar[Traits] = Traits(awaits=True, max_workers=100_000)

    def __init__(self, report: Report, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._report = report
        self._loop = loop
        self._own_loop = loop is None
        self._thread: threading.Thread | None = None
        self._futures: list[concurrent.futures.Future[None]] = []
        self._tasks: list[asyncio.Task[None]] = []

    def start_stage(
        self,
        spec: StageSpec,
        inp: Channel,
        targets: list[tuple[Channel, Mapper]],
        track_order: bool,
    ) -> None:
        start_workers(self, spec, inp, targets, track_order)

    def start_source(self, spec: StageSpec, targets: list[tuple[Channel, Mapper]]) -> None:
        """Run an async source as a task on this executor's loop, beside the stage's workers."""
        self.start(spec.name, run_source(spec, self.output_port(targets)))

    def input_port(self, channel: Channel, share: int) -> AsyncInput:
        return AsyncInput(channel, share)

    def output_port(self, targets: list[tuple[Channel, Mapper]]) -> AsyncOutput:
        return AsyncOutput(targets)

    def start(self, name: str, worker: Coroutine[Any, Any, None]) -> None:
        if self._own_loop:
            loop = self._ensure_loop()
            self._futures.append(asyncio.run_coroutine_threadsafe(self._guarded(worker), loop))
        else:
            assert self._loop is not None
            self._tasks.append(self._loop.create_task(self._guarded(worker), name=name))

    async def _guarded(self, worker: Coroutine[Any, Any, None]) -> None:
        try:
            await worker
        except (Cancelled, asyncio.CancelledError):
            pass
        except BaseException as error:  # handed to the supervisor, raised by the consumer
            self._report(error)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = _new_loop()
            self._thread = make_thread(self._loop.run_forever, name="weirflow task loop")
            self._thread.start()
        return self._loop

    def cancel(self) -> None:
        for future in self._futures:
            future.cancel()
        loop = self._loop
        if self._tasks and loop is not None and not loop.is_closed():
            for task in self._tasks:
                loop.call_soon_threadsafe(task.cancel)

    def join(self, deadline: float) -> list[str]:
        """Wait (from another thread) for the run's own loop's tasks, then close that loop."""
        if not self._own_loop:
            return []
        _, pending = concurrent.futures.wait(
            self._futures, timeout=max(0.0, deadline - time.monotonic())
        )
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(max(0.0, deadline - time.monotonic()))
            if not self._thread.is_alive():
                self._loop.run_until_complete(self._loop.shutdown_asyncgens())
                self._loop.close()
        return [f"task worker {i}" for i, _ in enumerate(pending)]

    async def ajoin(self, deadline: float) -> list[str]:
        """Wait (on the consumer's loop) for tasks started there."""
        if self._own_loop:
            return await asyncio.get_running_loop().run_in_executor(None, self.join, deadline)
        if not self._tasks:
            return []
        _, pending = await asyncio.wait(self._tasks, timeout=max(0.0, deadline - time.monotonic()))
        return [task.get_name() for task in pending]


executor_class = TaskExecutor

_SELECT_FD_LIMIT = 1024  # select() takes file descriptors below FD_SETSIZE only


class _PreciseEpollSelector(selectors.EpollSelector):
    """An epoll selector whose timed waits end on time, for the run's own event loop.

    ``epoll_wait`` counts its timeout in whole milliseconds, rounded up, so every timer on an
    asyncio loop fires up to 1 ms late (0.5 ms on average): a task stage that sleeps 10 ms per
    element lost ~5% of its throughput to that alone. This waits on the epoll descriptor itself
    with ``select()``, whose timeout has microseconds, then collects the events without waiting.
    Readiness of any registered descriptor makes the epoll descriptor readable, so I/O events
    still end the wait at once.
    """

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is not None and timeout > 0:
            fd = self.fileno()
            if fd < _SELECT_FD_LIMIT:
                select.select([fd], [], [], timeout)  # retried on EINTR (PEP 475)
                timeout = 0
        return super().select(timeout)


def _new_loop() -> asyncio.AbstractEventLoop:
    """The run's own event loop: precise timers on Linux, unless a custom policy is in place.

    A custom event loop policy (uvloop, say) is honoured: its loop is used as it is. Policies are
    deprecated from Python 3.14 on and not consulted there.
    """
    if sys.platform != "linux" or not hasattr(selectors, "EpollSelector"):
        return asyncio.new_event_loop()
    if sys.version_info < (3, 14):
        policy = asyncio.get_event_loop_policy()
        if type(policy) is not asyncio.DefaultEventLoopPolicy:
            return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(_PreciseEpollSelector())
