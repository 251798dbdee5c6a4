"""What the conformance checks share: comparing values type for type, spying on ``close``,
pickling as process mode does, and running work in threads and in worker processes.

Every failure is an ``AssertionError`` whose message names the object, the check and what
differed, so the checks read well under pytest, unittest or a plain script.
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import cloudpickle

T = TypeVar("T")

SAMPLE_ITEMS: tuple[dict[str, Any], ...] = (
    {"sensor": "a", "value": 21.5, "count": 1, "ok": True, "note": "first"},
    {"sensor": "b", "value": -3.25, "count": 2, "ok": False, "note": "ünïcode ✓"},
    {"sensor": "c", "value": 0.0, "count": 3, "ok": True, "note": ""},
)
"""Items every storage and sender keeps exactly: flat dicts of str, float, int and bool."""


def difference(expected: Any, got: Any, where: str = "") -> str | None:
    """Where ``got`` differs from ``expected``, types included (``1 != 1.0``), or None.

    Example:
        >>> difference({"a": [1, 2.0]}, {"a": [1, 2]})
        "at ['a'][1]: expected float 2.0, got int 2"
        >>> difference([{"a": 1}], [{"a": 1}]) is None
        True
    """
    if isinstance(expected, dict) and isinstance(got, dict):
        if set(expected) != set(got):
            return f"at {where or 'top'}: expected keys {sorted(expected)}, got {sorted(got)}"
        for key in expected:
            found = difference(expected[key], got[key], f"{where}[{key!r}]")
            if found:
                return found
        return None
    if isinstance(expected, list | tuple) and isinstance(got, list | tuple):
        if type(expected) is not type(got) or len(expected) != len(got):
            return (
                f"at {where or 'top'}: expected {type(expected).__name__} of {len(expected)}, "
                f"got {type(got).__name__} of {len(got)}: {got!r}"
            )
        for index, (left, right) in enumerate(zip(expected, got, strict=True)):
            found = difference(left, right, f"{where}[{index}]")
            if found:
                return found
        return None
    if type(expected) is not type(got) or expected != got:
        return (
            f"at {where or 'top'}: expected {type(expected).__name__} {expected!r}, "
            f"got {type(got).__name__} {got!r}"
        )
    return None


def assert_same(expected: Any, got: Any, what: str) -> None:
    """Fail with ``what`` and the first difference unless ``got`` is ``expected``, typewise."""
    found = difference(expected, got)
    if found:
        raise AssertionError(f"{what}: {found}")


def assert_same_items(expected: Sequence[Any], got: Sequence[Any], what: str) -> None:
    """Like :func:`assert_same`, in any order (what concurrent writers produce)."""
    assert_same(sorted(expected, key=repr), sorted(got, key=repr), f"{what} (in any order)")


def pickled(thing: T, what: str) -> T:
    """A copy of ``thing`` made as process mode makes it (cloudpickle there, pickle back)."""
    try:
        data = cloudpickle.dumps(thing)
    except Exception as error:
        raise AssertionError(
            f"{what}: cannot be pickled for process mode ({type(error).__name__}: {error}); "
            "keep only settings as attributes and list the others in _unpicklable "
            "(see weirflow.abc)"
        ) from error
    copy: T = pickle.loads(data)
    return copy


def close_again(thing: Any, what: str) -> None:
    """Close ``thing`` a second time: it must do nothing, not raise."""
    try:
        thing.close()
    except Exception as error:
        raise AssertionError(
            f"{what}: a second close() raised {error!r}; close() must be idempotent"
        ) from error


@contextmanager
def closes(thing: Any, what: str) -> Iterator[None]:
    """Check that the ``with`` block's end calls ``thing.close()`` (spied on the instance)."""
    calls: list[None] = []
    real = thing.close

    def spy() -> None:
        calls.append(None)
        real()

    thing.close = spy
    try:
        with thing as entered:
            if entered is not thing:
                raise AssertionError(f"{what}: __enter__ returned {entered!r}, not the object")
            yield
    finally:
        del thing.close
    if not calls:
        raise AssertionError(f"{what}: leaving a with block did not call close()")


def in_threads(work: Callable[[int], None], count: int, what: str, timeout: float) -> None:
    """Run ``work(0)`` ... ``work(count - 1)`` in threads started together; re-raise a failure."""
    errors: list[BaseException] = []
    start = threading.Barrier(count)

    def run(index: int) -> None:
        try:
            start.wait(timeout)
            work(index)
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=run, args=(index,), name=f"weirflow check {index}")
        for index in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"{what}: {count} threads did not finish within {timeout}s")
    if errors:
        raise AssertionError(f"{what}: a thread failed: {errors[0]!r}") from errors[0]


class InCopy:
    """Calls ``method`` of a copy of ``thing`` of its own with each batch (``per_item``: with
    each item), then closes the copy, as a flow does in each of its worker processes."""

    def __init__(self, thing: Any, method: str, *, per_item: bool = False) -> None:
        self.thing = thing
        self.method = method
        self.per_item = per_item

    def __call__(self, batch: list[Any]) -> None:
        copy = pickled(self.thing, repr(self.thing))
        try:
            call = getattr(copy, self.method)
            for argument in batch if self.per_item else [batch]:
                call(argument)
        finally:
            copy.close()


def in_processes(thing: Any, method: str, batches: Sequence[Any], what: str, **how: Any) -> None:
    """Call ``thing.method`` with each batch in two worker processes, as process mode does."""
    from .. import process  # the engine, imported only by checks that use worker processes

    work = InCopy(thing, method, **how)
    try:
        process.each(work, list(batches), workers=2, maxsize=len(batches), run=True)
    except Exception as error:
        raise AssertionError(f"{what}: failed in a worker process: {error}") from error


class Reading:
    """Iterates ``read()`` in a thread of its own; a test waits for items or for the end.

    Example:
        >>> reading = Reading(lambda: iter([1, 2]), "example")
        >>> reading.wait_for(2, timeout=5), reading.join(5), reading.error
        ([1, 2], True, None)
    """

    def __init__(self, read: Callable[[], Any], name: str) -> None:
        self.items: list[Any] = []
        self.error: BaseException | None = None
        self.done = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(read,), name=name)
        self._thread.start()

    def _run(self, read: Callable[[], Any]) -> None:
        try:
            for item in read():
                with self._changed:
                    self.items.append(item)
                    self._changed.notify_all()
        except BaseException as error:
            self.error = error
        finally:
            with self._changed:
                self.done = True
                self._changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> list[Any]:
        """The items so far, once there are ``count`` of them, the read ended, or time is up."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.items) >= count or self.done, timeout)
            return list(self.items)

    def join(self, timeout: float) -> bool:
        """Wait for the read to end; whether it did within ``timeout``."""
        self._thread.join(timeout)
        return not self._thread.is_alive()
