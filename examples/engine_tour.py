"""A tour of weirflow's stages: thread, task and sync workers in one streaming pipeline.

Run it with ``.venv/bin/python examples/engine_tour.py``. It needs nothing but the package.
"""

from __future__ import annotations

import asyncio
import time

import weirflow as wf


def fetch(reading_id: int) -> dict[str, float]:
    """A blocking "I/O" call: 2 ms each, so 20 thread workers overlap them."""
    time.sleep(0.002)
    return {"id": reading_id, "celsius": (reading_id * 7) % 40 - 5}


async def enrich(reading: dict[str, float]) -> dict[str, float]:
    """An async "I/O" call: 1 ms each, run by 50 asyncio tasks."""
    await asyncio.sleep(0.001)
    return {**reading, "fahrenheit": reading["celsius"] * 9 / 5 + 32}


def is_warm(reading: dict[str, float]) -> bool:
    return reading["celsius"] >= 20


def main() -> None:
    count = 2_000
    started = time.perf_counter()
    stage = wf.thread.map(fetch, range(count), workers=20, maxsize=100)
    stage = wf.task.map(enrich, stage, workers=50, maxsize=100)
    stage = wf.sync.filter(is_warm, stage)
    warm = list(wf.thread.ordered(stage))
    elapsed = time.perf_counter() - started
    print(f"streamed {count} readings through thread -> task -> sync stages in {elapsed:.2f}s")
    print(f"  {count / elapsed:,.0f} readings/s (sequentially: {count / (count * 0.003):,.0f}/s)")
    print(f"  {len(warm)} warm readings, in source order; first three:")
    for reading in warm[:3]:
        print(f"    {reading}")

    started = time.perf_counter()
    total = sum(wf.sync.map(lambda x: x * 2, range(1_000_000)))
    elapsed = time.perf_counter() - started
    print(f"cheap sync map over 1,000,000 ints: {1_000_000 / elapsed:,.0f} items/s (sum {total})")


if __name__ == "__main__":
    main()
