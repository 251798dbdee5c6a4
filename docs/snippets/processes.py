"""Processes: a pipeline per process, and CPU-heavy core logic in worker processes.

``FlowBuilder(use_threads=False)`` runs each pipeline in a process of its own; ``kind="process"``
runs one stage's function in worker processes (each its own interpreter: no GIL between them).
Functions and items travel pickled, so define functions at module level or in a module.

    python processes.py
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from typing import Any

from weirflow import Flow, FlowBuilder

# --8<-- [start:flow]
LIMIT = 200_000


def chunks() -> Iterator[dict[str, int]]:
    """Core logic without input, yielding many items: the work, in pieces."""
    for start in range(0, LIMIT, 20_000):
        yield {"start": start, "stop": start + 20_000}


def count_primes(chunk: dict[str, int]) -> dict[str, int]:
    """CPU-bound: runs in a worker process."""
    found = sum(
        1
        for n in range(max(chunk["start"], 2), chunk["stop"])
        if all(n % d for d in range(2, math.isqrt(n) + 1))
    )
    return {**chunk, "primes": found}


def build_flow() -> Flow:
    builder = FlowBuilder(use_threads=False)  # this pipeline runs in a process of its own
    (
        builder.add_pipeline("primes")
        .with_core_logic(chunks)
        .with_core_logic(count_primes, kind="process", workers=2, maxsize=4)
        .with_storage("jsonl", path="data/processes/primes.jsonl")
    )
    return builder.build()


# --8<-- [end:flow]


def main() -> None:
    shutil.rmtree("data/processes", ignore_errors=True)
    flow = build_flow()
    flow.launch_flow()
    rows: list[Any] = flow.storage("primes").load()
    total = sum(row["primes"] for row in rows)
    print(f"{total} primes below {LIMIT:,}, counted in {len(rows)} chunks by 2 processes")
    assert total == 17_984
    assert len(rows) == 10


if __name__ == "__main__":
    main()
