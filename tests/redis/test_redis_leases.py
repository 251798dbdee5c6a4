"""Singletons: a scheduled pipeline of a file running twice runs in one instance at a time, and
another takes over within ``lease_seconds`` when its holder dies."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

from redis_support import eventually, finish, weirflow

TICKER = """
import os, time
from weirflow import FlowBuilder

builder = FlowBuilder(name=os.environ["WF_FLOW"], lease_seconds=1)
builder.add_pipeline("tick", timedelta_seconds=0.05).with_core_logic(
    lambda: {"who": os.environ["WHO"], "at": time.time()}
).with_storage("jsonl", path=os.environ["WF_OUT"])
"""


def ticks(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["who"] for line in path.read_text().splitlines() if line.strip()]


def test_a_scheduled_pipeline_runs_in_one_instance_and_is_taken_over(
    redis_url: str, flow_name: str, tmp_path: Path
) -> None:
    service = tmp_path / "ticker.py"
    service.write_text(textwrap.dedent(TICKER))
    out = tmp_path / "ticks.jsonl"
    env = {"WF_FLOW": flow_name, "WF_OUT": str(out), "WEIRFLOW_BROKER": redis_url}
    started: list[Any] = []
    try:
        first = weirflow("run", str(service), cwd=tmp_path, env={**env, "WHO": "first"})
        started.append(first)
        eventually(lambda: "first" in ticks(out), 30, "the first instance ticks")
        second = weirflow("run", str(service), cwd=tmp_path, env={**env, "WHO": "second"})
        started.append(second)
        seen = len(ticks(out))
        eventually(lambda: len(ticks(out)) >= seen + 40, 30, "more ticks")  # ~2 s, 2 lease renewals
        assert "second" not in ticks(out)  # it waits for the lease
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
        eventually(lambda: "second" in ticks(out), 10, "the second instance takes over")
        second.send_signal(signal.SIGTERM)
        code, _, err = finish(second)
        assert code == 0, err
        assert "this instance took the lease over" in err
    finally:
        for process in started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
