"""``check_storage(make)``: the conformance suite of a :class:`~weirflow.abc.Storage`.

It checks what weirflow's own storages are tested for, on any implementation: items come back
from ``load`` equal and of the same types, in the order saved, and a query ``load`` does not
understand is a ``TypeError``; ``save_many([])`` stores nothing;
a batch is one transaction where the storage promises it; saves from several threads at once
all arrive; a pickled copy (as process mode makes one) and copies in worker processes write to
the same target; ``close`` is idempotent and a ``with`` block calls it. A plain function that
raises ``AssertionError``: call it from pytest, unittest or a script.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..abc import Storage
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

__all__ = ["check_storage"]

_NOTHING = object()
_Load = Callable[[Storage], Any]


def check_storage(
    make: Callable[[], Storage],
    *,
    items: Sequence[Any] = SAMPLE_ITEMS,
    unstorable: Any = _NOTHING,
    threads: int = 4,
    processes: bool = True,
    loaded: Callable[[Storage], Any] | None = None,
    timeout: float = 30.0,
) -> None:
    """Check the storage ``make()`` returns against :class:`~weirflow.abc.Storage`'s guarantees.

    Args:
        make: returns a new, empty storage on a target of its own at each call (a fresh file,
            a new table); the check calls it a few times and closes what it makes.
        items: at least three distinct items the storage keeps exactly; by default flat dicts
            of str, float, int and bool (``SAMPLE_ITEMS``).
        unstorable: an item the storage refuses (e.g. a value its format cannot hold); when
            given, ``save_many([good, unstorable])`` must raise and keep nothing of the batch.
        threads: how many threads save at once in the concurrency check (0: skip it).
        processes: also save from two worker processes (``weirflow.process``), as process mode
            does; the storage is pickled into them.
        loaded: how to see what a storage kept, for one that cannot ``load`` (a storage that
            passes items on): ``loaded(storage)`` returns the items; by default
            ``storage.load()``, which must then also work after ``close()``.
        timeout: the longest a threaded step may take.

    Raises:
        AssertionError: naming the storage, the check and what differed.

    Example:
        >>> from weirflow.testing import ListStorage, check_storage
        >>> check_storage(ListStorage, processes=False)
    """
    items = list(items)
    if len(items) < 3:
        raise ValueError(f"check_storage needs at least 3 items, got {len(items)}")
    load: Callable[[Storage], Any] = loaded or _load
    storage = _made(make)
    name = repr(storage)
    try:
        assert_same([], load(storage), f"{name}: load() of a new storage")
        storage.save_many([])
        assert_same([], load(storage), f"{name}: load() after save_many([])")
        storage.save_many(items[:2])
        storage.save(items[2])
        assert_same(items[:3], load(storage), f"{name}: load() after save_many and save")
        assert_same(items[:3], load(storage), f"{name}: a second load()")
        if loaded is None:
            _check_unknown_query(storage, name)
        if unstorable is not _NOTHING:
            _check_all_or_nothing(storage, items, unstorable, name, load)
        copy = pickled(storage, name)
        try:
            copy.save_many(items[:1])
        finally:
            copy.close()
        assert_same(
            items[:3] + items[:1], load(storage), f"{name}: after saving through a pickled copy"
        )
    finally:
        storage.close()
    close_again(storage, name)
    if threads:
        _check_threads(make, items, threads, timeout, load)
    if processes:
        _check_processes(make, items, load)
    _check_with_block(make, items, load)


def _load(storage: Storage) -> Any:
    return storage.load()


def _made(make: Callable[[], Storage]) -> Storage:
    storage = make()
    if not isinstance(storage, Storage):
        raise AssertionError(f"make() returned {storage!r}, not a weirflow.abc.Storage")
    return storage


def _check_unknown_query(storage: Storage, name: str) -> None:
    try:
        storage.load(no_such_query_option=1)
    except TypeError:
        return
    raise AssertionError(
        f"{name}: load(no_such_query_option=1) did not raise TypeError; a query a storage "
        "does not understand must be refused, not ignored"
    )


def _check_all_or_nothing(
    storage: Storage, items: list[Any], unstorable: Any, name: str, load: _Load
) -> None:
    before = load(storage)
    try:
        storage.save_many([items[0], unstorable])
    except Exception:
        pass
    else:
        raise AssertionError(f"{name}: save_many() accepted the unstorable item {unstorable!r}")
    assert_same(before, load(storage), f"{name}: a refused batch must keep none of its items")


def _check_threads(
    make: Callable[[], Storage], items: list[Any], count: int, timeout: float, load: _Load
) -> None:
    storage = _made(make)
    name = repr(storage)
    try:
        expected = [_tagged(item, index) for index in range(count) for item in items]

        def save(index: int) -> None:
            batch = [_tagged(item, index) for item in items]
            storage.save_many(batch[:1])
            storage.save_many(batch[1:])

        in_threads(save, count, f"{name}: save_many from {count} threads at once", timeout)
        assert_same_items(expected, load(storage), f"{name}: after saves from {count} threads")
    finally:
        storage.close()


def _check_processes(make: Callable[[], Storage], items: list[Any], load: _Load) -> None:
    storage = _made(make)
    name = repr(storage)
    try:
        batches = [[_tagged(item, index) for item in items] for index in range(4)]
        in_processes(storage, "save_many", batches, f"{name}: save_many in worker processes")
        expected = [item for batch in batches for item in batch]
        assert_same_items(expected, load(storage), f"{name}: after saves from worker processes")
    finally:
        storage.close()


def _check_with_block(make: Callable[[], Storage], items: list[Any], load: _Load) -> None:
    storage = _made(make)
    with closes(storage, repr(storage)):
        storage.save(items[0])
    assert_same(items[:1], load(storage), f"{storage!r}: load() after its with block")
    storage.close()


def _tagged(item: Any, index: int) -> Any:
    """``item`` made distinct per writer: a dict's str values get a suffix, others are kept."""
    if isinstance(item, dict):
        return {
            key: f"{value} #{index}" if isinstance(value, str) else value
            for key, value in item.items()
        }
    return item
