"""``maxsize`` bounds what a stage holds, so a fast stage never runs far ahead of a slow one."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from types import ModuleType


class Lag:
    """Counts produced and consumed elements and remembers the largest gap between them."""

    def __init__(self) -> None:
        self.produced = 0
        self.consumed = 0
        self.max_gap = 0
        self._lock = threading.Lock()

    def produce(self, x: int) -> int:
        with self._lock:
            self.produced += 1
            self.max_gap = max(self.max_gap, self.produced - self.consumed)
        return x

    def consume(self, x: int) -> int:
        with self._lock:
            self.consumed += 1
        return x


def test_a_bounded_first_stage_is_not_drained_by_an_unbounded_second(cpl: ModuleType) -> None:
    # pypeln issue #111: maxsize=1 on the first stage was ignored when chained.
    lag = Lag()
    stage = cpl.map(lag.produce, range(500), workers=1, maxsize=1)
    stage = cpl.map(lag.consume, stage, workers=1)
    assert sorted(stage) == list(range(500))
    # one in each of the two channels it feeds through, one per worker in hand
    assert lag.max_gap <= 4


def test_a_slow_consumer_holds_back_the_whole_chain(pl: ModuleType) -> None:
    lag = Lag()

    def source() -> Iterator[int]:
        for i in range(300):
            yield lag.produce(i)

    stage = pl.map(lambda x: x, source(), workers=2, maxsize=3)
    stage = pl.map(lambda x: x, stage, workers=2, maxsize=3)
    stage = pl.filter(lambda x: True, stage, workers=2, maxsize=3)
    count = 0
    for x in stage:
        lag.consume(x)
        count += 1
    assert count == 300
    # per edge: 3 buffered + one batch per worker in hand; four edges
    assert lag.max_gap <= 4 * (3 + 2 * 3)


def test_memory_stays_bounded_by_maxsize_not_by_the_input(cpl: ModuleType) -> None:
    payload = 64 * 1024

    def blobs() -> Iterator[bytes]:
        for _ in range(3000):
            yield bytes(payload)

    tracemalloc.start()
    try:
        total = 0
        for blob in cpl.map(len, cpl.map(bytes, blobs(), maxsize=10), maxsize=10):
            total += blob
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 3000 * payload
    # the input is 188 MiB; bounded channels hold a few dozen blobs at most
    assert peak < 80 * payload, f"peak {peak / 2**20:.1f} MiB"
