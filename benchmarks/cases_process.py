"""Process back ends: weirflow.process against pypeln.process, ``multiprocessing.Pool`` and mpire.

* ``process-identity``: ``map(identity)`` over 200,000 ints with 2 worker processes: pure
  overhead (pickling, pipes, batching, start-up). ``Pool(2).imap`` and mpire's
  ``WorkerPool(2).imap`` get ``chunksize=1000``, a good hand-picked chunk for tiny items;
  weirflow sizes its batches by itself.
* ``process-chain-3``: ``map(add1) -> filter(is_even) -> map(double)`` with 2 workers per stage
  (6 processes); the Pool version chains three ``imap`` calls over three pools of 2.
* ``process-cpu-1ms``: ~1 ms of pure-Python work per item (a loop whose length is calibrated once
  in the parent, not a time-based spin), 2,000 items, 2 workers: how much of the two
  cores each implementation turns into speed-up over a plain loop. ``Pool.imap`` and mpire get
  ``chunksize=10``. The notes give each row's speed-up over the plain loop and, for weirflow, its
  speed-up as a share of ``Pool.imap``'s. The rows of this case are timed in turns (best of 5),
  because a CPU-bound row is what other load on the machine slows down.

Fairness: every timing includes starting the processes (the ``Pool`` / ``WorkerPool`` is created
inside the timed region, like weirflow's and pypeln's workers) and stopping them. ``Pool`` and
mpire use the ``forkserver`` start method, weirflow's default, so all three pay the same kind of
start-up; pypeln.process has no start-method option and uses the interpreter's default
(``fork`` on Linux with Python 3.11). pypeln.process moves ~1,000-3,000 items/s here, so its
identity and chain rows use fewer items (the note says so; items/s stays comparable). The
forkserver is one per program: the first process stage (weirflow's, which comes first) starts it,
and Pool and mpire workers are forked from the same server.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pypeln as pl  # type: ignore[import-untyped]
from mpire.pool import WorkerPool

import weirflow as wf
from _harness import (
    ITEMS_PER_S,
    WATCHDOG_SECONDS,
    Check,
    Impl,
    Progress,
    Result,
    Settings,
    ThroughputCase,
    baseline_impl,
    ints,
    pypeln_impl,
    scaled,
    set_ideal,
    set_vs_pypeln,
    timed_run,
    warmup_size,
    watchdog,
    weirflow_impl,
)
from _process_work import add1, burn, double, identity, is_even, keep_even
from cases_engine import expected_chain, expected_identity

N = 200_000
QUICK_N = 20_000
WORKERS = 2
POOL_CHUNK = 1000
START_METHOD = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"

PYPELN_IDENTITY_SCALE = 0.05
PYPELN_CHAIN_SCALE = 0.01
PYPELN_REASON = "pypeln process is slow"

CPU_N = 2_000
CPU_QUICK_N = 400
CPU_ITEM_SECONDS = 0.001
CPU_POOL_CHUNK = 10
SPEEDUP_REPS = 5
PLAIN_LOOP = "plain loop"
POOL_IMAP = f"Pool({WORKERS}).imap chunksize={CPU_POOL_CHUNK}"


def _context() -> Any:
    return multiprocessing.get_context(START_METHOD)


# -- identity map -----------------------------------------------------------------------------


def wf_identity(n: int) -> Iterable[int]:
    return wf.process.map(identity, range(n), workers=WORKERS)


def pl_identity(n: int) -> Iterable[int]:
    return ints(pl.process.map(identity, range(n), workers=WORKERS))


def pool_imap(f: Callable[[int], int], n: int, chunksize: int) -> Iterator[int]:
    """``Pool(2).imap``; the pool starts and stops inside the timed region (a generator)."""
    with _context().Pool(WORKERS) as pool:
        yield from pool.imap(f, range(n), chunksize=chunksize)


def mpire_imap(f: Callable[[int], int], n: int, chunk_size: int) -> Iterator[int]:
    """mpire ``WorkerPool(2).imap``, started and stopped inside the timed region."""
    with WorkerPool(n_jobs=WORKERS, start_method=START_METHOD) as pool:
        yield from pool.imap(f, range(n), chunk_size=chunk_size)


def identity_impls() -> tuple[Impl, ...]:
    return (
        weirflow_impl(f"process w={WORKERS}", wf_identity),
        pypeln_impl(
            f"process w={WORKERS}",
            pl_identity,
            n_scale=PYPELN_IDENTITY_SCALE,
            scale_reason=PYPELN_REASON,
        ),
        baseline_impl(
            f"Pool({WORKERS}).imap chunksize={POOL_CHUNK}",
            lambda n: pool_imap(identity, n, POOL_CHUNK),
        ),
        baseline_impl(
            f"mpire WorkerPool({WORKERS}).imap chunk_size={POOL_CHUNK}",
            lambda n: mpire_imap(identity, n, POOL_CHUNK),
        ),
    )


# -- three-stage chain --------------------------------------------------------------------


def wf_chain(n: int) -> Iterable[int]:
    stage = wf.process.map(add1, range(n), workers=WORKERS)
    stage = wf.process.filter(is_even, stage, workers=WORKERS)
    return wf.process.map(double, stage, workers=WORKERS)


def pl_chain(n: int) -> Iterable[int]:
    stage = pl.process.map(add1, range(n), workers=WORKERS)
    stage = pl.process.filter(is_even, stage, workers=WORKERS)
    return ints(pl.process.map(double, stage, workers=WORKERS))


def pool_chain(n: int) -> Iterator[int]:
    """Three pools of 2, the second one's results filtered in the parent."""
    context = _context()
    with (
        context.Pool(WORKERS) as first,
        context.Pool(WORKERS) as second,
        context.Pool(WORKERS) as third,
    ):
        added = first.imap(add1, range(n), chunksize=POOL_CHUNK)
        kept = (x for x in second.imap(keep_even, added, chunksize=POOL_CHUNK) if x is not None)
        yield from third.imap(double, kept, chunksize=POOL_CHUNK)


def chain_impls() -> tuple[Impl, ...]:
    variant = f"process w={WORKERS} x3"
    return (
        weirflow_impl(variant, wf_chain),
        pypeln_impl(variant, pl_chain, n_scale=PYPELN_CHAIN_SCALE, scale_reason=PYPELN_REASON),
        baseline_impl(f"3 chained Pool({WORKERS}).imap chunksize={POOL_CHUNK}", pool_chain),
    )


# -- CPU-bound ----------------------------------------------------------------------------


@functools.cache
def cpu_work() -> functools.partial[int]:
    """The CPU-bound function: :func:`burn` with a loop count calibrated here, once.

    A ``partial`` pickles as the function's name plus the count, so workers run exactly the
    calibrated work without calibrating again.
    """
    return functools.partial(burn, loops=calibrate())


def calibrate(seconds: float = CPU_ITEM_SECONDS) -> int:
    """How many loops of :func:`burn` take ``seconds`` here (best of several timings)."""
    probe = 20_000
    best = float("inf")
    for _ in range(7):
        started = time.perf_counter()
        burn(0, probe)
        best = min(best, time.perf_counter() - started)
    return max(1, round(probe * seconds / best))


def plain_loop(n: int) -> Iterable[int]:
    work = cpu_work()
    return (work(x) for x in range(n))


def wf_cpu(n: int) -> Iterable[int]:
    return wf.process.map(cpu_work(), range(n), workers=WORKERS)


def pl_cpu(n: int) -> Iterable[int]:
    return ints(pl.process.map(cpu_work(), range(n), workers=WORKERS))


def cpu_impls() -> tuple[Impl, ...]:
    return (
        baseline_impl(PLAIN_LOOP, plain_loop),
        weirflow_impl(f"process w={WORKERS}", wf_cpu),
        baseline_impl(POOL_IMAP, lambda n: pool_imap(cpu_work(), n, CPU_POOL_CHUNK)),
        baseline_impl(
            f"mpire WorkerPool({WORKERS}).imap chunk_size={CPU_POOL_CHUNK}",
            lambda n: mpire_imap(cpu_work(), n, CPU_POOL_CHUNK),
        ),
        pypeln_impl(f"process w={WORKERS}", pl_cpu),
    )


@dataclass(frozen=True)
class SpeedupCase:
    """Items/s of several implementations, timed in turns, with speed-ups over a reference row.

    The timed runs are interleaved (one of each implementation, then again) rather than done
    one implementation after the other, so a burst of other load on the machine hits all of
    them alike: a speed-up is a ratio of two rows, and a CPU-bound row is what such load slows.
    Best of at least :data:`SPEEDUP_REPS` runs (one under ``--quick``).
    """

    name: str
    n: int
    quick_n: int
    impls: tuple[Impl, ...]
    expected: Callable[[int], Check]
    reference: str
    versus: str
    versus_name: str = "Pool.imap"

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = self.quick_n if settings.quick else self.n
        results = [
            Result(self.name, i.label, i.library, i.variant, scaled(n, i), ITEMS_PER_S, None, None)
            for i in self.impls
        ]
        for impl, result in zip(self.impls, results):
            self._run(impl, result, warmup_size(result.n))
        for _ in range(settings.reps if settings.quick else max(settings.reps, SPEEDUP_REPS)):
            for impl, result in zip(self.impls, results):
                self._run(impl, result, result.n)
        for result in results:
            if result.ok and result.runs:
                result.seconds = min(result.runs)
                result.value = result.n / result.seconds
            progress(result)
        set_ideal(results, None, self.reference)
        set_vs_pypeln(results)
        annotate_speedups(results, self.reference, self.versus, self.versus_name)
        return results

    def _run(self, impl: Impl, result: Result, n: int) -> None:
        if not result.ok:
            return
        try:
            with watchdog(WATCHDOG_SECONDS, f"{self.name} / {impl.label}"):
                seconds = timed_run(impl, n, self.expected(n))
        except Exception as error:  # reported in the table; the other rows still run
            result.error = f"{type(error).__name__}: {error}"
            return
        if n == result.n:
            result.runs.append(seconds)


def annotate_speedups(
    results: list[Result], reference: str, versus: str, versus_name: str = "Pool.imap"
) -> None:
    """Note each row's speed-up over ``reference``; weirflow's also as a share of ``versus``'s."""
    rates = {r.implementation: r.value for r in results if r.value is not None}
    base = rates.get(reference)
    if not base:
        return
    other = rates.get(versus)
    for result in results:
        if result.value is None or result.implementation == reference:
            continue
        speedup = result.value / base
        parts = [f"speed-up {speedup:.2f}x"]
        if result.library == "weirflow" and other:
            parts.append(f"{speedup / (other / base):.0%} of {versus_name}'s speed-up")
        if result.note:
            parts.append(result.note)
        result.note = "; ".join(parts)


def cases() -> list[Any]:
    """The cases of this module, in report order."""
    return [
        ThroughputCase(
            "process-identity",
            N,
            QUICK_N,
            identity_impls(),
            expected_identity,
            ideal_impl=f"Pool({WORKERS}).imap chunksize={POOL_CHUNK}",
        ),
        ThroughputCase(
            "process-chain-3",
            N,
            QUICK_N,
            chain_impls(),
            expected_chain,
            ideal_impl=f"3 chained Pool({WORKERS}).imap chunksize={POOL_CHUNK}",
        ),
        SpeedupCase(
            "process-cpu-1ms",
            CPU_N,
            CPU_QUICK_N,
            cpu_impls(),
            lambda n: Check(n, n * (n - 1) // 2),
            reference=PLAIN_LOOP,
            versus=POOL_IMAP,
        ),
    ]
