"""Launching flows: data through every stage, supervision, time limits, threads and processes."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from weirflow import FlowBuilder, PipelineFailed, Storage
from weirflow.testing import LocalHTTPServer, Recorder, Request

MODES = [pytest.param(True, id="threads"), pytest.param(False, id="processes")]


class FileStorage(Storage):
    """A picklable storage for tests: one repr per line (works across processes)."""

    def __init__(self, path: Path) -> None:
        self.recorder = Recorder(path)

    def save(self, item: Any) -> None:
        self.recorder(item)

    def load(self, **query: Any) -> list[Any]:
        return [eval(line) for line in self.recorder.values()]


def numbers() -> Iterator[int]:
    yield from range(10)


def square(x: int) -> int:
    return x * x


def test_data_flows_through_core_logic_storage_and_sender(tmp_path: Path) -> None:
    sent: list[Any] = []
    builder = FlowBuilder()
    builder.add_pipeline("squares").with_core_logic(numbers).with_core_logic(
        square, workers=3
    ).with_storage("jsonl", path=str(tmp_path / "squares.jsonl")).send(sent.append)
    flow = builder.build()
    flow.launch_flow(execution_seconds=30)
    assert sorted(flow.storage("squares").load()) == [x * x for x in range(10)]
    assert sorted(sent) == [x * x for x in range(10)]
    assert flow.statistics()["squares"]["runs"] == 1


@pytest.mark.parametrize("use_threads", MODES)
def test_core_logic_reads_other_pipelines_through_db_connectors(
    tmp_path: Path, use_threads: bool
) -> None:
    def summary(**kwargs: Any) -> dict[str, Any]:  # wiredflow style
        stored = kwargs["db_connectors"]["source"].load()
        return {"pipeline": kwargs["pipeline_name"], "total": sum(stored)}

    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("source").with_core_logic(numbers).with_storage(
        FileStorage(tmp_path / "source")
    )
    builder.add_pipeline("summary", delay_seconds=0).with_core_logic(summary).with_storage(
        FileStorage(tmp_path / "summary")
    )
    flow = builder.build()
    flow.launch_flow(execution_seconds=30)
    assert sorted(flow.storage("source").load()) == list(range(10))
    # the summary pipeline ran once, concurrently with the source: it saw a prefix
    [result] = flow.storage("summary").load()
    assert result["pipeline"] == "summary"
    assert 0 <= result["total"] <= 45


@pytest.mark.parametrize("use_threads", MODES)
def test_a_failing_pipeline_stops_the_flow_with_a_clear_error(
    tmp_path: Path, use_threads: bool
) -> None:
    def broken(x: int) -> int:
        if x == 4:
            raise ValueError("bad reading 4")
        return x

    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("healthy", timedelta_seconds=0.01).with_core_logic(lambda: 1).with_storage(
        FileStorage(tmp_path / "healthy")
    )
    builder.add_pipeline("broken").with_core_logic(numbers).with_core_logic(
        broken, kind="process" if not use_threads else "thread"
    ).with_storage(FileStorage(tmp_path / "broken"))
    flow = builder.build()
    with pytest.raises(PipelineFailed) as info:
        flow.launch_flow(execution_seconds=60)
    failure = info.value
    assert failure.pipeline == "broken"
    assert failure.stage == "broken.core_logic_2"
    assert isinstance(failure.__cause__, ValueError)
    assert failure.__cause__.args == ("bad reading 4",)
    assert "pipeline 'broken' failed in stage 'broken.core_logic_2'" in str(failure)


def test_failures_do_not_leak_into_the_next_flow_or_launch(tmp_path: Path) -> None:
    attempts: list[int] = []

    def fails_first_time() -> int:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("first launch fails")
        return 1

    builder = FlowBuilder()
    builder.add_pipeline("p").with_core_logic(fails_first_time).send(lambda item: None)
    flow = builder.build()
    with pytest.raises(PipelineFailed):
        flow.launch_flow()
    flow.launch_flow()  # the same flow, launched again: no stale failure
    assert flow.statistics()["p"]["failures"] == 0
    other = FlowBuilder()
    other.add_pipeline("q").with_core_logic(lambda: 2).send(lambda item: None)
    other.build().launch_flow()


def test_time_limit_returns_even_with_a_run_stuck_in_user_code() -> None:
    release = threading.Event()
    entered = threading.Event()

    def stuck() -> int:
        entered.set()
        release.wait(60)
        return 1

    builder = FlowBuilder()
    builder.add_pipeline("stuck").with_core_logic(stuck).send(lambda item: None)
    builder.add_pipeline("ticker", timedelta_seconds=0.01).with_core_logic(lambda: 1).send(
        lambda item: None
    )
    flow = builder.build()
    try:
        flow.launch_flow(execution_seconds=0.2)
        assert entered.is_set()
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("weirflow") or "stuck" in thread.name:
                thread.join(10)
    assert flow.statistics()["ticker"]["runs"] >= 1


@pytest.mark.parametrize("use_threads", MODES)
def test_streams_join_pipelines(tmp_path: Path, use_threads: bool) -> None:
    builder = FlowBuilder(use_threads=use_threads)
    builder.add_pipeline("produce").with_core_logic(numbers).send("stream", name="numbers")
    builder.add_pipeline("consume").with_stream_connector("numbers").with_core_logic(
        square, workers=2
    ).with_storage(FileStorage(tmp_path / "squares"))
    flow = builder.build()
    flow.launch_flow(execution_seconds=60)
    assert sorted(flow.storage("consume").load()) == [x * x for x in range(10)]


def test_http_in_and_out_with_configuration(tmp_path: Path) -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/numbers", lambda request: {"n": int(request.query["count"])})
        server.route("POST", "/reports", lambda request: (201, {"ok": True}))
        builder = FlowBuilder()
        builder.add_pipeline("poll").with_configuration(lambda: {"count": 3}).with_http_connector(
            f"{server.url}/numbers", headers={"apikey": "k-123"}
        ).with_core_logic(lambda body: {"summary": body["n"] * 2}).send(
            "http_post", destination=f"{server.url}/reports", label_to_send="summary"
        )
        builder.build().launch_flow(execution_seconds=30)
        requests: list[Request] = list(server.requests)
    assert [(r.method, r.path) for r in requests] == [("GET", "/numbers"), ("POST", "/reports")]
    assert requests[0].headers["apikey"] == "k-123"
    assert requests[1].json == 6


def test_logs_name_the_pipeline_and_never_show_credentials(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with LocalHTTPServer() as server:
        server.route("GET", "/numbers", lambda request: (500, {"error": "down"}))
        builder = FlowBuilder()
        builder.add_pipeline("poll", on_failure="continue").with_http_connector(
            f"{server.url}/numbers?apikey=topsecret",
            headers={"Authorization": "Bearer hush"},
            retries=0,
        ).send(lambda item: None)
        with caplog.at_level(logging.WARNING, logger="weirflow"):
            builder.build().launch_flow(execution_seconds=30)
    text = caplog.text
    assert "poll" in text
    assert "topsecret" not in text
    assert "hush" not in text


def test_flow_stop_from_another_thread_ends_launch(tmp_path: Path) -> None:
    ticks = Recorder(tmp_path / "ticks")
    builder = FlowBuilder()
    flow_holder: list[Any] = []

    def tick() -> int:
        ticks(1)
        if len(ticks.values()) == 3:
            flow_holder[0].stop()
        return 1

    builder.add_pipeline("ticker", timedelta_seconds=0.001).with_core_logic(tick).send(
        lambda item: None
    )
    flow = builder.build()
    flow_holder.append(flow)
    flow.launch_flow()
    assert len(ticks.values()) >= 3
    assert os.getpid() > 0


def test_core_logic_gets_on_start_resources_per_worker(tmp_path: Path) -> None:
    opened = Recorder(tmp_path / "opened")
    closed = Recorder(tmp_path / "closed")

    def connect(worker_info: Any) -> dict[str, Any]:
        opened(worker_info.index)
        return {"connection": f"conn-{worker_info.index}"}

    def lookup(x: int, connection: str, pipeline_name: str) -> str:
        return f"{pipeline_name}:{connection}:{x}"

    builder = FlowBuilder()
    builder.add_pipeline("enrich").with_core_logic(numbers).with_core_logic(
        lookup, workers=2, on_start=connect, on_done=lambda connection: closed(connection)
    ).with_storage(FileStorage(tmp_path / "enriched"))
    flow = builder.build()
    flow.launch_flow(execution_seconds=30)
    results = flow.storage("enrich").load()
    assert len(results) == 10
    assert all(r.startswith("enrich:conn-") for r in results)
    assert sorted(opened.values()) == ["0", "1"]
    assert sorted(closed.values()) == ["'conn-0'", "'conn-1'"]


def test_flow_stop_ends_a_flow_with_a_continuous_pipeline(tmp_path: Path) -> None:
    flow_holder: list[Any] = []
    seen: list[int] = []

    def store(item: int) -> None:
        seen.append(item)
        if len(seen) == 5:
            flow_holder[0].stop()

    builder = FlowBuilder()
    builder.add_pipeline("produce", timedelta_seconds=0.001).with_core_logic(lambda: 1).send(
        "stream", name="ticks"
    )
    builder.add_pipeline("consume").with_stream_connector("ticks").with_storage(store)
    flow = builder.build()
    flow_holder.append(flow)
    flow.launch_flow()  # no time limit: stop() must end it
    assert len(seen) >= 5


def test_log_records_carry_the_pipeline_and_stage(caplog: pytest.LogCaptureFixture) -> None:
    def flaky() -> int:
        raise TimeoutError("sensor did not answer")

    builder = FlowBuilder()
    builder.add_pipeline("sensors", on_failure="continue").with_core_logic(flaky).send(
        lambda item: None
    )
    with caplog.at_level(logging.WARNING, logger="weirflow"):
        builder.build().launch_flow()
    [record] = [r for r in caplog.records if "sensor did not answer" in r.getMessage()]
    assert record.pipeline == "sensors"  # type: ignore[attr-defined]
    assert record.stage == "sensors.core_logic"  # type: ignore[attr-defined]
