"""``check_source(make, expected)``: the conformance suite of a :class:`~weirflow.abc.Source`.

It checks what weirflow's own sources are tested for, on any implementation: ``read`` yields
the expected items, equal and of the same types (:class:`~weirflow.abc.Delivery` objects are
unwrapped and acknowledged, as a flow does); a finite source can be read again (the next run);
a continuous one yields until ``close()`` — called from another thread — makes ``read`` return;
a pickled copy (as process mode makes one) works on its own; ``close`` is idempotent, harmless
on a source never read, and a ``with`` block calls it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..abc import Delivery, Source
from ._checking import Reading, assert_same, close_again, closes, pickled

__all__ = ["check_source"]


def check_source(
    make: Callable[[], Source],
    expected: Sequence[Any],
    *,
    parameters: Mapping[str, Any] | None = None,
    timeout: float = 10.0,
) -> None:
    """Check the source ``make()`` returns against the guarantees of :class:`~weirflow.abc.Source`.

    Args:
        make: returns a new source whose ``read(parameters)`` yields ``expected`` (a continuous
            source: yields them first, e.g. messages published once it has subscribed).
        expected: the items, in order.
        parameters: what ``read`` is given, as from a configuration stage; ``{}`` by default.
        timeout: the longest the source may take to yield the items, or to return after
            ``close()``.

    Raises:
        AssertionError: naming the source, the check and what differed.

    Example:
        >>> from weirflow.testing import ListSource, check_source
        >>> check_source(lambda: ListSource([1, 2.5, "three"]), [1, 2.5, "three"])
        >>> check_source(lambda: ListSource([1], continuous=True), [1])
    """
    expected = list(expected)
    given = dict(parameters or {})
    source = _made(make)
    name = repr(source)
    try:
        assert_same(expected, _read(source, given, len(expected), timeout), f"{name}: read()")
        if not source.continuous:
            assert_same(
                expected,
                _read(source, given, len(expected), timeout),
                f"{name}: a second read() (the next run)",
            )
    finally:
        source.close()
    close_again(source, name)

    untouched = _made(make)
    copy = pickled(untouched, repr(untouched))
    untouched.close()
    try:
        if copy.continuous:
            _read(copy, given, 0, timeout)  # reads on its own, and stops when closed
        else:
            assert_same(
                expected, _read(copy, given, len(expected), timeout), f"{name}: a pickled copy"
            )
    finally:
        copy.close()

    never_read = _made(make)
    with closes(never_read, repr(never_read)):
        pass
    if never_read.continuous:
        reading = Reading(lambda: never_read.read(given), f"weirflow check {name}")
        if not reading.join(timeout):
            raise AssertionError(f"{name}: read() after close() did not return within {timeout}s")
        if reading.error is not None:
            raise AssertionError(
                f"{name}: read() after close() raised {reading.error!r}"
            ) from reading.error


def _made(make: Callable[[], Source]) -> Source:
    source = make()
    if not isinstance(source, Source):
        raise AssertionError(f"make() returned {source!r}, not a weirflow.abc.Source")
    return source


def _read(source: Source, parameters: dict[str, Any], count: int, timeout: float) -> list[Any]:
    """What one run reads: all of a finite source; ``count`` items of a continuous one, then
    ``close()`` from this thread must end the read."""
    name = repr(source)
    if not source.continuous:
        return [_unwrapped(item) for item in source.read(parameters)]
    reading = Reading(lambda: source.read(parameters), f"weirflow check {name}")
    got = reading.wait_for(count, timeout)
    source.close()
    if not reading.join(timeout):
        raise AssertionError(f"{name}: read() did not return within {timeout}s of close()")
    if reading.error is not None:
        raise AssertionError(f"{name}: read() raised {reading.error!r}") from reading.error
    if len(got) < count:
        raise AssertionError(
            f"{name}: read() yielded {len(got)} of {count} items within {timeout}s: {got!r}"
        )
    return [_unwrapped(item) for item in got[:count]]


def _unwrapped(item: Any) -> Any:
    if isinstance(item, Delivery):
        value = item.value
        item.ack()
        item.ack()  # at most once: a second call does nothing
        return value
    return item
