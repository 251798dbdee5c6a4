"""At-least-once delivery: a source's item is acknowledged only after every item derived from
it has passed the last stage (stored, sent) or was dropped; a failed item is never acknowledged."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from weirflow import ConfigError, Delivery, FlowBuilder, PipelineFailed, Source, Storage


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


def test_at_least_once_sources_refuse_process_stages() -> None:
    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_source(ListSource([1])).with_core_logic(
        abs, kind="process"
    ).with_storage(SlowStorage())
    with pytest.raises(ConfigError, match=r"ingest\.core_logic.*worker processes"):
        builder.build()  # at build time (and so in `weirflow check`), not at launch
