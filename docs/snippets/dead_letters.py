"""Dead letters: a failing item is set aside with its error, and every other item goes on.

python dead_letters.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from weirflow import FlowBuilder
from weirflow.testing import ListSource

# --8<-- [start:flow]
DEAD = Path("data") / "dead_letters" / "dead.jsonl"  # where failed items are kept


def parse(line: str) -> dict[str, Any]:
    sensor, value = line.split("=")  # "t1=20.5"; anything else raises
    return {"sensor": sensor, "celsius": float(value)}


def build_flow(lines: list[str]) -> Any:
    builder = FlowBuilder()
    (
        builder.add_pipeline("ingest", on_failure="continue", dead_letter=str(DEAD))
        .with_source(ListSource(lines))
        .with_core_logic(parse)
        .with_storage("jsonl", path="data/dead_letters/readings.jsonl")
    )
    return builder.build()


# --8<-- [end:flow]


def main() -> None:
    # --8<-- [start:run]
    flow = build_flow(["t1=20.5", "garbage", "t2=19.0", "t3=oops"])
    flow.launch_flow()
    stored = flow.storage("ingest").load()
    dead = [json.loads(line) for line in DEAD.read_text().splitlines()]
    print(f"stored {len(stored)}, set aside {len(dead)}:")
    for record in dead:
        print(f"  {record['stage']}: {record['error']} <- {record['item']!r}")
    print(flow.statistics()["ingest"]["failed_items"], "failed items counted")
    # --8<-- [end:run]
    assert [row["sensor"] for row in stored] == ["t1", "t2"]
    assert [record["item"] for record in dead] == ["garbage", "t3=oops"]
    assert {"pipeline", "stage", "error_type", "error", "item", "time", "attempts"} <= set(dead[0])
    assert flow.statistics()["ingest"]["failed_items"] == 2


if __name__ == "__main__":
    main()
