"""What happens when things go wrong: errors, early exits, Ctrl-C, bad arguments."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import weirflow
from weirflow.testing import Recorder

from .conftest import Consume, crosses_process

SRC = str(Path(__file__).resolve().parents[1] / "src")


class Boom(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code


def explode_on(value: int) -> Any:
    def f(x: int) -> int:
        if x == value:
            raise Boom(7, f"bad element {x}")
        return x

    return f


def test_worker_error_reaches_the_consumer_as_the_original_exception(
    pl: ModuleType, consume: Consume
) -> None:
    stage = pl.map(explode_on(13), range(1000), workers=3)
    with pytest.raises(Boom) as info:
        consume(stage)
    error = info.value
    assert error.args == (7, "bad element 13")
    assert error.code == 7
    notes = getattr(error, "__notes__", [])
    assert any(f"stage '{pl.__name__.split('.')[-1]}.map(f)'" in note for note in notes), notes
    if crosses_process(pl):  # the worker's traceback comes back as the cause
        assert "in f\n" in str(error.__cause__)
        assert "bad element 13" in str(error.__cause__)
    else:
        frames = [frame.name for frame in traceback.extract_tb(error.__traceback__)]
        assert "f" in frames, "the worker's traceback is kept"


def test_error_in_an_upstream_stage_stops_the_downstream_ones(
    cpl: ModuleType, consume: Consume
) -> None:
    processed: list[int] = []
    stage = cpl.map(explode_on(50), range(10_000), workers=2, maxsize=4)
    stage = cpl.map(lambda x: processed.append(x) or x, stage, workers=2, maxsize=4)
    with pytest.raises(Boom):
        consume(stage)
    assert len(processed) < 10_000


def test_error_in_on_start_and_filter_and_flat_map(pl: ModuleType, consume: Consume) -> None:
    def bad_start() -> dict[str, Any]:
        raise Boom(1, "no resource")

    with pytest.raises(Boom, match="no resource"):
        consume(pl.map(lambda x: x, range(5), on_start=bad_start))
    with pytest.raises(Boom):
        consume(pl.filter(explode_on(3), range(5)))

    def gen(x: int) -> Iterator[int]:
        yield x
        if x == 2:
            raise Boom(2, "mid-generator")

    with pytest.raises(Boom, match="mid-generator"):
        consume(pl.flat_map(gen, range(5)))


def test_error_in_a_source_iterable_reaches_the_consumer(pl: ModuleType, consume: Consume) -> None:
    def source() -> Iterator[int]:
        yield 1
        raise Boom(3, "source broke")

    with pytest.raises(Boom, match="source broke"):
        consume(pl.map(lambda x: x, source()))


def test_break_stops_workers_and_runs_on_done_exactly_once(
    pl: ModuleType, recorder: Recorder, consume: Consume
) -> None:
    def on_start(worker_info: weirflow.WorkerInfo) -> dict[str, int]:
        return {"me": worker_info.index}

    def on_done(me: int) -> None:
        recorder(me)

    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    workers = 1 if pl is weirflow.sync else 3
    stage = pl.map(
        lambda x: x, endless(), workers=workers, maxsize=8, on_start=on_start, on_done=on_done
    )
    assert max(consume(stage, until=lambda x: x > 100)) > 100
    assert sorted(recorder.values()) == [str(i) for i in range(workers)]


def test_consumer_raising_cancels_the_pipeline(
    pl: ModuleType, recorder: Recorder, consume: Consume
) -> None:
    def body(x: int) -> bool:
        if x == 10:
            raise ZeroDivisionError
        return False

    stage = pl.map(lambda x: x, iter(range(10**9)), maxsize=4, on_done=lambda: recorder("done"))
    with pytest.raises(ZeroDivisionError):
        consume(stage, until=body)
    assert recorder.values() == ["'done'"]


def test_async_for_with_break_has_joined_the_workers_when_the_loop_is_left(
    pl: ModuleType, recorder: Recorder
) -> None:
    # pulled (sync), thread and process workers are joined and have run on_done by the next
    # statement; task workers on the consumer's loop are cancelled then and finish on it
    workers = 1 if pl is weirflow.sync else 2
    stage = pl.map(
        lambda x: x, iter(range(10**9)), workers=workers, on_done=lambda: recorder("done")
    )
    seen_after_break: list[list[str]] = []

    async def main() -> None:
        async for x in stage:
            if x >= 5:
                break
        seen_after_break.append(recorder.values())

    asyncio.run(main())
    if pl is not weirflow.task:
        assert seen_after_break == [["'done'"] * workers]
    assert recorder.values() == ["'done'"] * workers


def test_failure_in_one_branch_stops_the_other(cpl: ModuleType, consume: Consume) -> None:
    left = cpl.map(explode_on(5), range(100))
    right = cpl.map(lambda x: x, iter(range(10**9)), maxsize=2)
    with pytest.raises(Boom):
        consume(cpl.concat([left, right]))


def test_failure_inside_an_event_loop_consumer() -> None:
    async def main() -> None:
        await weirflow.task.map(explode_on(4), range(10), workers=2)

    with pytest.raises(Boom):
        asyncio.run(main())


def test_unpicklable_or_odd_exceptions_still_arrive(pl: ModuleType, consume: Consume) -> None:
    class Odd(Exception):
        def __init__(self) -> None:
            super().__init__("odd")
            self.lock = threading.Lock()

    def f(x: int) -> int:
        raise Odd

    if crosses_process(pl):  # it cannot be pickled back: its type, text and traceback can
        with pytest.raises(weirflow.RemoteError, match="Odd: odd") as info:
            consume(pl.map(f, [1]))
        assert "raise Odd" in info.value.remote_traceback
        return
    with pytest.raises(Odd):
        consume(pl.map(f, [1]))


def test_ctrl_c_in_the_consumer_stops_everything(tmp_path: Path) -> None:
    script = tmp_path / "interrupted.py"
    script.write_text(
        textwrap.dedent(
            """
            import itertools, sys, time
            import weirflow as wf

            def slowish(x):
                time.sleep(0.001)
                return x

            stage = wf.thread.map(slowish, itertools.count(), workers=4, maxsize=10)
            stage = wf.task.map(lambda x: x, stage, workers=2, maxsize=10)
            for i, x in enumerate(stage):
                if i == 20:
                    print("ready", flush=True)
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": SRC}
    process = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert b"KeyboardInterrupt" in stderr
    assert process.returncode != 0


class TestBadArguments:
    @pytest.mark.parametrize("workers", [-1, 0, 1.5, "2", True, 2**70, float("nan"), 10_000_000])
    def test_bad_workers(self, pl: ModuleType, workers: Any) -> None:
        with pytest.raises(weirflow.InvalidArgumentError, match="workers") as info:
            pl.map(lambda x: x, [1], workers=workers)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, weirflow.WeirflowError)

    @pytest.mark.parametrize("maxsize", [-1, 2.5, None, float("inf"), float("nan"), 2**70])
    def test_bad_maxsize(self, pl: ModuleType, maxsize: Any) -> None:
        with pytest.raises(weirflow.InvalidArgumentError, match="maxsize"):
            pl.filter(lambda x: x, [1], maxsize=maxsize)
        with pytest.raises(weirflow.InvalidArgumentError, match="maxsize"):
            pl.ordered([1], maxsize=maxsize)

    @pytest.mark.parametrize(
        "timeout", [-1, float("nan"), float("inf"), float("-inf"), 1e300, "1", True, None]
    )
    def test_bad_timeout(self, pl: ModuleType, timeout: Any) -> None:
        with pytest.raises(weirflow.InvalidArgumentError, match="timeout") as info:
            pl.map(lambda x: x, [1], timeout=timeout)
        assert f"stage '{pl.__name__.split('.')[-1]}.map(<lambda>)'" in str(info.value)

    def test_the_workers_bound_is_said_in_the_error(self) -> None:
        with pytest.raises(weirflow.InvalidArgumentError, match=r"from 1 to 1,024, got 2000"):
            weirflow.process.map(abs, [1], workers=2000)
        assert weirflow.thread.map(abs, [1], workers=4096).spec.workers == 4096

    def test_not_callable(self, pl: ModuleType) -> None:
        with pytest.raises(weirflow.InvalidCallableError, match="callable") as info:
            pl.map(42, [1])
        assert isinstance(info.value, TypeError)

    def test_function_without_an_element_parameter(self, pl: ModuleType) -> None:
        with pytest.raises(weirflow.InvalidCallableError, match="positional"):
            pl.map(lambda: 1, [1])

    def test_on_start_with_unknown_required_names(self, pl: ModuleType) -> None:
        def on_start(database_url: str) -> dict[str, Any]:
            return {}

        with pytest.raises(weirflow.InvalidCallableError, match="database_url"):
            pl.map(lambda x: x, [1], on_start=on_start)

    def test_function_needing_a_resource_nobody_provides(self, pl: ModuleType) -> None:
        def f(x: int, connection: Any) -> int:
            return x

        with pytest.raises(weirflow.InvalidCallableError, match="connection"):
            list(pl.map(f, [1], on_start=lambda: {"other": 1}))

    def test_not_an_iterable(self, pl: ModuleType) -> None:
        with pytest.raises(weirflow.InvalidCallableError, match="iterable"):
            pl.map(lambda x: x, 12)

    def test_partial_given_as_input(self, pl: ModuleType) -> None:
        with pytest.raises(weirflow.InvalidCallableError, match="Partial"):
            pl.map(lambda x: x, pl.map(lambda x: x))

    def test_async_function_outside_task(self) -> None:
        async def f(x: int) -> int:
            return x

        for module in (weirflow.thread, weirflow.sync):
            with pytest.raises(weirflow.InvalidCallableError, match="task"):
                module.map(f, [1])

    def test_on_start_returning_something_else_than_a_dict(self, pl: ModuleType) -> None:
        with pytest.raises(TypeError, match="on_start must return a dict"):
            list(pl.map(lambda x: x, [1], on_start=lambda: 3))


def test_ctrl_c_reaches_a_consumer_waiting_on_a_quiet_stream(tmp_path: Path) -> None:
    script = tmp_path / "quiet.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading
            import weirflow as wf

            def quiet():
                yield 1
                threading.Event().wait()  # nothing more, ever

            for x in wf.thread.map(lambda v: v, quiet(), workers=3):
                print("ready", flush=True)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert b"KeyboardInterrupt" in stderr
