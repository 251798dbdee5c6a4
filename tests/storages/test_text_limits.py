"""Text the file storages cannot keep is refused clearly; text they keep always loads back.

CSV cells longer than the ``csv`` module's default field limit (131,072 characters) load; a lone
surrogate (which UTF-8 cannot store) is an error naming the storage, its path and the field.
"""

from __future__ import annotations

import csv
import threading
from pathlib import Path
from typing import Any

import pytest

import weirflow.storages.csv as csv_storage
from weirflow.storages import create_storage

BIG = 200_000  # characters, over csv's default field limit of 131,072


def make(kind: str, tmp_path: Path) -> Any:
    return create_storage(kind, pipeline="p", options={"path": tmp_path / f"items.{kind}"})


def test_csv_cells_over_the_default_field_limit_load(tmp_path: Path) -> None:
    storage = make("csv", tmp_path)
    first = {"text": "a" * BIG, "values": list(range(40_000)), "n": 1}
    storage.save(first)
    storage.save({"text": "b" * BIG, "values": [], "n": 2})  # saves go on after it, and load
    before = csv.field_size_limit()
    loaded = storage.load()
    assert loaded == [first, {"text": "b" * BIG, "values": [], "n": 2}]
    assert len(storage.load()[0]["text"]) == BIG
    assert csv.field_size_limit() == before  # the process-wide limit is left as it was


def test_csv_loads_from_many_threads_at_once(tmp_path: Path) -> None:
    storage = make("csv", tmp_path)
    storage.save_many([{"text": "c" * BIG, "n": n} for n in range(5)])
    results: list[int] = []

    def load() -> None:
        results.append(len(storage.load()))

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [5] * 8


def test_csv_refuses_a_cell_csv_could_not_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(csv_storage, "FIELD_LIMIT", 1000)  # the real one is sys.maxsize
    storage = make("csv", tmp_path)
    storage.save({"text": "ok", "n": 1})
    with pytest.raises(ValueError, match=r"field 'text' makes a cell of 1,001 characters"):
        storage.save({"text": "x" * 1001, "n": 2})
    assert storage.load() == [{"text": "ok", "n": 1}]


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv"])
def test_a_lone_surrogate_is_an_error_naming_the_storage_and_the_field(
    kind: str, tmp_path: Path
) -> None:
    storage = make(kind, tmp_path)
    storage.save({"name": "fine", "tags": "x"})
    with pytest.raises(ValueError, match="lone surrogate") as caught:
        storage.save({"name": "bad \ud800 text", "tags": "x"})
    message = str(caught.value)
    assert str(tmp_path / f"items.{kind}") in message
    assert "item['name'] holds a lone surrogate ('\\ud800' at position 4)" in message
    assert storage.load() == [{"name": "fine", "tags": "x"}]  # nothing written


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_a_lone_surrogate_deep_inside_or_in_a_key(kind: str, tmp_path: Path) -> None:
    storage = make(kind, tmp_path)
    with pytest.raises(ValueError, match=r"item\['a'\]\[1\]\['b'\] holds a lone surrogate"):
        storage.save({"a": [1, {"b": "\udfff"}]})
    with pytest.raises(ValueError, match=r"a key of item\['a'\] \('k\\udc80'\) holds"):
        storage.save({"a": {"k\udc80": 1}})


def test_json_nested_too_deeply_to_save_is_a_clear_error(tmp_path: Path) -> None:
    storage = make("jsonl", tmp_path)
    deep: Any = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(
        ValueError, match=r"JsonLinesStorage\(.*items.jsonl'\): .*nested too deeply"
    ):
        storage.save(deep)
