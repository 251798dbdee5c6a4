"""Signals as a terminal and systemd send them: to the whole process group of ``weirflow run``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from weirflow.flows._signals import descendants

from .cli_support import marked, summary_items, weirflow, write

TICKS = """
import time
from weirflow import FlowBuilder

def tick():
    print("tick", flush=True)
    return {{"at": time.time()}}

builder = FlowBuilder(use_threads={use_threads})
builder.add_pipeline("ticks", timedelta_seconds=0.2).with_core_logic(tick) \\
    .with_storage("jsonl", path="ticks.jsonl")
"""

MODES = [pytest.param(True, id="threads"), pytest.param(False, id="processes")]


def stored(tmp_path: Path) -> list[float]:
    path = tmp_path / "ticks.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["at"] for line in path.read_text().splitlines()]


def started(tmp_path: Path, use_threads: bool) -> subprocess.Popen[str]:
    service = write(tmp_path, TICKS.format(use_threads=use_threads))
    process = weirflow("run", str(service), cwd=tmp_path)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tick"
    return process


@pytest.mark.parametrize("use_threads", MODES)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_group_signal_stops_at_once_with_a_true_summary(
    tmp_path: Path, use_threads: bool, signum: int
) -> None:
    process = started(tmp_path, use_threads)
    signalled_at = time.time()
    os.killpg(process.pid, signum)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"received {signal.Signals(signum).name}: stopping the flow" in stderr
    times = stored(tmp_path)
    # no new run after the signal: at most the run in progress (a 0.2 s period; a 5 s grace
    # spent polling would store about 25 more)
    assert len([t for t in times if t > signalled_at]) <= 2
    assert summary_items(stdout, "ticks") == len(times) >= 1
    assert "second Ctrl-C" not in stderr


def test_sigterm_to_every_process_as_systemd_sends_it(tmp_path: Path) -> None:
    """systemd's default KillMode signals every process of the service's cgroup at once."""
    process = started(tmp_path, use_threads=False)
    for pid in [process.pid, *descendants(process.pid)]:
        os.kill(pid, signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "received SIGTERM: stopping the flow" in stderr
    assert summary_items(stdout, "ticks") == len(stored(tmp_path)) >= 1


@pytest.mark.parametrize("use_threads", MODES)
def test_two_sigints_microseconds_apart_are_one_ctrl_c(tmp_path: Path, use_threads: bool) -> None:
    process = started(tmp_path, use_threads)
    os.kill(process.pid, signal.SIGINT)  # what GNU timeout does: the child, then the group
    os.killpg(process.pid, signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "second Ctrl-C" not in stderr
    assert summary_items(stdout, "ticks") == len(stored(tmp_path))


@pytest.mark.skipif(shutil.which("timeout") is None, reason="needs GNU timeout")
def test_gnu_timeout_stops_the_flow_gracefully(tmp_path: Path) -> None:
    """GNU timeout's timer fires as SIGALRM; sent once the flow runs, it is the limit passing
    then, on a machine of any speed (the 60 s limit itself only bounds the test)."""
    service = write(tmp_path, TICKS.format(use_threads=False))
    process = weirflow(
        "run",
        str(service),
        cwd=tmp_path,
        prefix=("timeout", "--preserve-status", "-s", "INT", "60"),
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "tick"
    os.kill(process.pid, signal.SIGALRM)  # process.pid is timeout's: its time is up now
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "received SIGINT: stopping the flow" in stderr
    assert "second Ctrl-C" not in stderr
    assert summary_items(stdout, "ticks") == len(stored(tmp_path)) >= 1


SPINNING = """
from weirflow import FlowBuilder

def spin():
    print("spin", flush=True)

builder = FlowBuilder()
for n in range(4):
    builder.add_pipeline(f"spin{n}", timedelta_seconds=0.001).with_core_logic(spin) \\
        .send(lambda item: None)
"""


def test_sigterm_always_stops_a_spinning_flow(tmp_path: Path) -> None:
    """The handler takes no lock: a signal landing while the supervisor holds one is safe."""
    service = write(tmp_path, SPINNING)
    for _ in range(12):
        process = weirflow("run", str(service), cwd=tmp_path)
        assert process.stdout is not None
        assert "spin" in process.stdout.readline()
        for _ in range(200):  # a burst: some land inside the supervisor's waits and wake-ups
            os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert "received SIGTERM: stopping the flow" in stderr


FORCED = """
import threading
from weirflow import FlowBuilder

def stuck(item):
    print("stuck", flush=True)
    threading.Event().wait()

builder = FlowBuilder(use_threads=False)
builder.add_pipeline("stuck").with_core_logic(lambda: 1) \\
    .with_core_logic(stuck, kind="process").send(lambda item: None)
"""


def test_a_second_ctrl_c_kills_the_pipeline_processes_and_says_so(tmp_path: Path) -> None:
    service = write(tmp_path, FORCED)
    mark = uuid.uuid4().hex
    process = weirflow("run", str(service), cwd=tmp_path, env={"WEIRFLOW_TEST_MARK": mark})
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().strip() == "stuck"
    os.killpg(process.pid, signal.SIGINT)
    while "stopping the flow" not in process.stderr.readline():
        pass
    for _ in range(20):  # pressed again after the first, until it counts as a second Ctrl-C
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            continue
    _, stderr = process.communicate(timeout=60)  # end of file: nobody holds our pipes
    assert process.returncode == 130
    assert "second Ctrl-C: exiting at once with status 130" in stderr
    assert "process(es) killed" in stderr
    assert marked(mark) == []


OTHER_THREAD = """
import signal
import threading
from weirflow import FlowBuilder

runs = threading.Semaphore(0)

def signal_from_a_thread_of_the_users():  # a library's thread: it does not block SIGTERM
    for _ in range(3):  # by the third run the supervisor sleeps in its wait
        runs.acquire()
    signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

threading.Thread(target=signal_from_a_thread_of_the_users, daemon=True).start()

def work():
    print("working", flush=True)
    runs.release()

builder = FlowBuilder()
builder.add_pipeline("ticks", timedelta_seconds=0.2).with_core_logic(work) \\
    .send(lambda item: None)
"""


def test_a_signal_delivered_to_another_thread_wakes_the_supervisor(tmp_path: Path) -> None:
    service = write(tmp_path, OTHER_THREAD)
    process = weirflow("run", str(service), cwd=tmp_path)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert "working" in stdout
    assert "received SIGTERM: stopping the flow" in stderr
