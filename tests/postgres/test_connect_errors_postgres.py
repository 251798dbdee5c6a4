"""Connecting fails in a way no retry repairs: the error says so at once, like an outage does.

A database or a role that does not exist is a :class:`DatabaseUnavailableError` on the first
attempt (no retries, no waiting), naming the pipeline, the table, the URL without its password
and the server's reason.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
from pg_support import TcpProxy

from weirflow.storages import DatabaseUnavailableError, SqlStorage

HOST, PORT = "127.0.0.1", 5432

Make = Callable[..., SqlStorage]


@pytest.mark.parametrize(
    ("user", "database", "reason"),
    [
        ("postgres", f"nope_{uuid.uuid4().hex[:8]}", 'database "{database}" does not exist'),
        (f"nobody_{uuid.uuid4().hex[:8]}", "test", 'role "{user}" does not exist'),
    ],
    ids=["database", "role"],
)
def test_a_missing_database_or_role_is_reported_at_once(
    pg_url: str, sql_storage: Make, user: str, database: str, reason: str
) -> None:
    url = f"postgresql+psycopg://{user}:s3cret-pw@{HOST}:{PORT}/{database}"
    storage = sql_storage(url, "readings", pipeline="meters", retries=5, retry_backoff=30)
    for call in (storage.open, lambda: storage.save({"n": 1})):
        with pytest.raises(DatabaseUnavailableError) as caught:
            call()  # at once: a 30 s backoff would time the test out
        error = caught.value
        message = str(error)
        assert message.startswith(
            f"pipeline 'meters': sql storage (table 'readings' at "
            f"postgresql+psycopg://{user}:***@{HOST}:{PORT}/{database})"
        )
        expected = reason.format(user=user, database=database)
        assert f"failed: cannot connect to the database: {expected}; check the URL" in message
        assert "s3cret-pw" not in message
        assert "\n" not in message
        assert (error.pipeline, error.table, error.attempts) == ("meters", "readings", 1)
        assert error.url == f"postgresql+psycopg://{user}:***@{HOST}:{PORT}/{database}"
    assert storage.statistics().retries == 0


def test_a_failed_attempt_is_one_warning_line_with_its_traceback_at_debug(
    proxy: TcpProxy, table: str, sql_storage: Make, caplog: pytest.LogCaptureFixture
) -> None:
    storage = sql_storage(proxy.url(), table, retries=1, retry_backoff=0.01, pipeline="meters")
    proxy.cut()
    with (
        caplog.at_level(logging.DEBUG, logger="weirflow.storages"),
        pytest.raises(DatabaseUnavailableError),
    ):
        storage.save({"n": 1})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert warnings[0].exc_info is None
    assert "\n" not in warnings[0].getMessage()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.exc_info]
    assert [r.getMessage() for r in debug] == [
        f"{storage._site()}: saving 1 record failed on attempt {n}" for n in (1, 2)
    ]
