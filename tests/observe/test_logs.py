"""``weirflow run``'s log lines in real subprocesses: the banner, one line per scheduled run,
summaries of a continuous pipeline, JSON lines with pipeline and stage from every kind of
worker (threads, a pipeline process, a stage's worker process), credentials masked."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .terminal_support import SRC, script

FINITE = """
    import logging
    from weirflow import FlowBuilder
    from weirflow.testing import ListSource, ListStorage

    log = logging.getLogger("weirflow.service")
    other = logging.getLogger("myservice")  # not weirflow's: shown from WARNING up

    def shout(item):
        log.warning("saw %s from http://user:hunter2@example.com/x", item)
        other.info("quiet %s", item)
        if item in (1, "a"):
            other.warning("loud %s", item)
        return item

    builder = FlowBuilder(use_threads={use_threads})
    (builder.add_pipeline("numbers").with_source(ListSource([1, 2, 3]))
        .with_core_logic(shout, kind="{kind}").with_storage(ListStorage()))
    (builder.add_pipeline("letters").with_source(ListSource(["a", "b"]))
        .with_core_logic(shout, kind="{kind}").with_storage(ListStorage()))
    flow = builder.build()
"""


def weirflow_run(tmp_path: Path, *args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = subprocess.run(
        [sys.executable, "-m", "weirflow", "run", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": SRC},
        stdin=subprocess.DEVNULL,
    )
    return process.returncode, process.stdout, process.stderr


def test_text_logs_have_the_banner_and_one_line_per_run(tmp_path: Path) -> None:
    service = script(tmp_path, FINITE.format(use_threads=True, kind="thread"), "service.py")
    code, stdout, stderr = weirflow_run(tmp_path, str(service))
    assert code == 0, stderr
    assert "flow starting: 2 pipeline(s) in threads: numbers (once), letters (once)" in stderr
    runs = re.findall(r"pipeline '(\w+)': run finished: (\d+) item\(s\) in [\d.]+s", stderr)
    assert sorted(runs) == [("letters", "2"), ("numbers", "3")]
    assert "hunter2" not in stderr
    assert "saw 1 from http://***@example.com/x" in stderr
    assert "\r" not in stderr  # no progress lines on a pipe
    assert "numbers: 1 run(s), 3 item(s)" in stdout


def json_lines(stderr: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    for line in lines:
        assert {"time", "level", "logger", "message", "pipeline", "stage"} <= set(line)
    return lines


@pytest.mark.parametrize(
    ("use_threads", "kind"),
    [(True, "thread"), (True, "task"), (False, "thread"), (True, "process"), (False, "process")],
    ids=["threads", "task-stage", "pipeline-processes", "process-stage", "both-processes"],
)
def test_json_lines_carry_pipeline_and_stage(tmp_path: Path, use_threads: bool, kind: str) -> None:
    service = script(tmp_path, FINITE.format(use_threads=use_threads, kind=kind), "service.py")
    code, _, stderr = weirflow_run(tmp_path, str(service), "--log-format", "json")
    assert code == 0, stderr
    lines = json_lines(stderr)  # every line is one JSON object
    mode = "threads" if use_threads else "processes"
    assert lines[0]["message"].startswith(f"flow starting: 2 pipeline(s) in {mode}")
    saw = [line for line in lines if line["logger"] == "weirflow.service"]
    where = sorted((line["pipeline"], line["stage"], line["message"].split()[1]) for line in saw)
    assert where == [
        ("letters", "letters.core_logic", "a"),
        ("letters", "letters.core_logic", "b"),
        ("numbers", "numbers.core_logic", "1"),
        ("numbers", "numbers.core_logic", "2"),
        ("numbers", "numbers.core_logic", "3"),
    ]
    assert all(line["level"] == "WARNING" for line in saw)
    others = sorted(
        (x["pipeline"], x["stage"], x["message"]) for x in lines if x["logger"] == "myservice"
    )
    assert others == [
        ("letters", "letters.core_logic", "loud a"),
        ("numbers", "numbers.core_logic", "loud 1"),
    ]
    assert "hunter2" not in stderr
    runs = {line["pipeline"]: line for line in lines if line.get("outcome") == "finished"}
    assert runs.keys() == {"numbers", "letters"}
    assert runs["numbers"]["items"] == 3
    assert runs["numbers"]["stage"] is None
    assert isinstance(runs["numbers"]["duration_seconds"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", runs["numbers"]["time"])


CONTINUOUS = """
    from weirflow import FlowBuilder
    from weirflow.testing import ListSource, ListStorage

    builder = FlowBuilder(use_threads={use_threads})
    (builder.add_pipeline("feed").with_source(ListSource([1, 2, 3, 4], continuous=True))
        .with_storage(ListStorage()))
    flow = builder.build()
"""


def read_until(
    process: subprocess.Popen[str], wanted: int, match: str, deadline: float
) -> list[str]:
    """Lines of ``process``'s stderr until ``wanted`` of them contain ``match``."""
    assert process.stderr is not None
    lines: list[str] = []
    while sum(match in line for line in lines) < wanted:
        left = deadline - time.monotonic()
        assert left > 0, lines
        ready, _, _ = select.select([process.stderr], [], [], left)
        if ready:
            line = process.stderr.readline()
            assert line, lines  # ended early
            lines.append(line)
    return lines


@pytest.mark.parametrize("log_format", ["text", "json"])
@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_a_continuous_pipeline_gets_summary_lines(
    tmp_path: Path, log_format: str, use_threads: bool
) -> None:
    service = script(tmp_path, CONTINUOUS.format(use_threads=use_threads), "service.py")
    args = ["run", str(service), "--summary-seconds", "0.05", "--log-format", log_format]
    process = subprocess.Popen(
        [sys.executable, "-m", "weirflow", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
    )
    try:
        # every item passed and two summaries said so: then stop it
        lines = read_until(process, 2, "4 item(s) so far", time.monotonic() + 60)
        process.send_signal(signal.SIGTERM)
        stdout, rest = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines) + rest
    assert "feed: 1 run(s), 4 item(s)" in stdout
    summaries = [line for line in lines if "item(s) so far" in line]
    if log_format == "json":
        records = [json.loads(line) for line in summaries]
        assert all(r["pipeline"] == "feed" and r["stage"] is None for r in records)
        assert all(r["items"] <= 4 and r["failed_items"] == 0 for r in records)
        assert records[-1]["items"] == 4
        assert [r["items"] for r in records] == sorted(r["items"] for r in records)  # they grow
    else:
        assert all(
            re.search(r"pipeline 'feed': \d item\(s\) so far, \d in the last", s) for s in summaries
        )
    assert "continuous" in lines[0]  # the banner says how it runs


FAILING = """
    from weirflow import FlowBuilder
    from weirflow.testing import ListSource, ListStorage

    def boom(item):
        raise ValueError(f"no {item}")

    builder = FlowBuilder()
    (builder.add_pipeline("broken").with_source(ListSource([1]))
        .with_core_logic(boom).with_storage(ListStorage()))
    flow = builder.build()
"""


def test_a_failed_run_has_its_line_with_the_outcome(tmp_path: Path) -> None:
    service = script(tmp_path, FAILING, "service.py")
    code, _, stderr = weirflow_run(tmp_path, str(service), "--log-format", "json")
    assert code == 1, stderr
    lines = json_lines(stderr)
    [run] = [line for line in lines if "outcome" in line]
    assert (run["pipeline"], run["outcome"], run["items"]) == ("broken", "failed", 0)
    assert run["message"].startswith("pipeline 'broken': run failed: 0 item(s) in ")
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert any(e["pipeline"] == "broken" and e["stage"] == "broken.core_logic" for e in errors)
    assert any("ValueError: no 1" in e.get("exception", "") for e in errors)
