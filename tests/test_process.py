"""The process back end: start methods, dying workers, pickling failures, clean exits."""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import weirflow
from weirflow.testing import Recorder

SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_script(
    tmp_path: Path, code: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": SRC, **(env or {})},
        cwd=tmp_path,
    )


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def record_pid(recorder: Recorder) -> Any:
    def on_start() -> None:
        recorder(os.getpid())

    return on_start


@pytest.fixture(params=["forkserver", "spawn", "fork"])
def start_method(request: pytest.FixtureRequest) -> Iterator[str]:
    weirflow.process.set_start_method(request.param)
    try:
        yield request.param
    finally:
        weirflow.process.set_start_method(None)


def test_every_start_method_runs_lambdas_and_closures(start_method: str) -> None:
    offset = 10
    stage = weirflow.process.map(lambda x: x + offset, range(100), workers=2)
    stage = weirflow.process.filter(lambda x: x % 2 == 0, stage, workers=2)
    assert list(weirflow.process.ordered(stage)) == [x + 10 for x in range(100) if x % 2 == 0]


def test_workers_run_in_other_processes_with_their_own_resources(recorder: Recorder) -> None:
    def whoami(x: int, pid: int) -> tuple[int, int]:
        return x, pid

    stage = weirflow.process.map(
        whoami, range(50), workers=2, on_start=lambda: {"pid": os.getpid()}
    )
    pids = {pid for _, pid in stage}
    assert os.getpid() not in pids
    assert 1 <= len(pids) <= 2


def test_default_start_method_is_safe_with_threads() -> None:
    assert weirflow.process.get_start_method() in ("forkserver", "spawn")
    with pytest.raises(weirflow.InvalidArgumentError):
        weirflow.process.set_start_method("teleport")


def test_mixed_pipeline_thread_process_task_sync() -> None:
    async def add(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    stage = weirflow.thread.map(lambda x: x * 2, range(500), workers=2, maxsize=10)
    stage = weirflow.process.map(lambda x: x * 3, stage, workers=2, maxsize=10)
    stage = weirflow.task.map(add, stage, workers=3, maxsize=10)
    stage = weirflow.sync.filter(lambda x: x % 5 != 0, stage)
    stage = weirflow.process.flat_map(lambda x: [x, -x], stage, workers=2)
    expected = [y for x in range(500) if (x * 6 + 1) % 5 for y in (x * 6 + 1, -(x * 6 + 1))]
    assert list(weirflow.thread.ordered(stage)) == expected


def test_an_error_comes_back_with_its_traceback_and_all_workers_exit(
    recorder: Recorder,
) -> None:
    def f(x: int) -> int:
        if x == 77:
            raise KeyError("missing", x)
        return x

    stage = weirflow.process.map(f, range(10_000), workers=2, on_start=record_pid(recorder))
    with pytest.raises(KeyError) as info:
        list(stage)
    assert info.value.args == ("missing", 77)
    assert 'raise KeyError("missing", x)' in str(info.value.__cause__)
    assert any("process.map(f)" in note for note in info.value.__notes__)
    assert_gone([int(pid) for pid in recorder.values()])


@pytest.mark.parametrize(
    ("how", "exitcode"),
    [("exit", 3), ("sigkill", -signal.SIGKILL), ("segfault", -signal.SIGSEGV)],
)
def test_a_worker_that_dies_fails_the_pipeline_promptly(
    how: str, exitcode: int, recorder: Recorder
) -> None:
    def die(x: int) -> int:
        if x == 5:
            if how == "exit":
                os._exit(3)
            elif how == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
            else:
                ctypes.string_at(0)
        return x

    stage = weirflow.process.map(die, range(1_000_000), workers=2, on_start=record_pid(recorder))
    with pytest.raises(weirflow.WorkerDied) as info:
        list(stage)
    assert info.value.stage == "process.map(die)"
    assert info.value.exitcode == exitcode
    assert_gone([int(pid) for pid in recorder.values()])


def kill_myself(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_a_killed_worker_of_a_pipeline_is_reported_with_its_stage(use_threads: bool) -> None:
    builder = weirflow.FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("readings").with_core_logic(lambda: 1).with_core_logic(
        kill_myself, kind="process"
    ).send(lambda item: None)
    with pytest.raises(weirflow.PipelineFailed) as info:
        builder.build().launch_flow(execution_seconds=60)
    failure = info.value
    assert failure.stage == "readings.core_logic_2"
    assert "failed in stage 'readings.core_logic_2'" in str(failure)
    assert isinstance(failure.__cause__, weirflow.WorkerDied)
    assert failure.__cause__.exitcode == -signal.SIGKILL


def test_breaking_out_stops_workers_and_runs_on_done(tmp_path: Path) -> None:
    pids = Recorder(tmp_path / "pids")
    done = Recorder(tmp_path / "done")

    def endless() -> Iterator[int]:
        i = 0
        while True:
            yield i
            i += 1

    stage = weirflow.process.map(
        lambda x: x,
        endless(),
        workers=2,
        maxsize=10,
        on_start=record_pid(pids),
        on_done=lambda: done(os.getpid()),
    )
    for x in stage:
        if x == 1000:
            break
    assert sorted(done.values()) == sorted(pids.values())
    assert len(pids.values()) == 2
    assert_gone([int(pid) for pid in pids.values()])


def test_a_busy_worker_is_terminated_after_the_grace_period(recorder: Recorder) -> None:
    import time

    def stuck(x: int) -> int:
        if x == 1:
            time.sleep(3600)
        return x

    stage = weirflow.process.map(stuck, range(10), workers=2, on_start=record_pid(recorder))
    iterator = iter(stage)
    next(iterator)
    iterator.close()  # type: ignore[attr-defined]
    assert_gone([int(pid) for pid in recorder.values()])


def test_an_element_that_cannot_be_pickled_names_the_stage() -> None:
    stage = weirflow.process.map(lambda x: x, [1, lambda: 2], workers=1)
    with pytest.raises(weirflow.SerializationError, match=r"process.map\(<lambda>\).*element"):
        list(stage)


def test_a_result_that_cannot_be_pickled_names_the_stage() -> None:
    stage = weirflow.process.map(lambda x: lambda: x, [1], workers=1)
    with pytest.raises(weirflow.SerializationError, match=r"process.map\(<lambda>\).*result"):
        list(stage)


def test_a_function_that_cannot_be_pickled_names_the_stage() -> None:
    import threading

    lock = threading.Lock()

    def f(x: int) -> int:
        with lock:
            return x

    with pytest.raises(weirflow.SerializationError, match=r"process.map\(f\).*pickled"):
        list(weirflow.process.map(f, [1]))


def test_scripts_without_a_main_guard_work(tmp_path: Path) -> None:
    result = run_script(
        tmp_path,
        """
        import weirflow as pl
        factor = 3
        stage = pl.process.map(lambda x: x * factor, range(20), workers=2)
        print(sorted(stage))
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str([x * 3 for x in range(20)])
    assert result.stderr == ""


def test_ctrl_c_stops_worker_processes_without_leaks(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    script = tmp_path / "interrupted.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import itertools, os
            import weirflow as wf
            from weirflow.testing import Recorder

            pids = Recorder({str(pid_file)!r})
            stage = wf.process.map(
                lambda x: x, itertools.count(), workers=2, maxsize=10,
                on_start=lambda: pids(os.getpid()),
            )
            for i, x in enumerate(stage):
                if i == 2000:
                    print("ready", flush=True)
            """
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"
    os.killpg(process.pid, signal.SIGINT)  # as a terminal does: to the whole process group
    _, stderr = process.communicate(timeout=30)
    assert b"KeyboardInterrupt" in stderr
    assert b"leaked" not in stderr
    assert_gone([int(pid) for pid in Recorder(pid_file).values()])
