"""Every operator, under every worker kind (the ``pl`` fixture)."""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import weirflow
from weirflow.testing import Recorder

from .conftest import Consume, crosses_process


def test_map_applies_the_function_to_every_element(pl: ModuleType, consume: Consume) -> None:
    stage = pl.map(lambda x: x * 2, range(100), workers=3)
    assert sorted(consume(stage)) == [x * 2 for x in range(100)]


def test_filter_keeps_elements_where_the_function_is_true(pl: ModuleType, consume: Consume) -> None:
    stage = pl.filter(lambda x: x % 3 == 0, range(100), workers=3)
    assert sorted(consume(stage)) == [x for x in range(100) if x % 3 == 0]


def test_flat_map_accepts_lists_generators_and_none(pl: ModuleType, consume: Consume) -> None:
    def expand(x: int) -> Any:
        if x % 3 == 0:
            return [x, x]
        if x % 3 == 1:
            return (y for y in range(x))
        return None

    stage = pl.flat_map(expand, range(20), workers=2)
    expected = []
    for x in range(20):
        expected.extend([x, x] if x % 3 == 0 else range(x) if x % 3 == 1 else [])
    assert sorted(consume(stage)) == sorted(expected)


def test_each_runs_for_side_effects_and_emits_nothing(pl: ModuleType, recorder: Recorder) -> None:
    assert list(pl.each(recorder, range(50), workers=2)) == []
    assert sorted(recorder.values(), key=int) == [str(x) for x in range(50)]


def test_each_with_run_true_runs_the_stage_and_returns_none(
    pl: ModuleType, recorder: Recorder
) -> None:
    assert pl.each(recorder, range(10), run=True) is None
    assert sorted(recorder.values(), key=int) == [str(x) for x in range(10)]


def test_ordered_restores_source_order(pl: ModuleType, consume: Consume) -> None:
    stage = pl.map(lambda x: x + 1, range(300), workers=4)
    stage = pl.filter(lambda x: x % 2 == 0, stage, workers=3)
    assert consume(pl.ordered(stage)) == [x + 1 for x in range(300) if (x + 1) % 2 == 0]


def test_ordered_with_break_stops_at_the_element_asked_for(
    pl: ModuleType, consume: Consume, recorder: Recorder
) -> None:
    stage = pl.map(lambda x: x, iter(range(10**9)), workers=2, maxsize=5)
    stage = pl.ordered(pl.map(lambda x: x, stage, on_done=lambda: recorder("done")))
    assert consume(stage, until=lambda x: x == 50) == list(range(51))
    assert recorder.values() == ["'done'"]


def test_ordered_follows_flat_map_children(pl: ModuleType, consume: Consume) -> None:
    stage = pl.flat_map(lambda x: range(x % 4), range(50), workers=3)
    stage = pl.flat_map(lambda y: [y, -y] if y else [], stage, workers=2)
    expected = [z for x in range(50) for y in range(x % 4) for z in ([y, -y] if y else [])]
    assert consume(pl.ordered(stage)) == expected


def test_ordered_twice_and_after_ordered(pl: ModuleType, consume: Consume) -> None:
    stage = pl.filter(lambda x: x % 5 != 0, range(100), workers=2)
    stage = pl.ordered(stage)
    stage = pl.map(lambda x: x * 3, stage, workers=3)
    assert consume(pl.ordered(stage)) == [x * 3 for x in range(100) if x % 5 != 0]


def test_concat_merges_stages_and_iterables(pl: ModuleType, consume: Consume) -> None:
    a = pl.map(lambda x: x, range(10))
    b = pl.map(lambda x: x + 100, range(5))
    assert sorted(consume(pl.concat([a, b, [1000]]))) == [*range(10), *range(100, 105), 1000]


def test_ordered_after_concat_interleaves_by_source_position(
    pl: ModuleType, consume: Consume
) -> None:
    a = pl.map(lambda x: ("a", x), range(3))
    b = pl.map(lambda x: ("b", x), range(2))
    assert consume(pl.ordered(pl.concat([a, b]))) == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
        ("b", 1),
        ("a", 2),
    ]


def test_from_iterable_and_to_iterable(pl: ModuleType) -> None:
    stage = pl.from_iterable(range(5))
    assert sorted(pl.to_iterable(stage)) == [0, 1, 2, 3, 4]


def test_to_iterable_return_index_gives_source_positions(pl: ModuleType) -> None:
    stage = pl.flat_map(lambda x: [x] * x, [1, 2], workers=1)
    elements = sorted(pl.to_iterable(stage, return_index=True))
    assert elements == [
        weirflow.Element((0, 0), 1),
        weirflow.Element((1, 0), 2),
        weirflow.Element((1, 1), 2),
    ]


def test_run_consumes_one_or_several_stages(pl: ModuleType, recorder: Recorder) -> None:
    pl.run(pl.each(recorder, range(3)), pl.each(recorder, range(10, 12)))
    assert sorted(recorder.values(), key=int) == ["0", "1", "2", "10", "11"]
    assert pl.run() is None


def test_partial_and_pipe_operator(pl: ModuleType) -> None:
    stage = (
        range(10)
        | pl.map(lambda x: x * 2)
        | pl.filter(lambda x: x > 5)
        | pl.flat_map(lambda x: [x, x + 1])
        | pl.ordered
        | list
    )
    assert stage == [y for x in range(10) if x * 2 > 5 for y in (x * 2, x * 2 + 1)]


def test_a_stage_can_be_iterated_again(pl: ModuleType) -> None:
    stage = pl.map(lambda x: x + 1, range(10), workers=2)
    assert sorted(stage) == sorted(stage) == list(range(1, 11))


def test_a_stage_feeding_two_stages_broadcasts_to_both(pl: ModuleType, consume: Consume) -> None:
    base = pl.map(lambda x: x, range(20), workers=2)
    left = pl.map(lambda x: ("l", x), base)
    right = pl.map(lambda x: ("r", x), base)
    merged = sorted(consume(pl.concat([left, right])))
    assert merged == sorted([("l", x) for x in range(20)] + [("r", x) for x in range(20)])


def test_generators_and_plain_iterables_work_as_sources(pl: ModuleType) -> None:
    def numbers() -> Iterator[int]:
        yield from range(7)

    assert sorted(pl.map(str, numbers())) == sorted(str(x) for x in range(7))
    assert sorted(pl.map(str, {"b": 1, "a": 2})) == ["a", "b"]


def test_element_index_is_injected_by_name(pl: ModuleType) -> None:
    def tag(x: str, element_index: tuple[int, ...]) -> tuple[tuple[int, ...], str]:
        return element_index, x

    assert sorted(pl.map(tag, ["a", "b", "c"], workers=2)) == [
        ((0,), "a"),
        ((1,), "b"),
        ((2,), "c"),
    ]


def test_on_start_resources_are_injected_and_on_done_runs_once_per_worker(
    pl: ModuleType, tmp_path: Path
) -> None:
    started = Recorder(tmp_path / "started")
    finished = Recorder(tmp_path / "finished")

    def on_start(worker_info: weirflow.WorkerInfo) -> dict[str, Any]:
        started(worker_info.index)
        return {"offset": 1000, "box": [worker_info.index]}

    def f(x: int, offset: int) -> int:
        return x + offset

    def on_done(box: list[int], stage_status: weirflow.StageStatus) -> None:
        finished((box[0], stage_status.active_workers))

    workers = 1 if pl is weirflow.sync else 3
    stage = pl.map(f, range(30), workers=workers, on_start=on_start, on_done=on_done)
    assert sorted(stage) == list(range(1000, 1030))
    assert sorted(started.values()) == [str(i) for i in range(workers)]
    done = [eval(line) for line in finished.values()]
    assert sorted(i for i, _ in done) == list(range(workers))
    assert min(active for _, active in done) == 0


def test_on_start_returning_none_and_kwargs_functions(pl: ModuleType) -> None:
    def f(x: int, **kwargs: Any) -> tuple[int, list[str]]:
        return x, sorted(kwargs)

    stage = pl.map(f, [1], on_start=lambda: {"db": object()})
    assert list(stage) == [(1, ["db", "worker_info"])]
    assert list(pl.map(lambda x: x, [1], on_start=lambda: None)) == [1]


def _slow_on(cpl: ModuleType, slow_value: int, release: threading.Event) -> Any:
    """A function that hangs on ``slow_value``: async for ``task``, blocking otherwise."""
    if cpl is weirflow.task:

        async def slow_async(x: int) -> int:
            if x == slow_value:
                await asyncio.sleep(60)
            return x

        return slow_async

    if crosses_process(cpl):
        return functools.partial(_sleep_on, slow_value)

    def slow(x: int) -> int:
        if x == slow_value:
            release.wait(60)
        return x

    return slow


def _sleep_on(slow_value: int, x: int) -> int:
    if x == slow_value:
        time.sleep(60)  # the worker process ends; it takes its abandoned thread with it
    return x


def test_timeout_skips_elements_that_take_too_long(cpl: ModuleType) -> None:
    release = threading.Event()
    try:
        result = sorted(cpl.map(_slow_on(cpl, 3, release), range(6), workers=2, timeout=0.05))
    finally:
        release.set()
    assert result == [0, 1, 2, 4, 5]


def test_timeout_keeps_order_tracking_intact(cpl: ModuleType) -> None:
    release = threading.Event()
    try:
        stage = cpl.map(_slow_on(cpl, 2, release), range(5), workers=2, timeout=0.05)
        result = list(cpl.ordered(stage))
    finally:
        release.set()
    assert result == [0, 1, 3, 4]


def test_mixed_pipeline_thread_task_sync_with_plain_steps() -> None:
    async def add(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    stage = weirflow.thread.map(lambda x: x * 2, range(200), workers=3, maxsize=5)
    stage = weirflow.task.map(add, stage, workers=4, maxsize=5)
    plain = (x for x in stage if x % 3)
    stage = weirflow.sync.map(lambda x: -x, plain)
    stage = weirflow.thread.filter(lambda x: x < -10, stage, workers=2)
    expected = sorted(-(x * 2 + 1) for x in range(200) if (x * 2 + 1) % 3 and -(x * 2 + 1) < -10)
    assert sorted(stage) == expected


def test_sync_stage_between_concurrent_stages_keeps_order_info() -> None:
    stage = weirflow.thread.map(lambda x: x, range(100), workers=3)
    stage = weirflow.sync.filter(lambda x: x % 7 != 0, stage)
    stage = weirflow.task.map(lambda x: x * 10, stage, workers=3)
    assert list(weirflow.thread.ordered(stage)) == [x * 10 for x in range(100) if x % 7 != 0]


class TestTask:
    def test_async_functions_everywhere(self) -> None:
        async def double(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        async def positive(x: int) -> bool:
            return x > 4

        async def twice(x: int) -> AsyncIterator[int]:
            yield x
            await asyncio.sleep(0)
            yield x

        stage = weirflow.task.map(double, range(5), workers=2)
        stage = weirflow.task.filter(positive, stage, workers=2)
        stage = weirflow.task.flat_map(twice, stage, workers=2)
        assert sorted(stage) == [6, 6, 8, 8]

    def test_async_on_start_and_on_done(self) -> None:
        done: list[str] = []

        async def on_start() -> dict[str, str]:
            await asyncio.sleep(0)
            return {"prefix": "p-"}

        async def on_done(prefix: str) -> None:
            done.append(prefix)

        stage = weirflow.task.map(
            lambda x, prefix: prefix + x, ["a"], on_start=on_start, on_done=on_done
        )
        assert list(stage) == ["p-a"]
        assert done == ["p-"]

    def test_await_stage_inside_a_running_loop(self) -> None:
        async def main() -> list[int]:
            async def inc(x: int) -> int:
                await asyncio.sleep(0)
                return x + 1

            return await weirflow.task.map(inc, range(10), workers=3)

        assert sorted(asyncio.run(main())) == list(range(1, 11))

    def test_async_for_and_async_iterable_sources(self) -> None:
        async def source() -> AsyncIterator[int]:
            for i in range(5):
                await asyncio.sleep(0)
                yield i

        async def main() -> list[int]:
            stage = weirflow.task.map(lambda x: x * x, source(), workers=2)
            return [x async for x in stage]

        assert sorted(asyncio.run(main())) == [0, 1, 4, 9, 16]

    def test_thread_stage_consumed_in_an_event_loop(self) -> None:
        async def main() -> list[int]:
            stage = weirflow.thread.map(lambda x: x + 1, range(20), workers=2)
            return await weirflow.task.map(lambda x: x, stage)

        assert sorted(asyncio.run(main())) == list(range(1, 21))

    def test_to_async_iterable_with_index(self) -> None:
        async def main() -> list[weirflow.Element]:
            stage = weirflow.task.map(lambda x: x, ["a", "b"])
            return [e async for e in weirflow.task.to_async_iterable(stage, return_index=True)]

        assert sorted(asyncio.run(main())) == [
            weirflow.Element((0,), "a"),
            weirflow.Element((1,), "b"),
        ]

    def test_use_thread_false_reads_the_source_on_the_loop(self) -> None:
        loop_threads: set[str] = set()

        def source() -> Iterator[int]:
            for i in range(3):
                loop_threads.add(threading.current_thread().name)
                yield i

        stage = weirflow.task.from_iterable(source(), use_thread=False)
        assert sorted(weirflow.task.map(lambda x: x, stage)) == [0, 1, 2]
        assert loop_threads == {"weirflow task loop"}


def test_items_of_a_stream_that_then_blocks_arrive_at_once(
    pl: ModuleType, consume: Consume
) -> None:
    # a quiet stream: three items, then nothing until the consumer has seen all three
    seen_three = threading.Event()

    def stream() -> Iterator[int]:
        yield from (1, 2, 3)
        assert seen_three.wait(10), "the consumer never got the items yielded before the pause"
        yield 4

    received = []

    def body(x: int) -> bool:
        received.append(x)
        if len(received) == 3:
            seen_three.set()
        return False

    consume(pl.map(lambda v: v, stream()), until=body)
    assert sorted(received) == [1, 2, 3, 4]
