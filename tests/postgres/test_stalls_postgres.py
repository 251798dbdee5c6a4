"""A save that blocks without failing: a table locked by another session, a server that hangs.

The lock is real (``LOCK TABLE`` in another connection's open transaction), the slow statement
is a real trigger that sleeps on the server, and the hanging server is the test proxy frozen
(connections open, nothing answered). Each wait is announced by the storage's WARNING, which
the tests wait for instead of sleeping.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy
from pg_support import LogWatcher, TcpProxy

from weirflow import FlowBuilder
from weirflow.storages import DatabaseUnavailableError, SqlStorage

Make = Callable[..., SqlStorage]


class InThread:
    """Runs a call in a thread; the test joins it and reads its result or error."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.error: BaseException | None = None
        self._call = call
        self._thread = threading.Thread(target=self._run, name="test call")
        self._thread.start()

    def _run(self) -> None:
        try:
            self._call()
        except BaseException as error:
            self.error = error

    def join(self, seconds: float = 10) -> None:
        self._thread.join(seconds)
        assert not self._thread.is_alive(), "the call is still blocked"


@pytest.fixture
def locked(direct: sqlalchemy.Engine) -> Iterator[Callable[[str], Callable[[], None]]]:
    """``release = locked(table)``: another session holds an exclusive lock on ``table``."""
    held: list[sqlalchemy.Connection] = []

    def lock(table: str) -> Callable[[], None]:
        connection = direct.connect()
        held.append(connection)
        connection.execute(sqlalchemy.text(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE'))

        def release() -> None:
            if connection in held:
                held.remove(connection)
                connection.rollback()
                connection.close()

        return release

    yield lock
    for connection in held:
        connection.rollback()
        connection.close()


def rows(direct: sqlalchemy.Engine, table: str) -> list[int]:
    with direct.connect() as connection:
        query = f'SELECT n FROM "{table}" ORDER BY n'
        return [row[0] for row in connection.execute(sqlalchemy.text(query))]


def warnings_of(watcher: LogWatcher, start: int) -> list[str]:
    return [m for m in watcher.messages[start:] if "has waited" in m]


def test_a_save_waiting_for_a_lock_is_announced_and_completes_once_it_is_released(
    pg_url: str,
    table: str,
    sql_storage: Make,
    locked: Callable[[str], Callable[[], None]],
    direct: sqlalchemy.Engine,
    storage_log: LogWatcher,
) -> None:
    storage = sql_storage(pg_url, table, lock_timeout=None, warn_after=0.05, pipeline="meters")
    storage.save({"n": 1})
    start = len(storage_log.messages)
    release = locked(table)
    call = InThread(lambda: storage.save({"n": 2}))
    assert storage_log.wait_for_text("has waited", start=start), "no warning while it waits"
    [warning] = warnings_of(storage_log, start)
    assert "pipeline 'meters': sql storage" in warning
    assert "saving 1 record has waited" in warning
    assert "another session may hold a lock on the table" in warning
    assert "no lock_timeout, statement_timeout 60 s" in warning
    release()
    call.join()
    assert call.error is None
    assert rows(direct, table) == [1, 2]
    assert storage_log.wait_for_text("saving 1 record ended after waiting", start=start)


def test_lock_timeout_ends_the_wait_with_an_error_that_says_why(
    pg_url: str,
    table: str,
    sql_storage: Make,
    locked: Callable[[str], Callable[[], None]],
    direct: sqlalchemy.Engine,
) -> None:
    storage = sql_storage(
        pg_url, table, lock_timeout=0.05, retries=1, retry_backoff=0.01, pipeline="meters"
    )
    storage.save({"n": 1})
    locked(table)
    with pytest.raises(DatabaseUnavailableError) as caught:
        storage.save({"n": 2})
    message = str(caught.value)
    assert "after 2 attempts" in message
    assert "LockNotAvailable" in message
    assert f"another session held a lock on table {table!r} for longer than lock_timeout" in (
        message
    )
    assert "nothing of it was committed" in message


def test_statement_timeout_ends_a_slow_statement(
    pg_url: str, table: str, sql_storage: Make, direct: sqlalchemy.Engine
) -> None:
    storage = sql_storage(pg_url, table, statement_timeout=0.1, retries=0)
    storage.save({"n": 1})
    with direct.begin() as connection:  # every insert now takes 30 s on the server
        connection.execute(
            sqlalchemy.text(
                f'CREATE FUNCTION "{table}_slow"() RETURNS trigger LANGUAGE plpgsql AS '
                "$$ BEGIN PERFORM pg_sleep(30); RETURN NEW; END $$"
            )
        )
        connection.execute(
            sqlalchemy.text(
                f'CREATE TRIGGER slow BEFORE INSERT ON "{table}" '
                f'FOR EACH ROW EXECUTE FUNCTION "{table}_slow"()'
            )
        )
    try:
        with pytest.raises(DatabaseUnavailableError, match=r"ran longer than statement_timeout"):
            storage.save({"n": 2})
    finally:
        with direct.begin() as connection:
            connection.execute(sqlalchemy.text(f'DROP FUNCTION "{table}_slow"() CASCADE'))
    assert rows(direct, table) == [1]


def test_interrupt_ends_a_save_blocked_on_a_lock(
    pg_url: str,
    table: str,
    sql_storage: Make,
    locked: Callable[[str], Callable[[], None]],
    direct: sqlalchemy.Engine,
    storage_log: LogWatcher,
) -> None:
    storage = sql_storage(pg_url, table, lock_timeout=None, statement_timeout=None, warn_after=0.05)
    storage.save({"n": 1})
    start = len(storage_log.messages)
    release = locked(table)
    call = InThread(lambda: storage.save({"n": 2}))
    assert storage_log.wait_for_text("has waited", start=start)
    storage.interrupt()
    call.join()  # it does not wait for the lock
    assert isinstance(call.error, DatabaseUnavailableError)
    assert "interrupted" in str(call.error)
    release()
    storage.save({"n": 3})  # still usable
    assert rows(direct, table) == [1, 3]


def test_interrupt_ends_a_save_to_a_server_that_stopped_answering(
    proxy: TcpProxy,
    table: str,
    sql_storage: Make,
    direct: sqlalchemy.Engine,
    storage_log: LogWatcher,
) -> None:
    storage = sql_storage(proxy.url(), table, warn_after=0.05)
    storage.save({"n": 1})
    start = len(storage_log.messages)
    proxy.freeze()
    call = InThread(lambda: storage.save({"n": 2}))
    assert storage_log.wait_for_text("or the server does not answer", start=start)
    storage.interrupt()
    call.join()
    assert isinstance(call.error, DatabaseUnavailableError)
    assert rows(direct, table) == [1]


def test_stopping_a_flow_does_not_wait_for_a_blocked_save(
    pg_url: str,
    table: str,
    locked: Callable[[str], Callable[[], None]],
    direct: sqlalchemy.Engine,
    storage_log: LogWatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with direct.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE TABLE "{table}" (n bigint)'))
    release = locked(table)
    builder = FlowBuilder()
    builder.add_pipeline("meters").with_core_logic(lambda: {"n": 1}).with_storage(
        "sql", url=pg_url, table=table, lock_timeout=None, warn_after=0.05
    )
    flow = builder.build()
    launched = InThread(flow.launch_flow)
    with caplog.at_level(logging.WARNING, logger="weirflow"):
        assert storage_log.wait_for_text("saving 1 record has waited"), storage_log.messages
        flow.stop()
        launched.join()
    assert launched.error is None
    release()
    assert rows(direct, table) == []  # the save gave up: nothing is committed behind our back
    assert "busy in user code" not in caplog.text
    assert "still busy" not in caplog.text


def test_a_server_that_stops_answering_is_given_up_after_twice_statement_timeout(
    proxy: TcpProxy,
    table: str,
    sql_storage: Make,
    direct: sqlalchemy.Engine,
    storage_log: LogWatcher,
) -> None:
    storage = sql_storage(proxy.url(), table, statement_timeout=0.1, retries=0, warn_after=None)
    storage.save({"n": 1})
    proxy.freeze()  # no server-side timeout can answer now
    with pytest.raises(DatabaseUnavailableError) as caught:
        storage.save({"n": 2})  # 1.2 s: twice statement_timeout and a second
    assert "no answer from the database within 1.2 s" in str(caught.value)
    assert any("got no answer from the database" in m for m in storage_log.messages)
    assert rows(direct, table) == [1]


def test_the_index_upsert_on_needs_is_built_without_statement_timeout(
    pg_url: str, table: str, sql_storage: Make, direct: sqlalchemy.Engine
) -> None:
    """A unique index on a big existing table takes longer than a save may: DDL is exempt."""
    with direct.begin() as connection:
        connection.execute(
            sqlalchemy.text(
                f'CREATE TABLE "{table}" AS SELECT n, md5(n::text) AS label '
                "FROM generate_series(1, 200000) AS n"
            )
        )
    storage = sql_storage(pg_url, table, upsert_on=["n"], statement_timeout=0.01, retries=0)
    storage.open()  # builds the index: well over 10 ms for 200,000 rows
    storage.save({"n": 7, "label": "seven"})
    assert storage.load(where={"n": 7}) == [{"n": 7, "label": "seven"}]


def test_catalog_reads_run_without_statement_timeout_and_leave_it_set(pg_url: str) -> None:
    """Reflecting a table is preparation: a busy server's catalog may answer slower than a save
    may take. The exemption ends with the catalog read."""
    from weirflow.storages import _sqltable
    from weirflow.storages._sqlengine import make_engine

    engine = make_engine(sqlalchemy.make_url(pg_url), 1, 0, statement_timeout=0.05)
    slow = sqlalchemy.text("SELECT pg_sleep(0.2)")
    try:
        with engine.connect() as connection:
            with _sqltable._catalog(connection):
                connection.execute(slow)  # as slow as a catalog read on a loaded machine
            assert not connection.in_transaction()
            with pytest.raises(sqlalchemy.exc.OperationalError, match="statement timeout"):
                connection.execute(slow)
    finally:
        engine.dispose()
