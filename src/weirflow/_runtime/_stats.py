"""Per-stage counters that cost almost nothing: one row of integers per worker, no locks.

A :class:`CounterFile` is a block of 64-bit integers in a file mapped into memory (under
``/dev/shm`` where there is one), made by the process that launches a flow. Each stage of the
flow gets a :class:`StageCounters` handle: a slice of the block with a header (its input queue's
fill and capacity, written by the channel) and one row per worker (items taken, errors, drops,
time-outs, busy flag, busy time and a latency histogram). A worker writes only its own row, once
per batch, so no lock is taken; whoever reads adds the rows up. The handle is picklable (by
the file's path), so worker processes and pipeline processes write into the same memory and the
launching process reads it live, even after a worker process was killed.

Example:
    >>> block = CounterFile(StageCounters.size(workers=2))
    >>> counters = StageCounters(block.path, 0, workers=2)
    >>> counters.record(0, items=3, seconds=0.003)
    >>> counters.record(1, items=1, seconds=0.5)
    >>> counters.add(1, ERRORS)
    >>> read = counters.read()
    >>> read.items, read.errors
    (4, 1)
    >>> block.close()
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
import threading
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

#: Upper bounds (seconds) of the latency histogram's buckets; the last bucket is +Inf.
BUCKETS: tuple[float, ...] = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

# the slots of a worker's row
ITEMS, ERRORS, DROPPED, TIMEOUTS, BUSY, SECONDS_NS = range(6)
_FIRST_BUCKET = 6
ROW = _FIRST_BUCKET + len(BUCKETS) + 1
# the slots of a stage's header
QUEUE_ITEMS, QUEUE_CAPACITY = 0, 1
HEADER = 2

_views: dict[str, memoryview] = {}  # this process's mappings, by path
_views_lock = threading.Lock()


def _directory() -> str | None:
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


class CounterFile:
    """A zeroed block of ``slots`` 64-bit integers shared by path; :meth:`close` removes it.

    The launching process keeps its mapping after :meth:`close`, so counters stay readable.
    """

    def __init__(self, slots: int) -> None:
        descriptor, self.path = tempfile.mkstemp(prefix="weirflow-counters-", dir=_directory())
        try:
            os.ftruncate(descriptor, max(1, slots) * 8)
            mapped = mmap.mmap(descriptor, max(1, slots) * 8)
        finally:
            os.close(descriptor)
        with _views_lock:
            _views[self.path] = memoryview(mapped).cast("q")

    def close(self) -> None:
        """Remove the file (processes that mapped it keep their mapping)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)


def _view(path: str) -> memoryview:
    view = _views.get(path)
    if view is not None:
        return view
    with _views_lock:
        view = _views.get(path)
        if view is None:
            with open(path, "r+b") as file:
                view = memoryview(mmap.mmap(file.fileno(), 0)).cast("q")
            _views[path] = view
    return view


def forget(path: str) -> None:
    """Drop this process's mapping of ``path`` (a later flow gets a new file)."""
    with _views_lock:
        _views.pop(path, None)


@dataclass(frozen=True)
class CounterTotals:
    """The rows of one stage added up (see :meth:`StageCounters.read`)."""

    items: int
    errors: int
    dropped: int
    timeouts: int
    busy_workers: int
    seconds_sum: float
    buckets: tuple[int, ...]  # per bucket, not cumulative; the last one is +Inf
    queue_items: int
    queue_capacity: int


class StageCounters:
    """One stage's slice of a :class:`CounterFile`: a header and ``workers`` rows."""

    __slots__ = ("_base", "_view", "offset", "path", "workers")

    def __init__(self, path: str, offset: int, workers: int) -> None:
        self.path = path
        self.offset = offset
        self.workers = max(1, workers)
        self._view: memoryview | None = None
        self._base = offset + HEADER

    @staticmethod
    def size(workers: int) -> int:
        """Slots a stage of ``workers`` workers takes."""
        return HEADER + max(1, workers) * ROW

    @property
    def view(self) -> memoryview:
        view = self._view
        if view is None:
            view = self._view = _view(self.path)
        return view

    def row(self, worker: int) -> int:
        """Where ``worker``'s row starts (workers beyond the rows share the last one)."""
        return self._base + min(max(0, worker), self.workers - 1) * ROW

    def worker(self, worker: int) -> WorkerRow:
        """The row ``worker`` writes (what a worker loop keeps at hand)."""
        return WorkerRow(self.view, self.row(worker))

    def record(self, worker: int, items: int, seconds: float) -> None:
        """``worker`` handled ``items`` elements in ``seconds`` (one batch)."""
        view, row = self.view, self.row(worker)
        nanoseconds = int(seconds * 1e9)
        view[row + ITEMS] += items
        view[row + SECONDS_NS] += nanoseconds
        bucket = row + _FIRST_BUCKET + bisect_left(BUCKETS, seconds / items if items else seconds)
        view[bucket] += items

    def busy(self, worker: int, busy: bool) -> None:
        self.view[self.row(worker) + BUSY] = 1 if busy else 0

    def add(self, worker: int, slot: int, n: int = 1) -> None:
        """Count ``n`` more in ``slot`` (``ERRORS``, ``DROPPED``, ``TIMEOUTS``) of a row."""
        view = self._view
        if view is None:
            view = self.view
        if 0 <= worker < self.workers:
            view[self._base + worker * ROW + slot] += n
        else:
            view[self.row(worker) + slot] += n

    def set_queue(self, items: int) -> None:
        self.view[self.offset + QUEUE_ITEMS] = items

    def set_capacity(self, capacity: int) -> None:
        self.view[self.offset + QUEUE_CAPACITY] = capacity

    def read(self) -> CounterTotals:
        """Every row added up, read without a lock (each number is at most one batch old)."""
        view = self.view
        rows = [view[self.row(w) : self.row(w) + ROW].tolist() for w in range(self.workers)]
        total = [sum(column) for column in zip(*rows)]
        return CounterTotals(
            items=total[ITEMS],
            errors=total[ERRORS],
            dropped=total[DROPPED],
            timeouts=total[TIMEOUTS],
            busy_workers=sum(1 for r in rows if r[BUSY]),
            seconds_sum=total[SECONDS_NS] / 1e9,
            buckets=tuple(total[_FIRST_BUCKET:]),
            queue_items=view[self.offset + QUEUE_ITEMS],
            queue_capacity=view[self.offset + QUEUE_CAPACITY],
        )

    def __getstate__(self) -> tuple[str, int, int]:
        return (self.path, self.offset, self.workers)

    def __setstate__(self, state: tuple[str, int, int]) -> None:
        self.path, self.offset, self.workers = state
        self._view = None
        self._base = self.offset + HEADER

    def __repr__(self) -> str:
        return f"StageCounters({self.path!r}, offset={self.offset}, workers={self.workers})"


class WorkerRow:
    """One worker's row: :meth:`start` and :meth:`done` around each batch (a few stores)."""

    __slots__ = ("_busy", "_row", "_view")

    def __init__(self, view: memoryview, row: int) -> None:
        self._view = view
        self._row = row
        self._busy = row + BUSY

    def start(self) -> None:
        self._view[self._busy] = 1

    def done(self, items: int, seconds: float) -> None:
        """The batch of ``items`` elements took ``seconds``; the worker is idle again."""
        view, row = self._view, self._row
        view[row] += items  # ITEMS
        view[row + SECONDS_NS] += int(seconds * 1e9)
        if items:
            view[row + _FIRST_BUCKET + bisect_left(BUCKETS, seconds / items)] += items
        view[self._busy] = 0


def counters_of(spec: Any) -> StageCounters | None:
    """The counters a stage spec carries (``extra["statistics"]``), if any."""
    extra = getattr(spec, "extra", None)
    return extra.get("statistics") if extra else None
