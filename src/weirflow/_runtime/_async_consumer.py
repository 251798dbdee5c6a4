"""The consumer side of ``async for`` over a stage: an async iterator that always closes its run.

An async generator would be the obvious way to write it, but leaving ``async for`` with
``break`` (or an exception in the loop's body) does not close an async generator: the event loop
finalises it later, in a task of its own, which ``asyncio.run`` may cancel on its way out, so
worker processes and threads outlived the loop and ``on_done`` ran seconds later or not at all.
:class:`AsyncValues` is a plain object instead:

* at the end of the stream, on an error and on :meth:`AsyncValues.aclose` it closes the run
  asynchronously (task workers awaited on the loop, threads and processes joined from an executor
  thread);
* dropped before that (``break``), it closes the run at once, in ``__del__``: the run is
  cancelled and its threads and processes are joined before the statement after ``break`` runs,
  so ``on_done`` has run for thread, process and sync workers. Task workers on the consumer's
  loop are cancelled then, and finish (``on_done`` included) the next time the loop runs them.
  Joining blocks the loop while the cancelled workers wind down; a worker stuck in user code is
  waited for at most the grace period, as in a plain ``for`` loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._batch import Batch, Element, as_tuple
from ._channel import Cancelled, Channel

if TYPE_CHECKING:
    from ._supervisor import Run


class AsyncValues(AsyncIterator[Any]):
    """Values (or ``Element``s with ``with_index``) of a run, for ``async for`` and ``await``."""

    def __init__(
        self, run: Run, maxsize: int, with_index: bool, limit: Callable[[Channel], int]
    ) -> None:
        self._run = run
        self._maxsize = maxsize
        self._with_index = with_index
        self._limit_of = limit
        self._limit = 1
        self._channel: Channel | None = None
        self._values: Iterator[Any] = iter(())
        self._closed = False

    def __aiter__(self) -> AsyncValues:
        return self

    async def __anext__(self) -> Any:
        while True:
            for value in self._values:
                return value
            if self._closed:
                raise StopAsyncIteration
            try:
                if self._channel is None:
                    self._channel = self._run.channel(self._maxsize)
                    self._limit = self._limit_of(self._channel)
                batch = await self._channel.aget(self._limit, hold=True)
            except Cancelled:
                batch = None
            except BaseException:
                await self.aclose()
                raise
            if batch is None:  # the end, or a failure: look once every worker is joined
                await self.aclose()
                if self._run.error is not None:
                    raise self._run.error
                raise StopAsyncIteration
            self._values = self._iterate(batch)

    def _iterate(self, batch: Batch) -> Iterator[Any]:
        if self._with_index:
            return (Element(as_tuple(i), v) for i, v in zip(batch.indices, batch.values))
        return iter(batch.values)

    async def aclose(self) -> None:
        """Stop the run (if it still runs) and wait for every one of its workers."""
        if self._closed:
            return
        self._closed = True
        self._values = iter(())
        await self._run.aclose()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            self._closed = True
            self._run.close()
