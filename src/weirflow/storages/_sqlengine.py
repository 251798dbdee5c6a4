"""Database URLs and engines for the ``sql`` storage.

:func:`check_url` validates a URL at build time without connecting (its dialect and driver must
be importable) and never puts the password in a message. :func:`make_engine` creates the engine
on first use.

A database server gets a pool of ``pool_size`` connections (the storage stage's workers) plus at
most ``max_overflow`` more for bursts. A connection that sat idle in the pool for more than a
second is checked with a ping before use, so one the server dropped is replaced instead of
failing a save; one in steady use is not (a ping per save would be one more round trip each).
With libpq (``psycopg``, ``psycopg2``) connecting gives up after 10 s, TCP keepalives notice a
silently dead idle connection within about a minute, data left unacknowledged by the server for
30 s drops the connection (``tcp_user_timeout``), and sessions use UTC, so a naive ``datetime``
always means UTC whatever the server's setting; a value given in the URL's query
(``?connect_timeout=3``) wins over these. PostgreSQL sessions get the storage's
``statement_timeout`` and ``lock_timeout`` (with libpq in the startup packet, otherwise set on
each new connection).

SQLite gets a setup that is safe with many threads and processes: WAL journal (readers never
block the writer), a 30 s busy timeout (writers queue instead of failing with "database is
locked"), ``synchronous=FULL`` (a commit is on disk when it returns), and connections usable
from any thread. An in-memory SQLite database lives in one connection shared by every thread of
the process (each process has its own).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DisconnectionError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

from .._errors import ConfigError
from ._files import ensure_parent, exclusive
from ._sqldrivers import url_hint

BUSY_TIMEOUT_MS = 30_000
CONNECT_TIMEOUT_S = 10
LIBPQ_DRIVERS = ("psycopg", "psycopg2")
# libpq connection parameters: give up connecting after 10 s; probe an idle connection after
# 30 s, every 10 s, and drop it after 3 unanswered probes.
_LIBPQ_DEFAULTS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_S,
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}
PING_AFTER_IDLE_S = 1.0
"""A pooled connection idle for longer than this is pinged before it is used."""
_UTC_SESSION = "-c TimeZone=UTC"


def masked(url: URL) -> str:
    """The URL with its password replaced by ``***``."""
    return url.render_as_string(hide_password=True)


def check_url(value: Any, where: str) -> URL:
    """Parse and check a database URL (``str`` or ``sqlalchemy.URL``) without connecting.

    A relative SQLite path is made absolute, so the storage finds the same file in any process.
    """
    if isinstance(value, URL):
        url = value
    elif isinstance(value, str) and value.strip():
        try:
            url = make_url(value)
        except ArgumentError:
            # SQLAlchemy's message may quote the string, password included.
            raise ConfigError(
                f"{where}: url is not a database URL; write it as "
                "'dialect+driver://user:password@host/database', e.g. "
                "'sqlite:///data/weirflow.sqlite' or 'postgresql://user:pw@localhost/db'"
            ) from None
    else:
        raise ConfigError(
            f"{where}: url must be a database URL str, got {type(value).__name__}; "
            "e.g. url='sqlite:///data/weirflow.sqlite'"
        )
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(
            f"{where}: url {masked(url)!r}: SQLAlchemy has no dialect {url.drivername!r}; "
            f"{url_hint(url.drivername)}"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(
            f"{where}: url {masked(url)!r}: the database driver is not installed "
            f"(module {exc.name or exc}); install it, or {url_hint(url.drivername)}"
        ) from None
    if is_sqlite(url) and (url.username or url.password or url.host or url.port):
        raise ConfigError(
            f"{where}: url {masked(url)!r}: a SQLite URL names a file, not a server; write "
            "'sqlite:///relative/path.sqlite', 'sqlite:////absolute/path.sqlite' or 'sqlite://' "
            "(in memory)"
        )
    if is_sqlite_file(url):
        assert url.database is not None
        url = url.set(database=str(Path(url.database).absolute()))
    return url


def is_sqlite(url: URL) -> bool:
    return url.get_backend_name() == "sqlite"


def is_sqlite_memory(url: URL) -> bool:
    return is_sqlite(url) and url.database in (None, "", ":memory:")


def is_sqlite_file(url: URL) -> bool:
    return (
        is_sqlite(url)
        and not is_sqlite_memory(url)
        and not (url.database or "").startswith("file:")
    )


def make_engine(
    url: URL,
    pool_size: int,
    max_overflow: int,
    *,
    statement_timeout: float | None = None,
    lock_timeout: float | None = None,
) -> Engine:
    """An engine for ``url`` (creating a SQLite file's directory first).

    ``statement_timeout`` and ``lock_timeout`` (seconds; None or 0: no limit) apply to
    PostgreSQL sessions.
    """
    pooled: dict[str, Any] = {"pool_size": pool_size, "max_overflow": max_overflow}
    if not is_sqlite(url):
        settings = _session_settings(url, statement_timeout, lock_timeout)
        libpq = url.get_driver_name() in LIBPQ_DRIVERS
        engine = create_engine(
            url, connect_args=_server_connect_args(url, settings if libpq else {}), **pooled
        )
        _ping_when_idle(engine)
        if settings and not libpq:
            _set_on_connect(engine, settings)
        return engine
    connect_args = {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000}
    if is_sqlite_memory(url):
        engine = create_engine(url, connect_args=connect_args, poolclass=StaticPool)
    else:
        if is_sqlite_file(url):
            assert url.database is not None
            _enable_wal(Path(url.database))
        engine = create_engine(url, connect_args=connect_args, **pooled)
    event.listen(engine, "connect", _setup_sqlite_connection)
    return engine


def _session_settings(
    url: URL, statement_timeout: float | None, lock_timeout: float | None
) -> dict[str, str]:
    """PostgreSQL session settings for the timeouts, in milliseconds (``"0"``: none)."""
    if url.get_backend_name() != "postgresql":
        return {}
    return {
        "statement_timeout": str(round((statement_timeout or 0) * 1000)),
        "lock_timeout": str(round((lock_timeout or 0) * 1000)),
    }


def _server_connect_args(url: URL, settings: dict[str, str]) -> dict[str, Any]:
    """Timeouts, keepalives and a UTC session for libpq drivers, unless the URL sets them."""
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in LIBPQ_DRIVERS:
        return {}
    given = {key.lower() for key in url.query}
    connect_args = {key: value for key, value in _LIBPQ_DEFAULTS.items() if key not in given}
    options = url.query.get("options", "")
    if isinstance(options, tuple):
        options = " ".join(options)
    extra = [] if "timezone" in options.lower() else [_UTC_SESSION]
    extra += [f"-c {name}={value}" for name, value in settings.items() if name not in options]
    if extra:
        connect_args["options"] = " ".join([options, *extra]).strip()
    return connect_args


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection before use only if it sat idle for ``PING_AFTER_IDLE_S``."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["weirflow_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("weirflow_idle_since")
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE_S:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception:
            alive = False
        if not alive:  # the pool drops it and makes a new connection
            raise DisconnectionError("the pooled connection was closed by the server")


def _set_on_connect(engine: Engine, settings: dict[str, str]) -> None:
    """``SET`` the session settings on each new connection (drivers without libpq options)."""

    @event.listens_for(engine, "connect")
    def connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for name, value in settings.items():
                cursor.execute(f"SET {name} = {int(value)}")
        finally:
            cursor.close()
        dbapi_connection.commit()


def _enable_wal(database: Path) -> None:
    """Switch the database file to WAL once; the mode is stored in the file itself.

    Switching needs a moment alone with the file, and SQLite fails a switch that has to wait
    ("database is locked") instead of applying its busy timeout, so processes opening the file
    take turns on the file's weirflow lock and only the first one switches.
    """
    ensure_parent(database)
    with exclusive(database):
        connection = sqlite3.connect(database, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                connection.execute("PRAGMA journal_mode = WAL")
        finally:
            connection.close()


def _setup_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()
