"""Measurement machinery shared by every case module.

A *case* is one workload (e.g. "identity map over 200,000 ints") run by several
*implementations* (weirflow, pypeln, a stdlib baseline, a plain generator). Anything with a
``name`` and a ``measure(settings, progress)`` method returning :class:`Result` rows is a case
(:class:`Case`); :class:`ThroughputCase` is the common kind: it times ``impl.run(n)`` end to end
(building the pipeline, starting its workers, consuming every output) and reports items/s.

Rules every measurement follows:

* one warm-up run (on a smaller input) before timing, not counted;
* best of ``settings.reps`` timed runs, ``gc.collect()`` before each;
* every run's output, warm-up included, is checked (count and sum) against the expected value, so
  a broken implementation fails loudly instead of looking fast;
* a watchdog dumps every thread's stack and exits if a single implementation hangs.
"""

from __future__ import annotations

import faulthandler
import gc
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

ITEMS_PER_S = "items/s"
MIB = "MiB"
WATCHDOG_SECONDS = 300.0
WARMUP_MAX_ITEMS = 5_000


@dataclass(frozen=True)
class Settings:
    """How hard to measure: the full run or a smoke run (``--quick``)."""

    quick: bool
    reps: int
    watchdog_seconds: float = WATCHDOG_SECONDS

    @classmethod
    def create(cls, quick: bool) -> Settings:
        return cls(quick=quick, reps=1 if quick else 3)


@dataclass(frozen=True)
class Check:
    """What a run produced, in a form cheap to compare: how many items and their sum."""

    count: int
    total: int

    @classmethod
    def of(cls, values: Sequence[int]) -> Check:
        return cls(len(values), sum(values))


class VerificationError(Exception):
    """An implementation produced the wrong output."""


@dataclass(frozen=True)
class Impl:
    """One implementation of a case.

    ``library`` and ``variant`` pair a weirflow row with the pypeln row it is compared to
    (same variant, e.g. ``"thread w=4"``). ``n_scale`` runs this implementation on fewer items
    (items/s stays comparable); ``scale_reason`` says why, in the printed notes.
    """

    label: str
    library: str
    variant: str
    run: Callable[[int], Iterable[int]]
    n_scale: float = 1.0
    scale_reason: str = ""


def ints(stage: Any) -> Iterable[int]:
    """Type a pipeline as the ints it yields, where its library's types cannot say so.

    pypeln has no type information.
    """
    return cast(Iterable[int], stage)


def weirflow_impl(variant: str, run: Callable[[int], Iterable[int]]) -> Impl:
    return Impl(f"weirflow {variant}", "weirflow", variant, run)


def pypeln_impl(
    variant: str, run: Callable[[int], Iterable[int]], n_scale: float = 1.0, scale_reason: str = ""
) -> Impl:
    return Impl(f"pypeln {variant}", "pypeln", variant, run, n_scale, scale_reason)


def baseline_impl(label: str, run: Callable[[int], Iterable[int]]) -> Impl:
    return Impl(label, "baseline", label, run)


@dataclass
class Result:
    """One row of the report."""

    case: str
    implementation: str
    library: str
    variant: str
    n: int
    metric: str
    value: float | None
    seconds: float | None
    runs: list[float] = field(default_factory=list)
    ideal: float | None = None
    vs_pypeln: float | None = None
    note: str = ""
    error: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error


Progress = Callable[[Result], None]


class Case(Protocol):
    """A workload measured for several implementations."""

    @property
    def name(self) -> str: ...

    def measure(self, settings: Settings, progress: Progress) -> list[Result]: ...


@dataclass(frozen=True)
class ThroughputCase:
    """Times every implementation on ``n`` items; the metric is items/s.

    ``ideal_rate`` is a theoretical ceiling (items/s); ``ideal_impl`` instead names the
    implementation (by label) whose measured rate is the ceiling, e.g. a plain generator.
    """

    name: str
    n: int
    quick_n: int
    impls: tuple[Impl, ...]
    expected: Callable[[int], Check]
    ideal_rate: float | None = None
    ideal_impl: str | None = None

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = self.quick_n if settings.quick else self.n
        results: list[Result] = []
        for impl in self.impls:
            result = measure_throughput(self.name, impl, n, self.expected, settings)
            results.append(result)
            progress(result)
        set_ideal(results, self.ideal_rate, self.ideal_impl)
        set_vs_pypeln(results)
        return results


def scaled(n: int, impl: Impl) -> int:
    return max(1, round(n * impl.n_scale))


def warmup_size(n: int) -> int:
    return min(n, max(100, n // 10), WARMUP_MAX_ITEMS)


def measure_throughput(
    case: str, impl: Impl, n: int, expected: Callable[[int], Check], settings: Settings
) -> Result:
    """Warm up, then time ``settings.reps`` verified runs of ``impl`` on ``n`` items."""
    n = scaled(n, impl)
    result = Result(case, impl.label, impl.library, impl.variant, n, ITEMS_PER_S, None, None)
    if impl.n_scale != 1.0:
        result.note = f"N x{impl.n_scale:g} ({impl.scale_reason})"
    try:
        with watchdog(settings.watchdog_seconds, f"{case} / {impl.label}"):
            warm = warmup_size(n)
            timed_run(impl, warm, expected(warm))
            want = expected(n)
            result.runs = [timed_run(impl, n, want) for _ in range(settings.reps)]
    except Exception as error:  # reported in the table; the other rows still run
        result.error = f"{type(error).__name__}: {error}"
        return result
    result.seconds = min(result.runs)
    result.value = n / result.seconds
    return result


def timed_run(impl: Impl, n: int, want: Check) -> float:
    """One run: seconds from building the pipeline to its last output; output verified."""
    gc.collect()
    started = time.perf_counter()
    values = list(impl.run(n))
    elapsed = time.perf_counter() - started
    verify(Check.of(values), want, impl.label)
    return elapsed


def verify(got: Check, want: Check, label: str) -> None:
    if got != want:
        raise VerificationError(
            f"{label}: wrong output: {got.count} items summing to {got.total}, "
            f"expected {want.count} summing to {want.total}"
        )


@contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    """Dump all stacks and exit the process if the block takes longer than ``seconds``."""
    sys.stderr.flush()
    faulthandler.dump_traceback_later(seconds, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def set_ideal(results: list[Result], rate: float | None, impl_label: str | None) -> None:
    """Give every row the case's ideal (a fixed rate, or the measured rate of one row)."""
    ideal = rate
    if impl_label is not None:
        ideal = next((r.value for r in results if r.implementation == impl_label), None)
    for result in results:
        result.ideal = ideal


def set_vs_pypeln(results: list[Result]) -> None:
    """Ratio weirflow / pypeln for each weirflow row that has a pypeln row of its variant."""
    pypeln = {r.variant: r.value for r in results if r.library == "pypeln" and r.ok}
    for result in results:
        other = pypeln.get(result.variant)
        if result.library == "weirflow" and result.value is not None and other:
            result.vs_pypeln = result.value / other
