"""preprocessing: add_datetime, overwrite, functions, lists of steps; the caller's item is kept."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from weirflow.storages import create_storage

KINDS = ["json", "jsonl", "csv", "sql"]


def make(kind: str, tmp_path: Path, preprocessing: Any) -> Any:
    options: dict[str, Any] = {"preprocessing": preprocessing}
    if kind == "sql":
        options["url"] = f"sqlite:///{tmp_path}/db.sqlite"
    else:
        options["path"] = tmp_path / f"items.{kind}"
    return create_storage(kind, pipeline="items", options=options)


@pytest.mark.parametrize("kind", KINDS)
def test_add_datetime_stamps_a_copy(kind: str, tmp_path: Path) -> None:
    storage = make(kind, tmp_path, "add_datetime")
    item = {"value": 1, "nested": {"a": [1]}}
    original = copy.deepcopy(item)
    before = datetime.now(UTC)
    storage.save(item)
    after = datetime.now(UTC)
    assert item == original
    [loaded] = storage.load()
    stamp = datetime.fromisoformat(loaded.pop("datetime"))
    assert stamp.utcoffset() == timedelta(0)
    assert before <= stamp <= after
    assert loaded == original
    storage.close()


def test_add_datetime_stamps_each_dict_of_a_list(tmp_path: Path) -> None:
    storage = make("jsonl", tmp_path, "add_datetime")
    item = [{"a": 1}, {"a": 2}]
    storage.save(item)
    assert item == [{"a": 1}, {"a": 2}]
    [loaded] = storage.load()
    assert [sorted(entry) for entry in loaded] == [["a", "datetime"], ["a", "datetime"]]


def test_add_datetime_replaces_an_existing_key_in_the_copy(tmp_path: Path) -> None:
    storage = make("json", tmp_path, "add_datetime")
    item = {"datetime": "yesterday"}
    storage.save(item)
    assert item == {"datetime": "yesterday"}
    assert storage.load()[0]["datetime"] != "yesterday"


@pytest.mark.parametrize("item", [1, "text", [1, 2], None])
def test_add_datetime_refuses_items_that_are_not_dicts(item: Any, tmp_path: Path) -> None:
    storage = make("jsonl", tmp_path, "add_datetime")
    with pytest.raises(TypeError, match="'add_datetime' needs a dict item"):
        storage.save(item)
    assert storage.load() == []


@pytest.mark.parametrize("kind", KINDS)
def test_a_function_gets_a_copy_and_its_result_is_saved(kind: str, tmp_path: Path) -> None:
    def enrich(record: dict[str, Any]) -> dict[str, Any]:
        record["doubled"] = record["value"] * 2  # mutating its argument is harmless
        record["tags"].append("seen")
        return record

    storage = make(kind, tmp_path, enrich)
    item = {"value": 21, "tags": ["raw"]}
    storage.save(item)
    assert item == {"value": 21, "tags": ["raw"]}
    assert storage.load() == [{"value": 21, "tags": ["raw", "seen"], "doubled": 42}]
    storage.close()


@pytest.mark.parametrize("kind", KINDS)
def test_overwrite_keeps_only_the_latest_item(kind: str, tmp_path: Path) -> None:
    storage = make(kind, tmp_path, "overwrite")
    assert storage.load() is None
    storage.save({"n": 1, "s": "first"})
    assert storage.load() == {"n": 1, "s": "first"}
    storage.save({"n": 2, "s": "second"})
    storage.save_many([{"n": 3, "s": "third"}, {"n": 4, "s": "fourth"}])
    assert storage.load() == {"n": 4, "s": "fourth"}
    storage.close()


def test_overwrite_file_holds_the_single_value(tmp_path: Path) -> None:
    storage = make("json", tmp_path, "overwrite")
    storage.save([1, 2])
    storage.save({"latest": True})
    assert json.loads((tmp_path / "items.json").read_text()) == {"latest": True}
    lines = make("jsonl", tmp_path, "overwrite")
    lines.save_many([1, 2, 3])
    assert (tmp_path / "items.jsonl").read_text() == "3\n"


def test_overwrite_csv_may_change_columns(tmp_path: Path) -> None:
    storage = make("csv", tmp_path, "overwrite")
    storage.save({"a": 1})
    storage.save({"b": "x", "c": None})
    assert storage.load() == {"b": "x", "c": None}
    assert (tmp_path / "items.csv").read_text() == "b:str,c:json\nx,\n"


def test_overwrite_with_values_that_are_not_dicts(tmp_path: Path) -> None:
    for kind in ("json", "jsonl", "sql"):
        storage = make(kind, tmp_path, "overwrite")
        storage.save(1)
        storage.save("two")
        assert storage.load() == "two", kind
        storage.close()


def test_steps_apply_in_order(tmp_path: Path) -> None:
    def keep_value(item: dict[str, Any]) -> dict[str, Any]:
        return {"value": item["value"]}

    storage = make("jsonl", tmp_path, [keep_value, "add_datetime", "overwrite"])
    item = {"value": 1, "noise": "x"}
    storage.save(item)
    latest = storage.load()
    assert sorted(latest) == ["datetime", "value"]
    assert item == {"value": 1, "noise": "x"}
    assert "keep_value, add_datetime, overwrite" in repr(storage)


def test_appending_to_a_file_written_in_overwrite_mode_is_refused(tmp_path: Path) -> None:
    make("json", tmp_path, "overwrite").save({"a": 1})
    appender = make("json", tmp_path, None)
    with pytest.raises(ValueError, match="does not hold a JSON array"):
        appender.save({"a": 2})
    with pytest.raises(ValueError, match="holds a single dict, not a JSON array"):
        appender.load()


@pytest.mark.parametrize("kind", KINDS)
def test_an_async_function_is_awaited(kind: str, tmp_path: Path) -> None:
    async def enrich(record: dict[str, Any]) -> dict[str, Any]:
        return {**record, "enriched": True}

    storage = make(kind, tmp_path, enrich)
    storage.save({"value": 1})
    assert storage.load() == [{"value": 1, "enriched": True}]
    storage.close()
