"""When a pipeline runs: once, on an interval, on a cron schedule, or continuously.

A schedule only computes the next start time; the pipeline's scheduler waits for it on the flow's
stop event (no polling, no busy waiting) through a :class:`Clock`, which tests replace with a
:class:`VirtualClock` so schedule tests never sleep. A run that takes longer than its period is
followed by the next run at once: runs never overlap and missed slots never pile up.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from croniter import croniter

MAX_YEARS = 100
"""How far ahead a cron's next run is looked for (croniter's own default is 50 years)."""


class Clock(Protocol):
    """Time as a scheduler sees it."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds``; True if ``stop`` was set."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        return stop.wait(max(0.0, seconds))


class VirtualClock:
    """A clock for tests: waiting advances virtual time at once.

    A schedule test never sleeps: give the clock to :func:`weirflow.testing.run_once`
    (``clock=VirtualClock(datetime(2030, 5, 1, 5, 30, tzinfo=UTC))``: a ``cron="0 6 * * *"``
    pipeline then starts at 06:00, half an hour of virtual time later, at once), or set it as
    a flow's ``clock`` before :meth:`~weirflow.Flow.launch_flow`. ``now()`` and
    ``monotonic()`` read it; ``advance(seconds)`` moves it on (in core logic, to play a run
    that takes an hour); ``wait(stop, seconds)`` advances it and says whether ``stop`` is set.

    Args:
        start: the time it shows first (timezone-aware); 2030-01-01 00:00 UTC by default.

    Example:
        >>> import threading
        >>> clock = VirtualClock()
        >>> clock.wait(threading.Event(), 90.0)
        False
        >>> clock.monotonic()
        90.0
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2030, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        return self._elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += max(0.0, seconds)

    def wait(self, stop: threading.Event, seconds: float) -> bool:
        if stop.is_set():
            return True
        self.advance(seconds)
        return stop.is_set()


class Schedule(ABC):
    """Computes start times; ``None`` means "no more runs"."""

    repeats = True

    @abstractmethod
    def first(self, clock: Clock) -> float:
        """Monotonic time of the first run."""

    @abstractmethod
    def following(self, clock: Clock, previous_start: float) -> float | None:
        """Monotonic time of the run after one that started at ``previous_start``."""

    def describe(self) -> str:
        return type(self).__name__.lower()


@dataclass(frozen=True)
class Once(Schedule):
    """A single run (also used for continuous sources: the run lasts as long as the flow)."""

    delay_seconds: float = 0
    repeats = False

    def first(self, clock: Clock) -> float:
        return clock.monotonic() + self.delay_seconds

    def following(self, clock: Clock, previous_start: float) -> float | None:
        return None

    def describe(self) -> str:
        return "once" + (f" after {self.delay_seconds:g}s" if self.delay_seconds else "")


@dataclass(frozen=True)
class Interval(Schedule):
    """Every ``seconds``, the first run after ``delay_seconds``."""

    seconds: float
    delay_seconds: float = 0

    def first(self, clock: Clock) -> float:
        return clock.monotonic() + self.delay_seconds

    def following(self, clock: Clock, previous_start: float) -> float | None:
        return max(previous_start + self.seconds, clock.monotonic())

    def describe(self) -> str:
        return f"every {self.seconds:g}s" + (
            f" after {self.delay_seconds:g}s" if self.delay_seconds else ""
        )


@dataclass(frozen=True)
class Cron(Schedule):
    """On a cron expression (``"*/5 * * * *"``), read in ``timezone`` (UTC unless given).

    The first run is the first match after ``delay_seconds``. The accepted forms are checked
    by :func:`~weirflow.flows._cron.check_cron`: five fields, a sixth for the seconds at the end,
    a seventh for the year, or a nickname such as ``@hourly``. In a zone with daylight saving
    time, a time that the spring change skips runs at the first valid time after it, and one
    that the autumn change repeats runs in both of its hours.
    """

    expression: str
    delay_seconds: float = 0
    timezone: str = "UTC"

    def _next(self, clock: Clock, after: datetime) -> float:
        local = after.astimezone(ZoneInfo(self.timezone))
        upcoming: datetime = croniter(
            self.expression, local, max_years_between_matches=MAX_YEARS
        ).get_next(datetime)
        return clock.monotonic() + (upcoming - clock.now()).total_seconds()

    def first(self, clock: Clock) -> float:
        return self._next(clock, clock.now() + timedelta(seconds=self.delay_seconds))

    def following(self, clock: Clock, previous_start: float) -> float | None:
        return max(self._next(clock, clock.now()), clock.monotonic())

    def describe(self) -> str:
        zone = "" if self.timezone == "UTC" else f" in {self.timezone}"
        return f"cron {self.expression!r}{zone}"
