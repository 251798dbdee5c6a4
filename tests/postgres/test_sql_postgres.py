"""The sql storage on a real PostgreSQL: types, tables, batches, upserts, queries, secrets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy

from weirflow import WeirflowError
from weirflow.storages import SqlStorage, create_storage

AWARE = datetime(2024, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))


Make = Callable[..., SqlStorage]


@pytest.fixture
def storage(pg_url: str, table: str, sql_storage: Make) -> SqlStorage:
    return sql_storage(pg_url, table)


def column_types(engine: sqlalchemy.Engine, table: str) -> dict[str, str]:
    """PostgreSQL's own names of the column types (``timestamp with time zone``...)."""
    query = sqlalchemy.text(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = :table ORDER BY ordinal_position"
    )
    with engine.connect() as connection:
        return dict(connection.execute(query, {"table": table}).all())


def committed(engine: sqlalchemy.Engine, table: str, columns: str = "*") -> list[dict[str, Any]]:
    """The rows of ``table`` as another session sees them, in insertion order."""
    query = sqlalchemy.text(f'SELECT {columns} FROM "{table}" ORDER BY _weirflow_id')
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def test_values_of_every_type_round_trip(
    storage: SqlStorage, direct: sqlalchemy.Engine, table: str
) -> None:
    record = {
        "i": 2**40,
        "f": 1.25,
        "b": True,
        "s": "héllo ' \" \\ ;",
        "t": AWARE,
        "d": {"nested": {"list": [1, 2.5, None, "x"]}, "flag": False},
        "l": [1, {"a": "b"}],
        "n": None,
    }
    storage.save(record)
    storage.save({"i": -1, "f": 0.0, "b": False, "s": "", "t": None, "d": {}, "l": [], "n": [1]})
    assert column_types(direct, table) == {
        "_weirflow_id": "bigint",
        "i": "bigint",
        "f": "double precision",
        "b": "boolean",
        "s": "text",
        "t": "timestamp with time zone",
        "d": "jsonb",
        "l": "jsonb",
        "n": "jsonb",
    }
    first, second = storage.load()
    assert first == record
    assert first["t"].tzinfo is not None  # still aware, the same instant (shown in UTC)
    assert first["t"].utcoffset() == timedelta(0)
    assert second == {"i": -1, "f": 0.0, "b": False, "s": "", "t": None, "d": {}, "l": [], "n": [1]}
    # stored as real JSONB: the database can look inside
    with direct.connect() as connection:
        query = f"SELECT d #>> '{{nested,list,3}}' FROM \"{table}\" ORDER BY _weirflow_id"
        assert connection.exec_driver_sql(query).scalars().all() == ["x", None]


def test_naive_datetimes_are_read_as_utc(storage: SqlStorage) -> None:
    storage.save({"t": datetime(2024, 1, 1, 12, 0)})
    assert storage.load() == [{"t": datetime(2024, 1, 1, 12, 0, tzinfo=UTC)}]


def test_items_that_are_not_dicts_go_to_a_jsonb_value_column(
    storage: SqlStorage, direct: sqlalchemy.Engine, table: str
) -> None:
    items = [5, "text", [1, [2]], {"a": 1}, None, 2.5, True]
    storage.save(items[0])
    storage.save_many(items[1:])
    assert column_types(direct, table) == {"_weirflow_id": "bigint", "value": "jsonb"}
    assert storage.load() == items


def test_a_declared_schema_makes_the_table(
    pg_url: str, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    schema = {"sensor": "str", "value": "float", "at": "datetime", "ok": "bool", "meta": "json"}
    storage = sql_storage(pg_url, table, schema=schema, upsert_on=["sensor"])
    storage.save({"sensor": "a", "value": 1})  # an int in a float column; the rest NULL
    storage.save({"sensor": "b", "at": AWARE, "ok": False, "meta": ["x"]})
    assert column_types(direct, table) == {
        "_weirflow_id": "bigint",
        "sensor": "text",
        "value": "double precision",
        "at": "timestamp with time zone",
        "ok": "boolean",
        "meta": "jsonb",
    }
    assert storage.load() == [
        {"sensor": "a", "value": 1.0, "at": None, "ok": None, "meta": None},
        {"sensor": "b", "value": None, "at": AWARE, "ok": False, "meta": ["x"]},
    ]


def test_an_existing_table_is_used_as_it_is(
    pg_url: str, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    missing = sql_storage(pg_url, table, create=False)
    with pytest.raises(WeirflowError, match=f"table '{table}' does not exist"):
        missing.save({"a": 1})
    with direct.begin() as connection:
        connection.exec_driver_sql(
            f'CREATE TABLE "{table}" (id SERIAL PRIMARY KEY, a INTEGER, b TEXT, j JSON)'
        )
    missing.save_many([{"a": 1, "b": "x", "j": {"k": [1]}}, {"a": 2}])
    assert missing.load() == [
        {"id": 1, "a": 1, "b": "x", "j": {"k": [1]}},
        {"id": 2, "a": 2, "b": None, "j": None},
    ]


def test_save_many_is_one_batched_statement_in_one_transaction(
    storage: SqlStorage, direct: sqlalchemy.Engine, table: str
) -> None:
    storage.save({"n": -1, "tag": "first"})  # creates the table
    engine = storage._get_engine()
    executions: list[tuple[str, bool]] = []
    commits: list[bool] = []

    def on_execute(
        _conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any, many: bool
    ) -> None:
        executions.append((statement.split()[0], many))

    sqlalchemy.event.listen(engine, "before_cursor_execute", on_execute)
    sqlalchemy.event.listen(engine, "commit", lambda _conn: commits.append(True))
    try:
        storage.save_many([{"n": n, "tag": f"t{n}"} for n in range(500)])
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", on_execute)
    assert [e for e in executions if e[0] == "INSERT"] == [("INSERT", True)]
    assert commits == [True]
    assert [row["n"] for row in committed(direct, table)] == [-1, *range(500)]


def test_a_failing_batch_commits_nothing(
    storage: SqlStorage, direct: sqlalchemy.Engine, table: str
) -> None:
    storage.save({"n": 0})
    with pytest.raises(sqlalchemy.exc.DataError):  # not a connection error: not retried
        storage.save_many([{"n": 1}, {"n": 2}, {"n": "not a number"}, {"n": 4}])
    assert committed(direct, table, "n") == [{"n": 0}]
    assert storage.statistics().retries == 0


def test_upsert_makes_redelivery_harmless(
    pg_url: str, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    storage = sql_storage(pg_url, table, upsert_on=["sensor", "day"])
    batch = [
        {"sensor": "a", "day": 1, "value": 1.0, "tags": ["x"]},
        {"sensor": "a", "day": 2, "value": 2.0, "tags": None},
        {"sensor": "b", "day": 1, "value": 3.0, "tags": {"k": "v"}},
    ]
    storage.save_many(batch)
    storage.save_many(batch)  # delivered again
    for record in batch:
        storage.save(record)
    assert storage.load() == batch
    storage.save({"sensor": "a", "day": 1, "value": 9.5, "tags": []})  # a newer value
    storage.save_many(
        [
            {"sensor": "c", "day": 1, "value": 0.0, "tags": None},
            {"sensor": "c", "day": 1, "value": 0.5, "tags": None},  # the last one wins
        ]
    )
    assert storage.load() == [
        {"sensor": "a", "day": 1, "value": 9.5, "tags": []},
        *batch[1:],
        {"sensor": "c", "day": 1, "value": 0.5, "tags": None},
    ]
    with direct.connect() as connection:
        definitions = connection.execute(
            sqlalchemy.text("SELECT indexdef FROM pg_indexes WHERE tablename = :t"), {"t": table}
        ).scalars()
        assert any("UNIQUE" in d and "(sensor, day)" in d for d in definitions)


def test_upsert_on_an_existing_table_adds_the_unique_constraint(
    pg_url: str, table: str, sql_storage: Make
) -> None:
    plain = sql_storage(pg_url, table)
    plain.save_many([{"k": 1, "v": "a"}, {"k": 2, "v": "b"}])
    plain.close()
    upserting = sql_storage(pg_url, table, upsert_on=["k"])
    upserting.save({"k": 1, "v": "new"})
    assert upserting.load() == [{"k": 1, "v": "new"}, {"k": 2, "v": "b"}]


def test_load_where_and_limit(storage: SqlStorage) -> None:
    storage.save_many(
        [
            {"sensor": s, "n": n, "ok": n % 2 == 0, "at": AWARE + timedelta(hours=n), "note": None}
            for n in range(6)
            for s in "ab"
        ]
    )
    storage.save({"sensor": "c", "n": 9, "ok": None, "at": None, "note": None})
    assert [r["n"] for r in storage.load(where={"sensor": "a"})] == [0, 1, 2, 3, 4, 5]
    assert [r["n"] for r in storage.load(where={"sensor": "b", "ok": True}, limit=2)] == [0, 2]
    assert storage.load(where={"sensor": "b", "n": 3}, limit=5) == [
        {"sensor": "b", "n": 3, "ok": False, "at": AWARE + timedelta(hours=3), "note": None}
    ]
    assert [r["sensor"] for r in storage.load(where={"at": AWARE + timedelta(hours=1)})] == [
        "a",
        "b",
    ]
    assert [r["sensor"] for r in storage.load(where={"ok": None})] == ["c"]
    assert len(storage.load(limit=3)) == 3
    assert storage.load(limit=0) == []
    with pytest.raises(ValueError, match="cannot filter on JSON column 'note'"):
        storage.load(where={"note": None})


def test_load_before_the_table_exists(storage: SqlStorage, direct: sqlalchemy.Engine) -> None:
    assert storage.load() == []
    assert storage.load(where={"a": 1}, limit=1) == []
    assert not sqlalchemy.inspect(direct).has_table(storage.table)


def test_the_password_is_never_shown(table: str) -> None:
    secret = "s3cr3t-Pa55word"
    url = f"postgresql+psycopg://postgres:{secret}@127.0.0.1:5432/test"
    storage = create_storage("sql", pipeline="weather", options={"url": url, "table": table})
    assert isinstance(storage, SqlStorage)
    assert secret not in repr(storage)
    assert repr(storage) == (
        f"SqlStorage('postgresql+psycopg://postgres:***@127.0.0.1:5432/test', table='{table}')"
    )
    assert secret not in repr(vars(storage))
    assert secret not in str(storage._get_engine())
    storage.close()
