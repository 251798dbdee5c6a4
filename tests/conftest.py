"""Shared fixtures: every stage test runs under every worker kind, and no test leaks a thread."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import weirflow
from weirflow.testing import Recorder

KINDS = ["sync", "thread", "task", "process"]
CONCURRENT_KINDS = ["thread", "task", "process"]


@pytest.fixture(params=KINDS)
def pl(request: pytest.FixtureRequest) -> ModuleType:
    """The API module of one worker kind (``weirflow.sync``, ``weirflow.thread``, ...)."""
    module: ModuleType = getattr(weirflow, request.param)
    return module


@pytest.fixture(params=CONCURRENT_KINDS)
def cpl(request: pytest.FixtureRequest) -> ModuleType:
    """The API module of one kind whose workers run concurrently."""
    module: ModuleType = getattr(weirflow, request.param)
    return module


@pytest.fixture(autouse=True)
def no_thread_left_behind() -> Iterator[None]:
    """Fail a test that leaves a thread running once its pipelines have been consumed.

    Runs join their workers before iteration returns, so the check is immediate; only the
    helper threads of timed-out calls (abandoned, finishing the user's call) get a moment.
    """
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5
    for thread in set(threading.enumerate()) - before:
        if "timeout helper" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))
    left = [t.name for t in set(threading.enumerate()) - before if t.is_alive()]
    assert not left, f"threads left running: {left}"


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path / "recorded.txt")


Until = Callable[[Any], bool] | None
Consume = Callable[..., list[Any]]


def consume_with_for(stage: Iterable[Any], until: Until = None) -> list[Any]:
    """The values of ``stage`` read with ``for``, leaving (``break``) after ``until`` is true."""
    values = []
    for value in stage:
        values.append(value)
        if until is not None and until(value):
            break
    return values


def consume_with_async_for(stage: Any, until: Until = None) -> list[Any]:
    """The values of ``stage`` read with ``async for`` in ``asyncio.run``, with ``break``."""

    async def main() -> list[Any]:
        values = []
        async for value in stage:
            values.append(value)
            if until is not None and until(value):
                break
        return values

    return asyncio.run(main())


@pytest.fixture(params=["for", "async for"])
def consume(request: pytest.FixtureRequest) -> Consume:
    """How a test reads a stage: a ``for`` loop, or ``async for`` on an event loop."""
    return consume_with_for if request.param == "for" else consume_with_async_for
