"""How many entries a stream reader keeps in flight.

A reader holding 1,000 entries while its pipeline finishes 1,000 a second sits on a second of
work that the group's other consumers cannot have: at the end of a finite job one consumer is
still busy while the others are done. A :class:`ReadWindow` keeps about
:data:`HORIZON_SECONDS` of work in flight instead, judged by how fast entries are finished,
between a least size (:data:`MINIMUM`, or two entries for each worker of the pipeline's
stages, so every worker has one at hand and one waiting) and the reader's ``in_flight``. It
grows as soon as the window turns over faster than the horizon, and shrinks only while it is
full (the pipeline, not the reader, sets the pace). A stream connector given ``maxsize=``
holds up to exactly that many.
"""

from __future__ import annotations

HORIZON_SECONDS = 0.05
EVERY_SECONDS = 0.05  # how often the size is worked out again
MINIMUM = 16


class ReadWindow:
    """The size of one reader's window (see the module's docstring).

    ``least``: the pipeline's own floor (two per worker of its stages), at least :data:`MINIMUM`.

    Example:
        >>> window = ReadWindow(1000, adapt=True, now=0.0, least=8)
        >>> window.size(settled=0, now=0.0)  # a reader starts small
        16
        >>> window.size(settled=64, now=0.05)  # 1,280 a second: 0.05 s is 64 entries
        64
        >>> window.full()  # the pipeline is behind: the window may shrink
        >>> window.size(settled=64 + 5, now=0.10)  # 100 a second now
        16
        >>> ReadWindow(1000, adapt=True, now=0.0, least=200).size(settled=0, now=0.0)
        200
        >>> ReadWindow(1000, adapt=False, now=0.0).size(settled=0, now=0.0)
        1000
    """

    __slots__ = ("_full", "_settled", "_since", "adapt", "current", "least", "limit")

    def __init__(self, limit: int, adapt: bool, now: float, least: int = 0) -> None:
        self.limit = limit
        self.adapt = adapt
        self.least = min(limit, max(MINIMUM, least))
        self.current = self.least if adapt else limit
        self._since = now
        self._settled = 0
        self._full = False

    def full(self) -> None:
        """The reader waits for room: the window is as large as the pipeline can take."""
        self._full = True

    def size(self, settled: int, now: float) -> int:
        """The window now; ``settled``: how many entries the reader has finished in all."""
        if not self.adapt:
            return self.limit
        elapsed = now - self._since
        if elapsed >= EVERY_SECONDS:
            done = settled - self._settled
            if done > 0:
                wanted = max(self.least, min(self.limit, round(done / elapsed * HORIZON_SECONDS)))
                if wanted > self.current or self._full:
                    self.current = wanted
            self._since, self._settled, self._full = now, settled, False
        return self.current
