"""I/O-bound stage: every item waits 10 ms (``time.sleep`` / ``asyncio.sleep``), 100 at a time.

2,000 items with 100 workers: the ideal is 100 / 0.01 s = 10,000 items/s (0.2 s per run), so the
table's "% ideal" column is how much of the concurrency each implementation turns into
throughput. weirflow thread and task against pypeln thread and task, ``ThreadPoolExecutor(100)``
and ``asyncio.Semaphore(100)`` + ``gather``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pypeln as pl  # type: ignore[import-untyped]

import weirflow as wf
from _harness import Check, Impl, ThroughputCase, baseline_impl, ints, pypeln_impl, weirflow_impl

N = 2_000
QUICK_N = 2_000
WORKERS = 100
DELAY_SECONDS = 0.01
IDEAL_RATE = WORKERS / DELAY_SECONDS


def blocking_io(x: int) -> int:
    time.sleep(DELAY_SECONDS)
    return x


async def async_io(x: int) -> int:
    await asyncio.sleep(DELAY_SECONDS)
    return x


def expected(n: int) -> Check:
    return Check(n, n * (n - 1) // 2)


def pool_map(n: int) -> list[int]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(blocking_io, range(n)))


async def _gather_limited(n: int) -> list[int]:
    semaphore = asyncio.Semaphore(WORKERS)

    async def one(x: int) -> int:
        async with semaphore:
            return await async_io(x)

    return await asyncio.gather(*(one(x) for x in range(n)))


def semaphore_map(n: int) -> list[int]:
    return asyncio.run(_gather_limited(n))


def wf_thread(n: int) -> Iterable[int]:
    return wf.thread.map(blocking_io, range(n), workers=WORKERS)


def pl_thread(n: int) -> Iterable[int]:
    return ints(pl.thread.map(blocking_io, range(n), workers=WORKERS))


def wf_task(n: int) -> Iterable[int]:
    return wf.task.map(async_io, range(n), workers=WORKERS)


def pl_task(n: int) -> Iterable[int]:
    return ints(pl.task.map(async_io, range(n), workers=WORKERS))


def impls() -> tuple[Impl, ...]:
    return (
        weirflow_impl(f"thread w={WORKERS}", wf_thread),
        pypeln_impl(f"thread w={WORKERS}", pl_thread),
        weirflow_impl(f"task w={WORKERS}", wf_task),
        pypeln_impl(f"task w={WORKERS}", pl_task),
        baseline_impl(f"ThreadPoolExecutor({WORKERS}).map", pool_map),
        baseline_impl(f"asyncio Semaphore({WORKERS}) + gather", semaphore_map),
    )


def cases() -> list[ThroughputCase]:
    """The cases of this module, in report order."""
    return [ThroughputCase("io-sleep-10ms", N, QUICK_N, impls(), expected, ideal_rate=IDEAL_RATE)]
