"""``Flow.status()``: frozen snapshots read live, from worker threads, worker processes and
pipeline processes alike (per-worker counters in shared memory); and the counters themselves."""

from __future__ import annotations

import dataclasses
import json
import threading
import uuid
from pathlib import Path

import pytest

from weirflow import FlowBuilder
from weirflow._api import Operators
from weirflow._runtime._ops import Map
from weirflow._runtime._stats import ERRORS, CounterFile, StageCounters
from weirflow.flows._statistics import FlowStatistics, StageStatistics
from weirflow.testing import Mosquitto

from .serving import wait_for


def stored(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def double(x: int) -> int:
    return 2 * x


@pytest.mark.parametrize("use_threads", [True, False], ids=["threads", "processes"])
def test_a_process_stage_is_counted_in_either_mode(tmp_path: Path, use_threads: bool) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("numbers", timedelta_seconds=0.1).with_core_logic(
        lambda: iter(range(10))
    ).with_core_logic(double, kind="process", workers=2).with_storage(
        "jsonl", path=str(tmp_path / "numbers.jsonl")
    )
    flow = builder.build()
    thread = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    thread.start()
    try:
        wait_for(lambda: stored(tmp_path / "numbers.jsonl") >= 20, 60, "items stored")
    finally:
        flow.stop()
        thread.join(60)
    status = flow.status()
    assert isinstance(status, FlowStatistics)
    assert status.state == "stopped"
    (pipeline,) = status.pipelines
    stages = {s.stage: s for s in pipeline.stages}
    count = stored(tmp_path / "numbers.jsonl")
    assert count >= 20
    assert stages["core_logic_2"].items == count
    assert stages["core_logic_2"].workers == 2
    assert stages["storage"].items == count
    assert stages["core_logic"].items == pipeline.runs  # one call per run
    assert pipeline.state == "done"
    assert pipeline.last_outcome in ("ok", "cut short")
    assert pipeline.last_success is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        pipeline.runs = 0  # type: ignore[misc]


def test_busy_workers_and_the_input_queue_are_seen_live(tmp_path: Path) -> None:
    release = threading.Event()

    def blocked(x: int) -> int:
        release.wait(30)
        return x

    builder = FlowBuilder()
    builder.add_pipeline("feed", timedelta_seconds=60).with_core_logic(
        lambda: iter(range(50))
    ).send("stream", name="feed")
    builder.add_pipeline("slow").with_stream_connector("feed").with_core_logic(
        blocked, maxsize=4
    ).with_storage("jsonl", path=str(tmp_path / "slow.jsonl"))
    flow = builder.build()
    thread = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 30})
    thread.start()
    try:

        def slow_stage() -> StageStatistics:
            return flow.status().pipelines[1].stages[1]

        stage = wait_for(
            lambda: (s := slow_stage()).busy_workers == 1 and s.queue_items == 4 and s,
            what="a busy worker and a full queue",
        )
        assert stage.queue_capacity == 4
        assert flow.status().pipelines[1].state == "running"
        streams = flow.status().streams
        assert [s.name for s in streams] == ["feed"]
        assert streams[0].capacity == 1000
    finally:
        release.set()
        flow.stop()
        thread.join(30)
    assert slow_stage().busy_workers == 0


def test_the_counters_add_the_rows_of_every_worker() -> None:
    block = CounterFile(StageCounters.size(4))
    try:
        counters = StageCounters(block.path, 0, workers=4)
        stage = Operators("thread").named(
            Map(double), range(1000), name="t.double", workers=4, statistics=counters
        )
        assert sum(stage) == 999_000
        totals = counters.read()
        assert totals.items == 1000
        assert sum(totals.buckets) == 1000
        assert totals.busy_workers == 0
        counters.add(3, ERRORS, 2)
        assert counters.read().errors == 2
        assert StageCounters(block.path, 0, workers=4).read().items == 1000  # by path
    finally:
        block.close()


def test_status_is_json_ready_and_the_last_error_is_redacted(tmp_path: Path) -> None:
    from weirflow.observe._status import status_json

    def failing() -> None:
        raise RuntimeError("GET http://u:topsecret@db.example/x?token=abc failed")

    builder = FlowBuilder()
    builder.add_pipeline("bad", timedelta_seconds=0.05, on_failure="continue").with_core_logic(
        failing
    )
    flow = builder.build()
    thread = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    thread.start()
    try:
        wait_for(lambda: flow.status().pipelines[0].failures >= 2, what="two failures")
    finally:
        flow.stop()
        thread.join(30)
    data = status_json(flow)
    text = json.dumps(data, allow_nan=False)
    assert "topsecret" not in text
    assert "token=abc" not in text
    error = data["pipelines"][0]["last_error"]
    assert error["type"] == "RuntimeError"
    assert error["stage"] == "bad.core_logic"
    assert data["pipelines"][0]["stages"][0]["errors"] >= data["pipelines"][0]["failures"] >= 2
    assert data["graph"]["pipelines"][0]["name"] == "bad"


def test_deliveries_of_an_at_least_once_source_are_counted(
    mqtt_broker: Mosquitto, tmp_path: Path
) -> None:
    from weirflow.senders.mqtt import MqttSender

    topic = f"weirflow-test/{uuid.uuid4().hex}"
    builder = FlowBuilder()
    builder.add_pipeline("readings").with_mqtt_connector(
        mqtt_broker.host, port=mqtt_broker.port, topic=topic, client_id=f"c-{uuid.uuid4().hex}"
    ).with_storage("jsonl", path=str(tmp_path / "readings.jsonl"))
    flow = builder.build()
    thread = threading.Thread(target=flow.launch_flow, kwargs={"execution_seconds": 60})
    thread.start()
    try:
        wait_for(lambda: flow.status().pipelines[0].connected, what="connected")
        sender = MqttSender(
            mqtt_broker.host, port=mqtt_broker.port, topic=topic, qos=1, pipeline="test"
        )
        try:
            for n in range(3):
                sender.send({"n": n})
        finally:
            sender.close()
        wait_for(lambda: flow.status().pipelines[0].deliveries.acked == 3, what="3 acks")
        deliveries = flow.status().pipelines[0].deliveries
        assert (deliveries.delivered, deliveries.in_flight, deliveries.redelivered) == (3, 0, 0)
        assert flow.status().pipelines[0].stages[0].items == 3
    finally:
        flow.stop()
        thread.join(30)
