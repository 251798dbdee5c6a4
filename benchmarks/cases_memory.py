"""Bounded memory: a fast source into a slower sink stage with ``maxsize=10``.

The source is a generator building a fresh 1 KiB ``bytes`` per item (1,000,000 items, 100,000
under ``--quick``); the sink stage is ``thread.map(len, ..., workers=1, maxsize=10)`` and the
consumer loop sums what it yields. With backpressure working, the items in flight are bounded,
so memory stays flat however long the input is; without it, the source runs ahead and memory
grows with the input (about 1 GiB here).

Each measurement runs in a fresh interpreter (this module, run as a script with ``--probe``):
peak RSS after the run minus RSS just before it, imports done and the pipeline built. On Linux
the peak is ``VmHWM`` from ``/proc/self/status``, reset to the current RSS just before the run
(``/proc/self/clear_refs``), not ``ru_maxrss``: a child started by ``subprocess`` (vfork + exec)
inherits its *parent's* peak in ``ru_maxrss``, which would hide any growth smaller than the
parent's size. ``ru_maxrss`` is the fallback where ``/proc`` is missing.

Every implementation is measured twice, on the full input and on a tenth of it; memory is
*flat* when the full input grows it by no more than the tenth did plus
``max(FLAT_SLACK_MIB, FLAT_SLACK_FRACTION * tenth)``. One run per size (no best-of: each is a
new process). A plain generator is the zero-overhead reference.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pypeln as pl  # type: ignore[import-untyped]

import weirflow as wf
from _harness import MIB, Check, Progress, Result, Settings, ints, set_vs_pypeln, verify

N = 1_000_000
QUICK_N = 100_000
MAXSIZE = 10
ITEM_BYTES = 1024
FLAT_SLACK_MIB = 4.0
FLAT_SLACK_FRACTION = 0.5
PROBE_FLAG = "--probe"
PROC_STATUS = Path("/proc/self/status")
PROC_CLEAR_REFS = Path("/proc/self/clear_refs")


def source(n: int) -> Iterator[bytes]:
    """A fast source: a new 1 KiB object per item, so held items cost real memory."""
    for _ in range(n):
        yield bytes(ITEM_BYTES)


def sink_work(item: bytes) -> int:
    return len(item)


def wf_thread(n: int, maxsize: int) -> Iterable[int]:
    return wf.thread.map(sink_work, source(n), workers=1, maxsize=maxsize)


def pl_thread(n: int, maxsize: int) -> Iterable[int]:
    return ints(pl.thread.map(sink_work, source(n), workers=1, maxsize=maxsize))


def plain_generator(n: int, maxsize: int) -> Iterable[int]:
    return (sink_work(item) for item in source(n))


@dataclass(frozen=True)
class Pipeline:
    """One implementation, known to the probe by ``key``."""

    key: str
    library: str
    variant: str
    build: Callable[[int, int], Iterable[int]]

    @property
    def label(self) -> str:
        return self.variant if self.library == "baseline" else f"{self.library} {self.variant}"


PIPELINES = (
    Pipeline("weirflow-thread", "weirflow", f"thread w=1 maxsize={MAXSIZE}", wf_thread),
    Pipeline("pypeln-thread", "pypeln", f"thread w=1 maxsize={MAXSIZE}", pl_thread),
    Pipeline("generator", "baseline", "plain generator", plain_generator),
)


# -- the probe (runs in the child process) ----------------------------------------------------


def status_mib(field: str) -> float | None:
    """A ``kB`` field of ``/proc/self/status`` (Linux), in MiB; None where there is none."""
    try:
        with PROC_STATUS.open() as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mib() -> float:
    """This process's peak RSS: its own high-water mark where Linux gives it."""
    peak = status_mib("VmHWM")
    if peak is not None:
        return peak
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss / (1024 * 1024) if sys.platform == "darwin" else maxrss / 1024


def start_peak_window() -> tuple[float, str]:
    """Reset the peak to the current RSS if possible; return the baseline and the method."""
    try:
        PROC_CLEAR_REFS.write_text("5")
    except OSError:
        method = "VmHWM" if status_mib("VmHWM") is not None else "ru_maxrss"
        return peak_rss_mib(), method
    return peak_rss_mib(), "VmHWM reset"


def probe(key: str, n: int, maxsize: int) -> dict[str, Any]:
    """Run one pipeline to the end in this process; report its peak RSS growth."""
    pipeline = next(p for p in PIPELINES if p.key == key)
    stream = pipeline.build(n, maxsize)  # lazy: nothing runs before iteration
    gc.collect()
    before, method = start_peak_window()
    started = time.perf_counter()
    count = total = 0
    for size in stream:
        count += 1
        total += size
    seconds = time.perf_counter() - started
    return {
        "growth_mib": peak_rss_mib() - before,
        "baseline_mib": before,
        "method": method,
        "seconds": seconds,
        "count": count,
        "total": total,
    }


def probe_main(argv: list[str]) -> int:
    key, n, maxsize = argv[0], int(argv[1]), int(argv[2])
    print(json.dumps(probe(key, n, maxsize)))
    return 0


# -- the parent side --------------------------------------------------------------------------


def run_probe(pipeline: Pipeline, n: int, timeout: float) -> dict[str, Any]:
    """Measure ``pipeline`` on ``n`` items in a fresh interpreter; verify its output."""
    command = [sys.executable, str(Path(__file__).resolve()), PROBE_FLAG, pipeline.key]
    completed = subprocess.run(
        [*command, str(n), str(MAXSIZE)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"probe exited with {completed.returncode}: {completed.stderr[-2000:]}")
    report: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    verify(Check(report["count"], report["total"]), Check(n, n * ITEM_BYTES), pipeline.label)
    return report


def is_flat(full_mib: float, tenth_mib: float) -> bool:
    slack = max(FLAT_SLACK_MIB, FLAT_SLACK_FRACTION * max(tenth_mib, 0.0))
    return full_mib <= max(tenth_mib, 0.0) + slack


def measure_pipeline(case: str, pipeline: Pipeline, n: int, settings: Settings) -> Result:
    result = Result(case, pipeline.label, pipeline.library, pipeline.variant, n, MIB, None, None)
    tenth_n = max(1, n // 10)
    try:
        tenth = run_probe(pipeline, tenth_n, settings.watchdog_seconds)
        full = run_probe(pipeline, n, settings.watchdog_seconds)
    except Exception as error:  # reported in the table; the other rows still run
        result.error = f"{type(error).__name__}: {error}"
        return result
    flat = is_flat(full["growth_mib"], tenth["growth_mib"])
    result.value = full["growth_mib"]
    result.seconds = full["seconds"]
    result.runs = [full["seconds"]]
    result.details = {
        "tenth_n": tenth_n,
        "tenth_mib": tenth["growth_mib"],
        "flat": flat,
        "items_per_s": n / full["seconds"],
        "baseline_mib": full["baseline_mib"],
        "method": full["method"],
    }
    verdict = "flat" if flat else "GROWS WITH INPUT"
    result.note = (
        f"1/10 input: {tenth['growth_mib']:.2f} MiB -> {verdict}; "
        f"{n / full['seconds']:,.0f} items/s"
    )
    return result


@dataclass(frozen=True)
class MemoryCase:
    """Peak memory growth of a bounded pipeline, one fresh process per measurement."""

    name: str = f"memory-maxsize-{MAXSIZE}"

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = QUICK_N if settings.quick else N
        results: list[Result] = []
        for pipeline in PIPELINES:
            result = measure_pipeline(self.name, pipeline, n, settings)
            results.append(result)
            progress(result)
        set_vs_pypeln(results)
        return results


def cases() -> list[MemoryCase]:
    """The cases of this module, in report order."""
    return [MemoryCase()]


if __name__ == "__main__" and sys.argv[1:2] == [PROBE_FLAG]:
    sys.exit(probe_main(sys.argv[2:]))
