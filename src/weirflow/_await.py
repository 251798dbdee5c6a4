"""Running what a user function returns when it is ``async``, from code that is not.

A flow calls user functions from threads, processes and event loops alike; an ``async def``
function returns a coroutine there, which must be run, never passed on as the result.
:func:`run_awaitable` runs it to completion: on a fresh event loop in this thread, or, when this
thread already runs a loop (a task stage calling a plain ``save``), on a helper thread.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterable
from typing import Any

from ._threads import make_thread


def run_awaitable(value: Any) -> Any:
    """``value``, or its result when it is awaitable (an async generator is collected)."""
    kind = type(value)
    if not hasattr(kind, "__await__") and not hasattr(kind, "__aiter__"):
        return value  # the common case, decided at once
    if isinstance(value, AsyncIterable) and not inspect.isawaitable(value):
        value = collect(value)
    if not inspect.isawaitable(value):
        return value
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(value))
    box: list[Any] = []

    def run() -> None:
        try:
            box.append((True, asyncio.run(_awaited(value))))
        except BaseException as error:  # handed back to the caller
            box.append((False, error))

    helper = make_thread(run, name="weirflow async call")
    helper.start()
    helper.join()
    ok, result = box[0]
    if ok:
        return result
    raise result


async def _awaited(value: Any) -> Any:
    return await value


async def collect(items: AsyncIterable[Any]) -> list[Any]:
    """Everything an async iterable yields, as a list."""
    return [item async for item in items]
