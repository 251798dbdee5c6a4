"""A SQL table's columns are fixed when it is created: a record with a new field is refused with
an error that says so; ``schema=`` declares columns ahead, ``extra_columns="json"`` keeps the
fields that are not columns in a JSON column and puts them back on load."""

from __future__ import annotations

from pathlib import Path

import pytest

from weirflow import ConfigError, WeirflowError
from weirflow.storages import SqlStorage


def sqlite(tmp_path: Path, **options: object) -> SqlStorage:
    return SqlStorage(f"sqlite:///{tmp_path}/db.sqlite", "readings", **options)  # type: ignore[arg-type]


def test_a_new_field_is_refused_and_the_error_says_the_first_record_fixed_the_columns(
    tmp_path: Path,
) -> None:
    storage = sqlite(tmp_path)
    try:
        storage.save({"sensor": "a", "value": 1.5})
        with pytest.raises(ValueError, match="'unit' is not a column") as info:
            storage.save({"sensor": "a", "value": 2.0, "unit": "C"})
        message = str(info.value)
        assert "'unit'" in message
        assert "fixed when it is created" in message
        assert "first record" in message
        assert "schema=" in message
        assert "extra_columns='json'" in message
        assert storage.load() == [{"sensor": "a", "value": 1.5}]
    finally:
        storage.close()


def test_extra_columns_json_keeps_unknown_fields(tmp_path: Path) -> None:
    storage = sqlite(tmp_path, extra_columns="json")
    try:
        storage.save({"sensor": "a", "value": 1.5})
        storage.save_many(
            [{"sensor": "b", "value": 2.0, "unit": "C", "meta": {"v": [1, 2]}}, {"sensor": "c"}]
        )
        assert storage.load() == [
            {"sensor": "a", "value": 1.5},
            {"sensor": "b", "value": 2.0, "unit": "C", "meta": {"v": [1, 2]}},
            {"sensor": "c", "value": None},
        ]
        assert storage.load(where={"sensor": "b"}) == [
            {"sensor": "b", "value": 2.0, "unit": "C", "meta": {"v": [1, 2]}}
        ]
    finally:
        storage.close()


def test_a_schema_declares_columns_the_first_record_lacks(tmp_path: Path) -> None:
    storage = sqlite(tmp_path, schema={"sensor": "str", "value": "float", "unit": "str"})
    try:
        storage.save({"sensor": "a", "value": 1.5})
        storage.save({"sensor": "a", "value": 2.0, "unit": "C"})
        assert storage.load()[1] == {"sensor": "a", "value": 2.0, "unit": "C"}
    finally:
        storage.close()


def test_extra_columns_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="extra_columns"):
        sqlite(tmp_path, extra_columns="yes")
    with pytest.raises(ConfigError, match="reserved"):
        sqlite(tmp_path, schema={"_weirflow_extra": "json"})


def test_extra_columns_on_a_table_without_the_column_says_so(tmp_path: Path) -> None:
    plain = sqlite(tmp_path)
    plain.save({"sensor": "a"})
    plain.close()
    storage = sqlite(tmp_path, extra_columns="json")
    try:
        with pytest.raises(WeirflowError, match="_weirflow_extra"):
            storage.save({"sensor": "b", "other": 1})
    finally:
        storage.close()
