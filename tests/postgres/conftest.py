"""Fixtures of the PostgreSQL tests: the server (skipped on a laptop without one, failing in CI),
a fresh table per test, a direct engine to check what really got committed, a cuttable proxy."""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from weirflow.storages import SqlStorage
from weirflow.testing.pytest_plugin import require_server

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # pg_support is imported by name, here and in spawned processes
    sys.path.insert(0, str(HERE))

from pg_support import LogWatcher, TcpProxy  # noqa: E402

HOST, PORT = "127.0.0.1", 5432
URL = f"postgresql+psycopg://postgres@{HOST}:{PORT}/test"


@pytest.fixture
def pg_url() -> str:
    """The test database's URL; the test is skipped (failed in CI) when the server is down."""
    require_server("PostgreSQL", HOST, PORT)
    return URL


@pytest.fixture
def direct(pg_url: str) -> Iterator[sqlalchemy.Engine]:
    """An engine of the test's own, to see what the storage committed."""
    engine = sqlalchemy.create_engine(pg_url, poolclass=sqlalchemy.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def table(direct: sqlalchemy.Engine) -> Iterator[str]:
    """A table name no other test uses; the table is dropped afterwards."""
    name = f"wf_test_{uuid.uuid4().hex[:12]}"
    yield name
    with direct.begin() as connection:
        connection.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))


@pytest.fixture
def proxy(pg_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy in front of the server that the test can cut and restore."""
    made = TcpProxy((HOST, PORT))
    yield made
    made.close()


@pytest.fixture
def storage_log() -> Iterator[LogWatcher]:
    """The warnings of the storages (retries), as they are logged."""
    logger = logging.getLogger("weirflow.storages")
    watcher = LogWatcher()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watcher)
    yield watcher
    logger.removeHandler(watcher)
    logger.setLevel(level)


@pytest.fixture
def sql_storage() -> Iterator[Callable[..., SqlStorage]]:
    """Makes ``SqlStorage`` objects and closes them all after the test, even a failing one."""
    made: list[SqlStorage] = []

    def make(*args: Any, **options: Any) -> SqlStorage:
        storage = SqlStorage(*args, **options)
        made.append(storage)
        return storage

    yield make
    for storage in made:
        storage.close()
