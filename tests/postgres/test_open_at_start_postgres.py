"""A pipeline's storage opens when its run starts, before the source is read: the first item
never waits for a connection, and a database that is not there fails the run at once."""

from __future__ import annotations

import threading
import uuid

import pytest
import sqlalchemy

from weirflow import FlowBuilder, PipelineFailed
from weirflow.connectors.mqtt import MqttSource
from weirflow.storages import DatabaseUnavailableError, SqlStorage
from weirflow.testing_servers import require_server


def test_the_storage_is_ready_before_the_subscription(
    pg_url: str, table: str, direct: sqlalchemy.Engine
) -> None:
    require_server("Mosquitto", "127.0.0.1", 1883)
    builder = FlowBuilder()
    builder.add_pipeline("ingest").with_mqtt_connector(
        "127.0.0.1", topic=f"weirflow-test/{uuid.uuid4().hex}", qos=0
    ).with_storage("sql", url=pg_url, table=table, schema={"n": "int"}, upsert_on=["n"])
    flow = builder.build()
    source_lazy = flow.pipelines[0].stages[0].source
    storage_lazy = flow.pipelines[0].stages[1].storage
    assert source_lazy is not None
    assert storage_lazy is not None
    ready = threading.Event()
    seen: list[object] = []

    def watch() -> None:
        try:
            while source_lazy.opened is None:  # made by the run, after the storage opened
                if ready.wait(0.005):
                    return
            source = source_lazy.opened
            assert isinstance(source, MqttSource)
            assert source.wait_subscribed(10)
            storage = storage_lazy.opened
            assert isinstance(storage, SqlStorage)
            seen.append(storage.statistics())
            with direct.connect() as connection:  # created, with its index, from the schema
                seen.append(sqlalchemy.inspect(connection).get_indexes(table))
        finally:
            flow.stop()

    watcher = threading.Thread(target=watch, name="test watcher")
    watcher.start()
    flow.launch_flow(execution_seconds=30)
    ready.set()
    watcher.join(5)
    statistics, indexes = seen
    assert statistics.saved == 0  # nothing saved yet: the table was made by open()
    assert [index["column_names"] for index in indexes] == [["n"]]


def test_a_database_that_is_not_there_fails_the_run_before_reading(pg_url: str) -> None:
    read: list[int] = []

    def numbers() -> object:
        read.append(1)
        return {"n": 1}

    builder = FlowBuilder()
    missing = f"postgresql+psycopg://postgres@127.0.0.1:5432/nope_{uuid.uuid4().hex[:8]}"
    builder.add_pipeline("ingest").with_core_logic(numbers).with_storage(
        "sql", url=missing, table="t"
    )
    with pytest.raises(PipelineFailed) as caught:
        builder.build().launch_flow(execution_seconds=30)
    assert caught.value.stage == "ingest.storage"
    assert isinstance(caught.value.__cause__, DatabaseUnavailableError)
    assert read == []  # the run never started: no item was made for a storage that cannot save
