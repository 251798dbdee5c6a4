"""weirflow.abc and weirflow.testing: the extension rules, the stand-ins in real flows (threads
and worker processes), and conformance checks that catch each broken implementation."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import cloudpickle
import pytest

import weirflow
import weirflow._interfaces
import weirflow.abc
from weirflow import FlowBuilder
from weirflow.abc import Extension, Sender, Source, Storage
from weirflow.testing import (
    ListSender,
    ListSource,
    ListStorage,
    check_sender,
    check_source,
    check_storage,
)

MODES = [pytest.param(True, id="threads"), pytest.param(False, id="processes")]

# -- weirflow.abc ---------------------------------------------------------------------------------


def test_the_interfaces_have_one_home() -> None:
    for name in ("Delivery", "Sender", "Source", "Storage"):
        assert getattr(weirflow, name) is getattr(weirflow.abc, name)
        assert getattr(weirflow._interfaces, name) is getattr(weirflow.abc, name)


def test_a_storage_implements_save_many_and_gets_save() -> None:
    class Batches(Storage):
        def __init__(self) -> None:
            self.batches: list[list[Any]] = []

        def save_many(self, items: list[Any]) -> None:
            self.batches.append(list(items))

    storage = Batches()
    storage.save(1)
    storage.save_many([2, 3])
    assert storage.batches == [[1], [2, 3]]


def test_a_storage_written_with_save_only_keeps_working() -> None:
    class OneByOne(Storage):
        def __init__(self) -> None:
            self.kept: list[Any] = []

        def save(self, item: Any) -> None:
            self.kept.append(item)

    class Child(OneByOne):
        pass

    for cls in (OneByOne, Child):
        storage = cls()
        storage.save_many([1, 2])
        assert storage.kept == [1, 2]


def test_a_storage_implementing_neither_cannot_be_made() -> None:
    class Nothing(Storage):
        pass

    with pytest.raises(TypeError, match="abstract method save_many"):
        Nothing()  # type: ignore[abstract]

    class Later(Nothing):  # an abstract base may leave it to its subclasses
        def save(self, item: Any) -> None:
            pass

    Later().save_many([1])


def test_load_of_a_storage_without_it_raises_a_clear_error() -> None:
    class WriteOnly(Storage):
        def save_many(self, items: list[Any]) -> None:
            pass

    with pytest.raises(TypeError, match="WriteOnly cannot be loaded"):
        WriteOnly().load()


def test_every_extension_is_a_context_manager_that_closes() -> None:
    closed: list[str] = []

    class Out(Sender):
        def send(self, item: Any) -> None:
            pass

        def close(self) -> None:
            closed.append("sender")

    class In(Source):
        def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
            yield from ()

        def close(self) -> None:
            closed.append("source")

    sender = Out()
    with sender as entered:
        assert entered is sender
    with pytest.raises(ValueError, match="boom"), In():
        raise ValueError("boom")
    assert closed == ["sender", "source"]


class _Connection:
    """Stands for a client that cannot be pickled (it holds a lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.opened = True


class Pooled(Storage):
    """The documented way to be picklable: settings, then ``_unpicklable`` and ``_reset``."""

    _unpicklable = ("_connection", "_lock")

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: _Connection | None = None
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()

    def save_many(self, items: list[Any]) -> None:
        with self._lock:
            if self._connection is None:
                self._connection = _Connection()


def test_unpicklable_attributes_are_left_out_and_remade() -> None:
    storage = Pooled("db://here")
    storage.save(1)
    copy = pickle.loads(cloudpickle.dumps(storage))
    assert copy.url == "db://here"
    assert copy._connection is None  # opens its own on first use
    copy.save(2)
    assert copy._connection is not None
    assert copy._connection is not storage._connection
    assert copy._lock is not storage._lock
    assert isinstance(Pooled("x"), Extension)


# -- the stand-ins in real flows ----------------------------------------------------------------


def tenfold(item: int) -> int:
    return item * 10


@pytest.mark.parametrize("use_threads", MODES)
def test_list_stand_ins_record_a_flow_in_threads_and_processes(use_threads: bool) -> None:
    storage, sender = ListStorage(), ListSender()
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("readings").with_source(ListSource(range(6))).with_core_logic(
        tenfold, workers=2
    ).with_storage(storage).send(sender)
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert sorted(storage.items) == [0, 10, 20, 30, 40, 50]
    assert sorted(sender.items) == [0, 10, 20, 30, 40, 50]
    assert sorted(flow.storage("readings").load()) == [0, 10, 20, 30, 40, 50]


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_list_storage_is_shared_by_worker_threads_and_processes(kind: str) -> None:
    storage = ListStorage()
    getattr(weirflow, kind).each(storage.save, range(40), workers=4, run=True)
    assert sorted(storage.items) == list(range(40))


def test_list_files_go_away_with_the_object_and_are_kept_when_named(tmp_path: Any) -> None:
    storage = ListStorage()
    path = storage.path
    assert path.exists()
    del storage
    assert not path.exists()
    named = ListSender(tmp_path / "sent.pickles")
    named.send("kept")
    del named
    assert ListSender(tmp_path / "sent.pickles").items == ["kept"]


def test_a_continuous_list_source_waits_for_close() -> None:
    source = ListSource([1, 2], continuous=True)
    items: list[Any] = []
    reader = threading.Thread(target=lambda: items.extend(source.read({})))
    reader.start()
    source.close()
    reader.join(10)
    assert not reader.is_alive()
    assert items == [1, 2]


# -- the checks catch what is wrong ---------------------------------------------------------------


class _Memory(Storage):
    """Keeps items in the object: fine in one thread, wrong for process mode."""

    def __init__(self, items: list[Any] | None = None) -> None:
        self.kept: list[Any] = [] if items is None else items
        self.lock = threading.RLock()

    def save_many(self, items: list[Any]) -> None:
        self.kept.extend(items)

    def load(self, **query: Any) -> list[Any]:
        if query:
            raise TypeError("no query")
        return list(self.kept)

    def __getstate__(self) -> dict[str, Any]:
        return {"kept": self.kept}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.kept = state["kept"]


class _Floats(ListStorage):
    def save_many(self, items: list[Any]) -> None:
        super().save_many(
            [{k: float(v) if k == "count" else v for k, v in i.items()} for i in items]
        )


class _IgnoresQueries(ListStorage):
    def load(self, **query: Any) -> list[Any]:
        return self.items


class _HalfBatches(ListStorage):
    def save_many(self, items: list[Any]) -> None:
        for item in items:
            if item == "refused":
                raise ValueError("refused")
            super().save_many([item])


class _ClosesOnce(ListStorage):
    def close(self) -> None:
        if getattr(self, "closed", False):
            raise RuntimeError("closed already")
        self.closed = True


class _KeepsOpen(ListStorage):
    def __exit__(self, *exc_info: Any) -> None:
        pass


class _Locked(ListStorage):
    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [
        (_Floats, {}, r"\['count'\]: expected int 1, got float 1.0"),
        (_HalfBatches, {"unstorable": "refused"}, "a refused batch must keep none of its items"),
        (_IgnoresQueries, {}, "did not raise TypeError"),
        (_ClosesOnce, {}, "closed already"),
        (_KeepsOpen, {}, "did not call close"),
        (_Locked, {}, "cannot be pickled for process mode"),
        (_Memory, {}, "after saving through a pickled copy"),
        (lambda: object(), {}, "not a weirflow.abc.Storage"),
    ],
    ids=[
        "types",
        "all-or-nothing",
        "query",
        "close-twice",
        "with-block",
        "pickle",
        "copies",
        "type",
    ],
)
def test_check_storage_fails_on(make: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_storage(make, processes=False, **options)


_IN_THIS_PROCESS: dict[str, list[Any]] = {}


class _InThisProcess(Storage):
    """Shared by copies in one process only: what worker processes save is lost."""

    def __init__(self) -> None:
        self.key = f"{id(self)}-{len(_IN_THIS_PROCESS)}"
        _IN_THIS_PROCESS[self.key] = []

    def save_many(self, items: list[Any]) -> None:
        _IN_THIS_PROCESS.setdefault(self.key, []).extend(items)

    def load(self, **query: Any) -> list[Any]:
        if query:
            raise TypeError("no query")
        return list(_IN_THIS_PROCESS.get(self.key, []))


def test_check_storage_catches_a_storage_that_worker_processes_do_not_share() -> None:
    with pytest.raises(AssertionError, match="worker process"):
        check_storage(_InThisProcess, threads=0)


class _Twice(ListSender):
    def send(self, item: Any) -> None:
        super().send(item)
        super().send(item)


def test_check_sender_catches_a_duplicating_sender() -> None:
    sender = _Twice()
    with pytest.raises(AssertionError, match="after send"):
        check_sender(lambda: sender, lambda count: sender.items, processes=False)


def test_check_sender_catches_what_does_not_arrive() -> None:
    lost = ListSender()
    with pytest.raises(AssertionError, match="expected list of 3, got list of 0"):
        check_sender(ListSender, lambda count: lost.items, processes=False)


def test_check_sender_runs_worker_processes() -> None:
    kept = ListSender()
    check_sender(lambda: kept, lambda count: kept.items, threads=2)
    assert len(kept.items) == 3 + 1 + 2 * 3 + 3 + 1


class _Changing(Source):
    def __init__(self) -> None:
        self.runs = 0

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        self.runs += 1
        yield self.runs


class _Deaf(ListSource):
    """A continuous source whose close does not end its read."""

    def __init__(self) -> None:
        super().__init__([1], continuous=True)
        self.released = threading.Event()

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        yield 1
        self.released.wait()

    def close(self) -> None:
        pass


def test_check_source_catches_wrong_items_and_types() -> None:
    with pytest.raises(AssertionError, match=r"expected int 2, got float 2\.0"):
        check_source(lambda: ListSource([1, 2.0]), [1, 2])
    with pytest.raises(AssertionError, match="a second read"):
        check_source(_Changing, [1])


def test_check_source_catches_a_continuous_source_that_does_not_stop() -> None:
    made: list[_Deaf] = []

    def make() -> Source:
        made.append(_Deaf())
        return made[-1]

    try:
        with pytest.raises(AssertionError, match=r"did not return within 0.5s of close\(\)"):
            check_source(make, [1], timeout=0.5)
    finally:
        for source in made:
            source.released.set()
        for thread in threading.enumerate():
            if thread.name.startswith("weirflow check"):
                thread.join(10)
