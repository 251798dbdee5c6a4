"""Fixtures of the Redis tests: a flow name (its keys removed afterwards), PostgreSQL tables,
private redis-servers, and ``weirflow run`` processes of the shared service file.

Every test uses a flow name of its own (so its keys, ``<name>:...``, are its own on the shared
Redis) and tables of its own; a test that kills Redis starts a private ``redis-server`` with
AOF persistence on a free port.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from weirflow.testing.pytest_plugin import require_server, skip_or_fail

HERE = Path(__file__).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from redis_support import SERVICE, PrivateRedis, weirflow  # noqa: E402

collect_ignore = ["services"]
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def flow_name(redis_url: str) -> Iterator[str]:
    """A flow name no other test uses; its Redis keys are deleted afterwards."""
    import redis

    name = f"wf-test-{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def pg() -> Iterator[sqlalchemy.Engine]:
    """An engine on the test database (skipped locally, failed in CI, without PostgreSQL)."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    engine = sqlalchemy.create_engine(PG_URL, poolclass=sqlalchemy.pool.NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def tables(pg: sqlalchemy.Engine) -> Iterator[Callable[[], str]]:
    """``tables()``: a new table name; every one is dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        made.append(f"wf_redis_{uuid.uuid4().hex[:12]}")
        return made[-1]

    yield make
    with pg.begin() as connection:
        for name in made:
            connection.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{name}"'))


def rows(pg: sqlalchemy.Engine, table: str) -> list[Any]:
    """The rows of ``table`` (none when it was not made yet)."""
    with pg.connect() as connection:
        if not sqlalchemy.inspect(connection).has_table(table):
            return []
        return list(connection.execute(sqlalchemy.text(f'SELECT * FROM "{table}"')))


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A redis-server of this test (AOF, fsync always), started; stopped afterwards."""
    if shutil.which("redis-server") is None:
        skip_or_fail("the redis-server program is needed (apt install redis-server)")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


Run = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def run_service(tmp_path: Path) -> Iterator[Run]:
    """``run_service(*args, **env)``: ``weirflow <args>`` on the service file, in a session of
    its own; every one still running at the end is killed with its group."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, **env: str) -> subprocess.Popen[str]:
        command, *rest = args
        process = weirflow(command, str(SERVICE), *rest, cwd=tmp_path, env={"WF_PG": PG_URL, **env})
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
