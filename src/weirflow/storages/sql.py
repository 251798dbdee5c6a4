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
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, Engine, Insert, Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from .._errors import ConfigError, DatabaseUnavailableError, WeirflowError
from .._interfaces import Storage
from . import _sqltable
from ._options import (
    check_bool,
    check_count,
    check_name,
    check_positive_int,
    check_seconds,
    where,
)
from ._preprocess import Preprocessing, check_preprocessing
from ._sqlengine import check_url, is_sqlite, is_sqlite_memory, make_engine, masked
from ._sqlretry import (
    backoff_delay,
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

UPSERT_BACKENDS = ("sqlite", "postgresql")
DEFAULT_POOL_SIZE = 5
DEFAULT_MAX_OVERFLOW = 2
DEFAULT_RETRIES = 5
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_STATEMENT_TIMEOUT = 60.0
DEFAULT_LOCK_TIMEOUT = 10.0
DEFAULT_WARN_AFTER = 5.0


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


class _Attempt:
    """What one attempt of a call got to: whether the database was asked to commit."""

    __slots__ = ("call", "committing")

    def __init__(self) -> None:
        self.committing = False
        self.call: Any = None  # the watch's entry (database servers only)

    def unbounded(self) -> None:
        """The call runs DDL now: the watch does not give it up (it still warns)."""
        if self.call is not None:
            self.call.bounded = False

    def watch(self, connection: Any) -> None:
        """The call now runs on ``connection`` (a SQLAlchemy ``Connection``)."""
        if self.call is not None:
            self.call.connection = connection.connection.driver_connection


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
        context = where(type(self).__name__)
        self.url: URL = check_url(url, context)
        self.table: str = check_name(table, context, "table")
        self.create: bool = check_bool(create, context, "create")
        self.schema: dict[str, str] | None = _check_schema(schema, context)
        self.upsert_on: tuple[str, ...] = _check_upsert_on(upsert_on, context)
        self.pool_size: int = check_positive_int(pool_size, context, "pool_size")
        self.max_overflow: int = check_count(max_overflow, context, "max_overflow")
        self.retries: int = check_count(retries, context, "retries")
        self.retry_backoff: float = check_seconds(retry_backoff, context, "retry_backoff")
        self.statement_timeout = _optional_seconds(statement_timeout, context, "statement_timeout")
        self.lock_timeout = _optional_seconds(lock_timeout, context, "lock_timeout")
        self.warn_after = _optional_seconds(warn_after, context, "warn_after")
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
        self._check_combination(context)
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
            self._limits(),
            give_up_after=self._give_up_after() if server else None,
        )

    def _check_combination(self, context: str) -> None:
        if self.upsert_on and self.url.get_backend_name() not in UPSERT_BACKENDS:
            raise ConfigError(
                f"{context}: upsert_on needs SQLite or PostgreSQL (INSERT ... ON CONFLICT); "
                f"{self.url.get_backend_name()!r} is not supported: remove upsert_on"
            )
        if self.upsert_on and self.preprocessing.overwrite:
            raise ConfigError(
                f"{context}: upsert_on and preprocessing 'overwrite' contradict each other "
                "(overwrite keeps one row); remove one of them"
            )
        if self.schema is not None:
            for key in self.upsert_on:
                if key not in self.schema:
                    raise ConfigError(
                        f"{context}: upsert_on column {key!r} is not in schema "
                        f"({', '.join(self.schema)}); add it to the schema"
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

    def _prepared_table(self, engine: Engine, first: Any, attempt: _Attempt) -> Table | None:
        """The table, reflected or created, with the unique index ``upsert_on`` needs.

        ``first`` is the first record to save, whose fields give the columns of a table made
        without a schema; :data:`_NO_RECORD` (opening) leaves such a table for the first save
        and returns None.
        """
        with self._lock:
            if self._writable and self._table is not None:
                return self._table
            with engine.connect() as connection:
                attempt.watch(connection)
                table = _sqltable.reflect(connection, self.table)
            if table is None:
                if first is _NO_RECORD and self.schema is None:
                    return None  # created from the first record saved
                if not self.create:
                    raise WeirflowError(
                        f"{self!r}: table {self.table!r} does not exist; create it, or pass "
                        "create=True to let weirflow create it"
                    )
                schema = self.schema or _sqltable.infer_schema(first, self.table)
                missing = [key for key in self.upsert_on if key not in schema]
                if missing:
                    raise ValueError(
                        f"{self!r}: upsert_on column(s) {missing} are not fields of the first "
                        f"record ({', '.join(schema)}); include them, or declare a schema"
                    )
                attempt.unbounded()  # DDL may rightly take long (an index on a big table)
                definition = _sqltable.define_table(
                    self.table, schema, self.upsert_on, extra=self.extra_columns == "json"
                )
                _sqltable.create(engine, definition)
                with engine.connect() as connection:
                    attempt.watch(connection)
                    table = _sqltable.reflect(connection, self.table)
                assert table is not None
            elif self.upsert_on:
                missing = [key for key in self.upsert_on if key not in table.c]
                if missing:
                    raise WeirflowError(
                        f"{self!r}: upsert_on column(s) {missing} are not columns of the "
                        f"existing table {self.table!r}; change upsert_on"
                    )
                attempt.unbounded()
                _sqltable.ensure_unique_index(engine, table, self.upsert_on)
            if (
                self.extra_columns == "json"
                and _sqltable.EXTRA_COLUMN not in table.c
                and not _sqltable.holds_values(table)
            ):
                raise WeirflowError(
                    f"{self!r}: extra_columns='json' needs a JSON column "
                    f"{_sqltable.EXTRA_COLUMN!r}, which the existing table {self.table!r} lacks "
                    "(weirflow never alters a table); add it, or use a new table"
                )
            self._table, self._writable = table, True
            return table

    def _existing_table(self, engine: Engine, attempt: _Attempt) -> Table | None:
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

        def prepare(attempt: _Attempt) -> None:
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

        def write(attempt: _Attempt) -> None:
            with self._serialised():
                engine = self._get_engine()
                table = self._prepared_table(engine, values[0], attempt)
                assert table is not None
                rows = self._rows(table, values)
                statement = self._insert(table, list(rows[0]))
                with engine.begin() as connection:
                    attempt.watch(connection)
                    if self.preprocessing.overwrite:
                        connection.execute(delete(table))
                    connection.execute(statement, rows)
                    attempt.committing = True  # leaving the block commits

        count = len(values)
        self._call(f"saving {count} record{'s' if count != 1 else ''}", write)
        self._count(saved=count, transactions=1)

    def _rows(self, table: Table, values: list[Any]) -> list[dict[str, Any]]:
        """One row per record, all with the same columns (one statement inserts them all).

        A field no record gives is ``NULL``, except in columns the database fills itself (a
        ``SERIAL`` key, a ``DEFAULT``): those are left out, so the database does.
        """
        if _sqltable.holds_values(table):
            return [{_sqltable.VALUE_COLUMN: value} for value in values]
        columns = [column.name for column in _sqltable.data_columns(table)]
        given = {key for value in values if isinstance(value, Mapping) for key in value}
        inserted = [
            column.name
            for column in _sqltable.data_columns(table)
            if column.name in given or not _sqltable.filled_by_database(table, column)
        ]
        extras = _sqltable.EXTRA_COLUMN in table.c
        if extras:
            inserted.append(_sqltable.EXTRA_COLUMN)
        to_utc = is_sqlite(self.url)
        rows: list[dict[str, Any]] = []
        for value in values:
            if not isinstance(value, Mapping):
                raise TypeError(
                    f"{self!r}: table {self.table!r} holds records (dict items), got "
                    f"{type(value).__name__} {value!r}; save dicts, or use another table"
                )
            unknown = [key for key in value if key not in columns]
            if unknown and not extras:
                raise ValueError(
                    f"{self!r}: field {unknown[0]!r} is not a column of table {self.table!r} "
                    f"({', '.join(columns)}); a table's columns are fixed when it is created "
                    "(from the first record saved, unless schema= declares them), so records "
                    "with other fields are refused: declare the columns with schema=, keep "
                    "unknown fields with extra_columns='json' (in a new table), add the column "
                    "to the table, or drop the field with a preprocessing function"
                )
            row = {name: _utc(value.get(name)) if to_utc else value.get(name) for name in inserted}
            if extras:
                row[_sqltable.EXTRA_COLUMN] = {key: value[key] for key in unknown} or None
            for key in self.upsert_on:
                if row[key] is None:
                    raise ValueError(
                        f"{self!r}: upsert_on column {key!r} is missing or None in {value!r}; "
                        "every record needs a value there"
                    )
            rows.append(row)
        if self.upsert_on:  # the last record of a key wins, as if saved one by one
            rows = list({tuple(row[key] for key in self.upsert_on): row for row in rows}.values())
        return rows

    def _insert(self, table: Table, columns: list[str]) -> Insert:
        """An ``INSERT`` of ``columns``; with ``upsert_on``, updating them on a conflict."""
        if not self.upsert_on:
            return insert(table)
        statement = (sqlite.insert if is_sqlite(self.url) else postgresql.insert)(table)
        updated = {name: statement.excluded[name] for name in columns if name not in self.upsert_on}
        if not updated:
            return statement.on_conflict_do_nothing(index_elements=list(self.upsert_on))
        return statement.on_conflict_do_update(index_elements=list(self.upsert_on), set_=updated)

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
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValueError(f"limit must be a whole number >= 0 or None, got {limit!r}")
        if where is not None and not isinstance(where, Mapping):
            raise TypeError(f"where must be a dict of column: value, got {where!r}")

        def read(attempt: _Attempt) -> tuple[Table | None, list[dict[str, Any]]]:
            with self._serialised():
                engine = self._get_engine()
                table = self._existing_table(engine, attempt)
                if table is None:
                    return None, []
                selected = list(_sqltable.data_columns(table))
                if _sqltable.EXTRA_COLUMN in table.c:
                    selected.append(table.c[_sqltable.EXTRA_COLUMN])
                statement = select(*selected)
                for name, value in (where or {}).items():
                    statement = statement.where(self._filter_column(table, name) == value)
                if _sqltable.ID_COLUMN in table.c:
                    statement = statement.order_by(table.c[_sqltable.ID_COLUMN])
                if limit is not None:
                    statement = statement.limit(limit)
                with engine.connect() as connection:
                    attempt.watch(connection)
                    return table, [dict(row._mapping) for row in connection.execute(statement)]

        table, rows = self._call("loading", read)
        if table is None:
            return None if self.preprocessing.overwrite else []
        if _sqltable.holds_values(table):
            records: list[Any] = [row[_sqltable.VALUE_COLUMN] for row in rows]
        else:
            records = [_with_extras(row) for row in rows]
        if self.preprocessing.overwrite:
            return records[-1] if records else None
        return records

    def _filter_column(self, table: Table, name: str) -> Any:
        columns = _sqltable.data_columns(table)
        if name not in table.c or name == _sqltable.ID_COLUMN:
            raise ValueError(
                f"{self!r}: cannot filter on {name!r}: no such column in table {self.table!r} "
                f"({', '.join(column.name for column in columns)})"
            )
        column = table.c[name]
        if isinstance(column.type, JSON):
            raise ValueError(
                f"{self!r}: cannot filter on JSON column {name!r}; filter the loaded records"
            )
        return column

    # -- connection errors ---------------------------------------------------------------------

    def _call(self, action: str, operation: Callable[[_Attempt], T]) -> T:
        """``operation()``, tried again on connection errors while retries are left."""
        if is_sqlite(self.url):
            return operation(_Attempt())
        closing = self._closing
        attempts = self.retries + 1
        unconfirmed = False  # an attempt lost its connection while committing
        for number in range(1, attempts + 1):
            if number > 1:
                self._count(retries=1)
            attempt = _Attempt()
            try:
                with self._watch.call(action) as attempt.call:
                    return operation(attempt)
            except Exception as error:
                if is_permanent_connection_error(error):
                    self._count(unavailable=1)
                    raise self._refused(action, error) from error
                if not is_connection_error(error):
                    raise
                # The server answering with an error means it committed nothing of the call.
                unconfirmed = unconfirmed or (attempt.committing and not server_error(error))
                reason = describe(error, self._secrets())
                logger.debug(
                    "%s: %s failed on attempt %d", self._site(), action, number, exc_info=True
                )
                limit = timed_out(error)
                if limit is not None:
                    reason = f"{reason}; {self._limit_hint(limit)}"
                if attempt.call is not None and attempt.call.abandoned:
                    reason = (
                        f"no answer from the database within {self._give_up_after():g} s, "
                        "twice statement_timeout and a second: the connection was given up"
                    )
                if number < attempts and not closing.is_set():
                    delay = backoff_delay(self.retry_backoff, number)
                    logger.warning(
                        "%s: %s failed (%s); retry %d of %d in %.2f s",
                        self._site(),
                        action,
                        reason,
                        number,
                        self.retries,
                        delay,
                    )
                    if not closing.wait(delay):
                        continue
                self._count(unavailable=1)
                closed = number < attempts or closing.is_set()
                raise self._unavailable(action, number, reason, unconfirmed, closed) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _unavailable(
        self, action: str, attempts: int, reason: str, unconfirmed: bool, closed: bool
    ) -> DatabaseUnavailableError:
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        if closed:
            tries += " (stopped: the storage was closed or interrupted)"
        if action == "loading":
            outcome = ""
        elif unconfirmed:
            outcome = (
                "; the connection broke while the database was committing, so these records "
                "may have been saved"
            )
        else:
            outcome = "; nothing of it was committed"
        message = (
            f"{self._site()}: {action} failed after {tries}: the database is unreachable "
            f"({reason}){outcome}"
        )
        return DatabaseUnavailableError(
            message, self.pipeline, self.table, masked(self.url), attempts
        )

    def _refused(self, action: str, error: BaseException) -> DatabaseUnavailableError:
        """The error for a connection that no retry can help (a missing database or role)."""
        message = (
            f"{self._site()}: {action} failed: cannot connect to the database: "
            f"{cannot_connect(error, self._secrets())}; check the URL (user, password, "
            "database name) and the server's access rules"
        )
        return DatabaseUnavailableError(message, self.pipeline, self.table, masked(self.url), 1)

    def _give_up_after(self) -> float | None:
        """Seconds after which a call is abandoned: no statement may run that long."""
        if not self.statement_timeout or self.url.get_backend_name() != "postgresql":
            return None
        return 2 * self.statement_timeout + 1

    def _limits(self) -> str:
        if self.url.get_backend_name() != "postgresql":
            return "no server-side timeout"
        parts = [
            f"{name} {_seconds(value)}" if value else f"no {name}"
            for name, value in (
                ("lock_timeout", self.lock_timeout),
                ("statement_timeout", self.statement_timeout),
            )
        ]
        return ", ".join(parts)

    def _limit_hint(self, limit: str) -> str:
        if limit == "lock_timeout":
            return (
                f"another session held a lock on table {self.table!r} for longer than "
                f"lock_timeout ({_seconds(self.lock_timeout)})"
            )
        return (
            f"the statement ran longer than statement_timeout ({_seconds(self.statement_timeout)})"
        )

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


def _optional_seconds(value: Any, context: str, option: str) -> float | None:
    return None if value is None else check_seconds(value, context, option)


def _seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:g} s"


def _with_extras(row: dict[str, Any]) -> dict[str, Any]:
    """A loaded row with the fields kept in the JSON column of extras put back."""
    if _sqltable.EXTRA_COLUMN not in row:
        return row
    extra = row.pop(_sqltable.EXTRA_COLUMN)
    if isinstance(extra, Mapping):
        row.update(extra)
    return row


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _check_schema(schema: Any, context: str) -> dict[str, str] | None:
    if schema is None:
        return None
    names = ", ".join(repr(name) for name in _sqltable.SCHEMA_TYPES)
    if not isinstance(schema, Mapping) or not schema:
        raise ConfigError(
            f"{context}: schema must be a non-empty dict of column name to type ({names}), "
            f"got {schema!r}; e.g. schema={{'sensor': 'str', 'value': 'float'}}"
        )
    for column, kind in schema.items():
        if not isinstance(column, str) or not column.strip():
            raise ConfigError(
                f"{context}: schema column names must be non-empty str, got {column!r}"
            )
        if column in _sqltable.RESERVED:
            raise ConfigError(
                f"{context}: schema column {column!r} is reserved for weirflow; rename it"
            )
        if kind not in _sqltable.SCHEMA_TYPES:
            raise ConfigError(
                f"{context}: schema column {column!r} has type {kind!r}; use one of {names}"
            )
    return dict(schema)


def _check_upsert_on(upsert_on: Any, context: str) -> tuple[str, ...]:
    if upsert_on is None:
        return ()
    if (
        isinstance(upsert_on, str)
        or not isinstance(upsert_on, Sequence)
        or not upsert_on
        or not all(isinstance(key, str) and key.strip() for key in upsert_on)
    ):
        raise ConfigError(
            f"{context}: upsert_on must be a non-empty list of column names, got "
            f"{upsert_on!r}; e.g. upsert_on=['sensor']"
        )
    if len(set(upsert_on)) != len(upsert_on):
        raise ConfigError(f"{context}: upsert_on names a column twice: {list(upsert_on)!r}")
    return tuple(upsert_on)
