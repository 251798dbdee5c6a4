"""Many writers into one PostgreSQL table (threads, spawned processes, a flow) and the pool size."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy
from pg_support import describe_pool, write_rows

from weirflow import FlowBuilder
from weirflow.storages import SqlStorage, create_storage

Make = Callable[..., SqlStorage]


def count_by_worker(engine: sqlalchemy.Engine, table: str) -> Counter[int]:
    query = sqlalchemy.text(f'SELECT worker, n FROM "{table}"')
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    assert len(rows) == len(set(rows)), "a row was saved twice"
    return Counter(worker for worker, _n in rows)


def test_eight_threads_write_into_one_table(
    pg_url: str, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    storage = sql_storage(pg_url, table, pool_size=4, max_overflow=0)
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            start.wait()  # all of them race to create the table too
            for n in range(0, 60, 10):
                storage.save({"worker": worker, "n": n, "payload": {"w": worker}})
                storage.save_many(
                    [{"worker": worker, "n": m, "payload": None} for m in range(n + 1, n + 10)]
                )
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert count_by_worker(direct, table) == dict.fromkeys(range(8), 60)
    assert storage.statistics().saved == 480
    assert len(storage.load(where={"worker": 3})) == 60


def test_three_spawned_processes_write_into_one_table(
    pg_url: str, table: str, direct: sqlalchemy.Engine
) -> None:
    # Each process gets a pickled copy, opens its own pool, and races the others to create the
    # table and the unique index.
    storage = SqlStorage(pg_url, table, upsert_on=["worker", "n"], pool_size=2)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=write_rows, args=(storage, w, 100)) for w in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(20)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    assert count_by_worker(direct, table) == {0: 100, 1: 100, 2: 100}


def test_the_pool_is_sized_to_the_workers(
    pg_url: str, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    application = f"wf_pool_{uuid.uuid4().hex[:8]}"
    url = f"{pg_url}?application_name={application}"
    storage = sql_storage(url, table, pool_size=3, max_overflow=1)
    assert describe_pool(storage) == {"size": 3, "max_overflow": 1}
    start = threading.Barrier(8)

    def write(worker: int) -> None:
        start.wait()
        for n in range(10):
            storage.save({"worker": worker, "n": n})

    threads = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine = storage._get_engine()
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    with direct.connect() as connection:
        open_connections = connection.execute(
            sqlalchemy.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a"),
            {"a": application},
        ).scalar_one()
    assert 1 <= open_connections <= 3  # the pool keeps at most pool_size; overflow is closed
    assert count_by_worker(direct, table) == dict.fromkeys(range(8), 10)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, {"size": 5, "max_overflow": 2}),
        ({"pool_size": 8}, {"size": 8, "max_overflow": 2}),
        ({"pool_size": 2, "max_overflow": 0}, {"size": 2, "max_overflow": 0}),
    ],
)
def test_pool_options_through_with_storage(
    pg_url: str, table: str, options: dict[str, int], expected: dict[str, int]
) -> None:
    storage = create_storage(
        "sql", pipeline="p", options={"url": pg_url, "table": table, **options}
    )
    assert isinstance(storage, SqlStorage)
    try:
        assert describe_pool(storage) == expected
    finally:
        storage.close()


def test_a_flow_stores_into_postgresql(pg_url: str, table: str, direct: sqlalchemy.Engine) -> None:
    def readings() -> list[dict[str, object]]:
        return [{"sensor": f"s{n % 4}", "n": n, "meta": {"n": n}} for n in range(40)]

    def each(records: list[dict[str, object]]) -> object:
        yield from records

    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_core_logic(readings).with_core_logic(each).with_storage(
        "sql", url=pg_url, table=table, upsert_on=["n"], workers=3
    )
    builder.build().launch_flow(execution_seconds=20)
    with direct.connect() as connection:
        stored = connection.execute(sqlalchemy.text(f'SELECT n, meta FROM "{table}"')).all()
    assert sorted(stored) == [(n, {"n": n}) for n in range(40)]
