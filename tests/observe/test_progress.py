"""``weirflow.progress`` under a real pseudo-terminal: lines drawn and updated in place, final
counts right, a full queue and the bottleneck marked; nothing at all when stderr is a pipe."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import weirflow as wf

from .terminal_support import run, script

CHAIN = """
    import asyncio, sys
    import weirflow as wf

    def double(x):
        return 2 * x

    def keep_even(x):
        return x % 4 == 0

    def stage():
        first = wf.{kind}.map(double, range(1000), workers=2, maxsize=16)
        return wf.thread.filter(keep_even, first, workers=3, maxsize=8)

    how = sys.argv[1]
    if how == "for":
        got = [x for x in wf.progress(stage())]
    elif how == "list":
        got = list(wf.progress(stage()))
    else:
        async def main():
            return [x async for x in wf.progress(stage())]
        got = asyncio.run(main())
    print(len(got), sum(got))
"""

EXPECTED = f"{len(range(0, 2000, 4))} {sum(range(0, 2000, 4))}"


@pytest.mark.parametrize("how", ["for", "list", "async"])
@pytest.mark.parametrize("kind", ["thread", "task", "process"])
def test_lines_are_drawn_in_place_with_final_counts(tmp_path: Path, how: str, kind: str) -> None:
    program = script(tmp_path, CHAIN.format(kind=kind))
    ran = run([str(program), how], tmp_path, terminal=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == EXPECTED.split()
    assert "\r" in ran.stderr  # redrawn in place...
    assert "\x1b[A" in ran.stderr  # ...several lines: the cursor goes back up
    final = ran.final_lines()
    assert final[f"{kind}.map(double)"].startswith("1000 items")
    assert final["thread.filter(keep_even)"].startswith("1000 items")
    assert final["thread.filter(keep_even) (output)"].startswith("500 items")
    assert re.search(r"items/s", final[f"{kind}.map(double)"])
    assert re.search(r"queue \d+/16", final[f"{kind}.map(double)"])
    assert re.search(r"queue \d+/8", final["thread.filter(keep_even)"])


@pytest.mark.parametrize("how", ["for", "list", "async"])
def test_nothing_is_written_when_stderr_is_not_a_terminal(tmp_path: Path, how: str) -> None:
    program = script(tmp_path, CHAIN.format(kind="thread"))
    ran = run([str(program), how], tmp_path, terminal=False)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.split() == EXPECTED.split()
    assert ran.stderr == ""


STUCK = """
    import sys, threading, time
    import weirflow as wf
    from weirflow._runtime._supervisor import Run, iterate_values
    from weirflow.observe._progress import StageProgress

    release = threading.Event()

    def gate(x):
        if x == 1:
            release.wait()
        return x

    stage = wf.thread.map(gate, wf.thread.map(lambda x: x, range(100), maxsize=6), maxsize=4)
    run = Run(stage.spec)
    shown = StageProgress(run, stage.name, sys.stderr)
    got = []
    for value in iterate_values(run, stage.spec.maxsize, with_index=False):
        got.append(value)
        shown.tick()
        if value == 0:
            # gate holds item 1: wait (with a deadline) until both queues are full, draw
            deadline = time.monotonic() + 30
            while not all(c.occupied() >= c.capacity for _, c in run.queues()):
                assert time.monotonic() < deadline, [c.occupied() for _, c in run.queues()]
                time.sleep(0.001)
            shown.draw()
            release.set()
    shown.close()
    print(len(got))
"""


def test_a_full_queue_and_the_bottleneck_are_marked(tmp_path: Path) -> None:
    ran = run([str(script(tmp_path, STUCK))], tmp_path, terminal=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "100"
    # while gate was stuck: both queues full, the one furthest down is the bottleneck
    assert re.search(r"thread\.map\(<lambda>\) *: \d+ items[^\r\n]*queue 6/6 full\]", ran.stderr)
    assert re.search(
        r"thread\.map\(gate\) *: \d+ items[^\r\n]*queue 4/4 full ◀ bottleneck", ran.stderr
    )
    final = ran.final_lines()
    assert final["thread.map(gate)"].startswith("100 items")
    assert "full" not in final["thread.map(gate)"]


def test_progress_takes_a_stage_only() -> None:
    with pytest.raises(wf.InvalidArgumentError, match="progress\\(\\) takes a stage"):
        wf.progress([1, 2, 3])  # type: ignore[arg-type]


def test_without_a_terminal_it_iterates_like_the_stage(capfd: pytest.CaptureFixture[str]) -> None:
    stage = wf.thread.map(lambda x: x + 1, range(10), workers=2)
    assert sorted(wf.progress(stage)) == list(range(1, 11))
    assert capfd.readouterr().err == ""


SERVICE = """
    from weirflow import FlowBuilder
    from weirflow.testing import ListSource, ListStorage

    builder = FlowBuilder(use_threads={use_threads})
    (builder.add_pipeline("numbers").with_source(ListSource(list(range(30))))
        .with_core_logic(lambda x: x * 2, workers=2, maxsize=4).with_storage(ListStorage()))
    (builder.add_pipeline("letters").with_source(ListSource(list("abcde")))
        .with_storage(ListStorage()))
    flow = builder.build()
"""


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_weirflow_run_draws_a_line_per_pipeline(tmp_path: Path, use_threads: bool) -> None:
    service = script(tmp_path, SERVICE.format(use_threads=use_threads), "service.py")
    ran = run(["-m", "weirflow", "run", str(service)], tmp_path, terminal=True)
    assert ran.returncode == 0, ran.stderr
    assert "\x1b[A" in ran.stderr
    final = ran.final_lines()
    assert final["numbers"].startswith("30 items")
    assert final["letters"].startswith("5 items")
    assert "1 run(s)" in final["numbers"]
    assert "flow stopped after" in ran.stderr  # log lines still shown, above the lines
    assert "numbers: 1 run(s), 30 item(s)" in ran.stdout


def test_weirflow_run_draws_nothing_on_a_pipe(tmp_path: Path) -> None:
    service = script(tmp_path, SERVICE.format(use_threads=True), "service.py")
    ran = run(["-m", "weirflow", "run", str(service)], tmp_path, terminal=False)
    assert ran.returncode == 0, ran.stderr
    assert "\r" not in ran.stderr
    assert "items/s" not in ran.stderr
    assert "numbers: 1 run(s), 30 item(s)" in ran.stdout
