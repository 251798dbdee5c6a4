"""What is saved loads back, types intact, for every kind."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weirflow.storages import create_storage

KINDS = ["json", "jsonl", "csv", "sql"]

RECORDS: list[dict[str, Any]] = [
    {
        "i": 1,
        "big": 2**62,
        "f": 1.5,
        "b": True,
        "n": None,
        "s": "text",
        "l": [1, "a", None, 2.5, True],
        "d": {"k": [1.5, {"deep": None}], "e": {}},
    },
    {
        "i": -7,
        "big": -(2**62),
        "f": -0.0,
        "b": False,
        "n": 5,
        "s": 'ünïcödé ✓, "quoted", comma',
        "l": [],
        "d": {"x": "y"},
    },
    {"i": 0, "big": 0, "f": 1e-300, "b": None, "n": None, "s": None, "l": None, "d": None},
]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


def make(kind: str, tmp_path: Path, **options: Any) -> Any:
    if kind == "sql":
        options.setdefault("url", f"sqlite:///{tmp_path}/db.sqlite")
    else:
        options.setdefault("path", tmp_path / "deep" / "er" / f"items.{kind}")
    return create_storage(kind, pipeline="items", options=options)


@pytest.fixture
def storage(kind: str, tmp_path: Path) -> Iterator[Any]:
    made = make(kind, tmp_path)
    yield made
    made.close()


def test_records_round_trip(storage: Any) -> None:
    storage.save(RECORDS[0])
    storage.save_many(RECORDS[1:])
    loaded = storage.load()
    assert loaded == RECORDS
    for saved, back in zip(RECORDS, loaded, strict=True):
        for key, value in saved.items():
            assert type(back[key]) is type(value), key


def test_load_before_any_save(storage: Any) -> None:
    assert storage.load() == []


def test_empty_batch_writes_nothing(kind: str, tmp_path: Path, storage: Any) -> None:
    storage.save_many([])
    assert storage.load() == []
    assert not (tmp_path / "deep").exists()


def test_order_is_kept(storage: Any) -> None:
    for n in range(30):
        storage.save({"n": n})
    assert [item["n"] for item in storage.load()] == list(range(30))


@pytest.mark.parametrize("kind", ["json", "jsonl", "sql"])
def test_values_that_are_not_dicts_round_trip(kind: str, tmp_path: Path) -> None:
    storage = make(kind, tmp_path)
    values = [1, "two", 3.5, None, [1, [2]], True, {"a": 1}]
    storage.save_many(values)
    assert storage.load() == values
    storage.close()


def test_close_is_idempotent(storage: Any) -> None:
    storage.save({"a": 1})
    storage.close()
    storage.close()


@pytest.mark.parametrize("kind", ["json", "jsonl"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, object()])
def test_values_json_cannot_hold_are_refused_and_nothing_is_written(
    kind: str, bad: Any, tmp_path: Path
) -> None:
    storage = make(kind, tmp_path)
    storage.save({"ok": 1})
    with pytest.raises((TypeError, ValueError), match="cannot save dict item as JSON"):
        storage.save_many([{"ok": 2}, {"bad": bad}])
    assert storage.load() == [{"ok": 1}]


def test_json_file_is_a_readable_array(tmp_path: Path) -> None:
    storage = make("json", tmp_path)
    storage.save({"a": 1})
    storage.save_many([[1, 2], "x"])
    path = tmp_path / "deep" / "er" / "items.json"
    assert path.read_text() == '[\n{"a": 1},\n[1, 2],\n"x"\n]\n'
    assert json.loads(path.read_text()) == [{"a": 1}, [1, 2], "x"]


def test_jsonl_file_has_one_value_per_line(tmp_path: Path) -> None:
    storage = make("jsonl", tmp_path)
    storage.save_many([{"a": "line\nbreak"}, 2])
    path = tmp_path / "deep" / "er" / "items.jsonl"
    assert path.read_text() == '{"a": "line\\nbreak"}\n2\n'


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv"])
def test_file_storages_take_no_query(kind: str, tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="takes no query arguments"):
        make(kind, tmp_path).load(where={"a": 1})


def test_repr_shows_what_it_is(kind: str, tmp_path: Path) -> None:
    text = repr(make(kind, tmp_path, preprocessing=["add_datetime", "overwrite"]))
    assert text.startswith(
        {"json": "JsonStorage(", "jsonl": "JsonLinesStorage(", "csv": "CsvStorage(", "sql": "Sql"}[
            kind
        ]
    )
    if kind != "sql":
        assert "items." in text
        assert "add_datetime, overwrite" in text


def test_storages_pickle(storage: Any) -> None:
    import pickle

    storage.save({"a": 1})
    copy = pickle.loads(pickle.dumps(storage))
    copy.save({"a": 2})
    assert storage.load() == copy.load() == [{"a": 1}, {"a": 2}]
    copy.close()
