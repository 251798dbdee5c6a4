"""Calling the user's function for a worker: injected arguments, async functions, timeouts.

An :class:`Invoker` is built once per worker. It knows whether ``f`` wants ``element_index``,
which resources to pass, whether results must be awaited, and the per-element ``timeout``.
An element whose call exceeds the timeout is skipped (pypeln's semantics) and reported through
the ``weirflow`` logger; in blocking workers the call runs on a helper thread that is abandoned
(not killed) when it overruns, so the worker carries on with the next element at once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import AsyncIterable, Callable
from typing import Any

from .._threads import make_thread
from ._batch import Batch, Index, as_tuple
from ._stats import TIMEOUTS, StageCounters

logger = logging.getLogger("weirflow")


class _TimedOut:
    def __repr__(self) -> str:
        return "TIMED_OUT"


TIMED_OUT: Any = _TimedOut()


class _HelperThread:
    """Runs calls for one worker so the worker can stop waiting on a call that overruns."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._request: tuple[Callable[[], Any], threading.Event, list[Any]] | None = None
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[[], Any], timeout: float) -> Any:
        done = threading.Event()
        box: list[Any] = []
        with self._ready:
            if self._thread is None:
                self._thread = make_thread(self._serve, name=self._name)
                self._thread.start()
            self._request = (fn, done, box)
            self._ready.notify()
        if not done.wait(timeout):
            with self._ready:  # abandon this thread: it exits after the call returns
                self._thread = None
                self._ready.notify_all()
            return TIMED_OUT
        ok, value = box
        if ok:
            return value
        raise value

    def _serve(self) -> None:
        me = threading.current_thread()
        while True:
            with self._ready:
                while self._request is None and self._thread is me:
                    self._ready.wait()
                if self._thread is not me:
                    return
                request = self._request
                self._request = None
            assert request is not None
            fn, done, box = request
            try:
                box.extend((True, fn()))
            except BaseException as error:  # handed to the waiting worker
                box.extend((False, error))
            done.set()

    def close(self) -> None:
        with self._ready:
            self._thread = None
            self._ready.notify_all()


class Invoker:
    """Calls ``f`` on the elements of a batch with everything the worker must add."""

    def __init__(
        self,
        f: Callable[..., Any],
        kwargs: dict[str, Any],
        wants_index: bool,
        timeout: float,
        awaits: bool,
        stage: str,
    ) -> None:
        self.f = f
        self.kwargs = kwargs
        self.wants_index = wants_index
        self.timeout = timeout
        self.awaits = awaits
        self.stage = stage
        self._helper = _HelperThread(f"{stage} timeout helper") if timeout and not awaits else None
        # call_one is then only ``f(value, **kwargs)``: a caller may make that call itself
        self.plain = not (awaits or timeout or wants_index)
        self.counted: tuple[StageCounters, int] | None = None  # counters and worker row

    def close(self) -> None:
        if self._helper is not None:
            self._helper.close()

    def skipped(self, index: Index) -> None:
        if self.counted is not None:
            self.counted[0].add(self.counted[1], TIMEOUTS)
        logger.warning(
            "stage %r: element %s timed out after %ss and was skipped",
            self.stage,
            as_tuple(index),
            self.timeout,
        )

    async def call_batch(self, batch: Batch) -> list[Any]:
        """``f`` applied to every value; ``TIMED_OUT`` where a call overran its timeout."""
        f, kwargs, values = self.f, self.kwargs, batch.values
        if not self.awaits and not self.timeout:
            if self.wants_index:
                return [
                    f(v, element_index=as_tuple(i), **kwargs) for i, v in zip(batch.indices, values)
                ]
            if kwargs:
                return [f(v, **kwargs) for v in values]
            return [f(v) for v in values]
        return [await self.call_one(v, i) for i, v in zip(batch.indices, values)]

    async def call_one(self, value: Any, index: Index, collect: bool = False) -> Any:
        """``f(value)`` with injection, awaiting and the timeout applied.

        ``collect`` (used with a timeout by ``flat_map``) also runs the iteration of what ``f``
        returns within the timeout and returns a list.
        """
        kwargs = self.kwargs
        if self.wants_index:
            kwargs = {**kwargs, "element_index": as_tuple(index)}
        if self.awaits:
            result = self.f(value, **kwargs)
            if collect and isinstance(result, AsyncIterable):
                result = _collect(result)
            if inspect.isawaitable(result):
                if self.timeout:
                    try:
                        return await asyncio.wait_for(result, self.timeout)
                    except TimeoutError:
                        return TIMED_OUT
                return await result
            return result
        if self._helper is not None:
            if collect:
                return self._helper.call(lambda: _listed(self.f(value, **kwargs)), self.timeout)
            return self._helper.call(lambda: self.f(value, **kwargs), self.timeout)
        return self.f(value, **kwargs)


async def _collect(items: AsyncIterable[Any]) -> list[Any]:
    return [item async for item in items]


def _listed(items: Any) -> Any:
    return None if items is None else list(items)
