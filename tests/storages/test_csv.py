"""The csv storage's encoding: typed header, JSON cells, text cells, fixed columns, torn lines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from weirflow.storages import CsvStorage


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "rows.csv"


def test_file_format(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save({"s": "a", "i": 1, "f": 1.5, "b": True, "j": [1, {"k": None}], "n": None})
    storage.save({"s": None, "i": None, "f": 2.0, "b": False, "j": {}, "n": "text"})
    assert path.read_text() == (
        "s:str,i:int,f:float,b:bool,j:json,n:json\n"
        'a,1,1.5,true,"[1, {""k"": null}]",\n'
        ',,2.0,false,{},"""text"""\n'
    )


TEXTS = [
    "",
    " ",
    "plain",
    '"starts with a quote',
    'ends with a quote"',
    '""',
    "two\nlines",
    "carriage\rreturn",
    "comma, inside",
    "null",
    "123",
    "true",
    "1.5",
    "[1, 2]",
    "{}",
    "tab\there",
    "ünïcödé ✓",
    "\\backslash\\",
    " leading and trailing ",
]


def test_text_round_trips(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save_many([{"t": text} for text in [*TEXTS, None]])
    assert [row["t"] for row in storage.load()] == [*TEXTS, None]
    # one record per physical line, so a torn last line is always detectable
    assert len(path.read_bytes().split(b"\n")) == len(TEXTS) + 3


def test_json_columns_take_any_type(path: Path) -> None:
    storage = CsvStorage(path)
    values: list[Any] = [1, 1.5, "text", "", [1, [2]], {"a": {"b": None}}, None, True, 2**70]
    storage.save_many([{"v": value} for value in values])
    loaded = [row["v"] for row in storage.load()]
    assert loaded == values
    assert [type(v) for v in loaded] == [type(v) for v in values]


def test_number_columns_keep_each_value_s_type(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save_many([{"f": 1.0}, {"f": 2}, {"f": "three"}, {"f": float("nan")}])
    loaded = [row["f"] for row in storage.load()]
    assert loaded[:3] == [1.0, 2, "three"]
    assert [type(v) for v in loaded[:3]] == [float, int, str]
    assert loaded[3] != loaded[3]  # NaN


def test_missing_keys_load_as_none(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save({"a": 1, "b": "x"})
    storage.save({"b": "y"})
    assert storage.load() == [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]


def test_a_new_key_is_an_error_naming_it(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save({"a": 1})
    with pytest.raises(ValueError, match="field 'extra' is not a column of the file"):
        storage.save_many([{"a": 2}, {"a": 3, "extra": True}])
    assert storage.load() == [{"a": 1}]


def test_a_str_column_takes_only_text(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save({"name": "a"})
    with pytest.raises(ValueError, match="field 'name' is a str column"):
        storage.save({"name": 5})
    assert storage.load() == [{"name": "a"}]


@pytest.mark.parametrize("item", [1, "text", [{"a": 1}], None])
def test_items_must_be_dicts(path: Path, item: Any) -> None:
    with pytest.raises(TypeError, match="a csv storage saves dict items"):
        CsvStorage(path).save(item)
    assert not path.exists()


@pytest.mark.parametrize("key", [1, "a\nb", None])
def test_keys_must_be_text_on_one_line(path: Path, key: Any) -> None:
    with pytest.raises(TypeError, match="csv column names must be str without line breaks"):
        CsvStorage(path).save({key: 1})


def test_values_that_are_not_json_are_refused(path: Path) -> None:
    with pytest.raises(TypeError, match="field 'when': cannot save object"):
        CsvStorage(path).save({"when": object()})


def test_torn_last_line_is_ignored_then_repaired(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save_many([{"n": 1, "s": "a"}, {"n": 2, "s": "b"}])
    with path.open("ab") as file:
        file.write(b"3,c")  # a write cut short: no newline
    assert storage.load() == [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}]
    storage.save({"n": 4, "s": "d"})
    assert storage.load() == [{"n": 1, "s": "a"}, {"n": 2, "s": "b"}, {"n": 4, "s": "d"}]
    assert path.read_text() == "n:int,s:str\n1,a\n2,b\n4,d\n"


def test_torn_header_is_replaced(path: Path) -> None:
    path.write_bytes(b"n:in")
    storage = CsvStorage(path)
    assert storage.load() == []
    storage.save({"x": "y"})
    assert path.read_text() == "x:str\ny\n"


def test_a_header_without_types_reads_as_text(path: Path) -> None:
    path.write_text("name,count,ratio:x\nbob,3,0.5\n")
    storage = CsvStorage(path)
    assert storage.load() == [{"name": "bob", "count": "3", "ratio:x": "0.5"}]
    storage.save({"name": "eve", "count": "4"})
    assert storage.load()[-1] == {"name": "eve", "count": "4", "ratio:x": None}


def test_column_names_may_hold_colons_and_commas(path: Path) -> None:
    storage = CsvStorage(path)
    storage.save({"a:b": 1, "c,d": "x", "": None})
    assert storage.load() == [{"a:b": 1, "c,d": "x", "": None}]


def test_a_damaged_row_is_reported_with_its_line(path: Path) -> None:
    path.write_text("a:int,b:int\n1,2\n3\n")
    with pytest.raises(ValueError, match="line 3 has 1 cells, the header has 2 columns"):
        CsvStorage(path).load()
    path.write_text("a:int\n1\n{bad\n")
    with pytest.raises(ValueError, match="line 3 holds a cell that is not valid"):
        CsvStorage(path).load()
