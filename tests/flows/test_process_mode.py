"""``use_threads=False`` behaves like threads: logs, live statistics, nothing left behind."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest

from weirflow import FlowBuilder

from .cli_support import marked, summary_items, weirflow, write

LOGGING = """
import logging
from weirflow import FlowBuilder

log = logging.getLogger("weirflow.service")

def work():
    log.warning("careful: %s", "hot")
    log.debug("detail %d", 42)
    return {"n": 1}

builder = FlowBuilder(use_threads=False)
builder.add_pipeline("logs").with_core_logic(work).with_storage("jsonl", path="out.jsonl")
"""

TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


def line(level: str, message: str) -> str:
    return rf"^{TIME} {level} weirflow\.service: {message}$"


@pytest.mark.parametrize("level", ["ERROR", "INFO", "DEBUG"])
def test_pipeline_process_logs_go_through_the_parents_handlers(tmp_path: Path, level: str) -> None:
    service = write(tmp_path, LOGGING)
    process = weirflow("run", str(service), "--log-level", level, cwd=tmp_path)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    warning = re.search(line("WARNING", "careful: hot"), stderr, re.M)
    debug = re.search(line("DEBUG", "detail 42"), stderr, re.M)
    assert (warning is not None) == (level != "ERROR"), stderr
    assert (debug is not None) == (level == "DEBUG"), stderr
    assert "careful" in stderr if level != "ERROR" else "careful" not in stderr
    assert "\ncareful" not in stderr  # never bare


def test_statistics_are_live_while_the_flow_runs_and_true_at_the_end(tmp_path: Path) -> None:
    fifo = tmp_path / "runs"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDWR)  # read-write: writers come and go, no end of file
    path = str(fifo)

    def tick() -> dict[str, int]:
        with open(path, "w") as runs:  # at the start of each run
            runs.write("x")
        return {"n": 1}

    builder = FlowBuilder(use_threads=False)
    builder.add_pipeline("ticks", timedelta_seconds=0.01).with_core_logic(tick).with_storage(
        "jsonl", path=str(tmp_path / "ticks.jsonl")
    )
    flow = builder.build()
    launch = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 120})
    launch.start()
    try:
        seen = b""
        while len(seen) < 3:
            seen += os.read(reader, 1)
        live = flow.statistics()["ticks"]  # the third run began: two ended before it
        assert live["runs"] >= 2
        assert live["items"] >= 2
    finally:
        flow.stop()
        launch.join(60)
        os.close(reader)
    final = flow.statistics()["ticks"]
    stored = (tmp_path / "ticks.jsonl").read_text().splitlines()
    assert final["items"] == len(stored) >= 3
    assert final["runs"] == len(stored)


def test_a_continuous_pipeline_counts_items(tmp_path: Path) -> None:
    builder = FlowBuilder(use_threads=False)
    builder.add_pipeline("produce").with_core_logic(lambda: iter(range(10))).send(
        "stream", name="numbers"
    )
    builder.add_pipeline("consume").with_stream_connector("numbers").with_storage(
        "jsonl", path=str(tmp_path / "numbers.jsonl")
    )
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert flow.statistics()["consume"]["items"] == 10
    assert len((tmp_path / "numbers.jsonl").read_text().splitlines()) == 10


STUCK = """
import threading
from weirflow import FlowBuilder

def stuck(item):
    print("stuck", flush=True)
    threading.Event().wait()  # a user function that never returns

builder = FlowBuilder(use_threads=False)
builder.add_pipeline("stuck").with_core_logic(lambda: 1) \\
    .with_core_logic(stuck, kind="process", workers=2).send(lambda item: None)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_nothing_outlives_the_cli_and_a_piping_caller_reaches_end_of_file(
    tmp_path: Path, signum: int
) -> None:
    service = write(tmp_path, STUCK)
    mark = uuid.uuid4().hex
    process = weirflow("run", str(service), cwd=tmp_path, env={"WEIRFLOW_TEST_MARK": mark})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "stuck"
    os.killpg(process.pid, signum)  # the workers stay stuck: the grace period passes
    stdout, stderr = process.communicate(timeout=60)  # end of file: nobody holds our pipe
    assert process.returncode == 0, stderr
    assert summary_items(stdout, "stuck") == 0
    assert marked(mark) == [], "processes left behind"


class UntilStored:
    """A flow observer whose first tick, 0.4 s in (before a 0.5 s limit is checked), holds the
    supervisor until ``path`` has a line: the limit then passes with the pipeline running,
    however long its process took to start on a busy machine."""

    every = 0.4

    def __init__(self, path: Path) -> None:
        self.path = path

    def tick(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (self.path.exists() and self.path.read_text()):
            time.sleep(0.01)


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_counts_at_the_time_limit_match_what_was_stored(tmp_path: Path, use_threads: bool) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("ticks", timedelta_seconds=0.01).with_core_logic(
        lambda: {"n": 1}
    ).with_storage("jsonl", path=str(tmp_path / "ticks.jsonl"))
    flow = builder.build()
    flow.observers.append(UntilStored(tmp_path / "ticks.jsonl"))
    flow.launch_flow(execution_seconds=0.5)
    stored = (tmp_path / "ticks.jsonl").read_text().splitlines()
    statistics = flow.statistics()["ticks"]
    assert statistics["items"] == len(stored) >= 1
    assert statistics["runs"] == len(stored)
