"""Poison messages: payloads that decode but that a storage refuses (NaN or Infinity into JSON
lines, an integer over 2**63 or a new key into SQLite, a lone surrogate) go to the dead letters,
are acknowledged once kept there (never redelivered), and every valid message is stored."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.publish
import pytest

from weirflow import FlowBuilder
from weirflow.testing_servers import require_server

from .test_mqtt_restart import session

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

POISON = {
    "jsonl": [b'{"id": -1, "v": NaN}', b'{"id": -2, "v": Infinity}', b'{"id": -3, "v": "\\ud800"}'],
    "sql": [
        b'{"id": -1, "v": 18446744073709551616}',
        b'{"id": -2, "v": 1, "unexpected": true}',
        b'{"id": -3, "v": "\\ud800"}',
    ],
}
POISON["postgres"] = POISON["sql"]


def storage_options(kind: str, tmp_path: Path) -> dict[str, Any]:
    if kind == "jsonl":
        return {"path": str(tmp_path / "out.jsonl")}
    if kind == "postgres":
        require_server("PostgreSQL", "127.0.0.1", 5432)
        return {"url": POSTGRES, "table": f"poison_{uuid.uuid4().hex[:12]}", "retries": 0}
    return {"url": f"sqlite:///{tmp_path}/out.sqlite", "table": "readings"}


def start(flow: Any) -> threading.Thread:
    runner = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    runner.start()
    return runner


def stop(flow: Any, runner: threading.Thread) -> None:
    flow.stop()
    runner.join(30)
    assert not runner.is_alive()


@pytest.mark.parametrize("kind", ["jsonl", "sql", "postgres"])
def test_poison_messages_go_to_dead_letters_and_the_rest_flows(
    broker: tuple[str, int],
    topic: str,
    eventually: Callable[..., None],
    tmp_path: Path,
    kind: str,
) -> None:
    client_id = f"weirflow-test-{uuid.uuid4().hex[:12]}"
    dead = tmp_path / "dead.jsonl"

    options = storage_options(kind, tmp_path)

    def make_flow() -> Any:
        builder = FlowBuilder()
        builder.add_pipeline("ingest", on_failure="continue", dead_letter=dead).with_mqtt_connector(
            broker[0], port=broker[1], topic=topic, qos=1, client_id=client_id
        ).with_storage("jsonl" if kind == "jsonl" else "sql", **options)
        return builder.build()

    def stored() -> list[Any]:
        return list(flow.storage("ingest").load())

    def acked() -> int:
        source = flow.pipelines[0].stages[0].source.opened
        return 0 if source is None else int(source.statistics()["acked"])

    session(broker, topic, client_id)
    valid = [json.dumps({"id": n, "v": n}).encode() for n in range(50)]
    messages = [valid[0], *POISON[kind], *valid[1:]]  # the first record makes the SQL table
    paho.mqtt.publish.multiple(
        [(topic, payload, 1, False) for payload in messages], hostname=broker[0], port=broker[1]
    )
    flow = make_flow()
    runner = start(flow)
    try:
        eventually(lambda: len(stored()) >= 50 and acked() >= len(messages), 30)
    finally:
        stop(flow, runner)
    assert sorted(item["id"] for item in stored()) == list(range(50))
    records = [json.loads(line) for line in dead.read_text().splitlines()]
    assert len(records) == 3
    for record in records:  # as JSON where it is JSON, else its repr
        assert record["item"] is not None or "id" in record["item_repr"]
    assert all(record["stage"] == "ingest.storage" for record in records)
    if kind != "jsonl":
        [new_key] = [r for r in records if "unexpected" in r["error"]]
        assert "fixed when it is created" in new_key["error"]
    assert flow.statistics()["ingest"]["dead_letters"] == 3
    flow.close_resources()  # what the checks above opened

    # a second launch with the same session: the poison is not delivered again
    flow = make_flow()
    runner = start(flow)
    try:
        paho.mqtt.publish.single(
            topic, json.dumps({"id": 50, "v": 50}), qos=1, hostname=broker[0], port=broker[1]
        )
        eventually(lambda: 50 in {item["id"] for item in stored()}, 30)
    finally:
        stop(flow, runner)
    assert len(dead.read_text().splitlines()) == 3
    assert flow.statistics()["ingest"]["failed_items"] == 0
    flow.close_resources()
