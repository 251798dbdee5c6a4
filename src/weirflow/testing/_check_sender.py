"""``check_sender(make, received)``: the conformance suite of a :class:`~weirflow.abc.Sender`.

It checks what weirflow's own senders are tested for, on any implementation: each item sent
arrives once, equal and of the same types, in the order sent from one thread; sends from several
threads at once all arrive; a pickled copy (as process mode makes one) and copies in worker
processes deliver too; ``close`` is idempotent and a ``with`` block calls it. The destination
is yours: ``received`` tells the check what arrived there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..abc import Sender
from ._check_storage import _tagged
from ._checking import (
    SAMPLE_ITEMS,
    assert_same,
    assert_same_items,
    close_again,
    closes,
    in_processes,
    in_threads,
    pickled,
)

__all__ = ["check_sender"]


def check_sender(
    make: Callable[[], Sender],
    received: Callable[[int], Sequence[Any]],
    *,
    items: Sequence[Any] = SAMPLE_ITEMS,
    threads: int = 4,
    processes: bool = True,
    timeout: float = 30.0,
) -> None:
    """Check the sender ``make()`` returns against the guarantees of :class:`~weirflow.abc.Sender`.

    Args:
        make: returns a sender; every sender it makes delivers to the same destination,
            which holds nothing from earlier tests.
        received: ``received(count)`` returns everything the destination got so far, as the
            items sent (decoded), once it holds at least ``count`` of them or after a bounded
            wait (e.g. ``server.wait_for_requests(count)``); the check fails if fewer came.
        items: at least three distinct items the destination gets back exactly; by default
            flat dicts of str, float, int and bool (``SAMPLE_ITEMS``).
        threads: how many threads send at once in the concurrency check (0: skip it).
        processes: also send from two worker processes (``weirflow.process``), as process
            mode does; the sender is pickled into them.
        timeout: the longest a threaded step may take.

    Raises:
        AssertionError: naming the sender, the check and what differed.

    Example:
        >>> from weirflow.testing import ListSender, check_sender
        >>> kept = ListSender()
        >>> check_sender(lambda: kept, lambda count: kept.items, processes=False)
    """
    items = list(items)
    if len(items) < 3:
        raise ValueError(f"check_sender needs at least 3 items, got {len(items)}")
    expected: list[Any] = []

    def arrived(what: str, in_order: bool = True) -> None:
        got = list(received(len(expected)))
        if in_order:
            assert_same(expected, got, what)
        else:
            assert_same_items(expected, got, what)

    sender = _made(make)
    name = repr(sender)
    try:
        for item in items:
            sender.send(item)
        expected += items
        arrived(f"{name}: what arrived after send() of each item")
        copy = pickled(sender, name)
        try:
            copy.send(items[0])
        finally:
            copy.close()
        expected.append(items[0])
        arrived(f"{name}: what arrived after a send() through a pickled copy")
        if threads:
            batches = [[_tagged(item, index) for item in items] for index in range(threads)]

            def send(index: int) -> None:
                for item in batches[index]:
                    sender.send(item)

            in_threads(send, threads, f"{name}: send() from {threads} threads at once", timeout)
            expected += [item for batch in batches for item in batch]
            arrived(f"{name}: what arrived after sends from {threads} threads", in_order=False)
    finally:
        sender.close()
    close_again(sender, name)
    if processes:
        sender = _made(make)
        batches = [[_tagged(item, 100 + index)] for index, item in enumerate(items)]
        try:
            in_processes(
                sender, "send", batches, f"{name}: send() in worker processes", per_item=True
            )
        finally:
            sender.close()
        expected += [item for batch in batches for item in batch]
        arrived(f"{name}: what arrived after sends from worker processes", in_order=False)
    sender = _made(make)
    with closes(sender, repr(sender)):
        sender.send(items[1])
    expected.append(items[1])
    arrived(f"{name}: what arrived after a send() in a with block", in_order=False)


def _made(make: Callable[[], Sender]) -> Sender:
    sender = make()
    if not isinstance(sender, Sender):
        raise AssertionError(f"make() returned {sender!r}, not a weirflow.abc.Sender")
    return sender
