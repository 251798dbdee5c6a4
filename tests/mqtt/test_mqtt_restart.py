"""A continuous MQTT pipeline restarts: after a failure the old read is closed, the source
connects again, the broker sends what was not acknowledged, and the flow goes on (real
Mosquitto, threads and processes)."""

from __future__ import annotations

import contextlib
import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from weirflow import FlowBuilder, Storage
from weirflow.connectors.mqtt import MqttSource
from weirflow.senders.mqtt import MqttSender

from .conftest import Publish


class FailingAtFirst(Storage):
    """Appends to a JSON-lines file; the saves number ``after + 1`` to ``after + failures``
    raise (counted in a file, so a pipeline in a process counts the same way)."""

    def __init__(self, path: Path, failures: int, after: int) -> None:
        self.path, self.failures, self.after = path, failures, after

    def save(self, item: Any) -> None:
        self.save_many([item])

    def save_many(self, items: list[Any]) -> None:
        counter = self.path.with_suffix(".calls")
        calls = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.with_suffix(".tmp").write_text(str(calls))
        counter.with_suffix(".tmp").replace(counter)  # readers never see a half-written count
        if self.after < calls <= self.after + self.failures:
            raise ConnectionError(f"database away (save {calls})")
        with self.path.open("a") as file:
            file.writelines(json.dumps(item) + "\n" for item in items)

    def load(self, **query: Any) -> list[Any]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]


def session(broker: tuple[str, int], topic: str, client_id: str) -> None:
    """Make the persistent session, so the broker keeps messages for the flow's client."""
    source = MqttSource(broker[0], port=broker[1], topic=topic, qos=1, client_id=client_id)
    try:
        source.start()
        assert source.wait_subscribed(5)
    finally:
        source.close()


def calls(path: Path) -> int:
    counter = path.with_suffix(".calls")
    return int(counter.read_text()) if counter.exists() else 0


def same(message: Any) -> Any:
    return message


def ingest_flow(
    broker: tuple[str, int],
    topic: str,
    storage: Storage,
    use_threads: bool,
    core_kind: str = "thread",
    **mqtt: Any,
) -> Any:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline(
        "ingest", on_failure="restart", max_restarts=5, restart_backoff_seconds=0
    ).with_mqtt_connector(broker[0], port=broker[1], topic=topic, **mqtt).with_core_logic(
        same, kind=core_kind
    ).with_storage(storage)
    return builder.build()


@pytest.mark.parametrize(
    ("use_threads", "core_kind"),
    [(True, "thread"), (False, "thread"), (True, "process")],
    ids=["threads", "processes", "process-stage"],
)
def test_a_restart_reconnects_and_gets_what_was_not_acknowledged(
    broker: tuple[str, int],
    topic: str,
    publish: Publish,
    eventually: Callable[..., None],
    tmp_path: Path,
    use_threads: bool,
    core_kind: str,
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex[:12]}"
    storage = FailingAtFirst(tmp_path / "out.jsonl", failures=3, after=0)
    flow = ingest_flow(broker, topic, storage, use_threads, core_kind, qos=1, client_id=client_id)
    session(broker, topic, client_id)
    publish(broker, topic, *({"id": n} for n in range(20)))
    runner = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    runner.start()
    try:
        eventually(lambda: {item["id"] for item in storage.load()} >= set(range(20)), 30)
    finally:
        flow.stop()
        runner.join(30)
    assert not runner.is_alive()
    statistics = flow.statistics()["ingest"]
    assert (statistics["failures"], statistics["restarts"]) == (3, 3)


def test_a_qos0_pipeline_restarts_and_goes_on(
    broker: tuple[str, int], topic: str, eventually: Callable[..., None], tmp_path: Path
) -> None:
    storage = FailingAtFirst(tmp_path / "out.jsonl", failures=3, after=2)
    flow = ingest_flow(broker, topic, storage, True, qos=0)
    runner = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    runner.start()
    sender = MqttSender(broker[0], port=broker[1], topic=topic, qos=0, pipeline="test")
    try:
        # QoS 0 messages published while the flow reconnects are lost: publish until three
        # saves have failed and two more succeeded after the last restart
        n = 0
        while calls(storage.path) < 7:
            assert n < 3000, f"{calls(storage.path)} saves after {n} messages"
            sender.send({"id": n})
            n += 1
            before = calls(storage.path)
            with contextlib.suppress(AssertionError):
                eventually(lambda before=before: calls(storage.path) > before, 0.2)
    finally:
        sender.close()
        flow.stop()
        runner.join(30)
    assert not runner.is_alive()
    assert flow.statistics()["ingest"]["restarts"] == 3
    assert len(storage.load()) >= 4
