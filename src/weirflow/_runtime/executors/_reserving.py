"""Room reserved downstream for the batches a worker in another process has in hand.

The ``process`` and ``ray`` back ends feed a worker from one parent thread and collect its
results from another. The feeder reserves room downstream for each batch it sends before it
sends it (:meth:`Reservations.reserve`); the collector puts the results into that room, the
oldest batch's first (:meth:`Reservations.put`), gives back the rest of a batch's room once the
worker is done with it, and, at the end, all that is left (:meth:`Reservations.release`).
"""

from __future__ import annotations

import collections
import contextlib
import threading

from .._batch import Batch
from .._channel import Cancelled
from .._ports import BlockingOutput, reserved_need


def batch_limit(out: BlockingOutput, wanted: int) -> int:
    """How many elements to send a worker that asks for ``wanted``: no more than fit downstream.

    Example:
        >>> from weirflow._runtime._channel import Channel
        >>> batch_limit(BlockingOutput([(Channel(3, 1), None)]), 10)
        3
    """
    if out.bounded:  # no more than downstream can take: see ``_worker._work``
        return max(1, min(wanted, int(out.room())))
    return wanted


class Reservations:
    """The room reserved for each batch sent to one worker and not yet finished, oldest first.

    Example:
        >>> from weirflow._runtime._channel import Channel
        >>> out = BlockingOutput([(Channel(4, 1), None)])
        >>> reservations = Reservations()
        >>> reservations.reserve(out, 3)
        >>> reservations.use(2), reservations.left(finished_batch=True)
        (2, 1)
    """

    def __init__(self) -> None:
        self._reserved: collections.deque[int] = collections.deque()
        self._lock = threading.Lock()

    def reserve(self, out: BlockingOutput, n: int) -> None:
        """Reserve room for a batch of ``n`` elements about to be sent (if ``out`` is bounded)."""
        if out.bounded:
            out.reserve_blocking(n)
            with self._lock:
                self._reserved.append(n)

    def use(self, n: int) -> int:
        """How many of ``n`` results go into room this worker reserved.

        The oldest batch's reservation first, then the next ones': a ``flat_map`` batch may
        give more results than it had room for, and they must not wait for room this worker
        holds for its queued batch.
        """
        with self._lock:
            used = 0
            for position, left in enumerate(self._reserved):
                take = min(n - used, left)
                self._reserved[position] = left - take
                used += take
                if used >= n:
                    break
            return used

    def left(self, finished_batch: bool) -> int:
        """Reserved room no result will use: the oldest batch's rest, or all of it at the end."""
        with self._lock:
            if finished_batch:
                return self._reserved.popleft() if self._reserved else 0
            left = sum(self._reserved)
            self._reserved.clear()
            return left

    def put(self, out: BlockingOutput, batch: Batch) -> bool:
        """Put a result batch downstream, in reserved room first; False if downstream stopped."""
        try:
            out.put_blocking(batch, self.use(reserved_need(batch)))
        except Cancelled:
            return False
        return True

    def release(self, out: BlockingOutput, finished_batch: bool) -> None:
        """Give back :meth:`left` to ``out`` (nothing happens if downstream stopped)."""
        with contextlib.suppress(Cancelled):
            out.release(self.left(finished_batch))
