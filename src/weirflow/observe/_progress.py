"""Progress lines in a terminal: :func:`progress` for a stage, :class:`FlowProgress` for a flow.

``for x in weirflow.progress(stage)`` iterates the stage as ``for x in stage`` would and, when
stderr is a terminal, keeps one line per stage up to date on it (drawn with tqdm, at most ten
times a second): the stage's name, the items it has taken in, their rate, how full its input
queue is, and a marker on a full queue (``full``, three quarters or more: the stage cannot keep
up with its input) and on the one furthest down the graph (``◀ bottleneck``: the stage holding
everything above it back). The last line counts what the loop itself got. Stages without
workers of their own (``sync`` stages, sources) run inside the stage that consumes them and
have no line.

Lines are drawn only by the thread (or task) that iterates, between two items: no thread of
tqdm's runs. When stderr is not a terminal nothing is written at all.

The counts are read, never computed: each channel of a run counts the elements its consumers
took (under the lock it takes anyway) and its fill is read without a lock.
:class:`FlowProgress` is the same for ``weirflow run``: one line per pipeline (items passed,
rate, runs, the fullest queue of the run in progress), drawn by the flow's supervisor thread.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Generic, TypeVar

from .._errors import InvalidArgumentError
from .._runtime._supervisor import Run, aiterate_values, iterate_values
from .._stage import Stage

if TYPE_CHECKING:
    from tqdm import tqdm

    from .._runtime._channel import Channel
    from ..flows import Flow

T = TypeVar("T")

REFRESH_SECONDS = 0.1
DEFAULT_COLUMNS = 120
FULL = 0.75  # a queue this full is marked: its stage is not keeping up


@functools.cache
def _line_class() -> type[tqdm]:  # type: ignore[type-arg]
    """tqdm's bar without its monitor thread (lines are drawn by the consumer only); tqdm is
    imported on the first line drawn, not with weirflow."""
    from tqdm import tqdm

    class Line(tqdm):  # type: ignore[type-arg]
        monitor_interval = 0

    Line.set_lock(threading.RLock())
    return Line


def terminal() -> IO[str] | None:
    """``sys.stderr`` if it is a terminal, else ``None`` (then nothing is drawn)."""
    stream = sys.stderr
    try:
        return stream if stream is not None and stream.isatty() else None
    except (AttributeError, ValueError):  # no isatty, or closed
        return None


def _columns(stream: IO[str]) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or DEFAULT_COLUMNS
    except (AttributeError, OSError, ValueError):
        return DEFAULT_COLUMNS


@dataclass
class Row:
    """What one line shows: a name, a count, and the input queue's fill (``capacity`` 0: none
    to show; ``math.inf``: unbounded)."""

    name: str
    count: int
    queued: float = 0
    capacity: float = 0
    bottleneck: bool = False  # the last full queue of its run: the stage holding others back

    @property
    def full(self) -> bool:
        """At least three quarters full (read while workers take from it, a full queue is
        seldom seen exactly full)."""
        bounded = math.isfinite(self.capacity) and self.capacity > 0
        return bounded and self.queued >= FULL * self.capacity


def queue_rows(run: Run) -> list[Row]:
    """A row per stage of ``run`` with an input queue, sources first; the last full one is
    the bottleneck."""
    rows = [_row(spec.name, channel) for spec, channel in run.queues()]
    full = [row for row in rows if row.full]
    if full:
        full[-1].bottleneck = True
    return rows


def _row(name: str, channel: Channel) -> Row:
    occupied = max(0.0, min(channel.occupied(), channel.capacity))
    return Row(name, channel.taken, occupied, channel.capacity)


def _queue_text(row: Row) -> str:
    if row.capacity == 0:
        return ""
    if math.isinf(row.capacity):
        text = f"queue {int(row.queued)}"
    else:
        text = f"queue {int(row.queued)}/{int(row.capacity)}"
    if row.full:
        text += " full"
    if row.bottleneck:
        text += " ◀ bottleneck"
    return text


class Board:
    """Lines drawn in place on a terminal, one per :class:`Row`, in the order first seen."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lines: dict[str, tqdm] = {}  # type: ignore[type-arg]
        self._width = 0
        self._columns = _columns(stream)

    def draw(self, rows: list[Row], extra: dict[str, str] | None = None) -> None:
        """Bring every line up to date (new names get a line below the others)."""
        width = max((len(row.name) for row in rows), default=0)
        for row in rows:
            line = self._lines.get(row.name)
            if line is None:
                line = self._add(row.name, width)
            text = _queue_text(row)
            if extra and row.name in extra:
                text = f"{extra[row.name]}, {text}" if text else extra[row.name]
            line.set_postfix_str(text, refresh=False)
            line.update(row.count - line.n)  # draws it (no minimum interval: we throttle)

    def _add(self, name: str, width: int) -> tqdm:  # type: ignore[type-arg]
        if width > self._width:
            self._width = width
            for known, line in self._lines.items():
                line.set_description_str(known.ljust(width), refresh=False)
        line = _line_class()(
            desc=name.ljust(self._width),
            total=None,
            file=self._stream,
            leave=True,
            mininterval=0,
            miniters=0,
            unit=" items",
            ncols=self._columns,
        )
        self._lines[name] = line
        return line

    def close(self) -> None:
        """Leave the lines as they are (their final state) and move below them."""
        for line in self._lines.values():
            line.close()
        self._lines.clear()

    def writing(self) -> AbstractContextManager[None]:
        """A context in which text written to the stream (a log line) goes above the lines."""
        return _line_class().external_write_mode(file=self._stream)


class StageProgress:
    """The lines of one run of a stage: its queues, then what the consumer got."""

    def __init__(self, run: Run, name: str, stream: IO[str]) -> None:
        self._run = run
        self._name = name
        self._board = Board(stream)
        self.count = 0
        self._next = 0.0

    def tick(self) -> None:
        """One more item reached the consumer: redraw if it is time."""
        self.count += 1
        now = time.monotonic()
        if now >= self._next:
            self._next = now + REFRESH_SECONDS
            self.draw()

    def draw(self) -> None:
        self._board.draw([*queue_rows(self._run), Row(f"{self._name} (output)", self.count)])

    def close(self) -> None:
        """Draw the final counts and leave them on the terminal."""
        self.draw()
        self._board.close()


class Progress(Generic[T]):
    """A stage iterated with progress lines: see :func:`progress`."""

    __slots__ = ("_stage",)

    def __init__(self, stage: Stage[T]) -> None:
        self._stage = stage

    def __iter__(self) -> Iterator[T]:
        spec = self._stage.spec
        run = Run(spec)
        values: Iterator[T] = iterate_values(run, spec.maxsize, with_index=False)
        stream = terminal()
        if stream is None:
            return values
        return self._shown(values, StageProgress(run, spec.name, stream))

    @staticmethod
    def _shown(values: Iterator[T], shown: StageProgress) -> Iterator[T]:
        try:
            for value in values:
                shown.tick()
                yield value
        finally:
            close = getattr(values, "close", None)
            if close is not None:
                close()  # the run is joined: the counts are final
            shown.close()

    def __aiter__(self) -> AsyncIterator[T]:
        import asyncio

        spec = self._stage.spec
        run = Run(spec, loop=asyncio.get_running_loop())
        values: AsyncIterator[T] = aiterate_values(run, spec.maxsize, with_index=False)
        stream = terminal()
        if stream is None:
            return values
        return _AsyncShown(values, StageProgress(run, spec.name, stream))

    def __repr__(self) -> str:
        return f"<progress of stage {self._stage.name}>"


class _AsyncShown(AsyncIterator[T]):
    """``async for`` with lines drawn by the consuming task (a plain object, as the values are:
    leaving the loop closes the run at once; see ``_async_consumer.py``)."""

    def __init__(self, values: AsyncIterator[T], shown: StageProgress) -> None:
        self._values = values
        self._shown: StageProgress | None = shown

    async def __anext__(self) -> T:
        try:
            value = await self._values.__anext__()
        except BaseException:
            self._finish()
            raise
        if self._shown is not None:
            self._shown.tick()
        return value

    async def aclose(self) -> None:
        close = getattr(self._values, "aclose", None)
        if close is not None:
            await close()
        self._finish()

    def _finish(self) -> None:
        shown, self._shown = self._shown, None
        if shown is not None:
            shown.close()

    def __del__(self) -> None:
        self._values = None  # type: ignore[assignment]  # the values close their run at once
        self._finish()


def progress(stage: Stage[T]) -> Progress[T]:
    """Iterate ``stage`` with a live line per stage on the terminal (nothing when stderr is not
    a terminal).

    It is commonly used for: watching a batch job move, and seeing which stage is the
    bottleneck (its input queue is full). Use it wherever you would iterate the stage: ``for``,
    ``list()``, ``async for``. Each line shows a stage's name, the items it has taken in, their
    rate, its input queue's fill and ``full`` / ``◀ bottleneck`` markers; the last line counts
    what the loop got.

    Args:
        stage: any stage (``weirflow.thread.map(...)`` and friends).

    Raises:
        InvalidArgumentError: ``stage`` is not a :class:`~weirflow.Stage`.

    Example:
        >>> import weirflow as wf
        >>> stage = wf.thread.map(lambda x: x * 2, range(5), workers=2, maxsize=4)
        >>> sorted(wf.progress(stage))  # stderr is not a terminal here: nothing is drawn
        [0, 2, 4, 6, 8]
    """
    if not isinstance(stage, Stage):
        raise InvalidArgumentError(
            f"progress() takes a stage (such as weirflow.thread.map(f, items)), got "
            f"{type(stage).__name__}; wrap an iterable with weirflow.sync.from_iterable(...)"
        )
    return Progress(stage)


class FlowProgress:
    """``weirflow run`` in a terminal: a line per pipeline, redrawn by the flow's supervisor.

    Each line: the pipeline, the items that passed its last stage, their rate, its runs so far
    and, for a flow in threads, the fullest input queue of the run in progress (a bottleneck
    marked as :func:`progress` does). ``tick`` and ``close`` are called from one thread.
    """

    every = REFRESH_SECONDS * 2

    def __init__(self, flow: Flow, stream: IO[str]) -> None:
        self._flow = flow
        self._board = Board(stream)
        self._lock = threading.Lock()

    def tick(self) -> None:
        statistics = self._flow.statistics()
        runs = self._flow.live_runs()
        rows: list[Row] = []
        extra: dict[str, str] = {}
        for name, counters in statistics.items():
            row = Row(name, int(counters["items"]))
            run = runs.get(name)
            queues = queue_rows(run) if run is not None else []
            text = f"{counters['runs']} run(s)"
            if counters["failures"]:
                text += f", {counters['failures']} failed"
            if queues:  # the bottleneck, else the fullest queue
                stage = max(queues, key=lambda q: (q.bottleneck, _fill(q)))
                row.queued, row.capacity = stage.queued, stage.capacity
                row.bottleneck = stage.bottleneck
                text += f", {stage.name.removeprefix(name + '.')}"
            extra[name] = text
            rows.append(row)
        with self._lock:
            self._board.draw(rows, extra)

    def writing(self) -> AbstractContextManager[None]:
        """For log lines written while the lines are shown (see :class:`Board`)."""
        return self._board.writing()

    def close(self) -> None:
        self.tick()
        with self._lock:
            self._board.close()


def _fill(row: Row) -> float:
    if not math.isfinite(row.capacity) or row.capacity <= 0:
        return 0.0
    return row.queued / row.capacity
