"""The two ends of a pipeline run: reading its continuous source, and its last stage.

:class:`SourceRead` reads a continuous source for one run. It closes the source's iterator on
every exit path (end, failure, cancellation, restart), so the next run can read again, and
asks a source whose ``read`` is blocked to return (``interrupt_read()``, when the source has
one) as soon as the run is stopped. Items of a source that does not redeliver (a stream) are
kept as *pending* until they have passed the pipeline: a restart sends the ones still on their
way again first, so none is lost (at-least-once sources have the broker do that).

:class:`PipelineEnd` is the last stage of a run: it acknowledges what passed, and takes care of
:class:`~weirflow.flows._dead_letters.ItemFailure` records: one WARNING line (the traceback at
DEBUG), the count, and the dead letter when the pipeline has one; an at-least-once item is
acknowledged only once it is kept there.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .._errors import tag_stage
from .._interfaces import Delivery
from .._runtime._stats import ITEMS, StageCounters
from ._dead_letters import DeadLetters, ItemFailure
from ._stages import StageDef
from ._tickets import CARRIER, Deliveries, TicketBook, Tracked

logger = logging.getLogger("weirflow")


class Pending:
    """Items of a source that does not redeliver, still on their way (oldest first)."""

    # One dict, changed by single operations (atomic in CPython): no lock on the item path.
    def __init__(self) -> None:
        self._items: dict[int, Any] = {}
        self._keys = itertools.count()

    def add(self, value: Any, book: TicketBook) -> Tracked:
        """``value`` as a tracked item that leaves this set once it has passed the pipeline."""
        key = next(self._keys)
        self._items[key] = value
        return Tracked(value, book.local_ticket(functools.partial(self._items.pop, key, None)))

    def again(self, book: TicketBook) -> Iterator[Tracked]:
        """The items still on their way, tracked anew; each stays here until it has passed."""
        for key, value in dict(self._items).items():
            yield Tracked(value, book.local_ticket(functools.partial(self._items.pop, key, None)))

    def __len__(self) -> int:
        return len(self._items)


class SourceRead:
    """One run's reading of a continuous source."""

    def __init__(
        self,
        stage: StageDef,
        pipeline: str,
        pending: Pending | None,
        counts: Any = None,
        counters: StageCounters | None = None,
    ) -> None:
        assert stage.source is not None
        self.counts = counts  # the runner's PipelineStatistics: deliveries and acks
        self.counters = counters  # the source stage's: items read
        self.stage = stage
        self.name = f"{pipeline}.{stage.label}"
        self.pending = pending
        self._stopped = threading.Event()
        self._items: Iterator[Any] | None = None
        self.book = TicketBook()

    def items(self) -> Iterator[Any]:
        """What the run's first engine stage iterates."""
        self._items = self._read()
        return self._items

    def _read(self) -> Iterator[Any]:
        assert self.stage.source is not None
        pending = self.pending
        if pending is not None:
            yield from pending.again(self.book)  # still on their way when the last run ended
        source = self.stage.source.get()
        iterator = iter(source.read({}))
        counters = self.counters
        try:
            for item in iterator:
                if type(item) is Deliveries:  # a broker's read: all tracked before the first
                    if counters is not None:  # goes on, so they reach the next stage together
                        counters.add(0, ITEMS, len(item))
                    if pending is not None:
                        yield from [pending.add(delivery, self.book) for delivery in item]
                    else:
                        yield from self.book.tracked(item, self.counts)
                else:
                    if counters is not None:
                        counters.add(0, ITEMS)
                    if pending is not None:
                        yield pending.add(item, self.book)
                    elif isinstance(item, Delivery):
                        yield from self.book.tracked((item,), self.counts)
                    else:
                        yield item
                if self._stopped.is_set():
                    return
        except BaseException as error:
            tag_stage(error, self.name)
            raise
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    def stop(self) -> None:
        """The run is ending: have a blocked ``read`` return (safe from any thread)."""
        self._stopped.set()
        assert self.stage.source is not None
        interrupt = getattr(self.stage.source.opened, "interrupt_read", None)
        if interrupt is not None:
            with contextlib.suppress(Exception):
                interrupt()

    def close(self) -> None:
        """After the run: close the read (its ``finally`` runs now, not when collected)."""
        self.stop()
        items, self._items = self._items, None
        if items is not None:
            close = getattr(items, "close", None)
            if close is not None:
                with contextlib.suppress(ValueError):  # still stepped by a stuck thread
                    close()
        self.book.close()  # what was not acknowledged is delivered again


NOT_AN_ITEM: Any = type("_NotAnItem", (), {"__repr__": lambda self: "NOT_AN_ITEM"})()


@dataclass
class PipelineEnd:
    """The last stage of a run (a thread of the pipeline's process)."""

    pipeline: str
    dead_letter: DeadLetters | None
    counts: Any  # the runner's PipelineStatistics
    on_end: Callable[[], None] | None = None

    def __call__(self, item: Any) -> Any:
        if not isinstance(item, Tracked):
            if isinstance(item, ItemFailure):
                self._failed(item, redelivered=False)
                return NOT_AN_ITEM
            return item
        value, ticket, weight = item.value, item.ticket, item.weight
        if value is CARRIER:
            ticket.settle(weight)
            return NOT_AN_ITEM
        if isinstance(value, ItemFailure):
            if self._failed(value, ticket.redelivers) or not ticket.redelivers:
                ticket.settle(weight)
            else:
                self.counts.redelivered += 1
                ticket.fail(weight, value)
            return NOT_AN_ITEM
        ticket.settle(weight)
        return value

    def done(self) -> None:
        """``on_done`` of the end stage: the run is over (finished, failed or cancelled)."""
        if self.on_end is not None:
            self.on_end()

    def _failed(self, failure: ItemFailure, redelivered: bool) -> bool:
        self.counts.failed_items += 1
        self.counts.last_error_type = failure.error_type
        self.counts.last_error_stage = failure.stage
        self.counts.last_error = f"{failure.error_type}: {failure.error}"
        where = {"pipeline": self.pipeline, "stage": failure.stage}
        kept = False
        if self.dead_letter is not None:
            try:
                self.dead_letter.write(failure)
                kept = True
                self.counts.dead_letters += 1
            except Exception as error:
                logger.error(
                    "pipeline %r: could not write the dead letter of an item that failed in "
                    "stage %r (%s: %s)%s",
                    self.pipeline,
                    failure.stage,
                    type(error).__name__,
                    _first_line(str(error)),
                    "; it is left unacknowledged, so the source delivers it again"
                    if redelivered
                    else "",
                    extra=where,
                )
        if kept:
            assert self.dead_letter is not None
            outcome = f"kept in the {self.dead_letter.describe()}"
        elif redelivered:
            outcome = "left unacknowledged: the source delivers it again"
        else:
            outcome = "skipped"
        logger.warning(
            "pipeline %r: an item failed in stage %r after %d attempt(s) (%s: %s); %s; the "
            "pipeline goes on",
            self.pipeline,
            failure.stage,
            failure.attempts,
            failure.error_type,
            _first_line(failure.error),
            outcome,
            extra=where,
        )
        logger.debug(
            "pipeline %r: the failed item's traceback:\n%s", self.pipeline, failure.traceback
        )
        return kept


def _first_line(text: str) -> str:
    """A log line stays one line (a database error's SQL and parameters go to DEBUG)."""
    first, _, rest = text.partition("\n")
    return f"{first} [...]" if rest else first
