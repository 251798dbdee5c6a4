"""At-least-once delivery: a source's item is acknowledged only after every item derived from
it has passed the last stage (stored, sent) or was dropped; a failed item is never acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from weirflow import Delivery, FlowBuilder, PipelineFailed, Source, Storage


class ListSource(Source):
    """A continuous source of deliveries that records which ones were acknowledged."""

    continuous = True
    at_least_once = True

    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.acked: list[Any] = []
        self._lock = threading.Lock()

    def read(self, parameters: Mapping[str, Any]) -> Iterator[Any]:
        for value in self.values:
            yield Delivery(value, lambda value=value: self._ack(value))

    def _ack(self, value: Any) -> None:
        with self._lock:
            self.acked.append(value)


class SlowStorage(Storage):
    """Records saves; can be made to fail for some items."""

    def __init__(self, fail_on: Any = None) -> None:
        self.saved: list[Any] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()
        self.source: ListSource | None = None
        self.acked_before_save: list[Any] = []

    def save(self, item: Any) -> None:
        if item == self.fail_on:
            raise OSError(f"disk full while saving {item!r}")
        with self._lock:
            self.saved.append(item)

    def load(self, **query: Any) -> list[Any]:
        return list(self.saved)


def expand(x: int) -> Any:
    if x % 3 == 0:
        return None  # dropped: acknowledged without being stored
    if x % 3 == 1:
        return [x, x + 100]  # one item, a list
    return (y for y in (x, x + 1000))  # many items


def test_items_are_acknowledged_after_all_their_outputs_are_stored() -> None:
    source = ListSource(list(range(30)))
    storage = SlowStorage()
    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_source(source).with_core_logic(
        expand, workers=3
    ).with_storage(storage, workers=2)
    builder.build().launch_flow(execution_seconds=60)
    assert sorted(source.acked) == list(range(30))
    expected = []
    for x in range(30):
        if x % 3 == 1:
            expected.append([x, x + 100])
        elif x % 3 == 2:
            expected.extend([x, x + 1000])
    assert sorted(map(str, storage.saved)) == sorted(map(str, expected))


def test_an_item_whose_save_fails_is_not_acknowledged() -> None:
    source = ListSource([1, 2, 3, 4])
    storage = SlowStorage(fail_on=3)
    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_source(source).with_storage(storage)
    with pytest.raises(PipelineFailed, match="disk full"):
        builder.build().launch_flow(execution_seconds=60)
    assert 3 not in source.acked
    assert set(source.acked) <= {1, 2, 4}
    assert set(source.acked) <= set(storage.saved)


def test_an_item_is_not_acknowledged_before_it_is_stored() -> None:
    source = ListSource(list(range(20)))
    violations: list[int] = []

    class CheckingStorage(SlowStorage):
        def save(self, item: Any) -> None:
            if item in source.acked:
                violations.append(item)
            super().save(item)

    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_source(source).with_core_logic(
        lambda x: x, workers=4
    ).with_storage(CheckingStorage(), workers=4).send(lambda item: None)
    builder.build().launch_flow(execution_seconds=60)
    assert violations == []
    assert sorted(source.acked) == list(range(20))


def fail_on_four(x: int) -> Any:
    if x == 4:
        raise ValueError("four")
    return expand(x)


@pytest.mark.parametrize("storage_kind", ["thread", "process"])
def test_tickets_travel_through_worker_processes(tmp_path: Path, storage_kind: str) -> None:
    source = ListSource(list(range(30)))
    builder = FlowBuilder()
    builder.add_pipeline("ingest", on_failure="continue").with_source(source).with_core_logic(
        fail_on_four, kind="process", workers=2
    ).with_storage("jsonl", path=str(tmp_path / "out.jsonl"), kind=storage_kind).send(
        lambda item: None
    )
    flow = builder.build()  # builds, and runs: tickets cross the process boundary
    flow.launch_flow(execution_seconds=60)
    assert sorted(source.acked) == [x for x in range(30) if x != 4]  # 4 failed: not acked
    assert flow.statistics()["ingest"]["failed_items"] == 1
    stored = flow.storage("ingest").load()
    assert len(stored) == 9 + 20  # x % 3 == 1: one list each (but 4); x % 3 == 2: two items
    assert [4, 104] not in stored
