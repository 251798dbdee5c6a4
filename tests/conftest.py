"""Shared fixtures: every stage test runs under every worker kind, and no test leaks a thread.

The kind matrix is built from the executor registry (``weirflow._runtime.executors.KINDS``) and
the traits each back end declares, as anyio builds its matrix from ``get_all_backends()``: a new
back end is tested by every stage test without touching this file. A back end that crosses a
process boundary runs once per start method (``process+forkserver``, ``process+spawn``); the
``spawn`` variant (the slowest: each worker imports weirflow afresh) runs only for the operator
and failure tests (:data:`EVERY_VARIANT_MODULES`), which exercise every path a start method
changes, and the rest of the suite uses the default start method.
"""

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
from weirflow._runtime.executors import KINDS as REGISTERED_KINDS
from weirflow._runtime.executors import executor_traits
from weirflow.testing import Recorder
from weirflow.testing.pytest_plugin import require_server

KINDS = list(REGISTERED_KINDS)
CONCURRENT_KINDS = [kind for kind in KINDS if not executor_traits(kind).pulled]
START_METHODS = ["forkserver", "spawn"]
EVERY_VARIANT_MODULES = {"test_operators", "test_failures"}
SLOW_VARIANTS = {"spawn"}


def variants(kinds: list[str]) -> list[Any]:
    """One ``pytest.param`` per kind, and per start method for kinds crossing a process."""
    params = []
    for kind in kinds:
        if executor_traits(kind).crosses_process:
            params += [pytest.param((kind, m), id=f"{kind}+{m}") for m in START_METHODS]
        else:
            params.append(pytest.param((kind, None), id=kind))
    return params


def _kind_module(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    kind, start_method = request.param
    module: ModuleType = getattr(weirflow, kind)
    if start_method is None:
        yield module
        return
    weirflow.process.set_start_method(start_method)
    try:
        yield module
    finally:
        weirflow.process.set_start_method(None)


@pytest.fixture(params=variants(KINDS))
def pl(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The API module of one worker kind (``weirflow.sync``, ``weirflow.thread``, ...)."""
    yield from _kind_module(request)


@pytest.fixture(params=variants(CONCURRENT_KINDS))
def cpl(request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The API module of one kind whose workers run concurrently."""
    yield from _kind_module(request)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the slow variants to the modules that run every variant (see the docstring)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        slow = callspec is not None and any(
            f"+{variant}" in callspec.id for variant in SLOW_VARIANTS
        )
        (dropped if slow and item.path.stem not in EVERY_VARIANT_MODULES else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


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


REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379


@pytest.fixture
def redis_url() -> str:
    """The shared Redis (6379, no persistence): skipped on a laptop without it, failed in CI."""
    require_server("Redis", REDIS_HOST, REDIS_PORT)
    try:
        import redis  # noqa: F401
    except ImportError:
        pytest.skip("redis-py is not installed (pip install 'weirflow[redis]')")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
