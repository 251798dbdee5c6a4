"""``maxsize`` bounds what a stage holds, so a fast stage never runs far ahead of a slow one."""

from __future__ import annotations

import threading
import tracemalloc
from collections.abc import Iterator
from types import ModuleType

from weirflow.testing import Recorder

from .conftest import crosses_process


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


def _held_per_worker(pl: ModuleType) -> int:
    """Batches a worker may hold besides the channels: process workers keep one queued."""
    return 5 if crosses_process(pl) else 1


def test_a_bounded_first_stage_is_not_drained_by_an_unbounded_second(
    cpl: ModuleType, recorder: Recorder
) -> None:
    # pypeln issue #111: maxsize=1 on the first stage was ignored when chained.
    def load(x: int) -> int:
        recorder("load")
        return x

    def process(x: int) -> int:
        recorder("process")
        return x

    stage = cpl.map(load, range(300), workers=1, maxsize=1)
    stage = cpl.map(process, stage, workers=1)
    assert sorted(stage) == list(range(300))
    gap = max_gap = 0
    for event in recorder.values():  # one file, appended in the order things happened
        gap += 1 if event == "'load'" else -1
        max_gap = max(max_gap, gap)
    # the edge between them holds 1; each worker has at most a few batches of 1 in hand
    assert max_gap <= 1 + 2 * _held_per_worker(cpl) + 1


def test_a_slow_consumer_holds_back_the_whole_chain(pl: ModuleType) -> None:
    lag = Lag()

    def source() -> Iterator[int]:
        for i in range(300):
            yield lag.produce(i)

    stage = pl.map(abs, source(), workers=2, maxsize=3)
    stage = pl.map(abs, stage, workers=2, maxsize=3)
    stage = pl.filter(bool, stage, workers=2, maxsize=3)
    count = 0
    for x in stage:
        lag.consume(x)
        count += 1
    assert count == 299
    # per edge: 3 buffered, plus batches of at most 3 in the hands of 2 workers; four edges
    assert lag.max_gap <= 4 * 3 + 3 * 2 * 3 * _held_per_worker(pl)


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
    # the input is 188 MiB; bounded channels hold a few dozen blobs at most (the process
    # back end also holds pickled copies of the batches crossing to and from its workers)
    limit = (160 if crosses_process(cpl) else 80) * payload
    assert peak < limit, f"peak {peak / 2**20:.1f} MiB"


def test_maxsize_bounds_the_calls_made_ahead_of_the_consumer(
    pl: ModuleType, recorder: Recorder
) -> None:
    # pypeln's test_maxsize: to_iterable(map(f, range(20)), maxsize=3), one next(): f is called
    # at most 5 times. Here with 3 workers, and checked at every element, not only the first.
    def f(x: int) -> int:
        recorder("call")
        return x

    values = iter(pl.to_iterable(pl.map(f, range(20), workers=3), maxsize=3))
    next(values)
    recorder("consumed")
    for _ in values:
        recorder("consumed")
    events = recorder.values()
    assert events.count("'call'") == 20
    ahead = max_ahead = 0
    for event in events:  # one file, appended in the order things happened
        ahead += 1 if event == "'call'" else -1
        max_ahead = max(max_ahead, ahead)
    assert max_ahead <= 5, events


def test_maxsize_bounds_the_batch_in_a_workers_hands(cpl: ModuleType, recorder: Recorder) -> None:
    # the input is all there at once (an unbounded edge from the source): without a cap by
    # what the output can accept, a worker takes and computes a whole batch of it
    def f(x: int) -> int:
        recorder("call")
        return x

    stage = cpl.map(f, range(200), workers=2, maxsize=4)
    values = iter(stage)
    next(values)
    recorder("consumed")
    for _ in values:
        recorder("consumed")
    ahead = max_ahead = 0
    for event in recorder.values():
        ahead += 1 if event == "'call'" else -1
        max_ahead = max(max_ahead, ahead)
    # 4 in the channel, reserved or held by the consumer, and the element it is looking at
    assert max_ahead <= 4 + 1
