"""Ray back end: weirflow.ray against hand-written Ray code, and weirflow.process beside it.

* ``ray-cpu-2ms``: ~2 ms of pure-Python work per item (:func:`_process_work.burn`, calibrated
  once here), 1,000 items, 2 actors of one CPU: each row's speed-up over a plain loop, and
  weirflow's as a share of the *floor*'s: two actors fed by hand with ``ray.wait``, 10 items
  (~20 ms) per call and two calls in flight per actor, the way one would write it. The same
  stage as ``process`` (2 worker processes) for comparison. Timed in turns, best of 5.
* ``ray-identity``: ``map(identity)`` over 100,000 small ints through 2 actors, against the
  naive loop (one ``.remote()`` call per item over the same 2 actors, then ``ray.get``), which
  runs on a tenth of the items (items/s stays comparable); and as ``process``.

Fairness: every timing includes starting the actors (or processes) and stopping them. The
local Ray itself is started once, before the first timed run (weirflow's policy: a local Ray
started on first use and kept until exit); the hand-written rows use that same Ray.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import cloudpickle

import _process_work
import weirflow as wf
from _harness import (
    Check,
    Impl,
    Progress,
    Result,
    Settings,
    ThroughputCase,
    baseline_impl,
    weirflow_impl,
)
from _process_work import burn, identity
from cases_engine import expected_identity
from cases_process import PLAIN_LOOP, SpeedupCase, calibrate
from weirflow._runtime.executors import _ray_cluster

cloudpickle.register_pickle_by_value(_process_work)  # Ray's workers need not find the file

WORKERS = 2
CPU_N = 1_000
CPU_QUICK_N = 200
CPU_ITEM_SECONDS = 0.002
FLOOR_BATCH = 10
IDENTITY_N = 100_000
IDENTITY_QUICK_N = 10_000
NAIVE_SCALE = 0.1
FLOOR = f"floor: {WORKERS} actors, ray.wait, batches of {FLOOR_BATCH}"
NAIVE = f"naive: one .remote() per item, {WORKERS} actors"


@functools.cache
def cpu_work() -> functools.partial[int]:
    return functools.partial(burn, loops=calibrate(CPU_ITEM_SECONDS))


class _Worker:
    """The hand-written rows' actor: runs a function on a batch, or on one item."""

    def __init__(self, f: Callable[[int], int]) -> None:
        self._f = f

    def batch(self, items: list[int]) -> list[int]:
        return [self._f(x) for x in items]

    def one(self, item: int) -> int:
        return self._f(item)


@functools.cache
def _actor_class() -> Any:
    return _ray_cluster.connect().remote(_Worker)


def _actors(f: Callable[[int], int]) -> list[Any]:
    return [_actor_class().options(num_cpus=1).remote(f) for _ in range(WORKERS)]


def floor(n: int) -> Iterator[int]:
    """Two actors fed by hand: two batches in flight each, the next sent as one comes back."""
    ray = _ray_cluster.connect()
    actors = _actors(cpu_work())
    items = list(range(n))
    batches = iter([items[i : i + FLOOR_BATCH] for i in range(0, n, FLOOR_BATCH)])
    owner: dict[Any, Any] = {}
    try:
        for actor in actors:
            for _ in range(2):
                batch = next(batches, None)
                if batch is not None:
                    owner[actor.batch.remote(batch)] = actor
        while owner:
            [done], _ = ray.wait(list(owner), num_returns=1)
            actor = owner.pop(done)
            batch = next(batches, None)
            if batch is not None:
                owner[actor.batch.remote(batch)] = actor
            yield from ray.get(done)
    finally:
        for actor in actors:
            ray.kill(actor)


def naive(n: int) -> Iterator[int]:
    """One remote call per item, round robin over two actors."""
    ray = _ray_cluster.connect()
    actors = _actors(identity)
    try:
        yield from ray.get([actors[x % WORKERS].one.remote(x) for x in range(n)])
    finally:
        for actor in actors:
            ray.kill(actor)


def plain_loop(n: int) -> Iterable[int]:
    work = cpu_work()
    return (work(x) for x in range(n))


def cpu_impls() -> tuple[Impl, ...]:
    return (
        baseline_impl(PLAIN_LOOP, plain_loop),
        weirflow_impl(f"ray w={WORKERS}", lambda n: wf.ray.map(cpu_work(), range(n), WORKERS)),
        baseline_impl(FLOOR, floor),
        weirflow_impl(
            f"process w={WORKERS}", lambda n: wf.process.map(cpu_work(), range(n), WORKERS)
        ),
    )


def identity_impls() -> tuple[Impl, ...]:
    return (
        weirflow_impl(f"ray w={WORKERS}", lambda n: wf.ray.map(identity, range(n), WORKERS)),
        Impl(NAIVE, "baseline", NAIVE, naive, NAIVE_SCALE, "the naive loop is slow"),
        weirflow_impl(
            f"process w={WORKERS}", lambda n: wf.process.map(identity, range(n), WORKERS)
        ),
    )


@dataclass(frozen=True)
class VersusNaive:
    """A throughput case whose weirflow rows also say how many times the naive loop they are."""

    case: ThroughputCase

    @property
    def name(self) -> str:
        return self.case.name

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        _ray_cluster.connect()  # the local Ray starts before any timing
        results = self.case.measure(settings, progress)
        base = next((r.value for r in results if r.implementation == NAIVE), None)
        for result in results:
            if base and result.value and result.library == "weirflow":
                result.note = "; ".join(
                    filter(None, [f"{result.value / base:.0f}x naive", result.note])
                )
        return results


def cases() -> list[Any]:
    _ray_cluster.connect()
    return [
        SpeedupCase(
            "ray-cpu-2ms",
            CPU_N,
            CPU_QUICK_N,
            cpu_impls(),
            lambda n: Check(n, n * (n - 1) // 2),
            reference=PLAIN_LOOP,
            versus=FLOOR,
            versus_name="the floor",
        ),
        VersusNaive(
            ThroughputCase(
                "ray-identity", IDENTITY_N, IDENTITY_QUICK_N, identity_impls(), expected_identity
            )
        ),
    ]
