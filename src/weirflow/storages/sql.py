"""The ``sql`` storage: items as rows of a table, through SQLAlchemy Core.

Any database SQLAlchemy supports works for saving and loading; ``upsert_on`` needs SQLite or
PostgreSQL (``INSERT ... ON CONFLICT DO UPDATE``). The engine is created on first use, not when
the storage is made, so building a flow never connects, and a storage pickled into a worker
process opens its own pool there. See :mod:`weirflow.storages._sqltable` for the column types,
:mod:`weirflow.storages._sqlengine` for the pool and the SQLite setup (WAL, busy timeout, full
sync), and :mod:`weirflow.storages._sqlretry` for what happens when a database server goes away.

Each ``save`` / ``save_many`` is one transaction, sent as one batch (``executemany``) and
committed before the call returns. With a database server (not SQLite), a call that fails on a
connection error is tried again, whole, on a fresh connection, with exponential backoff; once
the retries are spent it raises :class:`~weirflow.storages.DatabaseUnavailableError`.

SQLite has no time-zone-aware type: a timezone-aware ``datetime`` is stored converted to UTC and
loaded back naive (in UTC). PostgreSQL keeps it aware (``timestamptz``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, Table, delete
from sqlalchemy.engine import URL

from .._checks import check_flag, check_name, check_seconds, check_whole, is_whole, place
from .._errors import ConfigError, DatabaseUnavailableError
from .._interfaces import Storage
from .._retry import MAX_RETRIES, Retry
from . import _sqlrows, _sqltable
from ._preprocess import Preprocessing, check_preprocessing
from ._sqlcall import (
    Attempt,
    ConnectionLost,
    give_up_after,
    limit_hint,
    limits,
    unavailable,
)
from ._sqlengine import check_url, is_sqlite, is_sqlite_memory, make_engine, masked
from ._sqloptions import (
    DEFAULT_LOCK_TIMEOUT,
    DEFAULT_MAX_OVERFLOW,
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_STATEMENT_TIMEOUT,
    DEFAULT_WARN_AFTER,
    check_combination,
    check_schema,
    check_upsert_on,
    optional_seconds,
)
from ._sqlprepare import TableWanted, prepare_table
from ._sqlretry import (
    MAX_BACKOFF,
    cannot_connect,
    describe,
    is_connection_error,
    is_permanent_connection_error,
    server_error,
    timed_out,
)
from ._sqlwatch import CallWatch

__all__ = ["DatabaseUnavailableError", "SqlStorage", "SqlStorageStatistics"]

logger = logging.getLogger("weirflow.storages")

T = TypeVar("T")


@dataclass(frozen=True)
class SqlStorageStatistics:
    """What a :class:`SqlStorage` object has done so far, in this process.

    Attributes:
        saved: records in the saves that were committed.
        transactions: saves committed (one per ``save`` or ``save_many`` call).
        retries: attempts made again after a connection error.
        unavailable: calls that gave up with ``DatabaseUnavailableError``.
    """

    saved: int = 0
    transactions: int = 0
    retries: int = 0
    unavailable: int = 0


class SqlStorage(Storage):
    """Items kept as rows of a database table (SQLAlchemy 2 Core).

    Args:
        url: a SQLAlchemy database URL, e.g. ``"sqlite:///data/weirflow.sqlite"`` or
            ``"postgresql+psycopg://user:password@host/db"``. The password never appears in
            ``repr``, in weirflow's error messages or in its log lines.
        table: the table's name.
        create: create the table on the first save if it does not exist. Its columns come from
            ``schema`` or, without one, from the first record saved.
        schema: declared column types, ``{"column": "int" | "float" | "bool" | "str" |
            "datetime" | "json"}`` (``json`` is ``JSONB`` on PostgreSQL).
        upsert_on: columns identifying a record: saving a record whose values there already
            exist updates that row instead of adding one (SQLite and PostgreSQL; the table gets
            a unique index on these columns; they must not be ``None``). This makes saving
            again after a redelivery or a retry harmless.
        pool_size: connections the pool keeps open: one per worker of the storage stage (the
            flow passes the stage's ``workers``).
        max_overflow: connections opened beyond ``pool_size`` when all are busy (closed
            again once returned).
        retries: how many times a call that failed on a connection error is tried again
            (database servers only: SQLite has no connection to lose, and already waits up to
            30 s for a lock).
        retry_backoff: seconds before the first retry, doubled for each next one, at most
            10 s apart.
        statement_timeout: seconds a statement may run on a PostgreSQL server before the
            server cancels it (``None``: no limit). A statement cancelled so, like one that
            hit ``lock_timeout``, is retried as a connection error is, then the call raises
            :class:`~weirflow.storages.DatabaseUnavailableError` saying why. A call that got
            no answer for twice this plus a second (a server that hangs, or a network that
            drops everything, on a connection still open) gives its connection up and is
            retried the same way.
        lock_timeout: seconds a statement may wait for a lock another session holds on the
            table (PostgreSQL; ``None``: no limit).
        warn_after: seconds a call to a database server may wait before a WARNING says so
            (and, once it ends, an INFO line); ``None``: no warning.
        preprocessing: ``None``, ``"add_datetime"``, ``"overwrite"``, a function, or a list.
        extra_columns: what becomes of a record's fields that are not columns of the table.
            ``None`` (the default): the record is refused, with an error naming the field. A
            table's columns are fixed when it is created (by ``schema``, or else by the first
            record saved), so without a schema the first record decides for good.
            ``"json"``: a table created by weirflow gets a JSON column ``_weirflow_extra``
            keeping those fields; ``load`` puts them back into their records.
        pipeline: the pipeline the storage belongs to, named in errors and log lines
            (``with_storage`` sets it).

    Dict items become rows (a key that is not a column is an error naming it; a missing key is
    ``NULL``); other items are stored in a single JSON column ``value`` and loaded back as they
    were. ``save_many`` saves its batch in one transaction, sent in one round trip; a save
    returns once its transaction is committed, and one that raised committed nothing of its
    batch, except when the connection broke while the database was committing (the error
    says so): whether those rows were kept is then unknown, and saving them again may add
    them twice unless ``upsert_on`` names their key.

    Example:
        >>> import pathlib, tempfile
        >>> from weirflow.storages import SqlStorage
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     storage = SqlStorage(f"sqlite:///{tmp}/db.sqlite", "readings", upsert_on=["sensor"])
        ...     storage.save_many([{"sensor": "a", "value": 1.5}, {"sensor": "b", "value": 2.0}])
        ...     storage.save({"sensor": "a", "value": 9.5})
        ...     print(storage.load())
        ...     print(storage.load(where={"sensor": "b"}))
        ...     print(storage.statistics())
        ...     storage.close()
        [{'sensor': 'a', 'value': 9.5}, {'sensor': 'b', 'value': 2.0}]
        [{'sensor': 'b', 'value': 2.0}]
        SqlStorageStatistics(saved=3, transactions=2, retries=0, unavailable=0)
    """

    def __init__(
        self,
        url: str | URL,
        table: str,
        *,
        create: bool = True,
        schema: Mapping[str, str] | None = None,
        upsert_on: Sequence[str] | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_overflow: int = DEFAULT_MAX_OVERFLOW,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        statement_timeout: float | None = DEFAULT_STATEMENT_TIMEOUT,
        lock_timeout: float | None = DEFAULT_LOCK_TIMEOUT,
        warn_after: float | None = DEFAULT_WARN_AFTER,
        preprocessing: Any = None,
        extra_columns: str | None = None,
        pipeline: str | None = None,
    ) -> None:
        context = place(type(self).__name__)
        self.url: URL = check_url(url, context)
        self.table: str = check_name(table, context, "table")
        self.create: bool = check_flag(create, context, "create")
        self.schema: dict[str, str] | None = check_schema(schema, context)
        self.upsert_on: tuple[str, ...] = check_upsert_on(upsert_on, context)
        self.pool_size: int = check_whole(pool_size, context, "pool_size", minimum=1)
        self.max_overflow: int = check_whole(max_overflow, context, "max_overflow")
        self.retries: int = check_whole(retries, context, "retries", maximum=MAX_RETRIES)
        self.retry_backoff: float = check_seconds(retry_backoff, context, "retry_backoff")
        self.retry = Retry(attempts=self.retries + 1, backoff=self.retry_backoff, cap=MAX_BACKOFF)
        self.statement_timeout = optional_seconds(statement_timeout, context, "statement_timeout")
        self.lock_timeout = optional_seconds(lock_timeout, context, "lock_timeout")
        self.warn_after = optional_seconds(warn_after, context, "warn_after")
        self.preprocessing: Preprocessing = check_preprocessing(preprocessing, context)
        if extra_columns not in (None, "json"):
            raise ConfigError(
                f"{context}: extra_columns must be None (refuse records with fields that are "
                f"not columns) or 'json' (keep them in a JSON column), got {extra_columns!r}"
            )
        self.extra_columns: str | None = extra_columns
        self.pipeline: str | None = (
            None if pipeline is None else check_name(pipeline, context, "pipeline")
        )
        check_combination(self.url, self.upsert_on, self.preprocessing, self.schema, context)
        self._reset_runtime_state()

    def _reset_runtime_state(self) -> None:
        self._lock = threading.RLock()
        self._engine: Engine | None = None
        self._table: Table | None = None
        self._writable = False  # the table exists and has the index upsert_on needs
        self._closing = threading.Event()  # set by close(): retries waiting give up
        self._counts = SqlStorageStatistics()
        self._counts_lock = threading.Lock()
        server = not is_sqlite(self.url)
        self._watch = CallWatch(
            self._site,
            self.warn_after if server else None,
            limits(self.url, self.lock_timeout, self.statement_timeout),
            give_up_after=give_up_after(self.url, self.statement_timeout) if server else None,
        )

    # -- connections and the table -------------------------------------------------------------

    def _serialised(self) -> AbstractContextManager[Any]:
        # An in-memory SQLite database is one connection: one operation at a time.
        return self._lock if is_sqlite_memory(self.url) else nullcontext()

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = make_engine(
                    self.url,
                    self.pool_size,
                    self.max_overflow,
                    statement_timeout=self.statement_timeout,
                    lock_timeout=self.lock_timeout,
                )
                self._watch.reopen()
            return self._engine

    def _prepared_table(self, engine: Engine, first: Any, attempt: Attempt) -> Table | None:
        """The table, reflected or created, with the unique index ``upsert_on`` needs (made
        once; see :func:`~weirflow.storages._sqlprepare.prepare_table`)."""
        with self._lock:
            if self._writable and self._table is not None:
                return self._table
            table = prepare_table(
                engine,
                attempt,
                TableWanted(
                    self.table, self.schema, self.upsert_on, self.create, self.extra_columns
                ),
                first,
                repr(self),
                opening=first is _NO_RECORD,
            )
            if table is not None:
                self._table, self._writable = table, True
            return table

    def _existing_table(self, engine: Engine, attempt: Attempt) -> Table | None:
        with self._lock:
            if self._table is None:
                with engine.connect() as connection:
                    attempt.watch(connection)
                    self._table = _sqltable.reflect(connection, self.table)
            return self._table

    def open(self) -> None:
        """Connect and get the table ready now (a flow calls it when a pipeline run starts).

        The pool makes its first connection, the table is reflected (created if a ``schema``
        is declared; without one it is created from the first record saved) and the index
        ``upsert_on`` needs is made, so the first save does not wait for any of it. An open
        storage returns at once. Connection errors are retried as a save's are.

        Raises:
            DatabaseUnavailableError: the database could not be reached.
        """
        with self._lock:
            if self._writable and self._table is not None:
                return

        def prepare(attempt: Attempt) -> None:
            with self._serialised():
                self._prepared_table(self._get_engine(), _NO_RECORD, attempt)

        self._call("connecting", prepare)

    def interrupt(self) -> None:
        """Make calls in progress in other threads give up now (the flow is stopping).

        A call blocked in the driver (a locked table, a server that stopped answering) raises
        :class:`DatabaseUnavailableError` at once; so do calls waiting to retry. Nothing of an
        interrupted save is reported saved. The storage stays usable.
        """
        with self._lock:
            self._closing.set()
            self._closing = threading.Event()
        interrupted = self._watch.interrupt()
        if interrupted:
            logger.info("%s: interrupted %d call(s) in progress", self._site(), interrupted)

    # -- writing -------------------------------------------------------------------------------

    def save(self, item: Any) -> None:
        """Save one item (committed when this returns)."""
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        """Save several items in one transaction: all of them, or none.

        Raises:
            DatabaseUnavailableError: the database server could not be reached, even after
                the retries.
        """
        values = [self.preprocessing.apply(item) for item in items]
        if not values:
            return
        if self.preprocessing.overwrite:
            values = values[-1:]

        def write(attempt: Attempt) -> None:
            with self._serialised():
                engine = self._get_engine()
                table = self._prepared_table(engine, values[0], attempt)
                assert table is not None
                rows = _sqlrows.rows(table, values, self.upsert_on, is_sqlite(self.url), repr(self))
                statement = _sqlrows.insert_statement(
                    table, list(rows[0]), self.upsert_on, is_sqlite(self.url)
                )
                with engine.begin() as connection:
                    attempt.watch(connection)
                    if self.preprocessing.overwrite:
                        connection.execute(delete(table))
                    connection.execute(statement, rows)
                    attempt.committing = True  # leaving the block commits

        count = len(values)
        self._call(f"saving {count} record{'s' if count != 1 else ''}", write)
        self._count(saved=count, transactions=1)

    # -- reading -------------------------------------------------------------------------------

    def load(
        self,
        *,
        where: Mapping[str, Any] | None = None,
        limit: int | None = None,
        **query: Any,
    ) -> Any:
        """The saved records in the order first saved (the latest one or None in overwrite mode).

        Args:
            where: equality filters, ``{"column": value}`` (``None`` matches NULL). JSON
                columns cannot be filtered on.
            limit: at most this many records.
        """
        if query:
            raise TypeError(
                f"SqlStorage.load() takes where= and limit=, got {sorted(query)}; "
                "e.g. load(where={'sensor': 'a'}, limit=10)"
            )
        if limit is not None and (not is_whole(limit) or limit < 0):
            raise ValueError(f"limit must be a whole number >= 0 or None, got {limit!r}")
        if where is not None and not isinstance(where, Mapping):
            raise TypeError(f"where must be a dict of column: value, got {where!r}")

        def read(attempt: Attempt) -> tuple[Table | None, list[dict[str, Any]]]:
            with self._serialised():
                engine = self._get_engine()
                table = self._existing_table(engine, attempt)
                if table is None:
                    return None, []
                statement = _sqlrows.select_statement(table, where, limit, repr(self))
                with engine.connect() as connection:
                    attempt.watch(connection)
                    return table, [dict(row._mapping) for row in connection.execute(statement)]

        table, rows = self._call("loading", read)
        if table is None:
            return None if self.preprocessing.overwrite else []
        records = _sqlrows.records(table, rows)
        if self.preprocessing.overwrite:
            return records[-1] if records else None
        return records

    # -- connection errors ---------------------------------------------------------------------

    def _call(self, action: str, operation: Callable[[Attempt], T]) -> T:
        """``operation()``, tried again on connection errors as :attr:`retry` says."""
        if is_sqlite(self.url):
            return operation(Attempt())
        closing = self._closing
        unconfirmed = [False]  # an attempt lost its connection while committing

        def attempt(number: int) -> T:
            if number > 1:
                self._count(retries=1)
            current = Attempt()
            try:
                with self._watch.call(action) as current.call:
                    return operation(current)
            except Exception as error:
                if is_permanent_connection_error(error):
                    self._count(unavailable=1)
                    raise self._refused(action, error) from error
                if not is_connection_error(error):
                    raise
                # The server answering with an error means it committed nothing of the call.
                unconfirmed[0] = unconfirmed[0] or (current.committing and not server_error(error))
                logger.debug(
                    "%s: %s failed on attempt %d", self._site(), action, number, exc_info=True
                )
                raise ConnectionLost(self._lost_reason(error, current), number) from error

        def before_wait(error: Exception, number: int, delay: float) -> None:
            logger.warning(
                "%s: %s failed (%s); retry %d of %d in %.2f s",
                self._site(),
                action,
                error,
                number,
                self.retries,
                delay,
            )

        try:
            return self.retry.run(
                attempt,
                retryable=lambda error: isinstance(error, ConnectionLost) and not closing.is_set(),
                before_wait=before_wait,
                wait=closing.wait,
            )
        except ConnectionLost as lost:
            self._count(unavailable=1)
            closed = lost.attempt < self.retry.attempts or closing.is_set()
            raise unavailable(
                self._site(), self, action, lost.attempt, lost.reason, unconfirmed[0], closed
            ) from lost.__cause__

    def _lost_reason(self, error: BaseException, attempt: Attempt) -> str:
        """Why an attempt lost its connection, for the warning and the error."""
        reason = describe(error, self._secrets())
        limit = timed_out(error)
        if limit is not None:
            hint = limit_hint(limit, self.table, self.lock_timeout, self.statement_timeout)
            reason = f"{reason}; {hint}"
        if attempt.call is not None and attempt.call.abandoned:
            after = give_up_after(self.url, self.statement_timeout)
            reason = (
                f"no answer from the database within {after:g} s, "
                "twice statement_timeout and a second: the connection was given up"
            )
        return reason

    def _refused(self, action: str, error: BaseException) -> DatabaseUnavailableError:
        """The error for a connection that no retry can help (a missing database or role)."""
        message = (
            f"{self._site()}: {action} failed: cannot connect to the database: "
            f"{cannot_connect(error, self._secrets())}; check the URL (user, password, "
            "database name) and the server's access rules"
        )
        return DatabaseUnavailableError(message, self.pipeline, self.table, masked(self.url), 1)

    def _site(self) -> str:
        """Where errors and log lines say they come from (never with the password)."""
        if self.pipeline is None:
            return repr(self)
        return (
            f"pipeline {self.pipeline!r}: sql storage (table {self.table!r} at {masked(self.url)})"
        )

    def _secrets(self) -> list[str]:
        password = self.url.password
        return [password] if isinstance(password, str) and len(password) >= 3 else []

    def _count(self, **increments: int) -> None:
        with self._counts_lock:
            counts = self._counts
            self._counts = SqlStorageStatistics(
                saved=counts.saved + increments.get("saved", 0),
                transactions=counts.transactions + increments.get("transactions", 0),
                retries=counts.retries + increments.get("retries", 0),
                unavailable=counts.unavailable + increments.get("unavailable", 0),
            )

    # -- the rest ------------------------------------------------------------------------------

    def statistics(self) -> SqlStorageStatistics:
        """A snapshot of what this object has done in this process (saves, retries...)."""
        with self._counts_lock:
            return self._counts

    def close(self) -> None:
        """Close the connection pool (idempotent; a later call reconnects).

        Calls of other threads waiting to retry give up at once.
        """
        with self._lock:
            engine, self._engine, self._table = self._engine, None, None
            self._writable = False
            self._closing.set()
            self._closing = threading.Event()
        self._watch.close()
        if engine is not None:
            engine.dispose()

    def __repr__(self) -> str:
        return f"SqlStorage({masked(self.url)!r}, table={self.table!r})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in _RUNTIME_STATE:
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_runtime_state()


# Made afresh in each process (and after unpickling): locks, the pool, the cached table.
_RUNTIME_STATE = (
    "_lock",
    "_engine",
    "_table",
    "_writable",
    "_closing",
    "_counts",
    "_counts_lock",
    "_watch",
)

_NO_RECORD: Any = object()  # opening: no record to make a table's columns from
