"""MQTT to a database: sustained messages/s and end-to-end latency, weirflow against a floor.

Usage (from the project root; needs Mosquitto on 127.0.0.1:1883 and PostgreSQL on
127.0.0.1:5432, database ``test``, user ``postgres``, trust auth)::

    python benchmarks/mqtt_to_database.py                # 5,000 messages, best of 3
    python benchmarks/mqtt_to_database.py --quick        # 1,000 messages, one timed run
    python benchmarks/mqtt_to_database.py --messages 20000 --json out.json

Two cases, ``mqtt-postgresql`` and ``mqtt-sqlite`` (a file in a temporary directory), each
with these implementations of "subscribe with QoS 1, store every message as a row":

* ``floor``: the simplest correct hand-written loop. A paho 2 client (MQTT 3.1.1, clean
  session) subscribed with QoS 1 and paho's automatic acknowledgements; ``on_message`` inserts
  the message with psycopg 3 (one connection, autocommit, a prepared ``INSERT``) or the
  ``sqlite3`` module (autocommit, the module's defaults: rollback journal, ``synchronous=FULL``).
  paho acknowledges a message when ``on_message`` returns, so it too acknowledges after storing.
* ``floor WAL`` (SQLite only): the same loop with the settings weirflow's ``sql`` storage gives
  SQLite (``journal_mode=WAL``, ``synchronous=FULL``), so that the ratio compares like for like.
* ``weirflow``: ``FlowBuilder().add_pipeline("ingest").with_mqtt_connector(..., qos=1,
  client_id=...).with_storage("sql", url=..., table=...)``, at least once (each message is
  acknowledged after its row is committed), run by ``flow.launch_flow()`` in a thread and
  stopped with ``flow.stop()`` once every row is there.
* ``weirflow upsert_on=id``: the same with ``upsert_on=["id"]`` (weirflow adds a unique index on
  ``id`` and writes ``INSERT ... ON CONFLICT DO UPDATE``), what an at-least-once service uses.

Method, per measurement:

1. A fresh table (and topic, client id, SQLite file) is made: ``id``, ``value``, ``sent`` and
   ``committed_at``, which the database fills itself (``clock_timestamp()`` on PostgreSQL,
   ``julianday('now')`` on SQLite); the storage leaves it out of its inserts. It is dropped
   afterwards. SQLite's clock has millisecond steps, so a sub-millisecond latency reads as about
   0 (it can even be slightly negative). The SQLite files of ``floor WAL`` and weirflow are put
   in WAL mode when made (weirflow's storage would switch them on its first save).
2. The consumer starts and the benchmark waits until the broker confirmed its subscription
   (weirflow: the flow's ``MqttSource.wait_subscribed()``), so no message can be missed.
3. A publisher in another process (``multiprocessing`` spawn, one per case, connected before
   the first measurement) publishes N messages ``{"id": i, "value": ..., "sent": time.time()}``
   with QoS 1, as fast as the broker acknowledges them (20 in flight, paho's and Mosquitto's
   default), *but never more than* ``MAX_LEAD`` messages ahead of the rows committed.
   Mosquitto keeps at most 20 QoS 1 messages in flight and 1,000 queued per subscriber
   (``max_queued_messages``) and **drops** the rest, even for QoS 1; a consumer slower than
   the publisher would lose messages to an unthrottled one. The benchmark
   polls the row count every 20 ms and hands it to the publisher, which waits while it leads
   by ``MAX_LEAD`` (800). The consumer always has a backlog of hundreds of messages: the rate
   measured is its sustained rate.
4. Throughput = N / (last ``committed_at`` - first ``sent``). Every id 0..N-1 must be there
   exactly once (otherwise the measurement fails). Latency = ``committed_at - sent`` per row,
   p50 and p99. Under saturation this is mostly the time a message waits behind the backlog
   (about ``MAX_LEAD`` / rate), so each implementation is also measured *paced*: N/5 messages
   at half the rate of the slowest implementation of the case, where the latency is the
   pipeline's own (publish, broker, client, insert, commit). Both connect to the database
   before subscribing: the floor in its start-up, weirflow's storage when the pipeline starts
   (``Storage.open()`` connects and reads the table's columns before the source is read). In a
   quiet run the worst latencies of both are their first few messages (~20 ms: the publisher
   and the broker warming up), most of the 1% that p99 looks at.

Rules of the harness: one untimed warm-up (N/10 messages) per implementation, then the
implementations take turns for ``settings.reps`` timed runs; the best throughput counts, and
its run's latencies are reported. ``wf/floor`` is weirflow's best rate over the floor's (for
SQLite also over ``floor WAL``, same durability settings); the project's target is >= 80%.
PostgreSQL runs with its defaults here (``synchronous_commit=on``, ``fsync=on``): a commit
waits for a WAL flush, for the floor as for weirflow. The publisher is one Python paho client:
with a consumer that stores nothing it reaches roughly 6,000-8,000 messages/s on 2 cores, so
rates near that say more about the publisher than about the consumer.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.enums import CallbackAPIVersion
from psycopg import sql

import weirflow
from _harness import (
    ITEMS_PER_S,
    Progress,
    Result,
    Settings,
    VerificationError,
    set_ideal,
    warmup_size,
    watchdog,
)
from _report import header, write_json
from weirflow import Flow, FlowBuilder
from weirflow.connectors.mqtt import MqttSource

BROKER_HOST = "127.0.0.1"
BROKER_PORT = 1883
POSTGRES_CONNINFO = "host=127.0.0.1 port=5432 user=postgres dbname=test"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

N = 5_000
QUICK_N = 1_000
MAX_LEAD = 800  # < Mosquitto's max_queued_messages (1,000): nothing is ever dropped
PUBLISH_WINDOW = 20  # QoS 1 messages in flight from the publisher (paho's default)
POLL_SECONDS = 0.02
SUBSCRIBE_TIMEOUT = 10.0
PUBLISH_TIMEOUT = 60.0
SESSION_EXPIRY = 60  # weirflow's persistent sessions: forgotten by the broker a minute after
PACED_FRACTION = 0.5  # paced runs: this share of the slowest implementation's rate
PACED_DIVISOR = 5  # paced runs: N / 5 messages
MIN_PACED_MESSAGES = 100
JULIAN_UNIX_EPOCH = 2440587.5
SECONDS_PER_DAY = 86400.0

FLOOR = "floor"
FLOOR_WAL = "floor WAL"
WEIRFLOW = "weirflow"
WEIRFLOW_UPSERT = "weirflow upsert_on=id"

Row = tuple[int, float, float]  # id, sent, committed (Unix seconds)


# -- the publisher (its own process) ------------------------------------------------------------


def publisher_main(jobs: Connection, committed: Synchronized[int]) -> None:
    """Serve publishing jobs ``(topic, n, rate)`` until ``None``; answer each with a report.

    ``rate`` None: as fast as the broker acknowledges, at most ``MAX_LEAD`` ahead of
    ``committed`` (the row count the parent polls). Otherwise one message every ``1 / rate`` s.
    """
    connected = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{uuid.uuid4().hex}")
    client.max_inflight_messages_set(PUBLISH_WINDOW)
    client.on_connect = lambda *_args: connected.set()
    client.connect(BROKER_HOST, BROKER_PORT)
    client.loop_start()
    try:
        if not connected.wait(SUBSCRIBE_TIMEOUT):
            raise TimeoutError(f"publisher: no connection to {BROKER_HOST}:{BROKER_PORT}")
        jobs.send(("ready",))
        while (job := jobs.recv()) is not None:
            topic, n, rate = job
            try:
                first, last = publish(client, committed, topic, n, rate)
            except Exception as error:  # reported to the parent, which fails the measurement
                jobs.send(("error", f"{type(error).__name__}: {error}"))
            else:
                jobs.send(("done", first, last))
    finally:
        client.disconnect()
        client.loop_stop()


def publish(
    client: mqtt.Client, committed: Synchronized[int], topic: str, n: int, rate: float | None
) -> tuple[float, float]:
    """Publish ids 0..n-1 with QoS 1; return when the first and the last were sent."""
    pending: deque[mqtt.MQTTMessageInfo] = deque()
    started = time.perf_counter()
    first = last = 0.0
    for i in range(n):
        if rate is not None:
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        else:
            while i - committed.value >= MAX_LEAD:
                time.sleep(0.001)
        last = time.time()
        first = first or last
        payload = json.dumps({"id": i, "value": i * 0.5, "sent": last})
        pending.append(client.publish(topic, payload, qos=1))
        if len(pending) >= PUBLISH_WINDOW:
            pending.popleft().wait_for_publish(PUBLISH_TIMEOUT)
    for info in pending:
        info.wait_for_publish(PUBLISH_TIMEOUT)
        if not info.is_published():
            raise TimeoutError(f"message {info.mid} not acknowledged by the broker")
    return first, last


class Publisher:
    """The parent's handle on the publisher process."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.committed: Synchronized[int] = context.Value("q", 0)
        self._jobs, child = context.Pipe()
        self._process = context.Process(
            target=publisher_main, args=(child, self.committed), name="mqtt publisher", daemon=True
        )
        self._process.start()
        child.close()
        self._report: tuple[Any, ...] | None = None
        if not self._jobs.poll(60.0):
            self.close()
            raise TimeoutError("the publisher process did not start")
        answer = self._jobs.recv()
        if answer != ("ready",):
            self.close()
            raise RuntimeError(f"the publisher process did not start: {answer!r}")

    def start(self, topic: str, n: int, rate: float | None) -> None:
        self.committed.value = 0
        self._report = None
        self._jobs.send((topic, n, rate))

    def check(self) -> None:
        """Raise if the publisher failed or died (the report, if any, is kept for ``finish``)."""
        if self._report is None and self._jobs.poll():
            self._report = self._jobs.recv()
        if self._report is not None and self._report[0] == "error":
            raise RuntimeError(f"publisher: {self._report[1]}")
        if not self._process.is_alive():
            raise RuntimeError(f"the publisher process died ({self._process.exitcode})")

    def finish(self, timeout: float) -> None:
        """Wait for the report of the current job."""
        if self._report is None:
            if not self._jobs.poll(timeout):
                raise TimeoutError("the publisher did not finish its job")
            self._report = self._jobs.recv()
        self.check()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._jobs.send(None)
        self._process.join(5.0)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join()
        self._jobs.close()


# -- databases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """One measurement's table: its name, weirflow's URL for it and (SQLite) its file."""

    name: str
    url: str
    path: Path | None = None


class Writer(Protocol):
    """The floor's way to insert one message: a callable with a ``close``."""

    def __call__(self, record: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Floor:
    """A floor's writer, and whether its SQLite file starts in WAL mode."""

    writer: Callable[[Table], Writer]
    wal: bool = False


class Target(Protocol):
    """A database: makes, polls, reads and drops the measurement tables."""

    name: str

    def floors(self) -> dict[str, Floor]: ...

    def create(self, wal: bool) -> Table: ...

    def count(self, table: Table) -> int: ...

    def rows(self, table: Table) -> list[Row]: ...

    def drop(self, table: Table) -> None: ...

    def close(self) -> None: ...


def new_table_name() -> str:
    return f"bench_mqtt_{uuid.uuid4().hex[:12]}"


class PostgresWriter:
    """The floor's PostgreSQL side: one autocommit connection, a prepared ``INSERT``."""

    def __init__(self, table: Table) -> None:
        self._connection = psycopg.connect(POSTGRES_CONNINFO, autocommit=True)
        self._insert = sql.SQL("INSERT INTO {} (id, value, sent) VALUES (%s, %s, %s)").format(
            sql.Identifier(table.name)
        )

    def __call__(self, record: dict[str, Any]) -> None:
        self._connection.execute(
            self._insert, (record["id"], record["value"], record["sent"]), prepare=True
        )

    def close(self) -> None:
        self._connection.close()


class PostgresTarget:
    """Tables in the local PostgreSQL database ``test``."""

    name = "postgresql"

    def __init__(self) -> None:
        self._admin = psycopg.connect(POSTGRES_CONNINFO, autocommit=True)

    def floors(self) -> dict[str, Floor]:
        return {FLOOR: Floor(PostgresWriter)}

    def create(self, wal: bool) -> Table:
        """A new table (``wal`` is for SQLite: PostgreSQL always has its WAL)."""
        name = new_table_name()
        self._admin.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint NOT NULL, value double precision, "
                "sent double precision NOT NULL, "
                "committed_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            ).format(sql.Identifier(name))
        )
        return Table(name, POSTGRES_URL)

    def count(self, table: Table) -> int:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table.name))
        row = self._admin.execute(query).fetchone()
        return 0 if row is None else int(row[0])

    def rows(self, table: Table) -> list[Row]:
        query = sql.SQL("SELECT id, sent, extract(epoch FROM committed_at)::float8 FROM {}").format(
            sql.Identifier(table.name)
        )
        return [(int(i), float(s), float(c)) for i, s, c in self._admin.execute(query)]

    def drop(self, table: Table) -> None:
        self._admin.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table.name)))

    def close(self) -> None:
        self._admin.close()


class SqliteWriter:
    """The floor's SQLite side: ``sqlite3`` in autocommit mode, one statement per message."""

    def __init__(self, table: Table, wal: bool = False) -> None:
        assert table.path is not None
        self._connection = sqlite3.connect(
            table.path, isolation_level=None, check_same_thread=False
        )
        if wal:  # what weirflow's sql storage sets up
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = FULL")
        self._insert = f"INSERT INTO {table.name} (id, value, sent) VALUES (?, ?, ?)"

    def __call__(self, record: dict[str, Any]) -> None:
        self._connection.execute(self._insert, (record["id"], record["value"], record["sent"]))

    def close(self) -> None:
        self._connection.close()


def sqlite_wal_writer(table: Table) -> Writer:
    return SqliteWriter(table, wal=True)


class SqliteTarget:
    """One SQLite file per measurement, in a temporary directory."""

    name = "sqlite"

    def __init__(self) -> None:
        self._directory = tempfile.TemporaryDirectory(prefix="weirflow-bench-")
        self._readers: dict[str, sqlite3.Connection] = {}

    def floors(self) -> dict[str, Floor]:
        return {FLOOR: Floor(SqliteWriter), FLOOR_WAL: Floor(sqlite_wal_writer, wal=True)}

    def create(self, wal: bool) -> Table:
        """A new file with the table; ``wal``: switched to WAL first (the mode is kept in the
        file), as weirflow's storage would on its first save, so no reader is in the way then."""
        name = new_table_name()
        path = Path(self._directory.name) / f"{name}.sqlite"
        with contextlib.closing(sqlite3.connect(path)) as connection, connection:
            if wal:
                connection.execute("PRAGMA journal_mode = WAL")
            connection.execute(
                f"CREATE TABLE {name} (id INTEGER NOT NULL, value REAL, sent REAL NOT NULL, "
                "committed_at REAL NOT NULL DEFAULT (julianday('now')))"
            )
        return Table(name, f"sqlite:///{path}", path)

    def _reader(self, table: Table) -> sqlite3.Connection:
        reader = self._readers.get(table.name)
        if reader is None:
            assert table.path is not None
            reader = sqlite3.connect(table.path, timeout=30.0)
            self._readers[table.name] = reader
        return reader

    def count(self, table: Table) -> int:
        return int(self._reader(table).execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])

    def rows(self, table: Table) -> list[Row]:
        query = (
            f"SELECT id, sent, (committed_at - {JULIAN_UNIX_EPOCH}) * {SECONDS_PER_DAY} "
            f"FROM {table.name}"
        )
        return [(int(i), float(s), float(c)) for i, s, c in self._reader(table).execute(query)]

    def drop(self, table: Table) -> None:
        reader = self._readers.pop(table.name, None)
        if reader is not None:
            reader.close()
        assert table.path is not None
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{table.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        for reader in self._readers.values():
            reader.close()
        self._readers.clear()
        self._directory.cleanup()


# -- consumers ------------------------------------------------------------------------------------


class Consumer(Protocol):
    """Subscribes and stores; ``start`` returns once the broker confirmed the subscription."""

    def start(self, timeout: float) -> None: ...

    def failure(self) -> BaseException | None: ...

    def stop(self) -> None: ...


class FloorConsumer:
    """The hand-written loop: paho with QoS 1 (automatic acks), ``on_message`` inserts."""

    def __init__(self, topic: str, table: Table, writer: Callable[[Table], Writer]) -> None:
        self._topic = topic
        self._table = table
        self._make_writer = writer
        self._writer: Writer | None = None
        self._client: mqtt.Client | None = None
        self._subscribed = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout: float) -> None:
        writer = self._writer = self._make_writer(self._table)
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"floor-{uuid.uuid4().hex}")

        def on_connect(client: mqtt.Client, *_args: Any) -> None:
            client.subscribe(self._topic, qos=1)

        def on_subscribe(*_args: Any) -> None:
            self._subscribed.set()

        def on_message(_client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                writer(json.loads(message.payload))
            except BaseException as error:
                self._error = error
                raise

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_message = on_message
        self._client = client
        client.connect(BROKER_HOST, BROKER_PORT)
        client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError(f"floor: not subscribed to {self._topic!r} after {timeout} s")

    def failure(self) -> BaseException | None:
        return self._error

    def stop(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self._writer is not None:
            self._writer.close()


class WeirflowConsumer:
    """A one-pipeline flow: MQTT connector (at least once) into the ``sql`` storage."""

    def __init__(self, topic: str, table: Table, upsert: bool) -> None:
        options: dict[str, Any] = {"url": table.url, "table": table.name}
        if upsert:
            options["upsert_on"] = ["id"]
        builder = FlowBuilder()
        builder.add_pipeline("ingest").with_mqtt_connector(
            BROKER_HOST,
            port=BROKER_PORT,
            topic=topic,
            qos=1,
            client_id=f"weirflow-bench-{uuid.uuid4().hex}",
            session_expiry=SESSION_EXPIRY,
        ).with_storage("sql", **options)
        self.flow: Flow = builder.build()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._stopping = False

    def _launch(self) -> None:
        try:
            self.flow.launch_flow()
        except BaseException as error:  # reported by failure()
            self._error = error

    def source(self) -> MqttSource | None:
        """The flow's MQTT source, once the pipeline made it."""
        lazy = self.flow.pipelines[0].stages[0].source
        opened = None if lazy is None else lazy.opened
        return opened if isinstance(opened, MqttSource) else None

    def start(self, timeout: float) -> None:
        self._thread = threading.Thread(target=self._launch, name="weirflow flow", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while (source := self.source()) is None:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise self._error or TimeoutError("weirflow: the MQTT source was not made")
            time.sleep(0.005)
        if not source.wait_subscribed(max(0.0, deadline - time.monotonic())):
            raise self._error or TimeoutError(f"weirflow: not subscribed after {timeout} s")

    def failure(self) -> BaseException | None:
        if self._error is not None:
            return self._error
        if self._thread is not None and not self._thread.is_alive() and not self._stopping:
            return RuntimeError("weirflow: the flow ended by itself")
        return None

    def stop(self) -> None:
        self._stopping = True
        self.flow.stop()
        if self._thread is not None:
            self._thread.join(30.0)
            if self._thread.is_alive():
                raise RuntimeError("weirflow: the flow did not stop within 30 s")
        if self._error is not None:
            raise self._error


# -- measuring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Impl:
    """One implementation: a label, its library (``baseline`` or ``weirflow``), a consumer."""

    label: str
    library: str
    consumer: Callable[[str, Table], Consumer]
    wal: bool = True  # SQLite: the file starts in WAL mode


def floor_impl(label: str, floor: Floor) -> Impl:
    def consumer(topic: str, table: Table) -> Consumer:
        return FloorConsumer(topic, table, floor.writer)

    return Impl(label, "baseline", consumer, floor.wal)


def weirflow_impl(label: str, upsert: bool) -> Impl:
    return Impl(label, "weirflow", lambda topic, table: WeirflowConsumer(topic, table, upsert))


def impls(target: Target) -> list[Impl]:
    found = [floor_impl(label, floor) for label, floor in target.floors().items()]
    found.append(weirflow_impl(WEIRFLOW, upsert=False))
    found.append(weirflow_impl(WEIRFLOW_UPSERT, upsert=True))
    return found


@dataclass(frozen=True)
class Measurement:
    """One verified run: N messages from the first publish to the last commit."""

    n: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds


def analyse(rows: list[Row], n: int, label: str) -> Measurement:
    """Check that ids 0..n-1 arrived exactly once; throughput and latency percentiles."""
    ids = sorted(row[0] for row in rows)
    if ids != list(range(n)):
        distinct = len(set(ids))
        raise VerificationError(
            f"{label}: {len(ids)} rows, {distinct} distinct ids, expected ids 0..{n - 1} once each"
        )
    latencies = [committed - sent for _id, sent, committed in rows]
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    seconds = max(row[2] for row in rows) - min(row[1] for row in rows)
    return Measurement(n, seconds, cuts[49] * 1000, cuts[98] * 1000)


def wait_for_rows(
    target: Target,
    table: Table,
    n: int,
    consumer: Consumer,
    publisher: Publisher,
    timeout: float,
) -> None:
    """Poll the row count every ``POLL_SECONDS`` (telling the publisher) until ``n`` rows."""
    deadline = time.monotonic() + timeout
    while True:
        count = target.count(table)
        publisher.committed.value = count
        if count >= n:
            return
        error = consumer.failure()
        if error is not None:
            raise RuntimeError(f"the consumer failed: {type(error).__name__}: {error}") from error
        publisher.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} of {n} rows after {timeout:.0f} s")
        time.sleep(POLL_SECONDS)


def run_once(
    target: Target, impl: Impl, n: int, publisher: Publisher, rate: float | None
) -> Measurement:
    """One measurement on a fresh topic and table (dropped afterwards)."""
    table = target.create(impl.wal)
    topic = f"weirflow-bench/{uuid.uuid4().hex}"
    consumer = impl.consumer(topic, table)
    try:
        consumer.start(SUBSCRIBE_TIMEOUT)
        publisher.start(topic, n, rate)
        expected_seconds = n / rate if rate else 0.0
        wait_for_rows(target, table, n, consumer, publisher, 120.0 + expected_seconds + n / 20)
        publisher.finish(PUBLISH_TIMEOUT)
        rows = target.rows(table)
    finally:
        try:
            consumer.stop()
        finally:
            target.drop(table)
    return analyse(rows, n, impl.label)


@dataclass
class Gathered:
    """What is gathered for one implementation across its runs."""

    impl: Impl
    runs: list[Measurement]
    paced: Measurement | None = None
    error: str = ""

    @property
    def best(self) -> Measurement | None:
        return max(self.runs, key=lambda m: m.rate, default=None)


@dataclass(frozen=True)
class MqttCase:
    """MQTT (QoS 1) into one database, floor against weirflow; metric: messages/s."""

    name: str
    target: Callable[[], Target]
    n: int = N
    quick_n: int = QUICK_N

    def measure(self, settings: Settings, progress: Progress) -> list[Result]:
        n = self.quick_n if settings.quick else self.n
        target: Target | None = None
        publisher: Publisher | None = None
        try:
            target = self.target()
            publisher = Publisher()
            return self._measure(target, publisher, n, settings, progress)
        except Exception as error:  # no database or broker: one failed row says why
            result = Result(self.name, "(setup)", "baseline", "setup", n, ITEMS_PER_S, None, None)
            result.error = f"{type(error).__name__}: {error}"
            progress(result)
            return [result]
        finally:
            if publisher is not None:
                publisher.close()
            if target is not None:
                target.close()

    def _measure(
        self,
        target: Target,
        publisher: Publisher,
        n: int,
        settings: Settings,
        progress: Progress,
    ) -> list[Result]:
        gathered = [Gathered(impl, []) for impl in impls(target)]

        def attempt(row: Gathered, count: int, rate: float | None) -> Measurement | None:
            if row.error:
                return None
            what = f"{self.name} / {row.impl.label}"
            try:
                with watchdog(settings.watchdog_seconds, what):
                    measurement = run_once(target, row.impl, count, publisher, rate)
            except Exception as error:  # reported in the table; the other rows still run
                row.error = f"{type(error).__name__}: {error}"
                print(f"  {what}: {row.error}", file=sys.stderr)
                return None
            print(
                f"  {what}: {count:,} messages{'' if rate is None else f' at {rate:,.0f}/s'}: "
                f"{measurement.rate:,.0f}/s, p50 {measurement.p50_ms:.1f} ms, "
                f"p99 {measurement.p99_ms:.1f} ms",
                file=sys.stderr,
            )
            return measurement

        for row in gathered:  # warm-up, not counted
            attempt(row, warmup_size(n), None)
        for _ in range(settings.reps):  # the implementations take turns
            for row in gathered:
                measurement = attempt(row, n, None)
                if measurement is not None:
                    row.runs.append(measurement)
        rates = [best.rate for row in gathered if (best := row.best) is not None]
        if rates:
            paced_rate = PACED_FRACTION * min(rates)
            paced_n = max(MIN_PACED_MESSAGES, n // PACED_DIVISOR)
            for row in gathered:
                row.paced = attempt(row, paced_n, paced_rate)
        else:
            paced_rate = 0.0
        results = [self._result(row, n, paced_rate) for row in gathered]
        set_ideal(results, None, FLOOR_WAL if FLOOR_WAL in target.floors() else FLOOR)
        set_ratios(results)
        for result in results:
            progress(result)
        return results

    def _result(self, row: Gathered, n: int, paced_rate: float) -> Result:
        impl = row.impl
        result = Result(self.name, impl.label, impl.library, impl.label, n, ITEMS_PER_S, None, None)
        best = row.best
        result.error = row.error
        result.runs = [m.seconds for m in row.runs]
        if best is None:
            return result
        result.value = best.rate
        result.seconds = best.seconds
        result.details = {
            "rates": [m.rate for m in row.runs],
            "p50_ms": best.p50_ms,
            "p99_ms": best.p99_ms,
            "paced_rate": paced_rate,
            "paced_n": None if row.paced is None else row.paced.n,
            "paced_p50_ms": None if row.paced is None else row.paced.p50_ms,
            "paced_p99_ms": None if row.paced is None else row.paced.p99_ms,
        }
        paced = (
            ""
            if row.paced is None
            else f"; paced {paced_rate:,.0f}/s: p50 {row.paced.p50_ms:.1f} ms, "
            f"p99 {row.paced.p99_ms:.1f} ms"
        )
        result.note = f"saturated: p50 {best.p50_ms:.0f} ms, p99 {best.p99_ms:.0f} ms{paced}"
        return result


def set_ratios(results: list[Result]) -> None:
    """``vs_floor`` (and ``vs_floor_wal``) in each weirflow row's details: its rate over theirs."""
    floors = {r.implementation: r.value for r in results if r.library == "baseline" and r.ok}
    for result in results:
        if result.library != "weirflow" or result.value is None:
            continue
        for label, key in ((FLOOR, "vs_floor"), (FLOOR_WAL, "vs_floor_wal")):
            floor = floors.get(label)
            if floor:
                result.details[key] = result.value / floor


def cases() -> list[MqttCase]:
    """The cases of this module, in report order."""
    return [MqttCase("mqtt-postgresql", PostgresTarget), MqttCase("mqtt-sqlite", SqliteTarget)]


# -- the script -----------------------------------------------------------------------------------

COLUMNS = (
    "implementation",
    "target",
    "messages/s",
    "p50 ms",
    "p99 ms",
    "paced p50",
    "paced p99",
    "wf/floor",
    "wf/floor WAL",
    "runs (messages/s)",
)


def _cells(result: Result) -> dict[str, str]:
    details = result.details

    def ms(key: str) -> str:
        value = details.get(key)
        return "" if value is None else f"{value:.1f}"

    def ratio(key: str) -> str:
        value = details.get(key)
        return "" if value is None else f"{value:.0%}"

    rates = ", ".join(f"{rate:,.0f}" for rate in details.get("rates", []))
    return {
        "implementation": result.implementation,
        "target": result.case.removeprefix("mqtt-"),
        "messages/s": "FAILED" if result.value is None else f"{result.value:,.0f}",
        "p50 ms": ms("p50_ms"),
        "p99 ms": ms("p99_ms"),
        "paced p50": ms("paced_p50_ms"),
        "paced p99": ms("paced_p99_ms"),
        "wf/floor": ratio("vs_floor"),
        "wf/floor WAL": ratio("vs_floor_wal"),
        "runs (messages/s)": result.error or rates,
    }


def format_table(results: list[Result]) -> str:
    rows = [_cells(result) for result in results]
    widths = {c: max([len(c), *(len(r[c]) for r in rows)]) for c in COLUMNS}
    left = {"implementation", "target", "runs (messages/s)"}

    def line(cells: dict[str, str]) -> str:
        parts = [
            cells[c].ljust(widths[c]) if c in left else cells[c].rjust(widths[c]) for c in COLUMNS
        ]
        return "  ".join(parts).rstrip()

    out = [line({c: c for c in COLUMNS}), "  ".join("-" * widths[c] for c in COLUMNS)]
    previous = None
    for result, cells in zip(results, rows):
        if previous is not None and result.case != previous:
            out.append("")
        previous = result.case
        out.append(line(cells))
    return "\n".join(out)


def legend(settings: Settings, n: int) -> str:
    reps = f"best of {settings.reps}" if settings.reps > 1 else "1 timed run"
    paced_n = max(MIN_PACED_MESSAGES, n // PACED_DIVISOR)
    return "\n".join(
        [
            f"messages/s: {n:,} QoS 1 messages / (last commit - first publish), {reps} (the",
            f"  runs column: every timed run, in order), publisher at most {MAX_LEAD} ahead of",
            "  the committed rows (Mosquitto drops QoS 1 messages past 1,000 queued).",
            "p50/p99 ms: publish -> committed, in the best run: saturated, so mostly the backlog.",
            f"paced p50/p99: {paced_n:,} messages at half the slowest rate of the case: the",
            "  pipeline's own latency.",
            "wf/floor: weirflow / floor messages/s; the target is >= 80%. wf/floor WAL: SQLite",
            "  against the floor with the journal and sync settings of weirflow's storage.",
        ]
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_N:,} messages, one run")
    parser.add_argument("--messages", type=int, metavar="N", help="messages per timed run")
    parser.add_argument("--only", metavar="SUBSTRING", help="only cases whose name has it")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write results as JSON")
    return parser.parse_args(argv)


def progress_printer(started: float) -> Progress:
    def report(result: Result) -> None:
        outcome = result.error or f"{result.value:,.0f} messages/s"
        elapsed = time.perf_counter() - started
        print(
            f"[{elapsed:6.1f}s] {result.case}: {result.implementation}: {outcome}", file=sys.stderr
        )

    return report


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    settings = Settings.create(quick=args.quick)
    n = args.messages or (QUICK_N if args.quick else N)
    if n < 2:
        print("--messages must be at least 2", file=sys.stderr)
        return 2
    selected = [
        MqttCase(case.name, case.target, n, n)
        for case in cases()
        if args.only is None or args.only.lower() in case.name.lower()
    ]
    started = time.perf_counter()
    progress = progress_printer(started)
    results: list[Result] = []
    for case in selected:
        results.extend(case.measure(settings, progress))
    print(header(settings))
    print(f"weirflow from {Path(weirflow.__file__).parent}")
    print()
    print(format_table(results))
    print()
    print(legend(settings, n))
    print(f"total wall time: {time.perf_counter() - started:.1f} s")
    if args.json is not None:
        write_json(args.json, results, settings)
    return 1 if any(not result.ok for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
