"""create_storage: kinds, objects, functions, defaults, and every configuration mistake."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weirflow import ConfigError, InvalidCallableError, WeirflowError
from weirflow.storages import (
    CsvStorage,
    FunctionStorage,
    JsonLinesStorage,
    JsonStorage,
    SqlStorage,
    create_storage,
)


def test_kinds_make_their_classes(tmp_path: Path) -> None:
    made = {
        kind: create_storage(kind, pipeline="p", options={"path": tmp_path / f"p.{kind}"})
        for kind in ("json", "jsonl", "csv")
    }
    assert type(made["json"]) is JsonStorage
    assert type(made["jsonl"]) is JsonLinesStorage
    assert type(made["csv"]) is CsvStorage
    sql = create_storage("sql", pipeline="p", options={"url": f"sqlite:///{tmp_path}/db.sqlite"})
    assert type(sql) is SqlStorage


def test_default_locations_derive_from_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for kind in ("json", "jsonl", "csv"):
        storage = create_storage(kind, pipeline="readings", options={})
        assert storage.path == tmp_path / "data" / f"readings.{kind}"  # type: ignore[attr-defined]
        storage.save({"a": 1})
        assert (tmp_path / "data" / f"readings.{kind}").is_file()
    sql = create_storage("sql", pipeline="readings", options={})
    assert isinstance(sql, SqlStorage)
    assert sql.url.database == str(tmp_path / "data" / "weirflow.sqlite")
    assert sql.table == "readings"
    sql.save({"a": 1})
    assert sql.load() == [{"a": 1}]
    sql.close()


def test_defaults_are_absolute_so_a_later_chdir_does_not_move_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = create_storage("jsonl", pipeline="p", options={})
    monkeypatch.chdir(tmp_path.parent)
    storage.save(1)
    assert (tmp_path / "data" / "p.jsonl").is_file()


@pytest.mark.parametrize(
    ("pipeline", "file_name", "table"),
    [
        ("readings", "readings.json", "readings"),
        ("My Readings-2", "My_Readings-2.json", "my_readings_2"),
        ("../etc/passwd", "_etc_passwd.json", "___etc_passwd"),
        ("2023", "2023.json", "t_2023"),
        ("a" * 80, "a" * 80 + ".json", "a" * 63),
    ],
)
def test_pipeline_names_are_made_safe(pipeline: str, file_name: str, table: str) -> None:
    storage = create_storage("json", pipeline=pipeline, options={})
    assert storage.path.name == file_name  # type: ignore[attr-defined]
    assert storage.path.parent == Path("data").absolute()  # type: ignore[attr-defined]
    sql = create_storage("sql", pipeline=pipeline, options={"url": "sqlite://"})
    assert sql.table == table  # type: ignore[attr-defined]


def test_a_storage_object_is_used_as_is(tmp_path: Path) -> None:
    storage = JsonStorage(tmp_path / "x.json")
    assert create_storage(storage, pipeline="p", options={}) is storage


def test_a_function_is_wrapped() -> None:
    seen: list[Any] = []
    storage = create_storage(seen.append, pipeline="p", options={"preprocessing": "add_datetime"})
    assert isinstance(storage, FunctionStorage)
    item = {"a": 1}
    storage.save(item)
    storage.save_many([{"b": 2}])
    assert [sorted(x) for x in seen] == [["a", "datetime"], ["b", "datetime"]]
    assert item == {"a": 1}
    with pytest.raises(WeirflowError, match="cannot be loaded"):
        storage.load()
    storage.close()
    storage.close()


def error_of(kind: Any, options: dict[str, Any] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        create_storage(kind, pipeline="readings", options=options)
    return caught.value


def test_unknown_kind() -> None:
    assert str(error_of("jsonn")) == (
        "pipeline 'readings': with_storage('jsonn'): unknown storage kind 'jsonn' "
        "(did you mean 'json'?); use one of 'json', 'jsonl', 'csv', 'sql', a Storage object or "
        "a function"
    )


def test_unknown_option_suggests_the_right_one() -> None:
    message = str(error_of("json", {"pth": "x.json"}))
    assert message == (
        "pipeline 'readings': with_storage('json'): unknown option 'pth'; did you mean 'path'? "
        "options of 'json' storages: path, preprocessing"
    )
    assert "options of 'sql' storages: url, table, create, schema, upsert_on, pool_size" in str(
        error_of("sql", {"uri": "sqlite://"})
    )


def two_arguments(a: Any, b: Any) -> None:
    """Not a valid storage function."""


BAD_OPTIONS: list[tuple[Any, dict[str, Any], str]] = [
    ("json", {"path": 3}, "path must be a file path"),
    ("jsonl", {"path": ""}, "path must be a file path"),
    ("csv", {"path": None}, "path must be a file path"),
    ("json", {"preprocessing": "add_date"}, "unknown preprocessing 'add_date'; use None"),
    ("json", {"preprocessing": 3}, "preprocessing must be a str or a function, got int"),
    ("json", {"preprocessing": ["overwrite", 3]}, "preprocessing must be a str or a function"),
    ("json", {"preprocessing": two_arguments}, "called with one argument"),
    ("sql", {"url": 5}, "url must be a database URL str"),
    ("sql", {"url": "not a url"}, "url is not a database URL"),
    ("sql", {"url": "nosuchdb://u:pw@host/db"}, "SQLAlchemy has no dialect 'nosuchdb'"),
    ("sql", {"url": "sqlite://", "table": ""}, "table must be a non-empty str"),
    ("sql", {"url": "sqlite://", "table": 7}, "table must be a non-empty str"),
    ("sql", {"url": "sqlite://", "create": "yes"}, "create must be True or False"),
    ("sql", {"url": "sqlite://", "schema": {"a": "integer"}}, "has type 'integer'; use one of"),
    ("sql", {"url": "sqlite://", "schema": []}, "schema must be a non-empty dict"),
    ("sql", {"url": "sqlite://", "schema": {"_weirflow_id": "int"}}, "is reserved"),
    ("sql", {"url": "sqlite://", "upsert_on": "id"}, "upsert_on must be a non-empty list"),
    ("sql", {"url": "sqlite://", "upsert_on": []}, "upsert_on must be a non-empty list"),
    ("sql", {"url": "sqlite://", "upsert_on": ["a", "a"]}, "names a column twice"),
    (
        "sql",
        {"url": "sqlite://", "upsert_on": ["id"], "schema": {"a": "int"}},
        "upsert_on column 'id' is not in schema",
    ),
    (
        "sql",
        {"url": "sqlite://", "upsert_on": ["id"], "preprocessing": "overwrite"},
        "contradict each other",
    ),
    ("sql", {"url": "sqlite://", "pool_size": 0}, "pool_size must be a whole number"),
    ("sql", {"url": "sqlite://", "pool_size": True}, "pool_size must be a whole number"),
]


@pytest.mark.parametrize(("kind", "options", "expected"), BAD_OPTIONS)
def test_bad_options(kind: str, options: dict[str, Any], expected: str) -> None:
    message = str(error_of(kind, options))
    assert message.startswith(f"pipeline 'readings': with_storage({kind!r}): ")
    assert expected in message


def test_bad_preprocessing_function_is_an_invalid_callable() -> None:
    assert isinstance(error_of("json", {"preprocessing": two_arguments}), InvalidCallableError)


def test_direct_construction_names_the_class() -> None:
    with pytest.raises(ConfigError, match=r"^JsonStorage: path must be a file path"):
        JsonStorage(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^SqlStorage: create must be True or False"):
        SqlStorage("sqlite://", "t", create=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        (JsonStorage("x.json"), {"path": "y.json"}, "cannot be given with a Storage object"),
        (JsonStorage, {}, "got the class JsonStorage, not a storage; pass an instance"),
        (42, {}, "expected a storage kind ('json', 'jsonl', 'csv', 'sql'), a Storage object"),
        (two_arguments, {}, "called with one argument"),
        (print, {"path": "x"}, "unknown option 'path'; options of a storage function"),
        (print, {"preprocessing": "overwrite"}, "a function storage cannot do"),
        ("json", "path=x", "options must be a dict"),
    ],
)
def test_bad_kinds(kind: Any, options: Any, expected: str) -> None:
    message = str(error_of(kind, options))
    assert message.startswith("pipeline 'readings': with_storage(")
    assert expected in message


def test_pipeline_must_be_a_name() -> None:
    with pytest.raises(ConfigError, match="pipeline must be a non-empty str"):
        create_storage("json", pipeline="", options={})


PASSWORD = "hunter2secret"


@pytest.mark.parametrize(
    "url",
    [
        f"nosuchdb://user:{PASSWORD}@host/db",
        f"postgresql+nosuchdriver://user:{PASSWORD}@host/db",
        f"user:{PASSWORD}@host/db",
    ],
)
def test_url_errors_never_show_the_password(url: str) -> None:
    error = error_of("sql", {"url": url})
    assert PASSWORD not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


def test_missing_driver_is_a_config_error_without_the_password() -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("the MySQLdb driver is installed here")
    message = str(error_of("sql", {"url": f"mysql+mysqldb://user:{PASSWORD}@host/db"}))
    assert "the database driver is not installed" in message
    assert "user:***@host" in message
    assert PASSWORD not in message


def test_preprocessing_function_without_signature_is_trusted(tmp_path: Path) -> None:
    storage = create_storage(
        "jsonl",
        pipeline="p",
        options={"path": tmp_path / "x.jsonl", "preprocessing": str},
    )
    storage.save(5)
    assert storage.load() == ["5"]


def _ok(item: Any) -> Any:
    return item


@pytest.mark.parametrize("fn", [_ok, lambda item: item, print])
def test_functions_taking_one_argument_are_accepted(fn: Callable[[Any], Any]) -> None:
    assert isinstance(create_storage(fn, pipeline="p", options={}), FunctionStorage)
