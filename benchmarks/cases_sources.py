"""Sources: the same stage fed by a ``range`` and by a generator, side by side.

* ``source-range-vs-generator``: ``map(identity)`` over 200,000 ints for thread (1 worker), task
  (1 worker) and process (2 workers), each fed once by ``range(n)`` (an in-memory container,
  sliced directly) and once by a generator yielding the same ints (a file reader, a database
  cursor, a consumer: the common real source, whose items are pulled one at a time). The
  ``% ideal`` column of a generator row is its rate as a share of the same stage's rate over the
  range (the goal: at least 70%).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import weirflow as wf
from _harness import Impl, Progress, Result, Settings, ThroughputCase, weirflow_impl
from _process_work import identity
from cases_engine import expected_identity

N = 200_000
QUICK_N = 20_000
PROCESS_WORKERS = 2
RANGE = "range"
GENERATOR = "generator"


def numbers(n: int) -> Iterator[int]:
    """A generator source: yields ``0 .. n-1`` one at a time, like a reader would."""
    yield from range(n)


def source(form: str, n: int) -> Iterable[int]:
    return range(n) if form == RANGE else numbers(n)


def thread_map(form: str) -> Impl:
    return weirflow_impl(
        f"thread w=1 {form}", lambda n: wf.thread.map(identity, source(form, n), workers=1)
    )


def task_map(form: str) -> Impl:
    return weirflow_impl(
        f"task w=1 {form}", lambda n: wf.task.map(identity, source(form, n), workers=1)
    )


def process_map(form: str) -> Impl:
    return weirflow_impl(
        f"process w={PROCESS_WORKERS} {form}",
        lambda n: wf.process.map(identity, source(form, n), workers=PROCESS_WORKERS),
    )


def impls() -> tuple[Impl, ...]:
    return tuple(
        make(form) for make in (thread_map, task_map, process_map) for form in (RANGE, GENERATOR)
    )


@dataclass(frozen=True)
class SideBySideCase:
    """A :class:`ThroughputCase` whose generator rows are compared with their range rows."""

    inner: ThroughputCase

    @property
    def name(self) -> str:
        return self.inner.name

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        results = self.inner.measure(settings, progress)
        by_label = {result.implementation: result for result in results}
        for result in results:
            result.ideal = None
            if not result.implementation.endswith(GENERATOR):
                continue
            over_range = by_label.get(result.implementation.removesuffix(GENERATOR) + RANGE)
            if over_range is not None and over_range.value:
                result.ideal = over_range.value
                result.note = "% ideal: of the same stage over a range"
        return results


def cases() -> list[SideBySideCase]:
    """The cases of this module, in report order."""
    return [
        SideBySideCase(
            ThroughputCase("source-range-vs-generator", N, QUICK_N, impls(), expected_identity)
        )
    ]
