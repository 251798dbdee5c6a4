"""A PostgreSQL that goes away mid-run, simulated by cutting a TCP proxy in front of it.

The tests synchronise on what they can observe: the storage's retry warnings and the proxy's
refused connections, never on sleeps.
"""

from __future__ import annotations

import pickle
import threading
import traceback
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy
from pg_support import LogWatcher, TcpProxy

from weirflow.storages import DatabaseUnavailableError, SqlStorage, _sqlengine, create_storage

Make = Callable[..., SqlStorage]
SECRET = "s3cr3t-Pa55word"


def committed(engine: sqlalchemy.Engine, table: str) -> list[int]:
    query = sqlalchemy.text(f'SELECT n FROM "{table}" ORDER BY _weirflow_id')
    with engine.connect() as connection:
        return list(connection.execute(query).scalars())


class InThread:
    """Runs a call on a thread and keeps its result or exception."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, name="storage call")
        self._thread.start()

    def _run(self) -> None:
        try:
            self.result = self._call()
        except BaseException as error:
            self.error = error

    def join(self) -> None:
        self._thread.join(30)
        assert not self._thread.is_alive(), "the call did not return"


def full_text(error: BaseException) -> str:
    """The error as a traceback prints it, causes included."""
    return "".join(traceback.format_exception(error))


def test_a_save_waits_for_the_database_to_come_back(
    proxy: TcpProxy, table: str, direct: sqlalchemy.Engine, storage_log: LogWatcher
) -> None:
    storage = create_storage(
        "sql",
        pipeline="probe",
        options={"url": proxy.url(), "table": table, "retries": 8, "retry_backoff": 0.05},
    )
    assert isinstance(storage, SqlStorage)
    try:
        storage.save({"n": 1})
        proxy.cut()
        call = InThread(lambda: storage.save({"n": 2}))
        # "retry 2 of 8" is logged once the first retry has been made, and failed too
        assert storage_log.wait_for(2), storage_log.messages
        proxy.restore()
        call.join()
        assert call.error is None
        assert committed(direct, table) == [1, 2]  # saved, exactly once
        assert proxy.refused >= 1  # the retries met the cut (the first on its old connection)
        assert storage.statistics().retries >= 2
        assert storage.statistics().unavailable == 0
        assert "pipeline 'probe': sql storage" in storage_log.messages[0]
        assert "saving 1 record failed" in storage_log.messages[0]
        assert "retry 1 of 8" in storage_log.messages[0]
        assert table in storage_log.messages[0]
    finally:
        storage.close()


def test_a_load_waits_for_the_database_to_come_back(
    proxy: TcpProxy, table: str, sql_storage: Make, storage_log: LogWatcher
) -> None:
    storage = sql_storage(proxy.url(), table, retries=8, retry_backoff=0.05)
    storage.save_many([{"n": 1}, {"n": 2}])
    proxy.cut()
    call = InThread(lambda: storage.load(where={"n": 2}))
    assert storage_log.wait_for(1)
    proxy.restore()
    call.join()
    assert call.error is None
    assert call.result == [{"n": 2}]


def test_a_connection_dropped_while_idle_is_replaced_without_a_retry(
    proxy: TcpProxy, table: str, sql_storage: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A connection idle for longer than PING_AFTER_IDLE_S is pinged before use; 0 makes the
    # one below count as idle without the test waiting a second.
    monkeypatch.setattr(_sqlengine, "PING_AFTER_IDLE_S", 0.0)
    storage = sql_storage(proxy.url(), table)
    storage.save({"n": 1})
    proxy.cut()  # the pooled connection dies
    proxy.restore()
    storage.save({"n": 2})  # the ping before use notices, and a new connection is made
    assert [record["n"] for record in storage.load()] == [1, 2]
    assert storage.statistics().retries == 0


def test_a_database_down_for_longer_than_the_retries(
    proxy: TcpProxy,
    table: str,
    direct: sqlalchemy.Engine,
    sql_storage: Make,
    storage_log: LogWatcher,
) -> None:
    storage = sql_storage(
        proxy.url(password=SECRET), table, retries=2, retry_backoff=0.01, pipeline="weather"
    )
    storage.save({"n": 1})
    proxy.cut()
    with pytest.raises(DatabaseUnavailableError) as caught:
        storage.save_many([{"n": 2}, {"n": 3}])
    error = caught.value
    message = str(error)
    assert message.startswith("pipeline 'weather': sql storage (table ")
    assert f"table '{table}'" in message
    assert f"postgresql+psycopg://postgres:***@127.0.0.1:{proxy.port}/test" in message
    assert "saving 2 records failed after 3 attempts" in message
    assert "nothing of it was committed" in message
    assert (error.pipeline, error.table, error.attempts) == ("weather", table, 3)
    assert isinstance(error.__cause__, sqlalchemy.exc.OperationalError)
    assert proxy.refused >= 2  # the first attempt failed on its pooled connection
    assert len(storage_log.messages) == 2  # retry 1 of 2, retry 2 of 2
    shown = [full_text(error), repr(error), repr(storage), *storage_log.messages]
    shown.append(str(pickle.loads(pickle.dumps(error))))
    assert not [text for text in shown if SECRET in text]
    with pytest.raises(DatabaseUnavailableError, match="loading failed after 3 attempts"):
        storage.load()
    proxy.restore()
    assert committed(direct, table) == [1]  # nothing of the failed batch
    storage.save({"n": 4})  # and the storage works again
    assert committed(direct, table) == [1, 4]
    assert storage.statistics().unavailable == 2


def test_a_connection_lost_before_the_commit_commits_nothing(
    proxy: TcpProxy, table: str, direct: sqlalchemy.Engine, sql_storage: Make
) -> None:
    storage = sql_storage(proxy.url(), table, retries=1, retry_backoff=0.01)
    storage.save({"n": 1})
    cut = threading.Event()

    def cut_after_the_insert(*_args: Any) -> None:
        if not cut.is_set():
            cut.set()
            proxy.cut()  # the rows are sent, the commit cannot be

    engine = storage._get_engine()
    sqlalchemy.event.listen(engine, "after_cursor_execute", cut_after_the_insert)
    with pytest.raises(DatabaseUnavailableError, match="may have been saved") as caught:
        storage.save_many([{"n": 2}, {"n": 3}, {"n": 4}])
    sqlalchemy.event.remove(engine, "after_cursor_execute", cut_after_the_insert)
    assert caught.value.__cause__ is not None
    proxy.restore()
    assert committed(direct, table) == [1]  # the transaction was rolled back, all of it


def test_closing_the_storage_ends_the_retries(
    proxy: TcpProxy, table: str, sql_storage: Make, storage_log: LogWatcher
) -> None:
    storage = sql_storage(proxy.url(), table, retries=5, retry_backoff=30)
    storage.save({"n": 1})
    proxy.cut()
    call = InThread(lambda: storage.save({"n": 2}))
    assert storage_log.wait_for(1)  # waiting 30 s before its first retry
    storage.close()
    call.join()
    assert isinstance(call.error, DatabaseUnavailableError)
    assert "stopped: the storage was closed or interrupted" in str(call.error)
    assert call.error.attempts == 1
