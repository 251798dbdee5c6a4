"""Regression tests for engine performance fixes: what moves in batches, and what must not wait.

* A ``sync`` stage over a generator (a source, or a ``flat_map`` function) moved one element per
  batch: its output port said "the consumer is starving" for every item. It now gathers chunks
  (ramping up from one item, bounded by ``maxsize``), and never holds back the first item.
* ``task.map`` / ``task.flat_map`` of ``async def`` functions are typed as stages of what the
  functions return (checked by mypy; here only their run-time results).
* The run's own event loop waits with microsecond timeouts (epoll alone rounds them up to whole
  milliseconds); it must still wake at once for I/O.
* Generator sources (and ``flat_map`` generators) of thread and task stages were put one item at
  a time, so a burst followed by a pause was never held back, at 7-24% of the throughput over a
  ``range``. They now move in pending chunks that a waiting consumer takes: a burst still arrives
  whole while the generator pauses.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any, assert_type

import pytest

import weirflow as wf
from weirflow import Stage
from weirflow._runtime._batch import Batch
from weirflow._runtime._channel import Channel
from weirflow._runtime._supervisor import Run
from weirflow._runtime.executors import task as task_executor


def batch_sizes(stage: Stage[Any]) -> list[int]:
    """The sizes of the batches the consumer of ``stage`` receives."""
    run = Run(stage.spec)
    try:
        return [len(batch.values) for batch in run.batches(0)]
    finally:
        run.close()


def numbers(n: int) -> Iterator[int]:
    yield from range(n)


def identity(x: int) -> int:
    return x


def test_a_sync_stage_over_a_generator_moves_in_batches() -> None:
    sizes = batch_sizes(wf.sync.map(identity, numbers(10_000)))
    assert sum(sizes) == 10_000
    assert len(sizes) <= 10_000 // 8, "one batch per element: the generator is not chunked"
    assert sizes[0] == 1  # the first item leaves at once; chunks grow from there


def test_a_sync_flat_map_of_a_generator_function_moves_in_batches() -> None:
    def expand(x: int) -> Iterator[int]:
        for i in range(100):
            yield x * 100 + i

    stage = wf.sync.flat_map(expand, range(100))
    sizes = batch_sizes(stage)
    assert sum(sizes) == 10_000
    assert len(sizes) <= 10_000 // 8
    assert sorted(stage) == list(range(10_000))


def test_sync_batches_are_bounded_by_maxsize() -> None:
    sizes = batch_sizes(wf.sync.map(identity, numbers(1_000), maxsize=3))
    assert sum(sizes) == 1_000
    assert max(sizes) <= 3


def test_the_first_item_of_a_sync_stream_is_not_held_back() -> None:
    asked_for_more: list[int] = []

    def stream() -> Iterator[int]:
        yield 0
        asked_for_more.append(1)  # a live stream would block here, maybe for a long time
        yield 1

    values = iter(wf.sync.map(identity, stream()))
    assert next(values) == 0
    assert asked_for_more == []
    assert list(values) == [1]


def test_the_first_item_of_a_sync_flat_map_is_not_held_back() -> None:
    asked_for_more: list[int] = []

    def expand(x: int) -> Iterator[int]:
        yield x
        asked_for_more.append(x)
        yield x + 1

    values = iter(wf.sync.flat_map(expand, [10]))
    assert next(values) == 10
    assert asked_for_more == []
    assert list(values) == [11]


def test_sync_results_still_match_the_builtins_over_generators() -> None:
    assert list(wf.sync.map(lambda x: x * 2, numbers(5_000))) == [x * 2 for x in range(5_000)]
    assert list(wf.sync.filter(lambda x: x % 3 == 0, numbers(5_000))) == list(range(0, 5_000, 3))
    assert list(wf.sync.ordered(wf.sync.flat_map(lambda x: [x, x], numbers(2_000)))) == [
        x for x in range(2_000) for _ in range(2)
    ]


async def twice(x: int) -> str:
    return str(2 * x)


async def letters(x: int) -> AsyncIterator[str]:
    for letter in "ab":
        yield f"{x}{letter}"


async def pair(x: int) -> list[int]:
    return [x, -x]


def test_task_stages_of_async_functions_yield_what_the_functions_return() -> None:
    mapped = wf.task.map(twice, range(4), workers=2)
    assert_type(mapped, Stage[str])
    assert sorted(mapped) == ["0", "2", "4", "6"]

    expanded = wf.task.flat_map(letters, range(2), workers=2)
    assert_type(expanded, Stage[str])
    assert sorted(expanded) == ["0a", "0b", "1a", "1b"]

    paired = wf.task.flat_map(pair, [1, 2], workers=2)
    assert_type(paired, Stage[int])
    assert sorted(paired) == [-2, -1, 1, 2]


linux_only = pytest.mark.skipif(sys.platform != "linux", reason="epoll is Linux's")


@linux_only
def test_the_runs_own_loop_uses_the_precise_selector() -> None:
    loop = task_executor._new_loop()
    try:
        assert isinstance(loop, asyncio.SelectorEventLoop)
        assert isinstance(loop._selector, task_executor._PreciseEpollSelector)  # type: ignore[attr-defined]
    finally:
        loop.close()


@linux_only
@pytest.mark.skipif(sys.version_info >= (3, 14), reason="event loop policies are deprecated")
def test_a_custom_event_loop_policy_is_honoured() -> None:
    class Policy(asyncio.DefaultEventLoopPolicy):
        pass

    saved = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(Policy())
    try:
        loop = task_executor._new_loop()
        try:
            selector = loop._selector  # type: ignore[attr-defined]
            assert not isinstance(selector, task_executor._PreciseEpollSelector)
        finally:
            loop.close()
    finally:
        asyncio.set_event_loop_policy(saved)


@linux_only
@pytest.mark.parametrize("fd_limit", [task_executor._SELECT_FD_LIMIT, 0])
def test_the_precise_selector_still_wakes_for_io_at_once(
    fd_limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(task_executor, "_SELECT_FD_LIMIT", fd_limit)  # 0: the epoll-only path
    selector = task_executor._PreciseEpollSelector()
    reader, writer = socket.socketpair()
    try:
        selector.register(reader, selectors.EVENT_READ, "data")
        assert selector.select(0) == []
        writer.send(b"x")
        ready = selector.select(60)  # returns as soon as the byte is there, not after 60 s
        assert [key.data for key, _ in ready] == ["data"]
    finally:
        selector.close()
        reader.close()
        writer.close()


BURST = 300


def bursts_with_pauses(gates: list[threading.Event]) -> Iterator[int]:
    """Bursts of BURST items, each followed by a pause until the consumer has all of it."""
    for burst, gate in enumerate(gates):
        yield from range(burst * BURST, (burst + 1) * BURST)
        assert gate.wait(20), f"burst {burst} was held back: the consumer never got all of it"


def open_gates_as_bursts_arrive(
    stage: Any, gates: list[threading.Event], consume: Any
) -> list[int]:
    received: list[int] = []

    def body(x: int) -> bool:
        received.append(x)
        if len(received) % BURST == 0:
            gates[len(received) // BURST - 1].set()
        return False

    consume(stage, until=body)
    return received


@pytest.mark.parametrize("kind", ["thread", "task", "process"])
def test_a_generator_source_that_pauses_holds_no_item_of_its_burst_back(
    kind: str, consume: Any
) -> None:
    # generator sources move in chunks now; a chunk in progress must still reach a waiting
    # consumer while the generator is paused (a quiet stream), not when it yields again
    gates = [threading.Event() for _ in range(3)]
    pl = getattr(wf, kind)
    stage = pl.map(identity, bursts_with_pauses(gates), workers=2)
    received = open_gates_as_bursts_arrive(stage, gates, consume)
    assert sorted(received) == list(range(3 * BURST))


def test_a_flat_map_generator_that_pauses_holds_no_item_of_its_burst_back(consume: Any) -> None:
    # thread only: a generator that blocks inside a task stage blocks its whole event loop
    gates = [threading.Event() for _ in range(3)]
    stage = wf.thread.flat_map(lambda _: bursts_with_pauses(gates), [None])
    stage = wf.thread.map(identity, stage, workers=2)
    received = open_gates_as_bursts_arrive(stage, gates, consume)
    assert sorted(received) == list(range(3 * BURST))


def test_a_fast_generator_source_reaches_a_thread_stage_in_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # put one item at a time, a generator source ran at 7% of the same stage over a range
    puts: list[int] = []
    real_put = Channel.put

    def counted_put(self: Channel, batch: Batch, reserved: int = 0) -> None:
        puts.append(len(batch.values))
        real_put(self, batch, reserved)

    monkeypatch.setattr(Channel, "put", counted_put)
    assert sum(1 for _ in wf.thread.map(identity, numbers(50_000))) == 50_000
    assert len(puts) < 50_000 // 8, "the generator's items crossed one at a time"
