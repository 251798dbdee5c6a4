"""The conformance suites of weirflow.testing run on every built-in storage, sender and source.

Each built-in passes ``check_storage`` / ``check_sender`` / ``check_source`` as a user's own
implementation would have to. The PostgreSQL and MQTT cases use the real servers (a table and
topics of their own, named by a uuid), skipped on a laptop without them and failing in CI.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from weirflow.abc import Source, Storage
from weirflow.connectors.http import HttpSource
from weirflow.flows._streams import StreamSource, ThreadBroker, register_broker, unregister_broker
from weirflow.senders.function import FunctionSender
from weirflow.senders.http import HttpSender
from weirflow.storages import (
    CsvStorage,
    FunctionStorage,
    JsonLinesStorage,
    JsonStorage,
    SqlStorage,
)
from weirflow.testing import (
    ListSender,
    ListSource,
    ListStorage,
    LocalHTTPServer,
    check_sender,
    check_source,
    check_storage,
)
from weirflow.testing.pytest_plugin import require_server

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MQTT = ("127.0.0.1", 1883)
LONE_SURROGATE = {"sensor": "\ud800"}  # no UTF-8 file format can hold it

# -- storages -----------------------------------------------------------------------------------


def _numbered(tmp_path: Path, cls: Callable[[Path], Storage], suffix: str) -> Callable[[], Storage]:
    counter = itertools.count()
    return lambda: cls(tmp_path / f"store-{next(counter)}.{suffix}")


@pytest.mark.parametrize(
    ("cls", "suffix"),
    [(JsonStorage, "json"), (JsonLinesStorage, "jsonl"), (CsvStorage, "csv")],
    ids=["json", "jsonl", "csv"],
)
def test_file_storages(tmp_path: Path, cls: Callable[[Path], Storage], suffix: str) -> None:
    check_storage(_numbered(tmp_path, cls, suffix), unstorable=LONE_SURROGATE)


def test_sql_storage_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conformance.sqlite'}"
    check_storage(
        lambda: SqlStorage(url, table=f"t_{uuid.uuid4().hex}"),
        unstorable={"sensor": object()},  # no column type holds it: the batch is refused
    )


@pytest.fixture
def pg_tables() -> Iterator[list[str]]:
    """Names of fresh PostgreSQL tables; every one made is dropped at the end."""
    require_server("PostgreSQL", "127.0.0.1", 5432)
    made: list[str] = []
    yield made
    engine = sqlalchemy.create_engine(PG_URL, poolclass=sqlalchemy.pool.NullPool)
    with engine.begin() as connection:
        for table in made:
            connection.execute(sqlalchemy.text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()


def test_sql_storage_on_postgresql(pg_tables: list[str]) -> None:
    def make() -> Storage:
        pg_tables.append(f"conformance_{uuid.uuid4().hex}")
        return SqlStorage(PG_URL, table=pg_tables[-1])

    check_storage(make, unstorable={"sensor": "nul \x00 byte"})  # PostgreSQL refuses NUL in text


def test_function_storage() -> None:
    def make() -> Storage:
        return FunctionStorage(ListStorage().save)

    def loaded(storage: Storage) -> Any:
        assert isinstance(storage, FunctionStorage)
        return storage.fn.__self__.items  # type: ignore[attr-defined]

    check_storage(make, loaded=loaded)


def test_list_storage() -> None:
    check_storage(ListStorage)


# -- senders ------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_http_senders(method: str) -> None:
    with LocalHTTPServer() as server:
        server.route(method, "/items", (201, {"stored": True}))

        def received(count: int) -> list[Any]:
            return [request.json for request in server.wait_for_requests(count, timeout=10)]

        check_sender(lambda: HttpSender(f"{server.url}/items", method=method), received)


class _Subscriber:
    """Collects the JSON payloads published to a topic (subscribed when made)."""

    def __init__(self, topic: str) -> None:
        from weirflow.connectors.mqtt import MqttSource

        self.source = MqttSource(MQTT[0], port=MQTT[1], topic=topic, qos=1, pipeline="check")
        self.source.start()
        assert self.source.wait_subscribed(10), "the subscription was not confirmed"
        self.items: list[Any] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, name="conformance subscriber")
        self._thread.start()

    def _read(self) -> None:
        for item in self.source.read({}):
            with self._changed:
                self.items.append(item)
                self._changed.notify_all()

    def received(self, count: int) -> list[Any]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.items) >= count, 10)
            return list(self.items)

    def close(self) -> None:
        self.source.close()
        self._thread.join(10)


def test_mqtt_sender() -> None:
    require_server("Mosquitto", *MQTT)
    from weirflow.senders.mqtt import MqttSender

    topic = f"weirflow-test/{uuid.uuid4().hex}"
    subscriber = _Subscriber(topic)
    try:
        check_sender(
            lambda: MqttSender(MQTT[0], port=MQTT[1], topic=topic, pipeline="conformance"),
            subscriber.received,
        )
    finally:
        subscriber.close()


def test_function_sender() -> None:
    kept = ListSender()
    check_sender(lambda: FunctionSender(kept.send, pipeline="conformance"), lambda n: kept.items)


def test_list_sender() -> None:
    kept = ListSender()
    check_sender(lambda: kept, lambda count: kept.items)


# -- sources ------------------------------------------------------------------------------------


def test_http_source() -> None:
    body = {"readings": [{"sensor": "a", "value": 21.5}], "count": 1, "ok": True}
    with LocalHTTPServer() as server:
        server.route("GET", "/readings", body)
        check_source(lambda: HttpSource(f"{server.url}/readings"), [body])


def test_mqtt_source() -> None:
    require_server("Mosquitto", *MQTT)
    from weirflow.connectors.mqtt import MqttSource
    from weirflow.senders.mqtt import MqttSender

    items = [{"sensor": "a", "value": 21.5}, {"sensor": "b", "value": -1.0, "ok": False}]
    base = f"weirflow-test/{uuid.uuid4().hex}"
    counter = itertools.count()

    def make() -> Source:
        topic = f"{base}/{next(counter)}"
        source = MqttSource(MQTT[0], port=MQTT[1], topic=topic, qos=1, pipeline="conformance")
        source.start()
        assert source.wait_subscribed(10), "the subscription was not confirmed"
        with MqttSender(MQTT[0], port=MQTT[1], topic=topic, pipeline="publisher") as sender:
            for item in items:
                sender.send(item)
        return source

    check_source(make, items)


def test_mqtt_source_at_least_once() -> None:
    require_server("Mosquitto", *MQTT)
    from weirflow.connectors.mqtt import MqttSource
    from weirflow.senders.mqtt import MqttSender

    items = [{"n": 1}, {"n": 2}, {"n": 3}]
    base = f"weirflow-test/{uuid.uuid4().hex}"
    counter = itertools.count()

    def make() -> Source:
        index = next(counter)
        source = MqttSource(
            MQTT[0],
            port=MQTT[1],
            topic=f"{base}/{index}",
            qos=1,
            client_id=f"conformance-{uuid.uuid4().hex}",
            session_expiry=0,
            pipeline="conformance",
        )
        assert source.at_least_once
        source.start()
        assert source.wait_subscribed(10), "the subscription was not confirmed"
        with MqttSender(MQTT[0], port=MQTT[1], topic=f"{base}/{index}", pipeline="p") as sender:
            for item in items:
                sender.send(item)
        return source

    check_source(make, items)  # yields Delivery objects: unwrapped and acknowledged


@pytest.fixture
def streams() -> Iterator[Callable[[list[Any]], Source]]:
    """``make(items)``: a stream source of a running flow's broker, the items published."""
    flows: list[str] = []

    def make(items: list[Any]) -> Source:
        flow_id = f"conformance-{uuid.uuid4().hex}"
        broker = ThreadBroker({"readings": 1})
        register_broker(flow_id, broker)
        flows.append(flow_id)
        for item in items:
            broker.publish("readings", item)
        broker.finish("readings")  # its one writer is done: a read ends after the items
        return StreamSource(flow_id, "readings")

    yield make
    for flow_id in flows:
        unregister_broker(flow_id)


def test_stream_source(streams: Callable[[list[Any]], Source]) -> None:
    items = [{"sensor": "a", "value": 21.5}, [1, 2], "text", 3]
    check_source(lambda: streams(items), items)


def test_list_sources() -> None:
    items = [{"sensor": "a"}, 2.5, None]
    check_source(lambda: ListSource(items), items)
    check_source(lambda: ListSource(items, continuous=True), items)
