"""What a flow's statistics cost: the engine's identity map and chain, statistics off and on.

"On" is what a flow does: every stage carries per-worker counters (written once per batch, no
lock: ``_runtime/_stats.py``; made once, as a flow makes them once per launch) and its input
channel keeps its fill in the header, while another thread reads everything the way a
``/metrics`` scrape does, ten times a second (Prometheus scrapes every 15 s; the reader runs
through the "off" runs too). "Off" is the same pipeline without counters. The two
run interleaved, off/on/off/on..., so drift on a shared machine hits both alike; the note of
each "on" row gives its cost against its "off" row three ways: best run against best run, the
median of the on/off ratios of the runs made side by side, and the median CPU time of the
process (less sensitive to other programs on the machine than wall time) — and an estimate
that no load disturbs: the batches the pipeline runs, times what one batch's bookkeeping costs
(measured in a loop), over the "off" time. Target: at most 3%.
"""

from __future__ import annotations

import gc
import statistics
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from _harness import (
    ITEMS_PER_S,
    Check,
    Progress,
    Result,
    Settings,
    timed_run,
    warmup_size,
    watchdog,
    weirflow_impl,
)
from _process_work import add1, identity, is_even
from weirflow._api import Operators
from weirflow._runtime._ops import Filter, Map
from weirflow._runtime._stats import CounterFile, StageCounters, WorkerRow

N = 1_000_000
QUICK_N = 40_000
READ_EVERY_SECONDS = 0.1
REPS = 10


def double(x: int) -> int:
    return 2 * x


class Counted:
    """Counters for the stages of one run, read by a scraper thread while the run lasts."""

    def __init__(self, workers: list[int]) -> None:
        sizes = [StageCounters.size(w) for w in workers]
        self.block = CounterFile(sum(sizes))
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        self.stages = [StageCounters(self.block.path, o, w) for o, w in zip(offsets, workers)]
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, name="benchmark scraper")

    def _read(self) -> None:
        while not self._stop.wait(READ_EVERY_SECONDS):
            for stage in self.stages:
                stage.read()

    def __enter__(self) -> list[StageCounters]:
        self._reader.start()
        return self.stages

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._reader.join()
        self.block.close()


class _CountingRow(WorkerRow):
    """A worker row that also counts its batches (to estimate the cost; benchmark only)."""

    batches = 0

    def done(self, items: int, seconds: float) -> None:
        _CountingRow.batches += 1
        super().done(items, seconds)


class _CountingCounters(StageCounters):
    def worker(self, worker: int) -> WorkerRow:
        return _CountingRow(self.view, self.row(worker))


def per_batch_seconds() -> float:
    """What one batch's bookkeeping costs here (``start`` and ``done``), best of 5."""
    block = CounterFile(StageCounters.size(1))
    try:
        row = StageCounters(block.path, 0, 1).worker(0)
        best = float("inf")
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(100_000):
                row.start()
                row.done(100, 0.0001)
            best = min(best, (time.perf_counter() - started) / 100_000)
        return best
    finally:
        block.close()


def batches_of(pair: Pair, n: int) -> int:
    """How many batches the pair's pipeline runs on ``n`` items (counted once)."""
    sizes = [StageCounters.size(w) for w in pair.workers]
    block = CounterFile(sum(sizes))
    try:
        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        counted: list[StageCounters] = [
            _CountingCounters(block.path, o, w) for o, w in zip(offsets, pair.workers)
        ]
        _CountingRow.batches = 0
        for _ in pair.build(n, counted):
            pass
        return _CountingRow.batches
    finally:
        block.close()


def chain(kind: str, n: int, counted: list[StageCounters] | None) -> Iterable[int]:
    ops = Operators(kind)
    at = counted or [None, None, None]  # type: ignore[list-item]
    stage: Any = ops.named(Map(add1), range(n), name="b.add1", statistics=at[0])
    stage = ops.named(Filter(is_even), stage, name="b.is_even", statistics=at[1])
    return ops.named(Map(double), stage, name="b.double", statistics=at[2])  # type: ignore[no-any-return]


def identity_map(kind: str, workers: int, n: int, counted: list[StageCounters] | None) -> Any:
    at = counted[0] if counted else None
    return Operators(kind).named(
        Map(identity), range(n), name="b.identity", workers=workers, statistics=at
    )


@dataclass(frozen=True)
class Pair:
    """One pipeline, timed with statistics off and on."""

    case: str
    variant: str
    workers: list[int]
    build: Callable[[int, list[StageCounters] | None], Iterable[int]]
    expected: Callable[[int], Check]


def _off(pair: Pair) -> Callable[[int], Iterable[int]]:
    return lambda n: list(pair.build(n, None))


def _on(pair: Pair, counted: list[StageCounters]) -> Callable[[int], Iterable[int]]:
    def run(n: int) -> Iterable[int]:
        before = counted[-1].read().items
        values = list(pair.build(n, counted))
        assert counted[-1].read().items > before
        return values

    return run


@dataclass(frozen=True)
class StatisticsCase:
    """Interleaved off/on runs of each pair; the "on" row's note is its cost."""

    name: str
    pairs: tuple[Pair, ...]

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = QUICK_N if settings.quick else N
        reps = 2 if settings.quick else REPS
        results: list[Result] = []
        bookkeeping = per_batch_seconds()
        for pair in self.pairs:
            with Counted(pair.workers) as counted:  # made once, as a flow makes them per launch
                rows = self._measure(pair, counted, n, reps, bookkeeping, settings)
            for row in rows:
                progress(row)
            results.extend(rows)
        return results

    def _measure(
        self,
        pair: Pair,
        counted: list[StageCounters],
        n: int,
        reps: int,
        bookkeeping: float,
        settings: Settings,
    ) -> list[Result]:
        off = weirflow_impl(f"{pair.variant} statistics off", _off(pair))
        on = weirflow_impl(f"{pair.variant} statistics on", _on(pair, counted))
        rows = [
            Result(pair.case, impl.label, "weirflow", impl.variant, n, ITEMS_PER_S, None, None)
            for impl in (off, on)
        ]
        try:
            with watchdog(settings.watchdog_seconds, f"{pair.case} / {pair.variant}"):
                for impl in (off, on):
                    warm = warmup_size(n)
                    timed_run(impl, warm, pair.expected(warm))
                want = pair.expected(n)
                cpu: dict[str, list[float]] = {off.label: [], on.label: []}
                for rep in range(reps):  # off/on, then on/off: neither always goes first
                    turn = list(zip((off, on), rows))
                    for impl, row in turn if rep % 2 == 0 else reversed(turn):
                        gc.collect()
                        started = time.process_time()
                        row.runs.append(timed_run(impl, n, want))
                        cpu[impl.label].append(time.process_time() - started)
        except Exception as error:
            for row in rows:
                row.error = f"{type(error).__name__}: {error}"
        for row in rows:
            if row.runs:
                row.seconds = min(row.runs)
                row.value = n / row.seconds
        if rows[0].seconds:
            batches = batches_of(pair, n)
            estimate = batches * bookkeeping / rows[0].seconds
            rows[1].details.update(batches=batches, estimated_cost=estimate)
        if rows[0].value and rows[1].value:
            cost = rows[0].value / rows[1].value - 1
            paired = statistics.median(b / a for a, b in zip(rows[0].runs, rows[1].runs)) - 1
            cpu_cost = statistics.median(cpu[on.label]) / statistics.median(cpu[off.label]) - 1
            rows[1].note = (
                f"cost: best {cost * 100:+.1f}%, paired {paired * 100:+.1f}%, "
                f"CPU {cpu_cost * 100:+.1f}%; estimate "
                f"{rows[1].details['estimated_cost'] * 100:.2f}% "
                f"({rows[1].details['batches']:,} batches)"
            )
            rows[1].details.update(cost=cost, paired_cost=paired, cpu_cost=cpu_cost)
        return rows


def expected_identity(n: int) -> Check:
    return Check(n, n * (n - 1) // 2)


def expected_chain(n: int) -> Check:
    evens = n // 2
    return Check(evens, 2 * evens * (evens + 1))


def cases() -> list[StatisticsCase]:
    """The identity map and the chain, statistics off and on, side by side."""
    identity_pairs = tuple(
        Pair(
            "statistics identity-map",
            f"{kind} w={workers}",
            [workers],
            lambda n, c, kind=kind, workers=workers: identity_map(kind, workers, n, c),
            expected_identity,
        )
        for kind, workers in (("thread", 1), ("thread", 4), ("task", 4), ("sync", 1))
    )
    chain_pairs = tuple(
        Pair(
            "statistics chain-3-stage",
            f"{kind} w=1 x3",
            [1, 1, 1],
            lambda n, c, kind=kind: chain(kind, n, c),
            expected_chain,
        )
        for kind in ("thread", "sync")
    )
    return [
        StatisticsCase("statistics identity-map", identity_pairs),
        StatisticsCase("statistics chain-3-stage", chain_pairs),
    ]


if __name__ == "__main__":  # a quick look without the whole suite
    for case in cases():
        for row in case.measure(Settings.create(quick=False), lambda r: None):
            print(f"{row.case:28} {row.implementation:40} {row.value or 0:12,.0f} {row.note}")
    time.sleep(0)
