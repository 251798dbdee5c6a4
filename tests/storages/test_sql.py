"""The sql storage on real SQLite: tables, types, queries, upserts, transactions, secrets."""

from __future__ import annotations

import pickle
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from weirflow import ConfigError, WeirflowError
from weirflow.storages import SqlStorage
from weirflow.storages._sqlengine import masked


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/db.sqlite"


@pytest.fixture
def storage(url: str) -> Iterator[SqlStorage]:
    made = SqlStorage(url, "readings")
    yield made
    made.close()


def columns(url: str, table: str) -> dict[str, str]:
    engine = sqlalchemy.create_engine(url)
    try:
        found = sqlalchemy.inspect(engine).get_columns(table)
    finally:
        engine.dispose()
    return {column["name"]: str(column["type"]) for column in found}


def test_columns_are_inferred_from_the_first_record(storage: SqlStorage, url: str) -> None:
    storage.save(
        {"i": 1, "f": 1.5, "b": True, "s": "x", "t": datetime(2024, 1, 1), "j": [1], "n": None}
    )
    assert columns(url, "readings") == {
        "_weirflow_id": "INTEGER",
        "i": "BIGINT",
        "f": "FLOAT",
        "b": "BOOLEAN",
        "s": "TEXT",
        "t": "DATETIME",
        "j": "JSON",
        "n": "JSON",
    }


def test_datetimes(storage: SqlStorage) -> None:
    naive = datetime(2024, 5, 1, 12, 30, 15, 123456)
    aware = datetime(2024, 5, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    storage.save_many([{"when": naive}, {"when": aware}, {"when": None}])
    # SQLite keeps no time zone: aware datetimes come back in UTC, naive
    assert storage.load() == [
        {"when": naive},
        {"when": datetime(2024, 5, 1, 12, 30)},
        {"when": None},
    ]


def test_a_declared_schema_makes_the_table(url: str) -> None:
    storage = SqlStorage(url, "t", schema={"name": "str", "score": "float", "meta": "json"})
    storage.save({"name": "a"})
    storage.save({"name": "b", "score": 2, "meta": {"k": 1}})
    assert columns(url, "t") == {
        "_weirflow_id": "INTEGER",
        "name": "TEXT",
        "score": "FLOAT",
        "meta": "JSON",
    }
    assert storage.load() == [
        {"name": "a", "score": None, "meta": None},
        {"name": "b", "score": 2.0, "meta": {"k": 1}},
    ]
    storage.close()


def test_unknown_fields_and_non_dicts_are_refused(storage: SqlStorage) -> None:
    storage.save({"a": 1})
    with pytest.raises(ValueError, match="field 'b' is not a column of table 'readings'"):
        storage.save({"a": 2, "b": 3})
    with pytest.raises(TypeError, match="table 'readings' holds records"):
        storage.save(5)
    assert storage.load() == [{"a": 1}]


def test_a_value_no_column_fits_asks_for_a_schema(storage: SqlStorage) -> None:
    with pytest.raises(TypeError, match=r"no column type fits field 'x'.*schema=\{'x': 'str'\}"):
        storage.save({"x": b"bytes"})


def test_where_and_limit(storage: SqlStorage) -> None:
    storage.save_many(
        [{"sensor": s, "n": n, "ok": n % 2 == 0, "tag": None} for n in range(6) for s in "ab"]
    )
    assert [r["n"] for r in storage.load(where={"sensor": "a"})] == [0, 1, 2, 3, 4, 5]
    assert storage.load(where={"sensor": "b", "n": 3}) == [
        {"sensor": "b", "n": 3, "ok": False, "tag": None}
    ]
    assert [r["n"] for r in storage.load(where={"sensor": "a", "ok": True}, limit=2)] == [0, 2]
    assert storage.load(limit=0) == []
    assert storage.load(where={"sensor": "c"}) == []


def test_where_none_matches_null(storage: SqlStorage) -> None:
    storage.save_many([{"a": 1, "b": "x"}, {"a": 2, "b": None}])
    assert storage.load(where={"b": None}) == [{"a": 2, "b": None}]


@pytest.mark.parametrize(
    ("query", "error", "message"),
    [
        ({"where": {"nope": 1}}, ValueError, "no such column in table 'readings'"),
        ({"where": {"_weirflow_id": 1}}, ValueError, "no such column"),
        ({"where": {"j": [1]}}, ValueError, "cannot filter on JSON column 'j'"),
        ({"where": [("a", 1)]}, TypeError, "where must be a dict"),
        ({"limit": -1}, ValueError, "limit must be a whole number"),
        ({"limit": "3"}, ValueError, "limit must be a whole number"),
        ({"order": "a"}, TypeError, "takes where= and limit="),
    ],
)
def test_bad_queries(
    storage: SqlStorage, query: dict[str, Any], error: type[Exception], message: str
) -> None:
    storage.save({"a": 1, "j": [1]})
    with pytest.raises(error, match=message):
        storage.load(**query)


def test_load_before_the_table_exists_does_not_create_it(storage: SqlStorage, url: str) -> None:
    assert storage.load() == []
    assert storage.load(where={"a": 1}) == []
    engine = sqlalchemy.create_engine(url)
    assert not sqlalchemy.inspect(engine).has_table("readings")
    engine.dispose()
    storage.save({"a": 1})
    assert storage.load() == [{"a": 1}]


def test_upsert_is_idempotent(url: str) -> None:
    storage = SqlStorage(url, "latest", upsert_on=["sensor"])
    record = {"sensor": "a", "value": 1.5, "tags": ["x"]}
    storage.save(record)
    storage.save(record)
    storage.save_many([record, record])
    assert storage.load() == [record]
    storage.save({"sensor": "a", "value": 2.5, "tags": []})
    storage.save({"sensor": "b", "value": 0.5, "tags": None})
    assert storage.load() == [
        {"sensor": "a", "value": 2.5, "tags": []},
        {"sensor": "b", "value": 0.5, "tags": None},
    ]
    storage.close()


def test_upsert_within_one_batch_keeps_the_last(url: str) -> None:
    storage = SqlStorage(url, "latest", upsert_on=["sensor", "day"])
    storage.save_many(
        [
            {"sensor": "a", "day": 1, "value": 1},
            {"sensor": "a", "day": 2, "value": 2},
            {"sensor": "a", "day": 1, "value": 3},
        ]
    )
    assert storage.load() == [
        {"sensor": "a", "day": 1, "value": 3},
        {"sensor": "a", "day": 2, "value": 2},
    ]
    storage.close()


def test_upsert_with_only_key_columns(url: str) -> None:
    storage = SqlStorage(url, "keys", upsert_on=["k"])
    storage.save_many([{"k": 1}, {"k": 1}, {"k": 2}])
    storage.save({"k": 1})
    assert storage.load() == [{"k": 1}, {"k": 2}]
    storage.close()


def test_upsert_needs_its_keys(url: str) -> None:
    storage = SqlStorage(url, "latest", upsert_on=["sensor"])
    with pytest.raises(ValueError, match=r"upsert_on column\(s\) \['sensor'\] are not fields"):
        storage.save({"value": 1})
    storage.save({"sensor": "a", "value": 1})
    with pytest.raises(ValueError, match="upsert_on column 'sensor' is missing or None"):
        storage.save({"sensor": None, "value": 2})
    storage.close()


def test_upsert_on_an_existing_table_adds_the_unique_index(url: str) -> None:
    plain = SqlStorage(url, "t")
    plain.save_many([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}])
    plain.close()
    upserting = SqlStorage(url, "t", upsert_on=["k"])
    assert upserting.load() == [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}]
    upserting.save({"k": 1, "v": "new"})
    assert upserting.load() == [{"k": 1, "v": "new"}, {"k": 2, "v": "b"}]
    with pytest.raises(WeirflowError, match=r"upsert_on column\(s\) \['nope'\] are not columns"):
        SqlStorage(url, "t", upsert_on=["nope"]).save({"k": 3})
    upserting.close()


def test_a_batch_is_one_transaction(storage: SqlStorage) -> None:
    storage.save({"a": 1, "j": None})
    with pytest.raises(sqlalchemy.exc.StatementError):
        storage.save_many([{"a": 2, "j": None}, {"a": 3, "j": {"not json": object()}}])
    assert storage.load() == [{"a": 1, "j": None}]


def test_create_false_needs_an_existing_table(url: str) -> None:
    missing = SqlStorage(url, "made_elsewhere", create=False)
    with pytest.raises(WeirflowError, match="table 'made_elsewhere' does not exist"):
        missing.save({"a": 1})
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    connection.execute("CREATE TABLE made_elsewhere (id INTEGER PRIMARY KEY, a INTEGER, b TEXT)")
    connection.close()
    missing.save({"a": 1, "b": "x"})
    assert missing.load() == [{"id": 1, "a": 1, "b": "x"}]
    missing.close()


def test_sqlite_is_set_up_for_concurrency(storage: SqlStorage, url: str) -> None:
    storage.save({"a": 1})
    connection = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        connection.close()
    engine = storage._get_engine()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


def test_in_memory_database_is_shared_by_threads() -> None:
    storage = SqlStorage("sqlite://", "t")
    start = threading.Barrier(4)

    def write(worker: int) -> None:
        start.wait()
        for n in range(20):
            storage.save({"w": worker, "n": n})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(storage.load()) == 80
    storage.close()


def test_the_database_directory_is_created(tmp_path: Path) -> None:
    storage = SqlStorage(f"sqlite:///{tmp_path}/a/b/db.sqlite", "t")
    storage.save(1)
    assert (tmp_path / "a" / "b" / "db.sqlite").is_file()
    storage.close()


def test_close_then_use_again_reconnects(storage: SqlStorage) -> None:
    storage.save({"a": 1})
    storage.close()
    storage.close()
    storage.save({"a": 2})
    assert storage.load() == [{"a": 1}, {"a": 2}]


def test_pickled_copy_opens_its_own_pool(storage: SqlStorage) -> None:
    storage.save({"a": 1})
    copy = pickle.loads(pickle.dumps(storage))
    assert copy._engine is None
    copy.save({"a": 2})
    assert storage.load() == [{"a": 1}, {"a": 2}]
    copy.close()


def test_a_sqlite_url_with_a_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "hunter2secret"
    with pytest.raises(ConfigError, match="a SQLite URL names a file") as caught:
        SqlStorage(f"sqlite://user:{secret}@/{tmp_path}/db.sqlite", "t")
    assert secret not in str(caught.value)
    assert "user:***@" in str(caught.value)


def test_urls_are_shown_masked() -> None:
    url = sqlalchemy.engine.make_url("postgresql://user:hunter2secret@db.example/prod")
    assert masked(url) == "postgresql://user:***@db.example/prod"


def test_repr_never_shows_the_password() -> None:
    driver = "psycopg"  # the driver of the postgres extra
    storage = SqlStorage(f"postgresql+{driver}://user:hunter2secret@db.example/prod", "t")
    assert (
        repr(storage) == f"SqlStorage('postgresql+{driver}://user:***@db.example/prod', table='t')"
    )


def test_aware_datetimes_in_utc_stay_equal_as_utc(storage: SqlStorage) -> None:
    now = datetime.now(UTC)
    storage.save({"when": now})
    assert storage.load()[0]["when"] == now.replace(tzinfo=None)
