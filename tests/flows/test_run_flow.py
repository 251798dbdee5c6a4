"""``weirflow.run_flow``: a flow inside an orchestrator's task. The summary, the selection of
pipelines, failures raised, and signals left to the orchestrator (in real subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError, FlowBuilder, PipelineFailed, run_flow
from weirflow.testing import ListStorage

SRC = str(Path(__file__).resolve().parents[2] / "src")
MODES = [pytest.param(True, id="threads"), pytest.param(False, id="processes")]


def double(item: int) -> int:
    return item * 2


def numbers() -> list[int]:
    return [1, 2, 3]


def broken() -> None:
    raise ValueError("the source is broken")


@pytest.mark.parametrize("use_threads", MODES)
def test_the_summary_is_small_and_json(use_threads: bool) -> None:
    storage = ListStorage()
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("numbers").with_core_logic(lambda: iter(numbers())).with_core_logic(
        double
    ).with_storage(storage)
    summary = run_flow(builder, execution_seconds=60)
    assert json.loads(json.dumps(summary)) == summary
    counts = summary["pipelines"]["numbers"]
    assert {k: counts[k] for k in ("runs", "items", "failures", "failed_items")} == {
        "runs": 1,
        "items": 3,
        "failures": 0,
        "failed_items": 0,
    }
    assert 0 <= counts["duration_seconds"] <= summary["duration_seconds"]
    assert sorted(storage.items) == [2, 4, 6]


def two_pipelines() -> tuple[FlowBuilder, ListStorage, ListStorage]:
    first, second = ListStorage(), ListStorage()
    builder = FlowBuilder()
    builder.add_pipeline("first").with_core_logic(numbers).with_storage(first)
    builder.add_pipeline("second").with_core_logic(numbers).with_storage(second)
    return builder, first, second


def test_pipelines_selects_what_runs() -> None:
    builder, first, second = two_pipelines()
    summary = run_flow(builder, pipelines=["second"])
    assert list(summary["pipelines"]) == ["second"]
    assert first.items == []
    assert second.items == [[1, 2, 3]]
    assert list(run_flow(builder, pipelines="first")["pipelines"]) == ["first"]


def test_an_unknown_pipeline_is_a_config_error_with_a_suggestion() -> None:
    builder, _, _ = two_pipelines()
    with pytest.raises(ConfigError, match=r"no pipeline 'secnod' \(did you mean 'second'\?\)"):
        run_flow(builder, pipelines=["secnod"])
    with pytest.raises(ConfigError, match="at least one pipeline"):
        run_flow(builder, pipelines=[])


def test_a_selection_cannot_split_a_stream() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("make").with_core_logic(numbers).send("stream", name="n")
    builder.add_pipeline("keep").with_stream_connector("n").with_storage(ListStorage())
    builder.add_pipeline("alone").with_core_logic(numbers)
    with pytest.raises(
        ConfigError,
        match=r"stream 'n' is cut: written by 'make' and read by 'keep', but 'make' does not run",
    ):
        run_flow(builder, pipelines=["keep"])
    assert list(run_flow(builder, pipelines=["make", "keep"])["pipelines"]) == ["make", "keep"]


@pytest.mark.parametrize("use_threads", MODES)
def test_a_failure_is_raised_not_summarised(use_threads: bool) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("broken").with_core_logic(broken)
    with pytest.raises(PipelineFailed) as failed:
        run_flow(builder, execution_seconds=60)
    assert failed.value.pipeline == "broken"
    assert isinstance(failed.value.__cause__, ValueError)


def test_bad_arguments_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="takes a Flow or a FlowBuilder, got str"):
        run_flow("service.py")
    builder, _, _ = two_pipelines()
    with pytest.raises(ConfigError, match="handle_signals"):
        run_flow(builder, handle_signals="no")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="execution_seconds"):
        run_flow(builder, execution_seconds=float("nan"))


def test_it_leaves_the_signal_handlers_alone() -> None:
    def mine(signum: int, frame: Any) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        builder, _, _ = two_pipelines()
        run_flow(builder)
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


# -- an orchestrator's SIGTERM, in a real subprocess ---------------------------------------------

TASK = """
import signal, sys, threading, time
from weirflow import FlowBuilder, run_flow

HANDLER = {handler!r}
if HANDLER == "raises":  # as an orchestrator's task runner does
    def terminated(signum, frame):
        raise RuntimeError("task received SIGTERM")
    signal.signal(signal.SIGTERM, terminated)

def tick():
    print("tick", flush=True)
    return time.time()

def task():
    builder = FlowBuilder(use_threads={use_threads})
    builder.add_pipeline("ticks", timedelta_seconds=0.1).with_core_logic(tick) \\
        .with_storage("jsonl", path={jsonl!r})
    try:
        summary = run_flow(builder, handle_signals={handle_signals})
    except BaseException as error:
        names = sorted(t.name for t in threading.enumerate() if t is not threading.main_thread())
        print("raised", type(error).__name__, error, "threads left:", names, flush=True)
        raise
    print("returned", summary, flush=True)

if __name__ == "__main__":
    task()
"""


def start_task(
    tmp_path: Path, handler: str, use_threads: bool, handle_signals: bool = False
) -> Any:
    script = tmp_path / "task.py"
    script.write_text(
        textwrap.dedent(TASK).format(
            handler=handler,
            use_threads=use_threads,
            handle_signals=handle_signals,
            jsonl=str(tmp_path / "ticks.jsonl"),
        )
    )
    process = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tick"  # the flow runs
    return process


@pytest.mark.parametrize("use_threads", MODES)
def test_sigterm_without_a_handler_ends_the_task_as_killed(
    tmp_path: Path, use_threads: bool
) -> None:
    process = start_task(tmp_path, "none", use_threads)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGTERM, stderr
    assert "returned" not in stdout


@pytest.mark.parametrize("use_threads", MODES)
def test_what_the_orchestrators_handler_raises_comes_out_of_run_flow(
    tmp_path: Path, use_threads: bool
) -> None:
    process = start_task(tmp_path, "raises", use_threads)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "returned" not in stdout
    assert "raised RuntimeError task received SIGTERM threads left: []" in stdout
    assert "RuntimeError: task received SIGTERM" in stderr


def test_with_handle_signals_a_sigterm_is_a_graceful_stop(tmp_path: Path) -> None:
    process = start_task(tmp_path, "none", use_threads=True, handle_signals=True)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "returned {'pipelines': {'ticks': {'runs': " in stdout
