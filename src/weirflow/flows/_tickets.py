"""Tickets: each item of a delivery followed through a pipeline, worker processes included.

A :class:`Ticket` belongs to one :class:`~weirflow.Delivery`. Every item derived from it travels
as a :class:`Tracked` with the ticket and a *weight*: the delivered item weighs 1; a stage that
turns an item into several gives each a share (a half, a quarter, ...) and gives the rest back;
an item that is dropped gives its whole weight back. The delivery is acknowledged once weights
adding up to exactly 1 have come back (fractions are exact, so never too early). Shares make
the bookkeeping local to each item, so items can cross worker processes: a ticket travels as
its key (book, number, process) and is the real ticket again once it is back in the process
that made it; weight given back in another process rides a :data:`CARRIER` item to the
pipeline's end. A :class:`TicketBook` holds the tickets of one run and forgets them all when
the run ends (what was not acknowledged then is delivered again).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Any

from .._interfaces import Delivery

Weight = int | Fraction


class _Carrier:
    """Not an item: only weight given back in a worker process, going to the pipeline's end."""

    def __repr__(self) -> str:
        return "CARRIER"

    def __reduce__(self) -> str:
        return "CARRIER"  # unpickled as this module's CARRIER


CARRIER: Any = _Carrier()

_books: dict[int, TicketBook] = {}
# Guards the weights of every ticket: a lock each would cost more (one ticket per delivery)
# than sharing one held for a few additions.
_weights_lock = threading.Lock()
_books_lock = threading.Lock()
_book_keys = itertools.count(1)


class TicketBook:
    """The tickets of one run, findable by key in this process while the run lasts."""

    def __init__(self) -> None:
        self.key = next(_book_keys)
        self.pid = os.getpid()
        self._tickets: dict[int, Ticket] = {}
        self._numbers = itertools.count()
        self._lock = threading.Lock()
        with _books_lock:
            _books[self.key] = self

    def tracked(self, deliveries: Iterable[Delivery], counts: Any = None) -> list[Tracked]:
        """Each delivery's item with a ticket of its own; ``counts`` (statistics with
        ``delivered`` and ``acked``, or ``None``) counts them delivered now, acknowledged
        once they are."""
        numbers = self._numbers
        items = [
            Tracked(
                delivery.value,
                Ticket(
                    self,
                    next(numbers),
                    delivery.ack,
                    True,
                    getattr(delivery, "reject", None),
                    counts,
                ),
            )
            for delivery in deliveries
        ]
        if counts is not None:
            counts.delivered += len(items)
        return items

    def local_ticket(self, acknowledge: Callable[[], None]) -> Ticket:
        """A ticket of an item that is not redelivered: ``acknowledge`` lets it go."""
        return Ticket(self, next(self._numbers), acknowledge, False)

    def keep(self, ticket: Ticket) -> None:
        """``ticket`` is leaving this process: find it when it comes back."""
        with self._lock:
            self._tickets[ticket.number] = ticket

    def find(self, number: int) -> Ticket | None:
        with self._lock:
            return self._tickets.get(number)

    def forget(self, number: int) -> None:
        with self._lock:
            self._tickets.pop(number, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._tickets)

    def close(self) -> None:
        with _books_lock:
            _books.pop(self.key, None)
        with self._lock:
            self._tickets.clear()


class Ticket:
    """The weight of one delivery's items that has come back, and what came back failed."""

    __slots__ = (
        "_acknowledge",
        "_failed",
        "_failure",
        "_reject",
        "_returned",
        "book",
        "counts",
        "kept",
        "number",
        "redelivers",
    )
    local = True

    def __init__(
        self,
        book: TicketBook,
        number: int,
        acknowledge: Callable[[], None],
        redelivers: bool,
        reject: Callable[[Any], None] | None = None,
        counts: Any = None,
    ) -> None:
        self.book = book
        self.number = number
        self.redelivers = redelivers
        self.kept = False  # in its book: it went to another process
        self._acknowledge = acknowledge
        self._returned: Weight = 0
        self._failed: Weight = 0
        self._reject = reject
        self._failure: Any = None
        self.counts = counts  # statistics whose ``acked`` goes up with the acknowledgement

    def settle(self, weight: Weight) -> None:
        """Items of this weight passed the pipeline (stored, sent, dropped, or dead letters)."""
        if weight == 1 and not self.kept:  # the one item of its delivery: nothing to add up
            self._acknowledged()
            return
        self._add(weight, failed=False)

    def fail(self, weight: Weight, failure: Any = None) -> None:
        """Items of this weight failed and were kept nowhere: never acknowledge the delivery.

        ``failure`` (an :class:`~weirflow.flows._dead_letters.ItemFailure`) is handed to the
        delivery's ``reject`` once all its items are back, so a broker can record why.
        """
        self._add(weight, failed=True, failure=failure)

    def _add(self, weight: Weight, failed: bool, failure: Any = None) -> None:
        with _weights_lock:
            if failed:
                self._failed += weight
                if self._failure is None:
                    self._failure = failure
            else:
                self._returned += weight
            complete = self._returned + self._failed == 1
            acknowledge = complete and self._failed == 0
        if complete and self.kept:
            self.book.forget(self.number)
        if acknowledge:
            self._acknowledged()
        elif complete and self._reject is not None:
            self._reject(self._failure)

    def _acknowledged(self) -> None:
        self._acknowledge()
        counts = self.counts
        if counts is not None:
            counts.acked += 1

    def __reduce__(self) -> tuple[Any, ...]:
        if not self.kept:
            self.kept = True
            self.book.keep(self)
        return (_ticket, (self.book.key, self.number, self.book.pid, self.redelivers))


class RemoteTicket:
    """A ticket away from the process that made it (or of a run that is over): a key only."""

    __slots__ = ("book", "number", "pid", "redelivers")
    local = False

    def __init__(self, book: int, number: int, pid: int, redelivers: bool) -> None:
        self.book, self.number, self.pid, self.redelivers = book, number, pid, redelivers

    def settle(self, weight: Weight) -> None:
        """Nothing to do: the run that made the ticket is over (its delivery comes again)."""

    def fail(self, weight: Weight, failure: Any = None) -> None:
        """Nothing to do, as for :meth:`settle`."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_ticket, (self.book, self.number, self.pid, self.redelivers))


def _ticket(book: int, number: int, pid: int, redelivers: bool) -> Ticket | RemoteTicket:
    """Unpickling: the real ticket in the process that made it, while its run lasts."""
    if pid == os.getpid():
        with _books_lock:
            found = _books.get(book)
        ticket = found.find(number) if found is not None else None
        if ticket is not None:
            return ticket
    return RemoteTicket(book, number, pid, redelivers)


class Deliveries(list[Delivery]):
    """Several deliveries a source yields at once (what one read of a broker got): the
    pipeline tickets them all before the first goes on, so they travel as one batch."""


class Tracked:
    """An item on its way through a pipeline: its ticket and its share of the delivery."""

    __slots__ = ("ticket", "value", "weight")

    def __init__(self, value: Any, ticket: Ticket | RemoteTicket, weight: Weight = 1) -> None:
        self.value = value
        self.ticket = ticket
        self.weight = weight

    def __reduce__(self) -> tuple[Any, ...]:
        return (Tracked, (self.value, self.ticket, self.weight))


def spread(outputs: Iterable[Any], item: Tracked) -> Iterable[Tracked]:
    """The outputs a stage made from ``item``, each with a share of its weight.

    One output takes the whole weight (and stays a tuple: the engine slices containers at
    once); from a generator each takes half of what is left, and the rest is given back once
    the generator ends (on a :data:`CARRIER` in another process).
    """
    ticket, weight = item.ticket, item.weight
    if type(outputs) is tuple and len(outputs) <= 1:
        if outputs:
            return (Tracked(outputs[0], ticket, weight),)
        if ticket.local:
            ticket.settle(weight)
            return ()
        return (Tracked(CARRIER, ticket, weight),)
    return _shares(outputs, ticket, weight)


def _shares(outputs: Iterable[Any], ticket: Ticket | RemoteTicket, weight: Weight) -> Iterator[Any]:
    left = Fraction(weight)
    for output in outputs:
        share = left / 2
        left -= share
        yield Tracked(output, ticket, share)
    if ticket.local:
        ticket.settle(left)
    else:
        yield Tracked(CARRIER, ticket, left)
