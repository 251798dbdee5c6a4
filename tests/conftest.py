"""Shared fixtures: every stage test runs under every worker kind, and no test leaks a thread.

The kind matrix is built from the executor registry (``weirflow._runtime.executors.KINDS``) and
the traits each back end declares, as anyio builds its matrix from ``get_all_backends()``: a new
back end is tested by every stage test without touching this file. A back end with start
methods (its module has ``set_start_method``) runs once per start method
(``process+forkserver``, ``process+spawn``); the ``spawn`` variant (the slowest: each worker
imports weirflow afresh) runs only for the operator and failure tests
(:data:`EVERY_VARIANT_MODULES`), which exercise every path a start method changes, and the rest
of the suite uses the default start method.

``ray`` runs every stage test too, on one local Ray for the whole run (:func:`ray_cluster`:
started the first time a test needs it, shut down when the run ends; starting one takes
seconds, and each test's actors about a second more), with one cut to keep the suite fast: a
test that reads its stage both with ``for`` and ``async for`` (the ``consume`` fixture) reads a
ray stage with ``for`` only, in every module. How a run is consumed is the
supervisor's business, the same for every back end with workers of its own. What only Ray has
is in ``tests/test_ray.py`` and ``tests/test_ray_processes.py``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
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
from weirflow.testing.pytest_plugin import require_server, skip_or_fail

KINDS = list(REGISTERED_KINDS)
CONCURRENT_KINDS = [kind for kind in KINDS if not executor_traits(kind).pulled]
START_METHODS = ["forkserver", "spawn"]
EVERY_VARIANT_MODULES = {"test_operators", "test_failures"}
SLOW_VARIANTS = {"spawn"}


def variants(kinds: list[str]) -> list[Any]:
    """One ``pytest.param`` per kind, and per start method for kinds with start methods."""
    params = []
    for kind in kinds:
        if hasattr(getattr(weirflow, kind), "set_start_method"):
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


def _async_for_on_a_cluster(callspec: Any) -> bool:
    """A test reading a stage of a cluster kind (Ray's) with ``async for``: see the docstring."""
    params = callspec.params
    return params.get("consume") == "async for" and any(
        isinstance(param, tuple)
        and len(param) == 2
        and param[1] is None
        and param[0] in REGISTERED_KINDS
        and executor_traits(param[0]).crosses_process
        for param in params.values()
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep the slow variants to the modules that run every variant (see the docstring)."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        slow = callspec is not None and any(
            f"+{variant}" in callspec.id for variant in SLOW_VARIANTS
        )
        if callspec is not None and _async_for_on_a_cluster(callspec):
            dropped.append(item)
            continue
        (dropped if slow and item.path.stem not in EVERY_VARIANT_MODULES else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


RAY_INSTALLED = importlib.util.find_spec("ray") is not None
RAY_TEST_CPUS = 16  # logical CPUs: the tests' actors mostly wait, and stages ask for 4 workers
RAY_TOKEN = Path.home() / ".ray" / "auth_token"  # where a local Ray keeps its token (one a user)


def pytest_configure(config: pytest.Config) -> None:
    """Make Ray's token before the test workers (pytest-xdist) start, when there is none yet.

    A local Ray writes a new token the first time one starts on a machine: two workers starting
    their first at once would each write their own, and one cluster would refuse the other's.
    """
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if not RAY_INSTALLED or RAY_TOKEN.exists():
        return
    try:
        from ray._private.authentication import authentication_token_setup
    except ImportError:  # a Ray without token authentication
        return
    authentication_token_setup.generate_and_save_token()


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """One local Ray for every test that needs it (skipped without Ray; in CI, a failure).

    Started the first time a test needs it, before that test snapshots the running threads, and
    shut down at the end of the run, with more logical CPUs than the machine has; weirflow uses
    it as a program's own ``ray.init``. A local Ray weirflow started for a ray stage run without
    this fixture (a doctest's) is shut down first: the tests need this one's resources.
    """
    if not RAY_INSTALLED:
        skip_or_fail("Ray is not installed: pip install 'weirflow[ray]'")
    import ray

    from weirflow._runtime.executors import _ray_cluster

    _ray_cluster.shutdown()
    ray.init(
        address="local",
        num_cpus=RAY_TEST_CPUS,
        resources={"weirflow_test": 4},
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        _node_ip_address="127.0.0.1",
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def _runs_on_a_cluster(request: pytest.FixtureRequest) -> bool:
    """Whether the test is parametrised with a kind that crosses processes without start methods
    (Ray's): its cluster must be up before the running threads are counted."""
    callspec = getattr(request.node, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return any(
        isinstance(param, tuple)
        and len(param) == 2
        and param[0] in REGISTERED_KINDS
        and param[1] is None
        and executor_traits(param[0]).crosses_process
        for param in params
    )


@pytest.fixture(autouse=True)
def no_thread_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that leaves a thread running once its pipelines have been consumed.

    Runs join their workers before iteration returns, so the check is immediate; only the
    helper threads of timed-out calls (abandoned, finishing the user's call) get a moment.
    """
    if _runs_on_a_cluster(request):
        request.getfixturevalue("ray_cluster")
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
        skip_or_fail("redis-py is not installed (pip install 'weirflow[redis]')")
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


def crosses_process(module: ModuleType) -> bool:
    """Whether the workers of ``module``'s kind live in other processes (process, ray)."""
    return executor_traits(module.__name__.rsplit(".", 1)[-1]).crosses_process
