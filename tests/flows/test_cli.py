"""``weirflow run`` and ``weirflow check``, as a user runs them: in a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")

SERVICE = """
from weirflow import FlowBuilder

def tick():
    print("tick", flush=True)
    return {"tick": 1}

builder = FlowBuilder()
builder.add_pipeline("ticks", timedelta_seconds=0.05).with_core_logic(tick) \\
    .with_storage("jsonl", path="ticks.jsonl")
"""


def write(tmp_path: Path, code: str, name: str = "service.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(code))
    return path


def weirflow(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "weirflow", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
    )


def test_check_prints_pipelines_and_stages(tmp_path: Path) -> None:
    service = write(tmp_path, SERVICE)
    process = weirflow("check", str(service), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "pipeline 'ticks': every 0.05s" in stdout
    assert "ticks.core_logic: core logic tick" in stdout
    assert not (tmp_path / "ticks.jsonl").exists() or (tmp_path / "ticks.jsonl").read_text() == ""


def test_check_reports_configuration_errors_with_exit_code_2(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        from weirflow import FlowBuilder
        builder = FlowBuilder()
        builder.add_pipeline("p").with_core_logic(lambda: 1).send("http_post")
        """,
    )
    process = weirflow("check", str(service), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "configuration error" in stderr
    assert "destination" in stderr


def test_run_with_a_time_limit_and_a_named_factory(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        from weirflow import FlowBuilder

        def make():
            builder = FlowBuilder()
            builder.add_pipeline("once").with_core_logic(lambda: [1, 2]) \\
                .with_storage("json", path="once.json")
            return builder
        """,
    )
    process = weirflow("run", f"{service}:make", "--execution-seconds", "30", cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "once: 1 run(s), 1 item(s)" in stdout
    assert (tmp_path / "once.json").read_text().strip().startswith("[")


def test_run_exits_1_when_a_pipeline_fails(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        from weirflow import FlowBuilder

        def broken():
            raise KeyError("no such sensor")

        flow = FlowBuilder()
        flow.add_pipeline("broken").with_core_logic(broken).send(lambda item: None)
        """,
    )
    process = weirflow("run", str(service), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "pipeline 'broken' failed in stage 'broken.core_logic'" in stderr
    assert "no such sensor" in stderr


def test_sigterm_stops_the_service_cleanly_with_exit_code_0(tmp_path: Path) -> None:
    service = write(tmp_path, SERVICE)
    process = weirflow("run", str(service), cwd=tmp_path)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tick"
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "received SIGTERM" in stderr
    lines = (tmp_path / "ticks.jsonl").read_text().splitlines()
    assert len(lines) >= 1
    assert all(line == '{"tick": 1}' for line in lines)


def test_a_second_ctrl_c_exits_at_once_with_130(tmp_path: Path) -> None:
    service = write(
        tmp_path,
        """
        import time
        from weirflow import FlowBuilder

        def slow():
            print("working", flush=True)
            time.sleep(60)

        flow = FlowBuilder()
        flow.add_pipeline("slow").with_core_logic(slow).send(lambda item: None)
        """,
    )
    process = weirflow("run", str(service), cwd=tmp_path)
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().strip() == "working"
    process.send_signal(signal.SIGINT)
    while "stopping the flow" not in process.stderr.readline():
        pass
    # a SIGINT within a quarter of a second of the first is the same Ctrl-C (GNU timeout
    # signals the child and its group): press again, as a user would, until it takes
    for _ in range(20):
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "second Ctrl-C: exiting at once with status 130" in stderr


def test_unknown_file_and_missing_flow(tmp_path: Path) -> None:
    process = weirflow("run", str(tmp_path / "nope.py"), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "no such service file" in stderr
    empty = write(tmp_path, "x = 1\n", name="empty.py")
    process = weirflow("check", str(empty), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert "exposes no Flow" in stderr


FACTORIES = """
from weirflow import FlowBuilder

def build_flow(base_url, period=0.05):
    builder = FlowBuilder()
    builder.add_pipeline("poll", timedelta_seconds=period).with_core_logic(lambda: base_url)
    return builder

def make(period=0.05):
    return build_flow("http://127.0.0.1:1", period)

def broken():
    raise TypeError("not like this")
"""


@pytest.mark.parametrize("command", ["check", "graph", "run"])
def test_a_factory_that_needs_arguments_is_a_clear_error(tmp_path: Path, command: str) -> None:
    service = write(tmp_path, FACTORIES)
    process = weirflow(command, str(service), cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert f"{service}: build_flow(base_url, period=...) needs base_url" in stderr


def test_a_factory_whose_parameters_have_defaults_is_called(tmp_path: Path) -> None:
    service = write(tmp_path, FACTORIES)
    process = weirflow("check", f"{service}:make", cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "pipeline 'poll': every 0.05s" in stdout


def test_a_factory_that_raises_names_the_file_and_line(tmp_path: Path) -> None:
    service = write(tmp_path, FACTORIES)
    process = weirflow("check", f"{service}:broken", cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert f"{service}:13: TypeError: not like this" in stderr
