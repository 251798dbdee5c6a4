"""The concepts page's examples: stages and kinds, bounded queues, pipelines, flows, streams.

python concepts.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import weirflow as wf
from weirflow import FlowBuilder


# --8<-- [start:stages]
def fetch(n: int) -> int:  # blocking I/O: thread workers overlap the waits
    time.sleep(0.001)
    return n


async def enrich(n: int) -> dict[str, int]:  # async I/O: asyncio task workers
    await asyncio.sleep(0.001)
    return {"n": n, "square": n * n}


stage = wf.thread.map(fetch, range(100), workers=10, maxsize=20)
stage = wf.task.map(enrich, stage, workers=20, maxsize=20)
stage = wf.sync.filter(lambda row: row["square"] % 2 == 0, stage)  # cheap: inline
rows = list(wf.thread.ordered(stage))  # nothing runs until the stage is iterated
assert [row["n"] for row in rows] == list(range(0, 100, 2))
# --8<-- [end:stages]

# --8<-- [start:pipe]
total = range(10) | wf.thread.map(lambda x: x + 1, workers=3) | wf.sync.filter(bool) | sum
assert total == 55
# --8<-- [end:pipe]


# --8<-- [start:flow]
def readings() -> list[dict[str, float]]:
    return [{"celsius": 20.5}, {"celsius": 22.0}]


def mean(db_connectors: Any) -> dict[str, float]:
    rows = db_connectors["readings"].load()
    return {"mean": sum(row["celsius"] for row in rows) / len(rows)}


folder = Path(tempfile.mkdtemp())
builder = FlowBuilder()
(
    builder.add_pipeline("readings")  # no schedule: runs once
    .with_core_logic(lambda: iter(readings()))  # yields two items
    .with_storage("jsonl", path=str(folder / "readings.jsonl"))
)
(
    builder.add_pipeline("report", delay_seconds=0.5)  # once, half a second later
    .with_core_logic(mean)
    .send("stream", name="reports")  # to another pipeline of this flow
)
(
    builder.add_pipeline("archive")  # continuous: reads the stream while it is open
    .with_stream_connector("reports")
    .with_storage("json", path=str(folder / "reports.json"))
)
flow = builder.build()  # every mistake is a ConfigError here, naming pipeline and stage
flow.launch_flow(execution_seconds=30)  # returns when every pipeline is done
print(flow.storage("archive").load())  # [{'mean': 21.25}]
# --8<-- [end:flow]
assert flow.storage("archive").load() == [{"mean": 21.25}]
