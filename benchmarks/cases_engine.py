"""Engine overhead: trivial functions over many small items, so only the machinery is measured.

* ``identity-map``: ``map(identity)`` over 200,000 ints; weirflow thread (1 and 4 workers),
  task (4 workers, a plain sync function) and sync, each against pypeln's same kind and
  settings, plus ``ThreadPoolExecutor(4).map`` (plain, and with manual chunks since its
  ``chunksize`` is ignored for threads), an ``asyncio.Semaphore(4)`` + ``gather`` version and a
  plain generator (the ideal: zero overhead).
* ``chain-3-stage``: ``map(add1) -> filter(is_even) -> map(double)`` over 200,000 ints, thread
  kind with one worker per stage and sync kind, against pypeln and a plain generator (ideal).

pypeln's task kind runs ~10k items/s, so it gets a quarter of the items (items/s is comparable;
the table notes it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pypeln as pl  # type: ignore[import-untyped]

import weirflow as wf
from _harness import (
    Check,
    Impl,
    ThroughputCase,
    baseline_impl,
    ints,
    pypeln_impl,
    weirflow_impl,
)
from _process_work import add1, identity, is_even

N = 200_000
QUICK_N = 20_000
POOL_CHUNK = 1024
PYPELN_TASK_SCALE = 0.25
PYPELN_TASK_REASON = "pypeln task is slow"
PLAIN_GENERATOR = "plain generator"


def double(x: int) -> int:
    return 2 * x


# -- identity map -----------------------------------------------------------------------------


def expected_identity(n: int) -> Check:
    return Check(n, n * (n - 1) // 2)


def pool_map(n: int) -> list[int]:
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(identity, range(n)))


def map_chunk(chunk: range) -> list[int]:
    return [identity(x) for x in chunk]


def pool_map_chunked(n: int) -> list[int]:
    chunks = [range(start, min(start + POOL_CHUNK, n)) for start in range(0, n, POOL_CHUNK)]
    with ThreadPoolExecutor(4) as pool:
        return [y for part in pool.map(map_chunk, chunks) for y in part]


async def _gather_limited(n: int, limit: int) -> list[int]:
    semaphore = asyncio.Semaphore(limit)

    async def one(x: int) -> int:
        async with semaphore:
            return identity(x)

    return await asyncio.gather(*(one(x) for x in range(n)))


def semaphore_map(n: int) -> list[int]:
    return asyncio.run(_gather_limited(n, 4))


def generator_map(n: int) -> Iterable[int]:
    return (identity(x) for x in range(n))


def identity_impls() -> tuple[Impl, ...]:
    return (
        weirflow_impl("thread w=1", lambda n: wf.thread.map(identity, range(n), workers=1)),
        pypeln_impl("thread w=1", lambda n: pl.thread.map(identity, range(n), workers=1)),
        weirflow_impl("thread w=4", lambda n: wf.thread.map(identity, range(n), workers=4)),
        pypeln_impl("thread w=4", lambda n: pl.thread.map(identity, range(n), workers=4)),
        weirflow_impl("task w=4", lambda n: wf.task.map(identity, range(n), workers=4)),
        pypeln_impl(
            "task w=4",
            lambda n: pl.task.map(identity, range(n), workers=4),
            n_scale=PYPELN_TASK_SCALE,
            scale_reason=PYPELN_TASK_REASON,
        ),
        weirflow_impl("sync", lambda n: wf.sync.map(identity, range(n))),
        pypeln_impl("sync", lambda n: pl.sync.map(identity, range(n))),
        baseline_impl("ThreadPoolExecutor(4).map", pool_map),
        baseline_impl(f"ThreadPoolExecutor(4) chunks of {POOL_CHUNK}", pool_map_chunked),
        baseline_impl("asyncio Semaphore(4) + gather", semaphore_map),
        baseline_impl(PLAIN_GENERATOR, generator_map),
    )


# -- three-stage chain --------------------------------------------------------------------


def expected_chain(n: int) -> Check:
    evens = n // 2  # add1 gives 1..n; the even ones are 2, 4, ..., 2 * evens
    return Check(evens, 2 * evens * (evens + 1))


def wf_thread_chain(n: int) -> Iterable[int]:
    stage = wf.thread.map(add1, range(n), workers=1)
    stage = wf.thread.filter(is_even, stage, workers=1)
    return wf.thread.map(double, stage, workers=1)


def pl_thread_chain(n: int) -> Iterable[int]:
    stage = pl.thread.map(add1, range(n), workers=1)
    stage = pl.thread.filter(is_even, stage, workers=1)
    return ints(pl.thread.map(double, stage, workers=1))


def wf_sync_chain(n: int) -> Iterable[int]:
    return wf.sync.map(double, wf.sync.filter(is_even, wf.sync.map(add1, range(n))))


def pl_sync_chain(n: int) -> Iterable[int]:
    return ints(pl.sync.map(double, pl.sync.filter(is_even, pl.sync.map(add1, range(n)))))


def generator_chain(n: int) -> Iterable[int]:
    return (double(y) for y in (add1(x) for x in range(n)) if is_even(y))


def chain_impls() -> tuple[Impl, ...]:
    return (
        weirflow_impl("thread w=1 x3", wf_thread_chain),
        pypeln_impl("thread w=1 x3", pl_thread_chain),
        weirflow_impl("sync x3", wf_sync_chain),
        pypeln_impl("sync x3", pl_sync_chain),
        baseline_impl(PLAIN_GENERATOR, generator_chain),
    )


def cases() -> list[ThroughputCase]:
    """The cases of this module, in report order."""
    return [
        ThroughputCase(
            "identity-map",
            N,
            QUICK_N,
            identity_impls(),
            expected_identity,
            ideal_impl=PLAIN_GENERATOR,
        ),
        ThroughputCase(
            "chain-3-stage",
            N,
            QUICK_N,
            chain_impls(),
            expected_chain,
            ideal_impl=PLAIN_GENERATOR,
        ),
    ]
